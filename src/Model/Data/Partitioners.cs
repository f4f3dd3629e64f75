namespace AkkaFed.Model.Data;

/// <summary>How a dataset's samples are dealt out to clients.</summary>
public enum PartitionKind
{
    /// <summary>Client k gets samples [k*n, (k+1)*n) in file order, as in the TFF tutorials.</summary>
    Contiguous,

    /// <summary>A seeded shuffle cut into equal chunks: every client sees the global distribution.</summary>
    Iid,

    /// <summary>McMahan et al.'s non-IID split: label-sorted shards, a few per client.</summary>
    Pathological,

    /// <summary>Per-class proportions over clients drawn from Dirichlet(alpha) (Hsu et al., 2019).</summary>
    Dirichlet,

    /// <summary>
    /// Windows of n samples over a seeded shuffle (<see cref="Shards.Windows"/>): IID like <see cref="Iid"/> while
    /// the samples last, then overlapping, so that 100,000 or 1,000,000 clients can be simulated on one dataset.
    /// </summary>
    Windows,
}

/// <summary>
/// Partitions of a dataset among clients: for each client, the indices of its samples in the dataset.
/// Every function is pure: its only randomness is a <see cref="Random"/> built from the seed it is
/// given, so a seed names one partition on every machine and every run (System.Random with a seed
/// keeps its legacy, version-stable sequence).
/// </summary>
public static class Partitioner
{
    /// <summary>The single entry point used by the host: dispatches on <paramref name="kind"/>.</summary>
    /// <param name="samplesPerClient">
    /// For <see cref="PartitionKind.Contiguous"/> and <see cref="PartitionKind.Iid"/> only; 0 means labels.Length / clients.
    /// The label-aware partitions hand out every sample and ignore it.
    /// </param>
    /// <param name="alpha">Concentration for <see cref="PartitionKind.Dirichlet"/>: small is skewed, large near-uniform.</param>
    /// <param name="shardsPerClient">Shards per client for <see cref="PartitionKind.Pathological"/>.</param>
    public static int[][] Split(
        PartitionKind kind, byte[] labels, int clients, int samplesPerClient, int seed,
        double alpha = 0.5, int shardsPerClient = 2)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return kind switch
        {
            PartitionKind.Contiguous => Contiguous(labels.Length, clients, samplesPerClient),
            PartitionKind.Iid => Iid(labels.Length, clients, samplesPerClient, seed),
            PartitionKind.Pathological => Pathological(labels, clients, shardsPerClient, seed),
            PartitionKind.Dirichlet => Dirichlet(labels, clients, alpha, seed),
            PartitionKind.Windows => throw new ArgumentException("windows are views into one array: use Partitioner.Shards", nameof(kind)),
            _ => throw new ArgumentException($"unknown partition kind {kind}", nameof(kind)),
        };
    }

    /// <summary>As <see cref="Split"/>, as views into one index array; the only way to get <see cref="PartitionKind.Windows"/>.</summary>
    public static Shards Shards(
        PartitionKind kind, byte[] labels, int clients, int samplesPerClient, int seed, double alpha = 0.5, int shardsPerClient = 2) =>
        kind == PartitionKind.Windows
            ? Data.Shards.Windows(labels.Length, clients, samplesPerClient > 0 ? samplesPerClient : Math.Max(1, labels.Length / clients), seed)
            : Data.Shards.FromPartitions(Split(kind, labels, clients, samplesPerClient, seed, alpha, shardsPerClient));

    /// <summary>
    /// Client k gets samples [k*n, (k+1)*n), the chunks of TFF's federated-learning tutorial.
    /// Samples after the last chunk are left out.
    /// </summary>
    /// <param name="samplesPerClient">n; 0 means count / clients.</param>
    public static int[][] Contiguous(int count, int clients, int samplesPerClient)
    {
        int perClient = ResolveSamplesPerClient(count, clients, samplesPerClient);
        var result = new int[clients][];
        for (int k = 0; k < clients; k++)
        {
            result[k] = Enumerable.Range(k * perClient, perClient).ToArray();
        }
        return result;
    }

    /// <summary>
    /// A seeded shuffle of all samples cut into chunks of n. Samples after the last chunk are left out
    /// (at most clients - 1 of them when n is 0), so every client holds exactly n.
    /// </summary>
    /// <param name="samplesPerClient">n; 0 means count / clients.</param>
    public static int[][] Iid(int count, int clients, int samplesPerClient, int seed)
    {
        int perClient = ResolveSamplesPerClient(count, clients, samplesPerClient);
        int[] order = Enumerable.Range(0, count).ToArray();
        Shuffle(order, new Random(seed));
        var result = new int[clients][];
        for (int k = 0; k < clients; k++)
        {
            result[k] = order[(k * perClient)..((k + 1) * perClient)];
        }
        return result;
    }

    /// <summary>
    /// McMahan et al. (2017): sort the samples by label (stable), cut them into clients x shardsPerClient
    /// shards, and give each client shardsPerClient shards at random. When no shard straddles two labels
    /// (each class a multiple of the shard size, as in the paper's 60,000 / 200), a client sees at most
    /// shardsPerClient labels.
    /// Every sample is handed out; shard sizes differ by at most one when the count does not divide evenly.
    /// </summary>
    public static int[][] Pathological(byte[] labels, int clients, int shardsPerClient, int seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clients);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shardsPerClient);
        long shardCount = (long)clients * shardsPerClient;
        if (shardCount > labels.Length)
        {
            throw new ArgumentException(
                $"{clients} clients x {shardsPerClient} shards = {shardCount} shards, more than the {labels.Length} samples",
                nameof(shardsPerClient));
        }

        int[] sorted = GroupByLabel(labels).SelectMany(members => members).ToArray();
        int shards = (int)shardCount;
        int[] shardOrder = Enumerable.Range(0, shards).ToArray();
        Shuffle(shardOrder, new Random(seed));

        var result = new int[clients][];
        for (int k = 0; k < clients; k++)
        {
            var mine = new List<int>();
            for (int j = 0; j < shardsPerClient; j++)
            {
                int shard = shardOrder[k * shardsPerClient + j];
                int start = (int)((long)shard * sorted.Length / shards);
                int end = (int)((long)(shard + 1) * sorted.Length / shards);
                mine.AddRange(sorted.AsSpan(start, end - start));
            }
            result[k] = mine.ToArray();
        }
        return result;
    }

    /// <summary>
    /// Hsu, Qi and Brown (2019): for each class, draw proportions over the clients from
    /// Dirichlet(alpha) and split that class's (shuffled) samples accordingly. Every sample goes to
    /// exactly one client. A client left with fewer than <paramref name="minSamples"/> then takes samples,
    /// one at a time, from the largest client (lowest index on ties), so the result stays deterministic.
    /// </summary>
    public static int[][] Dirichlet(byte[] labels, int clients, double alpha, int seed, int minSamples = 1)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clients);
        if (!double.IsFinite(alpha) || alpha <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be a positive, finite number");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(minSamples);
        if ((long)clients * minSamples > labels.Length)
        {
            throw new ArgumentException(
                $"{clients} clients x {minSamples} samples at least is more than the {labels.Length} samples",
                nameof(clients));
        }

        var random = new Random(seed);
        var assigned = new List<int>[clients];
        for (int k = 0; k < clients; k++)
        {
            assigned[k] = new List<int>();
        }
        foreach (int[] members in GroupByLabel(labels))
        {
            Shuffle(members, random);
            double[] proportions = SampleDirichlet(random, alpha, clients);
            double cumulative = 0;
            int start = 0;
            for (int k = 0; k < clients; k++)
            {
                cumulative += proportions[k];
                int end = k == clients - 1
                    ? members.Length
                    : Math.Clamp((int)Math.Round(cumulative * members.Length), start, members.Length);
                assigned[k].AddRange(members.AsSpan(start, end - start));
                start = end;
            }
        }
        TopUp(assigned, minSamples);
        return assigned.Select(list => list.ToArray()).ToArray();
    }

    /// <summary>Moves samples from the largest clients to those below the minimum.</summary>
    private static void TopUp(List<int>[] assigned, int minSamples)
    {
        for (int k = 0; k < assigned.Length; k++)
        {
            while (assigned[k].Count < minSamples)
            {
                int donor = 0;
                for (int j = 1; j < assigned.Length; j++)
                {
                    if (assigned[j].Count > assigned[donor].Count)
                    {
                        donor = j;
                    }
                }
                // The caller checked clients * minSamples <= samples, so the largest client has a spare one.
                List<int> from = assigned[donor];
                assigned[k].Add(from[^1]);
                from.RemoveAt(from.Count - 1);
            }
        }
    }

    private static int ResolveSamplesPerClient(int count, int clients, int samplesPerClient)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clients);
        ArgumentOutOfRangeException.ThrowIfNegative(samplesPerClient);
        int perClient = samplesPerClient == 0 ? count / clients : samplesPerClient;
        if (perClient == 0)
        {
            throw new ArgumentException($"{count} samples cannot give each of {clients} clients even one", nameof(clients));
        }
        if ((long)clients * perClient > count)
        {
            throw new ArgumentException(
                $"{clients} clients x {perClient} samples = {(long)clients * perClient}, more than the {count} samples",
                nameof(samplesPerClient));
        }
        return perClient;
    }

    /// <summary>Sample indices per label 0..max, each in ascending order (a stable counting sort).</summary>
    private static int[][] GroupByLabel(byte[] labels)
    {
        var counts = new int[256];
        foreach (byte label in labels)
        {
            counts[label]++;
        }
        int classes = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] > 0)
            {
                classes = c + 1;
            }
        }
        var groups = new int[classes][];
        var filled = new int[classes];
        for (int c = 0; c < classes; c++)
        {
            groups[c] = new int[counts[c]];
        }
        for (int i = 0; i < labels.Length; i++)
        {
            byte label = labels[i];
            groups[label][filled[label]++] = i;
        }
        return groups;
    }

    /// <summary>Fisher–Yates.</summary>
    private static void Shuffle(int[] items, Random random)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>One draw from the symmetric Dirichlet(alpha) over <paramref name="size"/> components.</summary>
    internal static double[] SampleDirichlet(Random random, double alpha, int size)
    {
        // Normalising Gamma(alpha) draws; done from their logarithms because for small alpha every
        // draw can underflow to zero, which would leave nothing to normalise.
        var logs = new double[size];
        double max = double.NegativeInfinity;
        for (int k = 0; k < size; k++)
        {
            logs[k] = LogGamma(random, alpha);
            max = Math.Max(max, logs[k]);
        }
        var proportions = new double[size];
        double sum = 0;
        for (int k = 0; k < size; k++)
        {
            proportions[k] = Math.Exp(logs[k] - max);
            sum += proportions[k];
        }
        for (int k = 0; k < size; k++)
        {
            proportions[k] /= sum;
        }
        return proportions;
    }

    /// <summary>The logarithm of one Gamma(shape, 1) draw (Marsaglia and Tsang, 2000).</summary>
    internal static double LogGamma(Random random, double shape)
    {
        if (shape < 1)
        {
            // Marsaglia and Tsang's boost: Gamma(a) = Gamma(a + 1) * U^(1/a), in logs.
            double u = 1.0 - random.NextDouble();
            return LogGamma(random, shape + 1) + Math.Log(u) / shape;
        }
        double d = shape - 1.0 / 3.0;
        double c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x;
            double v;
            do
            {
                x = NextGaussian(random);
                v = 1.0 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            double x2 = x * x;
            if (u < 1.0 - 0.0331 * x2 * x2 || Math.Log(u) < 0.5 * x2 + d * (1.0 - v + Math.Log(v)))
            {
                return Math.Log(d * v);
            }
        }
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    private static double NextGaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
