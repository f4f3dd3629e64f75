using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using AkkaFed.Host;
using AkkaFed.Host.Chaos;
using AkkaFed.Model.Federation;
using Xunit;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

/// <summary>
/// <c>akkafed chaos</c> as the user runs it: a real <c>akkafed</c> process (which starts a cluster's nodes itself), its
/// exit code and every line it printed, the last of which must be the summary.
/// </summary>
internal static class ChaosRun
{
    private static readonly Regex Summary = new(@"^chaos: (\d+) rounds, (\d+) faults injected, (\d+) hangs, (\d+) rounds lost, (\d+) duplicated$");

    public static async Task<(int Exit, string[] Lines)> Start(ITestOutputHelper log, TimeSpan bound, params string[] args)
    {
        var lines = new ConcurrentQueue<string>();
        using var process = NodeProcess.Start("chaos", args.Prepend("chaos"), line =>
        {
            lines.Enqueue(line);
            log.WriteLine(line);
        });
        int exit = await process.WaitForExit(bound);
        return (exit, lines.ToArray());
    }

    /// <summary>A broken cluster soak leaves its nodes' logs in the temp folder (the test's own is deleted), and says where.</summary>
    public static void KeepLogsIfBroken(ITestOutputHelper log, int exit, string logs)
    {
        if (exit != 0 && Directory.Exists(logs))
        {
            string kept = Path.Combine(Path.GetTempPath(), $"akkafed-chaos-logs-{Guid.NewGuid():N}");
            Directory.Move(logs, kept);
            log.WriteLine($"the nodes' logs are kept in {kept}");
        }
    }

    /// <summary>Exit 0, and a last line that counts <paramref name="rounds"/> rounds, some faults, and no hang, lost or duplicated round.</summary>
    public static void AssertClean(int exit, string[] lines, int rounds)
    {
        Assert.True(exit == 0, $"exit {exit}: {string.Join("; ", lines.Where(l => l.Contains("BROKEN") || l.Contains("split-brain") || l.Contains(" exited with ")))}");
        var summary = Summary.Match(lines.LastOrDefault() ?? "");
        Assert.True(summary.Success, $"the last line is not the summary: '{lines.LastOrDefault()}'");
        Assert.Equal(rounds, int.Parse(summary.Groups[1].Value));
        Assert.True(int.Parse(summary.Groups[2].Value) > 0, "no fault was injected");
        Assert.Equal(("0", "0", "0"), (summary.Groups[3].Value, summary.Groups[4].Value, summary.Groups[5].Value));
    }
}

/// <summary>The quick cluster soak. A class of its own, so that it runs beside the in-process one: it mostly waits.</summary>
public sealed class ChaosClusterTests(ITestOutputHelper log)
{
    [Fact]
    public async Task The_quick_cluster_soak_injects_every_fault_and_loses_hangs_and_duplicates_no_round()
    {
        using var folder = new TempDirectory();

        // Two server and three client processes, a failover and restarts, on a loaded 2-core machine: a bound of minutes.
        var (exit, lines) = await ChaosRun.Start(log, TimeSpan.FromMinutes(8), "--quick", "--output", folder.Path);

        ChaosRun.KeepLogsIfBroken(log, exit, folder.File("logs"));
        ChaosRun.AssertClean(exit, lines, 30);
        string injected = lines.Single(l => l.Contains("] injected "));
        foreach (var kind in new[] { "client kill -9", "server kill -9", "client pause", "slow node start", "vanishing node start",
                     "Byzantine nan node start", "Byzantine sign-flip node start", "Byzantine scale node start" }
                     .Concat(Enum.GetNames<MalformedKind>().Select(k => $"malformed: {k}")))
        {
            Assert.Contains(kind, injected);
        }
        Assert.Contains(lines, l => l.Contains("Resumed from checkpoint"));
        Assert.True(File.Exists(folder.File("model.pt")));
    }
}

/// <summary>The quick in-process soak of simulate.</summary>
public sealed class ChaosInProcessTests(ITestOutputHelper log)
{
    [Fact]
    public async Task The_quick_in_process_soak_crashes_and_restarts_clients_and_loses_hangs_and_duplicates_no_round()
    {
        using var folder = new TempDirectory();

        var (exit, lines) = await ChaosRun.Start(log, TimeSpan.FromMinutes(5), "--in-process", "--quick", "--output", folder.Path);

        ChaosRun.AssertClean(exit, lines, 50);
        string injected = lines.Single(l => l.StartsWith("chaos: injected ", StringComparison.Ordinal));
        Assert.Contains("client crash (actor stopped)", injected);
        Assert.Contains("turncoat back as sign-flip", injected);
        Assert.Contains("turncoat back as scale", injected);
    }
}

/// <summary>The soak's invariants on crafted input: each can break, and a broken one makes the exit code 1.</summary>
public sealed class ChaosInvariantTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(3);

    private static RoundMetrics Round(int round, double wallSeconds = 1, int rejected = 0, double? simulated = null) =>
        new(round, true, 0.5, 0.5, Selected: 12, Participants: 12, Stragglers: 0, Late: 0, Duplicates: 0, Rejected: rejected, Failed: 0, wallSeconds)
        {
            SimulatedSeconds = simulated,
        };

    /// <summary>A metrics.csv written by the product's own writer, read back by the soak's reader.</summary>
    private static IReadOnlyList<RoundRow> Metrics(TempDirectory folder, params RoundMetrics[] rounds)
    {
        using (var writer = new MetricsWriter(folder.Path))
        {
            foreach (var round in rounds)
            {
                writer.Write(round);
            }
        }
        return ChaosInvariants.ReadMetrics(folder.File("metrics.csv"));
    }

    [Fact]
    public void A_failed_round_whose_reason_holds_a_comma_reads_back_column_for_column()
    {
        // The writer quotes the reason; the soak's reader once split on every comma and refused the file.
        using var folder = new TempDirectory();
        var failed = Round(2) with
        {
            Succeeded = false, Loss = double.NaN, Accuracy = double.NaN, Participants = 3, Stragglers = 9,
            FailureReason = "3 updates by the deadline, min-clients is 4, \"quoted\"",
        };

        var rows = Metrics(folder, Round(1), failed, Round(3, rejected: 2));

        Assert.Equal(new[] { 1, 2, 3 }, rows.Select(r => r.Round));
        Assert.False(rows[1].Succeeded);
        Assert.Equal((3, 9), (rows[1].Participants, rows[1].Stragglers));
        Assert.Equal(2, rows[2].Rejected);
    }

    [Fact]
    public void A_missing_and_a_duplicated_round_break_the_run_and_show_in_the_summary()
    {
        using var folder = new TempDirectory();
        var rows = Metrics(folder, Round(1), Round(2), Round(2), Round(4));
        var invariants = new ChaosInvariants { Faults = 3 };
        var output = new StringWriter();

        invariants.CheckRounds(rows, expected: 4);
        int exit = invariants.Report(output);

        Assert.Equal(1, exit);
        var lines = output.ToString().TrimEnd().Split(Environment.NewLine);
        Assert.Equal("chaos: 3 rounds, 3 faults injected, 0 hangs, 1 rounds lost, 1 duplicated", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("chaos: BROKEN rounds lost: 1 of 1-4 missing from metrics.csv (3)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("chaos: BROKEN rounds duplicated: 2 ", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_round_once_holds_and_exits_0()
    {
        using var folder = new TempDirectory();
        var rows = Metrics(folder, Round(1), Round(2), Round(3));
        var invariants = new ChaosInvariants { Faults = 1 };
        var output = new StringWriter();

        invariants.CheckRounds(rows, expected: 3, jsonRounds: new[] { 1, 2, 3 });
        invariants.CheckDurations(rows, Deadline, simulated: false);

        Assert.Equal(0, invariants.Report(output));
        Assert.EndsWith("chaos: 3 rounds, 1 faults injected, 0 hangs, 0 rounds lost, 0 duplicated", output.ToString().TrimEnd());
        // The summary counts only the rounds asked for: a round beyond them breaks the run.
        var beyond = new ChaosInvariants();
        beyond.CheckRounds(rows, expected: 2);
        Assert.False(beyond.Holds);
    }

    [Fact]
    public void A_round_longer_than_twice_the_deadline_plus_the_watchdog_grace_is_a_hang()
    {
        using var folder = new TempDirectory();
        double bound = ChaosInvariants.HangBound(Deadline).TotalSeconds;
        var rows = Metrics(folder, Round(1, wallSeconds: bound - 0.5), Round(2, wallSeconds: bound + 0.5), Round(3, simulated: bound + 1));
        var wall = new ChaosInvariants();
        var simulated = new ChaosInvariants();

        wall.CheckDurations(rows, Deadline, simulated: false);
        simulated.CheckDurations(rows, Deadline, simulated: true);

        Assert.Equal(66, bound);
        Assert.Equal(1, wall.Hangs);
        Assert.Contains("round 2", wall.Broken.Single());
        // On the simulated clock a round without sim_seconds (never measured) is a hang too.
        Assert.Equal(3, simulated.Hangs);
    }

    [Fact]
    public void A_final_model_with_nan_or_none_at_all_breaks_the_run()
    {
        var nan = new ChaosInvariants();
        var none = new ChaosInvariants();
        var fine = new ChaosInvariants();

        nan.CheckModel(new[] { 1f, float.NaN, float.PositiveInfinity }, "crafted");
        none.CheckModel(null, "no checkpoint");
        fine.CheckModel(new[] { 1f, -2f }, "crafted");

        Assert.Equal("the final model (crafted) holds 2 non-finite weights of 3", nan.Broken.Single());
        Assert.False(none.Holds);
        Assert.True(fine.Holds);
    }

    /// <summary>A run of 1,000 rounds whose memory swings by 40 MB around <paramref name="earlyMb"/> early and <paramref name="endMb"/> late, as a collected heap does.</summary>
    private static (int Round, long Kb)[] Sawtooth(double earlyMb, double endMb) => Enumerable.Range(1, 1000)
        .Select(r => (r, (long)(((r < 500 ? earlyMb : endMb) + (r % 4 == 0 ? -20 : r % 4 == 2 ? 20 : 0)) * 1024)))
        .ToArray();

    [Fact]
    public void Memory_is_flat_when_the_median_at_the_end_is_within_ten_percent_plus_sixteen_megabytes_of_the_early_one()
    {
        var flat = MemoryFigure.Of("node", Sawtooth(100, 126), 1000)!;
        var grew = MemoryFigure.Of("node", Sawtooth(100, 127), 1000)!;
        var judged = new ChaosInvariants();
        var quick = new ChaosInvariants();

        judged.CheckMemory(new[] { flat, grew }, TextWriter.Null);
        quick.CheckMemory(new[] { grew }, TextWriter.Null, judge: false);

        // The swings of 20 MB either way do not move the medians.
        Assert.Equal((100 * 1024L, 126 * 1024L), (flat.EarlyKb, flat.EndKb));
        Assert.Equal(((100, 199), (901, 1000)), (flat.Early, flat.End));
        Assert.True(flat.Flat);
        Assert.False(grew.Flat);
        Assert.StartsWith("memory grew: node: median 100.0 MB over rounds 100-199, 127.0 MB over rounds 901-1000", judged.Broken.Single());
        Assert.True(quick.Holds);
    }

    [Fact]
    public void Memory_is_measured_from_a_tenth_of_the_run_after_a_server_took_over_and_not_without_samples()
    {
        var samples = Sawtooth(100, 100);

        Assert.Equal((400, 499), MemoryFigure.Of("server", samples, 1000, from: 300)!.Early);
        Assert.Null(MemoryFigure.Of("server", samples, 1000, from: 750));
        Assert.Null(MemoryFigure.Of("node", samples.Where(s => s.Round < 900).ToArray(), 1000));
    }

    [Fact]
    public void More_rejected_updates_in_a_round_than_attackers_could_send_break_the_run()
    {
        using var folder = new TempDirectory();
        var rows = Metrics(folder, Round(1, rejected: 1), Round(2, rejected: 4), Round(3));
        var invariants = new ChaosInvariants();

        invariants.CheckRejections(rows, refusable: 1, "one attacker");

        Assert.StartsWith("rejected counts more than refused updates: 1 rounds report more than 1 rejected", invariants.Broken.Single());
        Assert.Contains("round 2: 4", invariants.Broken.Single());
    }

    [Fact]
    public void A_stall_seen_by_the_soak_counts_as_a_hang()
    {
        var invariants = new ChaosInvariants();

        invariants.Stalled("no round for 200 s");

        Assert.Equal(1, invariants.Hangs);
        Assert.Equal(1, invariants.Report(TextWriter.Null));
    }
}

/// <summary>The fault schedule: a pure function of seed and rounds, with the mix the soak promises.</summary>
public sealed class ChaosScheduleTests
{
    [Fact]
    public void The_quick_schedule_has_every_fault_and_every_malformed_kind_before_its_quiet_tail()
    {
        var schedule = ChaosSchedule.Create(30, seed: 0, clientNodes: 3, quick: true);

        Assert.Equal(Enum.GetValues<ChaosFault>().Order(), schedule.Select(e => e.Fault).Distinct().Order());
        Assert.Equal(Enum.GetValues<MalformedKind>().Order(),
            schedule.Where(e => e.Fault == ChaosFault.Malformed).Select(e => e.Malformed).Distinct().Order());
        Assert.All(schedule, e => Assert.InRange(e.Round, 2, 30 - ChaosSchedule.Tail(30, quick: true)));
        // The Byzantine node is restarted twice: nan, then sign-flip, then scale.
        Assert.Equal(2, schedule.Count(e => e.Fault == ChaosFault.ClientCrash && e.Target == ChaosTarget.Client(2)));
    }

    [Fact]
    public void The_full_schedule_kills_a_server_about_every_100_rounds_and_spares_the_control_node()
    {
        var schedule = ChaosSchedule.Create(1000, seed: 1, clientNodes: 3, quick: false);

        var kills = schedule.Where(e => e.Fault == ChaosFault.ServerCrash).Select(e => e.Round).ToArray();
        Assert.InRange(kills.Length, 9, 10);
        Assert.All(kills.Zip(kills.Skip(1)), pair => Assert.InRange(pair.Second - pair.First, 60, 140));
        var clientFaults = schedule.Where(e => e.Fault is ChaosFault.ClientCrash or ChaosFault.Pause).ToArray();
        Assert.InRange(clientFaults.Length, 25, 70);
        Assert.DoesNotContain(clientFaults, e => e.Target == ChaosTarget.Client(ChaosSchedule.ControlNode));
        Assert.InRange(schedule.Count(e => e.Fault == ChaosFault.Malformed), 8, 40);
        Assert.All(schedule, e => Assert.InRange(e.Round, 2, 1000 - ChaosSchedule.Tail(1000, quick: false)));
    }

    [Fact]
    public void The_same_seed_gives_the_same_schedule_and_another_seed_another()
    {
        Assert.Equal(ChaosSchedule.Create(300, 5, 3, quick: false), ChaosSchedule.Create(300, 5, 3, quick: false));
        Assert.NotEqual(ChaosSchedule.Create(300, 5, 3, quick: false), ChaosSchedule.Create(300, 6, 3, quick: false));
    }

    [Fact]
    public void The_Byzantine_node_sends_nan_then_flips_then_scales_then_rests_and_the_others_keep_their_nature()
    {
        Assert.Equal(new[] { AttackKind.Nan, AttackKind.SignFlip, AttackKind.Scale, AttackKind.None, AttackKind.Nan },
            Enumerable.Range(0, 5).Select(life => ChaosSchedule.Personality(2, life, 3).Attack));
        Assert.Equal(10, ChaosSchedule.Personality(2, 2, 3).AttackScale);
        Assert.Equal(0.25, ChaosSchedule.Personality(0, 7, 3).StragglerFraction);
        Assert.Equal(0.03, ChaosSchedule.Personality(1, 0, 3).DropoutFraction);
        Assert.False(ChaosSchedule.Personality(2, 3, 4).IsFaulty);
        Assert.Throws<AkkaFed.Model.SettingsException>(() => ChaosSchedule.Create(100, 0, clientNodes: 2, quick: false));
    }
}
