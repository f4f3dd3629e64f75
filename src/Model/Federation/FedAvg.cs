using AkkaFed.Model.Learning;

namespace AkkaFed.Model.Federation;

/// <summary>
/// Federated averaging (McMahan et al. 2017) as Flower's <c>FedAvg</c>, the base every strategy here builds on:
/// it samples the clients (<see cref="Sampling"/>), asks them to train with <see cref="Local"/>, combines their
/// updates with a chosen <see cref="IAggregator"/> (the weighted mean, or a robust aggregator) and moves the
/// model with a <see cref="IServerOptimizer"/>. With server SGD it is FedAvg; FedAvgM, FedAdagrad, FedAdam and
/// FedYogi are FedAvg with another server optimizer (Flower's <c>FedOpt</c> family); <see cref="FedSgd"/> and
/// <see cref="FedProx"/> differ only in how the clients train.
/// </summary>
public class FedAvg : IStrategy
{
    public FedAvg(Sampling sampling, LocalTrainingOptions local, IAggregator aggregator, IServerOptimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(sampling);
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(aggregator);
        ArgumentNullException.ThrowIfNull(optimizer);
        Sampling = sampling;
        Local = local;
        Aggregator = aggregator;
        Optimizer = optimizer;
    }

    /// <summary>How many clients train and evaluate each round, and which.</summary>
    public Sampling Sampling { get; }

    /// <summary>The training options every selected client is sent.</summary>
    public LocalTrainingOptions Local { get; }

    /// <summary>How the round's updates combine into one delta.</summary>
    public IAggregator Aggregator { get; }

    /// <summary>How the combined delta moves the global model.</summary>
    public IServerOptimizer Optimizer { get; }

    public FitConfiguration ConfigureFit(int round, IReadOnlyList<string> available) =>
        new(Sampling.Fit(round, available), Local) { Keep = Sampling.Keep(available.Count) };

    public IRoundAggregation BeginFit(FederatedState state, IReadOnlyList<string> selected) =>
        new InProgress(this, state, Aggregator.Begin(state.Weights.Length, selected));

    /// <summary>
    /// The state after a round whose updates combined into <paramref name="combined"/>: the server optimizer's step
    /// from <paramref name="state"/>. A wrapper that combines the updates itself (<see cref="DpFedAvg"/>) ends with it.
    /// </summary>
    public FederatedState Step(FederatedState state, float[] combined)
    {
        var optimizerState = state.Optimizer.Slots.Length == 0 ? Optimizer.Initial(state.Weights.Length) : state.Optimizer;
        var (weights, next) = Optimizer.Step(state.Weights, combined, optimizerState);
        return new FederatedState(state.Round + 1, weights) { Optimizer = next };
    }

    public IReadOnlyList<string> ConfigureEvaluate(int round, IReadOnlyList<string> available) =>
        Sampling.Evaluate(round, available);

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

    /// <summary>FedAvg does not clip.</summary>
    public double? ClipNorm(FederatedState state) => null;

    /// <summary>FedAvg adds no noise.</summary>
    public double? Epsilon(FederatedState state) => null;

    internal static void RequireResults(int count)
    {
        if (count == 0)
        {
            throw new InvalidOperationException("no results to aggregate");
        }
    }

    /// <summary>A round: the aggregator's combination, then the server optimizer's step.</summary>
    private sealed class InProgress(FedAvg strategy, FederatedState state, IDeltaAggregation deltas) : IRoundAggregation
    {
        public int Count => deltas.Count;

        public int RetainedDeltas => deltas.RetainedDeltas;

        public void Add(ClientUpdate update) => deltas.Add(update);

        public FederatedState Finish(IReadOnlyList<ClientFailure> failures, int available)
        {
            RequireResults(Count);
            return strategy.Step(state, deltas.Combine());
        }

        public void Dispose() => deltas.Dispose();
    }
}

/// <summary>
/// FedSGD, the baseline of McMahan et al. 2017: FedAvg whose clients take a single full-batch gradient step
/// (one epoch, the whole shard as one batch).
/// </summary>
public sealed class FedSgd(Sampling sampling, LocalTrainingOptions local, IAggregator aggregator, IServerOptimizer optimizer)
    : FedAvg(sampling, local with { Epochs = 1, BatchSize = LocalTrainingOptions.FullBatch }, aggregator, optimizer);

/// <summary>
/// FedProx (Li et al. 2020) as Flower's <c>FedProx</c>: FedAvg whose clients add the proximal term
/// <c>mu/2 * ||w - w_global||^2</c> to their loss, so heterogeneous clients drift less from the global model.
/// </summary>
public sealed class FedProx(Sampling sampling, LocalTrainingOptions local, IAggregator aggregator, IServerOptimizer optimizer,
    double proximalMu)
    : FedAvg(sampling, local with { ProximalMu = proximalMu }, aggregator, optimizer);
