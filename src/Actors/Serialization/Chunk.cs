namespace AkkaFed.Actors.Serialization;

/// <summary>
/// One piece of a large <see cref="Protocol.IFederationMessage"/> that was cut up to fit Akka.Remote's frame limit and
/// to let heartbeats through between pieces. Chunks travel between the <see cref="ChunkReassembler"/>s of two nodes,
/// beneath the protocol: no protocol actor ever sees one. <paramref name="Manifest"/> and the concatenated
/// <paramref name="Data"/> of all <paramref name="Count"/> pieces are what the serializer made of the message;
/// <paramref name="Recipient"/> is the path (without address, with uid) of the actor on the receiving node it is for.
/// </summary>
/// <remarks>
/// <paramref name="Data"/> is a view: into the frame it was read from, or, for a chunk being sent, into the message
/// serialized once for every target of a broadcast. A chunk is not a protocol message, so it is bound to the
/// serializer on its own (<see cref="FederationSerialization.Config"/>).
/// </remarks>
public sealed record Chunk(long TransferId, int Index, int Count, string Manifest, string Recipient, ReadOnlyMemory<byte> Data);
