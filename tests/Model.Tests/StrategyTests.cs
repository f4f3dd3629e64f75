using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>
/// Every strategy driven as the server drives it, without actors: configure a round, train the clients on a pure
/// problem, add their updates, finish. Each client k minimises <c>||w - t_k||^2 / 2</c> by local SGD as the
/// strategy's training options say, so FedSGD, FedProx and the server optimizers all act on the result.
/// </summary>
public sealed class StrategyTests
{
    private const int Length = 40;
    private const int Samples = 50;
    private static readonly string[] Clients = Enumerable.Range(0, 8).Select(k => $"client-{k:D5}").ToArray();
    private static readonly LocalTrainingOptions Local = new(Epochs: 1, BatchSize: 10, LearningRate: 0.05);

    private static readonly float[][] Targets = Clients.Select((_, k) =>
    {
        var random = new Random(100 + k);
        return Enumerable.Range(0, Length).Select(_ => (float)(1 + random.NextDouble())).ToArray();
    }).ToArray();

    private static IStrategy Create(StrategyOptions options, double fraction = 1.0, double serverLearningRate = 1.0) =>
        Strategies.Create(options.Validate(2), fraction, 2, ClientWeighting.NumExamples, serverLearningRate, Local, seed: 3);

    /// <summary>Local SGD on the client's quadratic, as many steps as the options make of its samples.</summary>
    private static ClientUpdate Train(string clientId, float[] global, LocalTrainingOptions options)
    {
        var target = Targets[Array.IndexOf(Clients, clientId)];
        int steps = options.Epochs * (int)Math.Ceiling(Samples / (double)Math.Min(options.BatchSize, Samples));
        var w = (float[])global.Clone();
        for (int step = 0; step < steps; step++)
        {
            for (int i = 0; i < Length; i++)
            {
                double gradient = (w[i] - target[i]) + options.ProximalMu * (w[i] - global[i]);
                w[i] = (float)(w[i] - options.LearningRate * gradient);
            }
        }
        return new ClientUpdate(clientId, w.Select((value, i) => value - global[i]).ToArray(), Samples);
    }

    private static (FederatedState State, List<FitConfiguration> Plans) Run(IStrategy strategy, int rounds)
    {
        var state = new FederatedState(1, new float[Length]);
        var plans = new List<FitConfiguration>();
        for (int round = 1; round <= rounds; round++)
        {
            var plan = strategy.ConfigureFit(round, Clients);
            plans.Add(plan);
            using var aggregation = strategy.BeginFit(state, plan.Clients);
            foreach (var clientId in plan.Clients.Reverse())
            {
                aggregation.Add(Train(clientId, state.Weights, plan.Options));
            }
            state = aggregation.Finish(Array.Empty<ClientFailure>(), Clients.Length);
        }
        return (state, plans);
    }

    /// <summary>The global objective: mean squared distance to the clients' targets.</summary>
    private static double Loss(float[] weights) =>
        Targets.Average(target => target.Select((t, i) => (double)(weights[i] - t) * (weights[i] - t)).Sum());

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void Fedprox_with_mu_zero_and_fedavgm_with_momentum_zero_are_fedavg_bit_for_bit()
    {
        var fedAvg = Run(Create(new StrategyOptions("fedavg")), rounds: 3);
        var fedProx = Run(Create(new StrategyOptions("fedprox", ProximalMu: 0)), rounds: 3);
        var fedAvgM = Run(Create(new StrategyOptions("fedavgm", ServerMomentum: 0)), rounds: 3);
        var withMomentum = Run(Create(new StrategyOptions("fedavgm", ServerMomentum: 0.9)), rounds: 3);

        Assert.Equal(fedAvg.Plans[0].Options, fedProx.Plans[0].Options);
        Assert.Equal(Bits(fedAvg.State.Weights), Bits(fedProx.State.Weights));
        Assert.Equal(Bits(fedAvg.State.Weights), Bits(fedAvgM.State.Weights));
        Assert.NotEqual(Bits(fedAvg.State.Weights), Bits(withMomentum.State.Weights));
    }

    [Theory]
    [InlineData("fedavg", 0.0, 0)]
    [InlineData("fedsgd", 0.0, 0)]
    [InlineData("fedprox", 0.1, 0)]
    [InlineData("fedavgm", 0.0, 1)]
    [InlineData("fedadagrad", 0.0, 2)]
    [InlineData("fedadam", 0.0, 2)]
    [InlineData("fedyogi", 0.0, 2)]
    public void Each_strategy_trains_the_model(string name, double mu, int slots)
    {
        // The adaptive optimizers take steps of about eta per coordinate: eta is small (Reddi et al. tune it to ~1e-2).
        bool adaptive = slots == 2;
        var strategy = Create(new StrategyOptions(name, ServerMomentum: name == "fedavgm" ? 0.5 : 0, ProximalMu: mu, Tau: 0.01),
            serverLearningRate: adaptive ? 0.05 : 1.0);

        var (first, _) = Run(strategy, rounds: 1);
        var (state, _) = Run(strategy, rounds: 4);

        Assert.True(FederatedAveraging.AllFinite(state.Weights));
        double before = Loss(new float[Length]);
        Assert.True(Loss(state.Weights) < Loss(first.Weights) && Loss(first.Weights) < before,
            $"{name}: loss {before} -> {Loss(first.Weights)} -> {Loss(state.Weights)}");
        Assert.Equal(slots, state.Optimizer.Slots.Length);
        Assert.Equal(5, state.Round);
    }

    [Fact]
    public void Fedsgd_and_fedprox_differ_from_fedavg_only_in_the_training_options_they_send()
    {
        var local = Local with { Epochs = 3 };
        var sampling = new Sampling(0.5, 2, 0, Seed: 3);
        var aggregator = new WeightedMean(ClientWeighting.NumExamples);
        var fedAvg = new FedAvg(sampling, local, aggregator, new ServerSgd(1));
        var fedSgd = new FedSgd(sampling, local, aggregator, new ServerSgd(1));
        var fedProx = new FedProx(sampling, local, aggregator, new ServerSgd(1), proximalMu: 0.3);

        var plans = new[] { fedAvg, fedSgd, fedProx }.Select(s => s.ConfigureFit(2, Clients)).ToArray();

        Assert.All(plans, plan => Assert.Equal(plans[0].Clients, plan.Clients));
        Assert.Equal(local, plans[0].Options);
        Assert.Equal(local with { Epochs = 1, BatchSize = LocalTrainingOptions.FullBatch }, plans[1].Options);
        Assert.Equal(local with { ProximalMu = 0.3 }, plans[2].Options);
    }

    [Fact]
    public void The_settings_name_a_composition()
    {
        var fedAdam = Assert.IsType<FedAvg>(Create(new StrategyOptions("fedadam", Beta1: 0.3, Beta2: 0.4, Tau: 0.5,
            Aggregator: AggregatorKind.Median, NormBound: 2), serverLearningRate: 0.1));
        var fedAvgM = Assert.IsType<FedAvg>(Create(new StrategyOptions("fedavgm", ServerMomentum: 0.9)));
        var dp = Assert.IsType<DpFedAvg>(Create(new StrategyOptions("fedprox", ProximalMu: 0.1, Privacy: new PrivacyOptions(ClipNorm: 1))));

        var adam = Assert.IsType<FedAdam>(fedAdam.Optimizer);
        Assert.Equal((0.1, 0.3, 0.4, 0.5), (adam.LearningRate, adam.Beta1, adam.Beta2, adam.Tau));
        var bounded = Assert.IsType<NormBounded>(fedAdam.Aggregator);
        Assert.Equal(2, bounded.MaxNorm);
        Assert.IsType<RobustAggregator>(bounded.Inner);
        Assert.Equal(0.9, Assert.IsType<ServerMomentum>(fedAvgM.Optimizer).Momentum);
        Assert.IsType<WeightedMean>(fedAvgM.Aggregator);
        Assert.IsType<FedProx>(dp.Strategy);
        Assert.IsType<ServerSgd>(dp.Strategy.Optimizer);
    }

    [Fact]
    public void Federated_evaluation_asks_a_share_of_the_clients_and_weights_their_results_by_examples()
    {
        var strategy = Create(new StrategyOptions(EvaluateFraction: 0.5));

        var evaluators = strategy.ConfigureEvaluate(1, Clients);
        var federated = strategy.AggregateEvaluate(1,
            new[] { new Evaluation(1.0, 0.5, 10), new Evaluation(2.0, 0.25, 30) }, Array.Empty<ClientFailure>());

        // 4 of the 8 clients, distinct, the same for the same round.
        Assert.Equal(4, evaluators.Distinct().Count());
        Assert.Equal(evaluators, strategy.ConfigureEvaluate(1, Clients));
        Assert.Equal(new Evaluation(1.75, 0.3125, 40), federated);
        Assert.Empty(Create(new StrategyOptions()).ConfigureEvaluate(1, Clients));
        Assert.Null(strategy.AggregateEvaluate(1, Array.Empty<Evaluation>(), new[] { new ClientFailure("client-00000", "gone") }));
    }

    [Fact]
    public void Without_dp_a_strategy_reports_no_clip_norm_and_no_epsilon()
    {
        var strategy = Create(new StrategyOptions("fedadam"), serverLearningRate: 0.05);

        var (state, _) = Run(strategy, rounds: 1);

        Assert.Null(strategy.ClipNorm(state));
        Assert.Null(strategy.Epsilon(state));
        Assert.Null(state.Privacy);
    }

    [Fact]
    public void Dp_fedavg_reports_the_epsilon_of_the_rdp_accountant_after_every_round()
    {
        var privacy = new PrivacyOptions(ClipNorm: 0.5, NoiseMultiplier: 1.1, Delta: 1e-5);
        var strategy = Create(new StrategyOptions(Privacy: privacy), fraction: 0.5);
        var state = new FederatedState(1, new float[Length]);
        Assert.Null(strategy.Epsilon(state));
        Assert.Equal(0.5, strategy.ClipNorm(state));

        for (int round = 1; round <= 3; round++)
        {
            (state, _) = RunFrom(strategy, state);

            // 4 of 8 clients per round: q = 0.5.
            Assert.Equal(RdpAccountant.Epsilon(0.5, 1.1, round, 1e-5).Epsilon, strategy.Epsilon(state)!.Value, 12);
            Assert.Equal(0.5, strategy.ClipNorm(state));
        }
        Assert.Equal(3, state.Privacy!.Ledger.Rounds);
    }

    [Fact]
    public void Adaptive_clipping_moves_the_clip_norm_towards_the_quantile_of_update_norms()
    {
        // A clip norm far above every update: the median-tracking rule must bring it down round after round.
        var privacy = new PrivacyOptions(ClipNorm: 100, NoiseMultiplier: 0, Adaptive: true, TargetQuantile: 0.5, ClipLearningRate: 0.5);
        var strategy = Create(new StrategyOptions(Privacy: privacy));
        var state = new FederatedState(1, new float[Length]);
        var clipNorms = new List<double>();

        for (int round = 1; round <= 3; round++)
        {
            clipNorms.Add(strategy.ClipNorm(state)!.Value);
            (state, _) = RunFrom(strategy, state);
        }

        Assert.True(state.Privacy!.ClipNorm < 100 * Math.Exp(-0.5 * 0.5 * 2.5), $"clip norm {state.Privacy.ClipNorm}");
        Assert.Equal(clipNorms, clipNorms.OrderDescending());
        Assert.Equal(100, clipNorms[0]);
        Assert.Null(strategy.Epsilon(state));
    }

    [Fact]
    public void Dp_fedavg_keeps_the_wrapped_strategys_sampling_training_options_and_server_step()
    {
        var privacy = new PrivacyOptions(ClipNorm: 1000);
        var inner = Create(new StrategyOptions("fedprox", ProximalMu: 0.2, EvaluateFraction: 0.5), fraction: 0.5);
        var dp = Create(new StrategyOptions("fedprox", ProximalMu: 0.2, EvaluateFraction: 0.5, Privacy: privacy), fraction: 0.5);

        Assert.Equal(inner.ConfigureFit(4, Clients), dp.ConfigureFit(4, Clients), new PlanComparer());
        Assert.Equal(inner.ConfigureEvaluate(4, Clients), dp.ConfigureEvaluate(4, Clients));

        // A clip norm no update reaches and no noise: the clipped mean is the uniform mean, divided by the clients selected.
        var plan = dp.ConfigureFit(1, Clients);
        var state = new FederatedState(1, new float[Length]);
        var updates = plan.Clients.Select(id => Train(id, state.Weights, plan.Options)).ToArray();
        using var aggregation = dp.BeginFit(state, plan.Clients);
        foreach (var update in updates)
        {
            aggregation.Add(update);
        }
        var next = aggregation.Finish(Array.Empty<ClientFailure>(), Clients.Length);
        for (int i = 0; i < Length; i++)
        {
            Assert.Equal(updates.Average(u => (double)u.Delta.Values![i]), next.Weights[i], 1e-6);
        }
        Assert.Equal(1000, next.Privacy!.ClipNorm);
    }

    private static (FederatedState State, FitConfiguration Plan) RunFrom(IStrategy strategy, FederatedState state)
    {
        var plan = strategy.ConfigureFit(state.Round, Clients);
        using var aggregation = strategy.BeginFit(state, plan.Clients);
        foreach (var clientId in plan.Clients)
        {
            aggregation.Add(Train(clientId, state.Weights, plan.Options));
        }
        return (aggregation.Finish(Array.Empty<ClientFailure>(), Clients.Length), plan);
    }

    private sealed class PlanComparer : IEqualityComparer<FitConfiguration>
    {
        public bool Equals(FitConfiguration? x, FitConfiguration? y) =>
            x is not null && y is not null && x.Clients.SequenceEqual(y.Clients) && x.Options == y.Options;

        public int GetHashCode(FitConfiguration plan) => plan.Options.GetHashCode();
    }
}
