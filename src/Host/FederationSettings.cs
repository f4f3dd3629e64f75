using System.Globalization;
using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;

namespace AkkaFed.Host;

/// <summary>A setting that is missing, malformed or contradicts another. The message names it.</summary>
public sealed class SettingsException(string message) : Exception(message);

/// <summary>
/// Everything <c>akkafed simulate</c> needs, read once from the <c>akkafed</c> HOCON section and checked:
/// a missing, malformed or contradictory value fails here, naming the setting, before anything runs.
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
        var read = new Reader(config.GetConfig("akkafed") ?? throw new SettingsException("no akkafed section in the configuration"));
        int seed = read.Int("seed", min: int.MinValue);
        int clients = read.Int("clients", min: 1);
        int minClients = read.Int("min-clients", min: 1);
        if (minClients > clients)
        {
            throw new SettingsException($"min-clients ({minClients}) is more than clients ({clients})");
        }
        double fraction = read.Double("client-fraction");
        if (!(fraction > 0 && fraction <= 1))
        {
            throw new SettingsException($"client-fraction must be in (0, 1], got {fraction}");
        }
        double straggle = read.Fraction("straggler-fraction");
        double drop = read.Fraction("dropout-fraction");
        if (straggle + drop > 1)
        {
            throw new SettingsException($"straggler-fraction + dropout-fraction is {straggle + drop}, more than 1");
        }
        var local = new LocalTrainingOptions(read.Int("epochs", min: 1), read.Int("batch-size", min: 1), read.Positive("client-lr"));
        var strategy = new StrategyOptions(
            read.Choice("strategy", StrategyOptions.Names.ToDictionary(name => name)),
            read.Double("server-momentum"), read.Double("server-beta1"), read.Double("server-beta2"), read.Double("server-tau"),
            read.Double("proximal-mu"),
            read.Choice("aggregator", StrategyOptions.Aggregators),
            read.Double("trimmed-fraction"), read.Int("krum-byzantine", min: 0), read.Int("krum-keep", min: 1),
            read.Double("norm-bound"),
            read.Double("evaluate-fraction"),
            Privacy: new PrivacyOptions(read.Double("dp-clip-norm"), read.Double("dp-noise-multiplier"), read.Double("dp-delta"),
                read.Bool("dp-adaptive"), read.Double("dp-target-quantile"), read.Double("dp-clip-learning-rate"),
                read.Double("dp-clipped-count-stddev")));
        var server = new ServerOptions(fraction, minClients, read.Duration("round-deadline", allowZero: false),
            read.Choice("client-weighting", WeightingNames), read.Positive("server-lr"), local, seed)
        {
            Strategy = strategy,
        };
        try
        {
            // The strategy's own checks name their setting (proximal-mu, trimmed-fraction, krum-byzantine, ...).
            server.Validate();
            server.CreateStrategy();
        }
        catch (ArgumentException e)
        {
            throw new SettingsException(e is ArgumentOutOfRangeException range && range.ParamName is { } name && !e.Message.Contains(name)
                ? $"{name}: {e.Message}"
                : e.Message.Split(" (Parameter")[0]);
        }
        var attack = new Attack(read.Choice("attack", Attack.Names), read.Fraction("attack-fraction"), read.Double("attack-scale"), seed);
        string dataset = read.String("dataset");
        string? dataDir = read.OptionalString("data-dir");
        if (dataset == "idx" && dataDir is null)
        {
            throw new SettingsException("dataset = idx needs data-dir");
        }
        int threads = read.Int("threads", min: 0);
        return new FederationSettings(
            dataset,
            dataDir,
            read.OptionalString("cache-dir"),
            read.Choice("partition", PartitionNames),
            clients,
            read.Int("samples-per-client", min: 0),
            read.Positive("dirichlet-alpha"),
            read.Choice("model", Architectures.Names),
            read.Int("rounds", min: 1),
            read.Int("max-failed-rounds", min: 1),
            server,
            new SimulatedFaults(straggle, read.Duration("straggler-delay", allowZero: true), drop, seed),
            threads == 0 ? Environment.ProcessorCount : threads,
            read.String("output"))
        {
            Attack = attack,
        };
    }

    /// <summary>Typed reads that fail with the setting's name and the offending value.</summary>
    private sealed class Reader(Config config)
    {
        public string String(string key)
        {
            var value = OptionalString(key);
            return value ?? throw new SettingsException($"{key} is missing or empty");
        }

        public string? OptionalString(string key)
        {
            var value = config.GetString(key, null);
            return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        }

        public int Int(string key, int min)
        {
            var text = String(key);
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                throw new SettingsException($"{key} must be a whole number, got '{text}'");
            }
            if (value < min)
            {
                throw new SettingsException($"{key} must be at least {min}, got {value}");
            }
            return value;
        }

        public double Double(string key)
        {
            var text = String(key);
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                throw new SettingsException($"{key} must be a number, got '{text}'");
            }
            return value;
        }

        public double Positive(string key)
        {
            var value = Double(key);
            return value > 0 ? value : throw new SettingsException($"{key} must be positive, got {value}");
        }

        public double Fraction(string key)
        {
            var value = Double(key);
            return value is >= 0 and <= 1 ? value : throw new SettingsException($"{key} must be in [0, 1], got {value}");
        }

        public TimeSpan Duration(string key, bool allowZero)
        {
            var text = String(key);
            if (text.StartsWith('-'))
            {
                throw new SettingsException($"{key} must be {(allowZero ? "zero or more" : "positive")}, got '{text}'");
            }
            TimeSpan value;
            try
            {
                value = config.GetTimeSpan(key);
            }
            catch (Exception e) when (e is FormatException or ConfigurationException or OverflowException)
            {
                throw new SettingsException($"{key} must be a duration such as 30s or 500ms, got '{text}'");
            }
            if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero))
            {
                throw new SettingsException($"{key} must be {(allowZero ? "zero or more" : "positive")}, got '{text}'");
            }
            return value;
        }

        public bool Bool(string key) => String(key).ToLowerInvariant() switch
        {
            "true" or "on" or "yes" => true,
            "false" or "off" or "no" => false,
            var text => throw new SettingsException($"{key} must be true or false, got '{text}'"),
        };

        public T Choice<T>(string key, IReadOnlyDictionary<string, T> choices)
        {
            var text = String(key);
            return choices.TryGetValue(text, out var value)
                ? value
                : throw new SettingsException($"{key} must be one of {string.Join(", ", choices.Keys)}, got '{text}'");
        }
    }
}
