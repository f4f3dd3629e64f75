using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace AkkaFed.Actors.Security;

/// <summary>
/// On every node of a secure cluster, at <c>/user/identity</c>: proves this node's identity to every member (again
/// every <see cref="ResendEvery"/>, so a member that missed it hears it), and records what the others prove in
/// <see cref="NodeIdentities"/>. On a server node it also downs members that break the rules: one that claims the
/// server role without a server certificate, and one that proves no identity within <see cref="ProveWithin"/>.
/// </summary>
public sealed class IdentityGuard : ReceiveActor, IWithTimers
{
    public const string Name = "identity";

    public static readonly TimeSpan ResendEvery = TimeSpan.FromSeconds(5);

    /// <summary>Resend ticks a member may stay unproven before a server downs it.</summary>
    public static readonly TimeSpan ProveWithin = TimeSpan.FromSeconds(20);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeIdentities _identities = NodeIdentities.Get(Context.System);
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly Dictionary<Address, int> _unprovenTicks = new();
    private readonly IdentityProof _proof;

    public IdentityGuard()
    {
        var own = _identities.Own ?? throw new InvalidOperationException("an identity guard runs on a node with credentials");
        _proof = own.Prove(_cluster.SelfAddress);
        Receive<IdentityProof>(OnProof);
        Receive<ClusterEvent.IMemberEvent>(OnMember);
        Receive<Tick>(_ => OnTick());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props() => Akka.Actor.Props.Create(() => new IdentityGuard());

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private bool OnServerNode => _identities.Own!.Identity.Role == NodeRole.Server;

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("resend", Tick.Instance, ResendEvery);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnMember(ClusterEvent.IMemberEvent change)
    {
        var member = change.Member;
        if (member.Address.Equals(_cluster.SelfAddress))
        {
            return;
        }
        if (change is ClusterEvent.MemberRemoved)
        {
            // Identities are known by address: a node that came back on the same port keeps the one it proved.
            if (!_cluster.State.Members.Any(m => m.Address.Equals(member.Address) && !m.UniqueAddress.Equals(member.UniqueAddress)))
            {
                _identities.Forget(member.Address);
                _unprovenTicks.Remove(member.Address);
            }
            return;
        }
        ProveTo(member.Address);
        Enforce(member);
    }

    private void OnProof(IdentityProof proof)
    {
        var from = Sender.Path.Address;
        var (identity, refusal) = proof.Verify(from, _identities.Own!.Anchor);
        if (identity is null)
        {
            _log.Warning("refused the identity proof of {0}: {1}", from, refusal);
            if (OnServerNode)
            {
                DownMember(from, $"its identity proof is refused: {refusal}");
            }
            return;
        }
        if (_identities.Admit(from, identity))
        {
            _log.Info("{0} is {1}", from, identity);
            // It may not have heard this node yet.
            ProveTo(from);
        }
        _unprovenTicks.Remove(from);
        if (_cluster.State.Members.FirstOrDefault(m => m.Address.Equals(from)) is { } member)
        {
            Enforce(member);
        }
    }

    private void OnTick()
    {
        foreach (var member in _cluster.State.Members.Where(m => !m.Address.Equals(_cluster.SelfAddress)))
        {
            ProveTo(member.Address);
            if (_identities.Of(member.Address) is null && member.Status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up)
            {
                int ticks = _unprovenTicks.GetValueOrDefault(member.Address) + 1;
                _unprovenTicks[member.Address] = ticks;
                if (OnServerNode && ticks * ResendEvery >= ProveWithin)
                {
                    DownMember(member.Address, $"it proved no identity within {ProveWithin.TotalSeconds:F0}s");
                }
            }
        }
    }

    /// <summary>On a server node: a member whose roles claim more than its certificate allows is downed.</summary>
    private void Enforce(Member member)
    {
        if (OnServerNode && member.HasRole(ClusterFederation.ServerRole) && _identities.Of(member.Address) is { Role: not NodeRole.Server } identity)
        {
            DownMember(member.Address, $"it claims the server role, but its certificate makes it {identity}");
        }
    }

    private void DownMember(Address address, string why)
    {
        _log.Error("downing {0}: {1}", address, why);
        _unprovenTicks.Remove(address);
        _cluster.Down(address);
    }

    private void ProveTo(Address address) =>
        Context.ActorSelection(new RootActorPath(address) / "user" / Name).Tell(_proof, Self);
}
