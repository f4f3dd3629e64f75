using AkkaFed.Model.Privacy;
using AkkaFed.Model.Learning;

namespace AkkaFed.Model.Federation;

/// <summary>A client that was asked and did not deliver: its training threw, it died, or its update was refused.</summary>
public sealed record ClientFailure(string ClientId, string Reason);

/// <summary>Which clients train in a round, and how (Flower's <c>configure_fit</c>).</summary>
public sealed record FitConfiguration(IReadOnlyList<string> Clients, LocalTrainingOptions Options);

/// <summary>
/// A federated optimisation strategy, shaped like Flower's <c>Strategy</c>: it decides how a round is
/// configured and how its results and failures become the next global model. It sees client ids, never
/// actor references, and holds no state of its own: everything that lasts is in <see cref="FederatedState"/>.
/// </summary>
public interface IStrategy
{
    string Name { get; }

    /// <summary>The clients asked to train in <paramref name="round"/>, drawn from <paramref name="available"/> (in a fixed order).</summary>
    FitConfiguration ConfigureFit(int round, IReadOnlyList<string> available);

    /// <summary>
    /// Starts aggregating the round that trains <paramref name="state"/> with the <paramref name="selected"/> clients
    /// (in selection order): the results go in as they arrive, and <see cref="IRoundAggregation.Finish"/> gives the
    /// state after the round (Flower's <c>aggregate_fit</c>, one result at a time).
    /// </summary>
    IRoundAggregation BeginFit(FederatedState state, IReadOnlyList<string> selected);

    /// <summary>The clients asked to evaluate the global model on their own data (Flower's <c>configure_evaluate</c>).</summary>
    IReadOnlyList<string> ConfigureEvaluate(int round, IReadOnlyList<string> available);

    /// <summary>The clients' evaluations combined, weighted by examples (Flower's <c>aggregate_evaluate</c>); null when none.</summary>
    Evaluation? AggregateEvaluate(int round, IReadOnlyList<Evaluation> results, IReadOnlyList<ClientFailure> failures);
}

/// <summary>
/// One round's aggregation in progress, from <see cref="IStrategy.BeginFit"/>: the server adds each accepted
/// update as it arrives and calls <see cref="Finish"/> once when the round closes. Whatever the arrival order,
/// the result is the same to the last bit. Dispose it when the round is over, finished or not.
/// </summary>
public interface IRoundAggregation : IDisposable
{
    /// <summary>Updates added so far.</summary>
    int Count { get; }

    /// <summary>
    /// Model deltas held until <see cref="Finish"/>: none for the streaming aggregators (the mean and DP-FedAvg's
    /// clipped mean), one per update for the robust ones (median, trimmed mean, Krum, Multi-Krum).
    /// </summary>
    int RetainedDeltas { get; }

    /// <summary>
    /// Folds in an accepted update. Throws <see cref="ArgumentException"/>, changing nothing, when the update cannot
    /// be aggregated (a length other than the model's, a value out of the aggregator's range); the server rejects it.
    /// </summary>
    void Add(ClientUpdate update);

    /// <summary>
    /// The state after the round, from the updates added and the <paramref name="failures"/> (selected clients that
    /// did not deliver). <paramref name="available"/> clients could have been selected.
    /// </summary>
    FederatedState Finish(IReadOnlyList<ClientFailure> failures, int available);
}

/// <summary>
/// Every strategy AkkaFed offers, as one composition: sample clients (Flower's <c>num_fit_clients</c>);
/// bound each update's norm; combine the updates (weighted mean, median, trimmed mean, Krum, Multi-Krum);
/// take the server optimizer's step (SGD for FedAvg, FedSGD and FedProx; momentum for FedAvgM;
/// FedAdagrad, FedAdam, FedYogi). FedProx differs only on the client, FedSGD in a full-batch single step.
/// With <see cref="PrivacyOptions"/>, the mean is DP-FedAvg's clipped, noised mean, and the state carries the
/// privacy spent. The mean and DP-FedAvg fold each update into an exact sum as it arrives (see
/// <see cref="BeginFit"/>); the robust aggregators keep every update until the round closes.
/// </summary>
public sealed class FederatedStrategy : IStrategy
{
    private readonly StrategyOptions _options;
    private readonly double _fraction;
    private readonly int _minClients;
    private readonly ClientWeighting _weighting;
    private readonly LocalTrainingOptions _local;
    private readonly int _seed;
    private readonly IServerOptimizer _optimizer;

    public FederatedStrategy(StrategyOptions options, double fraction, int minClients, ClientWeighting weighting,
        double serverLearningRate, LocalTrainingOptions local, int seed)
    {
        _options = options.Validate(minClients);
        _fraction = fraction;
        _minClients = minClients;
        _weighting = weighting;
        _seed = seed;
        _local = options.Name switch
        {
            "fedsgd" => local with { Epochs = 1, BatchSize = LocalTrainingOptions.FullBatch },
            "fedprox" => local with { ProximalMu = options.ProximalMu },
            _ => local,
        };
        string optimizer = options.Name switch
        {
            "fedavgm" => "fedavgm",
            "fedadagrad" or "fedadam" or "fedyogi" => options.Name,
            _ => "sgd",
        };
        _optimizer = ServerOptimizers.Create(optimizer, serverLearningRate, options.ServerMomentum, options.Beta1, options.Beta2, options.Tau);
    }

    public string Name => _options.Name;

    public FitConfiguration ConfigureFit(int round, IReadOnlyList<string> available)
    {
        int count = ClientSampling.NumFitClients(available.Count, _fraction, _minClients);
        return new FitConfiguration(ClientSampling.Select(available, count, _seed, round), _local);
    }

    public IRoundAggregation BeginFit(FederatedState state, IReadOnlyList<string> selected)
    {
        if (_options.Privacy is { Enabled: true } privacy)
        {
            return new PrivateAggregation(this, state, privacy);
        }
        return _options.Aggregator == AggregatorKind.Mean
            ? new MeanAggregation(this, state)
            : new RobustRoundAggregation(this, state, selected);
    }

    /// <summary>The server optimizer's step from <paramref name="state"/> along the round's combined delta.</summary>
    private FederatedState Step(FederatedState state, float[] combined)
    {
        var optimizerState = state.Optimizer.Slots.Length == 0 ? _optimizer.Initial(state.Weights.Length) : state.Optimizer;
        var (weights, next) = _optimizer.Step(state.Weights, combined, optimizerState);
        return new FederatedState(state.Round + 1, weights) { Optimizer = next };
    }

    private float[] Bounded(float[] delta) => _options.NormBound > 0 ? RobustAggregation.BoundNorm(delta, _options.NormBound) : delta;

    private static void RequireResults(int count)
    {
        if (count == 0)
        {
            throw new InvalidOperationException("no results to aggregate");
        }
    }

    /// <summary>
    /// FedAvg's weighted mean, streamed: each delta is folded into one exact <see cref="FixedPointSum"/> as it
    /// arrives and dropped, so the result is the same whatever the arrival order and memory holds one accumulator.
    /// </summary>
    private sealed class MeanAggregation(FederatedStrategy strategy, FederatedState state) : IRoundAggregation
    {
        private readonly FixedPointSum _sum = new(state.Weights.Length);

        public int Count => _sum.Count;

        public int RetainedDeltas => 0;

        public void Add(ClientUpdate update) =>
            _sum.Add(strategy.Bounded(update.Delta), strategy._weighting == ClientWeighting.Uniform ? 1 : update.Examples);

        public FederatedState Finish(IReadOnlyList<ClientFailure> failures, int available)
        {
            RequireResults(Count);
            return strategy.Step(state, _sum.Mean());
        }

        public void Dispose() => _sum.Dispose();
    }

    /// <summary>
    /// DP-FedAvg, streamed: each update is clipped on arrival and folded into one exact sum; only its norm (a
    /// double) is kept, for adaptive clipping, which counts the norms below the clip norm in any order.
    /// </summary>
    private sealed class PrivateAggregation : IRoundAggregation
    {
        private readonly FederatedStrategy _strategy;
        private readonly FederatedState _state;
        private readonly PrivacyOptions _privacy;
        private readonly PrivacyState _current;
        private readonly FixedPointSum _clipped;
        private readonly List<double> _norms = new();

        public PrivateAggregation(FederatedStrategy strategy, FederatedState state, PrivacyOptions privacy)
        {
            _strategy = strategy;
            _state = state;
            _privacy = privacy;
            _current = state.Privacy ?? new PrivacyState(privacy.ClipNorm, PrivacyLedger.Empty);
            _clipped = new FixedPointSum(state.Weights.Length);
        }

        public int Count => _clipped.Count;

        public int RetainedDeltas => 0;

        public void Add(ClientUpdate update)
        {
            double norm = DifferentialPrivacy.L2Norm(update.Delta);
            _clipped.Add(DifferentialPrivacy.Clip(update.Delta, _current.ClipNorm), 1);
            _norms.Add(norm);
        }

        public FederatedState Finish(IReadOnlyList<ClientFailure> failures, int available)
        {
            RequireResults(Count);
            int selected = Count + failures.Count;
            int round = _state.Round;
            int seed = _strategy._seed;
            double noise = _privacy.Adaptive && _privacy.ClippedCountStddev > 0 && _privacy.NoiseMultiplier > 0
                ? AdaptiveClipping.EffectiveNoiseMultiplier(_privacy.NoiseMultiplier, _privacy.ClippedCountStddev)
                : _privacy.NoiseMultiplier;
            var mean = DifferentialPrivacy.NoisyMean(_clipped, _current.ClipNorm, noise, selected,
                new Random(StableSeed.Mix(seed, round, "dp-noise")));
            double clipNorm = _privacy.Adaptive
                ? new AdaptiveClipping(_current.ClipNorm, _privacy.TargetQuantile, _privacy.ClipLearningRate, _privacy.ClippedCountStddev)
                    .Update(_norms, new Random(StableSeed.Mix(seed, round, "dp-clip")), selected).ClipNorm
                : _current.ClipNorm;
            // The guarantee is stated for z; sampling is approximated as Poisson at q = selected / available.
            var ledger = _privacy.NoiseMultiplier > 0
                ? _current.Ledger.Record((double)selected / Math.Max(selected, available), _privacy.NoiseMultiplier)
                : _current.Ledger;
            return _strategy.Step(_state, mean) with { Privacy = new PrivacyState(clipNorm, ledger) };
        }

        public void Dispose() => _clipped.Dispose();
    }

    /// <summary>
    /// Median, trimmed mean, Krum and Multi-Krum need every update at once, by definition: this keeps each delta
    /// (memory grows with the clients, one model each) and combines them in selection order at the end, so the
    /// result does not depend on the arrival order.
    /// </summary>
    private sealed class RobustRoundAggregation : IRoundAggregation
    {
        private readonly FederatedStrategy _strategy;
        private readonly FederatedState _state;
        private readonly Dictionary<string, int> _positions;
        private readonly float[]?[] _deltas;

        public RobustRoundAggregation(FederatedStrategy strategy, FederatedState state, IReadOnlyList<string> selected)
        {
            _strategy = strategy;
            _state = state;
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
            if (update.Delta.Length != _state.Weights.Length)
            {
                throw new ArgumentException($"{update.Delta.Length} values, the model has {_state.Weights.Length}", nameof(update));
            }
            _deltas[position] = _strategy.Bounded(update.Delta);
            Count++;
        }

        public FederatedState Finish(IReadOnlyList<ClientFailure> failures, int available)
        {
            RequireResults(Count);
            var deltas = _deltas.OfType<float[]>().ToArray();
            var options = _strategy._options;
            var combined = options.Aggregator switch
            {
                AggregatorKind.Median => RobustAggregation.Median(deltas),
                AggregatorKind.TrimmedMean => RobustAggregation.TrimmedMean(deltas, options.TrimmedFraction),
                AggregatorKind.Krum => RobustAggregation.Krum(deltas, options.KrumByzantine).Aggregate,
                AggregatorKind.MultiKrum => RobustAggregation.MultiKrum(deltas, options.KrumByzantine, options.KrumKeep).Aggregate,
                _ => throw new InvalidOperationException($"unknown aggregator {options.Aggregator}"),
            };
            return _strategy.Step(_state, combined);
        }

        public void Dispose() => Array.Clear(_deltas);
    }

    /// <summary>Epsilon spent so far at the configured delta; null when DP is off or no noise was added.</summary>
    public double? Epsilon(FederatedState state) =>
        _options.Privacy is { Enabled: true } privacy && state.Privacy is { } p && p.Ledger.Rounds > 0
            ? p.Ledger.Spent(privacy.Delta).Epsilon
            : null;

    public IReadOnlyList<string> ConfigureEvaluate(int round, IReadOnlyList<string> available)
    {
        if (_options.EvaluateFraction <= 0 || available.Count == 0)
        {
            return Array.Empty<string>();
        }
        int count = Math.Max(1, (int)Math.Floor(available.Count * _options.EvaluateFraction + 1e-9));
        return ClientSampling.Select(available, count, _seed ^ 0x5eed, round);
    }

    public Evaluation? AggregateEvaluate(int round, IReadOnlyList<Evaluation> results, IReadOnlyList<ClientFailure> failures)
    {
        long examples = results.Sum(r => (long)r.Examples);
        if (examples == 0)
        {
            return null;
        }
        return new Evaluation(
            results.Sum(r => r.Loss * r.Examples) / examples,
            results.Sum(r => r.Accuracy * r.Examples) / examples,
            (int)Math.Min(int.MaxValue, examples));
    }
}
