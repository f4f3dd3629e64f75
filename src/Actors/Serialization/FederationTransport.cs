using System.Collections.Concurrent;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using AkkaFed.Actors.Protocol;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// One node's transport for federation messages, beneath the protocol: it sends them so that large ones fit
/// Akka.Remote's frame limit, and joins the large ones it receives, so that protocol actors only ever see whole
/// messages with their original sender (as Akka.Delivery keeps its chunks from the consumer). An Akka extension:
/// every node that loads <see cref="FederationSerialization.Config"/> starts it with the system.
/// </summary>
/// <remarks>
/// <para>Sending: a target in the same ActorSystem gets the message object itself, so an in-process simulation pays
/// no serialization at all; a remote target gets it whole when its serialized form fits <see cref="ChunkSize"/>;
/// otherwise the message is serialized once and its <see cref="Chunk"/>s go to the <see cref="ChunkReassembler"/> of
/// the target's node (the system actor <see cref="ReassemblerPath"/>, resolved from the target's address), which
/// tells the whole message to the target with the original sender. Heartbeats interleave between the pieces.</para>
/// <para>Thread-safe. Transfer ids count from a random start, so ids from one node never repeat and ids from two
/// nodes almost never meet; receivers key transfers by sender, recipient and id. The first remote send checks that
/// the node serializes with <see cref="FederationSerializer"/>.</para>
/// </remarks>
public sealed class FederationTransport : IExtension
{
    /// <summary>The HOCON setting of the chunk size; absent means <see cref="DefaultChunkSize"/>.</summary>
    public const string ChunkSizeSetting = "akkafed.transport.chunk-size";

    public const int DefaultChunkSize = 64 * 1024;

    /// <summary>
    /// Room left in a frame for what Akka.Remote wraps around a chunk (recipient and sender paths, manifest,
    /// serializer id) and for the chunk's own header with its recipient's path.
    /// </summary>
    public const int FrameHeadroom = 4 * 1024;

    /// <summary>Longest recipient path (UTF-8) a chunk carries, so that its header stays well inside <see cref="FrameHeadroom"/>.</summary>
    public const int MaxRecipientBytes = 1024;

    /// <summary>Name of each node's <see cref="ChunkReassembler"/> under <c>/system</c>.</summary>
    public const string ReassemblerName = "akkafed-transport";

    /// <summary>Where chunks for a node go, below its address.</summary>
    public const string ReassemblerPath = "/system/" + ReassemblerName;

    private readonly ExtendedActorSystem _system;
    private readonly ConcurrentDictionary<Address, IActorRef> _reassemblers = new();
    private long _nextTransferId = Random.Shared.NextInt64();
    private volatile bool _bindingChecked;

    internal FederationTransport(ExtendedActorSystem system)
    {
        _system = system;
        ChunkSize = ReadChunkSize(system.Settings.Config);
        Buffers = WeightBuffers.Get(system);
        Reassembler = system.SystemActorOf(ChunkReassembler.Props(Buffers, ChunkAssemblerOptions.FromConfig(system.Settings.Config)),
            ReassemblerName);
    }

    /// <summary>The transport of <paramref name="system"/>, started on first use if its configuration did not start it.</summary>
    public static FederationTransport Get(ActorSystem system) =>
        system.WithExtension<FederationTransport, FederationTransportProvider>();

    /// <summary>Largest serialized message sent whole, and the size of every piece but the last.</summary>
    public int ChunkSize { get; }

    /// <summary>The pool the weights of joined messages come from: this system's <see cref="WeightBuffers"/>.</summary>
    public WeightBuffers Buffers { get; }

    /// <summary>This node's reassembler, which remote nodes send chunks to.</summary>
    public IActorRef Reassembler { get; }

    /// <summary>
    /// Tells <paramref name="message"/> to <paramref name="target"/>: as the object itself when the target is
    /// local (returns 0), whole when its serialized form fits <see cref="ChunkSize"/>, otherwise in chunks.
    /// </summary>
    /// <returns>The serialized size of the message (chunk headers and remoting's envelope not included), or 0 if local.</returns>
    public long Tell(IActorRef target, IFederationMessage message, IActorRef? sender) => Prepare(message).Tell(target, sender);

    /// <summary>
    /// Wraps <paramref name="message"/> for sending to many targets: it is serialized at most once, on the first
    /// remote <see cref="OutgoingMessage.Tell"/>, and every remote target gets pieces of those same bytes.
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

    /// <summary>The reassembler of the node at <paramref name="address"/>; resolving it needs no round trip.</summary>
    internal IActorRef ReassemblerAt(Address address) =>
        _reassemblers.GetOrAdd(address, node => _system.Provider.ResolveActorRef(new RootActorPath(node) / "system" / ReassemblerName));

    /// <summary>What a chunk names as its recipient: the target's path on its own node, with its uid.</summary>
    internal static string RecipientOf(IActorRef target)
    {
        var path = target.Path;
        string recipient = path.Uid == 0 ? path.ToStringWithoutAddress() : $"{path.ToStringWithoutAddress()}#{path.Uid}";
        if (Encoding.UTF8.GetByteCount(recipient) > MaxRecipientBytes)
        {
            throw new ArgumentException(
                $"the path of {recipient} is longer than the {MaxRecipientBytes} bytes a chunk may name", nameof(target));
        }
        return recipient;
    }

    internal void EnsureBinding()
    {
        if (_bindingChecked)
        {
            return;
        }
        foreach (var type in new[] { typeof(Chunk), typeof(IFederationMessage) })
        {
            var serializer = _system.Serialization.FindSerializerForType(type);
            if (serializer is not FederationSerializer)
            {
                throw new InvalidOperationException(
                    $"ActorSystem '{_system.Name}' serializes {type.Name} with {serializer.GetType().Name}, not "
                    + $"{nameof(FederationSerializer)}: add {nameof(FederationSerialization)}.{nameof(FederationSerialization.Config)} "
                    + "to its configuration");
            }
        }
        _bindingChecked = true;
    }

    private static int ReadChunkSize(Config config)
    {
        long chunkSize = config.GetByteSize(ChunkSizeSetting, null) ?? DefaultChunkSize;
        if (chunkSize <= 0)
        {
            throw new ConfigurationException($"{ChunkSizeSetting} must be positive, got {chunkSize}");
        }
        var frame = config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null);
        if (frame is { } limit && chunkSize > limit - FrameHeadroom)
        {
            throw new ConfigurationException(
                $"{ChunkSizeSetting}: a chunk of {chunkSize} bytes does not fit the remote frame limit of {limit} bytes with "
                + $"{FrameHeadroom} bytes of envelope headroom; use at most {limit - FrameHeadroom}");
        }
        return chunkSize <= int.MaxValue
            ? (int)chunkSize
            : throw new ConfigurationException($"{ChunkSizeSetting} must be at most {int.MaxValue} bytes, got {chunkSize}");
    }
}

/// <summary>Makes each ActorSystem's <see cref="FederationTransport"/>; named in <c>akka.extensions</c> to start it with the system.</summary>
public sealed class FederationTransportProvider : ExtensionIdProvider<FederationTransport>
{
    public override FederationTransport CreateExtension(ExtendedActorSystem system) => new(system);
}
