using Akka.Actor;
using Akka.Event;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// A node's one receiver of <see cref="Chunk"/>s: joins them with a <see cref="ChunkAssembler"/>, whose limits so hold
/// for the whole node, and tells each whole message to its recipient on this node with the original sender. Started
/// by <see cref="FederationTransport"/> at <see cref="FederationTransport.ReassemblerPath"/>.
/// </summary>
/// <remarks>
/// A malformed piece, a transfer refused for want of room within the node's limits or its sender's quota
/// (<see cref="ChunkAssemblerOptions"/>, read from <c>akkafed.transport</c>), or a recipient that is not an actor path
/// of this node, is dropped with a warning and never reaches anyone: chunks cannot relay a message to a third node.
/// Whole messages told to the recipient directly may overtake a large one in reassembly, as they could when actors
/// joined their own chunks.
/// </remarks>
internal sealed class ChunkReassembler : ReceiveActor
{
    private readonly ChunkAssembler _assembler;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ChunkReassembler(WeightBuffers buffers, ChunkAssemblerOptions options)
    {
        _assembler = new ChunkAssembler(buffers, options);
        Receive<Chunk>(OnChunk);
    }

    public static Props Props(WeightBuffers buffers, ChunkAssemblerOptions options) =>
        Akka.Actor.Props.Create(() => new ChunkReassembler(buffers, options));

    private void OnChunk(Chunk chunk)
    {
        if (!_assembler.TryAdd(chunk, Sender, out var message, out _, out var rejection))
        {
            if (rejection is not null)
            {
                _log.Warning("Dropped a message from {0} for {1}: {2}", Sender.Path, chunk.Recipient, rejection.Message);
            }
            return;
        }
        var recipient = Resolve(chunk.Recipient);
        if (recipient is null)
        {
            _log.Warning("Dropped a {0} from {1}: {2} is not an actor path of this node", message.GetType().Name, Sender.Path,
                chunk.Recipient);
            return;
        }
        recipient.Tell(message, Sender);
    }

    /// <summary>The actor at <paramref name="recipient"/> (a path without address) in this system; null if it is not local.</summary>
    private IActorRef? Resolve(string recipient)
    {
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        var resolved = provider.ResolveActorRef($"{provider.DefaultAddress}{recipient}");
        return resolved is IInternalActorRef { IsLocal: true } && !resolved.IsNobody() ? resolved : null;
    }
}
