using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests.Privacy;

public sealed class AdaptiveClippingTests
{
    private static readonly AdaptiveClipping Noiseless = new(clipNorm: 1.0, targetQuantile: 0.5, learningRate: 0.2, clippedCountStddev: 0);

    [Fact]
    public void All_norms_below_the_clip_norm_move_it_down_geometrically()
    {
        var next = Noiseless.Update(new[] { 0.1, 0.5, 0.99 }, new Random(1));

        // b = 1: C exp(-0.2 (1 - 0.5))
        Assert.Equal(Math.Exp(-0.1), next.ClipNorm, 1e-12);
        Assert.Equal(1.0, Noiseless.ClipNorm);
    }

    [Fact]
    public void All_norms_above_the_clip_norm_move_it_up_geometrically()
    {
        var next = Noiseless.Update(new[] { 1.5, 3.0, 40.0 }, new Random(1));

        // b = 0: C exp(-0.2 (0 - 0.5))
        Assert.Equal(Math.Exp(0.1), next.ClipNorm, 1e-12);
    }

    [Fact]
    public void The_clip_norm_holds_when_the_target_quantile_is_met()
    {
        var next = Noiseless.Update(new[] { 0.5, 1.0, 1.5, 2.0 }, new Random(1));   // a norm equal to C is not clipped

        Assert.Equal(1.0, next.ClipNorm, 1e-12);
    }

    [Fact]
    public void Repeated_updates_converge_on_the_target_quantile_of_the_norms()
    {
        var norms = Enumerable.Range(1, 100).Select(k => k / 10.0).ToArray();   // 0.1 .. 10
        var clipping = new AdaptiveClipping(clipNorm: 0.05, targetQuantile: 0.8, learningRate: 0.2, clippedCountStddev: 0);

        for (int round = 0; round < 300; round++)
        {
            clipping = clipping.Update(norms, new Random(round));
        }

        Assert.InRange(clipping.ClipNorm, 7.5, 8.5);
    }

    [Fact]
    public void A_fixed_denominator_counts_against_the_expected_clients()
    {
        // Two of an expected four replied, both unclipped: b = (2 x 1/2) / 4 + 1/2 = 0.75.
        var next = Noiseless.Update(new[] { 0.1, 0.2 }, new Random(1), expectedClients: 4);

        Assert.Equal(Math.Exp(-0.2 * (0.75 - 0.5)), next.ClipNorm, 1e-12);
    }

    [Fact]
    public void Count_noise_is_deterministic_for_a_seed_and_moves_the_estimate()
    {
        var noisy = Noiseless with { ClippedCountStddev = 2.0 };
        var norms = new[] { 0.5, 0.5, 2.0, 2.0 };

        var first = noisy.Update(norms, new Random(3));
        var again = noisy.Update(norms, new Random(3));
        var seeds = Enumerable.Range(0, 20).Select(seed => noisy.Update(norms, new Random(seed)).ClipNorm).Distinct().Count();

        Assert.Equal(first, again);
        Assert.True(seeds > 10, $"only {seeds} distinct clip norms from 20 seeds");
    }

    [Fact]
    public void Effective_noise_multiplier_follows_the_paper()
    {
        // (1^-2 - (2 x 1)^-2)^(-1/2) = 1 / sqrt(0.75)
        Assert.Equal(1.0 / Math.Sqrt(0.75), AdaptiveClipping.EffectiveNoiseMultiplier(1.0, 1.0), 1e-12);
        // (1.1^-2 - (2 x 5)^-2)^(-1/2)
        Assert.Equal(Math.Pow(Math.Pow(1.1, -2) - Math.Pow(10.0, -2), -0.5), AdaptiveClipping.EffectiveNoiseMultiplier(1.1, 5.0), 1e-12);
        Assert.True(AdaptiveClipping.EffectiveNoiseMultiplier(1.1, 5.0) > 1.1);
    }

    [Theory]
    [InlineData(1.0, 0.5)]
    [InlineData(1.0, 0.3)]
    [InlineData(1.0, 0.0)]
    public void Effective_noise_multiplier_refuses_a_count_noise_that_leaves_no_variance(double z, double sigmaB)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => AdaptiveClipping.EffectiveNoiseMultiplier(z, sigmaB));

        Assert.Contains("dp-clipped-count-stddev", error.Message);
        Assert.Contains("dp-noise-multiplier", error.Message);
    }

    [Fact]
    public void Invalid_settings_are_refused_by_name_also_through_with()
    {
        Assert.Contains("dp-clip-norm", Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveClipping(0, 0.5, 0.2, 0)).Message);
        Assert.Contains("dp-target-quantile", Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveClipping(1, 1.5, 0.2, 0)).Message);
        Assert.Contains("dp-target-quantile", Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveClipping(1, 0, 0.2, 0)).Message);
        Assert.Contains("dp-clip-learning-rate", Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveClipping(1, 0.5, -0.2, 0)).Message);
        Assert.Contains("dp-clipped-count-stddev", Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveClipping(1, 0.5, 0.2, -1)).Message);
        Assert.Contains("dp-clip-norm", Assert.Throws<ArgumentOutOfRangeException>(() => Noiseless with { ClipNorm = -1 }).Message);
        Assert.Contains("dp-noise-multiplier", Assert.Throws<ArgumentOutOfRangeException>(() => AdaptiveClipping.EffectiveNoiseMultiplier(-1, 1)).Message);
        Assert.Throws<ArgumentException>(() => Noiseless.Update(Array.Empty<double>(), new Random(1)));
        Assert.Throws<ArgumentException>(() => Noiseless.Update(new[] { double.NaN }, new Random(1)));
    }
}
