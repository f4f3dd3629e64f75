using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Model;

namespace AkkaFed.Host;

/// <summary>
/// Where a cluster node lives and what it holds: the <c>akkafed.cluster</c> section of hocon/cluster.conf.
/// <see cref="Create"/> parses it and calls <see cref="Validate"/>; either fails with a <see cref="SettingsException"/>
/// naming the setting as <c>cluster.&lt;key&gt;</c>.
/// </summary>
public sealed record NodeSettings(
    string Host,
    int Port,
    IReadOnlyList<string> SeedNodes,
    string CheckpointDir,
    int WaitForClients,
    int PartitionIndex,
    int PartitionCount,
    string NodeName)
{
    private const string Prefix = "cluster.";

    /// <summary>
    /// Client nodes: how long the cluster may hold no server node before this node stops waiting for the end of the
    /// run (whose announcement it may have missed) and exits with an error.
    /// </summary>
    public TimeSpan ServerGrace { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Whether this node runs mutual TLS (a startup kit), so that its seed nodes are <c>akka.ssl.tcp://</c> addresses,
    /// or plain TCP (<c>--insecure</c>), with <c>akka.tcp://</c> ones.
    /// </summary>
    public bool Tls { get; init; }

    /// <summary>The address scheme of this node's cluster: <c>akka.ssl.tcp</c> with TLS, else <c>akka.tcp</c>.</summary>
    public string Scheme => Tls ? TlsScheme : PlainScheme;

    public const string TlsScheme = "akka.ssl.tcp";
    public const string PlainScheme = "akka.tcp";

    /// <param name="tls">The node runs mutual TLS (<see cref="Tls"/>).</param>
    public static NodeSettings Create(Config config, bool tls = false)
    {
        var section = config.GetConfig("akkafed.cluster")
            ?? throw new SettingsException("akkafed.cluster", "the configuration has no such section");
        string host = Text(section, "host") ?? throw new SettingsException(Prefix + "host", "is missing or empty");
        int port = Int(section, "port");
        var seeds = (Text(section, "seed-nodes") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new NodeSettings(host, port, seeds, Text(section, "checkpoint-dir") ?? "checkpoints",
            Int(section, "wait-for-clients"), Int(section, "partition-index"), Int(section, "partition-count"),
            Text(section, "node-name") ?? $"{host}-{port}")
        {
            ServerGrace = Duration(section, "server-grace"),
            Tls = tls,
        }.Validate();
    }

    /// <summary>Throws a <see cref="SettingsException"/> naming the first setting that is out of range or contradicts another.</summary>
    public NodeSettings Validate()
    {
        if (Port is < 0 or > 65535)
            throw new SettingsException(Prefix + "port", $"must be from 0 to 65535, got {Port}");
        foreach (var seed in SeedNodes)
        {
            string other = Tls ? PlainScheme : TlsScheme;
            if (seed.StartsWith($"{other}://", StringComparison.Ordinal))
                throw new SettingsException(Prefix + "seed-nodes", Tls
                    ? $"'{seed}' uses {other}://, but this node runs TLS: use {Scheme}://akkafed@host:port (or start every node with --insecure)"
                    : $"'{seed}' uses {other}://, but this node runs plain TCP (--insecure): use {Scheme}://akkafed@host:port (or start every node with its --kit)");
            if (!seed.StartsWith($"{Scheme}://akkafed@", StringComparison.Ordinal))
                throw new SettingsException(Prefix + "seed-nodes", $"'{seed}' is not an address like {Scheme}://akkafed@host:port");
        }
        if (ServerGrace <= TimeSpan.Zero)
            throw new SettingsException(Prefix + "server-grace", $"must be positive, got {ServerGrace.TotalSeconds}s");
        if (WaitForClients < 0)
            throw new SettingsException(Prefix + "wait-for-clients", $"must be zero or more, got {WaitForClients}");
        if (PartitionCount < 1)
            throw new SettingsException(Prefix + "partition-count", $"must be at least 1, got {PartitionCount}");
        if (PartitionIndex < 0 || PartitionIndex >= PartitionCount)
            throw new SettingsException(Prefix + "partition-index",
                $"must be from 0 to cluster.partition-count - 1 ({PartitionCount - 1}), got {PartitionIndex}");
        return this;
    }

    /// <summary>
    /// These settings, for a node about to start: one with no seed nodes would wait for a cluster to join forever,
    /// so it is refused with what to set.
    /// </summary>
    public NodeSettings Joinable() => SeedNodes.Count > 0
        ? this
        : throw new SettingsException("cluster.seed-nodes",
            "is empty, so this node would wait forever for a cluster to join: list the server nodes (--seed-nodes " +
            $"{Scheme}://akkafed@host:port,...), the first of them the first server to start");

    /// <summary>The Akka settings of this node: its address, seed nodes, role, serializer and training dispatcher.</summary>
    public Config AkkaConfig(string role, int trainingThreads)
    {
        string seeds = string.Join(", ", SeedNodes.Select(seed => $"\"{seed}\""));
        return ConfigurationFactory.ParseString($$"""
                akka.remote.dot-netty.tcp.hostname = "{{Host}}"
                akka.remote.dot-netty.tcp.port = {{Port}}
                akka.cluster.seed-nodes = [{{seeds}}]
                akka.cluster.roles = ["{{role}}"]
                """)
            .WithFallback(Actors.Serialization.FederationSerialization.Config)
            .WithFallback(AkkaFedConfig.Dispatcher(trainingThreads));
    }

    private static string? Text(Config section, string key)
    {
        var value = section.GetString(key, null);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    private static int Int(Config section, string key)
    {
        var text = Text(section, key) ?? throw new SettingsException(Prefix + key, "is missing or empty");
        return int.TryParse(text, out int value)
            ? value
            : throw new SettingsException(Prefix + key, $"must be a whole number, got '{text}'");
    }

    private static TimeSpan Duration(Config section, string key)
    {
        var text = Text(section, key) ?? throw new SettingsException(Prefix + key, "is missing or empty");
        if (ConfigLoader.IsBareNumber(text))
            throw new SettingsException(Prefix + key, $"must carry a unit, e.g. 2s or 500ms, got '{text}'");
        try
        {
            return section.GetTimeSpan(key);
        }
        catch (Exception e) when (e is FormatException or ConfigurationException or OverflowException)
        {
            throw new SettingsException(Prefix + key, $"must be a duration such as 60s, got '{text}'");
        }
    }
}
