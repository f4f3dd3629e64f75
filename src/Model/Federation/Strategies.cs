using AkkaFed.Model.Learning;

namespace AkkaFed.Model.Federation;

/// <summary>Builds the strategy a run's settings name: the one place where a strategy's name becomes its composition.</summary>
public static class Strategies
{
    /// <summary>
    /// FedAvg with the configured aggregation, the client options of FedSGD or FedProx, the server optimizer of
    /// FedAvgM, FedAdagrad, FedAdam or FedYogi, and DP-FedAvg around it when <c>dp-clip-norm</c> is set.
    /// </summary>
    /// <param name="options">The strategy's settings, validated (<see cref="StrategyOptions.Validate"/>).</param>
    /// <param name="fraction">Share of the available clients asked to train each round (client-fraction).</param>
    /// <param name="minClients">Least number asked to train (min-clients).</param>
    /// <param name="weighting">How the mean weights each update (client-weighting).</param>
    /// <param name="serverLearningRate">The server optimizer's learning rate (server-lr).</param>
    /// <param name="local">The clients' training options before the strategy adjusts them.</param>
    /// <param name="seed">The run's seed: sampling, and DP-FedAvg's noise.</param>
    public static IStrategy Create(StrategyOptions options, double fraction, int minClients, ClientWeighting weighting,
        double serverLearningRate, LocalTrainingOptions local, int seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!StrategyOptions.Names.Contains(options.Name))
        {
            throw StrategyOptions.NotAStrategy(options.Name);
        }
        if (options.IsBuffered)
        {
            throw new InvalidOperationException("fedbuff is asynchronous: the buffered server runs it, not a strategy of rounds");
        }
        var sampling = new Sampling(fraction, minClients, options.EvaluateFraction, seed) { Overcommit = options.Overcommit };
        var aggregator = Aggregator(options, weighting);
        IServerOptimizer Optimizer(string name) =>
            ServerOptimizers.Create(name, serverLearningRate, options.ServerMomentum, options.Beta1, options.Beta2, options.Tau);
        FedAvg strategy = options.Name switch
        {
            "fedavg" => new FedAvg(sampling, local, aggregator, Optimizer(ServerSgd.Key)),
            "fedsgd" => new FedSgd(sampling, local, aggregator, Optimizer(ServerSgd.Key)),
            "fedprox" => new FedProx(sampling, local, aggregator, Optimizer(ServerSgd.Key), options.ProximalMu),
            // FedAvgM, FedAdagrad, FedAdam and FedYogi: FedAvg with the server optimizer of that name.
            var name => new FedAvg(sampling, local, aggregator, Optimizer(name)),
        };
        return options.Privacy is { Enabled: true } privacy ? new DpFedAvg(strategy, privacy, seed) : strategy;
    }

    /// <summary>The aggregation the options choose, behind norm bounding when norm-bound is set.</summary>
    public static IAggregator Aggregator(StrategyOptions options, ClientWeighting weighting)
    {
        IAggregator aggregator = options.Aggregator switch
        {
            AggregatorKind.Mean => new WeightedMean(weighting),
            AggregatorKind.Median => RobustAggregator.Median(),
            AggregatorKind.TrimmedMean => RobustAggregator.TrimmedMean(options.TrimmedFraction),
            AggregatorKind.Krum => RobustAggregator.Krum(options.KrumByzantine),
            AggregatorKind.MultiKrum => RobustAggregator.MultiKrum(options.KrumByzantine, options.KrumKeep),
            _ => throw new SettingsException("aggregator", $"must be one of {string.Join(", ", StrategyOptions.Aggregators.Keys)}, got {options.Aggregator}"),
        };
        return options.NormBound > 0 ? new NormBounded(aggregator, options.NormBound) : aggregator;
    }
}
