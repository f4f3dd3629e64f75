using AkkaFed.Model.Federation;

namespace AkkaFed.Model.Privacy;

/// <summary>
/// Central differential privacy for federated averaging: DP-FedAvg of McMahan, Ramage, Talwar and Zhang,
/// "Learning Differentially Private Recurrent Language Models" (ICLR 2018). Each client's model delta is
/// clipped to an L2 norm of at most C, the server sums the clipped deltas, adds Gaussian noise of stddev
/// z * C and divides by the expected number of clients. The privacy this buys is counted by
/// <see cref="RdpAccountant"/> (per round: sampling rate q, noise multiplier z).
/// </summary>
/// <remarks>
/// Noise comes from the <see cref="Random"/> passed in, so a seed reproduces a run. A seeded
/// <see cref="Random"/> is right for simulation and tests; a deployment that must resist a real adversary
/// should pass a <see cref="Random"/> backed by a cryptographic generator.
/// </remarks>
public static class DifferentialPrivacy
{
    /// <summary>The L2 norm of <paramref name="values"/>, accumulated in double precision.</summary>
    public static double L2Norm(ReadOnlySpan<float> values) => RobustAggregation.L2Norm(values);

    /// <summary>
    /// A copy of <paramref name="update"/> scaled so its L2 norm is at most <paramref name="clipNorm"/>
    /// (never above: the privacy guarantee is the bound itself); an update already within it is copied unchanged.
    /// </summary>
    public static float[] Clip(float[] update, double clipNorm)
    {
        ArgumentNullException.ThrowIfNull(update);
        DpSettings.RequireClipNorm(clipNorm, nameof(clipNorm));
        if (!double.IsFinite(L2Norm(update)))
        {
            throw new ArgumentException("the update holds NaN or infinite values; it cannot be clipped", nameof(update));
        }
        return RobustAggregation.BoundNorm(update, clipNorm);
    }

    /// <summary>
    /// Adds independent N(0, <paramref name="stddev"/>^2) noise to every value, in place. Box-Muller over
    /// <paramref name="random"/>: the same seed gives the same noise.
    /// </summary>
    public static void AddGaussianNoise(float[] values, double stddev, Random random)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(random);
        if (!double.IsFinite(stddev) || stddev < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stddev), stddev,
                $"noise stddev ({DpSettings.NoiseMultiplier} x {DpSettings.ClipNorm}) must be a finite number >= 0");
        }
        for (int i = 0; i < values.Length; i += 2)
        {
            var (first, second) = NextGaussianPair(random);
            values[i] = (float)(values[i] + stddev * first);
            if (i + 1 < values.Length)
            {
                values[i + 1] = (float)(values[i + 1] + stddev * second);
            }
        }
    }

    /// <summary>
    /// The DP-FedAvg aggregate: (sum of the clipped updates + N(0, (z C)^2 I)) / expected clients.
    /// </summary>
    /// <remarks>
    /// This is the fixed-denominator estimator of McMahan et al. 2018 (their f~_f = sum_k w_k Delta_k / (q W))
    /// with every client weighted w_k = 1, so qW is the expected number of clients per round. Dividing by
    /// the expected count rather than the number that replied keeps the denominator independent of any one
    /// client's participation, so the sum's sensitivity stays C and the noise z C covers it. It is unbiased
    /// under Poisson sampling; with fewer replies than expected it shrinks the step rather than leaking
    /// the count. The clipped updates are summed exactly (<see cref="FixedPointSum"/>), so the order they come in
    /// does not matter.
    /// </remarks>
    /// <param name="clippedUpdates">Deltas already clipped to <paramref name="clipNorm"/>; one that is not is refused.</param>
    /// <param name="clipNorm">C, the L2 bound each update was clipped to (dp-clip-norm).</param>
    /// <param name="noiseMultiplier">z: the noise stddev is z * C (dp-noise-multiplier); 0 adds no noise.</param>
    /// <param name="expectedClients">The expected number of clients per round, q times the population.</param>
    /// <param name="random">The noise source.</param>
    public static float[] NoisyMean(IReadOnlyList<float[]> clippedUpdates, double clipNorm, double noiseMultiplier,
        int expectedClients, Random random)
    {
        ArgumentNullException.ThrowIfNull(clippedUpdates);
        RequireNoisyMeanSettings(clipNorm, noiseMultiplier, expectedClients, random);
        if (clippedUpdates.Count == 0)
        {
            throw new ArgumentException("no updates: the length of the model is unknown", nameof(clippedUpdates));
        }

        int length = clippedUpdates[0].Length;
        // Clip rounds to float, so allow the bound a relative hair; anything more was not clipped.
        double tolerance = clipNorm * (1 + 1e-6);
        using var sum = new FixedPointSum(length);
        for (int k = 0; k < clippedUpdates.Count; k++)
        {
            var update = clippedUpdates[k];
            if (update.Length != length)
            {
                throw new ArgumentException($"update {k} has {update.Length} values, update 0 has {length}", nameof(clippedUpdates));
            }
            double norm = L2Norm(update);
            if (!(norm <= tolerance))
            {
                throw new ArgumentException(
                    $"update {k} has L2 norm {norm:G6} above {DpSettings.ClipNorm} {clipNorm:G6}: clip it before aggregating",
                    nameof(clippedUpdates));
            }
            sum.Add(update, 1);
        }
        return NoisyMean(sum, clipNorm, noiseMultiplier, expectedClients, random);
    }

    private static void RequireNoisyMeanSettings(double clipNorm, double noiseMultiplier, int expectedClients, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        DpSettings.RequireClipNorm(clipNorm, nameof(clipNorm));
        DpSettings.RequireNoiseMultiplier(noiseMultiplier, nameof(noiseMultiplier));
        RequireExpectedClients(expectedClients);
    }

    /// <summary>
    /// The DP-FedAvg aggregate from the running sum of the clipped updates (each added with weight 1), as the server
    /// streams them: (sum + N(0, (z C)^2 I)) / expected clients. The caller vouches that every update was clipped to
    /// <paramref name="clipNorm"/>; the list form above checks it.
    /// </summary>
    public static float[] NoisyMean(FixedPointSum clippedSum, double clipNorm, double noiseMultiplier,
        int expectedClients, Random random)
    {
        ArgumentNullException.ThrowIfNull(clippedSum);
        RequireNoisyMeanSettings(clipNorm, noiseMultiplier, expectedClients, random);

        var sum = clippedSum.Sum();
        double stddev = noiseMultiplier * clipNorm;
        var mean = new float[sum.Length];
        for (int i = 0; i < mean.Length; i += 2)
        {
            var (first, second) = stddev > 0 ? NextGaussianPair(random) : (0.0, 0.0);
            mean[i] = (float)((sum[i] + stddev * first) / expectedClients);
            if (i + 1 < mean.Length)
            {
                mean[i + 1] = (float)((sum[i + 1] + stddev * second) / expectedClients);
            }
        }
        return mean;
    }

    private static void RequireExpectedClients(int expectedClients)
    {
        if (expectedClients < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedClients), expectedClients,
                "the expected number of clients per round must be at least 1");
        }
    }

    /// <summary>Two independent standard normal draws (Box-Muller).</summary>
    internal static (double First, double Second) NextGaussianPair(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        double radius = Math.Sqrt(-2.0 * Math.Log(u1));
        double angle = 2.0 * Math.PI * u2;
        return (radius * Math.Cos(angle), radius * Math.Sin(angle));
    }
}
