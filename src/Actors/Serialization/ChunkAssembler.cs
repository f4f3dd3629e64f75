using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Limits that keep a node's <see cref="ChunkAssembler"/> from holding unbounded memory: for the whole node, and for
/// each sender (a node sending to it). Read from HOCON by <see cref="FromConfig"/>, each under <see cref="ConfigPath"/>
/// by its name in kebab case (<see cref="Key"/>): <c>akkafed.transport.max-in-flight-per-sender = 64</c>.
/// </summary>
public sealed record ChunkAssemblerOptions
{
    /// <summary>The HOCON section the options are read from.</summary>
    public const string ConfigPath = "akkafed.transport";

    /// <summary>Largest message accepted; a transfer whose pieces imply more is rejected at its first piece.</summary>
    public long MaxTransferBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Most pieces one transfer may declare.</summary>
    public int MaxPieces { get; init; } = 65_536;

    /// <summary>Most unfinished transfers the node holds; a new one beyond them is refused.</summary>
    public int MaxInFlight { get; init; } = 1024;

    /// <summary>
    /// Most bytes the node's unfinished transfers reserve together: each reserves, at its first piece, what it can
    /// come to hold (its declared size, and the table and frames of its pieces). A new one beyond it is refused.
    /// </summary>
    public long MaxBufferedBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Most unfinished transfers from one sender; a new one beyond them is refused.</summary>
    public int MaxInFlightPerSender { get; init; } = 64;

    /// <summary>Most bytes the unfinished transfers from one sender reserve together; a new one beyond it is refused.</summary>
    public long MaxBufferedBytesPerSender { get; init; } = 1L * 1024 * 1024 * 1024;

    /// <summary>An unfinished transfer that received nothing for this long is dropped.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the node's reassembler drops transfers idle longer than <see cref="MaxAge"/>.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The most one transfer within these limits can reserve: it must fit a sender's quota and the node.</summary>
    public long MostOneTransferReserves =>
        MaxTransferBytes + (long)MaxPieces * (ChunkAssembler.PieceOverheadBytes + FederationTransport.MaxRecipientBytes);

    /// <summary>The HOCON path of the option named <paramref name="option"/>: <c>MaxAge</c> is <c>akkafed.transport.max-age</c>.</summary>
    public static string Key(string option) =>
        ConfigPath + "." + string.Concat(option.Select((c, i) =>
            char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>
    /// The options under <see cref="ConfigPath"/> in <paramref name="config"/>, the defaults for those absent; validated.
    /// </summary>
    public static ChunkAssemblerOptions FromConfig(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var defaults = new ChunkAssemblerOptions();
        var options = new ChunkAssemblerOptions
        {
            MaxTransferBytes = config.GetByteSize(Key(nameof(MaxTransferBytes)), null) ?? defaults.MaxTransferBytes,
            MaxPieces = config.GetInt(Key(nameof(MaxPieces)), defaults.MaxPieces),
            MaxInFlight = config.GetInt(Key(nameof(MaxInFlight)), defaults.MaxInFlight),
            MaxBufferedBytes = config.GetByteSize(Key(nameof(MaxBufferedBytes)), null) ?? defaults.MaxBufferedBytes,
            MaxInFlightPerSender = config.GetInt(Key(nameof(MaxInFlightPerSender)), defaults.MaxInFlightPerSender),
            MaxBufferedBytesPerSender =
                config.GetByteSize(Key(nameof(MaxBufferedBytesPerSender)), null) ?? defaults.MaxBufferedBytesPerSender,
            MaxAge = config.GetTimeSpan(Key(nameof(MaxAge)), defaults.MaxAge, allowInfinite: false),
            SweepInterval = config.GetTimeSpan(Key(nameof(SweepInterval)), defaults.SweepInterval, allowInfinite: false),
        };
        options.Validate();
        return options;
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming the setting when a limit is out of range or contradicts another.
    /// </summary>
    public void Validate()
    {
        Positive(MaxTransferBytes, nameof(MaxTransferBytes));
        if (MaxTransferBytes > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTransferBytes), MaxTransferBytes,
                $"{Key(nameof(MaxTransferBytes))}: a message is serialized into one array, so at most {Array.MaxLength} bytes");
        }
        Positive(MaxPieces, nameof(MaxPieces));
        Positive(MaxInFlight, nameof(MaxInFlight));
        Positive(MaxInFlightPerSender, nameof(MaxInFlightPerSender));
        HoldsOneTransfer(MaxBufferedBytes, nameof(MaxBufferedBytes));
        HoldsOneTransfer(MaxBufferedBytesPerSender, nameof(MaxBufferedBytesPerSender));
        Positive(MaxAge.Ticks, nameof(MaxAge));
        Positive(SweepInterval.Ticks, nameof(SweepInterval));
    }

    private static void Positive(long value, string option)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(option, value, $"{Key(option)} must be positive");
        }
    }

    private void HoldsOneTransfer(long bytes, string option)
    {
        if (bytes < MostOneTransferReserves)
        {
            throw new ArgumentOutOfRangeException(option, bytes,
                $"{Key(option)} = {bytes} cannot hold one whole transfer, which reserves up to {MostOneTransferReserves} bytes: "
                + $"{Key(nameof(MaxTransferBytes))} = {MaxTransferBytes} and the table and frames of "
                + $"{Key(nameof(MaxPieces))} = {MaxPieces} pieces");
        }
    }
}

/// <summary>
/// Joins the <see cref="Chunk"/>s made by <see cref="FederationTransport"/> back into the message, per sender,
/// recipient and transfer id. Owned by the node's <see cref="ChunkReassembler"/> and called only from its message
/// handler: not thread-safe. Its limits hold for the whole node.
/// </summary>
/// <remarks>
/// <para>Pieces may arrive in any order (Akka.Remote keeps order per sender, but nothing here relies on it).</para>
/// <para>Every piece but the last has the same length and the last is no longer, as <see cref="FederationTransport"/>
/// cuts them; that lets a transfer's total size be bounded from its first piece.</para>
/// <para>A broadcast sends every target the same transfer id, so two recipients on one node keep their transfers
/// apart by the recipient in the key.</para>
/// <para>A complete transfer is deserialized straight from its pieces; they are never copied into one buffer.</para>
/// <para>Room is decided once per transfer, when its first piece arrives (<see cref="Admit"/>): it reserves what the
/// transfer can come to hold, its declared size and the table and frames of all its pieces, against the node's
/// limits and its sender's quota, and is refused if that does not fit. So nothing admitted is ever dropped to make
/// room, and a sender that fills its quota or the node only has its own new transfers refused.</para>
/// <para>A bad piece never throws: <c>TryAdd</c> returns false and reports the problem as a
/// <see cref="SerializationException"/>, counted in <see cref="Failed"/> (a malformed piece, which also ends its
/// transfer: it can no longer be trusted) or <see cref="Refused"/> (no room), leaving all other transfers intact.
/// Throwing would restart the owning actor and lose them. Later pieces of a transfer that failed, was refused or was
/// dropped are ignored without a word, until none has come for <see cref="ChunkAssemblerOptions.MaxAge"/>.</para>
/// <para>Unfinished transfers idle longer than <see cref="ChunkAssemblerOptions.MaxAge"/> are dropped, and counted
/// in <see cref="Dropped"/>, by <see cref="DropStale"/>: the owning actor calls it on a timer, and a new transfer
/// calls it before asking for room.</para>
/// </remarks>
public sealed class ChunkAssembler
{
    /// <summary>
    /// What each piece costs beside its data: its slot in the transfer's piece table (16 bytes) and, since its data is
    /// a view into the frame it arrived in, that frame's array header and fixed fields (64 bytes allow for both) and
    /// the recipient's path, which every frame repeats.
    /// </summary>
    public const int PieceOverheadBytes = 16 + 64;

    private readonly WeightBuffers _buffers;
    private readonly ChunkAssemblerOptions _options;
    private readonly TimeProvider _time;
    private readonly Dictionary<TransferKey, Partial> _partials = new();
    // Transfers that ended unfinished, by when their last piece came (see Close).
    private readonly Dictionary<TransferKey, long> _closed = new();

    /// <param name="buffers">The pool of the node's ActorSystem, which the weights of joined messages come from.</param>
    /// <param name="time">Measures how long a transfer has been idle; the system clock when null.</param>
    public ChunkAssembler(WeightBuffers buffers, ChunkAssemblerOptions? options = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        _buffers = buffers;
        _options = options ?? new ChunkAssemblerOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
    }

    private readonly record struct TransferKey(ActorPath? Sender, string Recipient, long TransferId);

    /// <summary>Unfinished transfers held now.</summary>
    public int InFlight => _partials.Count;

    /// <summary>Bytes reserved now by unfinished transfers: for each, what it can come to hold (see <see cref="Admit"/>).</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>Messages joined and deserialized so far.</summary>
    public long Completed { get; private set; }

    /// <summary>Pieces rejected as malformed so far (each also ends its transfer if one was under way).</summary>
    public long Failed { get; private set; }

    /// <summary>Transfers refused at their first piece so far, for want of room within the limits.</summary>
    public long Refused { get; private set; }

    /// <summary>Unfinished transfers dropped so far for being idle too long.</summary>
    public long Dropped { get; private set; }

    /// <summary>
    /// Adds one piece from <paramref name="sender"/>. True when it completed a message for the piece's
    /// <see cref="Chunk.Recipient"/>, which is then in <paramref name="message"/> with its serialized size in <paramref name="bytes"/>.
    /// False when more pieces are needed or the piece was rejected (see the overload that says why).
    /// </summary>
    public bool TryAdd(Chunk chunk, IActorRef? sender, [NotNullWhen(true)] out object? message, out long bytes) =>
        TryAdd(chunk, sender, out message, out bytes, out _);

    /// <summary>As the other overload; <paramref name="rejection"/> says why a piece was rejected, for logging.</summary>
    public bool TryAdd(Chunk chunk, IActorRef? sender, [NotNullWhen(true)] out object? message, out long bytes,
        out SerializationException? rejection)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        message = null;
        bytes = 0;
        rejection = null;
        var key = new TransferKey(sender?.Path, chunk.Recipient, chunk.TransferId);
        if (_closed.ContainsKey(key))
        {
            // Reported once already; kept closed while its pieces keep coming.
            _closed[key] = _time.GetTimestamp();
            return false;
        }
        _partials.TryGetValue(key, out var partial);

        rejection = Check(chunk, partial);
        if (rejection is not null)
        {
            Failed++;
            if (partial is not null)
            {
                Release(key, partial);
                Close(key);
            }
            return false;
        }

        if (chunk.Count == 1)
        {
            return Complete(chunk.Manifest, new ReadOnlySequence<byte>(chunk.Data), chunk.TransferId, out message, out bytes, out rejection);
        }

        partial ??= Admit(key, chunk, sender, out rejection);
        if (partial is null)
        {
            Refused++;
            Close(key);
            return false;
        }
        partial.Add(chunk, _time.GetTimestamp());
        // A transfer whose last piece came first learns its piece length now, which can only lower what it reserves.
        Reserve(partial, Charge(partial.Count, partial.PieceLength, partial.PieceOverhead));
        if (partial.Received < partial.Count)
        {
            return false;
        }

        Release(key, partial);
        return Complete(partial.Manifest, partial.Payload(), chunk.TransferId, out message, out bytes, out rejection);
    }

    /// <summary>
    /// Starts the transfer of a piece that passed <see cref="Check"/>, if it fits: it reserves what the transfer can
    /// come to hold, <see cref="Charge"/>, within its sender's quota and the node's limits. The sender is the node
    /// <paramref name="sender"/> lives on, its address: a node's actors send together, and a sender's path is any
    /// name its node gives, so a quota per path would be one a node could multiply at will. Senderless chunks (from
    /// no one, or from dead letters once remoting delivers them) share one quota. Null, with the reason in
    /// <paramref name="refusal"/>, when it does not fit.
    /// </summary>
    private Partial? Admit(TransferKey key, Chunk chunk, IActorRef? sender, out SerializationException? refusal)
    {
        DropStale();
        var from = sender?.Path.Address;
        int overhead = PieceOverheadBytes + Encoding.UTF8.GetByteCount(chunk.Recipient);
        long charge = Charge(chunk.Count, chunk.Index == chunk.Count - 1 ? null : chunk.Data.Length, overhead);
        int transfers = 0;
        long reserved = 0;
        foreach (var held in _partials.Values)
        {
            if (Equals(held.Sender, from))
            {
                transfers++;
                reserved += held.Charge;
            }
        }
        string who = from?.ToString() ?? "no sender";
        string? problem =
            transfers >= _options.MaxInFlightPerSender
                ? $"{who} has {transfers} unfinished transfers here, the most one sender may have "
                  + $"({ChunkAssemblerOptions.Key(nameof(ChunkAssemblerOptions.MaxInFlightPerSender))})"
            : reserved + charge > _options.MaxBufferedBytesPerSender
                ? $"it needs {charge} bytes and {who} has {reserved} reserved here, over the {_options.MaxBufferedBytesPerSender} "
                  + $"one sender may have ({ChunkAssemblerOptions.Key(nameof(ChunkAssemblerOptions.MaxBufferedBytesPerSender))})"
            : _partials.Count >= _options.MaxInFlight
                ? $"this node has {_partials.Count} unfinished transfers, the most it holds "
                  + $"({ChunkAssemblerOptions.Key(nameof(ChunkAssemblerOptions.MaxInFlight))})"
            : BufferedBytes + charge > _options.MaxBufferedBytes
                ? $"it needs {charge} bytes and this node has {BufferedBytes} reserved, over its {_options.MaxBufferedBytes} "
                  + $"({ChunkAssemblerOptions.Key(nameof(ChunkAssemblerOptions.MaxBufferedBytes))})"
            : null;
        if (problem is not null)
        {
            refusal = new SerializationException(
                $"Refused transfer {chunk.TransferId} ({chunk.Manifest}, {chunk.Count} pieces) from {sender?.Path.ToString() ?? who}: "
                + $"{problem}. Nothing already admitted is dropped for it");
            return null;
        }
        refusal = null;
        var partial = new Partial(chunk.Manifest, chunk.Count, from, overhead);
        _partials.Add(key, partial);
        Reserve(partial, charge);
        return partial;
    }

    /// <summary>
    /// The most a transfer of <paramref name="count"/> pieces can hold: its data, at most the per-message limit and
    /// at most <paramref name="count"/> pieces of <paramref name="pieceLength"/> once that is known, and each piece's
    /// <paramref name="pieceOverhead"/>.
    /// </summary>
    private long Charge(int count, int? pieceLength, int pieceOverhead) =>
        Math.Min(_options.MaxTransferBytes, (long)count * (pieceLength ?? int.MaxValue)) + (long)count * pieceOverhead;

    private void Reserve(Partial partial, long charge)
    {
        BufferedBytes += charge - partial.Charge;
        partial.Charge = charge;
    }

    /// <summary>Drops unfinished transfers idle longer than <see cref="ChunkAssemblerOptions.MaxAge"/>; returns how many.</summary>
    public int DropStale()
    {
        int dropped = 0;
        foreach (var (key, partial) in _partials)
        {
            if (IsStale(partial.LastActivity))
            {
                Release(key, partial);
                Close(key);
                dropped++;
            }
        }
        foreach (var (key, last) in _closed)
        {
            if (IsStale(last))
            {
                _closed.Remove(key);
            }
        }
        Dropped += dropped;
        return dropped;
    }

    private bool IsStale(long lastActivity) => _time.GetElapsedTime(lastActivity) > _options.MaxAge;

    private SerializationException? Check(Chunk chunk, Partial? partial)
    {
        string Problem(string text) => $"Rejected chunk {chunk.Index} of transfer {chunk.TransferId} ({chunk.Manifest}): {text}";

        if (chunk.Count < 1 || chunk.Count > _options.MaxPieces)
        {
            return new SerializationException(Problem($"Count {chunk.Count} is outside 1..{_options.MaxPieces}"));
        }
        if (chunk.Index < 0 || chunk.Index >= chunk.Count)
        {
            return new SerializationException(Problem($"Index {chunk.Index} is outside 0..{chunk.Count - 1}"));
        }
        if (chunk.Manifest is null || !FederationWire.IsMessageManifest(chunk.Manifest))
        {
            return new SerializationException(Problem($"manifest '{chunk.Manifest}' is not a federation message"));
        }
        if (chunk.Recipient is null || !chunk.Recipient.StartsWith('/'))
        {
            return new SerializationException(Problem($"recipient '{chunk.Recipient}' is not the path of an actor"));
        }
        if (Encoding.UTF8.GetByteCount(chunk.Recipient) > FederationTransport.MaxRecipientBytes)
        {
            return new SerializationException(Problem($"the recipient's path is longer than {FederationTransport.MaxRecipientBytes} bytes"));
        }
        if (chunk.Data.IsEmpty)
        {
            return new SerializationException(Problem("the piece carries no data"));
        }
        if (partial is not null)
        {
            if (partial.Count != chunk.Count || partial.Manifest != chunk.Manifest)
            {
                return new SerializationException(Problem(
                    $"inconsistent with earlier pieces, which said {partial.Count} pieces of {partial.Manifest}"));
            }
            if (partial.Has(chunk.Index))
            {
                return new SerializationException(Problem("duplicate piece"));
            }
        }
        return CheckLengths(chunk, partial, Problem);
    }

    private SerializationException? CheckLengths(Chunk chunk, Partial? partial, Func<string, string> problem)
    {
        bool last = chunk.Index == chunk.Count - 1;
        int length = chunk.Data.Length;
        int? pieceLength = last ? partial?.PieceLength : length;
        int? lastLength = last ? length : partial?.LastLength;
        if (!last && partial?.PieceLength is { } earlier && earlier != length)
        {
            return new SerializationException(problem($"{length} bytes where earlier pieces had {earlier}"));
        }
        if (pieceLength is { } whole && lastLength is { } tail && tail > whole)
        {
            return new SerializationException(problem($"last piece of {tail} bytes is longer than the others ({whole})"));
        }
        // The smallest total consistent with what is known so far: the other pieces are no shorter than the last.
        long claimed = pieceLength is { } size
            ? (long)(chunk.Count - 1) * size + (lastLength ?? 1)
            : (long)chunk.Count * length;
        if (claimed > _options.MaxTransferBytes)
        {
            return new SerializationException(problem(
                $"{chunk.Count} pieces imply at least {claimed} bytes, over the limit of {_options.MaxTransferBytes} bytes per message"));
        }
        return null;
    }

    private bool Complete(string manifest, ReadOnlySequence<byte> payload, long transferId, [NotNullWhen(true)] out object? message,
        out long bytes, out SerializationException? rejection)
    {
        try
        {
            message = FederationWire.Deserialize(payload, manifest, _buffers);
        }
        catch (SerializationException e)
        {
            Failed++;
            message = null;
            bytes = 0;
            rejection = new SerializationException($"Transfer {transferId} joined {payload.Length} bytes that do not deserialize: {e.Message}", e);
            return false;
        }
        Completed++;
        bytes = payload.Length;
        rejection = null;
        return true;
    }

    private void Release(TransferKey key, Partial partial)
    {
        _partials.Remove(key);
        BufferedBytes -= partial.Charge;
    }

    /// <summary>
    /// Ignores the transfer's later pieces until none has come for <see cref="ChunkAssemblerOptions.MaxAge"/>. As many
    /// are remembered as transfers are held; beyond that a later piece is judged afresh, refused again or starting a
    /// transfer that goes stale.
    /// </summary>
    private void Close(TransferKey key)
    {
        if (_closed.Count < _options.MaxInFlight || _closed.ContainsKey(key))
        {
            _closed[key] = _time.GetTimestamp();
        }
    }

    private sealed class Partial(string manifest, int count, Address? sender, int pieceOverhead)
    {
        private readonly ReadOnlyMemory<byte>[] _pieces = new ReadOnlyMemory<byte>[count];

        public string Manifest { get; } = manifest;
        public int Count { get; } = count;
        public Address? Sender { get; } = sender;
        public int PieceOverhead { get; } = pieceOverhead;
        public long Charge { get; set; }
        public int Received { get; private set; }
        public int? PieceLength { get; private set; }
        public int? LastLength { get; private set; }
        public long LastActivity { get; private set; }

        // Empty pieces are refused, so an empty slot is one not yet received.
        public bool Has(int index) => !_pieces[index].IsEmpty;

        public void Add(Chunk chunk, long now)
        {
            _pieces[chunk.Index] = chunk.Data;
            if (chunk.Index == Count - 1)
            {
                LastLength = chunk.Data.Length;
            }
            else
            {
                PieceLength = chunk.Data.Length;
            }
            Received++;
            LastActivity = now;
        }

        /// <summary>The pieces in order as one sequence, read in place by the deserializer without joining them.</summary>
        public ReadOnlySequence<byte> Payload()
        {
            var first = new Segment(_pieces[0], null);
            var last = first;
            for (int i = 1; i < _pieces.Length; i++)
            {
                last = new Segment(_pieces[i], last);
            }
            return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> data, Segment? previous)
        {
            Memory = data;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }
}
