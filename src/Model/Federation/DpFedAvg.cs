using AkkaFed.Model.Learning;
using AkkaFed.Model.Privacy;

namespace AkkaFed.Model.Federation;

/// <summary>
/// Central differential privacy, DP-FedAvg (McMahan et al. 2018), as a wrapper around a strategy like Flower's
/// <c>DifferentialPrivacyServerSideFixedClipping(strategy, ...)</c> and its adaptive sibling: each update is clipped
/// to the round's clip norm and folded into an exact sum, Gaussian noise of standard deviation
/// <c>noise-multiplier * clip norm</c> goes on the sum, which is divided by the number of clients selected (each
/// client counts once, whatever its examples), and the wrapped strategy's server optimizer takes the step. With
/// adaptive clipping the clip norm follows a quantile of the update norms (Andrew et al. 2021). The state carries
/// the clip norm and the privacy ledger; sampling, the clients' training and evaluation are the wrapped strategy's.
/// </summary>
/// <remarks>
/// The guarantee is the clipped mean's, so the clipped mean replaces the wrapped strategy's aggregation rather than
/// feeding it; what is kept is the step. That is why the wrapped strategy is a <see cref="FedAvg"/>, as every
/// strategy here is: it is the one that has a server step to keep. Memory holds one accumulator and a norm per update.
/// </remarks>
public sealed class DpFedAvg : IStrategy
{
    public DpFedAvg(FedAvg strategy, PrivacyOptions privacy, int seed)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(privacy);
        if (!privacy.Enabled)
        {
            throw new ArgumentException($"DP-FedAvg needs {DpSettings.ClipNorm} > 0", nameof(privacy));
        }
        Strategy = strategy;
        Privacy = privacy;
        Seed = seed;
    }

    /// <summary>The strategy whose sampling, client training, server step and evaluation this one keeps.</summary>
    public FedAvg Strategy { get; }

    public PrivacyOptions Privacy { get; }

    /// <summary>The run's seed, from which each round's noise and clip-norm draws are derived.</summary>
    public int Seed { get; }

    public FitConfiguration ConfigureFit(int round, IReadOnlyList<string> available) => Strategy.ConfigureFit(round, available);

    public IRoundAggregation BeginFit(FederatedState state, IReadOnlyList<string> selected) => new InProgress(this, state);

    public IReadOnlyList<string> ConfigureEvaluate(int round, IReadOnlyList<string> available) =>
        Strategy.ConfigureEvaluate(round, available);

    public Evaluation? AggregateEvaluate(int round, IReadOnlyList<Evaluation> results, IReadOnlyList<ClientFailure> failures) =>
        Strategy.AggregateEvaluate(round, results, failures);

    /// <summary>The clip norm the state carries, or the configured one before the first round.</summary>
    public double? ClipNorm(FederatedState state) => state.Privacy?.ClipNorm ?? Privacy.ClipNorm;

    public double? Epsilon(FederatedState state) =>
        state.Privacy is { } spent && spent.Ledger.Rounds > 0 ? spent.Ledger.Spent(Privacy.Delta).Epsilon : null;

    /// <summary>
    /// A round, streamed: each update is clipped on arrival and folded into one exact sum; only its norm (a double)
    /// is kept, for adaptive clipping, which counts the norms below the clip norm in any order.
    /// </summary>
    private sealed class InProgress : IRoundAggregation
    {
        private readonly DpFedAvg _strategy;
        private readonly FederatedState _state;
        private readonly PrivacyState _current;
        private readonly FixedPointSum _clipped;
        private readonly List<double> _norms = new();

        public InProgress(DpFedAvg strategy, FederatedState state)
        {
            _strategy = strategy;
            _state = state;
            _current = state.Privacy ?? new PrivacyState(strategy.Privacy.ClipNorm, PrivacyLedger.Empty);
            _clipped = new FixedPointSum(state.Weights.Length);
        }

        public int Count => _clipped.Count;

        public int RetainedDeltas => 0;

        public void Add(ClientUpdate update)
        {
            // Clipped here whatever the client did: the guarantee is about what is summed, the decoded update (a
            // client that compresses clips before it compresses, and rounding can move the norm a little past it).
            var delta = update.Delta.ToFloats();
            double norm = DifferentialPrivacy.L2Norm(delta);
            _clipped.Add(DifferentialPrivacy.Clip(delta, _current.ClipNorm), 1);
            _norms.Add(norm);
        }

        public FederatedState Finish(IReadOnlyList<ClientFailure> failures, int available)
        {
            FedAvg.RequireResults(Count);
            var privacy = _strategy.Privacy;
            int selected = Count + failures.Count;
            int round = _state.Round;
            int seed = _strategy.Seed;
            double noise = privacy.Adaptive && privacy.ClippedCountStddev > 0 && privacy.NoiseMultiplier > 0
                ? AdaptiveClipping.EffectiveNoiseMultiplier(privacy.NoiseMultiplier, privacy.ClippedCountStddev)
                : privacy.NoiseMultiplier;
            var mean = DifferentialPrivacy.NoisyMean(_clipped, _current.ClipNorm, noise, selected,
                new Random(StableSeed.Mix(seed, round, "dp-noise")));
            double clipNorm = privacy.Adaptive
                ? new AdaptiveClipping(_current.ClipNorm, privacy.TargetQuantile, privacy.ClipLearningRate, privacy.ClippedCountStddev)
                    .Update(_norms, new Random(StableSeed.Mix(seed, round, "dp-clip")), selected).ClipNorm
                : _current.ClipNorm;
            // The guarantee is stated for z; sampling is approximated as Poisson at q = selected / available.
            var ledger = privacy.NoiseMultiplier > 0
                ? _current.Ledger.Record((double)selected / Math.Max(selected, available), privacy.NoiseMultiplier)
                : _current.Ledger;
            return _strategy.Strategy.Step(_state, mean) with { Privacy = new PrivacyState(clipNorm, ledger) };
        }

        public void Dispose() => _clipped.Dispose();
    }
}
