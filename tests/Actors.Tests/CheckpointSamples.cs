using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;

namespace AkkaFed.Actors.Tests;

/// <summary>Small checkpoints and fingerprints for the checkpoint tests: two weights, no model built.</summary>
internal static class CheckpointSamples
{
    public static RunFingerprint Fingerprint(int seed = 9, string model = "2nn", StrategyOptions? strategy = null) =>
        new(model, Parameters: 2, seed, ClientFraction: 1, ClientWeighting.NumExamples, ServerLearningRate: 1,
            new LocalTrainingOptions(), strategy ?? new StrategyOptions());

    /// <summary>The checkpoint that leads to <paramref name="round"/>, of the run <paramref name="fingerprint"/> (or of seed 9).</summary>
    public static Checkpoint At(int round, RunFingerprint? fingerprint = null) =>
        new(fingerprint?.Seed ?? 9, new FederatedState(round, new[] { 1f, 2f }), Array.Empty<float[]>(), 0, Array.Empty<RoundMetrics>())
        {
            Fingerprint = fingerprint ?? Fingerprint(),
        };
}
