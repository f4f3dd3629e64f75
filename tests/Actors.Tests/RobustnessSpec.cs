using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// A fifth of the clients send their update flipped and scaled by 4. FedAvg's mean is dragged the wrong
/// way; a robust aggregator keeps accuracy close to the clean run. End to end, through the clients' attack and the
/// server's aggregation: every aggregator is specified on its own in Model.Tests (RobustnessTests).
/// </summary>
public sealed class RobustnessSpec
{
    private const int Clients = 20;
    private static readonly Attack SignFlip = new(AttackKind.SignFlip, Fraction: 0.2, Scale: 4, Seed: 1);

    private static async Task<double> FinalAccuracy(StrategyOptions strategy, Attack attack)
    {
        var data = SyntheticData.Create(2000, 500, seed: 1);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, Clients, 100, seed: 1);
        var server = new ServerOptions(1.0, Clients, TimeSpan.FromMinutes(10), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 20, LearningRate: 0.05), Seed: 1)
        {
            Strategy = strategy,
        };
        var spec = new SimulationSpec(ModelKind.Cnn, data, partitions, server, SimulatedFaults.None, Workers: 2) { Attack = attack };
        await using var process = await FederatedProcess.StartAsync(spec);
        RoundMetrics? last = null;
        await process.RunAsync(process.Initialize(), rounds: 4, maxConsecutiveFailures: 1, m => last = m);
        return last!.Test!.Accuracy;
    }

    [Fact]
    public async Task A_robust_aggregator_keeps_accuracy_under_sign_flipping_clients_where_fedavg_does_not()
    {
        int attackers = Enumerable.Range(0, Clients).Count(k => SignFlip.IsAttacker(FederatedProcess.ClientId(k)));
        Assert.InRange(attackers, 2, 6);

        double clean = await FinalAccuracy(new StrategyOptions(), Attack.None);
        double fedAvg = await FinalAccuracy(new StrategyOptions(), SignFlip);
        double median = await FinalAccuracy(new StrategyOptions(Aggregator: AggregatorKind.Median), SignFlip);

        string all = $"clean {clean:F3}, fedavg {fedAvg:F3}, median {median:F3}";
        Assert.True(clean > 0.8, all);
        Assert.True(fedAvg < clean - 0.3, all);
        Assert.True(median > clean - 0.1, all);
    }
}
