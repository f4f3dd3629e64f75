using Akka.Actor;
using Akka.Cluster;
using AkkaFed.Actors;

namespace AkkaFed.Host;

/// <summary>
/// On a client node: calls <c>onGone</c> once the cluster has held no server node for <c>grace</c>, after having
/// held one. The end of a run is announced on pub-sub; a client node that missed it (partitioned, or the servers
/// died) would otherwise wait forever. A standby server taking over keeps a server in the cluster, so a failover
/// does not count.
/// </summary>
public sealed class ServerPresence : ReceiveActor, IWithTimers
{
    private readonly HashSet<Address> _servers = new();
    private bool _seenOne;

    public ServerPresence(TimeSpan grace, Action onGone)
    {
        Receive<ClusterEvent.MemberUp>(up =>
        {
            if (up.Member.HasRole(ClusterFederation.ServerRole))
            {
                _servers.Add(up.Member.Address);
                _seenOne = true;
                Timers.Cancel("gone");
            }
        });
        Receive<ClusterEvent.IMemberEvent>(member =>
        {
            if (member is ClusterEvent.MemberRemoved or ClusterEvent.MemberExited or ClusterEvent.MemberDowned
                && _servers.Remove(member.Member.Address) && _servers.Count == 0 && _seenOne)
            {
                Timers.StartSingleTimer("gone", Gone.Instance, grace);
            }
        });
        Receive<Gone>(_ => onGone());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TimeSpan grace, Action onGone) => Akka.Actor.Props.Create(() => new ServerPresence(grace, onGone));

    private sealed record Gone
    {
        public static readonly Gone Instance = new();
    }

    protected override void PreStart() =>
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
}
