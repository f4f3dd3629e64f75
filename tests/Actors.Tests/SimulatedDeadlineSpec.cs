using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// Whole federations over real training, with their deadlines and straggler delays on TestKit's scheduler: time moves
/// only when the test has seen every answer it expects, so the machine's speed can change nothing.
/// </summary>
public sealed class SimulatedDeadlineSpec() : TestKit(
    Akka.Configuration.ConfigurationFactory.ParseString(ManualTime.Config)
        .WithFallback(AkkaFedConfig.Dispatcher(2)))
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    private readonly TrainerPoolCounters _training = new();

    private SimulationSpec Spec(SimulatedFaults faults, int minClients = 1)
    {
        var data = new DatasetSplit(TinyData.Create(40, seed: 5), TinyData.Create(20, seed: 6));
        var partitions = Enumerable.Range(0, 4).Select(k => Enumerable.Range(k * 10, 10).ToArray()).ToArray();
        var server = new ServerOptions(1.0, minClients, Deadline, ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 5, LearningRate: 0.05), Seed: 1);
        return new SimulationSpec(ModelKind.TwoNN, data, partitions, server, faults, Workers: 2) { TrainerCounters = _training };
    }

    private static int OnTime(SimulatedFaults faults, int round) =>
        Enumerable.Range(0, 4).Count(k => faults.For(round, FederatedProcess.ClientId(k)) == FaultKind.None);

    private static int Trained(SimulatedFaults faults, int round) =>
        Enumerable.Range(0, 4).Count(k => faults.For(round, FederatedProcess.ClientId(k)) != FaultKind.Drop);

    /// <summary>
    /// Round <paramref name="round"/> is under way once it started and every client that trains in it has trained
    /// (<paramref name="trainedBefore"/> trainings before it): late replies are then on the scheduler. A round with a
    /// late or lost client closes at its deadline, so the test passes it; any other round closes by itself.
    /// </summary>
    private void LetRoundRun(TestProbe progress, SimulatedFaults faults, int round, int trainedBefore)
    {
        progress.FishForMessage<RoundProgress>(p => p.Round == round, TimeSpan.FromMinutes(2));
        AwaitCondition(() => _training.Finished >= trainedBefore + Trained(faults, round), TimeSpan.FromMinutes(2));
        if (OnTime(faults, round) < 4)
        {
            ((TestScheduler)Sys.Scheduler).Advance(Deadline);
        }
    }

    [Fact]
    public async Task Stragglers_past_the_deadline_never_stall_a_round_and_their_late_updates_are_counted()
    {
        var faults = new SimulatedFaults(StragglerFraction: 0.5, StragglerDelay: TimeSpan.FromSeconds(1.5), Seed: 1);
        var progress = CreateTestProbe();
        Sys.EventStream.Subscribe(progress, typeof(RoundProgress));
        await using var process = await FederatedProcess.StartAsync(Spec(faults), Sys);

        var metrics = new List<RoundMetrics>();
        var run = process.RunAsync(process.Initialize(), rounds: 3, maxConsecutiveFailures: 3, metrics.Add);
        // Virtual time: a round that waits for its deadline takes one; a straggler's reply comes due 1.5 after its round starts.
        var starts = new double[4];
        double now = 0;
        for (int round = 1; round <= 3; round++)
        {
            starts[round] = now;
            LetRoundRun(progress, faults, round, Enumerable.Range(1, round - 1).Sum(r => Trained(faults, r)));
            now += OnTime(faults, round) < 4 ? 1 : 0;
        }
        var state = await run;

        Assert.Equal(4, state.Round);
        Assert.All(metrics, m => Assert.True(m.Succeeded, m.FailureReason));
        Assert.Equal(Enumerable.Range(1, 3).Select(r => 4 - OnTime(faults, r)), metrics.Select(m => m.Stragglers));
        Assert.Contains(metrics, m => m.Stragglers > 0);
        Assert.Equal(metrics.Sum(m => m.Participants + m.Stragglers), metrics.Sum(m => m.Selected));
        // A straggler's update arrives after its round closed: it is counted as late in a later round, once due.
        int due = Enumerable.Range(1, 3).Where(r => starts[r] + 1.5 <= now).Sum(r => 4 - OnTime(faults, r));
        Assert.True(due > 0);
        Assert.Equal(0, metrics[0].Late);
        Assert.Equal(due, metrics.Sum(m => m.Late));
    }

    [Fact]
    public async Task A_run_stops_with_a_clear_error_after_too_many_failed_rounds()
    {
        var progress = CreateTestProbe();
        Sys.EventStream.Subscribe(progress, typeof(RoundProgress));
        await using var process = await FederatedProcess.StartAsync(Spec(new SimulatedFaults(DropoutFraction: 1.0)), Sys);
        var seen = new List<RoundMetrics>();

        var faults = new SimulatedFaults(DropoutFraction: 1.0);
        var run = process.RunAsync(process.Initialize(), rounds: 10, maxConsecutiveFailures: 2, seen.Add);
        LetRoundRun(progress, faults, 1, 0);
        LetRoundRun(progress, faults, 2, 0);
        var error = await Assert.ThrowsAsync<FederationException>(() => run);

        Assert.Equal(2, seen.Count);
        Assert.All(seen, m => Assert.False(m.Succeeded));
        Assert.Contains("2 rounds in a row failed", error.Message);
    }
}
