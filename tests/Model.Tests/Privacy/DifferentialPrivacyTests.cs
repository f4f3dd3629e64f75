using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests.Privacy;

public sealed class DifferentialPrivacyTests
{
    [Fact]
    public void Clipping_a_long_update_scales_it_to_the_clip_norm_and_keeps_its_direction()
    {
        var update = new[] { 3f, -4f, 12f };   // norm 13

        var clipped = DifferentialPrivacy.Clip(update, 2.6);

        double norm = DifferentialPrivacy.L2Norm(clipped);
        Assert.True(norm <= 2.6, $"norm {norm:R} exceeds the bound");
        Assert.Equal(2.6, norm, 2.6 * 1e-6);
        Assert.Equal(0.6f, clipped[0], 1e-6f);
        Assert.Equal(-0.8f, clipped[1], 1e-6f);
        Assert.Equal(2.4f, clipped[2], 1e-6f);
        Assert.Equal(new[] { 3f, -4f, 12f }, update);
    }

    [Fact]
    public void An_update_within_the_bound_is_copied_untouched()
    {
        var update = new[] { 0.3f, -0.4f };   // norm 0.5

        var clipped = DifferentialPrivacy.Clip(update, 1.0);

        Assert.Equal(update, clipped);
        Assert.NotSame(update, clipped);
    }

    [Fact]
    public void Clipped_norms_never_exceed_the_bound_despite_float_rounding()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 500; trial++)
        {
            var update = Enumerable.Range(0, 1 + random.Next(300)).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
            double clipNorm = 0.01 + random.NextDouble();

            double before = DifferentialPrivacy.L2Norm(update);

            double norm = DifferentialPrivacy.L2Norm(DifferentialPrivacy.Clip(update, clipNorm));

            Assert.True(norm <= clipNorm, $"trial {trial}: norm {norm:R} > {clipNorm:R}");
            Assert.True(norm >= Math.Min(before, clipNorm * (1 - 1e-5)), $"trial {trial}: norm {norm:R} shrank below {clipNorm:R}");
        }
    }

    [Fact]
    public void Noise_is_the_same_for_the_same_seed_and_different_for_another()
    {
        float[] Noised(int seed)
        {
            var values = new float[101];
            DifferentialPrivacy.AddGaussianNoise(values, 1.5, new Random(seed));
            return values;
        }

        Assert.Equal(Noised(42), Noised(42));
        Assert.NotEqual(Noised(42), Noised(43));
    }

    [Fact]
    public void Noise_has_zero_mean_and_the_requested_stddev()
    {
        var values = Enumerable.Repeat(10f, 200_001).ToArray();   // odd length: the last value uses half a pair

        DifferentialPrivacy.AddGaussianNoise(values, 2.5, new Random(5));

        double mean = values.Average(v => (double)v);
        double stddev = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
        // Standard error of the mean is 2.5 / sqrt(2e5) ~ 0.0056, of the stddev ~ 0.004.
        Assert.InRange(mean, 10 - 0.03, 10 + 0.03);
        Assert.InRange(stddev, 2.5 * 0.98, 2.5 * 1.02);
        Assert.NotEqual(10f, values[^1]);
    }

    [Fact]
    public void Noisy_mean_without_noise_divides_the_sum_by_the_expected_clients_not_the_replies()
    {
        var updates = new[] { new[] { 3f, 4f }, new[] { 0f, 1f } };   // norms 5 and 1

        var mean = DifferentialPrivacy.NoisyMean(updates, clipNorm: 5, noiseMultiplier: 0, expectedClients: 4, new Random(1));

        // ([3, 4] + [0, 1]) / 4
        Assert.Equal(new[] { 0.75f, 1.25f }, mean);
    }

    [Fact]
    public void Noisy_mean_adds_noise_of_stddev_z_times_c_before_dividing()
    {
        var zeros = new[] { new float[10_000] };
        const double clipNorm = 2.0, z = 1.5;
        const int expected = 3;

        var mean = DifferentialPrivacy.NoisyMean(zeros, clipNorm, z, expected, new Random(9));

        var noise = new float[10_000];
        DifferentialPrivacy.AddGaussianNoise(noise, z * clipNorm, new Random(9));
        for (int i = 0; i < noise.Length; i++)
        {
            Assert.Equal(noise[i] / expected, mean[i], 1e-5f);
        }
        double stddev = Math.Sqrt(mean.Sum(v => (double)v * v) / mean.Length);
        Assert.InRange(stddev, z * clipNorm / expected * 0.95, z * clipNorm / expected * 1.05);
    }

    [Fact]
    public void Noisy_mean_refuses_an_update_that_was_not_clipped()
    {
        var updates = new[] { new[] { 0.6f, 0.8f }, new[] { 3f, 4f } };

        var error = Assert.Throws<ArgumentException>(() => DifferentialPrivacy.NoisyMean(updates, 1.0, 1.0, 2, new Random(1)));

        Assert.Contains("update 1", error.Message);
        Assert.Contains("dp-clip-norm", error.Message);
    }

    [Fact]
    public void Invalid_clip_norms_and_noise_levels_are_refused_by_name()
    {
        var updates = new[] { new[] { 0.1f } };

        Assert.Contains("dp-clip-norm", Assert.Throws<ArgumentOutOfRangeException>(() => DifferentialPrivacy.Clip(new[] { 1f }, 0)).Message);
        Assert.Contains("dp-clip-norm", Assert.Throws<ArgumentOutOfRangeException>(() => DifferentialPrivacy.Clip(new[] { 1f }, double.NaN)).Message);
        Assert.Contains("dp-clip-norm", Assert.Throws<ArgumentOutOfRangeException>(
            () => DifferentialPrivacy.NoisyMean(updates, -1, 1, 1, new Random(1))).Message);
        Assert.Contains("dp-noise-multiplier", Assert.Throws<ArgumentOutOfRangeException>(
            () => DifferentialPrivacy.NoisyMean(updates, 1, -0.5, 1, new Random(1))).Message);
        Assert.Contains("dp-noise-multiplier", Assert.Throws<ArgumentOutOfRangeException>(
            () => DifferentialPrivacy.AddGaussianNoise(new float[2], -1, new Random(1))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DifferentialPrivacy.NoisyMean(updates, 1, 1, 0, new Random(1)));
        Assert.Throws<ArgumentException>(() => DifferentialPrivacy.NoisyMean(new[] { new float[2], new float[3] }, 1, 1, 2, new Random(1)));
        Assert.Throws<ArgumentException>(() => DifferentialPrivacy.Clip(new[] { float.NaN }, 1));
    }
}
