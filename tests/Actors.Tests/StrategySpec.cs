using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Privacy;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>A strategy through real rounds of actors: what the server takes from it reaches the metrics.</summary>
public sealed class StrategySpec
{
    private static async Task<(FederatedState State, List<RoundMetrics> Metrics)> Run(StrategyOptions strategy, int rounds,
        double fraction)
    {
        var data = SyntheticData.Create(400, 100, seed: 3);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, 8, 50, seed: 3);
        var server = new ServerOptions(fraction, 2, TimeSpan.FromMinutes(10), ClientWeighting.NumExamples, 1.0,
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
    public async Task The_server_reports_the_privacy_the_strategy_spent_and_the_clients_evaluation_after_every_round()
    {
        // The strategies themselves are specified in Model.Tests (StrategyTests, RobustnessTests, RoundAggregationTests);
        // this checks the server asks the strategy for everything: DP-FedAvg's epsilon and clip norm, and its evaluators.
        var privacy = new PrivacyOptions(ClipNorm: 0.5, NoiseMultiplier: 1.1, Delta: 1e-5);

        var (state, metrics) = await Run(new StrategyOptions(EvaluateFraction: 0.5, Privacy: privacy), rounds: 3, fraction: 0.5);

        Assert.All(metrics, m => Assert.True(m.Succeeded));
        // 4 of 8 clients per round: q = 0.5.
        for (int round = 1; round <= 3; round++)
        {
            double expected = RdpAccountant.Epsilon(0.5, 1.1, round, 1e-5).Epsilon;
            Assert.Equal(expected, metrics[round - 1].Epsilon!.Value, 6);
        }
        Assert.All(metrics, m => Assert.Equal(0.5, m.ClipNorm));
        Assert.Equal(3, state.Privacy!.Ledger.Rounds);
        // 4 of the 8 clients of 50 samples evaluate each round, next to the server's test set.
        Assert.All(metrics, m => Assert.Equal(200, m.FederatedTest!.Examples));
        Assert.All(metrics, m => Assert.NotNull(m.Test));
        Assert.True(FederatedAveraging.AllFinite(state.Weights));
    }
}
