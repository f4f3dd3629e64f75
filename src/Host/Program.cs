using System.CommandLine;
using AkkaFed.Host;
using AkkaFed.Host.Security;

// akkafed: the command line. Each option is one key of the `akkafed` HOCON section (hocon/simulation.conf).
var settingOptions = new (string Key, string Help)[]
{
    ("dataset", "mnist | fashion-mnist | synthetic | idx"),
    ("data-dir", "folder of MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)"),
    ("cache-dir", "where converted datasets are cached"),
    ("model", "cnn | mcmahan-cnn | 2nn"),
    ("initial-model", "start from this state dict (model.pt, model.safetensors, or PyTorch's torch.save) instead of the seed's weights"),
    ("clients", "number of clients"),
    ("samples-per-client", "training samples per client (contiguous, iid, windows); 0 = all samples shared out"),
    ("partition", "contiguous | iid | pathological | dirichlet | windows"),
    ("dirichlet-alpha", "concentration of the dirichlet partition"),
    ("rounds", "number of rounds"),
    ("client-fraction", "share of available clients asked each round, in (0, 1]"),
    ("min-clients", "least clients per round and least updates to aggregate"),
    ("epochs", "local epochs"),
    ("batch-size", "local batch size"),
    ("client-lr", "client SGD learning rate"),
    ("server-lr", "server SGD learning rate (1.0 = weight averaging)"),
    ("client-weighting", "num_examples | uniform"),
    ("round-deadline", "a round closes at this deadline (e.g. 60s)"),
    ("max-failed-rounds", "stop after this many failed rounds in a row"),
    ("strategy", "fedavg | fedsgd | fedavgm | fedprox | fedadagrad | fedadam | fedyogi | fedbuff"),
    ("server-momentum", "fedavgm: server momentum"),
    ("server-beta1", "fedadagrad/fedadam/fedyogi: beta1"),
    ("server-beta2", "fedadam/fedyogi: beta2"),
    ("server-tau", "fedadagrad/fedadam/fedyogi: adaptivity tau"),
    ("proximal-mu", "fedprox: the proximal term's mu"),
    ("aggregator", "mean | median | trimmed-mean | krum | multi-krum"),
    ("trimmed-fraction", "trimmed-mean: share cut from each end, in [0, 0.5)"),
    ("krum-byzantine", "krum/multi-krum: attackers to tolerate"),
    ("krum-keep", "multi-krum: updates averaged"),
    ("norm-bound", "scale each update to at most this L2 norm; 0 = off"),
    ("evaluate-fraction", "federated evaluation: share of clients that evaluate each round; 0 = off"),
    ("dp-clip-norm", "DP-FedAvg: clip each update to this L2 norm; 0 = DP off"),
    ("dp-noise-multiplier", "DP-FedAvg: noise sd as a multiple of the clip norm"),
    ("dp-delta", "DP-FedAvg: the delta epsilon is reported for"),
    ("dp-adaptive", "DP-FedAvg: adapt the clip norm to a quantile of update norms (true/false)"),
    ("dp-target-quantile", "adaptive clipping: the quantile"),
    ("dp-clip-learning-rate", "adaptive clipping: its learning rate"),
    ("dp-clipped-count-stddev", "adaptive clipping: noise on the clipped count"),
    ("attack", "misbehaving clients: none | sign-flip | scale | random | nan"),
    ("attack-fraction", "share of clients that misbehave"),
    ("attack-scale", "the attack's factor (or noise sd)"),
    ("concurrency", "fedbuff: clients kept training at once"),
    ("buffer-size", "fedbuff: updates per server step"),
    ("max-staleness", "fedbuff: updates more model versions old than this are dropped"),
    ("staleness-exponent", "fedbuff: an update s versions old weighs (1 + s)^-exponent; 0.5 = 1/sqrt(1 + s)"),
    ("overcommit", "ask ceil(k x overcommit) clients, keep the first k updates; 1 = off"),
    ("clock", "simulated (deadlines on simulated device time) | wall (the host's clock)"),
    ("device-gflops", "simulated devices: median training speed, GFLOP/s"),
    ("device-mbps", "simulated devices: median bandwidth, Mbit/s"),
    ("device-spread", "simulated devices: lognormal sigma of speed and bandwidth; 0 = all alike"),
    ("slow-fraction", "simulated devices: share that are slow"),
    ("slow-factor", "simulated devices: how many times slower a slow one is"),
    ("online-fraction", "simulated devices: share of each availability-period a client is online"),
    ("availability-period", "simulated devices: the period of the online windows (e.g. 1h)"),
    ("device-trace", "simulated devices from a trace file (docs/device-traces.md)"),
    ("straggler-fraction", "share of clients that reply late each round (simulated)"),
    ("straggler-delay", "how late simulated stragglers reply (e.g. 5s)"),
    ("dropout-fraction", "share of clients that never reply each round (simulated)"),
    ("seed", "random seed: the same seed gives the same run"),
    ("threads", "training threads, one model each; 0 = one per core"),
    ("output", "folder for metrics.csv, metrics.jsonl and model.pt"),
};

var clusterOptions = new (string Key, string Help)[]
{
    ("host", "this node's host name or address, as the other nodes reach it"),
    ("port", "this node's port; 0 takes a free one"),
    ("seed-nodes", "comma-separated addresses of the server nodes to join through, e.g. akka.ssl.tcp://akkafed@10.0.0.1:4053 (akka.tcp:// with --insecure)"),
    ("checkpoint-dir", "server: where a checkpoint is written after every round (shared by all server nodes)"),
    ("server-grace", "client: exit with an error after this long with no server node in the cluster (e.g. 60s)"),
    ("wait-for-clients", "server: clients to wait for before round 1 (0 = clients)"),
    ("partition-index", "client: this node hosts clients k, k+n, ... of a shared dataset (k)"),
    ("partition-count", "client: ... (n)"),
    ("node-name", "client: names this node's clients when it holds its own data (a kit sets it to the node's name)"),
};

var configOption = new Option<string?>("--config") { Description = "HOCON file with settings (see hocon/)" };
var kitOption = new Option<string?>("--kit")
{
    Description = "this node's startup kit, a folder made by `akkafed provision` (DIR/server-0, DIR/client-0, ...): mutual TLS with its " +
                  "certificate, and its node.conf's settings under the command line's",
};
var insecureOption = new Option<bool>("--insecure") { Description = "run plain TCP without TLS or identities, for experiments on a trusted network" };

// One command: its options, and what runs it with the configuration they make (and, for a cluster node, its kit).
Command Define(string name, string description, bool cluster, Func<Akka.Configuration.Config, StartupKit?, CancellationToken, Task<int>> run)
{
    var options = settingOptions.Select(s => (Key: s.Key, Option: new Option<string?>($"--{s.Key}") { Description = s.Help }))
        .Concat(cluster
            ? clusterOptions.Select(s => (Key: $"cluster.{s.Key}", Option: new Option<string?>($"--{s.Key}") { Description = s.Help }))
            : [])
        .ToArray();
    var command = new Command(name, description);
    command.Options.Add(configOption);
    if (cluster)
    {
        command.Options.Add(kitOption);
        command.Options.Add(insecureOption);
    }
    foreach (var (_, option) in options)
    {
        command.Options.Add(option);
    }
    command.SetAction(async (parse, cancel) =>
    {
        var overrides = options
            .Select(o => (o.Key, Value: parse.GetValue(o.Option)))
            .Where(o => o.Value is not null)
            .ToDictionary(o => o.Key, o => o.Value!);
        return await Cli.Guard(() =>
        {
            var kit = cluster ? StartupKit.Choose(parse.GetValue(kitOption), parse.GetValue(insecureOption), Console.Error) : null;
            return run(ConfigLoader.Load(parse.GetValue(configOption), overrides, cluster, kit?.Config), kit, cancel);
        });
    });
    return command;
}

var root = new RootCommand("AkkaFed: federated learning on Akka.NET and TorchSharp.");
root.Subcommands.Add(Define("simulate", "Run a federation in one process: the TFF MNIST tutorial by default.", cluster: false,
    (config, _, cancel) => SimulateCommand.RunAsync(config, Console.Out, cancel)));
root.Subcommands.Add(Define("server", "Run a server node of a federation on Akka.Cluster (see hocon/cluster.conf): --kit DIR/server-N, or --insecure.",
    cluster: true, (config, kit, cancel) => ClusterCommands.ServerAsync(config, kit, Console.Out, cancel)));
root.Subcommands.Add(Define("client", "Run a client node of a federation on Akka.Cluster (see hocon/cluster.conf): --kit DIR/client-N, or --insecure.",
    cluster: true, (config, kit, cancel) => ClusterCommands.ClientAsync(config, kit, Console.Out, cancel)));
root.Subcommands.Add(ProvisionCommand.Create());
root.Subcommands.Add(ClusterDemoCommand.Create());
root.Subcommands.Add(AkkaFed.Host.Chaos.ChaosCommand.Create());
return await root.Parse(args).InvokeAsync();
