namespace AkkaFed.Actors.Serialization;

/// <summary>
/// One piece of a large <see cref="Protocol.IFederationMessage"/> that was cut up to fit Akka.Remote's frame
/// limit and to let heartbeats through between pieces. <paramref name="Manifest"/> and the concatenated
/// <paramref name="Data"/> of all <paramref name="Count"/> pieces are what the serializer made of the message.
/// </summary>
public sealed record Chunk(long TransferId, int Index, int Count, string Manifest, byte[] Data) : Protocol.IFederationMessage;
