using System.Runtime.CompilerServices;
namespace AkkaFed.Model.Federation;

/// <summary>
/// How many clients a round asks to train and to evaluate, and which: FedAvg's <c>fraction_fit</c>,
/// <c>min_fit_clients</c> and <c>fraction_evaluate</c>. Deterministic for a seed and round.
/// </summary>
/// <param name="FitFraction">Share of the available clients asked to train (client-fraction).</param>
/// <param name="MinFitClients">Least number asked to train (min-clients).</param>
/// <param name="EvaluateFraction">Share asked to evaluate the new model (evaluate-fraction); 0 asks none.</param>
public sealed record Sampling(double FitFraction, int MinFitClients, double EvaluateFraction, int Seed)
{
    /// <summary>Over-commitment C (FedScale's 1.3): ask ⌈k·C⌉ clients and keep the first k updates; 1 asks k.</summary>
    public double Overcommit { get; init; } = 1;

    /// <summary>k: the updates a round keeps, of <paramref name="available"/> clients.</summary>
    public int Keep(int available) => ClientSampling.SampleSize(available, FitFraction, MinFitClients);

    /// <summary>The clients asked to train in <paramref name="round"/>, in selection order: ⌈k·C⌉ of them, at most all.</summary>
    public string[] Fit(int round, IReadOnlyList<string> available) =>
        ClientSampling.Select(available, Math.Min(available.Count, (int)Math.Ceiling(Keep(available.Count) * Overcommit - 1e-9)), Seed, round);

    /// <summary>The clients asked to evaluate after <paramref name="round"/>: none at fraction 0, else at least one.</summary>
    public string[] Evaluate(int round, IReadOnlyList<string> available) =>
        EvaluateFraction <= 0 || available.Count == 0
            ? Array.Empty<string>()
            : ClientSampling.Select(available, ClientSampling.SampleSize(available.Count, EvaluateFraction, 1), Seed ^ 0x5eed, round);
}

/// <summary>Which clients take part in a round. Deterministic for a seed and round.</summary>
public static class ClientSampling
{
    /// <summary>
    /// Flower's <c>num_fit_clients</c> and <c>num_evaluation_clients</c>: a fraction of the available, at least the
    /// minimum, at most all.
    /// </summary>
    public static int SampleSize(int available, double fraction, int minClients) =>
        Math.Min(available, Math.Max((int)Math.Floor(available * fraction + 1e-9), minClients));

    /// <summary>
    /// Picks <paramref name="count"/> distinct positions of <paramref name="available"/> (which must be in a
    /// deterministic order, e.g. sorted), in selection order. A partial Fisher-Yates over a sparse map of
    /// swaps: O(count) time and memory, however many clients are available.
    /// </summary>
    public static string[] Select(IReadOnlyList<string> available, int count, int seed, int round)
    {
        if (count > available.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"only {available.Count} clients are available");
        }
        if (count == available.Count)
        {
            return available.ToArray();
        }
        var random = new Random(StableSeed.Mix(seed, round, "sampling"));
        var swapped = new Dictionary<int, int>(count);
        var chosen = new string[count];
        for (int i = 0; i < count; i++)
        {
            int j = random.Next(i, available.Count);
            int atJ = swapped.TryGetValue(j, out var x) ? x : j;
            int atI = swapped.TryGetValue(i, out var y) ? y : i;
            swapped[j] = atI;
            chosen[i] = available[atJ];
        }
        return chosen;
    }
}

/// <summary>Seeds derived from a run's seed, stable across processes (unlike string.GetHashCode).</summary>
public static class StableSeed
{
    public static int Mix(int seed, int round, string label) => Mix(seed, round, label, default);

    /// <summary><c>Mix(seed, round, label + suffix)</c>, without making that string.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called for every client every round: no slow first tier
    public static int Mix(int seed, int round, ReadOnlySpan<char> label, ReadOnlySpan<char> suffix)
    {
        // FNV-1a over the inputs, then a splitmix finaliser.
        ulong hash = 14695981039346656037UL;
        void Add(ulong value)
        {
            for (int b = 0; b < 8; b++)
            {
                hash ^= (value >> (8 * b)) & 0xff;
                hash *= 1099511628211UL;
            }
        }
        Add((ulong)(uint)seed);
        Add((ulong)(uint)round);
        foreach (char c in label)
        {
            hash = AddChar(hash, c);
        }
        foreach (char c in suffix)
        {
            hash = AddChar(hash, c);
        }
        hash ^= hash >> 31;
        hash *= 0xbf58476d1ce4e5b9UL;
        hash ^= hash >> 29;
        return (int)(hash & 0x7fffffff);
    }

    private const ulong FnvPrime = 1099511628211UL;

    /// <summary>FnvPrime^6 (mod 2^64): a char's six zero bytes each only multiply.</summary>
    private const ulong FnvPrimeToTheSixth = unchecked(FnvPrime * FnvPrime * FnvPrime * FnvPrime * FnvPrime * FnvPrime);

    /// <summary>FNV-1a over a char as the 8 bytes of a ulong, as <c>Add(c)</c> does it, in three multiplications, not eight.</summary>
    private static ulong AddChar(ulong hash, char c)
    {
        hash = (hash ^ (byte)c) * FnvPrime;
        hash = (hash ^ (uint)(c >> 8)) * FnvPrime;
        return hash * FnvPrimeToTheSixth;
    }

    /// <summary>A uniform number in [0, 1) for the seed, round and label.</summary>
    public static double Uniform(int seed, int round, string label) => Mix(seed, round, label) / (double)int.MaxValue;
}
