using AkkaFed.Model.Federation;

namespace AkkaFed.Host.Chaos;

/// <summary>What the cluster soak does to a node, or to the network in front of one.</summary>
public enum ChaosFault
{
    /// <summary><c>kill -9</c> of a client node; it is started again (same partition-index) a few rounds later.</summary>
    ClientCrash,

    /// <summary><c>kill -9</c> of the active server; the standby takes over, and the killed node comes back as the standby.</summary>
    ServerCrash,

    /// <summary><c>SIGSTOP</c> past the failure detector, then <c>SIGCONT</c>.</summary>
    Pause,

    /// <summary>A raw TCP connection to a node's port that sends what Akka never would.</summary>
    Malformed,
}

/// <summary>What a <see cref="ChaosFault.Malformed"/> connection sends (Akka.Remote frames are a 4-byte little-endian length, then the payload).</summary>
public enum MalformedKind
{
    /// <summary>4 KiB of random bytes, length prefix included.</summary>
    Garbage,

    /// <summary>A frame header announcing 64 MiB (Akka's limit here is 128,000 bytes), then 1 MiB of it.</summary>
    OversizedFrame,

    /// <summary>A frame of a plausible length whose payload is random: it passes the framing and fails the protocol.</summary>
    GarbageFrame,

    /// <summary>Half a frame, then the connection held open and silent for a while before it closes.</summary>
    TruncatedFrame,

    /// <summary>32 connections at once, each with a garbage frame.</summary>
    Flood,
}

/// <summary>Which node a fault is aimed at: a client node by index, or a server by the role it has when the fault is injected.</summary>
public enum ChaosTargetRole
{
    Client,
    ActiveServer,
    StandbyServer,
}

public readonly record struct ChaosTarget(ChaosTargetRole Role, int Index = 0)
{
    public static readonly ChaosTarget Active = new(ChaosTargetRole.ActiveServer);
    public static readonly ChaosTarget Standby = new(ChaosTargetRole.StandbyServer);

    public static ChaosTarget Client(int index) => new(ChaosTargetRole.Client, index);

    public override string ToString() => Role switch
    {
        ChaosTargetRole.Client => $"client-{Index}",
        ChaosTargetRole.ActiveServer => "the active server",
        _ => "the standby server",
    };
}

/// <summary>
/// One scheduled fault: injected while round <paramref name="Round"/> is in flight (as soon as round - 1 has completed).
/// <paramref name="RestartAfter"/> is how many rounds later a crashed client node is started again.
/// </summary>
public sealed record ChaosEvent(int Round, ChaosFault Fault, ChaosTarget Target, int RestartAfter = 0, MalformedKind Malformed = default)
{
    public override string ToString() => Fault switch
    {
        ChaosFault.ClientCrash => $"round {Round}: kill -9 {Target}, restart {RestartAfter} rounds later",
        ChaosFault.ServerCrash => $"round {Round}: kill -9 the active server, restart it as the standby",
        ChaosFault.Pause => $"round {Round}: pause {Target} for {ChaosSchedule.PauseLength.TotalSeconds:F0} s",
        _ => $"round {Round}: {Malformed} connection to {Target}",
    };
}

/// <summary>
/// How a client node behaves, from its start: honest, slow (some replies come late but within the deadline), vanishing
/// (some replies come after the deadline, some never), or Byzantine (one of its clients corrupts every update).
/// </summary>
public sealed record ClientPersonality(string Name, double StragglerFraction = 0, TimeSpan StragglerDelay = default,
    double DropoutFraction = 0, AttackKind Attack = AttackKind.None, double AttackScale = 1)
{
    public bool IsFaulty => StragglerFraction > 0 || DropoutFraction > 0 || Attack != AttackKind.None;
}

/// <summary>
/// The soak's faults, a pure function of the seed and the round count (and the topology), so that a run can be
/// repeated: which fault, in which round, against which node. The soak injects each as soon as it can; when a
/// fault cannot be injected yet (the node it needs is still down), it waits and says so in its log.
/// </summary>
public static class ChaosSchedule
{
    /// <summary>How long a paused node stays stopped: past the failure detector (1 s heartbeats, 4 s acceptable pause),
    /// short of the split-brain resolver's 7 s of stable unreachability after it.</summary>
    public static readonly TimeSpan PauseLength = TimeSpan.FromSeconds(8);

    /// <summary>The last rounds of a run get no new fault, so every node restarted is back before the run ends.</summary>
    public static int Tail(int rounds, bool quick) => quick ? Math.Max(4, rounds * 3 / 10) : Math.Clamp(rounds / 50, 6, 20);

    /// <summary>Rounds between server kills in the full run.</summary>
    public const int ServerKillPeriod = 100;

    /// <summary>Per round without a client fault in progress: the chance that one starts (full run).</summary>
    public const double ClientFaultRate = 0.08;

    /// <summary>Per round: the chance of a malformed connection (full run).</summary>
    public const double MalformedRate = 0.02;

    /// <summary>Client node 0 is never killed or paused: it is the node whose memory is followed through the whole run.</summary>
    public const int ControlNode = 0;

    /// <summary>The kinds a Byzantine node's incarnations cycle through: every kind, then a spell of honesty.</summary>
    public static readonly AttackKind[] ByzantineCycle = { AttackKind.Nan, AttackKind.SignFlip, AttackKind.Scale, AttackKind.None };

    public static IReadOnlyList<ChaosEvent> Create(int rounds, int seed, int clientNodes, bool quick)
    {
        if (clientNodes < 3)
        {
            throw new Model.SettingsException("client-nodes", $"the chaos soak needs at least 3 client nodes (slow, vanishing, Byzantine), got {clientNodes}");
        }
        return quick ? Quick(rounds, clientNodes) : Full(rounds, seed, clientNodes);
    }

    /// <summary>
    /// Client node k's behaviour in its <paramref name="incarnation"/>-th life (0 at the start): node 0 is slow, node 1
    /// vanishing, the last node Byzantine (its kind moves along <see cref="ByzantineCycle"/> with each restart), any
    /// others honest.
    /// </summary>
    public static ClientPersonality Personality(int node, int incarnation, int clientNodes)
    {
        if (node == 0)
        {
            return new ClientPersonality("slow", StragglerFraction: 0.25, StragglerDelay: TimeSpan.FromSeconds(1));
        }
        if (node == 1)
        {
            return new ClientPersonality("vanishing", StragglerFraction: 0.05, StragglerDelay: TimeSpan.FromSeconds(5), DropoutFraction: 0.03);
        }
        if (node == clientNodes - 1)
        {
            var kind = ByzantineCycle[incarnation % ByzantineCycle.Length];
            string name = Attack.Names.First(pair => pair.Value == kind).Key;
            return new ClientPersonality(kind == AttackKind.None ? "honest (Byzantine node, resting)" : $"Byzantine {name}",
                Attack: kind, AttackScale: kind == AttackKind.Scale ? 10 : 1);
        }
        return new ClientPersonality("honest");
    }

    /// <summary>
    /// The quick run (about 20 rounds): every fault at least once, early enough that each node that goes down is back
    /// before the end. Rounds scale with the run's length.
    /// </summary>
    private static IReadOnlyList<ChaosEvent> Quick(int rounds, int clientNodes)
    {
        if (rounds < 12)
        {
            throw new Model.SettingsException("rounds", $"a quick chaos run needs at least 12 rounds to fit every fault, got {rounds}");
        }
        // Faults come at fixed rounds and the rest of the run is slack: a fault waits while two nodes are out, and
        // rounds can be a second each meanwhile (on a quiet machine the server kill waited until round 14 of 20).
        int At(int round) => Math.Max(2, (int)Math.Round(round * Math.Min(rounds, 20) / 20.0));
        int byzantine = clientNodes - 1;
        // The pause and the Byzantine node's first crash at once (two client nodes out of five nodes), its second crash
        // once it is back (nan, then sign-flip, then scale), the server's once at most one other node is out.
        return new[]
        {
            new ChaosEvent(At(2), ChaosFault.Pause, ChaosTarget.Client(1)),
            new ChaosEvent(At(2), ChaosFault.Malformed, ChaosTarget.Active, Malformed: MalformedKind.Garbage),
            new ChaosEvent(At(3), ChaosFault.ClientCrash, ChaosTarget.Client(byzantine), RestartAfter: 1),
            new ChaosEvent(At(3), ChaosFault.Malformed, ChaosTarget.Standby, Malformed: MalformedKind.OversizedFrame),
            new ChaosEvent(At(5), ChaosFault.Malformed, ChaosTarget.Client(0), Malformed: MalformedKind.GarbageFrame),
            new ChaosEvent(At(6), ChaosFault.ClientCrash, ChaosTarget.Client(byzantine), RestartAfter: 1),
            new ChaosEvent(At(7), ChaosFault.Malformed, ChaosTarget.Active, Malformed: MalformedKind.TruncatedFrame),
            new ChaosEvent(At(9), ChaosFault.ServerCrash, ChaosTarget.Active),
            new ChaosEvent(At(10), ChaosFault.Malformed, ChaosTarget.Active, Malformed: MalformedKind.Flood),
        }.OrderBy(e => e.Round).ThenBy(e => e.Fault).ToArray();
    }

    private static IReadOnlyList<ChaosEvent> Full(int rounds, int seed, int clientNodes)
    {
        int last = rounds - Tail(rounds, quick: false);
        double Draw(int round, string label) => StableSeed.Uniform(seed, round, $"chaos:{label}");
        var events = new List<ChaosEvent>();

        for (int j = 1; j * ServerKillPeriod <= last; j++)
        {
            int round = j * ServerKillPeriod + (int)(Draw(j, "server-kill") * 41) - 20;
            events.Add(new ChaosEvent(Math.Clamp(round, 10, last), ChaosFault.ServerCrash, ChaosTarget.Active));
        }

        // One client fault at a time, and a few quiet rounds after each, so that the cluster is whole before the next.
        int victims = clientNodes - 1;
        for (int round = 3, free = 3; round <= last; round++)
        {
            if (round < free || Draw(round, "client-fault") >= ClientFaultRate)
            {
                continue;
            }
            int node = 1 + (int)(Draw(round, "client-node") * victims);
            if (Draw(round, "client-fault-kind") < 0.7)
            {
                int restartAfter = 2 + (int)(Draw(round, "restart-after") * 3);
                events.Add(new ChaosEvent(round, ChaosFault.ClientCrash, ChaosTarget.Client(node), RestartAfter: restartAfter));
                free = round + restartAfter + 6;
            }
            else
            {
                double where = Draw(round, "pause-target");
                var target = where < 0.8 ? ChaosTarget.Client(node) : where < 0.9 ? ChaosTarget.Standby : ChaosTarget.Active;
                events.Add(new ChaosEvent(round, ChaosFault.Pause, target));
                free = round + 8;
            }
        }

        var kinds = Enum.GetValues<MalformedKind>();
        for (int round = 2; round <= last; round++)
        {
            if (Draw(round, "malformed") >= MalformedRate)
            {
                continue;
            }
            var kind = kinds[(int)(Draw(round, "malformed-kind") * kinds.Length)];
            double where = Draw(round, "malformed-target");
            var target = where < 0.4 ? ChaosTarget.Active
                : where < 0.6 ? ChaosTarget.Standby
                : ChaosTarget.Client((int)((where - 0.6) / 0.4 * clientNodes));
            events.Add(new ChaosEvent(round, ChaosFault.Malformed, target, Malformed: kind));
        }
        return events.OrderBy(e => e.Round).ThenBy(e => e.Fault).ToArray();
    }
}
