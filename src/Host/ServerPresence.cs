using Akka.Actor;
using Akka.Cluster;
using AkkaFed.Actors;

namespace AkkaFed.Host;

/// <summary>
/// On a client node: calls <c>onGone</c> with the time waited once the cluster has held no server node for
/// <c>grace</c> since the last one left, or, when none has come since this node (re)joined, for <c>firstGrace</c>. The end of a run is announced on pub-sub; a client node that
/// missed it (partitioned, or the servers died) would otherwise wait forever. A standby server taking over keeps a
/// server in the cluster, so a failover does not count.
/// </summary>
public sealed class ServerPresence : ReceiveActor, IWithTimers
{
    /// <summary>At start, servers may still be loading their data: the first one is given at least this long to appear.</summary>
    public static readonly TimeSpan FirstServerGrace = TimeSpan.FromMinutes(1);

    private readonly TimeSpan _firstGrace;
    private readonly HashSet<Address> _servers = new();
    private readonly TimeSpan _grace;

    public ServerPresence(TimeSpan grace, TimeSpan firstGrace, Action<TimeSpan> onGone)
    {
        _grace = grace;
        _firstGrace = firstGrace;
        Receive<ClusterEvent.MemberUp>(up =>
        {
            if (up.Member.HasRole(ClusterFederation.ServerRole))
            {
                _servers.Add(up.Member.Address);
                Timers.Cancel("gone");
            }
        });
        Receive<ClusterEvent.IMemberEvent>(member =>
        {
            if (member is ClusterEvent.MemberRemoved or ClusterEvent.MemberExited or ClusterEvent.MemberDowned
                && _servers.Remove(member.Member.Address) && _servers.Count == 0)
            {
                Timers.StartSingleTimer("gone", new Gone(grace), grace);
            }
        });
        Receive<Gone>(gone => onGone(gone.After));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TimeSpan grace, TimeSpan firstGrace, Action<TimeSpan> onGone) =>
        Akka.Actor.Props.Create(() => new ServerPresence(grace, firstGrace, onGone));

    private sealed record Gone(TimeSpan After);

    protected override void PreStart()
    {
        Timers.StartSingleTimer("gone", new Gone(_firstGrace), _firstGrace);
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
    }

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
}
