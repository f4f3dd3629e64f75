namespace AkkaFed.Model.Compression;

/// <summary>How a vector of float32 values travels: as it is, or compressed.</summary>
public enum Codec : byte
{
    /// <summary>Raw float32, 4 bytes a value.</summary>
    None = 0,

    /// <summary>IEEE half precision, round to nearest even: 2 bytes a value.</summary>
    Fp16 = 1,

    /// <summary>Signed 8-bit codes in [-127, 127], one float32 scale per block, stochastic rounding: about 1 byte a value.</summary>
    Int8 = 2,

    /// <summary>Signed 4-bit codes in [-7, 7], two a byte, one float32 scale per block, stochastic rounding: about half a byte a value.</summary>
    Int4 = 3,

    /// <summary>The k values of largest magnitude, as ascending int32 indices and float32 values: 8 bytes a kept value.</summary>
    TopK = 4,
}

/// <summary>
/// One direction's compression (uplink: client updates; downlink: the global model), as HOCON and the command line
/// name it: <c>none | fp16 | int8 | int4 | topk</c>.
/// </summary>
/// <param name="Codec">The codec.</param>
/// <param name="BlockSize">Values that share one scale (int8, int4).</param>
/// <param name="TopKFraction">Share of the values top-k keeps, in (0, 1]: k = ceil(fraction * length), at least 1.</param>
/// <param name="ErrorFeedback">Top-k only: the client adds what it did not send to its next update.</param>
public sealed record CompressionOptions(Codec Codec, int BlockSize = CompressionOptions.DefaultBlockSize, double TopKFraction = 0.01, bool ErrorFeedback = true)
{
    public const int DefaultBlockSize = 1024;

    /// <summary>The largest block a payload may declare (a hostile one could otherwise claim any).</summary>
    public const int MaxBlockSize = 1 << 20;

    public static readonly CompressionOptions None = new(Codec.None);

    /// <summary>The names of the codecs, as settings spell them, in <see cref="Codec"/> order.</summary>
    public static readonly IReadOnlyDictionary<string, Codec> Names = new Dictionary<string, Codec>(StringComparer.Ordinal)
    {
        ["none"] = Codec.None,
        ["fp16"] = Codec.Fp16,
        ["int8"] = Codec.Int8,
        ["int4"] = Codec.Int4,
        ["topk"] = Codec.TopK,
    };

    public static string NameOf(Codec codec) => Names.First(n => n.Value == codec).Key;

    /// <summary>Whether a vector is compressed at all.</summary>
    public bool Compresses => Codec != Codec.None;

    /// <summary>Throws a <see cref="SettingsException"/> naming <paramref name="setting"/> when a parameter is out of range.</summary>
    public CompressionOptions Validate(string setting)
    {
        if (!Enum.IsDefined(Codec))
            throw new SettingsException(setting, $"must be one of {string.Join(", ", Names.Keys)}, got {(byte)Codec}");
        if (Codec is Codec.Int8 or Codec.Int4 && BlockSize is < 1 or > MaxBlockSize)
            throw new SettingsException("compression-block-size", $"must be in 1..{MaxBlockSize}, got {BlockSize}");
        if (Codec == Codec.TopK && !(TopKFraction > 0 && TopKFraction <= 1))
            throw new SettingsException("compression-topk", $"must be in (0, 1] (the share of values top-k keeps), got {TopKFraction}");
        return this;
    }

    /// <summary>How many values top-k keeps of <paramref name="length"/>: ceil(fraction * length), at least 1 (0 of 0).</summary>
    public int KeptOf(int length) =>
        length == 0 ? 0 : (int)Math.Clamp(Math.Ceiling(TopKFraction * length), 1, length);

    /// <summary>
    /// The bytes the codec's data takes for a vector of <paramref name="length"/> values (the arrays of a
    /// <see cref="CompressedVector"/>, without the wire's length prefixes): a function of the length alone, so the
    /// simulated clock and the benchmark know it before anything is encoded.
    /// </summary>
    public long PayloadBytes(int length) => Codec switch
    {
        Codec.None => 4L * length,
        Codec.Fp16 or Codec.Int8 or Codec.Int4 => Codecs.CodeBytes(Codec, length)
            + (Codec == Codec.Fp16 ? 0 : 4L * Codecs.Blocks(length, BlockSize)),
        _ => 8L * KeptOf(length),
    };

    /// <summary>
    /// <paramref name="values"/> compressed. Stochastic rounding (int8, int4) draws from a stream seeded by
    /// <paramref name="seed"/> alone, so the same values and seed give the same bits; fp16 rounds to nearest and
    /// top-k is deterministic (ties by lower index). Throws <see cref="ArgumentException"/> for a value that is
    /// not finite (or beyond fp16's range for fp16).
    /// </summary>
    public CompressedVector Encode(ReadOnlySpan<float> values, int seed)
    {
        Validate("compression");
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException($"value {values[i]} at {i} is not finite: it cannot be compressed", nameof(values));
            }
        }
        switch (Codec)
        {
            case Codec.None:
                return CompressedVector.Raw(values.ToArray());
            case Codec.Fp16:
                return new CompressedVector(Codec, values.Length, 0, null, null, null, Codecs.ToHalves(values));
            case Codec.Int8 or Codec.Int4:
                var (scales, codes) = Codecs.Quantize(Codec, values, BlockSize, seed);
                return new CompressedVector(Codec, values.Length, BlockSize, null, null, scales, codes);
            default:
                var indices = Codecs.Largest(values, KeptOf(values.Length));
                var kept = new float[indices.Length];
                for (int k = 0; k < indices.Length; k++)
                {
                    kept[k] = values[indices[k]];
                }
                return new CompressedVector(Codec, values.Length, 0, kept, indices, null, null);
        }
    }
}
