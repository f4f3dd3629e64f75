using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class RobustAggregationTests
{
    [Fact]
    public void Median_of_an_odd_count_is_the_middle_value()
    {
        var updates = new[] { new[] { 1f, 5f, -2f }, new[] { 3f, -1f, 0f }, new[] { 2f, 2f, 7f } };

        var median = RobustAggregation.Median(updates);

        // Per coordinate: {1,3,2} -> 2, {5,-1,2} -> 2, {-2,0,7} -> 0.
        Assert.Equal(new[] { 2f, 2f, 0f }, median);
    }

    [Fact]
    public void Median_of_an_even_count_is_the_mean_of_the_middle_two()
    {
        var updates = new[] { new[] { 1f, 10f }, new[] { 4f, -2f }, new[] { 2f, 0f }, new[] { 8f, 3f } };

        var median = RobustAggregation.Median(updates);

        // Sorted: {1,2,4,8} -> (2+4)/2 = 3; {-2,0,3,10} -> (0+3)/2 = 1.5.
        Assert.Equal(new[] { 3f, 1.5f }, median);
    }

    [Fact]
    public void Median_with_ties_returns_the_tied_value()
    {
        var updates = new[] { new[] { 5f, 1f }, new[] { 5f, 1f }, new[] { 2f, 1f }, new[] { 7f, 9f } };

        var median = RobustAggregation.Median(updates);

        // Sorted: {2,5,5,7} -> 5; {1,1,1,9} -> 1.
        Assert.Equal(new[] { 5f, 1f }, median);
    }

    [Fact]
    public void Median_of_negative_values()
    {
        var updates = new[] { new[] { -1f, -8f }, new[] { -4f, -2f }, new[] { -9f, -5f } };

        var median = RobustAggregation.Median(updates);

        // {-1,-4,-9} -> -4; {-8,-2,-5} -> -5.
        Assert.Equal(new[] { -4f, -5f }, median);
    }

    [Fact]
    public void Median_ignores_a_single_huge_outlier_that_moves_the_mean()
    {
        var updates = new[] { new[] { 1f }, new[] { 2f }, new[] { 3f }, new[] { 4f }, new[] { 1e30f } };

        var median = RobustAggregation.Median(updates);

        Assert.Equal(new[] { 3f }, median);
    }

    [Fact]
    public void Aggregators_leave_their_inputs_untouched()
    {
        var random = new Random(5);
        var updates = Enumerable.Range(0, 7).Select(_ => RandomValues(random, 37)).ToArray();
        var copies = updates.Select(update => (float[])update.Clone()).ToArray();

        RobustAggregation.Median(updates);
        RobustAggregation.TrimmedMean(updates, 0.2);
        RobustAggregation.MultiKrum(updates, byzantine: 2, keep: 3);
        RobustAggregation.BoundNorm(updates[0], 0.1);

        Assert.Equal(copies, updates);
    }

    /// <summary>
    /// Against a naive reference: each coordinate's values gathered into a fresh array and fully sorted.
    /// Counts around powers of two exercise the pruned sorting network; 100,003 values leave a short last block.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(10)]
    [InlineData(17)]
    [InlineData(1)]
    public void Median_and_trimmed_mean_of_large_inputs_match_a_per_coordinate_sort(int count)
    {
        var random = new Random(count);
        var updates = Enumerable.Range(0, count).Select(_ => RandomValues(random, 100_003)).ToArray();
        // A few exact ties, as quantised updates produce.
        updates[0][17] = updates[count - 1][17] = 0.25f;

        var median = RobustAggregation.Median(updates);
        var trimmed = RobustAggregation.TrimmedMean(updates, 0.2);

        int trim = (int)Math.Floor(0.2 * count);
        for (int i = 0; i < median.Length; i++)
        {
            var column = updates.Select(update => update[i]).Order().ToArray();
            float expectedMedian = count % 2 == 1
                ? column[count / 2]
                : (float)(((double)column[count / 2 - 1] + column[count / 2]) / 2);
            Assert.Equal(expectedMedian, median[i]);
            float expectedTrimmed = (float)column.Skip(trim).Take(count - 2 * trim).Select(value => (double)value).Average();
            Assert.Equal(expectedTrimmed, trimmed[i], 6);
        }
    }

    /// <summary>
    /// The 0-1 principle: a comparator network sorts every input if it sorts every input of zeros and ones,
    /// so running all 2^n bit patterns through it checks the network exhaustively for every count up to 16.
    /// </summary>
    [Fact]
    public void Sorting_network_sorts_every_zero_one_input()
    {
        for (int count = 1; count <= 16; count++)
        {
            var network = RobustAggregation.SortingNetwork(count);
            for (int pattern = 0; pattern < 1 << count; pattern++)
            {
                int bits = pattern;
                foreach (var (low, high) in network)
                {
                    // A one below a zero swaps: bit i is position i of the column, ascending.
                    if (((bits >> low) & 1) == 1 && ((bits >> high) & 1) == 0)
                    {
                        bits ^= (1 << low) | (1 << high);
                    }
                }
                int zeros = count - System.Numerics.BitOperations.PopCount((uint)pattern);
                int sorted = ((1 << count) - 1) & ~((1 << zeros) - 1);
                Assert.True(bits == sorted, $"{count} inputs: pattern {pattern} came out as {bits}");
            }
        }
        // Batcher's counts for powers of two: the pruning only ever removes comparators.
        Assert.Equal(63, RobustAggregation.SortingNetwork(16).Length);
        Assert.Equal(1471, RobustAggregation.SortingNetwork(128).Length);
    }

    [Fact]
    public void Trimmed_mean_with_no_trimming_is_the_plain_mean()
    {
        var updates = new[] { new[] { 1f, 2f }, new[] { 3f, 6f }, new[] { 8f, 1f } };

        var mean = RobustAggregation.TrimmedMean(updates, 0);

        Assert.Equal(new[] { 4f, 3f }, mean);
    }

    [Fact]
    public void Trimmed_mean_of_five_at_one_fifth_drops_exactly_one_value_each_side()
    {
        var updates = new[]
        {
            new[] { 100f, 0f }, new[] { 1f, 4f }, new[] { 2f, 4f }, new[] { 3f, 7f }, new[] { -50f, 1f },
        };

        var trimmed = RobustAggregation.TrimmedMean(updates, 0.2);
        var untrimmed = RobustAggregation.TrimmedMean(updates, 0.19);

        // floor(0.2 * 5) = 1: {-50,1,2,3,100} -> mean(1,2,3) = 2; {0,1,4,4,7} -> mean(1,4,4) = 3.
        Assert.Equal(new[] { 2f, 3f }, trimmed);
        // floor(0.19 * 5) = 0: the plain mean, 56/5 and 16/5.
        Assert.Equal(new[] { 11.2f, 3.2f }, untrimmed);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void Trimmed_mean_refuses_a_fraction_outside_zero_to_one_half(double beta)
    {
        var updates = new[] { new[] { 1f }, new[] { 2f }, new[] { 3f } };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => RobustAggregation.TrimmedMean(updates, beta));

        Assert.Contains("trimmed-fraction", error.Message);
    }

    /// <summary>
    /// Five updates, f = 1, so each score sums the n - f - 2 = 2 smallest squared distances to the others:
    ///   u0 = (0,0)  u1 = (3,0)  u2 = (0,6)  u3 = (3,3)  u4 = (30,30), the outlier.
    ///   d01 = 9    d02 = 36   d03 = 18   d04 = 1800
    ///   d12 = 45   d13 = 9    d14 = 1629
    ///   d23 = 18   d24 = 1476
    ///   d34 = 1458
    ///   s0 = 9 + 18 = 27      s1 = 9 + 9 = 18       s2 = 18 + 36 = 54
    ///   s3 = 9 + 18 = 27      s4 = 1458 + 1476 = 2934
    /// </summary>
    private static readonly float[][] KrumExample =
    {
        new[] { 0f, 0f }, new[] { 3f, 0f }, new[] { 0f, 6f }, new[] { 3f, 3f }, new[] { 30f, 30f },
    };

    [Fact]
    public void Krum_scores_match_the_hand_computed_distances()
    {
        var scores = RobustAggregation.KrumScores(KrumExample, byzantine: 1);

        Assert.Equal(new[] { 27.0, 18.0, 54.0, 27.0, 2934.0 }, scores);
    }

    [Fact]
    public void Krum_selects_the_update_with_the_lowest_score()
    {
        var (aggregate, selected) = RobustAggregation.Krum(KrumExample, byzantine: 1);

        Assert.Equal(1, selected);
        Assert.Equal(new[] { 3f, 0f }, aggregate);
        Assert.NotSame(KrumExample[1], aggregate);
    }

    [Fact]
    public void Multi_krum_averages_the_best_scored_updates_breaking_ties_by_lower_index()
    {
        var (aggregate, selected) = RobustAggregation.MultiKrum(KrumExample, byzantine: 1, keep: 3);

        // s1 = 18 first, then s0 = s3 = 27 in index order; s2 = 54 and the outlier are left out.
        Assert.Equal(new[] { 1, 0, 3 }, selected);
        // ((3,0) + (0,0) + (3,3)) / 3
        Assert.Equal(new[] { 2f, 1f }, aggregate);
    }

    [Fact]
    public void Krum_scores_of_long_updates_match_a_double_precision_reference()
    {
        var random = new Random(9);
        var updates = Enumerable.Range(0, 7).Select(_ => RandomValues(random, 20_011)).ToArray();

        var scores = RobustAggregation.KrumScores(updates, byzantine: 2);

        for (int i = 0; i < updates.Length; i++)
        {
            var distances = Enumerable.Range(0, updates.Length).Where(j => j != i)
                .Select(j => updates[i].Zip(updates[j], (a, b) => ((double)a - b) * ((double)a - b)).Sum())
                .Order().ToArray();
            double expected = distances.Take(7 - 2 - 2).Sum();
            Assert.Equal(expected, scores[i], expected * 1e-12);
        }
    }

    [Fact]
    public void Krum_refuses_fewer_than_two_f_plus_three_updates()
    {
        var updates = KrumExample.Take(4).ToArray();

        var error = Assert.Throws<ArgumentException>(() => RobustAggregation.Krum(updates, byzantine: 1));

        Assert.Contains("krum-byzantine", error.Message);
        Assert.Contains("2f + 3 = 5", error.Message);
        Assert.Contains("got 4", error.Message);
    }

    [Fact]
    public void Multi_krum_refuses_to_keep_more_than_n_minus_f_or_none()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RobustAggregation.MultiKrum(KrumExample, byzantine: 1, keep: 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => RobustAggregation.MultiKrum(KrumExample, byzantine: 1, keep: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RobustAggregation.Krum(KrumExample, byzantine: -1));
    }

    [Fact]
    public void L2_norm_accumulates_in_double()
    {
        Assert.Equal(5.0, RobustAggregation.L2Norm(new[] { 3f, 4f }));
        // 1003 ones cover the vector loop and its scalar tail.
        Assert.Equal(Math.Sqrt(1003), RobustAggregation.L2Norm(Enumerable.Repeat(1f, 1003).ToArray()), 12);
    }

    [Fact]
    public void Bound_norm_scales_a_large_update_down_to_the_bound()
    {
        var random = new Random(2);
        var update = RandomValues(random, 1001).Select(value => value * 10).ToArray();
        double norm = RobustAggregation.L2Norm(update);

        var bounded = RobustAggregation.BoundNorm(update, 1.5);

        Assert.True(norm > 1.5);
        double boundedNorm = RobustAggregation.L2Norm(bounded);
        Assert.True(boundedNorm <= 1.5, $"norm {boundedNorm} exceeds the bound");
        Assert.Equal(1.5, boundedNorm, 1.5 * 1e-6);
        // A scaled copy: the direction is kept.
        Assert.Equal(update[0] * 1.5 / norm, bounded[0], 1e-6);
        // 0.6f and 0.8f have a norm just above 1 in double: the bound holds only after shrinking by an ulp.
        var unit = RobustAggregation.BoundNorm(new[] { 3f, 4f }, 1.0);
        Assert.Equal(new[] { 0.6f, 0.8f }, unit, new FloatTolerance(1e-7f));
        Assert.True(RobustAggregation.L2Norm(unit) <= 1.0);
    }

    [Fact]
    public void Bound_norm_leaves_a_small_update_alone_as_a_copy()
    {
        var update = new[] { 0.3f, -0.4f };

        var bounded = RobustAggregation.BoundNorm(update, 1.0);

        Assert.Equal(update, bounded);
        Assert.NotSame(update, bounded);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Bound_norm_refuses_a_bound_that_is_not_positive(double maxNorm)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RobustAggregation.BoundNorm(new[] { 1f }, maxNorm));
    }

    [Fact]
    public void Updates_of_different_lengths_or_none_are_refused()
    {
        var mismatched = new[] { new float[3], new float[3], new float[2], new float[3], new float[3] };

        Assert.Throws<ArgumentException>(() => RobustAggregation.Median(mismatched));
        Assert.Throws<ArgumentException>(() => RobustAggregation.TrimmedMean(mismatched, 0.1));
        Assert.Throws<ArgumentException>(() => RobustAggregation.Krum(mismatched, byzantine: 1));
        Assert.Throws<ArgumentException>(() => RobustAggregation.Median(Array.Empty<float[]>()));
    }

    private static float[] RandomValues(Random random, int length) =>
        Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float value) => 0;
    }
}
