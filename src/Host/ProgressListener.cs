using Akka.Actor;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Host;

/// <summary>The latest progress of the round in flight, written by the listener actor and read by the display.</summary>
public sealed class RoundProgressHolder
{
    private RoundProgress? _latest;

    public RoundProgress? Latest
    {
        get => Volatile.Read(ref _latest);
        set => Volatile.Write(ref _latest, value);
    }
}

/// <summary>Copies the server's <see cref="RoundProgress"/> events from the event stream into a holder.</summary>
public sealed class ProgressListener : ReceiveActor
{
    public ProgressListener(RoundProgressHolder holder)
    {
        Receive<RoundProgress>(progress => holder.Latest = progress);
    }

    public static Props Props(RoundProgressHolder holder) => Akka.Actor.Props.Create(() => new ProgressListener(holder));
}
