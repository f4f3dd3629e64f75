using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class FixedPointSumTests
{
    private static float[] RandomVector(Random random, int length, double magnitude) =>
        Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() - 0.5) * 2 * magnitude)).ToArray();

    private static float[] MeanOf(IEnumerable<(float[] Values, long Weight)> updates, int length, out int normalisations)
    {
        var sum = new FixedPointSum(length);
        foreach (var (values, weight) in updates)
        {
            sum.Add(values, weight);
        }
        normalisations = sum.Normalisations;
        return sum.Mean();
    }

    private static double[] SumOf(IEnumerable<(float[] Values, long Weight)> updates, int length)
    {
        var sum = new FixedPointSum(length);
        foreach (var (values, weight) in updates)
        {
            sum.Add(values, weight);
        }
        return sum.Sum();
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void Dyadic_values_average_exactly()
    {
        var sum = new FixedPointSum(3);

        sum.Add(new[] { 1f, 2f, 3f }, 1);
        sum.Add(new[] { 5f, 6f, -1f }, 3);

        // (1*[1,2,3] + 3*[5,6,-1]) / 4
        Assert.Equal(new[] { 4f, 5f, 0f }, sum.Mean());
        Assert.Equal(new[] { 16.0, 20.0, 0.0 }, sum.Sum());
        Assert.Equal(4, sum.TotalWeight);
        Assert.Equal(2, sum.Count);
    }

    [Fact]
    public void Any_arrival_order_gives_the_same_mean_to_the_last_bit()
    {
        // 1003 values: the vectorised body and the scalar tail both take part.
        var random = new Random(11);
        var updates = Enumerable.Range(0, 40)
            .Select(_ => (Values: RandomVector(random, 1003, random.NextDouble()), Weight: (long)random.Next(1, 5000)))
            .ToArray();
        var inOrder = MeanOf(updates, 1003, out _);

        for (int seed = 0; seed < 5; seed++)
        {
            var shuffled = updates.ToArray();
            new Random(seed).Shuffle(shuffled);

            Assert.Equal(Bits(inOrder), Bits(MeanOf(shuffled, 1003, out _)));
        }
        var reversed = updates.Reverse().ToArray();
        Assert.Equal(Bits(inOrder), Bits(MeanOf(reversed, 1003, out _)));
    }

    [Fact]
    public void Carrying_into_the_high_words_changes_no_bit_whatever_the_order()
    {
        // Terms near the per-update limit (|value| * weight up to 2^25) make the low words carry every few updates,
        // at different points for different orders; tiny ones give the sums more bits than a double holds.
        var random = new Random(5);
        var updates = Enumerable.Range(0, 120)
            .Select(k => k % 4 == 3
                ? (Values: RandomVector(random, 37, 1e-6), Weight: 1L)
                : (Values: RandomVector(random, 37, 1000), Weight: k % 3 == 0 ? 30_000L : random.Next(1, 30_000)))
            .ToArray();
        var inOrder = MeanOf(updates, 37, out int normalisations);
        Assert.True(normalisations > 0, "the test must trigger normalisation");
        var sumInOrder = SumOf(updates, 37);

        for (int seed = 0; seed < 8; seed++)
        {
            var shuffled = updates.ToArray();
            new Random(seed).Shuffle(shuffled);

            Assert.Equal(Bits(inOrder), Bits(MeanOf(shuffled, 37, out _)));
            // The double sums too, which would show a carried sum read differently for a different split.
            Assert.Equal(sumInOrder.Select(BitConverter.DoubleToInt64Bits), SumOf(shuffled, 37).Select(BitConverter.DoubleToInt64Bits));
        }

        // And the carried sum is still the weighted mean.
        double total = updates.Sum(u => (double)u.Weight);
        for (int i = 0; i < 37; i++)
        {
            double expected = updates.Sum(u => (double)u.Values[i] * u.Weight) / total;
            Assert.Equal(expected, inOrder[i], 1e-4);
        }
    }

    [Fact]
    public void The_mean_agrees_with_the_double_precision_weighted_mean()
    {
        var random = new Random(3);
        var updates = Enumerable.Range(0, 25)
            .Select(_ => (Values: RandomVector(random, 517, 0.01), Weight: (long)random.Next(1, 700)))
            .ToArray();

        var mean = MeanOf(updates, 517, out _);

        double total = updates.Sum(u => (double)u.Weight);
        for (int i = 0; i < mean.Length; i++)
        {
            double expected = updates.Sum(u => (double)u.Values[i] * u.Weight) / total;
            // Each term is rounded to 2^-32, so the sum is off by at most 25 / 2 * 2^-32; then one rounding to float.
            double tolerance = 25 * Math.ScaleB(1, -33) / total + Math.Abs(expected) * Math.ScaleB(1, -24);
            Assert.True(Math.Abs(mean[i] - expected) <= tolerance, $"[{i}] {mean[i]:R} vs {expected:R}");
        }
    }

    [Fact]
    public void The_vectorised_body_and_the_scalar_tail_round_alike()
    {
        // The same value at every position: positions 0..15 go through vectors, 16 through the scalar loop.
        var random = new Random(8);
        for (int trial = 0; trial < 200; trial++)
        {
            float value = (float)((random.NextDouble() - 0.5) * Math.ScaleB(1, random.Next(-40, 10)));
            var sum = new FixedPointSum(17);
            sum.Add(Enumerable.Repeat(value, 17).ToArray(), random.Next(1, 1000));
            sum.Add(Enumerable.Repeat(-value / 3, 17).ToArray(), random.Next(1, 1000));

            var mean = sum.Mean();

            Assert.All(mean, m => Assert.Equal(BitConverter.SingleToInt32Bits(mean[0]), BitConverter.SingleToInt32Bits(m)));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(20)]
    [InlineData(32)]
    public void An_update_out_of_range_is_refused_and_leaves_the_sum_unchanged(int position)
    {
        // position 32 is in the scalar tail of a 33-value vector, 0 and 20 in the vectorised body.
        var random = new Random(2);
        var good = Enumerable.Range(0, 3).Select(_ => RandomVector(random, 33, 1)).ToArray();
        var expected = new FixedPointSum(33);
        var sum = new FixedPointSum(33);
        foreach (var values in good)
        {
            expected.Add(values, 10);
            sum.Add(values, 10);
        }

        foreach (float bad in new[] { 1e6f, float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var values = RandomVector(random, 33, 1);
            values[position] = bad;
            // 1e6 * 100 examples is above |value| * weight = 2^26.
            var error = Assert.Throws<ArgumentException>(() => sum.Add(values, 100));
            Assert.Contains("range", error.Message);
        }

        Assert.Equal(3, sum.Count);
        Assert.Equal(30, sum.TotalWeight);
        Assert.Equal(Bits(expected.Mean()), Bits(sum.Mean()));
    }

    [Fact]
    public void The_limit_is_on_value_times_weight()
    {
        var sum = new FixedPointSum(1);

        sum.Add(new[] { (float)FixedPointSum.MaxWeightedValue }, 1);
        sum.Add(new[] { -(float)(FixedPointSum.MaxWeightedValue / 1024) }, 1024);

        Assert.Throws<ArgumentException>(() => sum.Add(new[] { (float)(FixedPointSum.MaxWeightedValue / 1024) }, 1025));
        Assert.Throws<ArgumentException>(() => sum.Add(new[] { MathF.BitIncrement((float)FixedPointSum.MaxWeightedValue) }, 1));
        Assert.Equal(0f, sum.Mean()[0]);
    }

    [Fact]
    public void Wrong_lengths_weights_and_an_empty_mean_are_refused()
    {
        var sum = new FixedPointSum(2);

        Assert.Throws<ArgumentException>(() => sum.Add(new float[3], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sum.Add(new float[2], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => sum.Add(new float[2], -4));
        Assert.Throws<InvalidOperationException>(() => sum.Mean());
        Assert.Throws<ArgumentOutOfRangeException>(() => new FixedPointSum(-1));
    }

    [Fact]
    public void A_disposed_sum_is_refused_and_a_reused_one_starts_from_zero()
    {
        var sum = new FixedPointSum(1000);
        sum.Add(Enumerable.Repeat(3f, 1000).ToArray(), 7);
        sum.Dispose();

        Assert.Throws<ObjectDisposedException>(() => sum.Add(new float[1000], 1));
        Assert.Throws<ObjectDisposedException>(() => sum.Mean());
        sum.Dispose();

        // Its words went back to the pool holding 21 * 2^32 each; a new sum must not see them.
        using var next = new FixedPointSum(1000);
        next.Add(Enumerable.Repeat(1f, 1000).ToArray(), 1);
        Assert.All(next.Sum(), value => Assert.Equal(1.0, value));
    }

    public static TheoryData<VectorWidth> VectorWidths => new() { VectorWidth.Bits128, VectorWidth.Bits256, VectorWidth.Bits512 };

    /// <summary>
    /// The same updates added at <paramref name="width"/>: the exact words after each, whether each was refused, and
    /// the largest-term bound as the carry count shows it.
    /// </summary>
    private static (List<Int128[]> Words, List<bool> Refused, int Normalisations) Run(
        VectorWidth width, int length, IEnumerable<(float[] Values, long Weight)> updates)
    {
        using var sum = new FixedPointSum(length, width);
        var words = new List<Int128[]>();
        var refused = new List<bool>();
        foreach (var (values, weight) in updates)
        {
            try
            {
                sum.Add(values, weight);
                refused.Add(false);
            }
            catch (ArgumentException)
            {
                refused.Add(true);
            }
            words.Add(sum.Words());
        }
        return (words, refused, sum.Normalisations);
    }

    private static void AssertSameAsScalar(VectorWidth width, int length, (float[] Values, long Weight)[] updates)
    {
        var scalar = Run(VectorWidth.Scalar, length, updates);
        var vector = Run(width, length, updates);

        Assert.Equal(scalar.Refused, vector.Refused);
        Assert.Equal(scalar.Normalisations, vector.Normalisations);
        for (int k = 0; k < updates.Length; k++)
        {
            Assert.True(scalar.Words[k].SequenceEqual(vector.Words[k]), $"{width}, length {length}: words differ after update {k}");
        }
    }

    [Theory]
    [MemberData(nameof(VectorWidths))]
    public void Every_vector_width_gives_the_scalar_words_on_random_data_at_every_length(VectorWidth width)
    {
        // Lengths below, at and around each width's 4, 8 and 16 floats, and a long one: every body and tail.
        var random = new Random(21);
        foreach (int length in new[] { 0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 1003 })
        {
            var updates = Enumerable.Range(0, 12)
                .Select(_ => (Values: RandomVector(random, length, Math.ScaleB(1, random.Next(-30, 8))), Weight: (long)random.Next(1, 100_000)))
                .ToArray();
            AssertSameAsScalar(width, length, updates);
        }
    }

    [Theory]
    [MemberData(nameof(VectorWidths))]
    public void Every_vector_width_gives_the_scalar_words_at_the_edges(VectorWidth width)
    {
        const int length = 37; // 2 x 16 + 5, 4 x 8 + 5, 9 x 4 + 1: a tail at every width
        float limit = (float)FixedPointSum.MaxWeightedValue;
        float tie = (float)Math.ScaleB(1, -33); // times 2^32 is 0.5: a tie, rounded to even
        var special = new[]
        {
            limit, -limit, MathF.BitIncrement(limit), -MathF.BitIncrement(limit), MathF.BitDecrement(limit),
            float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, float.Epsilon, -float.Epsilon,
            524_288f, -524_288f, MathF.BitDecrement(524_288f), MathF.BitIncrement(524_288f), // terms about 2^51
            tie, 3 * tie, -tie, -3 * tie, 5 * tie, float.MaxValue, float.MinValue, limit / 1024, limit / 3,
        };
        var random = new Random(4);
        var updates = new List<(float[] Values, long Weight)>();
        for (int k = 0; k < 400; k++)
        {
            var values = RandomVector(random, length, 1);
            // A few special values at random places, in the vector body or the tail.
            for (int j = random.Next(0, 4); j > 0; j--)
            {
                values[random.Next(length)] = special[random.Next(special.Length)];
            }
            long weight = random.Next(4) switch { 0 => 1, 1 => 1024, 2 => 3, _ => random.Next(1, 5000) };
            updates.Add((values, weight));
        }
        // Every special value alone at every position, weight 1: refused or added alike.
        foreach (float value in special)
        {
            for (int position = 0; position < length; position++)
            {
                var values = new float[length];
                values[position] = value;
                updates.Add((values, 1));
            }
        }
        // Enough terms near the limit to carry into the high words several times.
        for (int k = 0; k < 100; k++)
        {
            updates.Add((Enumerable.Range(0, length).Select(i => (i + k) % 2 == 0 ? limit : limit / 2).ToArray(), 1));
        }

        var scalar = Run(VectorWidth.Scalar, length, updates);
        Assert.Contains(true, scalar.Refused);
        Assert.Contains(false, scalar.Refused);
        Assert.True(scalar.Normalisations > 1, "the test must make the low words carry");
        AssertSameAsScalar(width, length, updates.ToArray());
    }

    [Fact]
    public void A_sum_uses_the_widest_vectors_the_hardware_accelerates()
    {
        var expected = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? VectorWidth.Bits512
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? VectorWidth.Bits256
            : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? VectorWidth.Bits128
            : VectorWidth.Scalar;

        Assert.Equal(expected, FixedPointSum.Widest);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FixedPointSum(1, (VectorWidth)64));
    }
}
