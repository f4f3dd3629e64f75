using System.Runtime.InteropServices;
using AkkaFed.Model.Data;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>Shards are views into one shared index array, never a copy per client.</summary>
public sealed class ShardsTests
{
    private static int[] ArrayBehind(ReadOnlyMemory<int> view) =>
        MemoryMarshal.TryGetArray(view, out var segment) ? segment.Array! : throw new InvalidOperationException("not an array view");

    [Fact]
    public void Partitions_become_views_into_one_array_with_the_same_samples()
    {
        int[][] partitions = [[4, 2], [], [7, 1, 9]];

        Shards shards = partitions;

        Assert.Equal(3, shards.Count);
        Assert.Equal(partitions, shards.Select(shard => shard.ToArray()));
        var shared = ArrayBehind(shards.Indices);
        Assert.All(shards, shard => Assert.Same(shared, ArrayBehind(shard)));
    }

    [Fact]
    public void Windows_are_a_disjoint_shuffle_while_the_samples_suffice()
    {
        var shards = Shards.Windows(count: 100, clients: 10, size: 10, seed: 3);

        var all = shards.SelectMany(shard => shard.ToArray()).ToArray();
        Assert.Equal(Enumerable.Range(0, 100), all.Order());
        Assert.NotEqual(Enumerable.Range(0, 100), all);
        Assert.Equal(all, Shards.Windows(100, 10, 10, seed: 3).SelectMany(shard => shard.ToArray()));
    }

    [Fact]
    public void More_clients_than_samples_share_samples_but_each_shard_is_distinct_and_valid()
    {
        var shards = Shards.Windows(count: 60, clients: 1_000, size: 6, seed: 1);

        Assert.Equal(1_000, shards.Count);
        var shared = ArrayBehind(shards.Indices);
        Assert.All(shards, shard =>
        {
            Assert.Equal(6, shard.Length);
            Assert.Equal(6, shard.ToArray().Distinct().Count());
            Assert.All(shard.ToArray(), index => Assert.InRange(index, 0, 59));
            Assert.Same(shared, ArrayBehind(shard));
        });
        // The index array stays the dataset's size, not clients x size.
        Assert.Equal(60 + 6 - 1, shards.Indices.Length);
        // The first pass and the second differ: windows shift by a sample each pass.
        Assert.NotEqual(shards[0].ToArray(), shards[10].ToArray());
    }

    [Fact]
    public void A_window_larger_than_the_dataset_is_refused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Shards.Windows(count: 5, clients: 2, size: 6, seed: 0));
        Assert.Contains("at least 6", error.Message);
    }
}
