using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class ClientSamplingTests
{
    [Theory]
    [InlineData(100, 0.1, 1, 10)]
    [InlineData(100, 0.1, 20, 20)]
    [InlineData(80, 1.0, 1, 80)]
    [InlineData(5, 0.5, 10, 5)]
    [InlineData(3, 0.5, 1, 1)]
    public void The_sample_size_is_a_fraction_of_the_available_at_least_the_minimum(int available, double fraction, int min, int expected)
    {
        Assert.Equal(expected, ClientSampling.SampleSize(available, fraction, min));
    }

    [Fact]
    public void Selection_is_distinct_deterministic_and_changes_with_the_round()
    {
        var ids = Enumerable.Range(0, 1000).Select(i => $"c{i:D4}").ToArray();

        var first = ClientSampling.Select(ids, 50, seed: 1, round: 1);
        var again = ClientSampling.Select(ids, 50, seed: 1, round: 1);
        var next = ClientSampling.Select(ids, 50, seed: 1, round: 2);

        Assert.Equal(50, first.Distinct().Count());
        Assert.Equal(first, again);
        Assert.NotEqual(first, next);
        Assert.All(first, id => Assert.Contains(id, ids));
    }

    [Fact]
    public void Selection_is_roughly_uniform()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray();
        var counts = ids.ToDictionary(id => id, _ => 0);

        for (int round = 0; round < 2000; round++)
        {
            foreach (var id in ClientSampling.Select(ids, 3, seed: 5, round))
            {
                counts[id]++;
            }
        }

        // Each id is expected 600 times; binomial sd is about 20.
        Assert.All(counts.Values, count => Assert.InRange(count, 500, 700));
    }

    [Fact]
    public void Stable_seeds_do_not_depend_on_the_process()
    {
        // Pinned: string.GetHashCode would differ between runs; this must not.
        Assert.Equal(StableSeed.Mix(0, 1, "client-00001"), StableSeed.Mix(0, 1, "client-00001"));
        Assert.NotEqual(StableSeed.Mix(0, 1, "client-00001"), StableSeed.Mix(0, 2, "client-00001"));
        Assert.Equal(504756824, StableSeed.Mix(0, 1, "client-00001"));
    }

    /// <summary>FNV-1a over the 8 bytes of each input, byte by byte, then the finaliser: the definition.</summary>
    private static int ReferenceMix(int seed, int round, string label)
    {
        ulong hash = 14695981039346656037UL;
        foreach (ulong value in new[] { (ulong)(uint)seed, (ulong)(uint)round }.Concat(label.Select(c => (ulong)c)))
        {
            for (int b = 0; b < 8; b++)
            {
                hash ^= (value >> (8 * b)) & 0xff;
                hash *= 1099511628211UL;
            }
        }
        hash ^= hash >> 31;
        hash *= 0xbf58476d1ce4e5b9UL;
        hash ^= hash >> 29;
        return (int)(hash & 0x7fffffff);
    }

    [Theory]
    [InlineData("")]
    [InlineData("client-00001")]
    [InlineData("client-9999999/phase")]
    [InlineData("\u00e9t\u00e9 \u4e2d\uffff/x")]
    public void Stable_seeds_are_fnv_1a_over_each_inputs_bytes_and_a_label_in_two_parts_is_the_whole(string label)
    {
        label = System.Text.RegularExpressions.Regex.Unescape(label);
        foreach (var (seed, round) in new[] { (0, 0), (-1, 7), (int.MaxValue, int.MinValue) })
        {
            Assert.Equal(ReferenceMix(seed, round, label), StableSeed.Mix(seed, round, label));
            for (int cut = 0; cut <= label.Length; cut++)
            {
                Assert.Equal(ReferenceMix(seed, round, label), StableSeed.Mix(seed, round, label.AsSpan(0, cut), label.AsSpan(cut)));
            }
        }
    }

    [Fact]
    public void Over_commitment_asks_ceil_k_times_c_and_keeps_k_and_without_it_the_selection_is_unchanged()
    {
        var available = Enumerable.Range(0, 100).Select(i => $"client-{i:D5}").ToArray();
        var plain = new Sampling(0.1, 1, 0, Seed: 5);
        var over = plain with { Overcommit = 1.3 };

        Assert.Equal(10, plain.Fit(3, available).Length);
        Assert.Equal(13, over.Fit(3, available).Length);
        Assert.Equal((10, 10), (plain.Keep(100), over.Keep(100)));
        Assert.Equal(ClientSampling.Select(available, 10, 5, 3), plain.Fit(3, available));
        // Never more than are available.
        Assert.Equal(4, (plain with { FitFraction = 1, Overcommit = 2 }).Fit(3, available.Take(4).ToArray()).Length);
    }
}
