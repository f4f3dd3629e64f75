using Akka.Actor;
using AkkaFed.Actors.Protocol;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// A message ready to be told to many targets (the server's one <see cref="Training.FitRequest"/> for all selected
/// clients). Made by <see cref="FederationTransport.Prepare"/>. Thread-safe.
/// </summary>
/// <remarks>
/// The message is serialized once, on the first remote send, into one array that nothing writes to afterwards; every
/// remote target's chunks are views of it, so sharing it between targets and threads is safe, and what queues in
/// remoting for a broadcast is that one array, not a copy per target. Each chunk is framed (header and piece) when
/// remoting serializes it. All targets' chunks share one transfer id: receivers keep them apart by recipient.
/// </remarks>
public sealed class OutgoingMessage
{
    private readonly FederationTransport _transport;
    private readonly Lazy<Encoded> _encoded;

    internal OutgoingMessage(FederationTransport transport, IFederationMessage message)
    {
        _transport = transport;
        Message = message;
        _encoded = new Lazy<Encoded>(Encode, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public IFederationMessage Message { get; }

    /// <summary>The serialized size in bytes; computing it serializes the message if no remote send has yet.</summary>
    public int SerializedSize => _encoded.Value.Size;

    /// <summary>Number of chunks a remote target's node receives: 0 when the message travels whole.</summary>
    public int ChunkCount => _encoded.Value.Payload is null ? 0 : Pieces(_encoded.Value.Size);

    /// <summary>Tells the message to <paramref name="target"/>; see <see cref="FederationTransport.Tell"/>.</summary>
    /// <returns>The serialized size of the message, or 0 if the target is local.</returns>
    public long Tell(IActorRef target, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (FederationTransport.IsLocal(target))
        {
            target.Tell(Message, sender);
            return 0;
        }
        _transport.EnsureBinding();
        var encoded = _encoded.Value;
        if (encoded.Payload is null)
        {
            // Akka.Remote serializes it on the way out; only its size was computed here, which copies nothing.
            target.Tell(Message, sender);
            return encoded.Size;
        }
        var reassembler = _transport.ReassemblerAt(target.Path.Address);
        foreach (var chunk in ChunksFor(target))
        {
            reassembler.Tell(chunk, sender);
        }
        return encoded.Size;
    }

    /// <summary>
    /// The chunks that carry the message to <paramref name="target"/> through its node's reassembler: views of the
    /// one serialized copy. Empty when the message travels whole.
    /// </summary>
    public IReadOnlyList<Chunk> ChunksFor(IActorRef target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var encoded = _encoded.Value;
        if (encoded.Payload is not { } payload)
        {
            return [];
        }
        string recipient = FederationTransport.RecipientOf(target);
        int chunkSize = _transport.ChunkSize;
        var chunks = new Chunk[Pieces(encoded.Size)];
        for (int i = 0; i < chunks.Length; i++)
        {
            int start = i * chunkSize;
            int length = Math.Min(chunkSize, encoded.Size - start);
            chunks[i] = new Chunk(encoded.TransferId, i, chunks.Length, encoded.Manifest, recipient, payload.AsMemory(start, length));
        }
        return chunks;
    }

    private int Pieces(int size) => (size + _transport.ChunkSize - 1) / _transport.ChunkSize;

    private Encoded Encode()
    {
        int size = FederationWire.SizeOf(Message);
        string manifest = FederationWire.Manifest(Message);
        if (size <= _transport.ChunkSize)
        {
            return new Encoded(size, manifest, null, 0);
        }
        // Not pooled: the chunks queued in remoting hold views of it until they are framed, which may be late.
        var payload = GC.AllocateUninitializedArray<byte>(size);
        FederationWire.Write(Message, payload);
        return new Encoded(size, manifest, payload, _transport.NextTransferId());
    }

    private sealed record Encoded(int Size, string Manifest, byte[]? Payload, long TransferId);
}
