using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using AkkaFed.Model.Simulation;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// Whole federations on the simulated clock: the deadline, the quorum and availability are decided on simulated
/// time, so the host's speed changes nothing but the wall time, and stragglers are never trained.
/// </summary>
public sealed class SimulatedClockSpec
{
    private const int Clients = 20;

    // A 2NN round on the default device takes about 0.13 s (the model down and up at 100 Mbit/s); a slow device
    // (x20) about 2.6 s, and an injected straggler 5 s more: a 1 s deadline excludes both.
    private static readonly SyntheticDevices StragglerHeavy = new(Spread: 0.3, SlowFraction: 0.3, SlowFactor: 20, Seed: 8);
    private static readonly SimulatedFaults Faults = new(StragglerFraction: 0.2, StragglerDelay: TimeSpan.FromSeconds(5), DropoutFraction: 0.1, Seed: 8);

    private static SimulationSpec Spec(SyntheticDevices devices, SimulatedFaults faults, double fraction = 1.0, double overcommit = 1,
        int minClients = 1, double evaluateFraction = 0, FedBuffOptions? fedBuff = null)
    {
        var data = new DatasetSplit(TinyData.Create(Clients * 10, seed: 5), TinyData.Create(20, seed: 6));
        var partitions = Enumerable.Range(0, Clients).Select(k => Enumerable.Range(k * 10, 10).ToArray()).ToArray();
        var server = new ServerOptions(fraction, minClients, TimeSpan.FromSeconds(1), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 5, LearningRate: 0.05), Seed: 8)
        {
            Strategy = new StrategyOptions(fedBuff is null ? "fedavg" : StrategyOptions.Buffered, EvaluateFraction: evaluateFraction)
            {
                Overcommit = overcommit,
                FedBuff = fedBuff ?? new FedBuffOptions(),
            },
            Clock = SimulatedClock.For(ModelKind.TwoNN, DeviceProfiles.Synthetic(devices), faults),
        };
        return new SimulationSpec(ModelKind.TwoNN, data, partitions, server, faults, Workers: 2) { TrainerCounters = new TrainerPoolCounters() };
    }

    private static async Task<(FederatedState State, List<RoundMetrics> Metrics)> Run(SimulationSpec spec, int rounds)
    {
        await using var process = await FederatedProcess.StartAsync(spec);
        var metrics = new List<RoundMetrics>();
        var state = await process.RunAsync(process.Initialize(), rounds, maxConsecutiveFailures: rounds, metrics.Add);
        return (state, metrics);
    }

    private static IEnumerable<RoundMetrics> WithoutWallTime(IEnumerable<RoundMetrics> metrics) => metrics.Select(m => m with { WallSeconds = 0 });

    [Fact]
    public async Task A_straggler_heavy_run_gives_the_same_model_and_metrics_on_a_host_slowed_down()
    {
        var fast = Spec(StragglerHeavy, Faults);
        var slowed = fast with { HostDelay = TimeSpan.FromMilliseconds(40), TrainerCounters = new TrainerPoolCounters() };

        var (a, aMetrics) = await Run(fast, rounds: 3);
        var (b, bMetrics) = await Run(slowed, rounds: 3);

        Assert.Equal(WithoutWallTime(aMetrics), WithoutWallTime(bMetrics));
        Assert.Equal(a.Weights, b.Weights);
        Assert.Equal(a.SimulatedTime, b.SimulatedTime);
        Assert.All(aMetrics, m => Assert.True(m.Succeeded, m.FailureReason));
        Assert.Contains(aMetrics, m => m.Stragglers > 0);
        Assert.Contains(aMetrics, m => m.Dropouts > 0);
        // The same trainings ran, and on the slowed host each first slept 40 ms.
        Assert.Equal(fast.TrainerCounters!.Finished, slowed.TrainerCounters!.Finished);
        double busy = slowed.TrainerCounters.BusySeconds().Values.Sum();
        Assert.True(busy >= 0.04 * slowed.TrainerCounters.Finished, $"{busy} s busy");
    }

    [Fact]
    public async Task Stragglers_and_dropouts_are_never_trained_and_a_round_with_them_lasts_its_deadline()
    {
        var spec = Spec(StragglerHeavy, Faults);

        var (state, metrics) = await Run(spec, rounds: 3);

        // Every training the host ran produced an accepted update: nothing was trained to be thrown away.
        Assert.Equal(metrics.Sum(m => m.Participants), spec.TrainerCounters!.Finished);
        Assert.All(metrics, m => Assert.Equal(Clients, m.Participants + m.Stragglers + m.Dropouts));
        Assert.All(metrics, m => Assert.Equal(0, m.Late));
        Assert.All(metrics.Where(m => m.Stragglers + m.Dropouts > 0), m => Assert.Equal(1.0, m.SimulatedSeconds));
        // The cumulative simulated time is the sum of the rounds'.
        Assert.Equal(metrics.Select(m => m.SimulatedTime),
            metrics.Select((m, i) => (double?)metrics.Take(i + 1).Sum(r => r.SimulatedSeconds!.Value)));
        Assert.Equal(metrics[^1].SimulatedTime, state.SimulatedTime);
    }

    [Fact]
    public async Task Without_stragglers_a_round_ends_when_its_slowest_client_is_done()
    {
        var devices = new SyntheticDevices(Spread: 0.5, Seed: 2);
        var spec = Spec(devices, SimulatedFaults.None);
        var clock = spec.Server.Clock!;

        var (_, metrics) = await Run(spec, rounds: 1);

        double slowest = Enumerable.Range(0, Clients)
            .Max(k => clock.Train(1, FederatedProcess.ClientId(k), 10, 1, InitialWeights.Create(ModelKind.TwoNN, 8).Length * 4L, 0).Seconds);
        Assert.Equal(slowest, metrics[0].SimulatedSeconds!.Value, 12);
        Assert.True(slowest < 1);
        Assert.Equal((Clients, 0, 0), (metrics[0].Participants, metrics[0].Stragglers, metrics[0].Dropouts));
    }

    [Fact]
    public async Task Over_commitment_asks_more_and_keeps_the_first_k_to_finish()
    {
        // k = 8 of 20; 12 are asked; only the 8 fastest train.
        var spec = Spec(new SyntheticDevices(Spread: 0.5, Seed: 3), SimulatedFaults.None, fraction: 0.4, overcommit: 1.5);

        var (_, metrics) = await Run(spec, rounds: 2);

        Assert.All(metrics, m => Assert.Equal((12, 8, 4), (m.Selected, m.Participants, m.Stragglers)));
        Assert.Equal(16, spec.TrainerCounters!.Finished);
    }

    [Fact]
    public async Task Rounds_sample_only_the_clients_online_at_their_simulated_start()
    {
        // Each client is online for 30% of every 2 s, from a phase of its own: who is online moves with simulated time.
        var devices = new SyntheticDevices(OnlineFraction: 0.3, AvailabilityPeriod: 2, Seed: 5);
        var spec = Spec(devices, SimulatedFaults.None);
        var clock = spec.Server.Clock!;

        var (_, metrics) = await Run(spec, rounds: 4);

        double start = 0;
        foreach (var m in metrics)
        {
            int online = Enumerable.Range(0, Clients).Count(k => clock.IsOnline(FederatedProcess.ClientId(k), start));
            Assert.Equal(online, m.Selected);
            start = m.SimulatedTime!.Value;
        }
        Assert.True(metrics.Select(m => m.Selected).Distinct().Count() > 1, string.Join(",", metrics.Select(m => m.Selected)));
    }

    [Fact]
    public async Task Federated_evaluation_runs_on_the_simulated_clock_too()
    {
        var spec = Spec(StragglerHeavy, SimulatedFaults.None, evaluateFraction: 1.0);

        var (_, metrics) = await Run(spec, rounds: 1);

        // Slow devices need more than the 1 s deadline to fetch the model: their evaluations fail, the others count.
        var m = metrics[0];
        Assert.NotNull(m.FederatedTest);
        Assert.True(m.FederatedTest!.Examples < Clients * 10, $"{m.FederatedTest.Examples} examples evaluated");
        // Training lasts its deadline (slow clients are stragglers), and evaluation its own.
        Assert.Equal(2.0, m.SimulatedSeconds);
    }

    [Fact]
    public async Task FedBuff_gives_the_same_model_and_metrics_on_a_host_slowed_down_and_weighs_stale_updates()
    {
        var fast = Spec(StragglerHeavy, Faults, fedBuff: new FedBuffOptions(Concurrency: 8, BufferSize: 4, MaxStaleness: 2));
        var slowed = fast with { HostDelay = TimeSpan.FromMilliseconds(30), TrainerCounters = new TrainerPoolCounters() };

        var (a, aMetrics) = await Run(fast, rounds: 6);
        var (b, bMetrics) = await Run(slowed, rounds: 6);

        Assert.Equal(WithoutWallTime(aMetrics), WithoutWallTime(bMetrics));
        Assert.Equal(a.Weights, b.Weights);
        Assert.All(aMetrics, m => Assert.True(m.Succeeded, m.FailureReason));
        Assert.All(aMetrics, m => Assert.Equal(4, m.Participants));
        // Eight train at once and the model moves every four updates: most updates are a version or more old.
        Assert.Contains(aMetrics, m => m.MeanStaleness > 0);
        Assert.Contains(aMetrics, m => m.Stragglers + m.Dropouts > 0);
        Assert.True(a.SimulatedTime > 0);
        Assert.Equal(7, a.Round);
    }

    [Fact]
    public async Task FedBuff_trains_only_clients_that_beat_their_deadline()
    {
        // Half the devices are 100 times slower: they are sent the model, hold their slot until the deadline and are
        // never trained.
        var spec = Spec(new SyntheticDevices(SlowFraction: 0.5, SlowFactor: 100, Seed: 4), SimulatedFaults.None,
            fedBuff: new FedBuffOptions(Concurrency: 5, BufferSize: 3));

        var (_, metrics) = await Run(spec, rounds: 3);

        int delivered = metrics.Sum(m => m.Participants + m.Late + m.Failed + m.Rejected);
        Assert.True(metrics.Sum(m => m.Stragglers) > 0);
        // The host trained the delivered updates and, at most, the clients still in flight at the end: never a straggler.
        Assert.InRange(spec.TrainerCounters!.Finished, delivered, delivered + 5);
    }
}
