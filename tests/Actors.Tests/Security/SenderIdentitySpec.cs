using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Security;

/// <summary>
/// The protocol's checks of who sent a message, on nodes with identities: a server node (this spec's system) and two
/// client nodes, site-a and site-b, over plain remoting on 127.0.0.1. Each node is told the others' identities
/// directly, as its <see cref="IdentityGuard"/> would once their proofs arrived, so the checks are tested without a
/// cluster or TLS (<see cref="TlsClusterSpec"/> covers those).
/// </summary>
[Trait("Category", "Security")]
public sealed class SenderIdentitySpec : TestKit
{
    private static readonly X509Pair Deployment = X509Pair.Create();
    private static readonly NodeIdentity ServerIdentity = new("server-0", NodeRole.Server, []);
    private static readonly NodeIdentity SiteA = new("site-a", NodeRole.Client, ["site-a-*"]);
    private static readonly NodeIdentity SiteB = new("site-b", NodeRole.Client, ["site-b-*"]);
    private static readonly float[] Global = { 1f, 2f, 3f };

    private readonly ActorSystem _siteA;
    private readonly ActorSystem _siteB;

    public SenderIdentitySpec() : base(Node(ServerIdentity), "akkafed")
    {
        _siteA = ActorSystem.Create("akkafed", Node(SiteA));
        _siteB = ActorSystem.Create("akkafed", Node(SiteB));
        var nodes = new[] { (Sys, ServerIdentity), (_siteA, SiteA), (_siteB, SiteB) };
        foreach (var (node, identity) in nodes)
        {
            foreach (var (other, _) in nodes.Where(n => n.Item1 != node))
            {
                NodeIdentities.Get(other).Admit(AddressOf(node), identity);
            }
        }
    }

    private static ActorSystemSetup Node(NodeIdentity identity, string extra = "") =>
        BootstrapSetup.Create()
            .WithConfig(ConfigurationFactory.ParseString($$"""
                    akka.loglevel = WARNING
                    akka.actor.provider = remote
                    akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
                    {{extra}}
                    """)
                .WithFallback(FederationSerialization.Config)
                .WithFallback(AkkaFedConfig.Dispatcher(1)))
            .And(new NodeCredentialsSetup(Deployment.Credentials(identity)));

    private static Address AddressOf(ActorSystem system) => ((ExtendedActorSystem)system).Provider.DefaultAddress;

    /// <summary><paramref name="actor"/> as <paramref name="node"/> reaches it over the network.</summary>
    private static IActorRef Remote(ActorSystem node, IActorRef actor, ActorSystem home) =>
        ((ExtendedActorSystem)node).Provider.ResolveActorRef(actor.Path.ToStringWithAddress(AddressOf(home)));

    private IActorRef StartServer(int minClients = 1) => Sys.ActorOf(ServerActor.Props(
        new ServerOptions(1.0, minClients, TimeSpan.FromMinutes(5), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7)));

    private (TestProbe Probe, IActorRef Server) ClientOn(ActorSystem node, IActorRef server, string name) =>
        (CreateTestProbe(node, name), Remote(node, server, Sys));

    private void AssertRegistered(IActorRef server, int count)
    {
        server.Tell(new AwaitClients(count));
        ExpectMsg<ClientsAvailable>(c => c.Count == count, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void A_node_cannot_take_over_an_id_its_certificate_does_not_give_it_and_the_owner_keeps_training()
    {
        var server = StartServer();
        var (hijacker, serverFromB) = ClientOn(_siteB, server, "hijacker");
        var (owner, serverFromA) = ClientOn(_siteA, server, "owner");

        hijacker.Send(serverFromB, new RegisterClient("site-a-1", 100));
        owner.Send(serverFromA, new RegisterClient("site-a-1", 100));
        owner.ExpectMsg<ClientRegistered>(TimeSpan.FromSeconds(30));
        hijacker.Send(serverFromB, new RegisterClient("site-a-1", 100));
        AssertRegistered(server, 1);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = owner.ExpectMsg<FitRequest>(TimeSpan.FromSeconds(30));
        owner.Reply(new FitResult(request.Round, "site-a-1", new[] { 1f, 1f, 1f }, 100, 1.0, 0.5));
        Assert.True(ExpectMsg<RoundCompleted>(TimeSpan.FromSeconds(30)).Metrics.Succeeded);
        hijacker.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_client_restarted_on_its_own_node_gets_its_id_back()
    {
        var server = StartServer();
        var (before, serverFromA) = ClientOn(_siteA, server, "before");
        before.Send(serverFromA, new RegisterClient("site-a-1", 100));
        before.ExpectMsg<ClientRegistered>(TimeSpan.FromSeconds(30));

        var after = CreateTestProbe(_siteA, "after");
        after.Send(serverFromA, new RegisterClient("site-a-1", 100));
        after.ExpectMsg<ClientRegistered>(TimeSpan.FromSeconds(30));

        server.Tell(new RunRound(new FederatedState(1, Global)));
        after.ExpectMsg<FitRequest>(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void An_actor_on_the_server_node_hosts_no_client_and_an_unproven_node_is_ignored_until_its_proof_arrives()
    {
        var server = StartServer();
        var local = CreateTestProbe("local");
        local.Send(server, new RegisterClient("site-a-1", 100));

        using var late = ActorSystem.Create("akkafed", Node(SiteA));
        var unproven = CreateTestProbe(late, "unproven");
        var serverFromLate = Remote(late, server, Sys);
        unproven.Send(serverFromLate, new RegisterClient("site-a-2", 100));
        server.Tell(new AwaitClients(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        NodeIdentities.Get(Sys).Admit(AddressOf(late), SiteA);
        // The client's next retry.
        unproven.Send(serverFromLate, new RegisterClient("site-a-2", 100));
        unproven.ExpectMsg<ClientRegistered>(TimeSpan.FromSeconds(30));
        ExpectMsg<ClientsAvailable>(c => c.Count == 1, TimeSpan.FromSeconds(30));
        local.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void The_end_of_the_run_sent_to_the_server_by_a_client_node_reaches_no_client()
    {
        var server = StartServer();
        var (client, serverFromA) = ClientOn(_siteA, server, "client");
        client.Send(serverFromA, new RegisterClient("site-a-1", 100));
        client.ExpectMsg<ClientRegistered>(TimeSpan.FromSeconds(30));

        var forger = CreateTestProbe(_siteB, "forger");
        forger.Send(Remote(_siteB, server, Sys), new RunEvents.Ended(1, "forged"));
        server.Tell(new RunEvents.Ended(9, null));

        Assert.Equal(9, client.ExpectMsg<RunEvents.Ended>(TimeSpan.FromSeconds(30)).LastRound);
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_client_takes_its_acknowledgement_and_its_requests_only_from_a_server_node()
    {
        using var data = new TensorData(AkkaFed.Actors.Tests.TinyData.Create(20));
        using var trainers = new TrainerPool(ModelKind.TwoNN, torchThreads: 1);
        var server = CreateTestProbe("server");
        var client = _siteA.ActorOf(ClientActor.Props("site-a-1", Enumerable.Range(0, 20).ToArray(), data, trainers,
            Remote(_siteA, server.Ref, Sys)), "site-a-1");
        var clientFromServer = Remote(Sys, client, _siteA);
        var clientFromB = Remote(_siteB, client, _siteA);
        server.ExpectMsg<RegisterClient>(TimeSpan.FromSeconds(30));

        // A forged acknowledgement from another client node, and one from this node itself: neither stops the retries.
        CreateTestProbe(_siteB, "forger").Send(clientFromB, new ClientRegistered("site-a-1"));
        CreateTestProbe(_siteA, "neighbour").Send(client, new ClientRegistered("site-a-1"));
        server.ExpectMsg<RegisterClient>(TimeSpan.FromSeconds(30));

        server.Send(clientFromServer, new ClientRegistered("site-a-1"));
        var stranger = CreateTestProbe(_siteB, "stranger");
        // A model is larger than a frame: requests travel in chunks, as the server sends them.
        FederationTransport.Get(_siteB).Tell(clientFromB, Request(1), stranger.Ref);
        FederationTransport.Get(Sys).Tell(clientFromServer, Request(2), server.Ref);

        var result = (FitResult)server.FishForMessage(m => m is FitResult, TimeSpan.FromSeconds(60));
        Assert.Equal(2, result.Round);
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    private static FitRequest Request(int round) =>
        new(round, InitialWeights.Create(ModelKind.TwoNN, seed: 3), new LocalTrainingOptions(BatchSize: 10), Seed: 1);

    [Fact]
    public void The_run_events_of_the_cluster_reach_a_subscriber_only_from_a_server_node()
    {
        var subscriber = CreateTestProbe(_siteA, "subscriber");
        var gate = _siteA.ActorOf(ClusterFederation.RunEventGate.Props(subscriber.Ref), "gate");

        CreateTestProbe(_siteB, "forger").Send(Remote(_siteB, gate, _siteA), new RunEvents.Ended(1, "forged"));
        CreateTestProbe(_siteA, "neighbour").Send(gate, new RunEvents.Ended(2, "forged"));
        CreateTestProbe("server").Send(Remote(Sys, gate, _siteA), new RunEvents.Ended(3, null));

        Assert.Equal(3, subscriber.ExpectMsg<RunEvents.Ended>(TimeSpan.FromSeconds(30)).LastRound);
        subscriber.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void The_server_refuses_to_start_on_a_client_node()
    {
        var options = new RunOptions(
            new ServerOptions(1.0, 1, TimeSpan.FromSeconds(5), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7),
            ModelKind.TwoNN, Rounds: 1, MaxFailedRounds: 1, WaitForClients: 1, CheckpointDirectory: null);

        var e = Assert.Throws<InvalidOperationException>(() => ClusterFederation.StartServer(_siteA, options, null));
        Assert.Contains("site-a", e.Message);
    }

    protected override void AfterAll()
    {
        _siteA.Terminate().Wait(TimeSpan.FromSeconds(20));
        _siteB.Terminate().Wait(TimeSpan.FromSeconds(20));
        base.AfterAll();
    }
}
