using System.Buffers.Binary;
using System.Runtime.InteropServices;
using AkkaFed.Model.Federation;

namespace AkkaFed.Model.Compression;

/// <summary>
/// A vector of float32 values as one <see cref="Codec"/> holds it: the form in which weights and updates travel
/// and reach the server's sum. Immutable once built; <see cref="Raw"/> wraps an array without copying it.
/// </summary>
/// <remarks>
/// The parts, by codec (others null):
/// <list type="bullet">
/// <item>None: <see cref="Values"/>, the <see cref="Length"/> values.</item>
/// <item>Fp16: <see cref="Codes"/>, 2 bytes a value, little-endian IEEE half.</item>
/// <item>Int8: <see cref="Scales"/>, one a block of <see cref="BlockSize"/> values (the last may be shorter), and
/// <see cref="Codes"/>, one signed byte a value in [-127, 127]; value = code * scale.</item>
/// <item>Int4: as int8, with codes in [-7, 7] stored as code + 8 (1..15), two a byte, value i in the low nibble of
/// byte i/2 when i is even and the high nibble when odd; an odd length leaves the last high nibble 0.</item>
/// <item>TopK: <see cref="Indices"/>, strictly ascending and below <see cref="Length"/>, and <see cref="Values"/>,
/// as many; every other value is 0.</item>
/// </list>
/// </remarks>
public sealed class CompressedVector : IEquatable<CompressedVector>
{
    /// <summary>A vector from parts known to be valid (an encoder's own); <see cref="FromParts"/> checks them.</summary>
    internal CompressedVector(Codec codec, int length, int blockSize, float[]? values, int[]? indices, float[]? scales, byte[]? codes)
    {
        Codec = codec;
        Length = length;
        BlockSize = blockSize;
        Values = values;
        Indices = indices;
        Scales = scales;
        Codes = codes;
    }

    public Codec Codec { get; }

    /// <summary>How many values the vector has, decoded.</summary>
    public int Length { get; }

    /// <summary>Values that share one scale (int8, int4); 0 for the other codecs.</summary>
    public int BlockSize { get; }

    public float[]? Values { get; }
    public int[]? Indices { get; }
    public float[]? Scales { get; }
    public byte[]? Codes { get; }

    /// <summary><paramref name="values"/> as they are (codec None), not copied.</summary>
    public static CompressedVector Raw(float[] values) =>
        new(Codec.None, (values ?? throw new ArgumentNullException(nameof(values))).Length, 0, values, null, null, null);

    public static implicit operator CompressedVector(float[] values) => Raw(values);

    /// <summary>
    /// A vector from its parts as they came over the wire. Throws <see cref="ArgumentException"/> naming the first
    /// problem: a part missing or of the wrong size for <paramref name="length"/> and the codec, a scale that is
    /// negative or not finite, a code out of range, a nonzero padding nibble, indices not strictly ascending or
    /// out of range, a value that is not finite. Once built, every decoded value is finite.
    /// </summary>
    public static CompressedVector FromParts(Codec codec, int length, int blockSize, float[]? values, int[]? indices, float[]? scales,
        byte[]? codes)
    {
        if (length < 0)
        {
            throw new ArgumentException($"length {length} is negative");
        }
        bool blocks = codec is Codec.Int8 or Codec.Int4;
        if (!blocks && blockSize != 0)
        {
            throw new ArgumentException($"block size {blockSize}: {CompressionOptions.NameOf(codec)} has no blocks");
        }
        Absent(values, codec is Codec.None or Codec.TopK, "values");
        Absent(indices, codec == Codec.TopK, "indices");
        Absent(scales, blocks, "scales");
        Absent(codes, codec is Codec.Fp16 or Codec.Int8 or Codec.Int4, "codes");
        switch (codec)
        {
            case Codec.None:
                Sized(values!.Length, length, "values");
                Finite(values, "value");
                break;
            case Codec.Fp16:
                Sized(codes!.Length, Codecs.CodeBytes(codec, length), "code bytes");
                for (int i = 0; i < length; i++)
                {
                    if ((BinaryPrimitives.ReadUInt16LittleEndian(codes.AsSpan(2 * i)) & 0x7C00) == 0x7C00)
                    {
                        throw new ArgumentException($"the half at {i} is not finite");
                    }
                }
                break;
            case Codec.Int8 or Codec.Int4:
                if (blockSize is < 1 or > CompressionOptions.MaxBlockSize)
                {
                    throw new ArgumentException($"block size {blockSize} is not in 1..{CompressionOptions.MaxBlockSize}");
                }
                int levels = Codecs.Levels(codec);
                Sized(scales!.Length, Codecs.Blocks(length, blockSize), "scales");
                for (int b = 0; b < scales.Length; b++)
                {
                    if (!(scales[b] >= 0 && float.IsFinite(scales[b] * levels)))
                    {
                        throw new ArgumentException($"scale {scales[b]} of block {b} is not a finite non-negative number (up to {float.MaxValue / levels:G3})");
                    }
                }
                Sized(codes!.Length, Codecs.CodeBytes(codec, length), "code bytes");
                CheckCodes(codec, length, codes);
                break;
            case Codec.TopK:
                if (indices!.Length != values!.Length || values.Length > length)
                {
                    throw new ArgumentException($"{indices.Length} indices and {values.Length} values for a vector of {length}: they must match, at most {length}");
                }
                for (int k = 0; k < indices.Length; k++)
                {
                    if (indices[k] < 0 || indices[k] >= length || (k > 0 && indices[k] <= indices[k - 1]))
                    {
                        throw new ArgumentException($"index {indices[k]} at {k} is not strictly ascending in 0..{length - 1}");
                    }
                }
                Finite(values, "value");
                break;
            default:
                throw new ArgumentException($"unknown codec {(byte)codec}");
        }
        return new CompressedVector(codec, length, blockSize, values, indices, scales, codes);
    }

    private static void Absent(object? part, bool expected, string name)
    {
        if (expected && part is null)
        {
            throw new ArgumentException($"the {name} are missing");
        }
        if (!expected && part is not null)
        {
            throw new ArgumentException($"the codec has no {name}");
        }
    }

    private static void Sized(long actual, long expected, string name)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{actual} {name} where the length needs {expected}");
        }
    }

    private static void Finite(float[] values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException($"{name} {values[i]} at {i} is not finite");
            }
        }
    }

    private static void CheckCodes(Codec codec, int length, byte[] codes)
    {
        if (codec == Codec.Int8)
        {
            int at = Array.IndexOf(codes, (byte)0x80);
            if (at >= 0)
            {
                throw new ArgumentException($"code -128 at {at} is out of range -127..127");
            }
            return;
        }
        for (int i = 0; i < length; i++)
        {
            if (((codes[i >> 1] >> (4 * (i & 1))) & 0xF) == 0)
            {
                throw new ArgumentException($"the nibble of value {i} is 0, out of range 1..15 (codes -7..7, stored plus 8)");
            }
        }
        if (length % 2 == 1 && codes[^1] >> 4 != 0)
        {
            throw new ArgumentException($"the padding nibble after the last value is {codes[^1] >> 4}, not 0");
        }
    }

    /// <summary>The bytes of the parts (as <see cref="CompressionOptions.PayloadBytes"/> counts them).</summary>
    public long PayloadBytes =>
        4L * ((Values?.Length ?? 0) + (Indices?.Length ?? 0) + (Scales?.Length ?? 0)) + (Codes?.Length ?? 0);

    /// <summary>The values as float32: for None the array itself (do not modify it), otherwise a new decoded array.</summary>
    public float[] ToFloats()
    {
        if (Codec == Codec.None)
        {
            return Values!;
        }
        var values = new float[Length];
        DecodeInto(values);
        return values;
    }

    /// <summary>Decodes into <paramref name="destination"/>, exactly <see cref="Length"/> long.</summary>
    public void DecodeInto(Span<float> destination)
    {
        if (destination.Length != Length)
        {
            throw new ArgumentException($"{destination.Length} values to decode into, the vector has {Length}", nameof(destination));
        }
        Codecs.Decode(this, 0, destination);
    }

    /// <summary>Decodes values [<paramref name="start"/>, start + destination.Length): a block of the streaming sum.</summary>
    internal void DecodeRange(int start, Span<float> destination) => Codecs.Decode(this, start, destination);

    /// <summary>The largest magnitude of a decoded value (0 for an empty vector); NaN when a raw value is NaN.</summary>
    public double MaxAbs()
    {
        float largest = 0;
        switch (Codec)
        {
            case Codec.None or Codec.TopK:
                foreach (float v in Values!)
                {
                    largest = MathF.Max(largest, MathF.Abs(v));
                }
                break;
            case Codec.Fp16:
                // A finite half's magnitude grows with its bits less the sign, so the largest is found on the bits.
                int bits = 0;
                for (int i = 0; i < Length; i++)
                {
                    bits = Math.Max(bits, BinaryPrimitives.ReadUInt16LittleEndian(Codes.AsSpan(2 * i)) & 0x7FFF);
                }
                largest = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
                break;
            default:
                // |code * scale| grows with |code| (rounding is monotone), so a block's largest is its largest code's.
                bool int8 = Codec == Codec.Int8;
                for (int b = 0; b < Scales!.Length; b++)
                {
                    int first = b * BlockSize, end = (int)Math.Min(Length, (long)first + BlockSize);
                    int code = 0;
                    if (int8)
                    {
                        code = Codecs.LargestInt8(MemoryMarshal.Cast<byte, sbyte>(Codes.AsSpan(first, end - first)));
                    }
                    else
                    {
                        for (int i = first; i < end && code < 7; i++)
                        {
                            code = Math.Max(code, Math.Abs(Codecs.Code(Codes!, i, int8)));
                        }
                    }
                    largest = MathF.Max(largest, code * Scales[b]);
                }
                break;
        }
        return largest;
    }

    /// <summary>
    /// True when every decoded value is finite: always for a compressed vector (its parts were checked when it
    /// was built); for None, <see cref="FederatedAveraging.AllFinite"/> of the values.
    /// </summary>
    public bool AllFinite() => Codec != Codec.None || FederatedAveraging.AllFinite(Values);

    public bool Equals(CompressedVector? other) =>
        other is not null && Codec == other.Codec && Length == other.Length && BlockSize == other.BlockSize
        && Same(Values, other.Values) && Same(Indices, other.Indices) && Same(Scales, other.Scales) && Same(Codes, other.Codes);

    public override bool Equals(object? obj) => Equals(obj as CompressedVector);

    public override int GetHashCode() => HashCode.Combine(Codec, Length, BlockSize);

    private static bool Same<T>(T[]? a, T[]? b)
        where T : unmanaged =>
        a is null ? b is null : b is not null && MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan()));
}
