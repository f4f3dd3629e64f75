using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class FederatedAveragingTests
{
    private static float[] Mean(ClientWeighting weighting, params ClientUpdate[] updates)
    {
        using var mean = new WeightedMean(weighting).Begin(updates[0].Delta.Length, updates.Select(u => u.ClientId).ToArray());
        foreach (var update in updates)
        {
            mean.Add(update);
        }
        return mean.Combine();
    }

    /// <summary>One FedAvg round with server SGD at <paramref name="serverLearningRate"/>.</summary>
    private static float[] Round(float[] global, ClientWeighting weighting, double serverLearningRate, params ClientUpdate[] updates)
    {
        var fedAvg = new FedAvg(new Sampling(1.0, 1, 0, Seed: 0), new LocalTrainingOptions(), new WeightedMean(weighting),
            new ServerSgd(serverLearningRate));
        using var round = fedAvg.BeginFit(new FederatedState(1, global), updates.Select(u => u.ClientId).ToArray());
        foreach (var update in updates)
        {
            round.Add(update);
        }
        return round.Finish(Array.Empty<ClientFailure>(), updates.Length).Weights;
    }

    [Fact]
    public void Weighted_mean_weights_each_delta_by_its_examples()
    {
        var mean = Mean(ClientWeighting.NumExamples,
            new ClientUpdate("a", new[] { 1f, 2f, 3f }, Examples: 1), new ClientUpdate("b", new[] { 5f, 6f, -1f }, Examples: 3));

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

        var uniform = Round(new[] { 0f, 0f }, ClientWeighting.Uniform, 1.0, updates);
        var weighted = Round(new[] { 0f, 0f }, ClientWeighting.NumExamples, 1.0, updates);

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

        var next = Round(global, ClientWeighting.NumExamples, 1.0, updates);

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
    public void The_weighted_mean_of_long_arrays_is_exact_to_float_rounding()
    {
        var random = new Random(3);
        var updates = Enumerable.Range(0, 3)
            .Select(k => new ClientUpdate($"c{k}", Enumerable.Range(0, 1003).Select(_ => (float)random.NextDouble()).ToArray(), new[] { 1, 2, 5 }[k]))
            .ToArray();

        var mean = Mean(ClientWeighting.NumExamples, updates);

        for (int i = 0; i < mean.Length; i++)
        {
            double expected = (updates[0].Delta.Values![i] * 1.0 + updates[1].Delta.Values![i] * 2.0 + updates[2].Delta.Values![i] * 5.0) / 8.0;
            Assert.Equal(expected, mean[i], 1e-7);
        }
    }

    [Fact]
    public void An_update_of_another_length_is_refused()
    {
        using var mean = new WeightedMean(ClientWeighting.NumExamples).Begin(2, new[] { "a", "b" });
        mean.Add(new ClientUpdate("a", new float[2], 1));

        Assert.Throws<ArgumentException>(() => mean.Add(new ClientUpdate("b", new float[3], 1)));
        Assert.Equal(1, mean.Count);
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
