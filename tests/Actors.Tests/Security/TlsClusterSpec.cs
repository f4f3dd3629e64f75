using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using Xunit;

namespace AkkaFed.Actors.Tests.Security;

/// <summary>Nodes in this process on mutual TLS: provisioned ones join and learn each other's identities; others cannot.</summary>
[Trait("Category", "Security")]
public sealed class TlsClusterSpec : IDisposable
{
    private static readonly X509Pair Deployment = X509Pair.Create();
    private readonly List<ActorSystem> _systems = new();

    private ActorSystem Node(string role, NodeCredentials? credentials)
    {
        var config = ConfigurationFactory.ParseString($$"""
                akka.loglevel = WARNING
                akka.actor.provider = cluster
                akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
                akka.cluster.roles = [{{role}}]
                """)
            .WithFallback(FederationSerialization.Config);
        var system = ActorSystem.Create("akkafed", SecureCluster.Setup(config, credentials));
        _systems.Add(system);
        SecureCluster.StartGuard(system);
        return system;
    }

    [Fact]
    public void Provisioned_nodes_join_over_tls_and_learn_each_others_identity()
    {
        var server = Node("server", Deployment.Credentials(new NodeIdentity("server-0", NodeRole.Server, [])));
        var client = Node("client", Deployment.Credentials(new NodeIdentity("site-a", NodeRole.Client, ["client-00000", "site-a-*"])));
        var seed = Cluster.Get(server).SelfAddress;
        Assert.Equal("akka.ssl.tcp", seed.Protocol);
        Cluster.Get(server).Join(seed);
        Cluster.Get(client).Join(seed);

        // TestKit's wait, over the server's own system: real sockets, so no virtual time applies.
        var kit = new Akka.TestKit.Xunit2.TestKit(server);
        kit.AwaitCondition(() => Cluster.Get(server).State.Members.Count(m => m.Status == MemberStatus.Up) == 2, TimeSpan.FromSeconds(60), "both members up");
        kit.AwaitCondition(() => NodeIdentities.Get(server).Of(Cluster.Get(client).SelfAddress) is not null &&
                             NodeIdentities.Get(client).Of(seed) is not null, TimeSpan.FromSeconds(30), "identities proved");
        var seen = NodeIdentities.Get(server).Of(Cluster.Get(client).SelfAddress)!;
        Assert.Equal(NodeRole.Client, seen.Role);
        Assert.True(seen.MayHost("site-a-0003"));
        Assert.False(seen.MayHost("client-00001"));
        Assert.Equal(NodeRole.Server, NodeIdentities.Get(client).Of(seed)!.Role);
    }

    [Fact]
    public void A_node_with_a_certificate_of_another_ca_cannot_join()
    {
        var server = Node("server", Deployment.Credentials(new NodeIdentity("server-0", NodeRole.Server, [])));
        var stranger = Node("client", X509Pair.Create().Credentials(new NodeIdentity("site-a", NodeRole.Client, ["*"])));
        var refused = new ManualResetEventSlim();
        var watcher = server.ActorOf(Props.Create(() => new RefusalWatcher(refused)));
        server.EventStream.Subscribe(watcher, typeof(Akka.Event.Warning));
        var seed = Cluster.Get(server).SelfAddress;
        Cluster.Get(server).Join(seed);
        Cluster.Get(stranger).Join(seed);

        // The server refuses the stranger's certificate in the handshake, so the stranger never has a connection to join by.
        Assert.True(refused.Wait(TimeSpan.FromSeconds(60)), "the server never refused the stranger's certificate");
        Assert.Single(Cluster.Get(server).State.Members);
        Assert.DoesNotContain(Cluster.Get(stranger).State.Members, m => m.Address.Equals(seed));
    }

    /// <summary>Sets <c>refused</c> when its node logs that it refused a TLS peer.</summary>
    private sealed class RefusalWatcher : ReceiveActor
    {
        public RefusalWatcher(ManualResetEventSlim refused) =>
            Receive<Akka.Event.Warning>(warning =>
            {
                if ($"{warning.Message}".StartsWith("refused TLS peer", StringComparison.Ordinal))
                {
                    refused.Set();
                }
            });
    }

    public void Dispose()
    {
        foreach (var system in _systems)
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(20));
        }
    }
}

/// <summary>A test deployment: a CA, and credentials it issues.</summary>
public sealed record X509Pair(System.Security.Cryptography.X509Certificates.X509Certificate2 Ca)
{
    public static X509Pair Create() => new(Pki.CreateCa("test CA", TimeSpan.FromDays(1)));

    public NodeCredentials Credentials(NodeIdentity identity) =>
        new(Pki.Issue(Ca, identity, TimeSpan.FromDays(1)), new TrustAnchor(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(Ca.RawData)));
}
