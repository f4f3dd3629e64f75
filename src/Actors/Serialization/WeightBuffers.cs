using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Configuration;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// One ActorSystem's pool of exact-length <c>float[]</c>s for the weights that arrive over the wire, reused across
/// messages. A fresh multi-megabyte array is fresh pages from the kernel, and on a virtual machine touching them can
/// cost more than reading the message (measured: 0.3 GB/s deserializing into new arrays against several GB/s into
/// reused ones). An Akka extension, so two federations in one process never share (or contend for) a pool.
/// </summary>
/// <remarks>
/// <para>The serializer and the node's <see cref="ChunkReassembler"/> rent from their system's pool; whoever holds the
/// last reference returns the array: the client after training on a request's weights, the server after folding an
/// update into its running sum. Only arrays this pool handed out are taken back, so returning an array that was never
/// rented (the global weights a local simulation shares between its clients, say) does nothing. An array that is
/// never returned is simply collected.</para>
/// <para>Bounded: it keeps at most <see cref="KeptPerLength"/> free arrays of a length, of at most
/// <see cref="MaxLengths"/> lengths, and <see cref="MaxPooledBytes"/> in all. Beyond those, arrays of the length
/// least recently rented or returned are let go first, so a model's length stays while lengths used once (another
/// model in a test, a benchmark's sizes) go.</para>
/// <para>Thread-safe: actors on any dispatcher rent and return concurrently, a message at a time, so one lock does.</para>
/// </remarks>
public sealed class WeightBuffers : IExtension
{
    /// <summary>Shorter arrays are cheap to allocate and are not pooled.</summary>
    public const int MinLength = 16 * 1024;

    /// <summary>Free arrays kept per length: enough for the messages a node handles at once.</summary>
    public const int KeptPerLength = 8;

    /// <summary>Most lengths kept: a federation has one model, so one length, and a process seldom more than a few.</summary>
    public const int MaxLengths = 8;

    /// <summary>The HOCON setting of <see cref="MaxPooledBytes"/>; absent means <see cref="DefaultMaxPooledBytes"/>.</summary>
    public const string MaxPooledBytesSetting = "akkafed.transport.max-pooled-bytes";

    public const long DefaultMaxPooledBytes = 256L * 1024 * 1024;

    private static readonly object s_mark = new();

    private readonly object _lock = new();
    // The free arrays of each length, in the order the lengths were last used: least recently first.
    private readonly LinkedList<Shelf> _byUse = new();
    private readonly Dictionary<int, LinkedListNode<Shelf>> _shelves = new();
    private readonly ConditionalWeakTable<float[], object> _rented = new();
    private long _pooledBytes;

    internal WeightBuffers(long maxPooledBytes)
    {
        MaxPooledBytes = maxPooledBytes;
    }

    /// <summary>The pool of <paramref name="system"/>.</summary>
    public static WeightBuffers Get(ActorSystem system) => system.WithExtension<WeightBuffers, WeightBuffersProvider>();

    /// <summary>Most bytes of free arrays kept, <see cref="MaxPooledBytesSetting"/>; 0 keeps none.</summary>
    public long MaxPooledBytes { get; }

    /// <summary>An array of exactly <paramref name="length"/> floats with unspecified contents.</summary>
    public float[] Rent(int length)
    {
        if (length < MinLength)
        {
            return new float[length];
        }
        float[]? array = null;
        lock (_lock)
        {
            if (_shelves.TryGetValue(length, out var shelf))
            {
                array = Take(shelf);
            }
        }
        array ??= GC.AllocateUninitializedArray<float>(length);
        _rented.AddOrUpdate(array, s_mark);
        return array;
    }

    /// <summary>Takes back an array from <see cref="Rent"/>; any other array, or one already returned, is ignored.</summary>
    public void Return(float[]? array)
    {
        if (array is null || !_rented.Remove(array) || Bytes(array) > MaxPooledBytes)
        {
            return;
        }
        lock (_lock)
        {
            if (_shelves.TryGetValue(array.Length, out var shelf))
            {
                _byUse.Remove(shelf);
                _byUse.AddLast(shelf);
            }
            else
            {
                shelf = _byUse.AddLast(new Shelf());
                _shelves.Add(array.Length, shelf);
            }
            if (shelf.Value.Count >= KeptPerLength)
            {
                return;
            }
            shelf.Value.Push(array);
            _pooledBytes += Bytes(array);
            while (_pooledBytes > MaxPooledBytes || _shelves.Count > MaxLengths)
            {
                Take(_byUse.First!);
            }
        }
    }

    /// <summary>One free array off <paramref name="shelf"/>, forgetting the length when it was the last.</summary>
    private float[] Take(LinkedListNode<Shelf> shelf)
    {
        var array = shelf.Value.Pop();
        _pooledBytes -= Bytes(array);
        if (shelf.Value.Count == 0)
        {
            _byUse.Remove(shelf);
            _shelves.Remove(array.Length);
        }
        return array;
    }

    private static long Bytes(float[] array) => array.LongLength * sizeof(float);

    private sealed class Shelf : Stack<float[]>;
}

/// <summary>Makes each ActorSystem's <see cref="WeightBuffers"/>, bounded by <see cref="WeightBuffers.MaxPooledBytesSetting"/>.</summary>
public sealed class WeightBuffersProvider : ExtensionIdProvider<WeightBuffers>
{
    public override WeightBuffers CreateExtension(ExtendedActorSystem system)
    {
        long bound = system.Settings.Config.GetByteSize(WeightBuffers.MaxPooledBytesSetting, null) ?? WeightBuffers.DefaultMaxPooledBytes;
        return bound >= 0
            ? new WeightBuffers(bound)
            : throw new ConfigurationException($"{WeightBuffers.MaxPooledBytesSetting} must be at least 0, got {bound}");
    }
}
