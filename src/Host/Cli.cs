using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text;
using System.Text.RegularExpressions;
using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Host.Security;
using AkkaFed.Model;

namespace AkkaFed.Host;

/// <summary>
/// The command line: <c>simulate</c>, <c>server</c> and <c>client</c> take one option per key of the <c>akkafed</c> HOCON
/// section (hocon/simulation.conf, hocon/cluster.conf), unset unless given so that a file's value stands; their help
/// groups the options and shows each default, read from the embedded files. Errors a user can cause end in one line and
/// an exit code (<see cref="Success"/>, <see cref="Failed"/>, <see cref="Usage"/>, <see cref="Interrupted"/>).
/// </summary>
public static class Cli
{
    /// <summary>The run ended as asked.</summary>
    public const int Success = 0;

    /// <summary>The run started and failed: a federation that failed, data that could not be loaded, results that could not be written.</summary>
    public const int Failed = 1;

    /// <summary>Bad usage: an unknown option, a malformed or contradictory setting, a file an option names that is missing.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl+C (or SIGTERM on a cluster node), as shells report SIGINT.</summary>
    public const int Interrupted = 130;

    public const string ExitCodes =
        "Exit codes: 0 success, 1 the run failed, 2 bad usage (an unknown option, a bad or contradictory setting, a missing file), 130 interrupted.";

    /// <summary>Who reads a setting: the option is listed in the help of these commands (and accepted, unlisted, by the other nodes).</summary>
    [Flags]
    internal enum Scope
    {
        Simulate = 1,
        Server = 2,
        Client = 4,
        Nodes = Server | Client,
        SimulateAndServer = Simulate | Server,
        SimulateAndClient = Simulate | Client,
        All = Simulate | Server | Client,
    }

    internal sealed record Setting(string Key, string Group, Scope Scope, string Help);

    internal const string Data = "Data";
    internal const string ModelGroup = "Model";
    internal const string Training = "Training";
    internal const string Strategy = "Strategy";
    internal const string Privacy = "Privacy";
    internal const string CompressionGroup = "Compression";
    internal const string Faults = "Faults and simulated devices";
    internal const string Output = "Output";
    internal const string Cluster = "Cluster";
    internal const string General = "General";

    private static readonly string[] GroupOrder = { Data, ModelGroup, Training, Strategy, Privacy, CompressionGroup, Faults, Output, Cluster, General };

    /// <summary>Every key of the <c>akkafed</c> section, as an option: its group, who reads it, and what it does.</summary>
    internal static readonly Setting[] Settings =
    {
        new("dataset", Data, Scope.All, "mnist | fashion-mnist | synthetic | idx"),
        new("data-dir", Data, Scope.All, "folder of MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)"),
        new("cache-dir", Data, Scope.All, "where converted datasets are cached (empty: $AKKAFED_CACHE, else ~/.cache/akkafed)"),
        new("clients", Data, Scope.All, "number of clients"),
        new("samples-per-client", Data, Scope.SimulateAndClient, "training samples per client (contiguous, iid, windows); 0 = all samples shared out"),
        new("partition", Data, Scope.SimulateAndClient, "contiguous | iid | pathological | dirichlet | windows"),
        new("dirichlet-alpha", Data, Scope.SimulateAndClient, "concentration of the dirichlet partition"),
        new("seed", Data, Scope.All, "random seed: the same seed gives the same run"),

        new("model", ModelGroup, Scope.All, "cnn | mcmahan-cnn | 2nn"),
        new("initial-model", ModelGroup, Scope.SimulateAndServer, "start from this model file (model.pt or model.safetensors)"),

        new("rounds", Training, Scope.SimulateAndServer, "number of rounds"),
        new("client-fraction", Training, Scope.SimulateAndServer, "share of available clients asked each round, in (0, 1]"),
        new("min-clients", Training, Scope.SimulateAndServer, "least clients per round and least updates to aggregate"),
        new("epochs", Training, Scope.SimulateAndServer, "local epochs"),
        new("batch-size", Training, Scope.SimulateAndServer, "local batch size"),
        new("client-lr", Training, Scope.SimulateAndServer, "client SGD learning rate"),
        new("server-lr", Training, Scope.SimulateAndServer, "server SGD learning rate (1.0 = weight averaging)"),
        new("client-weighting", Training, Scope.SimulateAndServer, "num_examples | uniform"),
        new("round-deadline", Training, Scope.SimulateAndServer, "a round closes at this deadline (a duration with its unit: 60s, 500ms, 2m)"),
        new("max-failed-rounds", Training, Scope.SimulateAndServer, "stop after this many failed rounds in a row"),
        new("overcommit", Training, Scope.SimulateAndServer, "ask ceil(k x overcommit) clients, keep the first k updates; 1 = off"),
        new("evaluate-fraction", Training, Scope.SimulateAndServer, "federated evaluation: share of clients that evaluate each round; 0 = off"),
        new("threads", Training, Scope.SimulateAndClient, "training threads, one model each; 0 = one per core"),

        new("strategy", Strategy, Scope.SimulateAndServer, "fedavg | fedsgd | fedavgm | fedprox | fedadagrad | fedadam | fedyogi | fedbuff"),
        new("server-momentum", Strategy, Scope.SimulateAndServer, "fedavgm: server momentum"),
        new("server-beta1", Strategy, Scope.SimulateAndServer, "fedadagrad/fedadam/fedyogi: beta1"),
        new("server-beta2", Strategy, Scope.SimulateAndServer, "fedadam/fedyogi: beta2"),
        new("server-tau", Strategy, Scope.SimulateAndServer, "fedadagrad/fedadam/fedyogi: adaptivity tau"),
        new("proximal-mu", Strategy, Scope.SimulateAndServer, "fedprox: the proximal term's mu"),
        new("aggregator", Strategy, Scope.SimulateAndServer, "mean | median | trimmed-mean | krum | multi-krum"),
        new("trimmed-fraction", Strategy, Scope.SimulateAndServer, "trimmed-mean: share cut from each end, in [0, 0.5)"),
        new("krum-byzantine", Strategy, Scope.SimulateAndServer, "krum/multi-krum: attackers to tolerate (needs min-clients >= 2 x this + 3)"),
        new("krum-keep", Strategy, Scope.SimulateAndServer, "multi-krum: updates averaged"),
        new("norm-bound", Strategy, Scope.SimulateAndServer, "scale each update to at most this L2 norm; 0 = off"),
        new("concurrency", Strategy, Scope.SimulateAndServer, "fedbuff: clients kept training at once"),
        new("buffer-size", Strategy, Scope.SimulateAndServer, "fedbuff: updates per server step"),
        new("max-staleness", Strategy, Scope.SimulateAndServer, "fedbuff: updates more model versions old than this are dropped"),
        new("staleness-exponent", Strategy, Scope.SimulateAndServer, "fedbuff: an update s versions old weighs (1 + s)^-exponent"),

        new("dp-clip-norm", Privacy, Scope.SimulateAndServer, "DP-FedAvg: clip each update to this L2 norm; 0 = DP off"),
        new("dp-noise-multiplier", Privacy, Scope.SimulateAndServer, "DP-FedAvg: noise sd as a multiple of the clip norm (needs dp-clip-norm)"),
        new("dp-delta", Privacy, Scope.SimulateAndServer, "DP-FedAvg: the delta epsilon is reported for"),
        new("dp-adaptive", Privacy, Scope.SimulateAndServer, "DP-FedAvg: adapt the clip norm to a quantile of update norms, true/false (needs dp-clip-norm)"),
        new("dp-target-quantile", Privacy, Scope.SimulateAndServer, "adaptive clipping: the quantile"),
        new("dp-clip-learning-rate", Privacy, Scope.SimulateAndServer, "adaptive clipping: its learning rate"),
        new("dp-clipped-count-stddev", Privacy, Scope.SimulateAndServer, "adaptive clipping: noise on the clipped count"),

        new("compression", CompressionGroup, Scope.SimulateAndServer,
            "none | fp16 | int8 | int4 | topk, both ways (topk: updates only, the model goes down as it is)"),
        new("compression-uplink", CompressionGroup, Scope.SimulateAndServer, "client updates, if not as compression: none | fp16 | int8 | int4 | topk"),
        new("compression-downlink", CompressionGroup, Scope.SimulateAndServer, "the model sent down, if not as compression: none | fp16 | int8 | int4"),
        new("compression-block-size", CompressionGroup, Scope.SimulateAndServer, "int8/int4: values that share one scale"),
        new("compression-topk", CompressionGroup, Scope.SimulateAndServer, "topk: share of the values sent, in (0, 1] (0.01 = 1%)"),
        new("compression-error-feedback", CompressionGroup, Scope.SimulateAndServer,
            "topk: each client adds what it did not send to its next update, true/false"),

        new("attack", Faults, Scope.SimulateAndClient, "misbehaving clients: none | sign-flip | scale | random | nan"),
        new("attack-fraction", Faults, Scope.SimulateAndClient, "share of clients that misbehave"),
        new("attack-scale", Faults, Scope.SimulateAndClient, "the attack's factor (or noise sd)"),
        new("straggler-fraction", Faults, Scope.SimulateAndClient, "share of clients that reply late each round (simulated)"),
        new("straggler-delay", Faults, Scope.SimulateAndClient, "how late simulated stragglers reply (a duration: 5s)"),
        new("dropout-fraction", Faults, Scope.SimulateAndClient, "share of clients that never reply each round (simulated)"),
        new("clock", Faults, Scope.Simulate, "simulated (deadlines on simulated device time) | wall (the host's clock)"),
        new("device-gflops", Faults, Scope.Simulate, "simulated devices: median training speed, GFLOP/s"),
        new("device-mbps", Faults, Scope.Simulate, "simulated devices: median bandwidth, Mbit/s"),
        new("device-spread", Faults, Scope.Simulate, "simulated devices: lognormal sigma of speed and bandwidth; 0 = all alike"),
        new("slow-fraction", Faults, Scope.Simulate, "simulated devices: share that are slow"),
        new("slow-factor", Faults, Scope.Simulate, "simulated devices: how many times slower a slow one is"),
        new("online-fraction", Faults, Scope.Simulate, "simulated devices: share of each availability-period a client is online"),
        new("availability-period", Faults, Scope.Simulate, "simulated devices: the period of the online windows (a duration: 1h)"),
        new("device-trace", Faults, Scope.Simulate, "simulated devices from a trace file (docs/device-traces.md)"),

        new("output", Output, Scope.SimulateAndServer, "folder for the run's results: metrics, settings.conf, model.pt and model.safetensors, plot.png, TensorBoard events, checkpoint"),
        new("overwrite", Output, Scope.SimulateAndServer, "replace an earlier run's results in --output (true/false)"),

        new("cluster.host", Cluster, Scope.Nodes, "this node's host name or address, as the other nodes reach it"),
        new("cluster.port", Cluster, Scope.Nodes, "this node's port; 0 takes a free one"),
        new("cluster.seed-nodes", Cluster, Scope.Nodes,
            "comma-separated addresses of the server nodes to join through, e.g. akka.ssl.tcp://akkafed@10.0.0.1:4053 (akka.tcp:// with --insecure)"),
        new("cluster.checkpoint-dir", Cluster, Scope.Server, "where a checkpoint is written after every round (shared by all server nodes)"),
        new("cluster.wait-for-clients", Cluster, Scope.Server, "clients to wait for before round 1 (0 = clients)"),
        new("cluster.server-grace", Cluster, Scope.Client, "exit with an error after this long with no server node in the cluster (a duration: 60s)"),
        new("cluster.partition-index", Cluster, Scope.Client, "this node hosts clients k, k+n, ... of a shared dataset (k)"),
        new("cluster.partition-count", Cluster, Scope.Client, "... (n)"),
        new("cluster.node-name", Cluster, Scope.Client, "names this node's clients when it holds its own data (a kit sets it to the node's name)"),
    };

    /// <summary>The command line of <c>akkafed</c>: its exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, InvocationConfiguration? invocation = null)
    {
        var root = Root();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            var error = invocation?.Error ?? Console.Error;
            foreach (var problem in parse.Errors)
            {
                error.WriteLine($"error: {problem.Message}");
            }
            var suggestions = parse.Errors.Count > 0 ? Suggestions(parse) : "";
            if (suggestions.Length > 0)
            {
                error.WriteLine(suggestions);
            }
            string command = parse.CommandResult.Command is RootCommand ? "akkafed" : $"akkafed {parse.CommandResult.Command.Name}";
            error.WriteLine($"See '{command} --help' for the options.");
            return Usage;
        }
        // Ctrl-C cancels the command, which then saves what the run did: give it time to, rather than System.CommandLine's 2 s.
        invocation ??= new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };
        return await parse.InvokeAsync(invocation);
    }

    /// <summary>"did you mean" for each unknown option, among the options of the command it was given to.</summary>
    private static string Suggestions(ParseResult parse)
    {
        var names = parse.CommandResult.Command.Options.Where(o => !o.Hidden).Select(o => o.Name).ToArray();
        var lines = parse.UnmatchedTokens
            .Where(token => token.StartsWith("--", StringComparison.Ordinal))
            .Select(token => (Token: token, Hint: ConfigLoader.Suggest(token, names)))
            .Where(s => s.Hint.Length > 0)
            .Select(s => $"'{s.Token}'{s.Hint}");
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>Every command, with the grouped help of simulate, server and client.</summary>
    public static RootCommand Root()
    {
        var root = new RootCommand("AkkaFed: federated learning on Akka.NET and TorchSharp. " + ExitCodes);
        var simulate = Define("simulate", "Run a federation in one process: the TFF MNIST tutorial by default.", Scope.Simulate,
            (parse, config, _, cancel) => SimulateCommand.RunAsync(config, Console.Out, cancel, parse.GetValue(Resume)));
        simulate.Options.Add(Resume);
        root.Subcommands.Add(simulate);
        root.Subcommands.Add(Define("server",
            "Run a server node of a federation on Akka.Cluster (see hocon/cluster.conf): --kit DIR/server-N, or --insecure.",
            Scope.Server, (_, config, kit, cancel) => ClusterCommands.ServerAsync(config, kit, Console.Out, cancel)));
        root.Subcommands.Add(Define("client",
            "Run a client node of a federation on Akka.Cluster (see hocon/cluster.conf): --kit DIR/client-N, or --insecure. " +
            "Its clients train with the settings the server sends (epochs, batch-size, client-lr, ...).",
            Scope.Client, (_, config, kit, cancel) => ClusterCommands.ClientAsync(config, kit, Console.Out, cancel)));
        root.Subcommands.Add(Reports.PlotCommand.Create());
        root.Subcommands.Add(ProvisionCommand.Create());
        root.Subcommands.Add(ClusterDemoCommand.Create());
        root.Subcommands.Add(Chaos.ChaosCommand.Create());
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new GroupedHelp(help.Action!);
        return root;
    }

    private static readonly Option<string?> Resume = new("--resume")
    {
        Description = "continue the interrupted run in DIR from its checkpoint",
        HelpName = "DIR",
    };

    /// <summary>Which group the options that are not settings belong to.</summary>
    private static readonly Dictionary<string, string> OtherGroups = new()
    {
        ["--resume"] = Output,
        ["--kit"] = Cluster,
        ["--insecure"] = Cluster,
        ["--config"] = General,
        ["--verbose"] = General,
    };

    /// <summary>Akka's INFO logs, all of them, for <c>--verbose</c>.</summary>
    public static readonly Config Verbose = ConfigurationFactory.ParseString("""
        akka.loglevel = INFO
        akka.stdout-loglevel = INFO
        akka.loggers = ["Akka.Event.StandardOutLogger, Akka"]
        """);

    /// <summary>One command: its options, and what runs it with the configuration they make (and, for a cluster node, its kit).</summary>
    private static Command Define(string name, string description, Scope scope,
        Func<ParseResult, Config, StartupKit?, CancellationToken, Task<int>> run)
    {
        bool cluster = scope != Scope.Simulate;
        var command = new Command(name, description);
        var config = new Option<string?>("--config") { Description = "HOCON file with settings (see hocon/simulation.conf)", HelpName = "FILE" };
        var verbose = new Option<bool>("--verbose") { Description = "show Akka's own logs (INFO and up)" };
        var kitOption = new Option<string?>("--kit")
        {
            Description = "this node's startup kit, a folder made by `akkafed provision` (DIR/server-0, DIR/client-0, ...): mutual TLS with its " +
                          "certificate, and its node.conf's settings under the command line's",
            HelpName = "DIR",
        };
        var insecure = new Option<bool>("--insecure") { Description = "run plain TCP without TLS or identities, for experiments on a trusted network" };
        command.Options.Add(config);
        command.Options.Add(verbose);
        if (cluster)
        {
            command.Options.Add(kitOption);
            command.Options.Add(insecure);
        }
        // Every command takes every setting it could meet in a shared command line; it lists the ones it reads.
        var options = Settings
            .Where(s => cluster || !s.Key.StartsWith("cluster.", StringComparison.Ordinal))
            .Select(s => (s.Key, Option: new Option<string?>("--" + OptionName(s.Key))
            {
                Description = s.Help,
                HelpName = ValueName(s.Key),
                Hidden = !s.Scope.HasFlag(scope),
                // A switch (--overwrite, --dp-adaptive) given alone means true.
                Arity = IsSwitch(s.Key) ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
            }))
            .ToArray();
        foreach (var (_, option) in options)
        {
            command.Options.Add(option);
        }
        command.SetAction(async (parse, cancel) =>
        {
            var overrides = options
                .Select(o => (o.Key, Value: parse.GetResult(o.Option) is null ? null : parse.GetValue(o.Option) ?? "true"))
                .Where(o => o.Value is not null)
                .ToDictionary(o => o.Key, o => o.Value!);
            return await Guard(() =>
            {
                var kit = cluster ? StartupKit.Choose(parse.GetValue(kitOption), parse.GetValue(insecure), Console.Error) : null;
                var loaded = ConfigLoader.Load(SettingsFile(parse, parse.GetValue(config)), overrides, cluster, kit?.Config);
                return run(parse, parse.GetValue(verbose) ? Verbose.WithFallback(loaded) : loaded, kit, cancel);
            });
        });
        return command;
    }

    /// <summary>
    /// The run's settings for a command that starts nodes itself (cluster-demo): every server or client setting but
    /// the cluster's own and those in <paramref name="own"/> (which the command sets), added to
    /// <paramref name="command"/> as options. Returns what a node of <paramref name="command"/> is given: the
    /// options on its command line that a node of that scope reads, as arguments.
    /// </summary>
    internal static Func<ParseResult, Scope, IEnumerable<string>> AddNodeSettings(Command command, IReadOnlySet<string> own)
    {
        var options = Settings
            .Where(s => (s.Scope & Scope.Nodes) != 0 && !own.Contains(s.Key) && !s.Key.StartsWith("cluster.", StringComparison.Ordinal))
            .Select(s => (Setting: s, Option: new Option<string?>("--" + s.Key)
            {
                Description = s.Help,
                HelpName = ValueName(s.Key),
                Arity = IsSwitch(s.Key) ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
            }))
            .ToArray();
        foreach (var (_, option) in options)
        {
            command.Options.Add(option);
        }
        return (parse, scope) => options
            .Where(o => o.Setting.Scope.HasFlag(scope) && parse.GetResult(o.Option) is not null)
            .SelectMany(o => new[] { "--" + o.Setting.Key, parse.GetValue(o.Option) ?? "true" })
            .ToArray();
    }

    /// <summary>A setting whose value is true or false: its option may be given alone.</summary>
    private static bool IsSwitch(string key) => ConfigLoader.KnownKeys.TryGetValue(key, out var value) && value is "true" or "false";

    /// <summary>The settings file: <c>--config</c>, or with <c>--resume DIR</c> the interrupted run's own DIR/settings.conf.</summary>
    private static string? SettingsFile(ParseResult parse, string? config)
    {
        if (parse.CommandResult.Command.Name != "simulate" || parse.GetValue(Resume) is not { } folder)
        {
            return config;
        }
        if (config is not null)
        {
            throw new SettingsException("resume", $"takes the run's settings from {Path.Combine(folder, RunFolder.SettingsFile)}: leave out --config");
        }
        string recorded = Path.Combine(folder, RunFolder.SettingsFile);
        return File.Exists(recorded) ? recorded
            : throw new SettingsException("resume", $"{folder} has no {RunFolder.SettingsFile}: it is not the output folder of an AkkaFed run");
    }

    private static string OptionName(string key) => key.StartsWith("cluster.", StringComparison.Ordinal) ? key["cluster.".Length..] : key;

    /// <summary>The defaults of a command's settings: hocon/simulation.conf, under hocon/cluster.conf for a node.</summary>
    private static Config DefaultsFor(bool cluster) => cluster
        ? FederationSettings.Embedded("cluster.conf").WithFallback(FederationSettings.Defaults())
        : FederationSettings.Defaults();

    private static string ValueName(string key)
    {
        string value = ConfigLoader.KnownKeys.TryGetValue(key, out var v) ? v : "";
        return value is "true" or "false" ? "true|false"
            : ConfigLoader.IsDuration(value) ? "DURATION"
            : ConfigLoader.IsBareNumber(value) ? "NUMBER"
            : key.EndsWith("-dir", StringComparison.Ordinal) || key == "output" ? "DIR"
            : key is "device-trace" or "initial-model" ? "FILE"
            : "VALUE";
    }

    /// <summary>
    /// The help of simulate, server and client: the options a command reads, by group, each with its default; any other
    /// command's help is System.CommandLine's.
    /// </summary>
    private sealed class GroupedHelp(CommandLineAction standard) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parse)
        {
            var command = parse.CommandResult.Command;
            if (command.Name is not ("simulate" or "server" or "client"))
            {
                return standard is SynchronousCommandLineAction synchronous ? synchronous.Invoke(parse) : 0;
            }
            var output = parse.InvocationConfiguration.Output;
            output.Write(Describe(command));
            return Success;
        }
    }

    /// <summary>The grouped help text of <paramref name="command"/> (simulate, server or client).</summary>
    internal static string Describe(Command command)
    {
        bool cluster = command.Name != "simulate";
        var defaults = DefaultsFor(cluster).GetConfig("akkafed");
        var keys = Settings.ToDictionary(s => "--" + OptionName(s.Key), s => s);
        var rows = command.Options
            .Where(o => !o.Hidden)
            .Select(o =>
            {
                string label = o.Name + (o.HelpName is { } name ? $" <{name}>" : "");
                string group = keys.TryGetValue(o.Name, out var setting) ? setting.Group
                    : OtherGroups.TryGetValue(o.Name, out var other) ? other : General;
                string text = o.Description ?? "";
                if (setting is not null && defaults.GetString(setting.Key, null) is { Length: > 0 } value)
                {
                    text += $" (default: {value})";
                }
                return (Group: group, Label: label, Text: text);
            })
            .ToArray();
        int width = Math.Max(24, rows.Max(r => r.Label.Length) + 4);
        int total = Console.IsOutputRedirected ? 120 : Math.Clamp(Console.WindowWidth, 80, 160);
        var text = new StringBuilder();
        text.AppendLine("Description:").AppendLine(Wrap(command.Description ?? "", 2, total)).AppendLine();
        text.AppendLine("Usage:").AppendLine($"  akkafed {command.Name} [options]").AppendLine();
        text.AppendLine("Each option sets the key of the same name in the akkafed { } block of a --config file (see hocon/simulation.conf);");
        text.AppendLine("the command line wins over a kit's node.conf, which wins over --config, which wins over the defaults shown.");
        if (cluster)
        {
            text.AppendLine($"Only the options a {command.Name} node reads are listed; the others are accepted and ignored, so one command line");
            text.AppendLine("can serve every node.");
        }
        text.AppendLine(ExitCodes);
        foreach (var group in GroupOrder)
        {
            var inGroup = rows.Where(r => r.Group == group).ToArray();
            if (inGroup.Length == 0)
            {
                continue;
            }
            text.AppendLine().AppendLine($"{group}:");
            foreach (var (_, label, description) in inGroup)
            {
                string wrapped = Wrap(description, width, total);
                text.Append("  ").Append(label.PadRight(width - 2)).AppendLine(wrapped[width..]);
            }
        }
        return text.ToString();
    }

    /// <summary><paramref name="text"/> in lines of at most <paramref name="total"/> characters, each indented by <paramref name="indent"/>.</summary>
    private static string Wrap(string text, int indent, int total)
    {
        var lines = new StringBuilder();
        var line = new StringBuilder(new string(' ', indent));
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > indent && line.Length + 1 + word.Length > total)
            {
                lines.AppendLine(line.ToString());
                line.Clear().Append(' ', indent);
            }
            line.Append(line.Length > indent ? " " : "").Append(word);
        }
        lines.Append(line);
        return lines.ToString();
    }

    /// <summary>Runs <paramref name="run"/>, turning the errors a user can cause into one line on stderr and an exit code.</summary>
    public static async Task<int> Guard(Func<Task<int>> run)
    {
        try
        {
            return await run();
        }
        catch (SettingsException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Usage;
        }
        catch (ArgumentException e)
        {
            // A value that passed the settings' checks but not a component's: still the user's input.
            Console.Error.WriteLine($"error: {Message(e)}");
            return Usage;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return Interrupted;
        }
        catch (Exception e) when (e is InvalidDataException or AkkaFed.Host.Data.DatasetUnavailableException or IOException or UnauthorizedAccessException
                                      or FederationException)
        {
            Console.Error.WriteLine($"error: {Message(e)}");
            return Failed;
        }
    }

    /// <summary>An exception's message without the .NET parameter name and value that ArgumentException appends.</summary>
    public static string Message(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentOutOfRangeException)
        {
            message = Regex.Replace(message, @"\s*Actual value was [^\r\n]*", "");
        }
        if (e is ArgumentException { ParamName: { } parameter })
        {
            message = message.Replace($" (Parameter '{parameter}')", "", StringComparison.Ordinal);
        }
        return message.Trim();
    }
}
