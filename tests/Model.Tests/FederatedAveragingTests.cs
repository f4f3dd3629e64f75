using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class FederatedAveragingTests
{
    [Fact]
    public void Weighted_mean_weights_each_delta_by_its_examples()
    {
        var deltas = new[] { new[] { 1f, 2f, 3f }, new[] { 5f, 6f, -1f } };

        var mean = FederatedAveraging.WeightedMean(deltas, new[] { 1.0, 3.0 });

        // (1*[1,2,3] + 3*[5,6,-1]) / 4
        Assert.Equal(new[] { 4f, 5f, 0f }, mean);
    }

    [Fact]
    public void Uniform_weighting_ignores_example_counts()
    {
        var updates = new[]
        {
            new ClientUpdate("a", new[] { 2f, 0f }, Examples: 10),
            new ClientUpdate("b", new[] { 4f, 2f }, Examples: 990),
        };

        var uniform = FederatedAveraging.Aggregate(new[] { 0f, 0f }, updates, ClientWeighting.Uniform, 1.0);
        var weighted = FederatedAveraging.Aggregate(new[] { 0f, 0f }, updates, ClientWeighting.NumExamples, 1.0);

        Assert.Equal(new[] { 3f, 1f }, uniform);
        Assert.Equal(3.98f, weighted[0], 5);
        Assert.Equal(1.98f, weighted[1], 5);
    }

    [Fact]
    public void Server_sgd_at_rate_one_equals_plain_weight_averaging()
    {
        var global = new[] { 1f, -1f, 0.5f };
        var clientWeights = new[] { new[] { 2f, 0f, 0.5f }, new[] { 4f, 1f, 1.5f } };
        var updates = clientWeights.Select((w, k) =>
            new ClientUpdate($"c{k}", w.Zip(global, (a, g) => a - g).ToArray(), Examples: k + 1)).ToArray();

        var next = FederatedAveraging.Aggregate(global, updates, ClientWeighting.NumExamples, 1.0);

        // (1*[2,0,0.5] + 2*[4,1,1.5]) / 3
        Assert.Equal(10f / 3, next[0], 5);
        Assert.Equal(2f / 3, next[1], 5);
        Assert.Equal(3.5f / 3, next[2], 5);
    }

    [Fact]
    public void Server_learning_rate_scales_the_step()
    {
        var next = FederatedAveraging.ApplyServerSgd(new[] { 1f, 1f }, new[] { 2f, -4f }, 0.5);

        Assert.Equal(new[] { 2f, -1f }, next);
    }

    [Fact]
    public void Vectorised_and_scalar_paths_agree_on_long_arrays()
    {
        var random = new Random(3);
        var deltas = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 1003).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        var weights = new[] { 1.0, 2.0, 5.0 };

        var mean = FederatedAveraging.WeightedMean(deltas, weights);

        for (int i = 0; i < mean.Length; i++)
        {
            double expected = (deltas[0][i] * 1.0 + deltas[1][i] * 2.0 + deltas[2][i] * 5.0) / 8.0;
            Assert.Equal(expected, mean[i], 5);
        }
    }

    [Fact]
    public void Mismatched_lengths_and_bad_weights_are_refused()
    {
        Assert.Throws<ArgumentException>(() => FederatedAveraging.WeightedMean(new[] { new float[2], new float[3] }, new[] { 1.0, 1.0 }));
        Assert.Throws<ArgumentException>(() => FederatedAveraging.WeightedMean(new[] { new float[2] }, new[] { double.NaN }));
        Assert.Throws<ArgumentException>(() => FederatedAveraging.WeightedMean(new[] { new float[2] }, new[] { 0.0 }));
        Assert.Throws<ArgumentException>(() => FederatedAveraging.WeightedMean(Array.Empty<float[]>(), Array.Empty<double>()));
    }

    [Fact]
    public void Non_finite_values_are_detected()
    {
        Assert.True(FederatedAveraging.AllFinite(new[] { 1f, -2f }));
        Assert.False(FederatedAveraging.AllFinite(new[] { 1f, float.NaN }));
        Assert.False(FederatedAveraging.AllFinite(new[] { float.NegativeInfinity }));
    }

    [Fact]
    public void Non_finite_values_are_detected_anywhere_in_a_long_array()
    {
        var values = Enumerable.Range(0, 1003).Select(i => (float)Math.Sin(i) * float.MaxValue).ToArray();
        Assert.True(FederatedAveraging.AllFinite(values));

        foreach (int position in new[] { 0, 5, 17, 500, 1001, 1002 })
        {
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                var copy = (float[])values.Clone();
                copy[position] = bad;
                Assert.False(FederatedAveraging.AllFinite(copy), $"{bad} at {position}");
            }
        }
    }
}
