using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>
/// The codecs: int8 and int4 are unbiased and reproducible, fp16 rounds to nearest, top-k keeps the largest and with
/// error feedback sends all the mass in the end, the streaming sum adds a compressed vector as its decoding, and
/// parts from the wire are checked before anything is decoded.
/// </summary>
public sealed class CompressionTests
{
    private static float[] Values(int length, int seed, float scale = 0.05f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static CompressionOptions Options(Codec codec, int blockSize = 64) => new(codec, BlockSize: blockSize);

    [Theory]
    [InlineData(Codec.Int8)]
    [InlineData(Codec.Int4)]
    public void Stochastic_rounding_is_unbiased_in_expectation(Codec codec)
    {
        // One block whose largest value fixes the scale; every other value sits between two levels.
        var values = Values(200, seed: 1);
        values[0] = 0.05f;
        const int Draws = 4_000;
        var mean = new double[values.Length];
        for (int seed = 0; seed < Draws; seed++)
        {
            var decoded = Options(codec, blockSize: 256).Encode(values, seed).ToFloats();
            for (int i = 0; i < mean.Length; i++)
            {
                mean[i] += decoded[i] / (double)Draws;
            }
        }

        // Each draw is off by at most one step, so the mean of 4,000 has a standard error of at most step/126.
        double step = 0.05 / Codecs.Levels(codec);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.InRange(mean[i] - values[i], -5 * step / 126, 5 * step / 126);
        }
        // Not merely nearest rounding: a value between levels decodes to both of its neighbours.
        var first = Options(codec, 256).Encode(values, 0).ToFloats();
        var other = Options(codec, 256).Encode(values, 1).ToFloats();
        Assert.NotEqual(first, other);
    }

    [Theory]
    [InlineData(Codec.Fp16)]
    [InlineData(Codec.Int8)]
    [InlineData(Codec.Int4)]
    [InlineData(Codec.TopK)]
    public void The_same_values_and_seed_give_the_same_bits(Codec codec)
    {
        var values = Values(3_000, seed: 2);

        var first = Options(codec).Encode(values, seed: 42);
        var again = Options(codec).Encode(values, seed: 42);

        Assert.Equal(first.Codes, again.Codes);
        Assert.Equal(first.Scales, again.Scales);
        Assert.Equal(first.Indices, again.Indices);
        Assert.Equal(first.Values, again.Values);
        Assert.Equal(first.ToFloats(), again.ToFloats());
    }

    [Theory]
    [InlineData(Codec.Int8, 127)]
    [InlineData(Codec.Int4, 7)]
    public void A_quantized_value_is_within_one_step_of_its_blocks_scale(Codec codec, int levels)
    {
        var values = Values(1_000, seed: 3);
        values[999] = 0; // the last block, 1000 - 960 = 40 values, is short

        var encoded = Options(codec).Encode(values, seed: 7);
        var decoded = encoded.ToFloats();

        Assert.Equal(16, encoded.Scales!.Length);
        for (int i = 0; i < values.Length; i++)
        {
            float blockMax = values.Skip(i / 64 * 64).Take(64).Max(MathF.Abs);
            Assert.Equal(blockMax / levels, encoded.Scales[i / 64]);
            Assert.True(MathF.Abs(decoded[i] - values[i]) <= blockMax / levels * 1.0001f, $"value {i}: {values[i]} decoded as {decoded[i]}");
        }
        Assert.Equal(0f, decoded[999]);
    }

    [Fact]
    public void Fp16_rounds_to_the_nearest_half_and_refuses_what_it_cannot_hold()
    {
        var values = Values(500, seed: 4, scale: 100f);

        var decoded = Options(Codec.Fp16).Encode(values, seed: 0).ToFloats();

        Assert.Equal(values.Select(v => (float)(Half)v), decoded);
        Assert.Equal(values.Max(v => MathF.Abs((float)(Half)v)), Options(Codec.Fp16).Encode(values, seed: 0).MaxAbs());
        // The decoding table holds every half as the conversion gives it, NaN and infinity too.
        var table = Codecs.HalfTable.Value;
        Assert.All(Enumerable.Range(0, 1 << 16), bits => Assert.Equal(BitConverter.SingleToInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)bits)),
            BitConverter.SingleToInt32Bits(table[bits])));
        Assert.Throws<ArgumentException>(() => Options(Codec.Fp16).Encode(new[] { 70_000f }, 0));
    }

    [Fact]
    public void Top_k_keeps_the_largest_magnitudes_in_index_order_with_ties_to_the_lower_index()
    {
        float[] values = [0.1f, -0.5f, 0.3f, 0.5f, -0.3f, 0.0f, 0.2f, 0.5f];

        var kept = new CompressionOptions(Codec.TopK, TopKFraction: 0.5).Encode(values, seed: 0);

        // k = 4: the three 0.5s, then of the two 0.3s the lower index.
        Assert.Equal(new[] { 1, 2, 3, 7 }, kept.Indices);
        Assert.Equal(new[] { -0.5f, 0.3f, 0.5f, 0.5f }, kept.Values);
        Assert.Equal(new[] { 0f, -0.5f, 0.3f, 0.5f, 0f, 0f, 0f, 0.5f }, kept.ToFloats());
    }

    [Fact]
    public void Top_k_agrees_with_a_full_sort_on_a_large_vector()
    {
        var values = Values(100_000, seed: 5);
        var options = new CompressionOptions(Codec.TopK, TopKFraction: 0.013);

        var kept = options.Encode(values, seed: 0);

        var expected = Enumerable.Range(0, values.Length).OrderByDescending(i => MathF.Abs(values[i])).ThenBy(i => i)
            .Take(options.KeptOf(values.Length)).Order().ToArray();
        Assert.Equal(1_300, kept.Indices!.Length);
        Assert.Equal(expected, kept.Indices);
    }

    [Fact]
    public void Top_k_with_error_feedback_sends_all_the_mass_over_enough_rounds()
    {
        // The same update every round: with error feedback what is held back grows until it is sent, so the
        // total sent approaches rounds x update; without, the small values are never sent at all.
        var update = Values(1_000, seed: 6);
        var withFeedback = new UplinkEncoder();
        var without = new UplinkEncoder();
        var options = new CompressionOptions(Codec.TopK, TopKFraction: 0.05);
        const int Rounds = 1_000;
        var sent = new double[update.Length];
        var sentWithout = new double[update.Length];
        for (int round = 0; round < Rounds; round++)
        {
            var a = withFeedback.Encode(update, options, seed: round).ToFloats();
            var b = without.Encode(update, options with { ErrorFeedback = false }, seed: round).ToFloats();
            for (int i = 0; i < update.Length; i++)
            {
                sent[i] += a[i];
                sentWithout[i] += b[i];
            }
        }

        // Exactly: everything sent plus what is still held back is everything there was to send.
        for (int i = 0; i < update.Length; i++)
        {
            Assert.Equal(Rounds * (double)update[i], sent[i] + withFeedback.Residual![i], 1e-3);
            // And what is held back stays bounded (a fraction of the total), so the share sent tends to 1.
            Assert.InRange(Math.Abs(withFeedback.Residual[i]), 0, 0.05 * Rounds * Math.Abs(update[i]) + 1.0);
        }
        double massSent = sent.Sum(Math.Abs) / (Rounds * update.Sum(v => Math.Abs((double)v)));
        double massWithout = sentWithout.Sum(Math.Abs) / (Rounds * update.Sum(v => Math.Abs((double)v)));
        Assert.InRange(massSent, 0.95, 1.0001);
        Assert.InRange(massWithout, 0, 0.2);
        Assert.Null(without.Residual);
    }

    [Fact]
    public void The_uplink_clips_before_it_compresses_and_never_modifies_the_delta()
    {
        var delta = Values(2_000, seed: 8, scale: 1f);
        var copy = delta.ToArray();

        var encoded = new UplinkEncoder().Encode(delta, new CompressionOptions(Codec.Fp16), seed: 0, clipNorm: 0.5);

        Assert.Equal(copy, delta);
        var clipped = DifferentialPrivacy.Clip(delta, 0.5);
        Assert.Equal(clipped.Select(v => (float)(Half)v), encoded.ToFloats());
        Assert.InRange(DifferentialPrivacy.L2Norm(clipped), 0.4999, 0.5);
    }

    [Fact]
    public void An_update_that_is_not_finite_is_refused_and_leaves_the_residual_as_it_was()
    {
        var encoder = new UplinkEncoder();
        var options = new CompressionOptions(Codec.TopK, TopKFraction: 0.1);
        encoder.Encode(Values(100, seed: 9), options, seed: 0);
        var residual = encoder.Residual!.ToArray();
        var bad = Values(100, seed: 10);
        bad[3] = float.NaN;

        Assert.Throws<ArgumentException>(() => encoder.Encode(bad, options, seed: 1));

        Assert.Equal(residual, encoder.Residual);
    }

    public static TheoryData<Codec, VectorWidth> CodecsAndWidths()
    {
        var data = new TheoryData<Codec, VectorWidth>();
        foreach (var codec in Enum.GetValues<Codec>())
        {
            foreach (var width in Enum.GetValues<VectorWidth>())
            {
                data.Add(codec, width);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CodecsAndWidths))]
    public void The_streaming_sum_adds_a_compressed_vector_exactly_as_its_decoding(Codec codec, VectorWidth width)
    {
        const int Length = 5_000; // blocks of 1,024 and of the sum's decode buffer, with short ones at the end
        using var compressed = new FixedPointSum(Length, width);
        using var decoded = new FixedPointSum(Length, width);
        for (int client = 0; client < 6; client++)
        {
            var vector = new CompressionOptions(codec, BlockSize: 1_000, TopKFraction: 0.1).Encode(Values(Length, client), seed: client);
            compressed.Add(vector, weight: 100 + client);
            decoded.Add(vector.ToFloats(), weight: 100 + client);
        }

        Assert.Equal(decoded.Words(), compressed.Words());
        Assert.Equal(decoded.Mean(), compressed.Mean());
    }

    [Theory]
    [InlineData(Codec.Int8)]
    [InlineData(Codec.TopK)]
    public void A_compressed_vector_beyond_the_sums_range_is_refused_and_changes_nothing(Codec codec)
    {
        using var sum = new FixedPointSum(2_000);
        sum.Add(new CompressionOptions(codec).Encode(Values(2_000, 1), 0), 1);
        var before = sum.Words();
        var huge = Values(2_000, 2, scale: 1_000f);

        Assert.Throws<ArgumentException>(() => sum.Add(new CompressionOptions(codec).Encode(huge, 0), weight: 1_000_000));

        Assert.Equal(before, sum.Words());
        Assert.Equal(1, sum.Count);
    }

    [Theory]
    [InlineData(Codec.None, 4_000)]
    [InlineData(Codec.Fp16, 2_000)]
    [InlineData(Codec.Int8, 1_000 + 4 * 16)]
    [InlineData(Codec.Int4, 500 + 4 * 16)]
    [InlineData(Codec.TopK, 8 * 10)]
    public void Payload_bytes_are_known_from_the_length_and_match_the_encoding(Codec codec, long bytes)
    {
        var options = new CompressionOptions(codec, BlockSize: 64, TopKFraction: 0.01);

        Assert.Equal(bytes, options.PayloadBytes(1_000));
        Assert.Equal(bytes, options.Encode(Values(1_000, 11), seed: 0).PayloadBytes);
    }

    [Fact]
    public void Top_k_keeps_at_least_one_and_at_most_all()
    {
        Assert.Equal(1, new CompressionOptions(Codec.TopK, TopKFraction: 1e-9).KeptOf(1_000));
        Assert.Equal(1_000, new CompressionOptions(Codec.TopK, TopKFraction: 1).KeptOf(1_000));
        Assert.Equal(0, new CompressionOptions(Codec.TopK).KeptOf(0));
        Assert.Equal(16_634, new CompressionOptions(Codec.TopK).KeptOf(1_663_370));
    }

    [Fact]
    public void An_odd_length_int4_vector_round_trips_through_its_parts()
    {
        var encoded = Options(Codec.Int4).Encode(Values(129, seed: 12), seed: 3);

        var rebuilt = CompressedVector.FromParts(Codec.Int4, 129, 64, null, null, encoded.Scales, encoded.Codes);

        Assert.Equal(65, encoded.Codes!.Length);
        Assert.Equal(0, encoded.Codes[^1] >> 4);
        Assert.Equal(encoded.ToFloats(), rebuilt.ToFloats());
    }

    public static TheoryData<string, Func<CompressedVector>> Malformed() => new()
    {
        { "negative", () => CompressedVector.FromParts(Codec.Int8, -1, 64, null, null, [], []) },
        { "block size 0", () => CompressedVector.FromParts(Codec.Int8, 2, 0, null, null, [1f], [1, 1]) },
        { "has no blocks", () => CompressedVector.FromParts(Codec.Fp16, 1, 64, null, null, null, [0, 0]) },
        { "scales are missing", () => CompressedVector.FromParts(Codec.Int8, 2, 64, null, null, null, [1, 1]) },
        { "has no indices", () => CompressedVector.FromParts(Codec.Int8, 2, 64, null, [0], [1f], [1, 1]) },
        { "1 scales where the length needs 2", () => CompressedVector.FromParts(Codec.Int8, 65, 64, null, null, [1f], new byte[65]) },
        { "3 code bytes where the length needs 2", () => CompressedVector.FromParts(Codec.Int8, 2, 64, null, null, [1f], [1, 1, 1]) },
        { "code -128", () => CompressedVector.FromParts(Codec.Int8, 2, 64, null, null, [1f], [1, 0x80]) },
        { "scale -1", () => CompressedVector.FromParts(Codec.Int8, 2, 64, null, null, [-1f], [1, 1]) },
        { "scale NaN", () => CompressedVector.FromParts(Codec.Int4, 2, 64, null, null, [float.NaN], [0x88]) },
        { "not a finite", () => CompressedVector.FromParts(Codec.Int8, 2, 64, null, null, [float.MaxValue], [1, 1]) },
        { "nibble of value 1 is 0", () => CompressedVector.FromParts(Codec.Int4, 2, 64, null, null, [1f], [0x08]) },
        { "padding nibble", () => CompressedVector.FromParts(Codec.Int4, 1, 64, null, null, [1f], [0x18]) },
        { "half at 1 is not finite", () => CompressedVector.FromParts(Codec.Fp16, 2, 0, null, null, null, [0, 0, 0x00, 0x7C]) },
        { "not strictly ascending", () => CompressedVector.FromParts(Codec.TopK, 10, 0, [1f, 2f], [4, 4], null, null) },
        { "index 10 at 1", () => CompressedVector.FromParts(Codec.TopK, 10, 0, [1f, 2f], [4, 10], null, null) },
        { "index -1", () => CompressedVector.FromParts(Codec.TopK, 10, 0, [1f], [-1], null, null) },
        { "2 indices and 1 values", () => CompressedVector.FromParts(Codec.TopK, 10, 0, [1f], [1, 2], null, null) },
        { "value NaN at 0", () => CompressedVector.FromParts(Codec.TopK, 10, 0, [float.NaN], [1], null, null) },
        { "at 1 is not finite", () => CompressedVector.FromParts(Codec.None, 2, 0, [1f, float.PositiveInfinity], null, null, null) },
        { "unknown codec 9", () => CompressedVector.FromParts((Codec)9, 2, 0, null, null, null, null) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_parts_are_refused_with_the_problem_named(string problem, Func<CompressedVector> build)
    {
        var e = Assert.Throws<ArgumentException>(build);

        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData(Codec.Int8, 1_000, 64)]
    [InlineData(Codec.Int8, 1_001, 333)]
    [InlineData(Codec.Int4, 1_001, 64)]
    [InlineData(Codec.Int4, 999, 333)]
    public void Decoding_any_range_gives_the_bits_of_code_times_scale_value_by_value(Codec codec, int length, int blockSize)
    {
        var encoded = new CompressionOptions(codec, BlockSize: blockSize).Encode(Values(length, seed: 13), seed: 5);
        var expected = new float[length];
        for (int i = 0; i < length; i++)
        {
            expected[i] = Codecs.Code(encoded.Codes!, i, codec == Codec.Int8) * encoded.Scales![i / blockSize];
        }

        Assert.Equal(expected, encoded.ToFloats());
        // Ranges that start and end anywhere: odd values, inside blocks, across them.
        foreach (var (start, count) in new[] { (0, 1), (1, 2), (3, 130), (63, 66), (length - 5, 5), (17, length - 17) })
        {
            var part = new float[count];
            encoded.DecodeRange(start, part);
            Assert.Equal(expected.AsSpan(start, count).ToArray(), part);
        }
        float largest = expected.Max(MathF.Abs);
        Assert.Equal(largest, encoded.MaxAbs());
    }
}
