using System.Globalization;
using AkkaFed.Host;
using AkkaFed.Host.Security;
using Xunit;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

/// <summary>
/// Real `akkafed server` and `akkafed client` processes on 127.0.0.1, killed as a crash would kill them, on mutual TLS
/// with kits provisioned into the test's folder. Each test stops by itself within bounded time and kills every process it started.
/// </summary>
public sealed class ClusterProcessTests(ITestOutputHelper log)
{
    // Every client replies a second late, so rounds last long enough to kill a node in the middle of one.
    private static readonly string[] Paced =
    {
        "--dataset", "synthetic", "--model", "cnn", "--samples-per-client", "50", "--partition", "iid",
        "--straggler-fraction", "1", "--straggler-delay", "1s", "--round-deadline", "4s", "--min-clients", "2",
    };

    private NodeUnderTest Start(string name, params string[] args) => NodeUnderTest.Start(log, name, args);

    private static string Seed(int port) => $"akka.ssl.tcp://akkafed@127.0.0.1:{port}";

    /// <summary>A deployment's kits in <paramref name="folder"/>; a node is started with <c>Kit(name)</c>.</summary>
    internal static Deployment Provision(TempDirectory folder, int servers, int clientNodes, int clients)
    {
        var deployment = Deployment.Local(folder.File("kits"), servers, clientNodes, clients);
        ProvisionCommand.Provision(deployment, TextWriter.Null);
        return deployment;
    }

    /// <summary>Each row by column name, read as RFC 4180 (a failed round's reason is quoted and may hold commas).</summary>
    private static List<Dictionary<string, string>> ReadMetrics(string csv)
    {
        var header = File.ReadLines(csv).First().Split(',');
        var table = AkkaFed.Host.Reports.MetricsCsv.Parse("metrics", Path.GetDirectoryName(csv)!, File.ReadAllText(csv));
        return Enumerable.Range(0, table.RowCount).Select(row => header.ToDictionary(column => column, column => table.Text(column, row))).ToList();
    }

    private static int Int(Dictionary<string, string> row, string column) => int.Parse(row[column], CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_killed_client_node_is_a_straggler_rounds_go_on_without_it_and_it_rejoins_when_restarted()
    {
        using var folder = new TempDirectory();
        int port = NodeProcess.FreePort();
        var kits = Provision(folder, servers: 1, clientNodes: 2, clients: 4);
        string[] shared = Paced.Concat(new[] { "--seed-nodes", Seed(port), "--clients", "4", "--rounds", "30" }).ToArray();
        string[] clientA = shared.Concat(new[] { "--port", "0", "--partition-index", "0", "--partition-count", "2" })
            .Concat(kits.NodeArguments("client-0", insecure: false)).ToArray();

        using var server = Start("server", new[] { "server", "--port", $"{port}", "--checkpoint-dir", folder.File("checkpoints"),
            "--output", folder.Path }.Concat(shared).Concat(kits.NodeArguments("server-0", insecure: false)).ToArray());
        var a = Start("client-a", new[] { "client" }.Concat(clientA).ToArray());
        using var b = Start("client-b", new[] { "client", "--port", "0", "--partition-index", "1", "--partition-count", "2" }.Concat(shared)
            .Concat(kits.NodeArguments("client-1", insecure: false)).ToArray());
        NodeUnderTest? restarted = null;
        try
        {
            // Both client nodes Up before the kill: the resolver does not count members still joining.
            await a.WaitForLine(@"^this node is up in the cluster$", TimeSpan.FromSeconds(120));
            await b.WaitForLine(@"^this node is up in the cluster$", TimeSpan.FromSeconds(120));
            // Then a round with all four clients that ends from now on: round `killed` is the next one. (Round 1 may
            // start with the clients of one node only, if the other joins after a round-deadline.)
            int printed = server.Lines.Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^Round (\d+):"))
                .Where(match => match.Success).Select(match => int.Parse(match.Groups[1].Value)).DefaultIfEmpty(0).Max();
            var full = await server.WaitForLine(@"^Round (\d+): .*clients=4/4", TimeSpan.FromSeconds(120),
                where: round => int.Parse(round.Groups[1].Value) > printed);
            int killed = int.Parse(System.Text.RegularExpressions.Regex.Match(full, @"^Round (\d+)").Groups[1].Value) + 1;
            a.Kill(); // round `killed` is in flight, with node A's two clients selected

            await server.WaitForLine(@"^Round (\d+): .*clients=2/2", TimeSpan.FromSeconds(60), where: round => int.Parse(round.Groups[1].Value) > killed);
            restarted = Start("client-a-again", new[] { "client" }.Concat(clientA).ToArray());
            int exit = await server.WaitForExit(TimeSpan.FromMinutes(3));

            Assert.Equal(0, exit);
            var rounds = ReadMetrics(Path.Combine(folder.Path, "metrics.csv"));
            Assert.Equal(Enumerable.Range(1, 30), rounds.Select(r => Int(r, "round")));
            Assert.All(rounds, r => Assert.Equal("true", r["succeeded"]));
            // The round in flight closed at its deadline with the quorum: A's clients were stragglers.
            Assert.Equal(2, Int(rounds[killed - 1], "participants"));
            Assert.Equal(2, Int(rounds[killed - 1], "stragglers"));
            // Then A was left out of sampling, and after its restart it took part again.
            int without = rounds.FindIndex(killed, r => Int(r, "selected") == 2);
            Assert.True(without >= killed, "no round ran without node A");
            Assert.Contains(rounds.Skip(without), r => Int(r, "participants") == 4);
            Assert.All(rounds, r => Assert.True(long.Parse(r["bytes_sent"], CultureInfo.InvariantCulture) > 0));
        }
        finally
        {
            a.Dispose();
            restarted?.Dispose();
        }
    }

    [Fact]
    public async Task A_client_node_paused_until_the_cluster_downs_it_joins_again_when_resumed_and_its_clients_take_part()
    {
        using var folder = new TempDirectory();
        int port = NodeProcess.FreePort();
        var kits = Provision(folder, servers: 1, clientNodes: 2, clients: 4);
        string[] shared = Paced.Concat(new[] { "--seed-nodes", Seed(port), "--clients", "4", "--rounds", "200" }).ToArray();

        using var server = Start("server", new[] { "server", "--port", $"{port}", "--checkpoint-dir", folder.File("checkpoints"),
            "--output", folder.Path }.Concat(shared).Concat(kits.NodeArguments("server-0", insecure: false)).ToArray());
        using var a = Start("client-a", new[] { "client", "--port", "0" }.Concat(shared).Concat(kits.NodeArguments("client-0", insecure: false)).ToArray());
        using var b = Start("client-b", new[] { "client", "--port", "0" }.Concat(shared).Concat(kits.NodeArguments("client-1", insecure: false)).ToArray());

        // Both client nodes Up before the pause: the resolver does not count members still joining, and with B joining
        // the server and the paused A would be one against one, a tie that A's lower address may win.
        await a.WaitForLine(@"^this node is up in the cluster$", TimeSpan.FromSeconds(120));
        await b.WaitForLine(@"^this node is up in the cluster$", TimeSpan.FromSeconds(120));
        await server.WaitForLine(@"^Round \d+: .*clients=4/4", TimeSpan.FromSeconds(120));
        a.Signal("STOP");
        // Past the failure detector (4 s) and the split-brain resolver's stable-after (7 s): the cluster downs it.
        string without = await server.WaitForLine(@"^Round (\d+): .*clients=2/2", TimeSpan.FromSeconds(120));
        // The leader (the server or client B, whichever has the lower address) logs the decision.
        var downed = new[] { server, b }.Select(node => node.WaitForLine(@"SBR took decision .* is downing", TimeSpan.FromSeconds(180))).ToArray();
        await await Task.WhenAny(downed);
        a.Signal("CONT");

        await a.WaitForLine(@"^this node was removed from the cluster; joining again as a new member", TimeSpan.FromSeconds(120));
        int after = int.Parse(System.Text.RegularExpressions.Regex.Match(without, @"^Round (\d+)").Groups[1].Value);
        await server.WaitForLine(@"^Round (\d+): .*clients=4/4", TimeSpan.FromSeconds(180), where: round => int.Parse(round.Groups[1].Value) > after);
    }

    [Fact]
    public async Task Nodes_told_to_stop_with_SIGTERM_leave_the_cluster_and_exit_instead_of_joining_again()
    {
        using var folder = new TempDirectory();
        int port = NodeProcess.FreePort();
        var kits = Provision(folder, servers: 1, clientNodes: 1, clients: 2);
        string[] shared = Paced.Concat(new[] { "--seed-nodes", Seed(port), "--clients", "2", "--rounds", "100" }).ToArray();
        using var server = Start("server", new[] { "server", "--port", $"{port}", "--checkpoint-dir", folder.File("checkpoints"),
            "--output", folder.Path }.Concat(shared).Concat(kits.NodeArguments("server-0", insecure: false)).ToArray());
        using var client = Start("client", new[] { "client", "--port", "0" }.Concat(shared)
            .Concat(kits.NodeArguments("client-0", insecure: false)).ToArray());
        await client.WaitForLine(@"^round 1 done", TimeSpan.FromSeconds(120));

        client.Signal("TERM");
        Assert.Equal(1, await client.WaitForExit(TimeSpan.FromSeconds(60)));
        server.Signal("TERM");
        Assert.Equal(1, await server.WaitForExit(TimeSpan.FromSeconds(60)));

        Assert.All(new[] { client, server }, node =>
        {
            Assert.DoesNotContain(node.Lines, line => line.Contains("joining again", StringComparison.Ordinal));
            Assert.Contains("stopped before the run ended", node.Lines);
        });
    }

    [Fact]
    public async Task A_client_node_whose_servers_are_all_gone_gives_up_after_the_grace_instead_of_waiting_forever()
    {
        using var folder = new TempDirectory();
        int port = NodeProcess.FreePort();
        var kits = Provision(folder, servers: 1, clientNodes: 1, clients: 2);
        string[] shared = Paced.Concat(new[] { "--seed-nodes", Seed(port), "--clients", "2", "--rounds", "100" }).ToArray();

        var server = Start("server", new[] { "server", "--port", $"{port}", "--checkpoint-dir", folder.File("checkpoints"),
            "--output", folder.Path }.Concat(shared).Concat(kits.NodeArguments("server-0", insecure: false)).ToArray());
        using var client = Start("client", new[] { "client", "--port", "0", "--server-grace", "3s" }.Concat(shared)
            .Concat(kits.NodeArguments("client-0", insecure: false)).ToArray());
        try
        {
            await client.WaitForLine(@"^round 1 done", TimeSpan.FromSeconds(120));
            server.Kill(); // no standby, and the run's end is never announced

            await client.WaitForLine(@"no server node for 3s: the run's end was not heard", TimeSpan.FromSeconds(90));
            Assert.Equal(1, await client.WaitForExit(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task A_killed_server_node_hands_over_to_the_standby_which_resumes_from_the_checkpoint()
    {
        using var folder = new TempDirectory();
        int first = NodeProcess.FreePort();
        int second = NodeProcess.FreePort();
        string seeds = $"{Seed(first)},{Seed(second)}";
        var kits = Provision(folder, servers: 2, clientNodes: 2, clients: 4);
        string[] shared = Paced.Concat(new[] { "--seed-nodes", seeds, "--clients", "4", "--rounds", "8" }).ToArray();
        string[] serverArgs = shared.Concat(new[] { "--checkpoint-dir", folder.File("checkpoints"), "--output", folder.Path }).ToArray();

        var active = Start("server-1", new[] { "server", "--port", $"{first}" }.Concat(serverArgs).Concat(kits.NodeArguments("server-0", insecure: false)).ToArray());
        try
        {
            await active.WaitForLine("server node", TimeSpan.FromSeconds(60));
            using var standby = Start("server-2", new[] { "server", "--port", $"{second}" }.Concat(serverArgs)
                .Concat(kits.NodeArguments("server-1", insecure: false)).ToArray());
            using var c1 = Start("client-1", new[] { "client", "--port", "0" }.Concat(shared).Concat(kits.NodeArguments("client-0", insecure: false)).ToArray());
            using var c2 = Start("client-2", new[] { "client", "--port", "0" }.Concat(shared).Concat(kits.NodeArguments("client-1", insecure: false)).ToArray());

            // Every member Up first: the resolver does not count members still joining, so with the clients joining, the
            // standby and the killed server would be one against one, and the tie goes to the lower address (the dead one).
            foreach (var node in new[] { standby, c1, c2 })
            {
                await node.WaitForLine(@"^this node is up in the cluster$", TimeSpan.FromSeconds(120));
            }
            await active.WaitForLine(@"^Round 2: ", TimeSpan.FromSeconds(120));
            active.Kill(); // round 3 is in flight

            await standby.WaitForLine(@"^Resumed from checkpoint", TimeSpan.FromSeconds(90));
            int exit = await standby.WaitForExit(TimeSpan.FromMinutes(3));

            Assert.Equal(0, exit);
            var rounds = ReadMetrics(Path.Combine(folder.Path, "metrics.csv"));
            // Every round exactly once: none lost, none duplicated by the handover.
            Assert.Equal(Enumerable.Range(1, 8), rounds.Select(r => Int(r, "round")));
            Assert.Equal(Enumerable.Range(1, 8).Select(r => r.ToString(CultureInfo.InvariantCulture)),
                File.ReadAllLines(Path.Combine(folder.Path, "metrics.jsonl")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("round").ToString()));
            Assert.True(File.Exists(Path.Combine(folder.Path, "model.pt")));
            Assert.Equal(0, await c1.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, await c2.WaitForExit(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            active.Dispose();
        }
    }

    [Fact]
    public async Task A_server_node_paused_until_the_cluster_downs_it_joins_again_as_the_standby_and_sees_the_run_end()
    {
        using var folder = new TempDirectory();
        int first = NodeProcess.FreePort();
        int second = NodeProcess.FreePort();
        var kits = Provision(folder, servers: 2, clientNodes: 2, clients: 4);
        string[] shared = Paced.Concat(new[] { "--seed-nodes", $"{Seed(first)},{Seed(second)}", "--clients", "4", "--rounds", "40" }).ToArray();
        string[] serverArgs = shared.Concat(new[] { "--checkpoint-dir", folder.File("checkpoints"), "--output", folder.Path }).ToArray();

        using var active = Start("server-1", new[] { "server", "--port", $"{first}" }.Concat(serverArgs).Concat(kits.NodeArguments("server-0", insecure: false)).ToArray());
        await active.WaitForLine("server node", TimeSpan.FromSeconds(60));
        using var standby = Start("server-2", new[] { "server", "--port", $"{second}" }.Concat(serverArgs)
            .Concat(kits.NodeArguments("server-1", insecure: false)).ToArray());
        using var c1 = Start("client-1", new[] { "client", "--port", "0" }.Concat(shared).Concat(kits.NodeArguments("client-0", insecure: false)).ToArray());
        using var c2 = Start("client-2", new[] { "client", "--port", "0" }.Concat(shared).Concat(kits.NodeArguments("client-1", insecure: false)).ToArray());

        await active.WaitForLine(@"^Round \d+: .*clients=4/4", TimeSpan.FromSeconds(120));
        // The standby must be a member before the first seed stops: no other node can let it join.
        await standby.WaitForLine(@"^this node is up in the cluster$", TimeSpan.FromSeconds(120));
        active.Signal("STOP");
        // Past the failure detector and stable-after, three nodes of four down it, and the standby takes over.
        await standby.WaitForLine(@"^Resumed from checkpoint", TimeSpan.FromSeconds(120));
        active.Signal("CONT");

        await active.WaitForLine(@"^this node (was removed from|left) the cluster; joining again as a new member", TimeSpan.FromSeconds(120));
        Assert.Equal(0, await standby.WaitForExit(TimeSpan.FromMinutes(4)));
        await active.WaitForLine(@"^run finished after round 40$", TimeSpan.FromSeconds(60));
        Assert.Equal(0, await active.WaitForExit(TimeSpan.FromSeconds(60)));
        var rounds = ReadMetrics(Path.Combine(folder.Path, "metrics.csv"));
        Assert.Equal(Enumerable.Range(1, 40), rounds.Select(r => Int(r, "round")));
    }
}
