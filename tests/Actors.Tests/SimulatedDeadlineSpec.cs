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
public sealed class SimulatedDeadlineSpec(Xunit.Abstractions.ITestOutputHelper output) : TestKit(
    Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = DEBUG\nakka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"")
        .WithFallback(AkkaFedConfig.Dispatcher(2)), "test", output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    private static SimulationSpec Spec(SimulatedFaults faults, int minClients = 1)
    {
        var data = new DatasetSplit(TinyData.Create(40, seed: 5), TinyData.Create(20, seed: 6));
        var partitions = Enumerable.Range(0, 4).Select(k => Enumerable.Range(k * 10, 10).ToArray()).ToArray();
        var server = new ServerOptions(1.0, minClients, Deadline, ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(Epochs: 1, BatchSize: 5, LearningRate: 0.05), Seed: 1);
        return new SimulationSpec(ModelKind.TwoNN, data, partitions, server, faults, Workers: 2);
    }

    /// <summary>Once round <paramref name="round"/> has every answer that is not simulated late or lost, passes its deadline.</summary>
    private void PassTheDeadlineOnceAnswered(TestProbe progress, int round, int expected)
    {
        var seen = new List<RoundProgress>();
        while (true)
        {
            var p = progress.ExpectMsg<RoundProgress>(TimeSpan.FromMinutes(2), $"round {round}, {expected} answers; seen {string.Join(" ", seen)}");
            seen.Add(p);
            if (p.Round == round && p.Answered >= expected)
            {
                break;
            }
        }
        ((TestScheduler)Sys.Scheduler).Advance(Deadline);
    }

    private static int OnTime(SimulatedFaults faults, int round) =>
        Enumerable.Range(0, 4).Count(k => faults.For(round, FederatedProcess.ClientId(k)) == FaultKind.None);

    [Fact]
    public async Task Stragglers_past_the_deadline_never_stall_a_round_and_their_late_updates_are_counted()
    {
        var faults = new SimulatedFaults(StragglerFraction: 0.5, StragglerDelay: TimeSpan.FromSeconds(1.5), Seed: 1);
        var progress = CreateTestProbe();
        Sys.EventStream.Subscribe(progress, typeof(RoundProgress));
        await using var process = await FederatedProcess.StartAsync(Spec(faults), Sys);

        var metrics = new List<RoundMetrics>();
        var run = process.RunAsync(process.Initialize(), rounds: 3, maxConsecutiveFailures: 3, metrics.Add);
        for (int round = 1; round <= 3; round++)
        {
            PassTheDeadlineOnceAnswered(progress, round, OnTime(faults, round));
        }
        var state = await run;

        Assert.Equal(4, state.Round);
        Assert.All(metrics, m => Assert.True(m.Succeeded, m.FailureReason));
        Assert.Equal(Enumerable.Range(1, 3).Select(r => 4 - OnTime(faults, r)), metrics.Select(m => m.Stragglers));
        Assert.Contains(metrics, m => m.Stragglers > 0);
        Assert.Equal(metrics.Sum(m => m.Participants + m.Stragglers), metrics.Sum(m => m.Selected));
        // A straggler's update arrives after its round closed: it is counted as late in a later round.
        Assert.True(metrics.Skip(1).Sum(m => m.Late) > 0);
    }

    [Fact]
    public async Task A_run_stops_with_a_clear_error_after_too_many_failed_rounds()
    {
        var progress = CreateTestProbe();
        Sys.EventStream.Subscribe(progress, typeof(RoundProgress));
        await using var process = await FederatedProcess.StartAsync(Spec(new SimulatedFaults(DropoutFraction: 1.0)), Sys);
        var seen = new List<RoundMetrics>();

        var run = process.RunAsync(process.Initialize(), rounds: 10, maxConsecutiveFailures: 2, seen.Add);
        PassTheDeadlineOnceAnswered(progress, 1, 0);
        PassTheDeadlineOnceAnswered(progress, 2, 0);
        var error = await Assert.ThrowsAsync<FederationException>(() => run);

        Assert.Equal(2, seen.Count);
        Assert.All(seen, m => Assert.False(m.Succeeded));
        Assert.Contains("2 rounds in a row failed", error.Message);
    }
}
