using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class RoundTests
{
    private static ClientUpdate Update(string id, int examples = 10) => new(id, new[] { 1f, 1f }, examples, 0.5, 0.25);

    private static Round Open(params string[] selected) => Round.Open(4, selected, modelLength: 2, available: 9, Round.None);

    [Fact]
    public void A_round_trains_closes_with_a_quorum_then_evaluates_and_is_done()
    {
        var round = Open("a", "b");
        (round, _) = round.Train(4, Update("a"), fromOwner: true);
        (round, _) = round.TrainingFailed(4, "b", "out of memory", fromOwner: true);
        Assert.True(round.TrainingComplete);

        round = round.CloseTraining(minClients: 1, deadlinePassed: false).Evaluate(new[] { "b", "a" });
        (round, var verdict) = round.Evaluated(4, "a", new Evaluation(1.0, 0.5, 10), null, fromOwner: true);
        round = round.Lost("b", "client terminated");

        Assert.Equal(Verdict.Accepted, verdict);
        Assert.True(round.EvaluationComplete);
        var metrics = round.CloseEvaluation().Metrics(wallSeconds: 1.5);
        Assert.True(metrics.Succeeded);
        Assert.Equal((1, 1, 0, 9), (metrics.Participants, metrics.Failed, metrics.Stragglers, round.Available));
        Assert.Equal(new[] { new ClientFailure("b", "client terminated") }, round.EvaluationFailuresInOrder);
    }

    [Fact]
    public void A_round_below_its_quorum_reports_no_training_metrics_and_no_participants_whatever_arrived()
    {
        var round = Open("a", "b", "c");
        (round, _) = round.Train(4, Update("a"), fromOwner: true);
        (round, _) = round.Train(4, Update("b"), fromOwner: true);

        var metrics = round.CloseTraining(minClients: 3, deadlinePassed: true).Metrics(wallSeconds: 1);

        Assert.False(metrics.Succeeded);
        Assert.Equal((0, 3, 1), (metrics.Participants, metrics.Selected, metrics.Stragglers));
        Assert.True(double.IsNaN(metrics.Loss) && double.IsNaN(metrics.Accuracy), $"loss {metrics.Loss}, accuracy {metrics.Accuracy}");
        Assert.Contains("2 updates by the deadline, min-clients is 3", metrics.FailureReason);
    }

    [Fact]
    public void A_client_lost_after_training_closed_changes_nothing_of_the_training()
    {
        var round = Open("a", "b");
        (round, _) = round.Train(4, Update("a"), fromOwner: true);
        round = round.CloseTraining(minClients: 1, deadlinePassed: true);

        var after = round.Lost("b", "client terminated");

        Assert.Equal(round, after);
        Assert.Equal(1, after.Metrics(0).Stragglers);
    }

    [Fact]
    public void Answers_after_training_closed_are_late_in_the_next_round()
    {
        var round = Open("a").CloseTraining(minClients: 1, deadlinePassed: true);
        (round, var verdict) = round.Train(4, Update("a"), fromOwner: true);

        var next = Round.Open(5, new[] { "a" }, 2, 1, round);

        Assert.Equal(Verdict.Late, verdict);
        Assert.Equal(1, next.Book.Late);
    }

    [Fact]
    public void Below_the_quorum_the_failure_names_every_failed_client_in_a_fixed_order()
    {
        var round = Open("z", "a", "m");
        (round, _) = round.TrainingFailed(4, "z", "boom", fromOwner: true);
        (round, _) = round.TrainingFailed(4, "a", "bang", fromOwner: true);
        (round, _) = round.Train(4, Update("m") with { Delta = new[] { float.NaN, 0f } }, fromOwner: true);

        var closed = round.CloseTraining(minClients: 1, deadlinePassed: false);

        Assert.False(closed.Succeeded);
        Assert.Equal("0 updates after every selected client answered, min-clients is 1 (a failed: bang; z failed: boom; 1 rejected)",
            closed.FailureReason);
        Assert.Equal(new[] { "z", "a", "m" }, closed.TrainingFailures.Select(f => f.ClientId));
        Assert.Equal("its update was rejected", closed.TrainingFailures[2].Reason);
    }

    [Fact]
    public void Only_the_registered_owner_speaks_for_a_client()
    {
        var round = Open("a");

        (round, var verdict) = round.TrainingFailed(4, "a", "forged", fromOwner: false);

        Assert.Equal(Verdict.Rejected, verdict);
        Assert.Equal(1, round.Book.Missing);
        Assert.False(round.TrainingComplete);
    }

    [Fact]
    public void Metrics_exist_only_once_a_round_is_done()
    {
        Assert.Throws<InvalidOperationException>(() => Open("a").Metrics(0));
        Assert.Throws<InvalidOperationException>(() => Open("a").CloseTraining(1, true).Evaluate(new[] { "a" }));
    }

    [Fact]
    public void Clients_the_simulated_clock_excuses_are_stragglers_or_dropouts_and_the_round_does_not_wait_for_them()
    {
        var round = Open("a", "b", "c", "d").Planned(new PhasePlan(new[] { "a", "b" }, PastDeadline: new[] { "c" }, DroppedOut: new[] { "d" }, 2.0));
        (round, _) = round.Train(4, Update("a"), fromOwner: true);
        Assert.False(round.TrainingComplete);
        (round, _) = round.Train(4, Update("b"), fromOwner: true);
        Assert.True(round.TrainingComplete);

        round = round.CloseTraining(minClients: 3, deadlinePassed: false);
        var metrics = round.Metrics(wallSeconds: 0.1);

        Assert.False(metrics.Succeeded);
        Assert.Equal("2 updates by the deadline, min-clients is 3", round.FailureReason);
        Assert.Equal((0, 1, 1, 2.0), (metrics.Participants, metrics.Stragglers, metrics.Dropouts, metrics.SimulatedSeconds));
        Assert.Equal(new[] { "past the deadline (simulated)", "dropped out (simulated)" }, round.TrainingFailures.Select(f => f.Reason));
    }

    [Fact]
    public void An_over_committed_round_closes_once_it_has_the_updates_it_keeps()
    {
        var round = Round.Open(4, new[] { "a", "b", "c" }, modelLength: 2, available: 9, Round.None, keep: 2);
        (round, _) = round.Train(4, Update("c"), fromOwner: true);
        Assert.False(round.TrainingComplete);
        (round, _) = round.Train(4, Update("a"), fromOwner: true);
        Assert.True(round.TrainingComplete);

        var metrics = round.CloseTraining(minClients: 2, deadlinePassed: false).Metrics(wallSeconds: 0);
        Assert.Equal((3, 2, 1, 0), (metrics.Selected, metrics.Participants, metrics.Stragglers, metrics.Dropouts));
        Assert.Null(metrics.SimulatedSeconds);
    }

    [Fact]
    public void Simulated_evaluators_that_miss_the_deadline_fail_their_evaluation_and_the_phase_adds_its_time()
    {
        var round = Open("a").Planned(new PhasePlan(new[] { "a" }, Array.Empty<string>(), Array.Empty<string>(), 1.25));
        (round, _) = round.Train(4, Update("a"), fromOwner: true);
        round = round.CloseTraining(minClients: 1, deadlinePassed: false).Evaluate(new[] { "a", "b" })
            .Planned(new PhasePlan(new[] { "a" }, PastDeadline: new[] { "b" }, Array.Empty<string>(), 0.5));
        Assert.False(round.EvaluationComplete);
        (round, _) = round.Evaluated(4, "a", new Evaluation(1.0, 0.5, 10), null, fromOwner: true);

        Assert.True(round.EvaluationComplete);
        Assert.Equal(new[] { new ClientFailure("b", "past the deadline (simulated)") }, round.EvaluationFailuresInOrder);
        Assert.Equal(1.75, round.CloseEvaluation().Metrics(0).SimulatedSeconds);
    }

    [Fact]
    public void A_failed_rounds_reason_names_a_few_failures_each_cut_short_however_many_clients_failed_and_at_what_length()
    {
        var ids = Enumerable.Range(0, 500).Select(i => $"client-{i:D5}").ToArray();
        var round = Open(ids);
        foreach (var id in ids)
        {
            (round, _) = round.TrainingFailed(4, id, new string('x', 100_000), fromOwner: true);
        }

        round = round.CloseTraining(minClients: 1, deadlinePassed: false);

        Assert.StartsWith("0 updates after every selected client answered, min-clients is 1 (client-00000 failed: xxx", round.FailureReason);
        Assert.Contains("495 more failed", round.FailureReason);
        Assert.InRange(round.FailureReason!.Length, 100, 2_000);
        Assert.All(round.Book.Failures.Values, reason => Assert.True(reason.Length < 300));
    }

    [Fact]
    public void A_client_that_was_not_selected_leaving_during_training_changes_nothing()
    {
        var round = Open("a", "b");

        var after = round.Lost("z", "client terminated");

        Assert.Equal(0, after.Book.Rejected);
        Assert.Empty(after.Book.Failures);
        Assert.Equal(round.Book.Missing, after.Book.Missing);
    }
}
