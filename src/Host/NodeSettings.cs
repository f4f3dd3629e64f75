using Akka.Configuration;
using AkkaFed.Actors;

namespace AkkaFed.Host;

/// <summary>Where a cluster node lives and what it holds: the <c>akkafed.cluster</c> section of hocon/cluster.conf.</summary>
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
    public static NodeSettings Create(Config config)
    {
        var section = config.GetConfig("akkafed.cluster") ?? throw new SettingsException("no akkafed.cluster section in the configuration");
        string host = Text(section, "host") ?? throw new SettingsException("cluster.host is missing");
        int port = Int(section, "port", 0, 65535);
        var seeds = (Text(section, "seed-nodes") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var seed in seeds)
        {
            if (!seed.StartsWith("akka.tcp://akkafed@", StringComparison.Ordinal))
            {
                throw new SettingsException($"cluster.seed-nodes: '{seed}' is not an address like akka.tcp://akkafed@host:port");
            }
        }
        int count = Int(section, "partition-count", 1, int.MaxValue);
        int index = Int(section, "partition-index", 0, int.MaxValue);
        if (index >= count)
        {
            throw new SettingsException($"cluster.partition-index ({index}) must be below cluster.partition-count ({count})");
        }
        return new NodeSettings(host, port, seeds, Text(section, "checkpoint-dir") ?? "checkpoints",
            Int(section, "wait-for-clients", 0, int.MaxValue), index, count,
            Text(section, "node-name") ?? $"{host}-{port}");
    }

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

    private static int Int(Config section, string key, int min, int max)
    {
        var text = Text(section, key) ?? throw new SettingsException($"cluster.{key} is missing");
        return int.TryParse(text, out int value) && value >= min && value <= max
            ? value
            : throw new SettingsException($"cluster.{key} must be a whole number from {min} to {max}, got '{text}'");
    }
}
