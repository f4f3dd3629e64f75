namespace AkkaFed.Actors.Serialization;

/// <summary>
/// One piece of a large <see cref="Protocol.IFederationMessage"/> that was cut up to fit Akka.Remote's frame
/// limit and to let heartbeats through between pieces. <paramref name="Manifest"/> and the concatenated
/// <paramref name="Data"/> of all <paramref name="Count"/> pieces are what the serializer made of the message.
/// </summary>
/// <remarks>
/// <paramref name="Data"/> is a view: into the frame it was read from, or, for a chunk being sent, into its own
/// serialized <see cref="Frame"/>, which the serializer then hands to remoting as it is, with no second copy.
/// </remarks>
public sealed record Chunk(long TransferId, int Index, int Count, string Manifest, ReadOnlyMemory<byte> Data) : Protocol.IFederationMessage
{
    /// <summary>This chunk already serialized, when <see cref="ChunkedTransfer"/> made it; shared by every target of a broadcast.</summary>
    internal byte[]? Frame { get; init; }
}
