using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Actor.Setup;

namespace AkkaFed.Actors.Security;

/// <summary>Gives an actor system its node's credentials at creation (<see cref="SecureCluster.Setup"/>).</summary>
public sealed class NodeCredentialsSetup : Setup
{
    public NodeCredentialsSetup(NodeCredentials credentials)
    {
        Credentials = credentials;
    }

    public NodeCredentials Credentials { get; }
}

/// <summary>
/// Who is who on this node's cluster: this node's own credentials, and the identities its peers proved
/// (<see cref="IdentityProof"/>, checked by <see cref="IdentityGuard"/>), keyed by their addresses. Without
/// credentials (a simulation, or a cluster started with <c>--insecure</c>) every sender passes these checks, and the
/// protocol's own checks (owners, bounds) are all that holds. Thread-safe.
/// </summary>
public sealed class NodeIdentities : IExtension
{
    private readonly ConcurrentDictionary<Address, NodeIdentity> _peers = new();

    public NodeIdentities(ExtendedActorSystem system)
    {
        var setup = system.Settings.Setup.Get<NodeCredentialsSetup>();
        Own = setup.HasValue ? setup.Value.Credentials : null;
    }

    public static NodeIdentities Get(ActorSystem system) => system.WithExtension<NodeIdentities, NodeIdentitiesProvider>();

    /// <summary>This node's credentials; null when the node runs without TLS.</summary>
    public NodeCredentials? Own { get; }

    public bool Secure => Own is not null;

    /// <summary>The identity of the node at <paramref name="address"/>: this node's own for a local address, null while unproven.</summary>
    public NodeIdentity? Of(Address address) =>
        address.HasLocalScope ? Own?.Identity : _peers.TryGetValue(address, out var identity) ? identity : null;

    /// <summary>Whether <paramref name="actor"/> lives on a node whose certificate makes it a server (always, when not secure).</summary>
    public bool IsServer(IActorRef actor) => !Secure || Of(actor.Path.Address)?.Role == NodeRole.Server;

    /// <summary>Whether <paramref name="actor"/> lives on a node whose certificate lets it host <paramref name="clientId"/> (always, when not secure).</summary>
    public bool MayHost(IActorRef actor, string clientId) => !Secure || Of(actor.Path.Address)?.MayHost(clientId) == true;

    /// <summary>Records what a peer proved; true when it is new or changed.</summary>
    internal bool Admit(Address address, NodeIdentity identity)
    {
        bool changed = !_peers.TryGetValue(address, out var before) || before != identity;
        _peers[address] = identity;
        return changed;
    }

    internal void Forget(Address address) => _peers.TryRemove(address, out _);
}

public sealed class NodeIdentitiesProvider : ExtensionIdProvider<NodeIdentities>
{
    public override NodeIdentities CreateExtension(ExtendedActorSystem system) => new(system);
}
