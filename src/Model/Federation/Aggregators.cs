namespace AkkaFed.Model.Federation;

/// <summary>
/// How a round's updates combine into one delta before the server optimizer's step: a choice of aggregation,
/// as Flower's <c>aggregate</c>, <c>aggregate_median</c> and <c>aggregate_krum</c> are, not a strategy.
/// <see cref="WeightedMean"/> is FedAvg's; <see cref="RobustAggregator"/> holds the Byzantine-robust ones;
/// <see cref="NormBounded"/> bounds each update's norm before any of them.
/// </summary>
public interface IAggregator
{
    /// <summary>
    /// Starts combining one round's updates to a model of <paramref name="parameters"/> values, from the
    /// <paramref name="selected"/> clients (in selection order).
    /// </summary>
    IDeltaAggregation Begin(int parameters, IReadOnlyList<string> selected);
}

/// <summary>
/// One round's combination in progress, from <see cref="IAggregator.Begin"/>: updates go in as they arrive, and
/// <see cref="Combine"/> gives the same delta to the last bit whatever their order.
/// </summary>
public interface IDeltaAggregation : IDisposable
{
    /// <summary>Updates added so far.</summary>
    int Count { get; }

    /// <summary>Model deltas held until <see cref="Combine"/>.</summary>
    int RetainedDeltas { get; }

    /// <summary>Folds in an update. Throws <see cref="ArgumentException"/>, changing nothing, when it cannot be combined.</summary>
    void Add(ClientUpdate update);

    /// <summary>The combined delta of the updates added (at least one).</summary>
    float[] Combine();
}

/// <summary>
/// FedAvg's weighted mean, streamed: each delta is folded into one exact <see cref="FixedPointSum"/> as it
/// arrives and dropped, so the result is the same whatever the arrival order and memory holds one accumulator.
/// A compressed delta is decoded into the sum a block at a time, never expanded to a float32 copy.
/// </summary>
public sealed class WeightedMean(ClientWeighting weighting) : IAggregator
{
    public ClientWeighting Weighting { get; } = weighting;

    public IDeltaAggregation Begin(int parameters, IReadOnlyList<string> selected) => new InProgress(Weighting, parameters);

    private sealed class InProgress(ClientWeighting weighting, int parameters) : IDeltaAggregation
    {
        private readonly FixedPointSum _sum = new(parameters);

        public int Count => _sum.Count;

        public int RetainedDeltas => 0;

        public void Add(ClientUpdate update) =>
            _sum.Add(update.Delta, weighting == ClientWeighting.Uniform ? 1 : update.Examples);

        public float[] Combine() => _sum.Mean();

        public void Dispose() => _sum.Dispose();
    }
}

/// <summary>
/// Median, trimmed mean, Krum and Multi-Krum (<see cref="RobustAggregation"/>) need every update at once, by
/// definition: a round keeps each delta (memory grows with the clients, one model each) and combines them in
/// selection order at the end, so the result does not depend on the arrival order. They work on raw values, so a
/// compressed delta is decoded to float32 when it is added (and kept that way).
/// </summary>
public sealed class RobustAggregator : IAggregator
{
    private readonly Func<IReadOnlyList<float[]>, float[]> _combine;

    private RobustAggregator(Func<IReadOnlyList<float[]>, float[]> combine)
    {
        _combine = combine;
    }

    /// <summary>The coordinate-wise median.</summary>
    public static RobustAggregator Median() => new(RobustAggregation.Median);

    /// <summary>The coordinate-wise mean of what is left after trimming <paramref name="beta"/> of the values from each end.</summary>
    public static RobustAggregator TrimmedMean(double beta) => new(updates => RobustAggregation.TrimmedMean(updates, beta));

    /// <summary>The one update closest to its neighbours, tolerating <paramref name="byzantine"/> attackers.</summary>
    public static RobustAggregator Krum(int byzantine) => new(updates => RobustAggregation.Krum(updates, byzantine).Aggregate);

    /// <summary>The mean of the <paramref name="keep"/> updates Krum scores best.</summary>
    public static RobustAggregator MultiKrum(int byzantine, int keep) =>
        new(updates => RobustAggregation.MultiKrum(updates, byzantine, keep).Aggregate);

    public IDeltaAggregation Begin(int parameters, IReadOnlyList<string> selected) => new InProgress(_combine, parameters, selected);

    private sealed class InProgress : IDeltaAggregation
    {
        private readonly Func<IReadOnlyList<float[]>, float[]> _combine;
        private readonly int _parameters;
        private readonly Dictionary<string, int> _positions;
        private readonly float[]?[] _deltas;

        public InProgress(Func<IReadOnlyList<float[]>, float[]> combine, int parameters, IReadOnlyList<string> selected)
        {
            _combine = combine;
            _parameters = parameters;
            _positions = new Dictionary<string, int>(selected.Count, StringComparer.Ordinal);
            for (int i = 0; i < selected.Count; i++)
            {
                _positions.Add(selected[i], i);
            }
            _deltas = new float[]?[selected.Count];
        }

        public int Count { get; private set; }

        public int RetainedDeltas => Count;

        public void Add(ClientUpdate update)
        {
            if (!_positions.TryGetValue(update.ClientId, out int position) || _deltas[position] is not null)
            {
                throw new ArgumentException($"{update.ClientId} was not selected, or its update was already added", nameof(update));
            }
            if (update.Delta.Length != _parameters)
            {
                throw new ArgumentException($"{update.Delta.Length} values, the model has {_parameters}", nameof(update));
            }
            _deltas[position] = update.Delta.ToFloats();
            Count++;
        }

        public float[] Combine() => _combine(_deltas.OfType<float[]>().ToArray());

        public void Dispose() => Array.Clear(_deltas);
    }
}

/// <summary>
/// Norm bounding (Sun et al. 2019) in front of any aggregation: each update is scaled down to an L2 norm of at
/// most <see cref="MaxNorm"/> before the <see cref="Inner"/> aggregation sees it.
/// </summary>
public sealed class NormBounded : IAggregator
{
    public NormBounded(IAggregator inner, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!(maxNorm > 0) || double.IsInfinity(maxNorm))
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "the norm bound must be positive and finite");
        }
        Inner = inner;
        MaxNorm = maxNorm;
    }

    public IAggregator Inner { get; }

    public double MaxNorm { get; }

    public IDeltaAggregation Begin(int parameters, IReadOnlyList<string> selected) => new InProgress(Inner.Begin(parameters, selected), MaxNorm);

    private sealed class InProgress(IDeltaAggregation inner, double maxNorm) : IDeltaAggregation
    {
        public int Count => inner.Count;

        public int RetainedDeltas => inner.RetainedDeltas;

        public void Add(ClientUpdate update) => inner.Add(update with { Delta = RobustAggregation.BoundNorm(update.Delta.ToFloats(), maxNorm) });

        public float[] Combine() => inner.Combine();

        public void Dispose() => inner.Dispose();
    }
}
