using System.Globalization;
using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Model;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;

namespace AkkaFed.Host;

/// <summary>
/// Everything <c>akkafed simulate</c> needs, read once from the <c>akkafed</c> HOCON section and checked:
/// a missing, malformed or contradictory value fails here with a <see cref="SettingsException"/> naming the setting,
/// before anything runs. <see cref="Create"/> parses (a value of the wrong type fails there) and then calls
/// <see cref="Validate"/> once, which checks the values through each options record's own Validate.
/// </summary>
public sealed record FederationSettings(
    string Dataset,
    string? DataDir,
    string? CacheDir,
    PartitionKind Partition,
    int Clients,
    int SamplesPerClient,
    double DirichletAlpha,
    ModelKind Model,
    int Rounds,
    int MaxFailedRounds,
    ServerOptions Server,
    SimulatedFaults Faults,
    int Threads,
    string Output)
{
    /// <summary>Misbehaving clients, for experiments with robust aggregation.</summary>
    public Attack Attack { get; init; } = Attack.None;

    /// <summary>True (the default): deadlines, quorums and availability are judged on the simulated clock; false: on the wall clock.</summary>
    public bool SimulatedClock { get; init; } = true;

    /// <summary>The simulated devices: <see cref="DeviceTrace"/> when set, else these synthetic ones.</summary>
    public SyntheticDevices Devices { get; init; } = new();

    /// <summary>A device trace file (docs/device-traces.md); null for the synthetic devices.</summary>
    public string? DeviceTrace { get; init; }

    /// <summary>A state dict file (model.pt, model.safetensors, or one PyTorch saved) whose weights start round 1; null for the seed's.</summary>
    public string? InitialModel { get; init; }

    public static readonly IReadOnlyDictionary<string, bool> ClockNames = new Dictionary<string, bool>
    {
        ["simulated"] = true,
        ["wall"] = false,
    };

    /// <summary>The server's options, with the simulated clock when it is on (read from the trace file, if any, here).</summary>
    public ServerOptions ServerOnItsClock() => SimulatedClock
        ? Server with
        {
            Clock = AkkaFed.Model.Simulation.SimulatedClock.For(Model,
                DeviceTrace is null ? DeviceProfiles.Synthetic(Devices) : DeviceProfiles.FromTrace(DeviceTrace), Faults),
        }
        : Server;

    public static readonly IReadOnlyDictionary<string, PartitionKind> PartitionNames = new Dictionary<string, PartitionKind>
    {
        ["contiguous"] = PartitionKind.Contiguous,
        ["iid"] = PartitionKind.Iid,
        ["pathological"] = PartitionKind.Pathological,
        ["dirichlet"] = PartitionKind.Dirichlet,
        ["windows"] = PartitionKind.Windows,
    };

    public static readonly IReadOnlyDictionary<string, ClientWeighting> WeightingNames = new Dictionary<string, ClientWeighting>
    {
        ["num_examples"] = ClientWeighting.NumExamples,
        ["uniform"] = ClientWeighting.Uniform,
    };

    /// <summary>The dataset these settings name, from its data folder or cache.</summary>
    public DatasetSplit LoadData(Action<string> log) =>
        Data.DatasetCatalog.Load(Dataset, DataDir, CacheDir ?? Data.DatasetCatalog.DefaultCacheDir(), Server.Seed, log);

    /// <summary>The dataset's training set split among <see cref="Clients"/> clients as configured.</summary>
    public Shards Partitions(DatasetSplit data) =>
        Partitioner.Shards(Partition, data.Train.Labels, Clients, SamplesPerClient, Server.Seed, DirichletAlpha);

    /// <summary>The defaults: hocon/simulation.conf, embedded in the program.</summary>
    public static Config Defaults() => Embedded("simulation.conf");

    /// <summary>One of the hocon/ files embedded in the program.</summary>
    public static Config Embedded(string name)
    {
        using var stream = typeof(FederationSettings).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is not embedded");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    public static FederationSettings Create(Config config)
    {
        var read = new Reader(config.GetConfig("akkafed") ?? throw new SettingsException("akkafed", "the configuration has no such section"));
        int seed = read.Int("seed");
        var local = new LocalTrainingOptions(read.Int("epochs"), read.Int("batch-size"), read.Double("client-lr"));
        var strategy = new StrategyOptions(
            read.Choice("strategy", StrategyOptions.Names.ToDictionary(name => name)),
            read.Double("server-momentum"), read.Double("server-beta1"), read.Double("server-beta2"), read.Double("server-tau"),
            read.Double("proximal-mu"),
            read.Choice("aggregator", StrategyOptions.Aggregators),
            read.Double("trimmed-fraction"), read.Int("krum-byzantine"), read.Int("krum-keep"),
            read.Double("norm-bound"),
            read.Double("evaluate-fraction"),
            Privacy: new PrivacyOptions(read.Double("dp-clip-norm"), read.Double("dp-noise-multiplier"), read.Double("dp-delta"),
                read.Bool("dp-adaptive"), read.Double("dp-target-quantile"), read.Double("dp-clip-learning-rate"),
                read.Double("dp-clipped-count-stddev")))
        {
            Overcommit = read.Double("overcommit"),
            FedBuff = new FedBuffOptions(read.Int("concurrency"), read.Int("buffer-size"), read.Int("max-staleness"), read.Double("staleness-exponent")),
        };
        var (uplink, downlink) = Compression(read);
        var server = new ServerOptions(read.Double("client-fraction"), read.Int("min-clients"), read.Duration("round-deadline"),
            read.Choice("client-weighting", WeightingNames), read.Double("server-lr"), local, seed)
        {
            Strategy = strategy,
            Uplink = uplink,
            Downlink = downlink,
        };
        int threads = read.Int("threads");
        return new FederationSettings(
            read.String("dataset"),
            read.OptionalString("data-dir"),
            read.OptionalString("cache-dir"),
            read.Choice("partition", PartitionNames),
            read.Int("clients"),
            read.Int("samples-per-client"),
            read.Double("dirichlet-alpha"),
            read.Choice("model", Architectures.Names),
            read.Int("rounds"),
            read.Int("max-failed-rounds"),
            server,
            new SimulatedFaults(read.Double("straggler-fraction"), read.Duration("straggler-delay"), read.Double("dropout-fraction"), seed),
            threads == 0 ? Environment.ProcessorCount : threads,
            read.String("output"))
        {
            Attack = new Attack(read.Choice("attack", Attack.Names), read.Double("attack-fraction"), read.Double("attack-scale"), seed),
            SimulatedClock = read.Choice("clock", ClockNames),
            Devices = new SyntheticDevices(read.Double("device-gflops"), read.Double("device-mbps"), read.Double("device-spread"),
                read.Double("slow-fraction"), read.Double("slow-factor"), read.Double("online-fraction"),
                read.Duration("availability-period").TotalSeconds, seed),
            DeviceTrace = read.OptionalString("device-trace"),
            InitialModel = read.OptionalString("initial-model"),
        }.Validate();
    }

    /// <summary>
    /// Each direction's compression: <c>compression</c> for both, unless <c>compression-uplink</c> or
    /// <c>compression-downlink</c> names another. Top-k sparsifies updates only, so <c>compression = topk</c> sends
    /// the model down as it is; asked for by name on the downlink, it is refused (<see cref="ServerOptions.Validate"/>).
    /// </summary>
    private static (CompressionOptions Uplink, CompressionOptions Downlink) Compression(Reader read)
    {
        var both = read.Choice("compression", CompressionOptions.Names);
        var up = read.OptionalString("compression-uplink") is null ? both : read.Choice("compression-uplink", CompressionOptions.Names);
        var down = read.OptionalString("compression-downlink") is null
            ? both == Codec.TopK ? Codec.None : both
            : read.Choice("compression-downlink", CompressionOptions.Names);
        int blockSize = read.Int("compression-block-size");
        double topK = read.Double("compression-topk");
        bool errorFeedback = read.Bool("compression-error-feedback");
        return (new CompressionOptions(up, blockSize, topK, errorFeedback), new CompressionOptions(down, blockSize, topK, errorFeedback));
    }

    /// <summary>
    /// Throws a <see cref="SettingsException"/> naming the first setting that is out of range or contradicts another:
    /// this record's own, then the server's (with the clients' training and the strategy), the faults and the attack.
    /// </summary>
    public FederationSettings Validate()
    {
        if (!Data.DatasetCatalog.Names.Contains(Dataset))
            throw new SettingsException("dataset", $"must be one of {string.Join(", ", Data.DatasetCatalog.Names)}, got '{Dataset}'");
        if (DataDir is not null && !Directory.Exists(DataDir))
            throw new SettingsException("data-dir", $"{DataDir} does not exist or is not a folder");
        if (Dataset == "idx" && DataDir is null)
            throw new SettingsException("data-dir", "must name the folder of IDX files when dataset = idx");
        if (Clients < 1)
            throw new SettingsException("clients", $"must be at least 1, got {Clients}");
        if (SamplesPerClient < 0)
            throw new SettingsException("samples-per-client", $"must be zero or more, got {SamplesPerClient}");
        if (!(DirichletAlpha > 0) || double.IsInfinity(DirichletAlpha))
            throw new SettingsException("dirichlet-alpha", $"must be positive and finite, got {DirichletAlpha}");
        if (Rounds < 1)
            throw new SettingsException("rounds", $"must be at least 1, got {Rounds}");
        if (MaxFailedRounds < 1)
            throw new SettingsException("max-failed-rounds", $"must be at least 1, got {MaxFailedRounds}");
        if (Threads < 1)
            throw new SettingsException("threads", $"must be at least 1, or 0 for one per core, got {Threads}");
        if (Server.MinClients > Clients)
            throw new SettingsException("min-clients", $"must be at most clients ({Clients}), got {Server.MinClients}");
        if (Server.Strategy.IsBuffered && Server.Strategy.FedBuff.Concurrency > Clients)
            throw new SettingsException("concurrency", $"must be at most clients ({Clients}), got {Server.Strategy.FedBuff.Concurrency}");
        if (SimulatedClock && DeviceTrace is not null && !File.Exists(DeviceTrace))
            throw new SettingsException("device-trace", $"{DeviceTrace} does not exist");
        ServerOnItsClock().Validate();
        Faults.Validate();
        Attack.Validate();
        Devices.Validate();
        NoSettingWithoutItsEffect();
        if (!SimulatedClock && DeviceTrace is not null)
            throw new SettingsException("device-trace", "only the simulated clock uses device profiles: set clock = simulated, or leave device-trace empty");
        if (InitialModel is not null && !File.Exists(InitialModel))
            throw new SettingsException("initial-model", $"no such file: {InitialModel}");
        return this;
    }

    /// <summary>
    /// Refuses a setting the user gave a value that does something, where the rest of the settings make it do nothing:
    /// the user expects an effect that would silently not happen. Settings whose default already is a value that does
    /// something (the betas, trimmed-fraction, the fedbuff settings) cannot be told from a user's and are left alone.
    /// </summary>
    private void NoSettingWithoutItsEffect()
    {
        var strategy = Server.Strategy;
        if (strategy.ServerMomentum != 0 && strategy.Name != "fedavgm")
            throw new SettingsException("server-momentum",
                $"only fedavgm uses it: set strategy = fedavgm (--strategy fedavgm), or server-momentum = 0 (strategy is {strategy.Name})");
        bool krum = strategy.Aggregator is AggregatorKind.Krum or AggregatorKind.MultiKrum;
        if (strategy.KrumByzantine != 0 && !krum)
            throw new SettingsException("krum-byzantine",
                $"only the krum and multi-krum aggregators use it: set aggregator = krum or multi-krum (--aggregator krum), or krum-byzantine = 0 " +
                $"(aggregator is {StrategyOptions.Aggregators.First(pair => pair.Value == strategy.Aggregator).Key})");
        if (strategy.KrumKeep != 1 && strategy.Aggregator != AggregatorKind.MultiKrum)
            throw new SettingsException("krum-keep",
                $"only multi-krum averages the krum-keep best updates: set aggregator = multi-krum (--aggregator multi-krum), or krum-keep = 1");
        if (Attack.Kind != AttackKind.None && Attack.Fraction == 0)
            throw new SettingsException("attack-fraction",
                $"is 0, so attack = {Attack.Names.First(pair => pair.Value == Attack.Kind).Key} makes no client misbehave: set the share of clients that do (e.g. --attack-fraction 0.2)");
        if (Attack.Kind == AttackKind.None && Attack.Fraction > 0)
            throw new SettingsException("attack",
                $"is none, so attack-fraction = {Attack.Fraction} makes no client misbehave: name the attack ({string.Join(", ", Attack.Names.Keys.Where(k => k != "none"))})");
    }

    /// <summary>
    /// Typed reads: a value that is missing or is not of the setting's type (a number, a duration, one of a set of
    /// names) fails here with the setting's name and the text found. Ranges are <see cref="Validate"/>'s.
    /// </summary>
    private sealed class Reader(Config config)
    {
        public string String(string key) =>
            OptionalString(key) ?? throw new SettingsException(key, "is missing or empty");

        public string? OptionalString(string key)
        {
            var value = config.GetString(key, null);
            return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        }

        public int Int(string key)
        {
            var text = String(key);
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new SettingsException(key, $"must be a whole number, got '{text}'");
        }

        public double Double(string key)
        {
            var text = String(key);
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new SettingsException(key, $"must be a number, got '{text}'");
        }

        /// <summary>A duration such as 30s or 500ms; a negative one (which HOCON cannot write) is read as such, for Validate to refuse.</summary>
        public TimeSpan Duration(string key)
        {
            var text = String(key);
            if (ConfigLoader.IsBareNumber(text))
                throw new SettingsException(key, $"must carry a unit, e.g. 2s or 500ms, got '{text}'");
            bool negative = text.StartsWith('-');
            try
            {
                var value = negative
                    ? ConfigurationFactory.ParseString($"d = \"{text[1..].Trim()}\"").GetTimeSpan("d")
                    : config.GetTimeSpan(key);
                return negative ? -value : value;
            }
            catch (Exception e) when (e is FormatException or ConfigurationException or OverflowException)
            {
                throw new SettingsException(key, $"must be a duration such as 30s or 500ms, got '{text}'");
            }
        }

        public bool Bool(string key) => String(key).ToLowerInvariant() switch
        {
            "true" or "on" or "yes" => true,
            "false" or "off" or "no" => false,
            var text => throw new SettingsException(key, $"must be true or false, got '{text}'"),
        };

        public T Choice<T>(string key, IReadOnlyDictionary<string, T> choices)
        {
            var text = String(key);
            return choices.TryGetValue(text, out var value)
                ? value
                : throw new SettingsException(key, $"must be one of {string.Join(", ", choices.Keys)}, got '{text}'");
        }
    }
}
