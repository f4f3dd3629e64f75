using System.Buffers;
using Akka.Actor;
using AkkaFed.Actors.Protocol;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Sends federation messages so that large ones fit Akka.Remote's frame limit: a message whose serialized
/// form exceeds <see cref="ChunkSize"/> travels as <see cref="Chunk"/>s that a <see cref="ChunkAssembler"/>
/// joins again, and remoting's heartbeats interleave between the pieces. A target in the same ActorSystem
/// gets the message object itself, so an in-process simulation pays no serialization at all.
/// </summary>
/// <remarks>
/// Thread-safe. Each instance numbers its transfers from a random start, so transfer ids from one sender do
/// not repeat and ids from two instances almost never meet; the receiver keys transfers by sender and id.
/// Every node must load <see cref="FederationSerialization.Config"/>; the first remote send checks that it did.
/// </remarks>
public sealed class ChunkedTransfer
{
    public const int DefaultChunkSize = 64 * 1024;

    /// <summary>
    /// Room left in a frame for what Akka.Remote wraps around a chunk (recipient and sender paths, manifest,
    /// serializer id) and for the chunk's own 27-byte header.
    /// </summary>
    public const int FrameHeadroom = 4 * 1024;

    private readonly ActorSystem _system;
    private long _nextTransferId = Random.Shared.NextInt64();
    private volatile bool _bindingChecked;

    /// <param name="system">The sending system; its frame size (if it has remoting) bounds <paramref name="chunkSize"/>.</param>
    /// <param name="chunkSize">Largest serialized message sent whole, and the size of every piece but the last.</param>
    public ChunkedTransfer(ActorSystem system, int chunkSize = DefaultChunkSize)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        var frame = system.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null);
        if (frame is { } limit && chunkSize > limit - FrameHeadroom)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize,
                $"a chunk of {chunkSize} bytes does not fit the remote frame limit of {limit} bytes with "
                + $"{FrameHeadroom} bytes of envelope headroom; use at most {limit - FrameHeadroom}");
        }
        _system = system;
        ChunkSize = chunkSize;
    }

    public int ChunkSize { get; }

    /// <summary>
    /// Tells <paramref name="message"/> to <paramref name="target"/>: as the object itself when the target is
    /// local (returns 0), whole when its serialized form fits <see cref="ChunkSize"/>, otherwise in chunks.
    /// </summary>
    /// <returns>The serialized size of the message (chunk headers and remoting's envelope not included), or 0 if local.</returns>
    public long Tell(IActorRef target, IFederationMessage message, IActorRef? sender) => Prepare(message).Tell(target, sender);

    /// <summary>
    /// Wraps <paramref name="message"/> for sending to many targets: it is serialized and cut at most once,
    /// on the first remote <see cref="OutgoingMessage.Tell"/>, and every remote target gets the same pieces.
    /// </summary>
    public OutgoingMessage Prepare(IFederationMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new OutgoingMessage(this, message);
    }

    internal long NextTransferId() => Interlocked.Increment(ref _nextTransferId);

    internal static bool IsLocal(IActorRef target) => target is IInternalActorRef internalRef
        ? internalRef.IsLocal
        : target.Path.Address.HasLocalScope;

    internal void EnsureBinding()
    {
        if (_bindingChecked)
        {
            return;
        }
        var serializer = _system.Serialization.FindSerializerForType(typeof(Chunk));
        if (serializer is not FederationSerializer)
        {
            throw new InvalidOperationException(
                $"ActorSystem '{_system.Name}' serializes federation messages with {serializer.GetType().Name}, not "
                + $"{nameof(FederationSerializer)}: add {nameof(FederationSerialization)}.{nameof(FederationSerialization.Config)} "
                + "to its configuration");
        }
        _bindingChecked = true;
    }
}

/// <summary>
/// A message ready to be told to many targets (the server's one <see cref="Protocol.Training.FitRequest"/> for
/// all selected clients). Made by <see cref="ChunkedTransfer.Prepare"/>. Thread-safe.
/// </summary>
/// <remarks>
/// The chunks, each with its serialized frame, are made once and shared by every remote send; nothing writes to
/// them after they are made, so sharing them between targets and threads is safe. They share one transfer id:
/// receivers reassemble independently, and each target is told a prepared message once.
/// </remarks>
public sealed class OutgoingMessage
{
    private readonly ChunkedTransfer _transfer;
    private readonly Lazy<Encoded> _encoded;

    internal OutgoingMessage(ChunkedTransfer transfer, IFederationMessage message)
    {
        _transfer = transfer;
        Message = message;
        _encoded = new Lazy<Encoded>(Encode, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public IFederationMessage Message { get; }

    /// <summary>The serialized size in bytes; computing it serializes the message if no remote send has yet.</summary>
    public int SerializedSize => _encoded.Value.Size;

    /// <summary>Number of chunks a remote target receives: 0 when the message travels whole.</summary>
    public int ChunkCount => _encoded.Value.Chunks?.Length ?? 0;

    /// <summary>Tells the message to <paramref name="target"/>; see <see cref="ChunkedTransfer.Tell"/>.</summary>
    /// <returns>The serialized size of the message, or 0 if the target is local.</returns>
    public long Tell(IActorRef target, IActorRef? sender)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (ChunkedTransfer.IsLocal(target))
        {
            target.Tell(Message, sender);
            return 0;
        }
        _transfer.EnsureBinding();
        var encoded = _encoded.Value;
        if (encoded.Chunks is null)
        {
            // Akka.Remote serializes it again on the way out; only its size was computed here, which copies nothing.
            target.Tell(Message, sender);
            return encoded.Size;
        }
        foreach (var chunk in Chunks())
        {
            target.Tell(chunk, sender);
        }
        return encoded.Size;
    }

    /// <summary>
    /// The chunks every remote target is told, serialized once: each carries its finished frame, so remoting
    /// copies it out without serializing it again. Empty when the message travels whole.
    /// </summary>
    public IReadOnlyList<Chunk> Chunks() => _encoded.Value.Chunks ?? [];

    private Encoded Encode()
    {
        int size = FederationWire.SizeOf(Message);
        int chunkSize = _transfer.ChunkSize;
        string manifest = FederationWire.Manifest(Message);
        if (size <= chunkSize)
        {
            return new Encoded(size, manifest, null);
        }
        // One transfer id for all targets: each receiver reassembles on its own, keyed by sender and id.
        long transferId = _transfer.NextTransferId();
        // The whole payload is only a staging area for the frames: a pooled buffer spares a fresh multi-megabyte
        // allocation (and the page faults of touching it) on every large message.
        var payload = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            FederationWire.Write(Message, payload.AsSpan(0, size));
            var chunks = new Chunk[(size + chunkSize - 1) / chunkSize];
            for (int i = 0; i < chunks.Length; i++)
            {
                int start = i * chunkSize;
                int length = Math.Min(chunkSize, size - start);
                var frame = FederationWire.Serialize(new Chunk(transferId, i, chunks.Length, manifest, payload.AsMemory(start, length)));
                // The piece's bytes end the frame: the chunk's data is a view of them, not a copy.
                chunks[i] = new Chunk(transferId, i, chunks.Length, manifest, frame.AsMemory(frame.Length - length)) { Frame = frame };
            }
            return new Encoded(size, manifest, chunks);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    private sealed record Encoded(int Size, string Manifest, Chunk[]? Chunks);
}
