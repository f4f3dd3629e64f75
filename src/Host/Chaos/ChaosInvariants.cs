using System.Globalization;

namespace AkkaFed.Host.Chaos;

/// <summary>The columns of one metrics.csv row that the soak's invariants read.</summary>
public sealed record RoundRow(int Round, bool Succeeded, int Selected, int Participants, int Stragglers, int Dropouts, int Late,
    int Rejected, int Failed, double WallSeconds, double? SimulatedSeconds);

/// <summary>Which rounds of 1..N a metrics file holds: none may be missing, none twice, none outside.</summary>
public sealed record RoundAccounting(int Distinct, IReadOnlyList<int> Missing, IReadOnlyList<int> Repeated, IReadOnlyList<int> Outside)
{
    public int Lost => Missing.Count;

    /// <summary>Extra rows: a round written twice counts once per extra row.</summary>
    public int Duplicated { get; init; }
}

/// <summary>
/// A node's resident memory early in the run against the end, each the median of the samples taken over a stretch of
/// rounds (a garbage-collected heap swings by tens of MB between two collections: one sample could catch either end
/// of the swing), and the bound the end must stay within.
/// </summary>
public sealed record MemoryFigure(string Node, (int From, int To) Early, long EarlyKb, (int From, int To) End, long EndKb)
{
    /// <summary>The fewest samples a stretch needs to be judged.</summary>
    public const int MinimumSamples = 5;

    public long BoundKb => ChaosInvariants.MemoryBoundKb(EarlyKb);

    public bool Flat => EndKb <= BoundKb;

    /// <summary>
    /// The figure of <paramref name="samples"/> (after round, kB): the median over rounds [<paramref name="from"/> +
    /// rounds/10, <paramref name="from"/> + rounds/5) against the median over the last tenth of the rounds; null when a
    /// stretch has fewer than <see cref="MinimumSamples"/> samples or the two overlap.
    /// </summary>
    public static MemoryFigure? Of(string node, IReadOnlyList<(int Round, long Kb)> samples, int rounds, int from = 0)
    {
        int tenth = Math.Max(1, rounds / 10);
        var early = (From: from + tenth, To: from + 2 * tenth - 1);
        var end = (From: rounds - tenth + 1, To: rounds);
        if (early.To >= end.From)
        {
            return null;
        }
        var first = samples.Where(s => s.Round >= early.From && s.Round <= early.To).Select(s => s.Kb).ToArray();
        var last = samples.Where(s => s.Round >= end.From - 1 && s.Round <= end.To).Select(s => s.Kb).ToArray();
        return first.Length < MinimumSamples || last.Length < MinimumSamples
            ? null
            : new MemoryFigure(node, early, Median(first), end, Median(last));
    }

    private static long Median(long[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Node}: median {EarlyKb / 1024.0:F1} MB over rounds {Early.From}-{Early.To}, {EndKb / 1024.0:F1} MB over rounds {End.From}-{End.To} " +
        $"(x{(double)EndKb / Math.Max(1, EarlyKb):F3}; bound {BoundKb / 1024.0:F1} MB){(Flat ? "" : ": GREW")}");
}

/// <summary>
/// The soak's checks, as plain functions of what a run leaves behind, so that each can be shown to fail on crafted
/// input. Collects the broken invariants and prints the summary line.
/// </summary>
public sealed class ChaosInvariants
{
    /// <summary>Memory is flat when the end is at most this factor of the early figure ...</summary>
    public const double MemoryFactor = 1.10;

    /// <summary>... plus this much, for allocator and GC noise on a small process.</summary>
    public const long MemorySlackKb = 16 * 1024;

    private readonly List<string> _broken = new();

    public IReadOnlyList<string> Broken => _broken;

    public int Rounds { get; private set; }
    public int Faults { get; set; }
    public int Hangs { get; private set; }
    public int Lost { get; private set; }
    public int Duplicated { get; private set; }

    public bool Holds => _broken.Count == 0;

    public static long MemoryBoundKb(long earlyKb) => (long)(earlyKb * MemoryFactor) + MemorySlackKb;

    /// <summary>
    /// The longest a round may last before it counts as a hang: the driver's watchdog bound, the deadline twice
    /// (training, then federated evaluation) plus <see cref="Actors.FederationDriver.WatchdogGrace"/>.
    /// </summary>
    public static TimeSpan HangBound(TimeSpan deadline) => deadline * 2 + Actors.FederationDriver.WatchdogGrace;

    public void Break(string invariant) => _broken.Add(invariant);

    /// <summary>Reads the rows of a metrics.csv as <see cref="MetricsWriter"/> writes them; a row that does not parse is an error.</summary>
    public static IReadOnlyList<RoundRow> ReadMetrics(string csvPath)
    {
        // RFC 4180, as written: a failed round's reason ("3 updates by the deadline, min-clients is 4") is quoted.
        var csv = Reports.MetricsCsv.Parse(Path.GetFileName(csvPath), csvPath, File.ReadAllText(csvPath));
        foreach (var column in new[] { "succeeded", "selected", "participants", "stragglers", "dropouts", "late", "rejected", "failed", "wall_seconds", "sim_seconds" })
        {
            if (!csv.HasColumn(column))
            {
                throw new InvalidDataException($"{csvPath} has no column {column}");
            }
        }
        var rows = new List<RoundRow>();
        for (int i = 0; i < csv.RowCount; i++)
        {
            int Int(string column) => int.TryParse(csv.Text(column, i), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
                ? value
                : throw new InvalidDataException($"{csvPath} row {i + 1}: {column} is '{csv.Text(column, i)}', not a whole number");
            double? Double(string column) => csv.Text(column, i) is { Length: > 0 } text
                ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                    ? value
                    : throw new InvalidDataException($"{csvPath} row {i + 1}: {column} is '{text}', not a number")
                : null;
            rows.Add(new RoundRow(Int("round"), csv.Text("succeeded", i) == "true", Int("selected"), Int("participants"), Int("stragglers"),
                Int("dropouts"), Int("late"), Int("rejected"), Int("failed"), Double("wall_seconds") ?? double.NaN, Double("sim_seconds")));
        }
        return rows;
    }

    /// <summary>Which of rounds 1..<paramref name="expected"/> appear in <paramref name="rounds"/>, which are missing and which repeat.</summary>
    public static RoundAccounting Account(IEnumerable<int> rounds, int expected)
    {
        var counts = rounds.GroupBy(r => r).ToDictionary(g => g.Key, g => g.Count());
        var missing = Enumerable.Range(1, expected).Where(r => !counts.ContainsKey(r)).ToArray();
        var repeated = counts.Where(c => c.Value > 1).Select(c => c.Key).Order().ToArray();
        var outside = counts.Keys.Where(r => r < 1 || r > expected).Order().ToArray();
        return new RoundAccounting(counts.Count, missing, repeated, outside)
        {
            Duplicated = counts.Values.Sum(c => c - 1),
        };
    }

    /// <summary>Checks that rounds 1..<paramref name="expected"/> each appear exactly once in <paramref name="rows"/> (and, if given, in <paramref name="jsonRounds"/>).</summary>
    public void CheckRounds(IReadOnlyList<RoundRow> rows, int expected, IReadOnlyList<int>? jsonRounds = null)
    {
        var accounting = Account(rows.Select(r => r.Round), expected);
        Rounds = accounting.Distinct - accounting.Outside.Count;
        Lost = accounting.Lost;
        Duplicated = accounting.Duplicated;
        if (accounting.Lost > 0)
        {
            Break($"rounds lost: {accounting.Lost} of 1-{expected} missing from metrics.csv ({Few(accounting.Missing)})");
        }
        if (accounting.Duplicated > 0)
        {
            Break($"rounds duplicated: {Few(accounting.Repeated)} appear more than once in metrics.csv ({accounting.Duplicated} extra rows)");
        }
        if (accounting.Outside.Count > 0)
        {
            Break($"rounds outside 1-{expected} in metrics.csv: {Few(accounting.Outside)}");
        }
        if (rows.Select(r => r.Round).Zip(rows.Skip(1).Select(r => r.Round)).Any(pair => pair.Second <= pair.First) && accounting.Duplicated == 0)
        {
            Break("metrics.csv is out of order");
        }
        if (jsonRounds is not null && !jsonRounds.SequenceEqual(rows.Select(r => r.Round)))
        {
            Break($"metrics.jsonl holds other rounds than metrics.csv ({jsonRounds.Count} rows against {rows.Count})");
        }
    }

    /// <summary>
    /// Counts as hangs the rounds that lasted longer than <see cref="HangBound"/>: on the wall clock by
    /// <c>wall_seconds</c>, on the simulated clock by <c>sim_seconds</c>.
    /// </summary>
    public void CheckDurations(IReadOnlyList<RoundRow> rows, TimeSpan deadline, bool simulated)
    {
        double bound = HangBound(deadline).TotalSeconds;
        var overlong = rows.Where(r => (simulated ? r.SimulatedSeconds ?? double.NaN : r.WallSeconds) is var s && !(s <= bound)).ToArray();
        Hangs += overlong.Length;
        if (overlong.Length > 0)
        {
            string column = simulated ? "sim_seconds" : "wall_seconds";
            Break(string.Create(CultureInfo.InvariantCulture,
                $"hangs: {overlong.Length} rounds lasted longer than deadline x 2 + grace = {bound:F0} s by {column} " +
                $"({string.Join(", ", overlong.Take(10).Select(r => $"round {r.Round}: {(simulated ? r.SimulatedSeconds : r.WallSeconds):F1} s"))})"));
        }
    }

    /// <summary>
    /// <c>rejected</c> counts refused updates (README: wrong length, non-finite, out of range, unknown sender). In a soak
    /// only its NaN attackers send refusable ones, at most <paramref name="refusable"/> in a round: a round that reports
    /// more has counted as rejected something that was not an update.
    /// </summary>
    public void CheckRejections(IReadOnlyList<RoundRow> rows, int refusable, string why)
    {
        var over = rows.Where(r => r.Rejected > refusable).ToArray();
        if (over.Length > 0)
        {
            Break($"rejected counts more than refused updates: {over.Length} rounds report more than {refusable} rejected, " +
                  $"the most {why} could send ({string.Join(", ", over.Take(5).Select(r => $"round {r.Round}: {r.Rejected}"))}" +
                  $"{(over.Length > 5 ? ", ..." : "")}; {over.Sum(r => r.Rejected - refusable)} too many in all)");
        }
    }

    /// <summary>A stretch with no round completing, seen by the soak itself (a server that hangs before it can measure a round): also a hang.</summary>
    public void Stalled(string what)
    {
        Hangs++;
        Break($"hang: {what}");
    }

    /// <summary>The final model: every weight finite.</summary>
    public void CheckModel(float[]? weights, string source)
    {
        if (weights is null)
        {
            Break($"no final model: {source}");
            return;
        }
        int bad = weights.Count(w => !float.IsFinite(w));
        if (bad > 0)
        {
            Break($"the final model ({source}) holds {bad} non-finite weights of {weights.Length}");
        }
    }

    /// <summary>
    /// Prints every figure and breaks on one that grew past its bound. <paramref name="judge"/> false prints them only: a
    /// quick run ends while the processes are still warming up (JIT tiers, pools filling), so its growth means nothing.
    /// </summary>
    public void CheckMemory(IReadOnlyList<MemoryFigure> figures, TextWriter log, bool judge = true)
    {
        foreach (var figure in figures)
        {
            log.WriteLine($"chaos: memory {figure}{(judge ? "" : " (quick run: too short to judge, not checked)")}");
            if (judge && !figure.Flat)
            {
                Break($"memory grew: {figure}");
            }
        }
    }

    /// <summary>The last line a soak prints.</summary>
    public string Summary => $"chaos: {Rounds} rounds, {Faults} faults injected, {Hangs} hangs, {Lost} rounds lost, {Duplicated} duplicated";

    /// <summary>Prints each broken invariant, then the summary line; returns the exit code (0 when every invariant holds).</summary>
    public int Report(TextWriter log)
    {
        log.WriteLine(Holds ? "chaos: every invariant holds" : $"chaos: {_broken.Count} invariants broken:");
        foreach (var broken in _broken)
        {
            log.WriteLine($"chaos: BROKEN {broken}");
        }
        log.WriteLine(Summary);
        return Holds ? 0 : 1;
    }

    private static string Few(IReadOnlyList<int> rounds) =>
        rounds.Count <= 10 ? string.Join(", ", rounds) : $"{string.Join(", ", rounds.Take(10))}, ... ({rounds.Count} in all)";
}
