using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using AkkaFed.Host;
using AkkaFed.Model.Models;
using Xunit;

namespace AkkaFed.Host.Tests;

/// <summary>`akkafed simulate` end to end: real data, real actors, real files.</summary>
public sealed class SimulateTests
{
    private static async Task<(string Output, string[] Csv)> Simulate(TempDirectory folder, params (string Key, string Value)[] settings)
    {
        var overrides = settings.Append(("output", folder.Path)).ToDictionary(s => s.Item1, s => s.Item2);
        var output = new StringWriter();
        int exit = await SimulateCommand.RunAsync(ConfigLoader.Load(null, overrides), output, CancellationToken.None);
        Assert.Equal(0, exit);
        return (output.ToString(), File.ReadAllLines(folder.File("metrics.csv")));
    }

    private static double Column(string[] csv, int row, string name) =>
        double.Parse(csv[row].Split(',')[Array.IndexOf(csv[0].Split(','), name)], CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_few_rounds_on_real_mnist_digits_raise_accuracy_well_above_chance()
    {
        using var folder = new TempDirectory();

        var (output, csv) = await Simulate(folder, ("rounds", "3"));

        Assert.Equal(3, Regex.Matches(output, @"^Round \d+: loss=\d\.\d{4} accuracy=\d\.\d{4} .*clients=80/80 stragglers=0 .*wall=", RegexOptions.Multiline).Count);
        Assert.Equal(4, csv.Length);
        Assert.True(Column(csv, 3, "test_accuracy") > 0.5, $"test accuracy {Column(csv, 3, "test_accuracy")} after 3 rounds");
        Assert.True(Column(csv, 3, "loss") < Column(csv, 1, "loss"));
        Assert.Equal(3, File.ReadAllLines(folder.File("metrics.jsonl")).Length);

        // The saved model is the tutorial's CNN, as a PyTorch state dict and as safetensors, both the final weights.
        var weights = ModelFiles.Load(ModelKind.Cnn, folder.File("model.pt"));
        Assert.Equal(54_410, weights.Length);
        Assert.Equal(weights, ModelFiles.Load(ModelKind.Cnn, folder.File("model.safetensors")));
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_rounds()
    {
        (string, string Value)[] settings =
        {
            ("dataset", "synthetic"), ("clients", "10"), ("samples-per-client", "50"), ("rounds", "2"),
            ("partition", "iid"), ("client-fraction", "0.5"), ("seed", "17"),
        };
        using var first = new TempDirectory();
        using var second = new TempDirectory();

        var (_, a) = await Simulate(first, settings);
        var (_, b) = await Simulate(second, settings);

        var host = MetricsWriter.HostColumns.Select(name => Array.IndexOf(a[0].Split(','), name)).ToArray();
        string WithoutWallTime(string line) => string.Join(',', line.Split(',').Where((_, i) => !host.Contains(i)));
        Assert.Equal(a.Select(WithoutWallTime), b.Select(WithoutWallTime));
        Assert.Equal(File.ReadAllBytes(first.File("model.pt")), File.ReadAllBytes(second.File("model.pt")));
    }

    [Fact]
    public async Task Simulated_stragglers_are_cut_off_by_the_deadline_and_reported()
    {
        using var folder = new TempDirectory();

        var (output, csv) = await Simulate(folder,
            ("dataset", "synthetic"), ("clients", "10"), ("samples-per-client", "20"), ("rounds", "2"),
            ("straggler-fraction", "0.5"), ("straggler-delay", "3s"), ("round-deadline", "1s"), ("seed", "3"));

        Assert.Contains(csv.Skip(1), row => Column(new[] { csv[0], row }, 1, "stragglers") > 0);
        Assert.Matches(@"stragglers=[1-9]", output);
        // A round with stragglers lasts its deadline, on the simulated clock.
        Assert.Equal(1.0, Column(csv, 1, "sim_seconds"));
    }

    /// <summary>The issue's own example: on the simulated clock, the host's training threads change nothing but wall_seconds.</summary>
    [Fact]
    public async Task A_straggler_heavy_run_writes_the_same_metrics_and_model_with_one_training_thread_or_two()
    {
        (string, string)[] settings =
        {
            ("dataset", "synthetic"), ("clients", "20"), ("samples-per-client", "50"), ("rounds", "3"), ("model", "2nn"),
            ("straggler-fraction", "0.2"), ("straggler-delay", "3s"), ("dropout-fraction", "0.1"), ("round-deadline", "2s"),
            ("slow-fraction", "0.3"), ("slow-factor", "30"), ("device-spread", "0.5"), ("min-clients", "5"), ("seed", "11"),
        };
        using var first = new TempDirectory();
        using var second = new TempDirectory();

        var (_, a) = await Simulate(first, settings.Append(("threads", "1")).ToArray());
        var (_, b) = await Simulate(second, settings.Append(("threads", "2")).ToArray());

        var host = MetricsWriter.HostColumns.Select(name => Array.IndexOf(a[0].Split(','), name)).ToArray();
        string WithoutWallTime(string line) => string.Join(',', line.Split(',').Where((_, i) => !host.Contains(i)));
        Assert.Equal(a.Select(WithoutWallTime), b.Select(WithoutWallTime));
        Assert.Equal(File.ReadAllBytes(first.File("model.pt")), File.ReadAllBytes(second.File("model.pt")));
        Assert.True(Enumerable.Range(1, 3).Sum(row => Column(a, row, "stragglers")) > 0);
        Assert.True(Enumerable.Range(1, 3).Sum(row => Column(a, row, "dropouts")) > 0);
    }

    [Fact]
    public async Task On_the_wall_clock_rounds_report_no_simulated_time()
    {
        using var folder = new TempDirectory();

        var (output, csv) = await Simulate(folder,
            ("dataset", "synthetic"), ("clients", "5"), ("samples-per-client", "20"), ("rounds", "1"), ("clock", "wall"));

        Assert.Contains("wall clock", output);
        var row = csv[1].Split(',');
        var header = csv[0].Split(',');
        Assert.Equal("", row[Array.IndexOf(header, "sim_seconds")]);
        Assert.Equal("", row[Array.IndexOf(header, "sim_time")]);
        Assert.Equal(5, Column(csv, 1, "participants"));
    }

    [Fact]
    public void A_cluster_refuses_the_simulated_clock()
    {
        var (exit, _, error) = Akkafed("server", "--insecure", "--dataset", "synthetic", "--clock", "simulated", "--seed-nodes", "akka.tcp://akkafed@127.0.0.1:1");

        Assert.Equal(2, exit);
        Assert.Contains("clock: a cluster runs on the wall clock", error);
    }

    [Fact]
    public void The_command_line_refuses_contradictory_settings_with_a_message_naming_them()
    {
        var (exit, _, error) = Akkafed("simulate", "--clients", "5", "--min-clients", "10");

        Assert.Equal(2, exit);
        Assert.Contains("min-clients: must be at most clients (5), got 10", error);
    }

    [Fact]
    public void The_command_line_reports_a_missing_data_folder_without_a_stack_trace()
    {
        var (exit, _, error) = Akkafed("simulate", "--dataset", "idx", "--data-dir", "/nonexistent/mnist");

        // A folder an option names that does not exist is bad usage (issue 13).
        Assert.Equal(2, exit);
        Assert.Contains("/nonexistent/mnist", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Theory]
    [InlineData("server")]
    [InlineData("client")]
    public void A_node_without_seed_nodes_is_refused_at_start_instead_of_waiting_forever(string role)
    {
        var (exit, output, error) = Akkafed(role, "--insecure", "--dataset", "synthetic", "--port", "0");

        Assert.Equal(2, exit);
        Assert.Contains("cluster.seed-nodes: is empty", error);
        // Refused before anything loaded or started.
        Assert.DoesNotContain("node akka.tcp://", output);
    }

    /// <summary>Runs <c>akkafed</c> with <paramref name="args"/> to its end: its exit code, and what it printed.</summary>
    internal static (int Exit, string Output, string Error) Akkafed(params string[] args) => AkkafedIn(null, args);

    /// <summary>As <see cref="Akkafed"/>, run from <paramref name="workingDirectory"/> (null: the test's own).</summary>
    internal static (int Exit, string Output, string Error) AkkafedIn(string? workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "akkafed.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "akkafed did not exit within 2 minutes");
        return (process.ExitCode, output.Result, error.Result);
    }
}
