using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
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
        var metrics = round.CloseEvaluation().Metrics(seconds: 1.5);
        Assert.True(metrics.Succeeded);
        Assert.Equal((1, 1, 0, 9), (metrics.Participants, metrics.Failed, metrics.Stragglers, round.Available));
        Assert.Equal(new[] { new ClientFailure("b", "client terminated") }, round.EvaluationFailuresInOrder);
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
}
