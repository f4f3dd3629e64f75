using AkkaFed.Model.Compression;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>The library loop over real actors: Initialize, then Next once per round.</summary>
public sealed class FederatedProcessSpec
{
    private static SimulationSpec Spec(int seed, SimulatedFaults? faults = null, double deadlineSeconds = 600, int minClients = 1,
        ModelKind model = ModelKind.TwoNN, StrategyOptions? strategy = null)
    {
        var data = new DatasetSplit(TinyData.Create(40, seed: 5), TinyData.Create(20, seed: 6));
        var partitions = Enumerable.Range(0, 4).Select(k => Enumerable.Range(k * 10, 10).ToArray()).ToArray();
        var server = new ServerOptions(1.0, minClients, TimeSpan.FromSeconds(deadlineSeconds), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 5, LearningRate: 0.05), seed) { Strategy = strategy ?? new StrategyOptions() };
        return new SimulationSpec(model, data, partitions, server, faults ?? SimulatedFaults.None, Workers: 2);
    }

    private static async Task<(FederatedState State, List<RoundMetrics> Metrics)> Run(SimulationSpec spec, int rounds)
    {
        await using var process = await FederatedProcess.StartAsync(spec);
        var metrics = new List<RoundMetrics>();
        var state = await process.RunAsync(process.Initialize(), rounds, maxConsecutiveFailures: 3, metrics.Add);
        return (state, metrics);
    }

    /// <summary>A run's results without its wall time, which is the one thing allowed to differ.</summary>
    private static IEnumerable<RoundMetrics> Results(IEnumerable<RoundMetrics> metrics) => metrics.Select(m => m with { WallSeconds = 0 });

    [Fact]
    public async Task Four_federations_at_once_in_one_process_each_give_their_solo_run_bit_for_bit()
    {
        // Different models, seeds and strategies; two of them alike, so they share a seed while they run.
        var fedAdam = new StrategyOptions(Name: "fedadam", EvaluateFraction: 0.5);
        var specs = new[]
        {
            Spec(seed: 42),
            Spec(seed: 42),
            Spec(seed: 7, model: ModelKind.Cnn),
            Spec(seed: 43, strategy: fedAdam),
        };
        var solo = new List<(FederatedState State, List<RoundMetrics> Metrics)>();
        foreach (var spec in specs)
        {
            solo.Add(await Run(spec, rounds: 2));
        }

        var together = await Task.WhenAll(specs.Select(spec => Task.Run(() => Run(spec, rounds: 2))));

        for (int i = 0; i < specs.Length; i++)
        {
            Assert.Equal(solo[i].State.Weights, together[i].State.Weights);
            Assert.Equal(Results(solo[i].Metrics), Results(together[i].Metrics));
        }
        Assert.NotNull(together[3].Metrics[1].FederatedTest);
        Assert.NotEqual(together[0].State.Weights, together[3].State.Weights);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_run()
    {
        var first = await Run(Spec(seed: 42), rounds: 2);
        var second = await Run(Spec(seed: 42), rounds: 2);
        var other = await Run(Spec(seed: 43), rounds: 2);

        Assert.Equal(3, first.State.Round);
        Assert.Equal(first.State.Weights, second.State.Weights);
        Assert.Equal(Results(first.Metrics), Results(second.Metrics));
        Assert.NotNull(first.Metrics[1].Test);
        Assert.NotEqual(first.State.Weights, other.State.Weights);
    }

    public static TheoryData<Codec, Codec, bool> CompressedRuns() => new()
    {
        { Codec.Fp16, Codec.Fp16, false },
        { Codec.Int8, Codec.Int8, false },
        { Codec.Int4, Codec.None, false },
        { Codec.TopK, Codec.Int8, false },
        { Codec.Int8, Codec.None, true },
    };

    [Theory]
    [MemberData(nameof(CompressedRuns))]
    public async Task A_compressed_run_replays_bit_for_bit_and_is_not_the_uncompressed_one(Codec up, Codec down, bool privacy)
    {
        var strategy = privacy ? new StrategyOptions(Privacy: new PrivacyOptions(0.5, 0.1, 1e-5)) : new StrategyOptions();
        SimulationSpec Compressed(int seed)
        {
            var spec = Spec(seed, strategy: strategy);
            return spec with
            {
                Server = spec.Server with { Uplink = new CompressionOptions(up, BlockSize: 64, TopKFraction: 0.1), Downlink = new CompressionOptions(down, BlockSize: 64) },
            };
        }

        var first = await Run(Compressed(42), rounds: 3);
        var second = await Run(Compressed(42), rounds: 3);
        var plain = await Run(Spec(42, strategy: strategy), rounds: 3);

        Assert.All(first.Metrics, m => Assert.True(m.Succeeded, m.FailureReason));
        Assert.Equal(first.State.Weights, second.State.Weights);
        Assert.Equal(Results(first.Metrics), Results(second.Metrics));
        Assert.NotEqual(plain.State.Weights, first.State.Weights);
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
}
