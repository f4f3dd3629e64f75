using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Cluster.Tools.Singleton;
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

    /// <summary>Starts the singleton manager on this node; the driver runs on the oldest <c>server</c> node.</summary>
    public static IActorRef StartServer(ActorSystem system, RunOptions options, TensorData? test) =>
        // Settings are checked here, at the edge, so that a bad one is reported instead of failing the singleton.
        system.ActorOf(
            ClusterSingletonManager.Props(
                FederationDriver.Props(options with { Server = options.Server.Validate() }, test),
                PoisonPill.Instance,
                ClusterSingletonManagerSettings.Create(system).WithRole(ServerRole)),
            SingletonName);

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

    /// <summary>Subscribes <paramref name="subscriber"/> to the run events of the whole cluster.</summary>
    public static void SubscribeToRun(ActorSystem system, IActorRef subscriber) =>
        DistributedPubSub.Get(system).Mediator.Tell(new Subscribe(Protocol.RunEvents.Topic, subscriber));
}
