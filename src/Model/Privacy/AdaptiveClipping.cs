namespace AkkaFed.Model.Privacy;

/// <summary>
/// The clip norm as a private estimate of a quantile of the clients' update norms: Andrew, Thakkar,
/// McMahan and Ramaswamy, "Differentially Private Learning with Adaptive Clipping" (NeurIPS 2021).
/// Each round the server learns, with noise, the fraction b of updates that were not clipped and moves
/// C geometrically towards the target quantile: C &lt;- C exp(-eta_C (b - gamma)).
/// </summary>
/// <remarks>
/// Immutable: <see cref="Update"/> returns the next round's value. Every property is validated, through
/// <c>with</c> expressions too.
/// </remarks>
public sealed record AdaptiveClipping
{
    private readonly double _clipNorm;
    private readonly double _targetQuantile;
    private readonly double _learningRate;
    private readonly double _clippedCountStddev;

    /// <param name="clipNorm">C, the current clip norm (dp-clip-norm).</param>
    /// <param name="targetQuantile">gamma, the fraction of updates to leave unclipped (dp-target-quantile).</param>
    /// <param name="learningRate">eta_C, the step of the geometric update (dp-clip-learning-rate).</param>
    /// <param name="clippedCountStddev">sigma_b, the noise on the unclipped count (dp-clipped-count-stddev).</param>
    public AdaptiveClipping(double clipNorm, double targetQuantile, double learningRate, double clippedCountStddev)
    {
        ClipNorm = clipNorm;
        TargetQuantile = targetQuantile;
        LearningRate = learningRate;
        ClippedCountStddev = clippedCountStddev;
    }

    public double ClipNorm
    {
        get => _clipNorm;
        init => _clipNorm = DpSettings.RequireClipNorm(value, nameof(ClipNorm));
    }

    public double TargetQuantile
    {
        get => _targetQuantile;
        init => _targetQuantile = DpSettings.RequireTargetQuantile(value, nameof(TargetQuantile));
    }

    public double LearningRate
    {
        get => _learningRate;
        init => _learningRate = DpSettings.RequireClipLearningRate(value, nameof(LearningRate));
    }

    public double ClippedCountStddev
    {
        get => _clippedCountStddev;
        init => _clippedCountStddev = DpSettings.RequireClippedCountStddev(value, nameof(ClippedCountStddev));
    }

    /// <summary>
    /// The next round's clip norm from this round's update norms (measured before clipping):
    /// b = (sum of 1[norm &lt;= C] + N(0, sigma_b^2)) / n, then C exp(-eta_C (b - gamma)).
    /// </summary>
    /// <remarks>
    /// Computed as TF Privacy's <c>QuantileEstimatorQuery</c> does: each indicator is shifted to +-1/2
    /// before summing, so one client moves the sum by at most 1/2 (the sensitivity the paper's noise
    /// accounting assumes), and b is clamped to [0, 1]. With n the number of norms the shift cancels and b
    /// is exactly the formula above. Pass <paramref name="expectedClients"/> to divide by the expected
    /// count instead, as the paper does, so the number of replies itself is not released.
    /// With sigma_b = 0 the count is exact and not private; see <see cref="EffectiveNoiseMultiplier"/>.
    /// </remarks>
    public AdaptiveClipping Update(IReadOnlyList<double> updateNorms, Random random, int? expectedClients = null)
    {
        ArgumentNullException.ThrowIfNull(updateNorms);
        ArgumentNullException.ThrowIfNull(random);
        int denominator = expectedClients ?? updateNorms.Count;
        if (denominator < 1)
        {
            throw new ArgumentException(
                expectedClients is null ? "no update norms to learn the clip norm from" : "the expected number of clients must be at least 1",
                expectedClients is null ? nameof(updateNorms) : nameof(expectedClients));
        }

        double shiftedCount = 0;
        foreach (double norm in updateNorms)
        {
            if (double.IsNaN(norm) || norm < 0)
            {
                throw new ArgumentException($"update norm {norm} is not a number >= 0", nameof(updateNorms));
            }
            shiftedCount += norm <= ClipNorm ? 0.5 : -0.5;
        }
        double noise = ClippedCountStddev > 0 ? ClippedCountStddev * DifferentialPrivacy.NextGaussianPair(random).First : 0;
        double unclippedFraction = Math.Clamp((shiftedCount + noise) / denominator + 0.5, 0.0, 1.0);

        double next = ClipNorm * Math.Exp(-LearningRate * (unclippedFraction - TargetQuantile));
        return this with { ClipNorm = next };
    }

    /// <summary>
    /// The noise multiplier to use on the update sum so that it and the noisy unclipped count together
    /// spend the privacy of one Gaussian query at <paramref name="z"/>:
    /// z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2) (Andrew et al. 2021). Account for <paramref name="z"/>,
    /// add noise with the result.
    /// </summary>
    public static double EffectiveNoiseMultiplier(double z, double sigmaB)
    {
        if (!double.IsFinite(z) || z <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(z), z,
                $"{DpSettings.NoiseMultiplier} must be positive and finite for adaptive clipping to be private");
        }
        DpSettings.RequireClippedCountStddev(sigmaB, nameof(sigmaB));
        if (!LeavesUpdateNoise(z, sigmaB))
        {
            throw new ArgumentOutOfRangeException(nameof(sigmaB), sigmaB,
                $"{DpSettings.ClippedCountStddev} = {sigmaB} must exceed {DpSettings.NoiseMultiplier} / 2 = {z / 2}: "
                + $"with {DpSettings.NoiseMultiplier} = {z} the clipped-count query would use up the whole privacy budget "
                + "and leave the update sum no noise variance to spare");
        }
        return 1.0 / Math.Sqrt(RemainingVariance(z, sigmaB));
    }

    /// <summary>
    /// True when the clipped-count noise <paramref name="sigmaB"/> leaves the update sum some of the privacy of one
    /// Gaussian query at <paramref name="z"/>: <c>sigma_b &gt; z / 2</c>, as <see cref="EffectiveNoiseMultiplier"/> needs.
    /// </summary>
    internal static bool LeavesUpdateNoise(double z, double sigmaB) => RemainingVariance(z, sigmaB) > 0;

    private static double RemainingVariance(double z, double sigmaB) => 1.0 / (z * z) - 1.0 / (4.0 * sigmaB * sigmaB);
}
