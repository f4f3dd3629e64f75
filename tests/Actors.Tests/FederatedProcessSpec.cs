using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>The library loop over real actors: Initialize, then Next once per round.</summary>
public sealed class FederatedProcessSpec
{
    private static SimulationSpec Spec(int seed, SimulatedFaults? faults = null, double deadlineSeconds = 600, int minClients = 1)
    {
        var data = new DatasetSplit(TinyData.Create(40, seed: 5), TinyData.Create(20, seed: 6));
        var partitions = Enumerable.Range(0, 4).Select(k => Enumerable.Range(k * 10, 10).ToArray()).ToArray();
        var server = new ServerOptions(1.0, minClients, TimeSpan.FromSeconds(deadlineSeconds), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 5, LearningRate: 0.05), seed);
        return new SimulationSpec(ModelKind.TwoNN, data, partitions, server, faults ?? SimulatedFaults.None, Workers: 2);
    }

    private static async Task<(FederatedState State, List<RoundMetrics> Metrics)> Run(SimulationSpec spec, int rounds)
    {
        await using var process = await FederatedProcess.StartAsync(spec);
        var metrics = new List<RoundMetrics>();
        var state = await process.RunAsync(process.Initialize(), rounds, maxConsecutiveFailures: 3, metrics.Add);
        return (state, metrics);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_run()
    {
        var first = await Run(Spec(seed: 42), rounds: 2);
        var second = await Run(Spec(seed: 42), rounds: 2);
        var other = await Run(Spec(seed: 43), rounds: 2);

        Assert.Equal(3, first.State.Round);
        Assert.Equal(first.State.Weights, second.State.Weights);
        Assert.Equal(first.Metrics.Select(m => m.Loss), second.Metrics.Select(m => m.Loss));
        Assert.Equal(first.Metrics.Select(m => m.Test!.Loss), second.Metrics.Select(m => m.Test!.Loss));
        Assert.NotEqual(first.State.Weights, other.State.Weights);
    }

    [Fact]
    public async Task Many_clients_queue_for_a_bounded_pool_of_workers_each_with_one_model()
    {
        // 2,000 clients, each a 10-sample view into 40 samples, every one of them selected: a round queues work
        // for the 2 training workers instead of training 2,000 models at once.
        var data = new DatasetSplit(TinyData.Create(40, seed: 5), TinyData.Create(20, seed: 6));
        var server = new ServerOptions(1.0, 1, TimeSpan.FromMinutes(2), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.05), Seed: 1);
        var counters = new TrainerPoolCounters();
        var spec = new SimulationSpec(ModelKind.TwoNN, data, Shards.Windows(40, clients: 2_000, size: 10, seed: 1), server,
            SimulatedFaults.None, Workers: 2) { EvaluateEachRound = false, TrainerCounters = counters };

        await using var process = await FederatedProcess.StartAsync(spec);
        var (_, metrics) = await process.NextAsync(process.Initialize());

        Assert.Equal(2_000, metrics.Participants);
        Assert.InRange(counters.PeakConcurrency, 1, 2);
        Assert.InRange(counters.ModelCount, 1, 2);
        Assert.InRange(counters.BusySeconds().Count, 1, 2);
        Assert.All(counters.BusySeconds().Values, seconds => Assert.True(seconds > 0));
    }

    [Fact]
    public async Task Stragglers_past_the_deadline_never_stall_a_round_and_their_late_updates_are_counted()
    {
        var faults = new SimulatedFaults(StragglerFraction: 0.5, StragglerDelay: TimeSpan.FromSeconds(1.5), Seed: 1);

        var (state, metrics) = await Run(Spec(seed: 1, faults, deadlineSeconds: 1), rounds: 3);

        Assert.Equal(4, state.Round);
        Assert.All(metrics, m => Assert.True(m.Succeeded));
        Assert.Contains(metrics, m => m.Stragglers > 0);
        Assert.Equal(metrics.Sum(m => m.Participants + m.Stragglers), metrics.Sum(m => m.Selected));
        // A straggler's update arrives after its round closed: it is counted as late in a later round.
        Assert.True(metrics.Skip(1).Sum(m => m.Late) > 0);
    }

    [Fact]
    public async Task A_run_stops_with_a_clear_error_after_too_many_failed_rounds()
    {
        await using var process = await FederatedProcess.StartAsync(
            Spec(seed: 1, new SimulatedFaults(DropoutFraction: 1.0), deadlineSeconds: 0.3));
        var initial = process.Initialize();
        var seen = new List<RoundMetrics>();

        var error = await Assert.ThrowsAsync<FederationException>(
            () => process.RunAsync(initial, rounds: 10, maxConsecutiveFailures: 2, seen.Add));

        Assert.Equal(2, seen.Count);
        Assert.All(seen, m => Assert.False(m.Succeeded));
        Assert.Contains("2 rounds in a row failed", error.Message);
    }
}
