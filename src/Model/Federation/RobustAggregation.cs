using System.Numerics;
using System.Runtime.CompilerServices;

namespace AkkaFed.Model.Federation;

/// <summary>
/// Byzantine-robust aggregation as pure functions over client updates (model deltas) of equal length,
/// like Flower's <c>aggregate_median</c>, <c>aggregate_trimmed_mean</c> and <c>aggregate_krum</c>.
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

    /// <summary>
    /// Krum (Blanchard et al. 2017): the update whose <see cref="KrumScores"/> is lowest, lower index on ties,
    /// returned as a copy together with its index.
    /// </summary>
    public static (float[] Aggregate, int Selected) Krum(IReadOnlyList<float[]> updates, int byzantine)
    {
        var (aggregate, selected) = MultiKrum(updates, byzantine, keep: 1);
        return (aggregate, selected[0]);
    }

    /// <summary>
    /// Multi-Krum: the mean of the <paramref name="keep"/> lowest-scored updates (lower index on ties).
    /// <c>Selected</c> lists their indices best first. <paramref name="keep"/> may not exceed n - f: any larger
    /// selection would take at least one of f Byzantine updates whatever the scores.
    /// </summary>
    public static (float[] Aggregate, int[] Selected) MultiKrum(IReadOnlyList<float[]> updates, int byzantine, int keep)
    {
        var scores = KrumScores(updates, byzantine);
        int limit = updates.Count - byzantine;
        if (keep < 1 || keep > limit)
        {
            throw new ArgumentOutOfRangeException(nameof(keep), keep,
                $"krum-keep must be between 1 and n - f = {updates.Count} - {byzantine} = {limit}, got {keep}");
        }
        // OrderBy is stable, so equal scores keep the lower index first.
        var selected = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).Take(keep).ToArray();
        return (Mean(updates, selected), selected);
    }

    /// <summary>
    /// Krum's score of each update: the sum of squared L2 distances to its n - f - 2 nearest other updates,
    /// computed in double precision. Requires n &gt;= 2f + 3.
    /// </summary>
    public static double[] KrumScores(IReadOnlyList<float[]> updates, int byzantine)
    {
        if (byzantine < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(byzantine), byzantine, $"krum-byzantine must be at least 0, got {byzantine}");
        }
        CheckUpdates(updates);
        int n = updates.Count;
        if (n < 2 * byzantine + 3)
        {
            throw new ArgumentException(
                $"krum-byzantine = {byzantine} needs at least 2f + 3 = {2 * byzantine + 3} updates, got {n}", nameof(byzantine));
        }

        var distances = SquaredDistances(updates);
        int nearest = n - byzantine - 2;
        var scores = new double[n];
        var others = new double[n - 1];
        for (int i = 0; i < n; i++)
        {
            int o = 0;
            for (int j = 0; j < n; j++)
            {
                if (j != i)
                {
                    others[o++] = distances[i * n + j];
                }
            }
            Array.Sort(others);
            double score = 0;
            for (int k = 0; k < nearest; k++)
            {
                score += others[k];
            }
            scores[i] = score;
        }
        return scores;
    }

    /// <summary>The Euclidean norm, accumulated in double precision.</summary>
    public static double L2Norm(ReadOnlySpan<float> values) => Math.Sqrt(SquaredNorm(values));

    /// <summary>
    /// A copy of <paramref name="update"/> scaled down so its L2 norm is at most <paramref name="maxNorm"/>;
    /// an unchanged copy when it is already within.
    /// </summary>
    public static float[] BoundNorm(float[] update, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(update);
        if (!(maxNorm > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"the norm bound must be positive, got {maxNorm}");
        }
        double norm = L2Norm(update);
        if (!double.IsFinite(norm))
        {
            throw new ArgumentException("the update is not finite", nameof(update));
        }
        var bounded = (float[])update.Clone();
        if (norm <= maxNorm)
        {
            return bounded;
        }
        // Rounding each value to float can leave the norm an ulp above the bound: shrink by less than an ulp
        // until it is not, which takes one or two passes.
        double scale = maxNorm / norm;
        while (true)
        {
            Scale(update, scale, bounded);
            if (L2Norm(bounded) <= maxNorm)
            {
                return bounded;
            }
            scale *= 1 - 1.0 / (1 << 24);
        }
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

    /// <summary>
    /// All pairwise squared distances as an n x n matrix. The coordinates are walked a block at a time, every
    /// pair within a block, so each block is read from memory once rather than once per pair.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double[] SquaredDistances(IReadOnlyList<float[]> updates)
    {
        int n = updates.Count;
        int length = updates[0].Length;
        int block = Math.Max(Vector<float>.Count, BlockValues / n / Vector<float>.Count * Vector<float>.Count);
        var distances = new double[n * n];
        for (int start = 0; start < length; start += block)
        {
            int count = Math.Min(block, length - start);
            for (int i = 0; i < n; i++)
            {
                var a = new ReadOnlySpan<float>(updates[i], start, count);
                for (int j = i + 1; j < n; j++)
                {
                    distances[i * n + j] += SquaredDistance(a, new ReadOnlySpan<float>(updates[j], start, count));
                }
            }
        }
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                distances[j * n + i] = distances[i * n + j];
            }
        }
        return distances;
    }

    /// <summary>Squared L2 distance, each value widened to double before subtracting, vectorised.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var low = Vector<double>.Zero;
            var high = Vector<double>.Zero;
            for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(a.Slice(i)), out var aLow, out var aHigh);
                Vector.Widen(new Vector<float>(b.Slice(i)), out var bLow, out var bHigh);
                var dLow = aLow - bLow;
                var dHigh = aHigh - bHigh;
                low += dLow * dLow;
                high += dHigh * dHigh;
            }
            sum = Vector.Sum(low + high);
        }
        for (; i < a.Length; i++)
        {
            double d = (double)a[i] - b[i];
            sum += d * d;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SquaredNorm(ReadOnlySpan<float> values)
    {
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var low = Vector<double>.Zero;
            var high = Vector<double>.Zero;
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(values.Slice(i)), out var vLow, out var vHigh);
                low += vLow * vLow;
                high += vHigh * vHigh;
            }
            sum = Vector.Sum(low + high);
        }
        for (; i < values.Length; i++)
        {
            sum += (double)values[i] * values[i];
        }
        return sum;
    }

    /// <summary>The mean of the chosen updates, summed in the order given.</summary>
    private static float[] Mean(IReadOnlyList<float[]> updates, int[] chosen)
    {
        var sum = (float[])updates[chosen[0]].Clone();
        for (int k = 1; k < chosen.Length; k++)
        {
            Add(updates[chosen[k]], sum);
        }
        if (chosen.Length > 1)
        {
            DivideInPlace(sum, chosen.Length);
        }
        return sum;
    }

    /// <summary><c>values /= divisor</c>, vectorised: dividing, not multiplying by 1/divisor, rounds once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DivideInPlace(Span<float> values, float divisor)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var by = new Vector<float>(divisor);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                (new Vector<float>(values.Slice(i)) / by).CopyTo(values.Slice(i));
            }
        }
        for (; i < values.Length; i++)
        {
            values[i] /= divisor;
        }
    }

    /// <summary><c>accumulator += values</c>, vectorised.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Add(ReadOnlySpan<float> values, Span<float> accumulator)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                (new Vector<float>(accumulator.Slice(i)) + new Vector<float>(values.Slice(i))).CopyTo(accumulator.Slice(i));
            }
        }
        for (; i < values.Length; i++)
        {
            accumulator[i] += values[i];
        }
    }

    /// <summary><c>target = factor * values</c>, multiplied in double and rounded once, vectorised.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scale(ReadOnlySpan<float> values, double factor, Span<float> target)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var scale = new Vector<double>(factor);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(new Vector<float>(values.Slice(i)), out var low, out var high);
                Vector.Narrow(low * scale, high * scale).CopyTo(target.Slice(i));
            }
        }
        for (; i < values.Length; i++)
        {
            target[i] = (float)(values[i] * factor);
        }
    }
}
