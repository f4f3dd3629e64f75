using Akka.Actor;
using Akka.Event;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// A node's one receiver of <see cref="Chunk"/>s: joins them with a <see cref="ChunkAssembler"/>, whose limits so hold
/// for the whole node, and tells each whole message to its recipient on this node with the original sender. Started
/// by <see cref="FederationTransport"/> at <see cref="FederationTransport.ReassemblerPath"/>.
/// </summary>
/// <remarks>
/// <para>A malformed piece, a transfer refused for want of room within the node's limits or its sender's quota
/// (<see cref="ChunkAssemblerOptions"/>, read from <c>akkafed.transport</c>), or a recipient that is not an actor path
/// of this node, is dropped with a warning and never reaches anyone: chunks cannot relay a message to a third node.
/// Whole messages told to the recipient directly may overtake a large one in reassembly, as they could when actors
/// joined their own chunks.</para>
/// <para>Every <see cref="ChunkAssemblerOptions.SweepInterval"/> it drops the transfers that received nothing for
/// <see cref="ChunkAssemblerOptions.MaxAge"/>. Idle time is counted in those ticks: the assembler's clock moves one
/// interval per tick, so it is monotonic, a backlog in this mailbox never expires a transfer early, and TestKit's
/// scheduler drives it.</para>
/// </remarks>
internal sealed class ChunkReassembler : ReceiveActor, IWithTimers
{
    private readonly ChunkAssembler _assembler;
    private readonly ChunkAssemblerOptions _options;
    private readonly SweepClock _clock = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ChunkReassembler(WeightBuffers buffers, ChunkAssemblerOptions options)
    {
        _options = options;
        _assembler = new ChunkAssembler(buffers, options, _clock);
        Receive<Chunk>(OnChunk);
        Receive<Sweep>(OnSweep);
    }

    public static Props Props(WeightBuffers buffers, ChunkAssemblerOptions options) =>
        Akka.Actor.Props.Create(() => new ChunkReassembler(buffers, options));

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() => Timers.StartPeriodicTimer(nameof(Sweep), Sweep.Instance, _options.SweepInterval);

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

    private void OnSweep(Sweep sweep)
    {
        _clock.Advance(_options.SweepInterval);
        int dropped = _assembler.DropStale();
        if (dropped > 0)
        {
            _log.Warning("Dropped {0} unfinished transfer(s) that received nothing for over {1}", dropped, _options.MaxAge);
        }
    }

    /// <summary>The actor at <paramref name="recipient"/> (a path without address) in this system; null if it is not local.</summary>
    private IActorRef? Resolve(string recipient)
    {
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        IActorRef resolved;
        try
        {
            resolved = provider.ResolveActorRef($"{provider.DefaultAddress}{recipient}");
        }
        catch (FormatException)
        {
            // Akka's path parser throws, instead of failing, on a uid that is not a number ("/user/a#x"); a sender
            // chooses the recipient, so letting it through would restart this actor and lose every transfer it holds.
            return null;
        }
        return resolved is IInternalActorRef { IsLocal: true } && !resolved.IsNobody() ? resolved : null;
    }

    private sealed record Sweep
    {
        public static readonly Sweep Instance = new();
    }

    /// <summary>Time as this actor counts it: one sweep interval per tick of its timer.</summary>
    private sealed class SweepClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
