using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using AkkaFed.Tests;

namespace AkkaFed.Actors.Tests.Security;

/// <summary>
/// A federation in this process on mutual TLS, as a deployment runs it: a server node, a client node hosting
/// <see cref="HonestClients"/> clients, and whatever other nodes a test adds (an attacker holding a certificate of the
/// same CA, or a stranger). <see cref="Run"/> trains <see cref="Rounds"/> rounds and returns the final model, which
/// is the same for the same seed whatever the order of arrival, so an attack that changed anything shows.
/// </summary>
internal sealed class SecureFederation : IDisposable
{
    public const int HonestClients = 4;
    public const int Rounds = 2;

    /// <summary>
    /// A hang guard only: every test's rounds close when their selected clients answer, in well under a second of
    /// training each. An attack that made a round wait for its deadline shows in that round's metrics.
    /// </summary>
    public static readonly TimeSpan RoundDeadline = TimeSpan.FromSeconds(60);

    public static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(4);

    private static readonly DatasetSplit Data = SyntheticData.Create(200, 100, seed: 3);
    private static readonly int[][] Partitions = Partitioner.Split(PartitionKind.Iid, Data.Train.Labels, HonestClients, 50, seed: 3);

    private readonly List<ActorSystem> _systems = new();
    private readonly List<IDisposable> _resources = new();
    private readonly TempDirectory _checkpoints = new();

    public SecureFederation(X509Pair? deployment = null)
    {
        Deployment = deployment ?? X509Pair.Create();
    }

    public X509Pair Deployment { get; }

    public static string HonestId(int k) => FederatedProcess.ClientId(k);

    /// <summary>The honest client node's identity: exactly its four client ids.</summary>
    public static NodeIdentity HonestNode { get; } = new("site-a", NodeRole.Client, Enumerable.Range(0, HonestClients).Select(HonestId).ToArray());

    /// <summary>An attacker with a certificate of the deployment's CA: a client node whose clients are <c>mallory-*</c>.</summary>
    public static NodeIdentity Mallory { get; } = new("mallory", NodeRole.Client, ["mallory-*"]);

    public ActorSystem? Server { get; private set; }

    public ActorSystem? Clients { get; private set; }

    public Address Seed => Cluster.Get(Server!).SelfAddress;

    /// <summary>The path of the server actor on the server node (inside the singleton).</summary>
    public string ServerPath => $"{Seed}/user/{ClusterFederation.SingletonName}/singleton/{FederationDriver.ServerName}";

    public string ClientPath(int k) => $"{Cluster.Get(Clients!).SelfAddress}/user/client-{k}";

    public static Config NodeConfig(string role, bool federationSerializer = true)
    {
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            akka.cluster.roles = [{{role}}]
            akka.cluster.downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            akka.cluster.split-brain-resolver { active-strategy = keep-majority, stable-after = 5s }
            akka.cluster.singleton-proxy.singleton-identification-interval = 200ms
            """);
        return (federationSerializer ? config.WithFallback(FederationSerialization.Config) : config)
            .WithFallback(AkkaFedConfig.Dispatcher(1));
    }

    /// <summary>A node on mutual TLS with <paramref name="credentials"/>, joined to the server node.</summary>
    public ActorSystem Node(string role, NodeCredentials credentials, Config? config = null)
    {
        var system = ActorSystem.Create("akkafed", SecureCluster.Setup(config ?? NodeConfig(role), credentials));
        _systems.Add(system);
        SecureCluster.StartGuard(system);
        Cluster.Get(system).Join(Server is null ? Cluster.Get(system).SelfAddress : Seed);
        return system;
    }

    public void StartServer(int waitForClients)
    {
        Server = Node(ClusterFederation.ServerRole, Deployment.Credentials(new NodeIdentity("server-0", NodeRole.Server, [])));
        var options = new ServerOptions(1.0, HonestClients, RoundDeadline, ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.05), Seed: 3);
        var test = new TensorData(Data.Test);
        _resources.Add(test);
        ClusterFederation.StartServer(Server, new RunOptions(options, ModelKind.Cnn, Rounds, MaxFailedRounds: 1, waitForClients,
            _checkpoints.Path), test);
    }

    public void StartHonestClients()
    {
        Clients = Node(ClusterFederation.ClientRole, Deployment.Credentials(HonestNode));
        var train = new TensorData(Data.Train);
        var trainers = new TrainerPool(ModelKind.Cnn, torchThreads: 1);
        _resources.Add(train);
        _resources.Add(trainers);
        var proxy = ClusterFederation.ServerProxy(Clients);
        for (int k = 0; k < HonestClients; k++)
        {
            Clients.ActorOf(ClientActor.Props(HonestId(k), Partitions[k], train, trainers, proxy), $"client-{k}");
        }
    }

    /// <summary>What a run ended with: its end as the server and the client node heard it, every round's metrics, the final model.</summary>
    public sealed record Outcome(RunEvents.Ended Ended, IReadOnlyList<object> ClientNodeHeard, IReadOnlyList<RoundMetrics> Rounds, float[] Model);

    /// <summary>
    /// Starts the server node, then calls <paramref name="attack"/> (which may add nodes), then the honest client node,
    /// and waits for the run's end. <paramref name="waitForClients"/> is how many registered clients start round 1.
    /// </summary>
    public Outcome Run(Action<SecureFederation>? attack = null, int waitForClients = HonestClients, Action<SecureFederation>? beforeClients = null)
    {
        StartServer(waitForClients);
        var ended = new TaskCompletionSource<RunEvents.Ended>(TaskCreationOptions.RunContinuationsAsynchronously);
        var rounds = new List<RoundMetrics>();
        Server!.ActorOf(Relay.Props(message =>
        {
            switch (message)
            {
                case RunEvents.RoundReport report:
                    lock (rounds)
                    {
                        rounds.Add(report.Metrics);
                    }
                    break;
                case RunEvents.Ended end:
                    ended.TrySetResult(end);
                    break;
            }
        }), "events").Tell(Relay.SubscribeLocal);
        attack?.Invoke(this);
        StartHonestClients();
        var heard = new List<object>();
        var clientEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = Clients!.ActorOf(Relay.Props(message =>
        {
            lock (heard)
            {
                heard.Add(message);
            }
            if (message is RunEvents.Ended { Failure: null, LastRound: Rounds })
            {
                clientEnded.TrySetResult();
            }
        }), "heard");
        listener.Tell(Relay.SubscribeLocal);
        ClusterFederation.SubscribeToRun(Clients, listener);
        beforeClients?.Invoke(this);

        if (!ended.Task.Wait(RunLimit))
            throw new TimeoutException($"the run did not end within {RunLimit.TotalMinutes} minutes");
        // The client node hears the end from the server and through pub-sub; whatever it heard before is kept.
        clientEnded.Task.Wait(TimeSpan.FromSeconds(60));
        var last = new CheckpointStore(_checkpoints.Path).LoadLatest(_ => { })
            ?? throw new InvalidOperationException("the run left no checkpoint");
        lock (heard)
        lock (rounds)
        {
            return new Outcome(ended.Task.Result, heard.ToArray(), rounds.OrderBy(r => r.Round).ToArray(), last.State.Weights);
        }
    }

    public void Dispose()
    {
        foreach (var system in Enumerable.Reverse(_systems))
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(30));
        }
        _resources.ForEach(r => r.Dispose());
        _checkpoints.Dispose();
    }

    /// <summary>Hands whatever it receives to a callback; subscribes to its node's run events when told <see cref="SubscribeLocal"/>.</summary>
    internal sealed class Relay : ReceiveActor
    {
        public const string SubscribeLocal = "subscribe-local";

        public Relay(Action<object> onMessage)
        {
            Receive<string>(s => s == SubscribeLocal, _ =>
            {
                Context.System.EventStream.Subscribe(Self, typeof(RunEvents.RoundReport));
                Context.System.EventStream.Subscribe(Self, typeof(RunEvents.Ended));
            });
            Receive<Akka.Cluster.Tools.PublishSubscribe.SubscribeAck>(_ => { });
            ReceiveAny(onMessage);
        }

        public static Props Props(Action<object> onMessage) => Akka.Actor.Props.Create(() => new Relay(onMessage));
    }
}
