using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Cluster.Tools.Singleton;
using Akka.Event;
using AkkaFed.Actors.Security;
using AkkaFed.Model.Learning;

namespace AkkaFed.Actors;

/// <summary>
/// The cluster topology: the <see cref="FederationDriver"/> (and its <see cref="ServerActor"/>) as a cluster
/// singleton on the <c>server</c> role, reached by clients through a singleton proxy.
/// </summary>
public static class ClusterFederation
{
    public const string ServerRole = "server";
    public const string ClientRole = "client";
    public const string SingletonName = "federation";

    public static bool IsCluster(ActorSystem system) =>
        system.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal);

    /// <summary>
    /// Starts the singleton manager on this node; the driver runs on the oldest <c>server</c> node. On a secure node
    /// whose certificate does not make it a server, throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public static IActorRef StartServer(ActorSystem system, RunOptions options, TensorData? test)
    {
        var identities = NodeIdentities.Get(system);
        if (identities.Secure && identities.Own!.Identity.Role != NodeRole.Server)
        {
            throw new InvalidOperationException(
                $"this node's certificate makes it {identities.Own.Identity}, not a server: it cannot run the server");
        }
        // Settings are checked here, at the edge, so that a bad one is reported instead of failing the singleton.
        return system.ActorOf(
            ClusterSingletonManager.Props(
                FederationDriver.Props(options with { Server = options.Server.Validate() }, test),
                PoisonPill.Instance,
                ClusterSingletonManagerSettings.Create(system).WithRole(ServerRole)),
            SingletonName);
    }

    /// <summary>A proxy that always reaches the current driver, wherever it runs; it buffers while the singleton moves.</summary>
    public static IActorRef ServerProxy(ActorSystem system) =>
        system.ActorOf(
            ClusterSingletonProxy.Props(
                $"/user/{SingletonName}",
                ClusterSingletonProxySettings.Create(system).WithRole(ServerRole)),
            $"{SingletonName}-proxy");

    /// <summary>Publishes a run event to every node of the cluster; nothing outside a cluster.</summary>
    public static void PublishToCluster(ActorSystem system, object message)
    {
        if (IsCluster(system))
        {
            DistributedPubSub.Get(system).Mediator.Tell(new Publish(Protocol.RunEvents.Topic, message));
        }
    }

    /// <summary>
    /// Subscribes <paramref name="subscriber"/> to the run events of the whole cluster: those published by a server node
    /// (any node, when the cluster is not secure). Anyone can publish on the topic; a <see cref="RunEventGate"/> stands
    /// between it and the subscriber.
    /// </summary>
    public static void SubscribeToRun(ActorSystem system, IActorRef subscriber) =>
        DistributedPubSub.Get(system).Mediator.Tell(new Subscribe(Protocol.RunEvents.Topic, system.ActorOf(RunEventGate.Props(subscriber))));

    /// <summary>
    /// Passes on to its subscriber the run events that come from a server node, keeping their sender (pub-sub forwards
    /// with the publisher as the sender); a forged end of the run would stop every node that heard it. Stops with its subscriber.
    /// </summary>
    internal sealed class RunEventGate : ReceiveActor
    {
        private readonly ILoggingAdapter _log = Context.GetLogger();
        private readonly NodeIdentities _identities = NodeIdentities.Get(Context.System);
        private long _refused;

        public RunEventGate(IActorRef subscriber)
        {
            Context.Watch(subscriber);
            Receive<Terminated>(t => t.ActorRef.Equals(subscriber), _ => Context.Stop(Self));
            Receive<SubscribeAck>(_ => { });
            Receive<object>(_ => FromServer, message => subscriber.Forward(message));
            Receive<object>(message => RefusalLog.Refused(_log, ref _refused, $"the run event {message.GetType().Name} from {Sender.Path}",
                "it did not come from a server node"));
        }

        public static Props Props(IActorRef subscriber) => Akka.Actor.Props.Create(() => new RunEventGate(subscriber));

        // No sender at all reads as this node's dead letters, a local actor: never a server's event.
        private bool FromServer => !Sender.IsNobody() && !Sender.Equals(Context.System.DeadLetters) && _identities.IsServer(Sender);
    }
}
