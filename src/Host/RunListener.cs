using Akka.Actor;

namespace AkkaFed.Host;

/// <summary>Hands every run event it receives to the host, one at a time, on the actor's thread.</summary>
public sealed class RunListener : ReceiveActor
{
    public RunListener(Action<object> onEvent)
    {
        Receive<Akka.Cluster.Tools.PublishSubscribe.SubscribeAck>(_ => { });
        ReceiveAny(onEvent);
    }

    public static Props Props(Action<object> onEvent) => Akka.Actor.Props.Create(() => new RunListener(onEvent));
}
