using AkkaFed.Model.Learning;

namespace AkkaFed.Model.Federation;

/// <summary>A client that was asked and did not deliver: its training threw, it died, or its update was refused.</summary>
public sealed record ClientFailure(string ClientId, string Reason);

/// <summary>Which clients train in a round, and how (Flower's <c>configure_fit</c>).</summary>
public sealed record FitConfiguration(IReadOnlyList<string> Clients, LocalTrainingOptions Options)
{
    /// <summary>The round closes once this many updates are in (fewer than <see cref="Clients"/> when over-committed).</summary>
    public int Keep { get; init; } = Clients.Count;
}

/// <summary>
/// A federated optimisation strategy, shaped like Flower's <c>Strategy</c>: it decides how a round is
/// configured and how its results and failures become the next global model, and reports what the round spent.
/// It sees client ids, never actor references, and holds no state of its own: everything that lasts is in
/// <see cref="FederatedState"/>. <see cref="FedAvg"/> is the base of every strategy here; <see cref="DpFedAvg"/>
/// wraps one; <see cref="Strategies.Create"/> builds the one the settings name.
/// </summary>
public interface IStrategy
{
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

    /// <summary>
    /// The clients' evaluations combined, weighted by examples (Flower's <c>aggregate_evaluate</c>); null when none.
    /// The caller passes <paramref name="results"/> in the order <see cref="ConfigureEvaluate"/> selected the
    /// evaluators, whatever order they answered in: the sums are taken in that order, so they are reproducible.
    /// </summary>
    Evaluation? AggregateEvaluate(int round, IReadOnlyList<Evaluation> results, IReadOnlyList<ClientFailure> failures);

    /// <summary>
    /// The L2 norm each update is clipped to in the round that starts from <paramref name="state"/>; null when the
    /// strategy does not clip (no differential privacy).
    /// </summary>
    double? ClipNorm(FederatedState state);

    /// <summary>
    /// The privacy spent by every round up to <paramref name="state"/>, as epsilon at the configured delta; null when
    /// the strategy adds no noise or no noisy round has run.
    /// </summary>
    double? Epsilon(FederatedState state);
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
