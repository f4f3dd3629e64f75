using System.CommandLine;
using AkkaFed.Actors;
using AkkaFed.Host;

// akkafed: the command line. Each option is one key of the `akkafed` HOCON section (hocon/simulation.conf).
var settingOptions = new (string Key, string Help)[]
{
    ("dataset", "mnist | fashion-mnist | synthetic | idx"),
    ("data-dir", "folder of MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)"),
    ("cache-dir", "where converted datasets are cached"),
    ("model", "cnn | mcmahan-cnn | 2nn"),
    ("clients", "number of clients"),
    ("samples-per-client", "training samples per client (contiguous, iid); 0 = all samples shared out"),
    ("partition", "contiguous | iid | pathological | dirichlet"),
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
    ("straggler-fraction", "share of clients that reply late each round (simulated)"),
    ("straggler-delay", "how late simulated stragglers reply (e.g. 5s)"),
    ("dropout-fraction", "share of clients that never reply each round (simulated)"),
    ("seed", "random seed: the same seed gives the same run"),
    ("threads", "training threads, one model each; 0 = one per core"),
    ("output", "folder for metrics.csv, metrics.jsonl and model.pt"),
};

var configOption = new Option<string?>("--config") { Description = "HOCON file with settings (see hocon/simulation.conf)" };
var options = settingOptions.Select(s => (s.Key, Option: new Option<string?>($"--{s.Key}") { Description = s.Help })).ToArray();

var simulate = new Command("simulate", "Run a federation in one process: the TFF MNIST tutorial by default.");
simulate.Options.Add(configOption);
foreach (var (_, option) in options)
{
    simulate.Options.Add(option);
}
simulate.SetAction(async (parse, cancel) =>
{
    var overrides = options
        .Select(o => (o.Key, Value: parse.GetValue(o.Option)))
        .Where(o => o.Value is not null)
        .ToDictionary(o => o.Key, o => o.Value!);
    return await Cli.Guard(() => SimulateCommand.RunAsync(ConfigLoader.Load(parse.GetValue(configOption), overrides), Console.Out, cancel));
});

var root = new RootCommand("AkkaFed: federated learning on Akka.NET and TorchSharp.");
root.Subcommands.Add(simulate);
root.Subcommands.Add(BenchmarkCommand.Create());
return await root.Parse(args).InvokeAsync();
