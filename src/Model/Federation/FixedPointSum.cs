using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AkkaFed.Model.Federation;

/// <summary>
/// A running weighted sum of float vectors that is exact, so its result does not depend on the order of the
/// additions, to the last bit. It is the streaming half of FedAvg: updates are folded in as they arrive and
/// dropped, and memory holds one accumulator however many clients take part.
/// </summary>
/// <remarks>
/// <para>
/// Each value becomes the fixed-point integer <c>round(value * weight * 2^32)</c>, summed in a <c>long</c>.
/// Integer addition is associative, so updates arriving in any order (training threads race each other to the
/// server) give the same sum; a float running sum would not. The rounding is per term, a function of one value
/// and its weight, so it does not depend on the order either.
/// </para>
/// <para>
/// Precision: each term is within 2^-33 of <c>value * weight</c> (exactly so for weights below 2^29, where the
/// product is exact in double), so the mean is within <c>Count / (2 TotalWeight)</c> * 2^-32 of the exact weighted
/// mean before its final rounding to float: at most 1.2e-10 with uniform weights, less with example counts.
/// </para>
/// <para>
/// Range: <c>|value * weight|</c> at most <see cref="MaxWeightedValue"/> (2^26, a term of 2^58); an update
/// beyond it, or not finite, is refused and leaves the sum as it was. The low words are summed while a bound on
/// their magnitude stays below 2^62; before an update could take them past it, they are carried exactly into a
/// second array of high words (allocated then, and touched only then): <c>high += low &gt;&gt; 32</c>,
/// <c>low &amp;= 2^32 - 1</c>. Carrying changes no value, so it does not break the order independence.
/// </para>
/// <para>
/// The words come from <see cref="ArrayPool{T}.Shared"/> and go back on <see cref="Dispose"/>, so a server reuses
/// one accumulator round after round: a fresh 13 MB array for the McMahan CNN was measured to cost 40 to 60 ms of
/// page faults on a 2-core VM, as long as adding 100 updates to it. Not disposing only forgoes the reuse.
/// </para>
/// <para>Not thread-safe: one owner (the server actor) adds and reads.</para>
/// </remarks>
public sealed class FixedPointSum : IDisposable
{
    /// <summary>Binary digits after the point: values are summed in units of 2^-32.</summary>
    public const int FractionBits = 32;

    /// <summary>The largest <c>|value * weight|</c> an update may hold: 2^26 = 67,108,864.</summary>
    public const double MaxWeightedValue = 67_108_864;

    private const double Unit = 4_294_967_296; // 2^FractionBits
    private const double MaxTerm = MaxWeightedValue * Unit; // 2^58
    private const double Ceiling = 4_611_686_018_427_387_904; // 2^62, well inside a long

    private readonly int _length;
    private readonly VectorWidth _width;
    // Rented, so possibly longer than _length; only the first _length words are used. Null once disposed.
    private long[]? _low;
    private long[]? _high;
    // An upper bound on every |_low[i]|; kept at most Ceiling by carrying before an update could pass it.
    private double _bound;

    public FixedPointSum(int length)
        : this(length, Widest)
    {
    }

    /// <summary>A sum that adds in vectors of <paramref name="width"/> bits: for tests, which run every width's path
    /// on one machine. A width the hardware does not accelerate still gives the same bits, only slower.</summary>
    internal FixedPointSum(int length, VectorWidth width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!Enum.IsDefined(width))
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, "not a vector width");
        }
        _length = length;
        _width = width;
        _low = Rent(length);
    }

    /// <summary>
    /// The widest vectors the hardware accelerates, which every sum uses: 512 bits with AVX-512, 256 with AVX2,
    /// 128 with SSE or NEON (ARM), none otherwise. A wider vector type without hardware support runs in software,
    /// several times slower than the scalar loop.
    /// </summary>
    public static VectorWidth Widest { get; } =
        Vector512.IsHardwareAccelerated ? VectorWidth.Bits512
        : Vector256.IsHardwareAccelerated ? VectorWidth.Bits256
        : Vector128.IsHardwareAccelerated ? VectorWidth.Bits128
        : VectorWidth.Scalar;

    /// <summary>Values per vector.</summary>
    public int Length => _length;

    /// <summary>Vectors added.</summary>
    public int Count { get; private set; }

    /// <summary>The sum of the weights added.</summary>
    public long TotalWeight { get; private set; }

    /// <summary>How many times the low words were carried into the high words (tests check it happens).</summary>
    public int Normalisations { get; private set; }

    /// <summary>
    /// Adds <c>weight * values</c>. Throws <see cref="ArgumentException"/>, leaving the sum unchanged, when the
    /// length is wrong or a value is not finite or beyond <see cref="MaxWeightedValue"/> / <paramref name="weight"/>.
    /// </summary>
    public void Add(ReadOnlySpan<float> values, long weight)
    {
        var low = Low;
        if (values.Length != _length)
        {
            throw new ArgumentException($"{values.Length} values, the sum has {_length}", nameof(values));
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(weight);
        long totalWeight = checked(TotalWeight + weight);
        if (_bound > Ceiling - MaxTerm)
        {
            Normalise();
        }

        double scale = weight * Unit;
        double largest = Accumulate(values, scale, low, subtract: false, _width);
        if (!(largest <= MaxTerm))
        {
            // Subtracting the very same terms restores every word exactly, even one that wrapped around.
            Accumulate(values, scale, low, subtract: true, _width);
            throw new ArgumentException(
                $"a value is not finite or out of the aggregator's range: |value * weight| must be at most {MaxWeightedValue:N0} (weight {weight})",
                nameof(values));
        }
        _bound += largest;
        TotalWeight = totalWeight;
        Count++;
    }

    /// <summary>
    /// Adds <c>weight * values</c> straight from their compressed form, a block at a time, with no float32 copy of
    /// the whole vector: the same words to the last bit as adding <see cref="Compression.CompressedVector.ToFloats"/>.
    /// Throws <see cref="ArgumentException"/>, leaving the sum unchanged, as <see cref="Add(ReadOnlySpan{float}, long)"/> does.
    /// </summary>
    public void Add(Compression.CompressedVector values, long weight)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Codec == Compression.Codec.None)
        {
            Add(values.Values, weight);
            return;
        }
        var low = Low;
        if (values.Length != _length)
        {
            throw new ArgumentException($"{values.Length} values, the sum has {_length}", nameof(values));
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(weight);
        long totalWeight = checked(TotalWeight + weight);
        double scale = weight * Unit;
        // The largest term is the largest decoded magnitude's, so the range is checked before a word changes.
        double largest = Math.Round(values.MaxAbs() * scale);
        if (!(largest <= MaxTerm))
        {
            throw new ArgumentException(
                $"a value is out of the aggregator's range: |value * weight| must be at most {MaxWeightedValue:N0} (weight {weight})",
                nameof(values));
        }
        if (_bound > Ceiling - MaxTerm)
        {
            Normalise();
        }
        if (values.Codec == Compression.Codec.TopK)
        {
            // Only the kept values have terms; every other term is round(0) = 0.
            var indices = values.Indices!;
            var kept = values.Values!;
            for (int k = 0; k < indices.Length; k++)
            {
                low[indices[k]] += (long)Math.Round(kept[k] * scale);
            }
        }
        else
        {
            Span<float> block = stackalloc float[DecodeBlock];
            for (int start = 0; start < _length; start += DecodeBlock)
            {
                var decoded = block[..Math.Min(DecodeBlock, _length - start)];
                values.DecodeRange(start, decoded);
                Accumulate(decoded, scale, low.Slice(start, decoded.Length), subtract: false, _width);
            }
        }
        _bound += largest;
        TotalWeight = totalWeight;
        Count++;
    }

    /// <summary>Values decoded at a time by <see cref="Add(Compression.CompressedVector, long)"/>: 4 KB on the stack.</summary>
    private const int DecodeBlock = 1024;

    /// <summary>The weighted sum of the values added, each coordinate the exact sum rounded once to double.</summary>
    public double[] Sum()
    {
        var low = Canonical();
        var sum = new double[_length];
        for (int i = 0; i < sum.Length; i++)
        {
            sum[i] = Total(low, i);
        }
        return sum;
    }

    /// <summary>The weighted mean: <see cref="Sum"/> divided by <see cref="TotalWeight"/>, as floats.</summary>
    public float[] Mean()
    {
        if (Count == 0)
        {
            throw new InvalidOperationException("nothing was added: there is no mean");
        }
        var low = Canonical();
        var mean = new float[_length];
        double total = TotalWeight;
        for (int i = 0; i < mean.Length; i++)
        {
            mean[i] = (float)(Total(low, i) / total);
        }
        return mean;
    }

    /// <summary>The exact integer sums, in units of 2^-32, whatever way they are split into words: for tests.</summary>
    internal Int128[] Words()
    {
        var low = Low;
        var words = new Int128[_length];
        for (int i = 0; i < words.Length; i++)
        {
            words[i] = (_high is null ? 0 : (Int128)_high[i] << FractionBits) + low[i];
        }
        return words;
    }

    /// <summary>
    /// The low words, normalised once the high words are in use, so that <see cref="Total"/> reads every sum in one
    /// way whatever the points at which it was carried.
    /// </summary>
    private Span<long> Canonical()
    {
        var low = Low;
        if (_high is not null)
        {
            Normalise();
        }
        return low;
    }

    /// <summary>
    /// Coordinate <paramref name="i"/> of the sum, from <see cref="Canonical"/> words. With high words, the low word
    /// is in [0, 2^32), so <c>high * 2^32</c> is exact and the one addition rounds the exact sum; without, the one
    /// conversion does. Either way the same integer gives the same double, however it was split.
    /// </summary>
    private double Total(Span<long> low, int i) => (_high is null ? low[i] : _high[i] * Unit + low[i]) / Unit;

    /// <summary>Carries the low words into the high words, exactly: afterwards every low word is in [0, 2^32).</summary>
    private void Normalise()
    {
        var low = Low;
        _high ??= Rent(_length);
        for (int i = 0; i < low.Length; i++)
        {
            _high[i] += low[i] >> FractionBits;
            low[i] &= 0xFFFF_FFFF;
        }
        _bound = Unit;
        Normalisations++;
    }

    /// <summary>Returns the words to the pool; the sum cannot be used afterwards.</summary>
    public void Dispose()
    {
        if (_low is not null)
        {
            ArrayPool<long>.Shared.Return(_low);
            _low = null;
        }
        if (_high is not null)
        {
            ArrayPool<long>.Shared.Return(_high);
            _high = null;
        }
    }

    private Span<long> Low => _low is null ? throw new ObjectDisposedException(nameof(FixedPointSum)) : _low.AsSpan(0, _length);

    /// <summary>Zeroed words from the pool (a rented array holds whatever its last user left).</summary>
    private static long[] Rent(int length)
    {
        var words = ArrayPool<long>.Shared.Rent(length);
        Array.Clear(words, 0, length);
        return words;
    }

    /// <summary>
    /// <c>sums[i] += round(values[i] * scale)</c> (or <c>-=</c>) in vectors of <paramref name="width"/> bits, then
    /// one by one; returns the largest |term|, or infinity when a term is not finite or is beyond
    /// <see cref="MaxTerm"/> (the terms were still added). Every width gives the same words and the same largest term
    /// for an update in range: each rounds to nearest, ties to even, and converts exactly. Out of range, the words
    /// may differ between widths but not between the adding and the subtracting pass of one update, which is all
    /// that restoring them needs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Accumulate(ReadOnlySpan<float> values, double scale, Span<long> sums, bool subtract, VectorWidth width)
    {
        // (term ^ sign) - sign is term, or -term when sign is all ones; exact in two's complement, even wrapping.
        long sign = subtract ? -1 : 0;
        var (i, largest, finite) = width switch
        {
            VectorWidth.Bits512 => Accumulate512(values, scale, sums, sign),
            VectorWidth.Bits256 => Accumulate256(values, scale, sums, sign),
            VectorWidth.Bits128 => Accumulate128(values, scale, sums, sign),
            _ => (0, 0.0, true),
        };
        for (; i < values.Length; i++)
        {
            double term = Math.Round(values[i] * scale);
            finite &= Math.Abs(term) <= MaxTerm;
            largest = Math.Max(largest, Math.Abs(term));
            sums[i] += ((long)term ^ sign) - sign;
        }
        return finite ? largest : double.PositiveInfinity;
    }

    // The three loops are one loop at three widths. Each returns the values it consumed, the largest |term| and
    // whether every term was within MaxTerm (NaN compares false, so a NaN term is out of range).

    private static (int Done, double Largest, bool Finite) Accumulate512(ReadOnlySpan<float> values, double scale, Span<long> sums, long sign)
    {
        ref float source = ref MemoryMarshal.GetReference(values);
        ref long target = ref MemoryMarshal.GetReference(sums);
        var factor = Vector512.Create(scale);
        var limit = Vector512.Create(MaxTerm);
        var signs = Vector512.Create(sign);
        var largest = Vector512<double>.Zero;
        var inRange = Vector512<long>.AllBitsSet;
        int i = 0;
        for (; i <= values.Length - Vector512<float>.Count; i += Vector512<float>.Count)
        {
            var (lower, upper) = Vector512.Widen(Vector512.LoadUnsafe(ref source, (nuint)i));
            lower = Vector512.Round(lower * factor);
            upper = Vector512.Round(upper * factor);
            var lowerAbs = Vector512.Abs(lower);
            var upperAbs = Vector512.Abs(upper);
            inRange &= (Vector512.LessThanOrEqual(lowerAbs, limit) & Vector512.LessThanOrEqual(upperAbs, limit)).AsInt64();
            largest = Vector512.MaxNative(largest, Vector512.MaxNative(lowerAbs, upperAbs));
            // AVX-512 converts double to long in hardware (exact for an integer in range).
            var lowerSum = Vector512.LoadUnsafe(ref target, (nuint)i) + ((Vector512.ConvertToInt64(lower) ^ signs) - signs);
            var upperSum = Vector512.LoadUnsafe(ref target, (nuint)(i + Vector512<long>.Count))
                + ((Vector512.ConvertToInt64(upper) ^ signs) - signs);
            lowerSum.StoreUnsafe(ref target, (nuint)i);
            upperSum.StoreUnsafe(ref target, (nuint)(i + Vector512<long>.Count));
        }
        double result = 0;
        for (int lane = 0; lane < Vector512<double>.Count; lane++)
        {
            result = Math.Max(result, largest[lane]);
        }
        return (i, result, inRange == Vector512<long>.AllBitsSet);
    }

    private static (int Done, double Largest, bool Finite) Accumulate256(ReadOnlySpan<float> values, double scale, Span<long> sums, long sign)
    {
        ref float source = ref MemoryMarshal.GetReference(values);
        ref long target = ref MemoryMarshal.GetReference(sums);
        var factor = Vector256.Create(scale);
        var limit = Vector256.Create(MaxTerm);
        var signs = Vector256.Create(sign);
        var largest = Vector256<double>.Zero;
        var inRange = Vector256<long>.AllBitsSet;
        var small = Vector256.Create(Small);
        int i = 0;
        for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var (lower, upper) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)i));
            lower = Vector256.Round(lower * factor);
            upper = Vector256.Round(upper * factor);
            var lowerAbs = Vector256.Abs(lower);
            var upperAbs = Vector256.Abs(upper);
            inRange &= (Vector256.LessThanOrEqual(lowerAbs, limit) & Vector256.LessThanOrEqual(upperAbs, limit)).AsInt64();
            var both = Vector256.MaxNative(lowerAbs, upperAbs);
            largest = Vector256.MaxNative(largest, both);
            var (lowerTerm, upperTerm) = Vector256.LessThanAll(both, small)
                ? (ToInt64Small(lower), ToInt64Small(upper))
                : (ToInt64(lower), ToInt64(upper));
            var lowerSum = Vector256.LoadUnsafe(ref target, (nuint)i) + ((lowerTerm ^ signs) - signs);
            var upperSum = Vector256.LoadUnsafe(ref target, (nuint)(i + Vector256<long>.Count)) + ((upperTerm ^ signs) - signs);
            lowerSum.StoreUnsafe(ref target, (nuint)i);
            upperSum.StoreUnsafe(ref target, (nuint)(i + Vector256<long>.Count));
        }
        double result = 0;
        for (int lane = 0; lane < Vector256<double>.Count; lane++)
        {
            result = Math.Max(result, largest[lane]);
        }
        return (i, result, inRange == Vector256<long>.AllBitsSet);
    }

    private static (int Done, double Largest, bool Finite) Accumulate128(ReadOnlySpan<float> values, double scale, Span<long> sums, long sign)
    {
        ref float source = ref MemoryMarshal.GetReference(values);
        ref long target = ref MemoryMarshal.GetReference(sums);
        var factor = Vector128.Create(scale);
        var limit = Vector128.Create(MaxTerm);
        var signs = Vector128.Create(sign);
        var largest = Vector128<double>.Zero;
        var inRange = Vector128<long>.AllBitsSet;
        var small = Vector128.Create(Small);
        int i = 0;
        for (; i <= values.Length - Vector128<float>.Count; i += Vector128<float>.Count)
        {
            var (lower, upper) = Vector128.Widen(Vector128.LoadUnsafe(ref source, (nuint)i));
            lower = Vector128.Round(lower * factor);
            upper = Vector128.Round(upper * factor);
            var lowerAbs = Vector128.Abs(lower);
            var upperAbs = Vector128.Abs(upper);
            inRange &= (Vector128.LessThanOrEqual(lowerAbs, limit) & Vector128.LessThanOrEqual(upperAbs, limit)).AsInt64();
            var both = Vector128.MaxNative(lowerAbs, upperAbs);
            largest = Vector128.MaxNative(largest, both);
            var (lowerTerm, upperTerm) = Vector128.LessThanAll(both, small)
                ? (ToInt64Small(lower), ToInt64Small(upper))
                : (ToInt64(lower), ToInt64(upper));
            var lowerSum = Vector128.LoadUnsafe(ref target, (nuint)i) + ((lowerTerm ^ signs) - signs);
            var upperSum = Vector128.LoadUnsafe(ref target, (nuint)(i + Vector128<long>.Count)) + ((upperTerm ^ signs) - signs);
            lowerSum.StoreUnsafe(ref target, (nuint)i);
            upperSum.StoreUnsafe(ref target, (nuint)(i + Vector128<long>.Count));
        }
        double result = 0;
        for (int lane = 0; lane < Vector128<double>.Count; lane++)
        {
            result = Math.Max(result, largest[lane]);
        }
        return (i, result, inRange == Vector128<long>.AllBitsSet);
    }

    // Below AVX-512, x64 has no instruction converting double to long, and Vector256/128.ConvertToInt64 fall back to
    // one lane at a time. An integer-valued term below 2^51 in magnitude is read exactly from the bits of
    // (term + 1.5 * 2^52) instead, whose last place is 1 (ToInt64Small); every term of a typical update is. Up to
    // 2^58 (MaxTerm), a term converts in two such halves: high = floor(term / 2^32) in [-2^26, 2^26] and
    // low = term - high * 2^32 in [0, 2^32), both exact (ToInt64). Out of range either gives some other number,
    // the same for the same term, and the choice between them depends only on the terms.
    // MaxNative equals Max for the absolute values of numbers (no -0); it differs only for NaN, which is refused.
    private const double Magic = 6_755_399_441_055_744; // 1.5 * 2^52
    private const double InverseUnit = 1.0 / Unit;
    private const double Small = 2_251_799_813_685_248; // 2^51

    private static Vector256<long> ToInt64Small(Vector256<double> term)
    {
        var magic = Vector256.Create(Magic);
        return (term + magic).AsInt64() - magic.AsInt64();
    }

    private static Vector128<long> ToInt64Small(Vector128<double> term)
    {
        var magic = Vector128.Create(Magic);
        return (term + magic).AsInt64() - magic.AsInt64();
    }

    private static Vector256<long> ToInt64(Vector256<double> term)
    {
        var magic = Vector256.Create(Magic);
        var high = Vector256.Floor(term * Vector256.Create(InverseUnit));
        var low = term - high * Vector256.Create(Unit);
        var magicBits = magic.AsInt64();
        return (((high + magic).AsInt64() - magicBits) << FractionBits) + ((low + magic).AsInt64() - magicBits);
    }

    private static Vector128<long> ToInt64(Vector128<double> term)
    {
        var magic = Vector128.Create(Magic);
        var high = Vector128.Floor(term * Vector128.Create(InverseUnit));
        var low = term - high * Vector128.Create(Unit);
        var magicBits = magic.AsInt64();
        return (((high + magic).AsInt64() - magicBits) << FractionBits) + ((low + magic).AsInt64() - magicBits);
    }
}

/// <summary>The width of the vectors <see cref="FixedPointSum"/> adds in; every width gives the same bits.</summary>
public enum VectorWidth
{
    Scalar = 0,
    Bits128 = 128,
    Bits256 = 256,
    Bits512 = 512,
}
