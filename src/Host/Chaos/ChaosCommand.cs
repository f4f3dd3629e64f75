using System.CommandLine;

namespace AkkaFed.Host.Chaos;

/// <summary>
/// <c>akkafed chaos</c>: a soak under injected faults, then its invariants. By default a real cluster on 127.0.0.1
/// (<see cref="ClusterSoak"/>); with <c>--in-process</c>, one simulation (<see cref="InProcessSoak"/>). Exits 0 when
/// every invariant holds, 1 when one breaks; the last line it prints is always the summary.
/// </summary>
public static class ChaosCommand
{
    public static Command Create()
    {
        var rounds = new Option<int?>("--rounds") { Description = "rounds to run (default 1000; --quick: 30 in a cluster, 50 in process)" };
        var seed = new Option<int>("--seed") { Description = "seeds the fault schedule and the run", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--output") { Description = "metrics, checkpoints and node logs", DefaultValueFactory = _ => "out/chaos" };
        var quick = new Option<bool>("--quick") { Description = "a small run for the test suite: every fault kind at least once" };
        var inProcess = new Option<bool>("--in-process") { Description = "soak akkafed simulate in one process instead of a cluster" };
        var clientNodes = new Option<int>("--client-nodes") { Description = "cluster: client processes (slow, vanishing, ..., Byzantine)", DefaultValueFactory = _ => 3 };
        var clientsPerNode = new Option<int>("--clients-per-node") { Description = "cluster: clients in each client process", DefaultValueFactory = _ => 4 };
        var clients = new Option<int?>("--clients") { Description = "in process: clients (default 50; --quick: 20)" };
        var nodeConfig = new Option<string?>("--node-config") { Description = "cluster: a HOCON file every node reads, to soak your own settings" };
        var command = new Command("chaos", "Run a federation under injected faults (kill -9, pauses, stragglers, Byzantine and malformed traffic) and check its invariants.")
        {
            rounds, seed, output, quick, inProcess, clientNodes, clientsPerNode, clients, nodeConfig,
        };
        command.SetAction(async (parse, cancel) => await Cli.Guard(() =>
        {
            bool isQuick = parse.GetValue(quick);
            bool isInProcess = parse.GetValue(inProcess);
            var options = new ChaosOptions(
                parse.GetValue(rounds) ?? (isQuick ? (isInProcess ? 50 : 30) : 1000),
                parse.GetValue(seed),
                parse.GetValue(output)!,
                isQuick,
                parse.GetValue(clientNodes),
                parse.GetValue(clientsPerNode))
            {
                NodeConfig = parse.GetValue(nodeConfig),
            }.Validate();
            if (isInProcess)
            {
                int count = parse.GetValue(clients) ?? (isQuick ? 20 : 50);
                if (count < 2 * options.MinClients)
                {
                    throw new Model.SettingsException("clients", $"must be at least {2 * options.MinClients}, got {count}");
                }
                return new InProcessSoak(options, count, Console.Out).RunAsync(cancel);
            }
            return new ClusterSoak(options, Console.Out).RunAsync(cancel);
        }));
        return command;
    }
}
