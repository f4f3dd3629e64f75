using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Akka.Actor;

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
/// <para>Thread-safe: actors on any dispatcher rent and return concurrently.</para>
/// </remarks>
public sealed class WeightBuffers : IExtension
{
    /// <summary>Shorter arrays are cheap to allocate and are not pooled.</summary>
    public const int MinLength = 16 * 1024;

    /// <summary>Free arrays kept per length: enough for the messages a node handles at once.</summary>
    public const int KeptPerLength = 8;

    private static readonly object s_mark = new();

    private readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> _free = new();
    private readonly ConditionalWeakTable<float[], object> _rented = new();

    internal WeightBuffers()
    {
    }

    /// <summary>The pool of <paramref name="system"/>.</summary>
    public static WeightBuffers Get(ActorSystem system) => system.WithExtension<WeightBuffers, WeightBuffersProvider>();

    /// <summary>An array of exactly <paramref name="length"/> floats with unspecified contents.</summary>
    public float[] Rent(int length)
    {
        if (length < MinLength)
        {
            return new float[length];
        }
        if (!(_free.TryGetValue(length, out var free) && free.TryTake(out var array)))
        {
            array = GC.AllocateUninitializedArray<float>(length);
        }
        _rented.AddOrUpdate(array, s_mark);
        return array;
    }

    /// <summary>Takes back an array from <see cref="Rent"/>; any other array, or one already returned, is ignored.</summary>
    public void Return(float[]? array)
    {
        if (array is null || !_rented.Remove(array))
        {
            return;
        }
        var free = _free.GetOrAdd(array.Length, _ => new ConcurrentBag<float[]>());
        if (free.Count < KeptPerLength)
        {
            free.Add(array);
        }
    }
}

/// <summary>Makes each ActorSystem's <see cref="WeightBuffers"/>.</summary>
public sealed class WeightBuffersProvider : ExtensionIdProvider<WeightBuffers>
{
    public override WeightBuffers CreateExtension(ExtendedActorSystem system) => new();
}
