using AkkaFed.Actors.Protocol;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// Rounds across a real Akka.Cluster of three ActorSystems in this process (one server node, two client
/// nodes) talking over TCP on 127.0.0.1: the same actors as the simulation, found through the singleton proxy.
/// </summary>
public sealed class ClusterSpec : TestKit
{
    private static Config Node(string role) => ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            akka.cluster.roles = [{{role}}]
            akka.cluster.downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            akka.cluster.split-brain-resolver.active-strategy = keep-majority
            akka.cluster.singleton-proxy.singleton-identification-interval = 200ms
            """)
        .WithFallback(FederationSerialization.Config)
        .WithFallback(AkkaFedConfig.Dispatcher(1));

    private readonly List<ActorSystem> _clientNodes = new();
    private readonly List<IDisposable> _resources = new();

    public ClusterSpec() : base(Node(ClusterFederation.ServerRole), "akkafed")
    {
    }

    private void StartClientNode(DatasetSplit data, int[][] partitions, IEnumerable<int> mine)
    {
        var node = ActorSystem.Create("akkafed", Node(ClusterFederation.ClientRole));
        _clientNodes.Add(node);
        Cluster.Get(node).Join(Cluster.Get(Sys).SelfAddress);
        var train = new TensorData(data.Train);
        var trainers = new TrainerPool(ModelKind.Cnn, torchThreads: 1);
        _resources.Add(train);
        _resources.Add(trainers);
        var proxy = ClusterFederation.ServerProxy(node);
        foreach (int k in mine)
        {
            node.ActorOf(ClientActor.Props(FederatedProcess.ClientId(k), partitions[k], train, trainers, proxy), $"client-{k}");
        }
    }

    [Fact]
    public void Rounds_run_end_to_end_with_clients_on_other_nodes_and_weights_moving_in_chunks()
    {
        var data = SyntheticData.Create(200, 100, seed: 1);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, 4, 50, seed: 1);
        var server = new ServerOptions(1.0, 4, TimeSpan.FromMinutes(5), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.05), Seed: 1);
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(RunEvents.RoundReport));
        Sys.EventStream.Subscribe(events, typeof(RunEvents.Ended));
        Cluster.Get(Sys).Join(Cluster.Get(Sys).SelfAddress);
        using var test = new TensorData(data.Test);

        ClusterFederation.StartServer(Sys, new RunOptions(server, ModelKind.Cnn, Rounds: 2, MaxFailedRounds: 1, WaitForClients: 4, null), test);
        StartClientNode(data, partitions, new[] { 0, 2 });
        StartClientNode(data, partitions, new[] { 1, 3 });

        var first = events.ExpectMsg<RunEvents.RoundReport>(TimeSpan.FromMinutes(5)).Metrics;
        var second = events.ExpectMsg<RunEvents.RoundReport>(TimeSpan.FromMinutes(5)).Metrics;
        var ended = events.ExpectMsg<RunEvents.Ended>(TimeSpan.FromSeconds(60));

        Assert.All(new[] { first, second }, m =>
        {
            Assert.True(m.Succeeded, m.FailureReason);
            Assert.Equal(4, m.Participants);
        });
        Assert.Null(ended.Failure);
        Assert.True(second.Test!.Accuracy > 0.5, $"test accuracy {second.Test.Accuracy}");
        // The CNN's 54,410 floats went to 4 remote clients and came back from each: 8 models' worth.
        long modelBytes = 54_410L * 4;
        Assert.InRange(second.BytesSent + second.BytesReceived, 8 * modelBytes, (long)(8 * modelBytes * 1.05));
    }

    [Fact]
    public void Updates_from_a_node_that_is_not_a_registered_client_never_change_the_global_model()
    {
        var data = SyntheticData.Create(200, 100, seed: 2);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, 2, 50, seed: 2);
        var server = new ServerOptions(1.0, 2, TimeSpan.FromMinutes(5), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.05), Seed: 2);
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events, typeof(RunEvents.RoundReport));
        Cluster.Get(Sys).Join(Cluster.Get(Sys).SelfAddress);
        using var test = new TensorData(data.Test);
        ClusterFederation.StartServer(Sys, new RunOptions(server, ModelKind.Cnn, Rounds: 3, MaxFailedRounds: 1, WaitForClients: 2, null), test);

        // A rogue node joins and, once it has found the server, floods it with a registered client's id, for every round.
        var rogue = ActorSystem.Create("akkafed", Node(ClusterFederation.ClientRole));
        _clientNodes.Add(rogue);
        Cluster.Get(rogue).Join(Cluster.Get(Sys).SelfAddress);
        var target = $"{Cluster.Get(Sys).SelfAddress}/user/{ClusterFederation.SingletonName}/singleton/{FederationDriver.ServerName}";
        var found = CreateTestProbe();
        rogue.ActorOf(Props.Create(() => new Rogue(target, found.Ref)), "rogue");
        found.ExpectMsg("found", TimeSpan.FromMinutes(2));
        StartClientNode(data, partitions, new[] { 0, 1 });

        var rounds = Enumerable.Range(0, 3).Select(_ => events.ExpectMsg<RunEvents.RoundReport>(TimeSpan.FromMinutes(5)).Metrics).ToArray();

        Assert.All(rounds, m => Assert.Equal(2, m.Participants));
        Assert.True(rounds.Sum(m => m.Rejected + m.Late) > 0, "the rogue's updates never reached the server");
        Assert.All(rounds, m => Assert.True(m.Test!.Loss < 10, $"round {m.Round}: test loss {m.Test.Loss}"));
    }

    /// <summary>Sends huge updates in a registered client's name, as if it were that client.</summary>
    private sealed class Rogue : ReceiveActor, IWithTimers
    {
        public Rogue(string serverPath, IActorRef found)
        {
            var transfer = FederationTransport.Get(Context.System);
            var poison = Enumerable.Repeat(1e6f, 54_410).ToArray();
            IActorRef? server = null;
            Receive<ActorIdentity>(identity =>
            {
                if (identity.Subject is not null && server is null)
                {
                    server = identity.Subject;
                    found.Tell("found");
                }
            });
            Receive<string>(_ =>
            {
                if (server is null)
                {
                    Context.ActorSelection(serverPath).Tell(new Identify(null));
                    return;
                }
                for (int round = 1; round <= 3; round++)
                {
                    transfer.Tell(server, new Protocol.Training.FitResult(round, FederatedProcess.ClientId(0), poison, 50, 0, 1), Self);
                }
            });
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart() => Timers.StartPeriodicTimer("flood", "tick", TimeSpan.FromMilliseconds(20));
    }

    protected override void AfterAll()
    {
        foreach (var node in _clientNodes)
        {
            node.Terminate().Wait(TimeSpan.FromSeconds(20));
        }
        base.AfterAll();
        _resources.ForEach(resource => resource.Dispose());
    }
}
