using System.Numerics;
using System.Runtime.CompilerServices;

namespace AkkaFed.Model.Federation;

/// <summary>
/// Byzantine-robust aggregation as pure functions over client updates (model deltas) of equal length,
/// like Flower's <c>aggregate_median</c> and <c>aggregate_trimmed_mean</c>.
/// Every function returns a new array and leaves its inputs untouched. Updates are expected to be finite:
/// <see cref="RoundBook"/> rejects the others before they reach an aggregator.
/// </summary>
/// <remarks>
/// The loops over all coordinates are marked <see cref="MethodImplOptions.AggressiveOptimization"/>: a server
/// aggregates once per round, so tiered compilation would run them unoptimised for the first rounds, measured
/// here at about three times slower.
/// </remarks>
public static class RobustAggregation
{
    /// <summary>
    /// Values per block of coordinates gathered from all updates at once, chosen so that a block stays in
    /// the first cache levels while each update is still read in long sequential runs.
    /// </summary>
    private const int BlockValues = 16_384;

    /// <summary>The coordinate-wise median; with an even count, the mean of the two middle values (as numpy).</summary>
    public static float[] Median(IReadOnlyList<float[]> updates)
    {
        CheckUpdates(updates);
        return ReduceSortedColumns(updates, new MedianOfSorted());
    }

    /// <summary>
    /// The coordinate-wise trimmed mean: per coordinate, drop the floor(<paramref name="beta"/> * n) smallest
    /// and as many largest values and average the rest.
    /// </summary>
    public static float[] TrimmedMean(IReadOnlyList<float[]> updates, double beta)
    {
        if (!(beta >= 0 && beta < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(beta), beta, $"trimmed-fraction must be in [0, 0.5), got {beta}");
        }
        CheckUpdates(updates);
        int trim = (int)Math.Floor(beta * updates.Count);
        // Mathematically at least one value remains; the product can still round up to n/2 for large n.
        if (updates.Count - 2 * trim < 1)
        {
            throw new ArgumentException(
                $"trimmed-fraction {beta} drops {trim} values from each side of {updates.Count}: nothing remains", nameof(beta));
        }
        return ReduceSortedColumns(updates, new MeanOfMiddle(trim));
    }

    private static void CheckUpdates(IReadOnlyList<float[]> updates)
    {
        ArgumentNullException.ThrowIfNull(updates);
        if (updates.Count == 0)
        {
            throw new ArgumentException("no updates to aggregate", nameof(updates));
        }
        int length = updates[0]?.Length ?? throw new ArgumentException("update 0 is null", nameof(updates));
        for (int k = 1; k < updates.Count; k++)
        {
            if (updates[k] is null)
            {
                throw new ArgumentException($"update {k} is null", nameof(updates));
            }
            if (updates[k].Length != length)
            {
                throw new ArgumentException($"update {k} has {updates[k].Length} values, update 0 has {length}", nameof(updates));
            }
        }
    }

    /// <summary>What each coordinate becomes, given a block of rows already sorted down every column.</summary>
    private interface ISortedReduction
    {
        /// <summary>
        /// Reads row r of the block at <c>rows[r * stride ..]</c> and writes one value per column into
        /// <paramref name="target"/>, whose length is the block's column count.
        /// </summary>
        void Reduce(float[] rows, int stride, int count, Span<float> target);
    }

    private readonly struct MedianOfSorted : ISortedReduction
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Reduce(float[] rows, int stride, int count, Span<float> target)
        {
            int half = count / 2;
            var upper = new ReadOnlySpan<float>(rows, half * stride, target.Length);
            if (count % 2 == 1)
            {
                upper.CopyTo(target);
                return;
            }
            // Added in double: the mean of two large floats of one sign cannot overflow, and is rounded once.
            var lower = new ReadOnlySpan<float>(rows, (half - 1) * stride, target.Length);
            int i = 0;
            var halve = new Vector<double>(0.5);
            for (; i <= target.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(lower.Slice(i)), out var lowerLow, out var lowerHigh);
                Vector.Widen(new Vector<float>(upper.Slice(i)), out var upperLow, out var upperHigh);
                Vector.Narrow((lowerLow + upperLow) * halve, (lowerHigh + upperHigh) * halve).CopyTo(target.Slice(i));
            }
            for (; i < target.Length; i++)
            {
                target[i] = (float)(((double)lower[i] + upper[i]) / 2);
            }
        }
    }

    private readonly struct MeanOfMiddle(int trim) : ISortedReduction
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Reduce(float[] rows, int stride, int count, Span<float> target)
        {
            int kept = count - 2 * trim;
            var divisor = new Vector<double>(kept);
            int i = 0;
            for (; i <= target.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var low = Vector<double>.Zero;
                var high = Vector<double>.Zero;
                for (int r = trim; r < count - trim; r++)
                {
                    Vector.Widen(new Vector<float>(rows, r * stride + i), out var rowLow, out var rowHigh);
                    low += rowLow;
                    high += rowHigh;
                }
                Vector.Narrow(low / divisor, high / divisor).CopyTo(target.Slice(i));
            }
            for (; i < target.Length; i++)
            {
                double sum = 0;
                for (int r = trim; r < count - trim; r++)
                {
                    sum += rows[r * stride + i];
                }
                target[i] = (float)(sum / kept);
            }
        }
    }

    /// <summary>
    /// Sorts every coordinate's n values and reduces them, a block of coordinates at a time: each update's
    /// slice of the block is copied into one row of a reused buffer, and a sorting network of min/max
    /// comparators between rows sorts all columns at once, a vector of columns per instruction. Nothing is
    /// allocated per coordinate and there are no data-dependent branches. The reduction is a struct type
    /// parameter so that it is inlined.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float[] ReduceSortedColumns<TReduction>(IReadOnlyList<float[]> updates, TReduction reduction)
        where TReduction : struct, ISortedReduction
    {
        int n = updates.Count;
        int length = updates[0].Length;
        int lanes = Vector<float>.Count;
        int stride = Math.Max(4 * lanes, BlockValues / n / lanes * lanes);
        var network = SortingNetwork(n);
        var rows = new float[n * stride];
        var result = new float[length];
        for (int start = 0; start < length; start += stride)
        {
            int count = Math.Min(stride, length - start);
            // Columns past count in a short last block hold stale values; they are sorted and never read.
            int width = (count + lanes - 1) / lanes * lanes;
            for (int k = 0; k < n; k++)
            {
                new ReadOnlySpan<float>(updates[k], start, count).CopyTo(new Span<float>(rows, k * stride, count));
            }
            foreach (var (low, high) in network)
            {
                var lower = new Span<float>(rows, low * stride, width);
                var upper = new Span<float>(rows, high * stride, width);
                for (int i = 0; i < width; i += lanes)
                {
                    var a = new Vector<float>(lower.Slice(i));
                    var b = new Vector<float>(upper.Slice(i));
                    Vector.Min(a, b).CopyTo(lower.Slice(i));
                    Vector.Max(a, b).CopyTo(upper.Slice(i));
                }
            }
            reduction.Reduce(rows, stride, n, result.AsSpan(start, count));
        }
        return result;
    }

    /// <summary>
    /// Batcher's odd-even merge sort network for n inputs: built for the next power of two, then every
    /// comparator that reaches past n is dropped, which is sound because the missing inputs would be +infinity
    /// and such a comparator never moves them. O(n log^2 n) comparators: 63 for 16 inputs, 1471 for 128.
    /// </summary>
    internal static (int Low, int High)[] SortingNetwork(int n)
    {
        var comparators = new List<(int, int)>();
        int size = 1;
        while (size < n)
        {
            size <<= 1;
        }
        for (int p = 1; p < size; p <<= 1)
        {
            for (int k = p; k >= 1; k >>= 1)
            {
                for (int j = k % p; j + k < size; j += 2 * k)
                {
                    for (int i = 0; i < k && i + j + k < size; i++)
                    {
                        int low = i + j;
                        int high = i + j + k;
                        if (low / (2 * p) == high / (2 * p) && high < n)
                        {
                            comparators.Add((low, high));
                        }
                    }
                }
            }
        }
        return comparators.ToArray();
    }
}
