using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace AkkaFed.Model.Compression;

/// <summary>
/// The arithmetic of the codecs: encoding (stochastic rounding for int8 and int4, nearest for fp16, the largest
/// magnitudes for top-k) and decoding, value by value, into any range of a vector. <see cref="CompressedVector"/>
/// holds the parts and checks them; this class only computes.
/// </summary>
internal static class Codecs
{
    /// <summary>The largest code magnitude: 127 for int8, 7 for int4.</summary>
    public static int Levels(Codec codec) => codec == Codec.Int8 ? 127 : 7;

    /// <summary>Blocks of <paramref name="blockSize"/> that cover <paramref name="length"/> values.</summary>
    public static int Blocks(int length, int blockSize) => (int)(((long)length + blockSize - 1) / blockSize);

    /// <summary>Bytes of codes for <paramref name="length"/> values: one each for int8, half each for int4, two for fp16.</summary>
    public static long CodeBytes(Codec codec, int length) => codec switch
    {
        Codec.Fp16 => 2L * length,
        Codec.Int8 => length,
        _ => ((long)length + 1) / 2,
    };

    /// <summary>
    /// Int8 or int4 codes for <paramref name="values"/>: per block, scale = max |v| / levels, and each code is
    /// floor(v / scale + u) for u uniform in [0, 1), drawn for every value in order from one stream seeded by
    /// <paramref name="seed"/>. E[code * scale] = v, so the quantizer is unbiased.
    /// </summary>
    public static (float[] Scales, byte[] Codes) Quantize(Codec codec, ReadOnlySpan<float> values, int blockSize, int seed)
    {
        int levels = Levels(codec);
        var scales = new float[Blocks(values.Length, blockSize)];
        var codes = new byte[CodeBytes(codec, values.Length)];
        var random = new SplitMix64(seed);
        for (int b = 0; b < scales.Length; b++)
        {
            int start = b * blockSize;
            var block = values.Slice(start, (int)Math.Min(blockSize, (long)values.Length - start));
            float largest = 0;
            foreach (float v in block)
            {
                largest = MathF.Max(largest, MathF.Abs(v));
            }
            // A block of subnormals whose scale would underflow keeps the smallest scale instead of losing them all.
            float scale = largest == 0 ? 0 : MathF.Max(largest / levels, float.Epsilon);
            scales[b] = scale;
            for (int i = 0; i < block.Length; i++)
            {
                double u = random.NextDouble();
                int code = scale == 0 ? 0 : Math.Clamp((int)Math.Floor(block[i] / (double)scale + u), -levels, levels);
                int at = start + i;
                if (codec == Codec.Int8)
                {
                    codes[at] = (byte)(sbyte)code;
                }
                else
                {
                    codes[at >> 1] |= (byte)((code + 8) << (4 * (at & 1)));
                }
            }
        }
        return (scales, codes);
    }

    /// <summary>Fp16 codes, round to nearest even; throws for a value beyond fp16's range (65,504).</summary>
    public static byte[] ToHalves(ReadOnlySpan<float> values)
    {
        var codes = new byte[2L * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            var half = (Half)values[i];
            if (!Half.IsFinite(half))
            {
                throw new ArgumentException($"value {values[i]} at {i} is beyond fp16's range of ±65,504", nameof(values));
            }
            BinaryPrimitives.WriteUInt16LittleEndian(codes.AsSpan(2 * i), BitConverter.HalfToUInt16Bits(half));
        }
        return codes;
    }

    /// <summary>
    /// The indices of the <paramref name="kept"/> values of largest magnitude, ascending; of equal magnitudes the
    /// lower index goes first. Exact and linear: the threshold magnitude is found from two histograms of the
    /// float bits (which order non-negative floats as their values), the top 16 bits and then the low 16.
    /// </summary>
    public static int[] Largest(ReadOnlySpan<float> values, int kept)
    {
        var indices = new int[kept];
        if (kept == 0)
        {
            return indices;
        }
        var counts = new int[1 << 16];
        foreach (float v in values)
        {
            counts[Magnitude(v) >> 16]++;
        }
        var (top, needInTop) = Cut(counts, kept);
        Array.Clear(counts);
        foreach (float v in values)
        {
            uint key = Magnitude(v);
            if (key >> 16 == top)
            {
                counts[key & 0xFFFF]++;
            }
        }
        var (low, atThreshold) = Cut(counts, needInTop);
        uint threshold = (top << 16) | low;
        int n = 0;
        for (int i = 0; i < values.Length && n < kept; i++)
        {
            uint key = Magnitude(values[i]);
            if (key > threshold || (key == threshold && atThreshold-- > 0))
            {
                indices[n++] = i;
            }
        }
        return indices;
    }

    /// <summary>The bucket, from the top, at which <paramref name="wanted"/> values are reached, and how many of them it gives.</summary>
    private static (uint Bucket, int Wanted) Cut(int[] counts, int wanted)
    {
        for (int bucket = counts.Length - 1; ; bucket--)
        {
            if (counts[bucket] >= wanted)
            {
                return ((uint)bucket, wanted);
            }
            wanted -= counts[bucket];
        }
    }

    private static uint Magnitude(float v) => BitConverter.SingleToUInt32Bits(v) & 0x7FFF_FFFF;

    /// <summary>Decodes values [<paramref name="start"/>, start + destination.Length) of <paramref name="vector"/>.</summary>
    public static void Decode(CompressedVector vector, int start, Span<float> destination)
    {
        switch (vector.Codec)
        {
            case Codec.None:
                vector.Values.AsSpan(start, destination.Length).CopyTo(destination);
                break;
            case Codec.Fp16:
                var halves = vector.Codes.AsSpan(2 * start);
                var table = HalfTable.Value;
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = table[BinaryPrimitives.ReadUInt16LittleEndian(halves.Slice(2 * i))];
                }
                break;
            case Codec.Int8 or Codec.Int4:
                var scales = vector.Scales!;
                var codes = vector.Codes!;
                int blockSize = vector.BlockSize;
                bool int8 = vector.Codec == Codec.Int8;
                // A block at a time, so that each run of values shares one scale.
                for (int i = 0; i < destination.Length;)
                {
                    int at = start + i;
                    int run = Math.Min(destination.Length - i, blockSize - at % blockSize);
                    float scale = scales[at / blockSize];
                    if (int8)
                    {
                        DecodeInt8(MemoryMarshal.Cast<byte, sbyte>(codes.AsSpan(at, run)), scale, destination.Slice(i, run));
                    }
                    else
                    {
                        DecodeInt4(codes, at, scale, destination.Slice(i, run));
                    }
                    i += run;
                }
                break;
            case Codec.TopK:
                destination.Clear();
                var indices = vector.Indices!;
                var values = vector.Values!;
                int first = Array.BinarySearch(indices, start);
                for (int k = first < 0 ? ~first : first; k < indices.Length && indices[k] < start + destination.Length; k++)
                {
                    destination[indices[k] - start] = values[k];
                }
                break;
        }
    }

    /// <summary><c>destination[i] = codes[i] * scale</c>, in vectors when the hardware accelerates them (the same bits:
    /// a code converts to float exactly, and the product is one IEEE multiplication either way).</summary>
    internal static void DecodeInt8(ReadOnlySpan<sbyte> codes, float scale, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var factor = new Vector<float>(scale);
            for (; i <= codes.Length - Vector<sbyte>.Count; i += Vector<sbyte>.Count)
            {
                Vector.Widen(new Vector<sbyte>(codes.Slice(i)), out var low, out var high);
                Vector.Widen(low, out var a, out var b);
                Vector.Widen(high, out var c, out var d);
                int n = Vector<int>.Count;
                (Vector.ConvertToSingle(a) * factor).CopyTo(destination.Slice(i));
                (Vector.ConvertToSingle(b) * factor).CopyTo(destination.Slice(i + n));
                (Vector.ConvertToSingle(c) * factor).CopyTo(destination.Slice(i + 2 * n));
                (Vector.ConvertToSingle(d) * factor).CopyTo(destination.Slice(i + 3 * n));
            }
        }
        for (; i < codes.Length; i++)
        {
            destination[i] = codes[i] * scale;
        }
    }

    /// <summary>Values <paramref name="first"/>.. of int4 <paramref name="codes"/> times <paramref name="scale"/>, a byte
    /// (two values) at a time from a table of the 256 bytes' codes.</summary>
    internal static void DecodeInt4(byte[] codes, int first, float scale, Span<float> destination)
    {
        int i = 0;
        if ((first & 1) == 1 && destination.Length > 0)
        {
            destination[i++] = ((codes[first >> 1] >> 4) - 8) * scale;
        }
        var pairs = Nibbles.AsSpan();
        for (int b = (first + i) >> 1; i + 1 < destination.Length; i += 2, b++)
        {
            int code = codes[b];
            destination[i] = pairs[2 * code] * scale;
            destination[i + 1] = pairs[2 * code + 1] * scale;
        }
        if (i < destination.Length)
        {
            destination[i] = ((codes[(first + i) >> 1] & 0xF) - 8) * scale;
        }
    }

    /// <summary>Every half's float value, by its bits (256 KB, made on first use): a lookup is several times faster than
    /// converting, and the same bits.</summary>
    internal static readonly Lazy<float[]> HalfTable = new(() =>
        Enumerable.Range(0, 1 << 16).Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits)).ToArray());

    /// <summary>For each byte, its low and its high nibble's code (nibble - 8), as floats.</summary>
    private static readonly float[] Nibbles = Enumerable.Range(0, 256).SelectMany(b => new float[] { (b & 0xF) - 8, (b >> 4) - 8 }).ToArray();

    /// <summary>The largest |code| of int8 codes, in vectors when the hardware accelerates them.</summary>
    internal static int LargestInt8(ReadOnlySpan<sbyte> codes)
    {
        int i = 0;
        int largest = 0;
        if (Vector.IsHardwareAccelerated && codes.Length >= Vector<sbyte>.Count)
        {
            // No code is -128 (FromParts refuses it), so |code| fits a signed byte.
            var acc = Vector<sbyte>.Zero;
            for (; i <= codes.Length - Vector<sbyte>.Count; i += Vector<sbyte>.Count)
            {
                acc = Vector.Max(acc, Vector.Abs(new Vector<sbyte>(codes.Slice(i))));
            }
            for (int lane = 0; lane < Vector<sbyte>.Count; lane++)
            {
                largest = Math.Max(largest, acc[lane]);
            }
        }
        for (; i < codes.Length; i++)
        {
            largest = Math.Max(largest, Math.Abs((int)codes[i]));
        }
        return largest;
    }

    /// <summary>The code of value <paramref name="at"/>: a signed byte, or a nibble less 8.</summary>
    public static int Code(byte[] codes, int at, bool int8) =>
        int8 ? (sbyte)codes[at] : ((codes[at >> 1] >> (4 * (at & 1))) & 0xF) - 8;

    /// <summary>SplitMix64 (Steele, Lea and Flood 2014): a small, fast stream whose numbers depend on the seed alone.</summary>
    private struct SplitMix64(int seed)
    {
        private ulong _state = (ulong)(uint)seed;

        /// <summary>A uniform double in [0, 1), from the top 53 bits of the next number.</summary>
        public double NextDouble()
        {
            ulong z = _state += 0x9E37_79B9_7F4A_7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
    }
}
