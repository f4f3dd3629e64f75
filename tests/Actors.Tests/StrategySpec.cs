using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Privacy;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>Every strategy through real rounds of actors.</summary>
public sealed class StrategySpec
{
    private static async Task<(FederatedState State, List<RoundMetrics> Metrics)> Run(StrategyOptions strategy, int rounds = 3,
        double fraction = 1.0, double serverLearningRate = 1.0)
    {
        var data = SyntheticData.Create(400, 100, seed: 3);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, 8, 50, seed: 3);
        var server = new ServerOptions(fraction, 2, TimeSpan.FromMinutes(10), ClientWeighting.NumExamples, serverLearningRate,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.05), Seed: 3)
        {
            Strategy = strategy,
        };
        var spec = new SimulationSpec(ModelKind.TwoNN, data, partitions, server, SimulatedFaults.None, Workers: 2);
        await using var process = await FederatedProcess.StartAsync(spec);
        var metrics = new List<RoundMetrics>();
        var state = await process.RunAsync(process.Initialize(), rounds, maxConsecutiveFailures: 1, metrics.Add);
        return (state, metrics);
    }

    [Fact]
    public async Task Fedprox_with_mu_zero_and_fedavgm_with_momentum_zero_are_fedavg_bit_for_bit()
    {
        var fedAvg = await Run(new StrategyOptions("fedavg"));
        var fedProx = await Run(new StrategyOptions("fedprox", ProximalMu: 0));
        var fedAvgM = await Run(new StrategyOptions("fedavgm", ServerMomentum: 0));
        var withMomentum = await Run(new StrategyOptions("fedavgm", ServerMomentum: 0.9));

        Assert.Equal(fedAvg.State.Weights, fedProx.State.Weights);
        Assert.Equal(fedAvg.State.Weights, fedAvgM.State.Weights);
        Assert.NotEqual(fedAvg.State.Weights, withMomentum.State.Weights);
    }

    [Theory]
    [InlineData("fedsgd", 0.0)]
    [InlineData("fedprox", 0.1)]
    [InlineData("fedadagrad", 0.0)]
    [InlineData("fedadam", 0.0)]
    [InlineData("fedyogi", 0.0)]
    public async Task Each_strategy_trains_the_model(string name, double mu)
    {
        // The adaptive optimizers take steps of about eta per coordinate: eta is small (Reddi et al. tune it to ~1e-2).
        bool adaptive = name is "fedadagrad" or "fedadam" or "fedyogi";

        var (state, metrics) = await Run(new StrategyOptions(name, ProximalMu: mu, Tau: 0.01), rounds: 4,
            serverLearningRate: adaptive ? 0.003 : 1.0);

        Assert.All(metrics, m => Assert.True(m.Succeeded));
        Assert.True(FederatedAveraging.AllFinite(state.Weights));
        Assert.True(metrics[^1].Test!.Loss < metrics[0].Test!.Loss,
            $"{name}: test loss {metrics[0].Test!.Loss} -> {metrics[^1].Test!.Loss}");
        Assert.Equal(adaptive ? 2 : 0, state.Optimizer.Slots.Length);
    }

    [Fact]
    public async Task Federated_evaluation_reports_the_clients_view_next_to_the_test_set()
    {
        var (_, metrics) = await Run(new StrategyOptions(EvaluateFraction: 0.5), rounds: 2);

        // 4 of the 8 clients of 50 samples evaluate each round.
        Assert.All(metrics, m => Assert.Equal(200, m.FederatedTest!.Examples));
        Assert.All(metrics, m => Assert.NotNull(m.Test));
    }

    [Fact]
    public async Task Dp_fedavg_reports_the_epsilon_of_the_rdp_accountant_after_every_round()
    {
        var privacy = new PrivacyOptions(ClipNorm: 0.5, NoiseMultiplier: 1.1, Delta: 1e-5);

        var (state, metrics) = await Run(new StrategyOptions(Privacy: privacy), rounds: 3, fraction: 0.5);

        // 4 of 8 clients per round: q = 0.5.
        for (int round = 1; round <= 3; round++)
        {
            double expected = RdpAccountant.Epsilon(0.5, 1.1, round, 1e-5).Epsilon;
            Assert.Equal(expected, metrics[round - 1].Epsilon!.Value, 6);
        }
        Assert.True(metrics[2].Epsilon > metrics[0].Epsilon);
        Assert.Equal(0.5, metrics[0].ClipNorm);
        Assert.Equal(3, state.Privacy!.Ledger.Rounds);
    }

    [Fact]
    public async Task Adaptive_clipping_moves_the_clip_norm_towards_the_quantile_of_update_norms()
    {
        // A clip norm far above every update: the median-tracking rule must bring it down round after round.
        var privacy = new PrivacyOptions(ClipNorm: 100, NoiseMultiplier: 0, Adaptive: true, TargetQuantile: 0.5, ClipLearningRate: 0.5);

        var (state, metrics) = await Run(new StrategyOptions(Privacy: privacy), rounds: 3);

        Assert.True(state.Privacy!.ClipNorm < 100 * Math.Exp(-0.5 * 0.5 * 2.5), $"clip norm {state.Privacy.ClipNorm}");
        Assert.Equal(metrics.Select(m => m.ClipNorm!.Value), metrics.Select(m => m.ClipNorm!.Value).OrderDescending());
    }
}
