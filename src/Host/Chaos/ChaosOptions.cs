namespace AkkaFed.Host.Chaos;

/// <summary>How <c>akkafed chaos</c> runs: the command line, checked.</summary>
/// <param name="ClientNodes">Cluster: client processes (at least 3: one slow, one vanishing, one Byzantine).</param>
/// <param name="ClientsPerNode">Cluster: clients each client process hosts. In process: the number of clients.</param>
public sealed record ChaosOptions(int Rounds, int Seed, string Output, bool Quick, int ClientNodes, int ClientsPerNode)
{
    /// <summary>Every round's deadline: short, so that stragglers, dead nodes and pauses cost seconds, not minutes.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Least updates a round needs: low enough that a round survives a dead or paused node and a Byzantine one.</summary>
    public int MinClients { get; init; } = 2;

    /// <summary>Cluster: a HOCON file every node reads (<c>--config</c>), to soak a deployment's own settings; null for the defaults.</summary>
    public string? NodeConfig { get; init; }

    public int Clients => ClientNodes * ClientsPerNode;

    public ChaosOptions Validate()
    {
        if (Rounds < 1)
            throw new Model.SettingsException("rounds", $"must be at least 1, got {Rounds}");
        if (ClientNodes < 3)
            throw new Model.SettingsException("client-nodes", $"the chaos soak needs at least 3 client nodes (slow, vanishing, Byzantine), got {ClientNodes}");
        if (ClientsPerNode < 2)
            throw new Model.SettingsException("clients-per-node", $"must be at least 2 (a Byzantine node keeps honest clients beside its attacker), got {ClientsPerNode}");
        if (NodeConfig is not null && !File.Exists(NodeConfig))
            throw new Model.SettingsException("node-config", $"{NodeConfig} does not exist");
        return this;
    }
}
