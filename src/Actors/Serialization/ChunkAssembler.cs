using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.Serialization;
using Akka.Actor;

namespace AkkaFed.Actors.Serialization;

/// <summary>Limits that keep a <see cref="ChunkAssembler"/> (one per node) from holding unbounded memory.</summary>
public sealed record ChunkAssemblerOptions
{
    /// <summary>Largest message accepted; a transfer whose pieces imply more is rejected at its first piece.</summary>
    public long MaxTransferBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Most pieces one transfer may claim (its piece table is allocated when it starts).</summary>
    public int MaxPieces { get; init; } = 65_536;

    /// <summary>Most unfinished transfers; starting one more drops the least recently active.</summary>
    public int MaxInFlight { get; init; } = 1024;

    /// <summary>Most bytes all unfinished transfers hold together; beyond it the least recently active others are dropped.</summary>
    public long MaxBufferedBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>An unfinished transfer that received nothing for this long is dropped.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromMinutes(2);

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTransferBytes, nameof(MaxTransferBytes));
        if (MaxTransferBytes > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTransferBytes), MaxTransferBytes,
                $"a message is serialized into one array, so at most {Array.MaxLength} bytes");
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPieces, nameof(MaxPieces));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxInFlight, nameof(MaxInFlight));
        if (MaxBufferedBytes < MaxTransferBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBufferedBytes), MaxBufferedBytes,
                $"must hold at least one whole transfer ({nameof(MaxTransferBytes)} = {MaxTransferBytes})");
        }
        if (MaxAge <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxAge), MaxAge, "must be positive");
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
/// <para>A bad piece never throws: <c>TryAdd</c> returns false, reports the problem as a
/// <see cref="SerializationException"/>, counts it in <see cref="Failed"/> and forgets that one transfer (it can no
/// longer be trusted), leaving all other transfers intact. Throwing would restart the owning actor and lose them.
/// Later pieces of a failed transfer start a fresh one that never completes and is dropped as stale.</para>
/// <para>Unfinished transfers are dropped, and counted in <see cref="Dropped"/>, when idle longer than
/// <see cref="ChunkAssemblerOptions.MaxAge"/> (checked whenever a new transfer starts, or on <see cref="DropStale()"/>),
/// and when <see cref="ChunkAssemblerOptions.MaxInFlight"/> or <see cref="ChunkAssemblerOptions.MaxBufferedBytes"/>
/// would be exceeded (least recently active first).</para>
/// <para>Every piece is admitted in one place, <see cref="Admit"/>, which knows the sender of every transfer held: a
/// per-sender quota is a tally of <c>Partial.Bytes</c> by <c>TransferKey.Sender</c> checked there. Expiry by time
/// alone (without waiting for a new transfer) is the owning actor calling <see cref="DropStale()"/> on a timer.</para>
/// </remarks>
public sealed class ChunkAssembler
{
    private readonly WeightBuffers _buffers;
    private readonly ChunkAssemblerOptions _options;
    private readonly TimeProvider _time;
    private readonly Dictionary<TransferKey, Partial> _partials = new();

    /// <param name="buffers">The pool of the node's ActorSystem, which the weights of joined messages come from.</param>
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

    /// <summary>Bytes held by unfinished transfers now.</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>Messages joined and deserialized so far.</summary>
    public long Completed { get; private set; }

    /// <summary>Pieces rejected so far (each also ends its transfer if one was under way).</summary>
    public long Failed { get; private set; }

    /// <summary>Unfinished transfers dropped so far for being idle too long or for lack of room.</summary>
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
        var key = new TransferKey(sender?.Path, chunk.Recipient, chunk.TransferId);
        _partials.TryGetValue(key, out var partial);

        rejection = Check(chunk, partial);
        if (rejection is not null)
        {
            Fail(key, partial);
            return false;
        }

        if (chunk.Count == 1)
        {
            return Complete(chunk.Manifest, new ReadOnlySequence<byte>(chunk.Data), chunk.TransferId, out message, out bytes, out rejection);
        }

        partial = Admit(key, partial, chunk);
        if (partial.Received < partial.Count)
        {
            return false;
        }

        _partials.Remove(key);
        BufferedBytes -= partial.Bytes;
        return Complete(partial.Manifest, partial.Payload(), chunk.TransferId, out message, out bytes, out rejection);
    }

    /// <summary>
    /// Holds a piece that passed <see cref="Check"/>, starting its transfer if it is the first, and makes room within
    /// the node's limits by dropping the least recently active other transfers.
    /// </summary>
    private Partial Admit(TransferKey key, Partial? partial, Chunk chunk)
    {
        long now = _time.GetTimestamp();
        if (partial is null)
        {
            DropStale(_options.MaxAge);
            if (_partials.Count >= _options.MaxInFlight)
            {
                DropLeastRecent(except: null);
            }
            partial = new Partial(chunk.Manifest, chunk.Count);
            _partials.Add(key, partial);
        }
        partial.Add(chunk, now);
        BufferedBytes += chunk.Data.Length;
        bool room = true;
        while (room && BufferedBytes > _options.MaxBufferedBytes)
        {
            room = DropLeastRecent(except: partial);
        }
        return partial;
    }

    /// <summary>Drops unfinished transfers idle longer than the configured maximum age; returns how many.</summary>
    public int DropStale() => DropStale(_options.MaxAge);

    /// <summary>Drops unfinished transfers idle longer than <paramref name="maxAge"/>; returns how many.</summary>
    public int DropStale(TimeSpan maxAge)
    {
        List<TransferKey>? stale = null;
        foreach (var (key, partial) in _partials)
        {
            if (_time.GetElapsedTime(partial.LastActivity) > maxAge)
            {
                (stale ??= new()).Add(key);
            }
        }
        if (stale is null)
        {
            return 0;
        }
        foreach (var key in stale)
        {
            Drop(key);
        }
        return stale.Count;
    }

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
        // The smallest total consistent with what is known so far.
        long claimed = pieceLength is { } size
            ? (long)(chunk.Count - 1) * size + (lastLength ?? 1)
            : length;
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

    private void Fail(TransferKey key, Partial? partial)
    {
        Failed++;
        if (partial is not null)
        {
            _partials.Remove(key);
            BufferedBytes -= partial.Bytes;
        }
    }

    private void Drop(TransferKey key)
    {
        if (_partials.Remove(key, out var partial))
        {
            BufferedBytes -= partial.Bytes;
            Dropped++;
        }
    }

    private bool DropLeastRecent(Partial? except)
    {
        TransferKey? oldest = null;
        long oldestActivity = long.MaxValue;
        foreach (var (key, partial) in _partials)
        {
            if (partial != except && partial.LastActivity < oldestActivity)
            {
                oldest = key;
                oldestActivity = partial.LastActivity;
            }
        }
        if (oldest is not { } victim)
        {
            return false;
        }
        Drop(victim);
        return true;
    }

    private sealed class Partial(string manifest, int count)
    {
        private readonly ReadOnlyMemory<byte>[] _pieces = new ReadOnlyMemory<byte>[count];

        public string Manifest { get; } = manifest;
        public int Count { get; } = count;
        public int Received { get; private set; }
        public long Bytes { get; private set; }
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
            Bytes += chunk.Data.Length;
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
