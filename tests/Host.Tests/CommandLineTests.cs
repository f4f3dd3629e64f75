using System.CommandLine;
using System.Text.RegularExpressions;
using AkkaFed.Host;
using Xunit;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

/// <summary>The command line as a new user meets it: its help, its refusals and its exit codes (issue 13).</summary>
public sealed class CommandLineTests(ITestOutputHelper log)
{
    private static string Help(string command) => Cli.Describe(Cli.Root().Subcommands.Single(c => c.Name == command));

    /// <summary>The options a help text lists, as <c>--name</c>.</summary>
    private static string[] Listed(string help) =>
        Regex.Matches(help, @"^  (--[a-z0-9-]+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToArray();

    [Fact]
    public void Cluster_demo_passes_the_runs_settings_on_to_the_nodes_that_read_them()
    {
        var command = new Command("demo");
        var nodeArguments = Cli.AddNodeSettings(command, new HashSet<string> { "rounds" });

        var parse = command.Parse(["--compression", "int8", "--compression-topk", "0.05", "--threads", "2"]);
        var own = command.Parse(["--rounds", "3"]);

        Assert.Empty(parse.Errors);
        Assert.Equal(new[] { "--compression", "int8", "--compression-topk", "0.05" }, nodeArguments(parse, Cli.Scope.Server));
        Assert.Equal(new[] { "--threads", "2" }, nodeArguments(parse, Cli.Scope.Client));
        Assert.NotEmpty(own.Errors); // the command's own setting is its own option, not passed through twice
        Assert.Contains("--compression", Help("cluster-demo"));
    }

    [Fact]
    public void Simulate_help_groups_the_options_and_shows_the_defaults_of_simulation_conf()
    {
        string help = Help("simulate");

        var headers = Regex.Matches(help, @"^([A-Z][a-z ]+):$", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(new[] { "Description", "Usage", "Data", "Model", "Training", "Strategy", "Privacy", "Compression", "Faults and simulated devices", "Output", "General" },
            headers);
        Assert.Matches(@"--rounds <NUMBER> +number of rounds \(default: 10\)", help);
        Assert.Matches(@"--round-deadline <DURATION> [^-]*\(default: 60s\)", help);
        Assert.Matches(@"--model <VALUE> .*\(default: cnn\)", help);
        Assert.Contains("--resume <DIR>", help);
        Assert.Contains("Exit codes: 0 success, 1 the run failed, 2 bad usage", help);
        Assert.DoesNotContain("--checkpoint-dir", help);
    }

    [Fact]
    public void Server_and_client_help_list_only_the_options_each_node_reads()
    {
        var server = Listed(Help("server"));
        var client = Listed(Help("client"));

        Assert.Contains("--rounds", server);
        Assert.Contains("--strategy", server);
        Assert.Contains("--checkpoint-dir", server);
        Assert.Contains("--wait-for-clients", server);
        Assert.DoesNotContain("--partition-index", server);
        Assert.DoesNotContain("--node-name", server);
        Assert.DoesNotContain("--straggler-fraction", server);

        Assert.Contains("--partition-index", client);
        Assert.Contains("--server-grace", client);
        Assert.Contains("--dataset", client);
        Assert.Contains("--attack", client);
        foreach (var serverOnly in new[] { "--rounds", "--strategy", "--checkpoint-dir", "--wait-for-clients", "--min-clients", "--epochs", "--output" })
        {
            Assert.DoesNotContain(serverOnly, client);
        }
        // Neither node runs the simulated clock or its devices.
        Assert.DoesNotContain("--clock", server.Concat(client));
        Assert.DoesNotContain("--device-gflops", server.Concat(client));
        // A cluster node's defaults are cluster.conf's over simulation.conf's.
        Assert.Matches(@"--server-grace <DURATION> [^-]*\(default: 60s\)", Help("client"));
    }

    [Fact]
    public void Every_setting_of_the_shipped_files_is_an_option_of_simulate_or_the_nodes()
    {
        var options = Cli.Settings.Select(s => s.Key).ToHashSet();

        var missing = ConfigLoader.KnownKeys.Keys.Where(key => !key.StartsWith("transport.", StringComparison.Ordinal) && !options.Contains(key));

        Assert.Empty(missing);
    }

    [Fact]
    public void The_help_exits_0_and_an_unknown_option_exits_2_suggesting_the_nearest()
    {
        var (helpExit, help, _) = SimulateTests.Akkafed("simulate", "--help");
        var (exit, _, error) = SimulateTests.Akkafed("simulate", "--roundz", "3");

        Assert.Equal(Cli.Success, helpExit);
        Assert.Contains("Privacy:", help);
        Assert.Equal(Cli.Usage, exit);
        Assert.Contains("'--roundz'; did you mean '--rounds'?", error);
        Assert.Contains("See 'akkafed simulate --help'", error);
    }

    /// <summary>Bad usage of every kind: exit code 2, one line naming the problem, no .NET parameter names, no stack trace.</summary>
    [Theory]
    [InlineData("round-deadline: must carry a unit, e.g. 2s or 500ms, got '2'", "simulate", "--round-deadline", "2")]
    [InlineData("dp-adaptive: true needs dp-clip-norm > 0", "simulate", "--dp-adaptive", "true")]
    [InlineData("raise min-clients (--min-clients) to 3 or more", "simulate", "--aggregator", "krum")]
    [InlineData("config: /nonexistent/akkafed.conf does not exist", "simulate", "--config", "/nonexistent/akkafed.conf")]
    [InlineData("data-dir: /nonexistent/mnist does not exist", "simulate", "--dataset", "idx", "--data-dir", "/nonexistent/mnist")]
    [InlineData("dataset: must be one of mnist, fashion-mnist, synthetic, idx, got 'cifar10'", "simulate", "--dataset", "cifar10")]
    [InlineData("cluster.server-grace: must carry a unit", "client", "--insecure", "--server-grace", "60")]
    [InlineData("Required command was not provided", "--verbose")]
    public void Bad_usage_exits_2_with_one_clear_line(string problem, params string[] args)
    {
        var (exit, _, error) = SimulateTests.Akkafed(args);

        log.WriteLine(error);
        Assert.Equal(Cli.Usage, exit);
        Assert.Contains(problem, error);
        Assert.DoesNotContain("(Parameter", error);
        Assert.DoesNotContain("Actual value was", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public async Task A_config_file_with_a_misspelt_key_exits_2_naming_the_file_line_and_the_key_meant()
    {
        using var folder = new TempDirectory();
        await File.WriteAllTextAsync(folder.File("my.conf"), "akkafed {\n  dataset = synthetic\n  roundz = 2\n}\n");

        var (exit, _, error) = SimulateTests.Akkafed("simulate", "--config", folder.File("my.conf"));

        Assert.Equal(Cli.Usage, exit);
        Assert.Contains($"{folder.File("my.conf")} line 3: unknown key 'akkafed.roundz'; did you mean 'rounds'?", error);
    }

    [Fact]
    public void A_run_exits_0_and_a_run_whose_rounds_keep_failing_exits_1()
    {
        using var folder = new TempDirectory();
        string[] tiny = { "simulate", "--dataset", "synthetic", "--model", "2nn", "--clients", "2", "--samples-per-client", "20" };

        var (ok, _, _) = SimulateTests.Akkafed(tiny.Concat(new[] { "--rounds", "1", "--output", folder.File("ok") }).ToArray());
        var (failed, _, error) = SimulateTests.Akkafed(tiny.Concat(new[]
        {
            "--rounds", "2", "--max-failed-rounds", "1", "--round-deadline", "1ms", "--output", folder.File("failed"),
        }).ToArray());

        Assert.Equal(Cli.Success, ok);
        Assert.Equal(Cli.Failed, failed);
        Assert.Contains("failed", error);
    }

    [Fact]
    public void An_argument_exception_is_shown_without_the_dotnet_parameter_name_and_value()
    {
        Assert.Equal("krum-keep must be at least 1", Cli.Message(new ArgumentOutOfRangeException("keep", 0, "krum-keep must be at least 1")));
        Assert.Equal("dataset 'idx' needs --data-dir", Cli.Message(new ArgumentException("dataset 'idx' needs --data-dir", "dataDir")));
    }

    /// <summary>
    /// A client started before its server, as a deployment does: Akka warns that the server singleton and the seed node
    /// cannot be found until the server is up. None of it is printed; with --verbose Akka's INFO logs are.
    /// </summary>
    [Fact]
    public async Task A_cluster_start_prints_no_akka_warnings_and_verbose_shows_akkas_logs()
    {
        using var folder = new TempDirectory();
        int port = NodeProcess.FreePort();
        string seed = $"akka.tcp://akkafed@127.0.0.1:{port}";
        string[] shared = { "--insecure", "--seed-nodes", seed, "--dataset", "synthetic", "--model", "2nn", "--clients", "2", "--rounds", "2" };
        using var client = NodeUnderTest.Start(log, "client", new[] { "client", "--port", "0" }.Concat(shared).ToArray());
        await client.WaitForLine("^client node ", TimeSpan.FromSeconds(60));
        // Until the server is up, the client's association with the seed is refused, and the singleton is not found.
        using var server = NodeUnderTest.Start(log, "server", new[] { "server", "--port", $"{port}", "--verbose", "--output", folder.Path,
            "--checkpoint-dir", folder.File("checkpoints") }.Concat(shared).ToArray());

        Assert.Equal(0, await client.WaitForExit(TimeSpan.FromMinutes(3)));
        Assert.Equal(0, await server.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Contains("run finished after round 2", client.Lines);
        Assert.DoesNotContain(client.Lines, line => line.Contains("[WARNING]", StringComparison.Ordinal) || line.Contains("[ERROR]", StringComparison.Ordinal));
        Assert.Contains(server.Lines, line => line.StartsWith("[INFO]", StringComparison.Ordinal));
    }
}
