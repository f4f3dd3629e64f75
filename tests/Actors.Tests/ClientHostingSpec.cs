using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;
using Xunit;
using static AkkaFed.Actors.Protocol.Hosting;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// The server's side of on-demand clients: one host registers a block of numbered clients, requests for them reach
/// it in envelopes, and it answers for them. A TestProbe stands in for the <see cref="ClientHost"/>; time is TestKit's
/// scheduler, moved by hand.
/// </summary>
public sealed class ClientHostingSpec() : TestKit(ManualTime.Config)
{
    private static readonly float[] Global = { 1f, 2f, 3f };

    private static ServerOptions Options(double fraction = 1, int minClients = 1) =>
        new(fraction, minClients, TimeSpan.FromSeconds(30), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7);

    private (IActorRef Server, TestProbe Host) Start(ServerOptions options, params int[] examples)
    {
        var server = Sys.ActorOf(ServerActor.Props(options));
        var host = CreateTestProbe("clients");
        host.Send(server, new RegisterClients(examples));
        Assert.Equal(examples.Length, host.ExpectMsg<ClientsRegistered>().Count);
        server.Tell(new AwaitClients(examples.Length));
        ExpectMsg<ClientsAvailable>(available => available.Count == examples.Length);
        return (server, host);
    }

    private static FitResult Result(FitRequest request, int client, float[] delta, int examples) =>
        new(request.Round, NumberedClients.Id(client), delta, examples, Loss: 1.0, Accuracy: 0.5);

    /// <summary>The requests the host receives for one round, by client index.</summary>
    private static Dictionary<int, FitRequest> Requests(TestProbe host, int count) =>
        Enumerable.Range(0, count).Select(_ => host.ExpectMsg<Deliver>()).ToDictionary(deliver => deliver.Client, deliver => (FitRequest)deliver.Request);

    [Fact]
    public void The_host_gets_each_selected_clients_request_and_its_answers_complete_the_round()
    {
        var (server, host) = Start(Options(), 100, 300);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = Requests(host, 2);
        host.Reply(Result(requests[0], 0, new[] { 1f, 1f, 1f }, 100));
        host.Reply(Result(requests[1], 1, new[] { 4f, -2f, 0f }, 300));

        var done = ExpectMsg<RoundCompleted>();
        Assert.True(done.Metrics.Succeeded, done.Metrics.FailureReason);
        Assert.Equal(2, done.Metrics.Participants);
        Assert.Equal(new[] { 4.25f, 0.75f, 3.25f }, done.State.Weights);
    }

    [Fact]
    public void Hosted_clients_are_sampled_as_the_same_clients_registered_one_by_one_would_be()
    {
        const int clients = 120_000; // past 99,999, where the ids' ordinal order is no longer the order of k
        var (server, host) = Start(Options(fraction: 5.0 / clients), Enumerable.Repeat(10, clients).ToArray());
        var sorted = Enumerable.Range(0, clients).Select(NumberedClients.Id).Order(StringComparer.Ordinal).ToArray();

        server.Tell(new RunRound(new FederatedState(1, Global)));

        var asked = Requests(host, 5).Keys.Select(NumberedClients.Id).Order(StringComparer.Ordinal);
        Assert.Equal(ClientSampling.Select(sorted, 5, seed: 7, round: 1).Order(StringComparer.Ordinal), asked);
    }

    [Fact]
    public void An_answer_for_a_hosted_client_from_another_actor_is_not_taken()
    {
        var (server, host) = Start(Options(), 100);
        var impostor = CreateTestProbe();

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var request = Requests(host, 1)[0];
        impostor.Send(server, Result(request, 0, new[] { 100f, 100f, 100f }, 100));
        host.Reply(Result(request, 0, new[] { 1f, 1f, 1f }, 100));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void A_hosted_clients_claim_beyond_what_its_host_registered_for_it_is_rejected()
    {
        var (server, host) = Start(Options(), 100, 100);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        var requests = Requests(host, 2);
        host.Reply(Result(requests[0], 0, new[] { 1f, 1f, 1f }, 100));
        host.Reply(Result(requests[1], 1, new[] { 9f, 9f, 9f }, 1_000_000));

        var done = ExpectMsg<RoundCompleted>();
        Assert.Equal(1, done.Metrics.Participants);
        Assert.Equal(new[] { 2f, 3f, 4f }, done.State.Weights);
    }

    [Fact]
    public void When_the_host_stops_its_clients_in_the_round_are_lost_at_once_and_the_round_ends_without_its_deadline()
    {
        var (server, host) = Start(Options(), 100, 100);

        server.Tell(new RunRound(new FederatedState(1, Global)));
        Requests(host, 2);
        Sys.Stop(host.Ref);

        // No deadline passes: the round ends because no one is left to answer.
        var done = ExpectMsg<RoundCompleted>();
        Assert.False(done.Metrics.Succeeded);
        Assert.Equal(0, done.Metrics.Participants);
        server.Tell(new AwaitClients(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void In_a_buffered_run_the_hosts_stop_loses_its_clients_in_flight_at_once()
    {
        var options = new ServerOptions(1.0, 1, TimeSpan.FromSeconds(30), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 7)
        {
            Strategy = new StrategyOptions(StrategyOptions.Buffered) { FedBuff = new FedBuffOptions(Concurrency: 3, BufferSize: 2) },
            Clock = SimulatedClock.For(Model.Models.ModelKind.TwoNN, DeviceProfiles.Synthetic(new SyntheticDevices()), SimulatedFaults.None),
        }.Validate();
        var server = Sys.ActorOf(BufferedServerActor.Props(options));
        var host = CreateTestProbe("clients");
        host.Send(server, new RegisterClients(new[] { 100, 100, 100 }));
        host.ExpectMsg<ClientsRegistered>();

        server.Tell(new RunRound(new FederatedState(1, Global)));
        Assert.Equal(new[] { 0, 1, 2 }, Enumerable.Range(0, 3).Select(_ => host.ExpectMsg<Deliver>().Client).Order());
        Sys.Stop(host.Ref);

        // No time passes: the step ends because no one is left to answer.
        Assert.False(ExpectMsg<RoundCompleted>().Metrics.Succeeded);
    }

    [Fact]
    public void The_host_stopping_after_its_round_is_done_costs_nothing_and_is_no_warning()
    {
        // A simulation's end stops the host after its last round: the run's output must not warn of it.
        var (server, host) = Start(Options(), 100);
        server.Tell(new RunRound(new FederatedState(1, Global)));
        host.Reply(Result(Requests(host, 1)[0], 0, new[] { 1f, 1f, 1f }, 100));
        Assert.True(ExpectMsg<RoundCompleted>().Metrics.Succeeded);

        // The server's note of it, at info level, shows that it has taken the stop in.
        EventFilter.Warning(contains: "host of the simulation's clients").Expect(0, TimeSpan.FromSeconds(1), () =>
            EventFilter.Info(contains: "host of the simulation's clients is gone, and with it 0 clients").ExpectOne(() => Sys.Stop(host.Ref)));
    }

    [Fact]
    public void A_hosted_id_cannot_also_be_registered_on_its_own_and_a_second_host_is_refused()
    {
        var (server, _) = Start(Options(), 100, 100);
        var single = CreateTestProbe();
        var second = CreateTestProbe();

        single.Send(server, new RegisterClient(NumberedClients.Id(1), 100));
        second.Send(server, new RegisterClients(new[] { 5 }));

        single.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        second.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        // Another id is still welcome on its own.
        single.Send(server, new RegisterClient(NumberedClients.Id(2), 100));
        single.ExpectMsg<ClientRegistered>();
    }

    [Fact]
    public void A_block_with_an_example_count_out_of_range_is_refused()
    {
        var server = Sys.ActorOf(ServerActor.Props(Options()));
        var host = CreateTestProbe();

        host.Send(server, new RegisterClients(new[] { 10, -1 }));

        host.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        server.Tell(new AwaitClients(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }
}
