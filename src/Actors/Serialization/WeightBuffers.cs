using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace AkkaFed.Actors.Serialization;

/// <summary>
/// Exact-length <c>float[]</c>s for the weights that arrive over the wire, reused across messages. A fresh
/// multi-megabyte array is fresh pages from the kernel, and on a virtual machine touching them can cost more
/// than reading the message (measured: 0.3 GB/s deserializing into new arrays against several GB/s into reused ones).
/// </summary>
/// <remarks>
/// Only arrays handed out by <see cref="Rent"/> are taken back, so returning an array that was never rented
/// (the global weights a local simulation shares between its clients, say) does nothing. Whoever returns an
/// array must hold its last reference: the client after training on a request's weights, the server after
/// folding an update into its running sum. An array that is never returned is simply collected.
/// </remarks>
public static class WeightBuffers
{
    /// <summary>Shorter arrays are cheap to allocate and are not pooled.</summary>
    public const int MinLength = 16 * 1024;

    /// <summary>Free arrays kept per length: enough for the messages a node handles at once.</summary>
    public const int KeptPerLength = 8;

    private static readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> s_free = new();
    private static readonly ConditionalWeakTable<float[], object> s_rented = new();
    private static readonly object s_mark = new();

    /// <summary>An array of exactly <paramref name="length"/> floats with unspecified contents.</summary>
    public static float[] Rent(int length)
    {
        if (length < MinLength)
        {
            return new float[length];
        }
        if (!(s_free.TryGetValue(length, out var free) && free.TryTake(out var array)))
        {
            array = GC.AllocateUninitializedArray<float>(length);
        }
        s_rented.AddOrUpdate(array, s_mark);
        return array;
    }

    /// <summary>Takes back an array from <see cref="Rent"/>; any other array is ignored.</summary>
    public static void Return(float[]? array)
    {
        if (array is null || !s_rented.Remove(array))
        {
            return;
        }
        var free = s_free.GetOrAdd(array.Length, _ => new ConcurrentBag<float[]>());
        if (free.Count < KeptPerLength)
        {
            free.Add(array);
        }
    }
}
