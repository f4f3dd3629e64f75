using System.Globalization;
using AkkaFed.Host;
using AkkaFed.Model;
using AkkaFed.Tests;
using Xunit;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

/// <summary>What a simulate run leaves in its output folder, and how it stops and goes on: issue 13, points 5 to 8.</summary>
public sealed class RunOutputTests(ITestOutputHelper log)
{
    private static readonly (string Key, string Value)[] Small =
    {
        ("dataset", "synthetic"), ("clients", "8"), ("samples-per-client", "30"), ("partition", "iid"), ("client-fraction", "0.5"),
        ("seed", "5"), ("threads", "2"),
    };

    /// <summary>The settings, a later one winning over an earlier of the same key, and the output folder.</summary>
    private static Dictionary<string, string> With(string output, IEnumerable<(string Key, string Value)> settings)
    {
        var all = new Dictionary<string, string>();
        foreach (var (key, value) in settings.Append(("output", output)))
        {
            all[key] = value;
        }
        return all;
    }

    private static Task<int> Simulate(string output, TextWriter writer, CancellationToken cancel = default, params (string, string)[] settings) =>
        SimulateCommand.RunAsync(ConfigLoader.Load(null, With(output, Small.Concat(settings))), writer, cancel);

    /// <summary>A row without the columns that measure the host (wall time, timestamp, elapsed).</summary>
    private static string[] RunColumns(string csvPath)
    {
        var lines = File.ReadAllLines(csvPath);
        var header = lines[0].Split(',');
        var host = MetricsWriter.HostColumns.Select(name => Array.IndexOf(header, name)).ToHashSet();
        Assert.DoesNotContain(-1, host);
        return lines.Select(line => string.Join(',', line.Split(',').Where((_, i) => !host.Contains(i)))).ToArray();
    }

    private static Dictionary<string, string> Row(string csvPath, int round)
    {
        var lines = File.ReadAllLines(csvPath);
        var header = lines[0].Split(',');
        var row = lines[round].Split(',');
        return header.Zip(row).ToDictionary(pair => pair.First, pair => pair.Second);
    }

    [Fact]
    public async Task A_run_records_its_effective_settings_and_running_them_again_gives_the_same_run()
    {
        using var first = new TempDirectory();
        using var second = new TempDirectory();
        var output = new StringWriter();

        Assert.Equal(0, await Simulate(first.Path, output, default, ("rounds", "2"), ("client-lr", "0.05")));
        string recorded = File.ReadAllText(first.File(RunFolder.SettingsFile));
        Assert.Contains("client-lr = \"0.05\"", recorded);
        Assert.Contains("round-deadline = \"60s\"", recorded);
        var again = ConfigLoader.Load(first.File(RunFolder.SettingsFile), new Dictionary<string, string> { ["output"] = second.Path });
        Assert.Equal(0, await SimulateCommand.RunAsync(again, new StringWriter(), CancellationToken.None));

        Assert.Equal(RunColumns(first.File("metrics.csv")), RunColumns(second.File("metrics.csv")));
        Assert.Equal(File.ReadAllBytes(first.File("model.pt")), File.ReadAllBytes(second.File("model.pt")));
        // The banner names the choices that matter.
        Assert.Contains("strategy fedavg; aggregator mean; round-deadline 60s (simulated); client-lr 0.05, server-lr 1, epochs 1, batch-size 20", output.ToString());
    }

    [Fact]
    public async Task Every_row_says_when_its_round_ended_and_how_long_the_run_had_taken()
    {
        using var folder = new TempDirectory();

        Assert.Equal(0, await Simulate(folder.Path, new StringWriter(), default, ("rounds", "2")));

        var one = Row(folder.File("metrics.csv"), 1);
        var two = Row(folder.File("metrics.csv"), 2);
        var stamp = DateTimeOffset.Parse(two["timestamp"], CultureInfo.InvariantCulture);
        Assert.InRange(stamp, DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.True(double.Parse(two["elapsed_seconds"], CultureInfo.InvariantCulture) >= double.Parse(one["elapsed_seconds"], CultureInfo.InvariantCulture));
        Assert.Equal("", two["failure"]);
    }

    [Fact]
    public async Task A_failed_round_reports_no_loss_accuracy_or_participants_and_its_reason_in_the_csv()
    {
        using var folder = new TempDirectory();
        var output = new StringWriter();

        // Half the clients drop out every round: 4 asked, at most about 2 answer, and min-clients is 4.
        // A run that trained nothing failed, though it stayed under max-failed-rounds.
        var failed = await Assert.ThrowsAsync<AkkaFed.Actors.FederationException>(() =>
            Simulate(folder.Path, output, default, ("rounds", "1"), ("min-clients", "4"), ("dropout-fraction", "0.5")));
        Assert.Contains("none of the 1 rounds succeeded", failed.Message);

        // Read as the plot reads it: a CSV parser that honours the failure's quotes.
        var csv = Reports.MetricsCsv.ReadFolder(folder.Path);
        Assert.Equal("false", csv.Text("succeeded", 0));
        foreach (var column in new[] { "loss", "accuracy", "test_loss", "test_accuracy" })
        {
            Assert.Equal("", csv.Text(column, 0));
        }
        Assert.Equal("0", csv.Text("participants", 0));
        Assert.Contains("min-clients is 4", csv.Text("failure", 0));
        Assert.Single(output.ToString().Split('\n'), line => line.Contains("FAILED"));
    }

    [Fact]
    public async Task A_failed_round_is_printed_once_and_not_also_as_an_akka_warning()
    {
        using var folder = new TempDirectory();
        using var node = NodeUnderTest.Start(log, "simulate", "simulate", "--dataset", "synthetic", "--clients", "8", "--samples-per-client", "30",
            "--client-fraction", "0.5", "--min-clients", "4", "--dropout-fraction", "0.5", "--rounds", "1", "--seed", "5", "--output", folder.Path);

        Assert.Equal(1, await node.WaitForExit(TimeSpan.FromMinutes(3)));

        // The round's line, and the run's error (which quotes the round's reason): no third line, no Akka warning.
        var mentions = node.Lines.Where(line => line.Contains("min-clients is 4")).ToArray();
        Assert.Equal(2, mentions.Length);
        Assert.StartsWith("Round 1:", mentions[0]);
        Assert.StartsWith("error: none of the 1 rounds succeeded", mentions[1]);
        Assert.DoesNotContain(node.Lines, line => line.Contains("WARNING"));
    }

    [Fact]
    public async Task An_earlier_runs_results_are_never_overwritten_unless_asked_and_the_output_is_checked_before_data_loads()
    {
        using var folder = new TempDirectory();
        Assert.Equal(0, await Simulate(folder.Path, new StringWriter(), default, ("rounds", "1")));
        var before = File.ReadAllBytes(folder.File("metrics.csv"));

        // The data folder holds no IDX files either: the output is what is reported, so it was checked before the data loaded.
        using var empty = new TempDirectory();
        var refused = await Assert.ThrowsAsync<SettingsException>(() => Simulate(folder.Path, new StringWriter(), default,
            ("rounds", "2"), ("dataset", "idx"), ("data-dir", empty.Path)));
        Assert.Equal("output", refused.Key);
        Assert.Contains("--overwrite", refused.Message);
        Assert.Equal(before, File.ReadAllBytes(folder.File("metrics.csv")));

        File.WriteAllText(folder.File("checkpoint/checkpoint-00000009.akfed"), "an earlier run's");
        File.WriteAllText(folder.File("notes.txt"), "the user's own");
        Assert.Equal(0, await Simulate(folder.Path, new StringWriter(), default, ("rounds", "2"), ("overwrite", "true")));
        Assert.Equal(3, File.ReadAllLines(folder.File("metrics.csv")).Length);
        Assert.False(File.Exists(folder.File("checkpoint/checkpoint-00000009.akfed")));
        Assert.True(File.Exists(folder.File("notes.txt")));
        Assert.Single(Directory.GetFiles(folder.Path, "events.out.tfevents.*"));
        Assert.True(File.Exists(folder.File("plot.png")));
    }

    [Fact]
    public async Task An_output_that_cannot_be_written_is_named_before_anything_loads()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(folder.File("a-file"), "");

        var notAFolder = await Assert.ThrowsAsync<SettingsException>(() => Simulate(folder.File("a-file"), new StringWriter()));
        var unwritable = await Assert.ThrowsAsync<SettingsException>(() => Simulate("/proc/akkafed-out", new StringWriter()));

        Assert.Equal(("output", "output"), (notAFolder.Key, unwritable.Key));
        Assert.Contains("/proc/akkafed-out", unwritable.Message);
    }

    [Fact]
    public async Task An_interrupted_run_keeps_its_model_and_resumes_exactly_as_if_it_had_not_stopped()
    {
        (string, string)[] run = { ("rounds", "4"), ("strategy", "fedadam"), ("server-lr", "0.05"), ("dropout-fraction", "0.2") };
        using var straight = new TempDirectory();
        using var stopped = new TempDirectory();
        Assert.Equal(0, await Simulate(straight.Path, new StringWriter(), default, run));

        // Ctrl-C as round 2 is reported.
        using var interrupt = new CancellationTokenSource();
        var output = new CancelOnLine("Round 2:", interrupt);
        Assert.Equal(SimulateCommand.Interrupted, await Simulate(stopped.Path, output, interrupt.Token, run));
        log.WriteLine(output.ToString());
        Assert.Matches(@"Interrupted after round [23] of 4", output.ToString());
        Assert.Contains($"--resume {stopped.Path}", output.ToString());
        Assert.True(File.Exists(stopped.File("model.pt")));
        int kept = File.ReadAllLines(stopped.File("metrics.csv")).Length - 1;
        Assert.InRange(kept, 2, 3);

        var config = ConfigLoader.Load(stopped.File(RunFolder.SettingsFile), new Dictionary<string, string>());
        var resumed = new StringWriter();
        Assert.Equal(0, await SimulateCommand.RunAsync(config, resumed, CancellationToken.None, resume: stopped.Path));
        log.WriteLine(resumed.ToString());

        Assert.Contains($"Resuming {stopped.Path} at round {kept + 1} of 4", resumed.ToString());
        log.WriteLine(string.Join('\n', RunColumns(straight.File("metrics.csv"))));
        log.WriteLine(string.Join('\n', RunColumns(stopped.File("metrics.csv"))));
        Assert.Equal(RunColumns(straight.File("metrics.csv")), RunColumns(stopped.File("metrics.csv")));
        Assert.Equal(File.ReadAllBytes(straight.File("model.pt")), File.ReadAllBytes(stopped.File("model.pt")));
    }

    [Fact]
    public async Task A_resume_with_settings_that_change_what_rounds_compute_is_refused_naming_them()
    {
        using var folder = new TempDirectory();
        Assert.Equal(0, await Simulate(folder.Path, new StringWriter(), default, ("rounds", "1")));

        var changed = ConfigLoader.Load(folder.File(RunFolder.SettingsFile), new Dictionary<string, string> { ["client-lr"] = "0.5", ["rounds"] = "3" });
        var refused = await Assert.ThrowsAsync<SettingsException>(() => SimulateCommand.RunAsync(changed, new StringWriter(), CancellationToken.None, folder.Path));
        Assert.Contains("client-lr = '0.5' (the run had '0.02')", refused.Message);

        // More rounds alone is a resume of a finished run.
        var longer = ConfigLoader.Load(folder.File(RunFolder.SettingsFile), new Dictionary<string, string> { ["rounds"] = "2" });
        Assert.Equal(0, await SimulateCommand.RunAsync(longer, new StringWriter(), CancellationToken.None, folder.Path));
        Assert.Equal(3, File.ReadAllLines(folder.File("metrics.csv")).Length);
    }

    /// <summary>A console that presses Ctrl-C when a line starting with <paramref name="prefix"/> is printed.</summary>
    private sealed class CancelOnLine(string prefix, CancellationTokenSource cancel) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.StartsWith(prefix, StringComparison.Ordinal))
            {
                cancel.Cancel();
            }
        }
    }
}
