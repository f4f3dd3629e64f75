using Akka.Actor;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using AkkaFed.Model.Simulation;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// Clients activated on demand (one <see cref="ClientHost"/>, an actor per request) give the run that always-live
/// clients (an actor each for the whole run) give, bit for bit: the weights, every metric, the simulated time.
/// </summary>
public sealed class ClientActivationSpec
{
    private const int Clients = 12;

    public enum Setting
    {
        /// <summary>FedAvg on the wall clock, half the clients a round, federated evaluation of a third.</summary>
        Sampled,

        /// <summary>As <see cref="Sampled"/>, top-k uplink with error feedback: each client's residual crosses rounds.</summary>
        TopKWithErrorFeedback,

        /// <summary>The simulated clock with stragglers, dropouts and devices offline part of the time, top-k uplink.</summary>
        SimulatedClockWithFaults,

        /// <summary>Buffered asynchronous aggregation (FedBuff) on the simulated clock, top-k uplink.</summary>
        Buffered,
    }

    private static SimulationSpec Spec(Setting setting, ClientActivation activation)
    {
        var data = new DatasetSplit(TinyData.Create(Clients * 10, seed: 5), TinyData.Create(20, seed: 6));
        var partitions = Enumerable.Range(0, Clients).Select(k => Enumerable.Range(k * 10, 10).ToArray()).ToArray();
        bool compresses = setting != Setting.Sampled;
        bool simulated = setting is Setting.SimulatedClockWithFaults or Setting.Buffered;
        var faults = simulated
            ? new SimulatedFaults(StragglerFraction: 0.2, StragglerDelay: TimeSpan.FromSeconds(5), DropoutFraction: 0.1, Seed: 3)
            : SimulatedFaults.None;
        var strategy = new StrategyOptions(setting == Setting.Buffered ? StrategyOptions.Buffered : "fedavg",
            EvaluateFraction: setting == Setting.Sampled ? 1.0 / 3 : 0);
        // On the wall clock, a deadline no loaded machine reaches; on the simulated clock, 1 s, which leaves stragglers out.
        var server = new ServerOptions(0.5, 1, TimeSpan.FromSeconds(simulated ? 1 : 600), ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 5, LearningRate: 0.05), Seed: 11)
        {
            Strategy = strategy,
            Uplink = compresses ? new CompressionOptions(Codec.TopK, BlockSize: 64, TopKFraction: 0.05) : CompressionOptions.None,
            Clock = simulated
                ? SimulatedClock.For(ModelKind.TwoNN, DeviceProfiles.Synthetic(new SyntheticDevices(Spread: 0.3, SlowFraction: 0.3, SlowFactor: 20, OnlineFraction: 0.7, AvailabilityPeriod: 4, Seed: 3)), faults)
                : null,
        };
        return new SimulationSpec(ModelKind.TwoNN, data, partitions, server, faults, Workers: 2) { Activation = activation };
    }

    private static IEnumerable<RoundMetrics> WithoutWallTime(IEnumerable<RoundMetrics> metrics) => metrics.Select(m => m with { WallSeconds = 0 });

    private sealed record Run(FederatedState State, List<RoundMetrics> Metrics, ClientHost.Occupancy? Occupancy);

    private static async Task<Run> RunAsync(SimulationSpec spec, int rounds)
    {
        await using var process = await FederatedProcess.StartAsync(spec);
        Assert.Equal(spec.ActivatesOnDemand, process.Host is not null);
        var metrics = new List<RoundMetrics>();
        var state = await process.RunAsync(process.Initialize(), rounds, maxConsecutiveFailures: rounds, metrics.Add);
        var occupancy = process.Host is { } host ? await host.Ask<ClientHost.Occupancy>(ClientHost.CountActive.Instance, TimeSpan.FromSeconds(30)) : null;
        return new Run(state, metrics, occupancy);
    }

    [Theory]
    [InlineData(Setting.Sampled)]
    [InlineData(Setting.TopKWithErrorFeedback)]
    [InlineData(Setting.SimulatedClockWithFaults)]
    [InlineData(Setting.Buffered)]
    public async Task On_demand_clients_give_the_run_of_always_live_clients_bit_for_bit(Setting setting)
    {
        var live = await RunAsync(Spec(setting, ClientActivation.AlwaysLive), rounds: 5);
        var onDemand = await RunAsync(Spec(setting, ClientActivation.OnDemand), rounds: 5);

        Assert.Equal(WithoutWallTime(live.Metrics), WithoutWallTime(onDemand.Metrics));
        Assert.Equal(live.State.Weights, onDemand.State.Weights);
        Assert.Equal(live.State.SimulatedTime, onDemand.State.SimulatedTime);
        Assert.All(onDemand.Metrics, m => Assert.True(m.Succeeded, m.FailureReason));
        if (setting != Setting.Buffered)
        {
            // Between rounds no client has an actor; those that sent top-k keep a residual in the host's table.
            Assert.Equal(0, onDemand.Occupancy!.Active);
        }
        Assert.Equal(setting == Setting.Sampled, onDemand.Occupancy!.Residuals == 0);
        if (setting is Setting.SimulatedClockWithFaults or Setting.Buffered)
        {
            Assert.Contains(onDemand.Metrics, m => m.Stragglers + m.Dropouts > 0);
        }
        if (setting == Setting.SimulatedClockWithFaults)
        {
            // Half of those online, fewer than half of all: offline devices were left out before sampling.
            Assert.Contains(onDemand.Metrics, m => m.Selected < Clients / 2);
        }
    }

    [Fact]
    public async Task The_residual_a_client_keeps_between_activations_is_what_makes_its_later_updates()
    {
        // Were the residual dropped at passivation, a top-k run would be another run: this test can fail.
        var topK = await RunAsync(Spec(Setting.TopKWithErrorFeedback, ClientActivation.OnDemand), rounds: 5);
        var forgetful = Spec(Setting.TopKWithErrorFeedback, ClientActivation.OnDemand);
        forgetful = forgetful with { Server = forgetful.Server with { Uplink = forgetful.Server.Uplink with { ErrorFeedback = false } } };
        var withoutFeedback = await RunAsync(forgetful, rounds: 5);

        Assert.NotEqual(topK.State.Weights, withoutFeedback.State.Weights);
        Assert.Equal(0, withoutFeedback.Occupancy!.Residuals);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Automatic_activation_is_on_demand_only_where_it_gives_the_same_run(bool wallClockFaults, bool onDemand)
    {
        var spec = Spec(Setting.Sampled, ClientActivation.Automatic);
        if (wallClockFaults)
        {
            // Stragglers and dropouts on the wall clock are acted out by each client's own actor.
            spec = spec with { Faults = new SimulatedFaults(StragglerFraction: 0.5, StragglerDelay: TimeSpan.FromSeconds(1), Seed: 1) };
        }

        Assert.Equal(onDemand, spec.ActivatesOnDemand);
    }
}
