using System.Collections;

namespace AkkaFed.Model.Data;

/// <summary>
/// Every client's shard as a view into one shared array of sample indices: client k's samples are
/// <c>Indices[Starts[k] .. Starts[k] + Lengths[k])</c>. A shard is a <see cref="ReadOnlyMemory{T}"/> slice,
/// never a copy, so a million clients cost two small integers each, not an array each.
/// </summary>
public sealed class Shards : IReadOnlyList<ReadOnlyMemory<int>>
{
    private readonly int[] _indices;
    private readonly int[] _starts;
    private readonly int[] _lengths;

    private Shards(int[] indices, int[] starts, int[] lengths)
    {
        _indices = indices;
        _starts = starts;
        _lengths = lengths;
    }

    /// <summary>Packs per-client index arrays (what the partitioners return) into one array of views.</summary>
    public static Shards FromPartitions(IReadOnlyList<int[]> partitions)
    {
        var starts = new int[partitions.Count];
        var lengths = new int[partitions.Count];
        var indices = new int[partitions.Sum(p => (long)p.Length)];
        int at = 0;
        for (int k = 0; k < partitions.Count; k++)
        {
            starts[k] = at;
            lengths[k] = partitions[k].Length;
            partitions[k].CopyTo(indices, at);
            at += lengths[k];
        }
        return new Shards(indices, starts, lengths);
    }

    public static implicit operator Shards(int[][] partitions) => FromPartitions(partitions);

    /// <summary>
    /// <paramref name="clients"/> shards of <paramref name="size"/> samples each over a seeded shuffle of
    /// <paramref name="count"/> samples. Client k's window starts at <c>k * size</c>: while
    /// <c>clients * size &lt;= count</c> the shards are disjoint (an IID partition); past that the windows wrap
    /// around, shifted by one sample per pass, so samples are shared by several clients. This is how to give
    /// 100,000 or 1,000,000 simulated clients a realistic shard each from one dataset.
    /// </summary>
    public static Shards Windows(int count, int clients, int size, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clients);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (size > count)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"a shard of {size} samples needs a dataset of at least {size}, not {count}");
        }
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        // The shuffle, then its first size-1 entries again, so every window is one contiguous slice.
        var indices = new int[count + size - 1];
        order.CopyTo(indices, 0);
        Array.Copy(order, 0, indices, count, size - 1);
        var starts = new int[clients];
        for (int k = 0; k < clients; k++)
        {
            long offset = (long)k * size;
            starts[k] = (int)((offset + offset / count) % count);
        }
        return new Shards(indices, starts, Enumerable.Repeat(size, clients).ToArray());
    }

    public int Count => _starts.Length;

    public ReadOnlyMemory<int> this[int index] => _indices.AsMemory(_starts[index], _lengths[index]);

    /// <summary>The one array every shard is a view into.</summary>
    public ReadOnlyMemory<int> Indices => _indices;

    public IEnumerator<ReadOnlyMemory<int>> GetEnumerator()
    {
        for (int k = 0; k < Count; k++)
        {
            yield return this[k];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
