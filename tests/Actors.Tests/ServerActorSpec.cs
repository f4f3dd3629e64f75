using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// The ServerActor's round protocol, with TestProbes standing in for clients. Time is TestKit's scheduler, moved by
/// hand: a deadline passes when the test says so, never because the machine is slow.
/// </summary>
public sealed class ServerActorSpec() : TestKit(ManualTime.Config)
{
    private static readonly float[] Global = { 1f, 2f, 3f };
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static ServerOptions Options(double fraction = 1, int minClients = 1) =>
        new(fraction, minClients, Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7);

    private void PassTheDeadline() => ((TestScheduler)Sys.Scheduler).Advance(Deadline);

    private (IActorRef Server, TestProbe[] Clients) Start(ServerOptions options, int clients)
    {
        var server = Sys.ActorOf(ServerActor.Props(options));
        var probes = Enumerable.Range(0, clients).Select(i => CreateTestProbe($"client-{i}")).ToArray();
        for (int i = 0; i < clients; i++)
        {
            // More than any update below claims: a claim beyond what a client registered is rejected.
            probes[i].Send(server, new RegisterClient(Id(i), 1000 * (i + 1)));
            Assert.Equal(Id(i), probes[i].ExpectMsg<ClientRegistered>().ClientId);
        }
        server.Tell(new AwaitClients(clients));
        ExpectMsg<ClientsAvailable>(c => c.Count == clients);
        return (server, probes);
    }

    private static string Id(int i) => $"client-{i}";

    private static FitResult Result(FitRequest request, int client, float[] delta, int examples) =>
        new(request.Round, Id(client), delta, examples, Loss: 1.0, Accuracy: 0.5);

    [Fact]
    public void Broadcasts_only_to_the_selected_clients()
    {
        var (server, clients) = Start(Options(fraction: 0.5), clients: 4);
        // Sampling is a pure function of the sorted ids, the seed and the round.
        var selected = ClientSampling.Select(Enumerable.Range(0, 4).Select(Id).ToArray(), 2, seed: 7, round: 1);

        server.Tell(new RunRound(new FederatedState(1, Global)));

        for (int i = 0; i < 4; i++)
        {
            if (selected.Contains(Id(i)))
            {
                clients[i].ExpectMsg<FitRequest>();
            }
        }
        for (int i = 0; i < 4; i++)
        {
            if (!selected.Contains(Id(i)))
            {
                clients[i].ExpectNoMsg(TimeSpan.FromMilliseconds(200));
            }
        }
    }

    [Fact]
    public void Completes_the_round_when_every_client_replied_with_the_weighted_average()
    {
        var (server, clients) = Start(Options(), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var first = clients[0].ExpectMsg<FitRequest>();
        var second = clients[1].ExpectMsg<FitRequest>();
        Assert.Equal(1, first.Round);
        Assert.Equal(Global, first.Weights);
        clients[0].Reply(Result(first, 0, new[] { 1f, 1f, 1f }, 100));
        clients[1].Reply(Result(second, 1, new[] { 4f, -2f, 0f }, 300));

        // The deadline never passes: the round closes because everyone answered.
        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(2, done.State.Round);
        Assert.Equal(2, done.Metrics.Participants);
        Assert.Equal(0, done.Metrics.Stragglers);
        // (100 * [1,1,1] + 300 * [4,-2,0]) / 400 = [3.25, -1.25, 0.25], added to [1,2,3].
        Assert.Equal(new[] { 4.25f, 0.75f, 3.25f }, done.State.Weights);
    }

    [Fact]
    public void At_the_deadline_aggregates_what_arrived_when_the_quorum_is_met()
    {
        var (server, clients) = Start(Options(minClients: 2), clients: 3);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        clients[0].Reply(Result(requests[0], 0, new[] { 2f, 2f, 2f }, 100));
        clients[1].Reply(Result(requests[1], 1, new[] { 4f, 4f, 4f }, 100));
        // client 2 straggles.
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        PassTheDeadline();

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(2, done.Metrics.Participants);
        Assert.Equal(1, done.Metrics.Stragglers);
        Assert.Equal(new[] { 4f, 5f, 6f }, done.State.Weights);
    }

    [Fact]
    public void Below_the_quorum_the_round_fails_keeps_the_model_and_the_next_round_runs()
    {
        var (server, clients) = Start(Options(minClients: 2), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = clients[0].ExpectMsg<FitRequest>();
        clients[1].ExpectMsg<FitRequest>();
        clients[0].Reply(Result(request, 0, new[] { 9f, 9f, 9f }, 100));
        PassTheDeadline();

        var failed = ExpectMsg<RoundCompleted>();
        Assert.False(failed.Metrics.Succeeded);
        Assert.Contains("min-clients", failed.Metrics.FailureReason);
        Assert.Equal(Global, failed.State.Weights);
        Assert.Equal(2, failed.State.Round);

        server.Tell(new RunRound(failed.State));
        var next = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        Assert.All(next, r => Assert.Equal(2, r.Round));
        clients[0].Reply(Result(next[0], 0, new[] { 1f, 1f, 1f }, 100));
        clients[1].Reply(Result(next[1], 1, new[] { 1f, 1f, 1f }, 100));
        var succeeded = ExpectMsg<RoundCompleted>();
        Assert.True(succeeded.Metrics.Succeeded);
        Assert.Equal(new[] { 2f, 3f, 4f }, succeeded.State.Weights);
    }

    [Fact]
    public void Late_duplicate_and_malformed_updates_are_counted_and_never_change_the_model()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 3);

        server.Tell(new RunRound(new FederatedState(5, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        // Late: an update for an earlier round.
        clients[0].Reply(new FitResult(4, Id(0), new[] { 100f, 100f, 100f }, 100, 1, 0.5));
        // Accepted, then duplicated with a different delta.
        clients[0].Reply(Result(requests[0], 0, new[] { 1f, 1f, 1f }, 100));
        clients[0].Reply(Result(requests[0], 0, new[] { 50f, 50f, 50f }, 100));
        // Malformed: wrong length, and a non-finite value.
        clients[1].Reply(Result(requests[1], 1, new[] { 1f, 1f }, 100));
        clients[2].Reply(Result(requests[2], 2, new[] { float.NaN, 0f, 0f }, 100));
        PassTheDeadline();

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(1, done.Metrics.Late);
        Assert.Equal(1, done.Metrics.Duplicates);
        Assert.Equal(2, done.Metrics.Rejected);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void An_update_beyond_the_aggregators_range_is_rejected_and_never_changes_the_model()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        // Finite, but 1e6 times 100 examples is past what the exact running sum takes (2^26).
        clients[0].Reply(Result(requests[0], 0, new[] { 1e6f, 0f, 0f }, 100));
        clients[1].Reply(Result(requests[1], 1, new[] { 1f, 1f, 1f }, 100));
        PassTheDeadline();

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(1, done.Metrics.Rejected);
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void The_order_in_which_updates_arrive_never_changes_a_bit_of_the_model()
    {
        // In float, (1e6 + 0.01) - 1e6 is 0 but (1e6 - 1e6) + 0.01 is 0.01: a running sum in arrival order differs.
        var deltas = new[] { new[] { 1e6f, 0.1f, 7.3f }, new[] { 0.01f, 0.2f, -2.9f }, new[] { -1e6f, 0.3f, 1e-5f } };
        var examples = new[] { 1, 1, 1 };
        var (server, clients) = Start(Options(), clients: 3);
        float[] RunWithArrivals(int[] order)
        {
            // The same round from the same model each time; only the arrivals differ.
            server.Tell(new RunRound(new FederatedState(1, Global)));
            var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
            foreach (int i in order)
            {
                clients[i].Reply(Result(requests[i], i, deltas[i], examples[i]));
            }
            return ExpectMsg<RoundCompleted>().State.Weights;
        }

        var first = RunWithArrivals(new[] { 0, 1, 2 });

        Assert.Equal(first, RunWithArrivals(new[] { 0, 2, 1 }));
        Assert.Equal(first, RunWithArrivals(new[] { 2, 1, 0 }));
        Assert.Equal(1 + 0.01f / 3, first[0], 1e-6f);
    }

    [Fact]
    public void An_update_from_an_actor_that_is_not_the_registered_client_never_changes_the_model()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 2);
        var impostor = CreateTestProbe("impostor");

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var first = clients[0].ExpectMsg<FitRequest>();
        clients[1].ExpectMsg<FitRequest>();
        impostor.Send(server, Result(first, 1, new[] { 100f, 100f, 100f }, 1000));
        clients[0].Reply(Result(first, 0, new[] { 1f, 1f, 1f }, 100));
        PassTheDeadline();

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, done.Metrics.Rejected);
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void A_client_whose_training_throws_counts_as_failed_and_the_round_does_not_wait_for_it()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var first = clients[0].ExpectMsg<FitRequest>();
        var second = clients[1].ExpectMsg<FitRequest>();
        clients[0].Reply(Result(first, 0, new[] { 1f, 1f, 1f }, 100));
        clients[1].Reply(new FitFailed(second.Round, Id(1), "out of memory"));

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(1, done.Metrics.Failed);
        Assert.Equal(0, done.Metrics.Stragglers);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void A_client_that_dies_mid_round_is_a_failure_and_is_no_longer_selected()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var first = clients[0].ExpectMsg<FitRequest>();
        clients[1].ExpectMsg<FitRequest>();
        Watch(clients[1].Ref);
        Sys.Stop(clients[1].Ref);
        ExpectTerminated(clients[1].Ref);
        clients[0].Reply(Result(first, 0, new[] { 1f, 1f, 1f }, 100));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(1, done.Metrics.Failed);

        server.Tell(new RunRound(done.State));
        var next = clients[0].ExpectMsg<FitRequest>();
        clients[0].Reply(Result(next, 0, new[] { 1f, 1f, 1f }, 100));
        var second = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, second.Metrics.Selected);
        Assert.Equal(0, second.Metrics.Failed);
    }

    [Fact]
    public void Federated_evaluation_asks_clients_to_evaluate_the_new_model_and_weights_their_answers_by_examples()
    {
        var options = Options() with { Strategy = new StrategyOptions(EvaluateFraction: 1.0) };
        var (server, clients) = Start(options, clients: 3);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        for (int i = 0; i < 3; i++)
        {
            clients[i].Reply(Result(requests[i], i, new[] { 1f, 1f, 1f }, 100));
        }
        var evaluate = clients.Select(probe => probe.ExpectMsg<EvaluateRequest>()).ToArray();
        Assert.All(evaluate, e => Assert.Equal(new[] { 2f, 3f, 4f }, e.Weights));
        clients[0].Reply(new EvaluateResult(1, Id(0), Loss: 1.0, Accuracy: 0.5, Examples: 100));
        clients[0].Reply(new EvaluateResult(1, Id(0), Loss: 9.0, Accuracy: 0.0, Examples: 900));
        clients[1].Reply(new EvaluateResult(1, Id(1), Loss: 3.0, Accuracy: 1.0, Examples: 300));
        // client 2 never answers: the deadline closes the evaluation.
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        PassTheDeadline();

        var done = ExpectMsg<RoundCompleted>();

        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
        Assert.Equal((1.0 * 100 + 3.0 * 300) / 400, done.Metrics.FederatedTest!.Loss, 10);
        Assert.Equal((0.5 * 100 + 1.0 * 300) / 400, done.Metrics.FederatedTest.Accuracy, 10);
        Assert.Equal(400, done.Metrics.FederatedTest.Examples);
    }

    [Fact]
    public void A_second_round_while_one_is_in_flight_is_refused()
    {
        var (server, clients) = Start(Options(), clients: 1);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        clients[0].ExpectMsg<FitRequest>();
        server.Tell(new RunRound(new FederatedState(1, Global)));

        var refused = ExpectMsg<RoundRefused>();
        Assert.Contains("in flight", refused.Reason);
    }

    [Fact]
    public void A_round_with_fewer_available_clients_than_min_clients_fails_at_once()
    {
        var (server, _) = Start(Options(minClients: 3), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));

        var done = ExpectMsg<RoundCompleted>();
        Assert.False(done.Metrics.Succeeded);
        Assert.Contains("2 clients available", done.Metrics.FailureReason);
    }

    [Fact]
    public void The_order_in_which_evaluations_arrive_never_changes_a_bit_of_the_federated_metrics()
    {
        var options = Options() with { Strategy = new StrategyOptions(EvaluateFraction: 1.0) };
        var (server, clients) = Start(options, clients: 3);
        var losses = new[] { 0.1, 1e16, -1e16 };
        (double Loss, double Accuracy) RunWithArrivals(int round, int[] order)
        {
            server.Tell(new RunRound(new FederatedState(round, Global)));
            var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
            for (int i = 0; i < 3; i++)
            {
                clients[i].Reply(Result(requests[i], i, new[] { 0f, 0f, 0f }, 100));
            }
            foreach (var probe in clients)
            {
                probe.ExpectMsg<EvaluateRequest>();
            }
            // In double, (1e16 + 0.1) - 1e16 is 0 but (1e16 - 1e16) + 0.1 is 0.1: a sum in arrival order differs.
            foreach (int i in order)
            {
                clients[i].Reply(new EvaluateResult(round, Id(i), losses[i], Accuracy: i / 10.0, Examples: 1));
            }
            var federated = ExpectMsg<RoundCompleted>().Metrics.FederatedTest!;
            return (federated.Loss, federated.Accuracy);
        }

        var first = RunWithArrivals(1, new[] { 0, 1, 2 });

        Assert.Equal(first, RunWithArrivals(2, new[] { 1, 2, 0 }));
        Assert.Equal(first, RunWithArrivals(3, new[] { 2, 1, 0 }));
    }

    [Fact]
    public void A_client_that_dies_during_federated_evaluation_fails_its_evaluation_and_the_round_completes_once()
    {
        var options = Options() with { Strategy = new StrategyOptions(EvaluateFraction: 1.0) };
        var (server, clients) = Start(options, clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        clients[0].Reply(Result(requests[0], 0, new[] { 1f, 1f, 1f }, 100));
        clients[1].Reply(Result(requests[1], 1, new[] { 1f, 1f, 1f }, 100));
        clients[0].ExpectMsg<EvaluateRequest>();
        clients[1].ExpectMsg<EvaluateRequest>();
        clients[0].Reply(new EvaluateResult(1, Id(0), Loss: 2.0, Accuracy: 0.5, Examples: 10));
        Watch(clients[1].Ref);
        Sys.Stop(clients[1].Ref);
        ExpectTerminated(clients[1].Ref);

        // No deadline needed: the dead client's evaluation counts as failed, which completes the evaluation.
        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(2.0, done.Metrics.FederatedTest!.Loss);
        PassTheDeadline();
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Answers_that_arrive_after_a_round_closed_are_counted_as_late_in_the_next_round()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 2);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        clients[0].Reply(Result(requests[0], 0, new[] { 1f, 1f, 1f }, 100));
        PassTheDeadline();
        var first = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, first.Metrics.Stragglers);
        clients[1].Reply(Result(requests[1], 1, new[] { 5f, 5f, 5f }, 100));

        server.Tell(new RunRound(first.State));
        var next = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        clients[0].Reply(Result(next[0], 0, new[] { 1f, 1f, 1f }, 100));
        clients[1].Reply(Result(next[1], 1, new[] { 1f, 1f, 1f }, 100));
        var second = ExpectMsg<RoundCompleted>();

        Assert.Equal(1, second.Metrics.Late);
        Assert.Equal(new[] { 3f, 4f, 5f }, second.State.Weights);
    }

    [Fact]
    public void A_client_whose_update_is_rejected_has_answered_so_the_round_closes_without_waiting_for_the_deadline()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 3);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(probe => probe.ExpectMsg<FitRequest>()).ToArray();
        clients[0].Reply(Result(requests[0], 0, new[] { 1f, 1f, 1f }, 100));
        // Diverged: NaN. Out of the exact sum's range: 1e6 times 100 examples.
        clients[1].Reply(Result(requests[1], 1, new[] { float.NaN, 0f, 0f }, 100));
        clients[2].Reply(Result(requests[2], 2, new[] { 1e6f, 0f, 0f }, 100));

        // No deadline passes: every client has answered.
        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(2, done.Metrics.Rejected);
        Assert.Equal(0, done.Metrics.Stragglers);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void An_impostors_update_is_not_the_clients_answer_and_the_client_still_counts()
    {
        var (server, clients) = Start(Options(minClients: 1), clients: 1);
        var impostor = CreateTestProbe("impostor");

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = clients[0].ExpectMsg<FitRequest>();
        impostor.Send(server, Result(request, 0, new[] { float.NaN, 0f, 0f }, 100));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        clients[0].Reply(Result(request, 0, new[] { 1f, 1f, 1f }, 100));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(1, done.Metrics.Rejected);
    }

    [Fact]
    public void A_round_whose_aggregation_throws_fails_with_the_reason_and_the_server_runs_the_next_round()
    {
        // FedAdam resumed from a state whose optimizer slots do not fit the model (a checkpoint of another run).
        var (server, clients) = Start(Options() with { Strategy = new StrategyOptions(Name: "fedadam") }, clients: 1);
        var misfit = new FederatedState(1, Global) { Optimizer = new ServerOptimizerState(new[] { new float[1], new float[1] }) };

        server.Tell(new RunRound(misfit));
        var request = clients[0].ExpectMsg<FitRequest>();
        clients[0].Reply(Result(request, 0, new[] { 1f, 1f, 1f }, 100));

        var failed = ExpectMsg<RoundCompleted>();
        Assert.False(failed.Metrics.Succeeded);
        Assert.Contains("aggregation failed", failed.Metrics.FailureReason);
        Assert.Equal(Global, failed.State.Weights);
        Assert.Equal(2, failed.State.Round);

        server.Tell(new RunRound(new FederatedState(2, Global)));
        var next = clients[0].ExpectMsg<FitRequest>();
        clients[0].Reply(Result(next, 0, new[] { 1f, 1f, 1f }, 100));
        Assert.True(ExpectMsg<RoundCompleted>().Metrics.Succeeded);
    }
}
