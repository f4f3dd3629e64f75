using System.Globalization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;

namespace AkkaFed.Benchmarks;

/// <summary>
/// Something a benchmark run must show however fast or loaded the machine is: a bound, an identity, a finite figure.
/// Goals on time are printed beside their figures and never fail a run (the machine is shared and noisy); a broken
/// check does, because then the figures measure something other than what they claim.
/// </summary>
public sealed record Check(string Name, bool Holds, string Detail)
{
    public static Check AtMost(string name, int value, int bound) => new(name, value <= bound, $"{value}, at most {bound}");

    public static Check Equal(string name, int value, int expected) => new(name, value == expected, $"{value}, expected {expected}");

    public static Check FinitePositive(string name, double value) =>
        new(name, double.IsFinite(value) && value > 0, value.ToString("G6", CultureInfo.InvariantCulture));

    public static Check Finite(string name, double value) =>
        new(name, double.IsFinite(value), value.ToString("G6", CultureInfo.InvariantCulture));

    /// <summary>The training pool stayed within its workers: that many models at most, that many clients training at once.</summary>
    public static IEnumerable<Check> PoolBounds(string run, TrainerPoolCounters counters, int workers) =>
    [
        new($"{run}: clients trained", counters.PeakConcurrency >= 1, $"at most {counters.PeakConcurrency} at once"),
        AtMost($"{run}: clients training at once", counters.PeakConcurrency, workers),
        AtMost($"{run}: models", counters.ModelCount, workers),
    ];

    /// <summary>The round succeeded with every selected client, and selected <paramref name="expected"/> of them.</summary>
    public static IEnumerable<Check> FullRound(string run, RoundMetrics round, int expected) =>
    [
        new($"{run}, round {round.Round}: succeeded", round.Succeeded, round.FailureReason ?? "yes"),
        Equal($"{run}, round {round.Round}: clients selected", round.Selected, expected),
        Equal($"{run}, round {round.Round}: participants equal the selected", round.Participants, round.Selected),
    ];

    /// <summary>Prints how many checks hold and each one that is broken; 0 when all hold, else 1 (the process's exit code).</summary>
    public static int Report(IReadOnlyCollection<Check> checks, TextWriter output)
    {
        var broken = checks.Where(check => !check.Holds).ToArray();
        output.WriteLine($"checks: {checks.Count - broken.Length} of {checks.Count} hold");
        foreach (var check in broken)
        {
            output.WriteLine($"BROKEN: {check.Name}: {check.Detail}");
        }
        return broken.Length == 0 ? 0 : 1;
    }
}
