using System.CommandLine;
using System.Runtime.InteropServices;
using AkkaFed.Host.Security;
using AkkaFed.Model;

namespace AkkaFed.Host;

/// <summary>
/// <c>akkafed cluster-demo</c>: one server node and several client nodes as separate processes on
/// 127.0.0.1, training a few rounds of the tutorial over Akka.Cluster.
/// </summary>
public static class ClusterDemoCommand
{
    public static Command Create()
    {
        var clientNodes = new Option<int>("--client-nodes") { Description = "client processes", DefaultValueFactory = _ => 3 };
        var clientsPerNode = new Option<int>("--clients-per-node") { Description = "clients in each client process", DefaultValueFactory = _ => 10 };
        var rounds = new Option<int>("--rounds") { DefaultValueFactory = _ => 3 };
        var model = new Option<string>("--model") { DefaultValueFactory = _ => "cnn" };
        var dataset = new Option<string>("--dataset") { DefaultValueFactory = _ => "mnist" };
        var output = new Option<string>("--output") { Description = "metrics, checkpoints, and the nodes' kits (kits/, made afresh each run)", DefaultValueFactory = _ => "out/cluster-demo" };
        var insecure = new Option<bool>("--insecure") { Description = "run the nodes on plain TCP instead of mutual TLS" };
        var command = new Command("cluster-demo", "Start a server and client nodes as processes on 127.0.0.1 and train a few rounds.")
        {
            clientNodes, clientsPerNode, rounds, model, dataset, output, insecure,
        };
        // The run's other settings (--compression int8, --strategy fedadam, ...) go on to the nodes that read them.
        var settings = Cli.AddNodeSettings(command, OwnSettings);
        command.SetAction(async (parse, cancel) => await Cli.Guard(() => RunAsync(
            parse.GetValue(clientNodes), parse.GetValue(clientsPerNode), parse.GetValue(rounds),
            parse.GetValue(model)!, parse.GetValue(dataset)!, parse.GetValue(output)!, parse.GetValue(insecure), cancel,
            settings(parse, Cli.Scope.Server), settings(parse, Cli.Scope.Client))));
        return command;
    }

    /// <summary>The settings this command gives its nodes itself.</summary>
    private static readonly IReadOnlySet<string> OwnSettings =
        new HashSet<string>(StringComparer.Ordinal) { "dataset", "model", "clients", "rounds", "round-deadline", "output" };

    /// <param name="insecure">Plain TCP; otherwise every node runs mutual TLS with a kit provisioned under <paramref name="output"/>.</param>
    /// <param name="serverSettings">More arguments for the server (the run's settings, <c>--compression int8</c>).</param>
    /// <param name="clientSettings">More arguments for each client node.</param>
    public static async Task<int> RunAsync(int clientNodes, int clientsPerNode, int rounds, string model, string dataset, string output,
        bool insecure, CancellationToken cancel, IEnumerable<string>? serverSettings = null, IEnumerable<string>? clientSettings = null)
    {
        if (clientNodes < 1 || clientsPerNode < 1)
        {
            throw new SettingsException(clientNodes < 1 ? "client-nodes" : "clients-per-node", "cluster-demo needs at least one client node with at least one client");
        }
        string checkpoints = Path.Combine(output, "checkpoints");
        if (Directory.Exists(checkpoints))
        {
            Directory.Delete(checkpoints, recursive: true);
        }
        int clients = clientNodes * clientsPerNode;
        // Kits of the demo's own: a fresh deployment every run, so the one before cannot be mixed in.
        var deployment = Deployment.Local(Path.Combine(output, "kits"), servers: 1, clientNodes, clients);
        if (Directory.Exists(deployment.Output))
        {
            Directory.Delete(deployment.Output, recursive: true);
        }
        if (!insecure)
        {
            ProvisionCommand.Provision(deployment, TextWriter.Null);
        }
        int port = NodeProcess.FreePort();
        string seed = $"{(insecure ? NodeSettings.PlainScheme : NodeSettings.TlsScheme)}://akkafed@127.0.0.1:{port}";
        string[] common =
        {
            "--seed-nodes", seed, "--dataset", dataset, "--model", model, "--clients", $"{clients}",
            "--rounds", $"{rounds}", "--round-deadline", "60s",
        };
        var gate = new object();
        NodeProcess Start(string name, IEnumerable<string> args) => NodeProcess.Start(name, args, line =>
        {
            lock (gate)
            {
                Console.WriteLine($"[{name}] {line}");
            }
        });

        Console.WriteLine($"cluster-demo: 1 server and {clientNodes} client processes on 127.0.0.1, {clients} clients, {rounds} rounds, " +
                          (insecure ? "plain TCP (--insecure)" : $"mutual TLS with the kits in {deployment.Output}"));
        // Every node started is killed on the way out: when a later start throws, on Ctrl+C, and on SIGTERM.
        var nodes = new List<NodeProcess>();
        void KillAll()
        {
            lock (nodes)
            {
                nodes.ForEach(node => node.Dispose());
            }
        }
        // SIGTERM (and SIGHUP, SIGQUIT) end this process without unwinding it: the nodes are killed first.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAll());
        using var onHangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => KillAll());
        using var onQuit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, _ => KillAll());
        try
        {
            NodeProcess Node(string name, IEnumerable<string> args)
            {
                var node = Start(name, args);
                lock (nodes)
                {
                    nodes.Add(node);
                }
                Console.WriteLine($"cluster-demo: started {name} (pid {node.Id})");
                return node;
            }
            var server = Node("server", common.Concat(serverSettings ?? []).Concat(new[] { "--port", $"{port}", "--checkpoint-dir", checkpoints, "--output", output })
                .Concat(deployment.NodeArguments(Deployment.ServerName(0), insecure)).Prepend("server"));
            for (int k = 0; k < clientNodes; k++)
            {
                Node($"client-{k}",
                    common.Concat(clientSettings ?? []).Concat(new[] { "--port", "0", "--partition-index", $"{k}", "--partition-count", $"{clientNodes}" })
                        .Concat(deployment.NodeArguments(Deployment.ClientNodeName(k), insecure)).Prepend("client"));
            }
            int exit = await server.WaitForExit(TimeSpan.FromMinutes(5 + 2 * rounds), cancel);
            foreach (var node in nodes.Skip(1))
            {
                await node.WaitForExit(TimeSpan.FromSeconds(30), cancel);
            }
            Console.WriteLine(exit == 0 ? $"cluster-demo: done; metrics in {output}" : $"cluster-demo: the server exited with {exit}");
            return exit;
        }
        finally
        {
            KillAll();
        }
    }
}
