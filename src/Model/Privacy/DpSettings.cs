namespace AkkaFed.Model.Privacy;

/// <summary>
/// The names of the differential-privacy settings as a user writes them. Every refusal in this namespace
/// names the setting to fix, whichever method caught it; the sampling rate, which the server derives from the
/// clients selected and available rather than reads from a setting, is named as the quantity it is.
/// </summary>
public static class DpSettings
{
    public const string ClipNorm = "dp-clip-norm";
    public const string NoiseMultiplier = "dp-noise-multiplier";
    public const string TargetQuantile = "dp-target-quantile";
    public const string ClipLearningRate = "dp-clip-learning-rate";
    public const string ClippedCountStddev = "dp-clipped-count-stddev";
    public const string Delta = "dp-delta";
    public const string Adaptive = "dp-adaptive";

    internal static double RequireClipNorm(double value, string parameter) =>
        double.IsFinite(value) && value > 0
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value, $"{ClipNorm} must be a positive finite L2 norm");

    internal static double RequireNoiseMultiplier(double value, string parameter) =>
        double.IsFinite(value) && value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value,
                $"{NoiseMultiplier} must be a finite number >= 0 (noise stddev / clip norm; 0 means no privacy)");

    internal static double RequireTargetQuantile(double value, string parameter) =>
        value > 0 && value < 1
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value,
                $"{TargetQuantile} must lie strictly between 0 and 1 (the fraction of updates left unclipped)");

    internal static double RequireClipLearningRate(double value, string parameter) =>
        double.IsFinite(value) && value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value, $"{ClipLearningRate} must be a finite number >= 0");

    internal static double RequireClippedCountStddev(double value, string parameter) =>
        double.IsFinite(value) && value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value, $"{ClippedCountStddev} must be a finite number >= 0");

    internal static double RequireDelta(double value, string parameter) =>
        value > 0 && value < 1
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value, $"{Delta} must lie strictly between 0 and 1");

    internal static double RequireSamplingRate(double value, string parameter) =>
        value > 0 && value <= 1
            ? value
            : throw new ArgumentOutOfRangeException(parameter, value,
                "the sampling rate q (the chance a client takes part in a round) must lie in (0, 1]");
}
