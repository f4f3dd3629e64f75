using Akka.Actor;
using Akka.Cluster;
using AkkaFed.Actors;

namespace AkkaFed.Host;

/// <summary>Where a client node stands with the cluster's server nodes.</summary>
public enum ServerSight
{
    /// <summary>At least one server node is a member this node can reach.</summary>
    Reachable,

    /// <summary>Server nodes are members, but this node reaches none of them (they died with a cluster that is gone).</summary>
    Unreachable,

    /// <summary>No server node is a member.</summary>
    None,
}

/// <summary>The server nodes among a client node's cluster members, and which of them it cannot reach. Not thread-safe.</summary>
public sealed class ServerWatch
{
    private readonly HashSet<UniqueAddress> _members = new();
    private readonly HashSet<UniqueAddress> _unreachable = new();

    public ServerSight Sight => _members.Count == 0 ? ServerSight.None
        : _members.Any(m => !_unreachable.Contains(m)) ? ServerSight.Reachable : ServerSight.Unreachable;

    public void Up(UniqueAddress server) => _members.Add(server);

    public void Gone(UniqueAddress server)
    {
        _members.Remove(server);
        _unreachable.Remove(server);
    }

    public void Unreachable(UniqueAddress server) => _unreachable.Add(server);

    public void Reachable(UniqueAddress server) => _unreachable.Remove(server);
}

/// <summary>
/// On a client node: calls <c>onGone</c> with the time waited once the cluster has held no server node for
/// <c>grace</c> since the last one left, or, when none has come since this node (re)joined, for <c>firstGrace</c>.
/// Calls <c>onIsolated</c> once every server node it knows has been unreachable for <see cref="IsolatedAfter"/>:
/// a node that joined a server just before the whole cluster was downed is left with a dead member and nothing else,
/// and must join the living cluster again. The run's end reaches clients through the server and pub-sub; a client
/// node that missed it (partitioned, or the servers died) would otherwise wait forever. A standby server taking over
/// keeps a reachable server in the cluster, so a failover counts as neither.
/// </summary>
public sealed class ServerPresence : ReceiveActor, IWithTimers
{
    /// <summary>At start, servers may still be loading their data: the first one is given at least this long to appear.</summary>
    public static readonly TimeSpan FirstServerGrace = TimeSpan.FromMinutes(1);

    /// <summary>Longer than a pause the failure detector forgives and the resolver's stable-after together.</summary>
    public static readonly TimeSpan IsolatedAfter = TimeSpan.FromSeconds(20);

    private readonly ServerWatch _watch = new();
    private readonly TimeSpan _firstGrace;

    public ServerPresence(TimeSpan grace, TimeSpan firstGrace, Action<TimeSpan> onGone, Action onIsolated)
    {
        _firstGrace = firstGrace;
        Receive<ClusterEvent.MemberUp>(up => Track(up.Member, () => _watch.Up(up.Member.UniqueAddress)));
        Receive<ClusterEvent.UnreachableMember>(unreachable => Track(unreachable.Member, () => _watch.Unreachable(unreachable.Member.UniqueAddress)));
        Receive<ClusterEvent.ReachableMember>(reachable => Track(reachable.Member, () => _watch.Reachable(reachable.Member.UniqueAddress)));
        Receive<ClusterEvent.IMemberEvent>(member =>
        {
            if (member is ClusterEvent.MemberRemoved or ClusterEvent.MemberExited or ClusterEvent.MemberDowned)
            {
                Track(member.Member, () => _watch.Gone(member.Member.UniqueAddress), grace);
            }
        });
        Receive<Gone>(gone => onGone(gone.After));
        Receive<Isolated>(_ => onIsolated());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TimeSpan grace, TimeSpan firstGrace, Action<TimeSpan> onGone, Action onIsolated) =>
        Akka.Actor.Props.Create(() => new ServerPresence(grace, firstGrace, onGone, onIsolated));

    private sealed record Gone(TimeSpan After);

    private sealed record Isolated;

    /// <summary>Applies a server node's change, then sets the timers for what the node now sees.</summary>
    private void Track(Member member, Action change, TimeSpan? grace = null)
    {
        if (!member.HasRole(ClusterFederation.ServerRole))
        {
            return;
        }
        var before = _watch.Sight;
        change();
        var now = _watch.Sight;
        if (now != ServerSight.Unreachable)
        {
            Timers.Cancel("isolated");
        }
        if (now == ServerSight.Reachable)
        {
            Timers.Cancel("gone");
        }
        else if (now == ServerSight.Unreachable && before != ServerSight.Unreachable)
        {
            Timers.StartSingleTimer("isolated", new Isolated(), IsolatedAfter);
        }
        else if (now == ServerSight.None && before != ServerSight.None && grace is { } wait)
        {
            Timers.StartSingleTimer("gone", new Gone(wait), wait);
        }
    }

    protected override void PreStart()
    {
        Timers.StartSingleTimer("gone", new Gone(_firstGrace), _firstGrace);
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
    }

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
}
