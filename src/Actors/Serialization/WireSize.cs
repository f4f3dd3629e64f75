using Akka.Actor;
using AkkaFed.Actors.Protocol;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// What a federation message costs on the wire, for byte counts: the receiving side's counterpart of the bytes
/// <see cref="FederationTransport.Tell"/> returns, without seeing chunks.
/// </summary>
public static class WireSize
{
    /// <summary>
    /// The serialized size of <paramref name="message"/> in bytes, chunk headers and remoting's envelope not included:
    /// what the sender's <see cref="FederationTransport.Tell"/> returned for it. Computing it copies nothing.
    /// </summary>
    public static long Of(IFederationMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return FederationWire.SizeOf(message);
    }

    /// <summary>
    /// The bytes <paramref name="message"/> took to arrive from <paramref name="sender"/>: <see cref="Of"/> when the
    /// sender is on another node, 0 when it is in this ActorSystem (it was handed over as an object).
    /// </summary>
    public static long Received(IFederationMessage message, IActorRef sender) =>
        FederationTransport.IsLocal(sender) ? 0 : Of(message);
}
