using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// What a server refuses from senders it did not ask, without node identities (a simulation, an insecure cluster):
/// answers from anyone but a client's registered actor, one actor speaking for several ids, and example counts that
/// would dominate the weighted mean. Each attack fails and the honest clients' round still succeeds.
/// </summary>
[Trait("Category", "Security")]
public sealed class ProtocolGuardSpec() : TestKit(ManualTime.Config)
{
    private static readonly float[] Global = { 1f, 2f, 3f };
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static ServerOptions Options(int minClients = 1, double evaluate = 0) =>
        new(1.0, minClients, Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7)
        {
            Strategy = new StrategyOptions(EvaluateFraction: evaluate),
        };

    private static string Id(int i) => $"client-{i}";

    private IActorRef Server(ServerOptions options) => Sys.ActorOf(ServerActor.Props(options));

    private TestProbe[] Register(IActorRef server, int clients, int examples = 100)
    {
        var probes = Enumerable.Range(0, clients).Select(i => CreateTestProbe($"client-{i}")).ToArray();
        for (int i = 0; i < clients; i++)
        {
            probes[i].Send(server, new RegisterClient(Id(i), examples));
            probes[i].ExpectMsg<ClientRegistered>();
        }
        return probes;
    }

    private void AssertRegistered(IActorRef server, int count)
    {
        server.Tell(new AwaitClients(count));
        ExpectMsg<ClientsAvailable>(c => c.Count == count);
    }

    private static FitResult Update(FitRequest request, int client, int examples = 100) =>
        new(request.Round, Id(client), new[] { 1f, 1f, 1f }, examples, Loss: 1.0, Accuracy: 0.5);

    /// <summary>Round 1 with an honest update from every client, until each is asked to evaluate the new model.</summary>
    private static void TrainUntilEvaluation(IActorRef server, TestProbe[] clients)
    {
        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(c => c.ExpectMsg<FitRequest>()).ToArray();
        for (int i = 0; i < clients.Length; i++)
        {
            clients[i].Reply(Update(requests[i], i));
        }
        foreach (var client in clients)
        {
            client.ExpectMsg<EvaluateRequest>();
        }
    }

    [Fact]
    public void A_forged_failure_for_every_selected_client_fails_nobody_and_the_round_succeeds_with_the_honest_updates()
    {
        var server = Server(Options(minClients: 2));
        var clients = Register(server, 2);
        var forger = CreateTestProbe("forger");

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(c => c.ExpectMsg<FitRequest>()).ToArray();
        forger.Send(server, new FitFailed(1, Id(0), "forged"));
        forger.Send(server, new FitFailed(1, Id(1), "forged"));
        clients[0].Reply(Update(requests[0], 0));
        clients[1].Reply(Update(requests[1], 1));

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(2, done.Metrics.Participants);
        Assert.Equal(0, done.Metrics.Failed);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void Forged_evaluations_and_evaluation_failures_count_for_nobody()
    {
        var server = Server(Options(evaluate: 1.0));
        var clients = Register(server, 2);
        var forger = CreateTestProbe("forger");

        TrainUntilEvaluation(server, clients);
        forger.Send(server, new EvaluateResult(1, Id(0), Loss: 1e9, Accuracy: 0, Examples: 100));
        forger.Send(server, new EvaluateFailed(1, Id(1), "forged"));
        clients[0].Reply(new EvaluateResult(1, Id(0), Loss: 2.0, Accuracy: 0.5, Examples: 100));
        clients[1].Reply(new EvaluateResult(1, Id(1), Loss: 4.0, Accuracy: 1.0, Examples: 100));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(3.0, done.Metrics.FederatedTest!.Loss, 10);
        Assert.Equal(200, done.Metrics.FederatedTest.Examples);
    }

    [Fact]
    public void A_registration_claiming_examples_outside_the_servers_cap_is_refused_and_honest_clients_register()
    {
        var server = Server(Options() with { MaxClientExamples = 1000 });
        var greedy = CreateTestProbe("greedy");
        var negative = CreateTestProbe("negative");

        greedy.Send(server, new RegisterClient("greedy", int.MaxValue));
        negative.Send(server, new RegisterClient("negative", -1));
        var clients = Register(server, 1, examples: 1000);

        AssertRegistered(server, 1);
        greedy.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        negative.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = clients[0].ExpectMsg<FitRequest>();
        clients[0].Reply(Update(request, 0, examples: 1000));
        Assert.Equal(1, ExpectMsg<RoundCompleted>().Metrics.Selected);
    }

    [Fact]
    public void A_client_id_that_is_empty_or_too_long_is_refused()
    {
        var server = Server(Options());
        var probe = CreateTestProbe();

        probe.Send(server, new RegisterClient("", 10));
        probe.Send(server, new RegisterClient(new string('x', AkkaFed.Actors.Protocol.ClientIds.MaxLength + 1), 10));
        Register(server, 1);

        AssertRegistered(server, 1);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void An_update_claiming_more_examples_than_its_client_registered_is_rejected_and_never_weighted()
    {
        var server = Server(Options());
        var clients = Register(server, 2, examples: 100);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(c => c.ExpectMsg<FitRequest>()).ToArray();
        clients[0].Reply(new FitResult(1, Id(0), new[] { 100f, 100f, 100f }, int.MaxValue, 1.0, 0.5));
        clients[1].Reply(Update(requests[1], 1));

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(1, done.Metrics.Rejected);
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void An_evaluation_claiming_more_examples_than_its_client_registered_is_a_failure()
    {
        var server = Server(Options(evaluate: 1.0));
        var clients = Register(server, 2, examples: 100);

        TrainUntilEvaluation(server, clients);
        clients[0].Reply(new EvaluateResult(1, Id(0), Loss: 1e9, Accuracy: 0, Examples: int.MaxValue));
        clients[1].Reply(new EvaluateResult(1, Id(1), Loss: 4.0, Accuracy: 1.0, Examples: 100));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(4.0, done.Metrics.FederatedTest!.Loss, 10);
        Assert.Equal(100, done.Metrics.FederatedTest.Examples);
    }

    [Fact]
    public void One_actor_speaks_for_one_id_and_when_it_dies_no_id_of_it_remains()
    {
        var server = Server(Options());
        var sybil = CreateTestProbe("sybil");
        sybil.Send(server, new RegisterClient("sybil-0", 100));
        sybil.ExpectMsg<ClientRegistered>();
        sybil.Send(server, new RegisterClient("sybil-1", 100));
        sybil.Send(server, new RegisterClient("sybil-2", 100));
        var honest = Register(server, 1);
        AssertRegistered(server, 2);
        sybil.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        Watch(sybil.Ref);
        Sys.Stop(sybil.Ref);
        ExpectTerminated(sybil.Ref);
        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = honest[0].ExpectMsg<FitRequest>();
        honest[0].Reply(Update(request, 0));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, done.Metrics.Selected);
        Assert.True(done.Metrics.Succeeded);
    }

    [Fact]
    public void A_restarted_client_registering_its_id_again_gets_it_back()
    {
        var server = Server(Options());
        var before = Register(server, 1)[0];
        var after = CreateTestProbe("restarted");

        after.Send(server, new RegisterClient(Id(0), 100));
        after.ExpectMsg<ClientRegistered>();
        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = after.ExpectMsg<FitRequest>();
        after.Reply(Update(request, 0));

        Assert.True(ExpectMsg<RoundCompleted>().Metrics.Succeeded);
        before.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Fedbuff_refuses_forged_failures_and_over_claimed_examples_and_moves_the_model_with_honest_updates()
    {
        var options = new ServerOptions(1.0, 1, Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7)
        {
            Strategy = new StrategyOptions(StrategyOptions.Buffered) { FedBuff = new FedBuffOptions(Concurrency: 3, BufferSize: 2) },
            Clock = SimulatedClock.For(Model.Models.ModelKind.TwoNN, DeviceProfiles.Synthetic(new SyntheticDevices()), SimulatedFaults.None),
        }.Validate();
        var server = Sys.ActorOf(BufferedServerActor.Props(options));
        var clients = Register(server, 3, examples: 100);
        var forger = CreateTestProbe("forger");

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = clients.Select(c => c.ExpectMsg<FitRequest>()).ToArray();
        for (int i = 0; i < 3; i++)
        {
            forger.Send(server, new FitFailed(1, Id(i), "forged"));
        }
        clients[0].Reply(new FitResult(1, Id(0), new[] { 100f, 100f, 100f }, int.MaxValue, 1.0, 0.5));
        clients[1].Reply(Update(requests[1], 1));
        clients[2].Reply(Update(requests[2], 2));

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded);
        Assert.Equal(0, done.Metrics.Failed);
        Assert.Equal(2, done.Metrics.Participants);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }
}
