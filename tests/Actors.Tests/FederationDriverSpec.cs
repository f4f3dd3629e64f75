using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>The run driver as the cluster runs it (starting on its own), with TestProbes as clients and time moved by hand.</summary>
public sealed class FederationDriverSpec() : TestKit(ManualTime.Config)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static RunOptions Options(int minClients, int waitForClients) => new(
        new ServerOptions(1.0, minClients, Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 3),
        ModelKind.TwoNN, Rounds: 2, MaxFailedRounds: 3, WaitForClients: waitForClients, CheckpointDirectory: null);

    [Fact]
    public void Round_one_starts_after_one_round_deadline_with_min_clients_when_fewer_than_wait_for_clients_registered()
    {
        var driver = Sys.ActorOf(FederationDriver.Props(Options(minClients: 1, waitForClients: 3), test: null));
        var client = CreateTestProbe();
        client.Send(driver, new RegisterClient("client-1", 10));
        client.ExpectMsg<ClientRegistered>();

        // Two of the three clients never come: nothing starts until the deadline has passed.
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        ((TestScheduler)Sys.Scheduler).Advance(Deadline);

        Assert.Equal(1, client.ExpectMsg<FitRequest>().Round);
    }

    [Fact]
    public void Below_min_clients_the_run_keeps_waiting_past_the_deadline_and_starts_when_enough_have_registered()
    {
        var driver = Sys.ActorOf(FederationDriver.Props(Options(minClients: 2, waitForClients: 3), test: null));
        var first = CreateTestProbe();
        first.Send(driver, new RegisterClient("client-1", 10));
        first.ExpectMsg<ClientRegistered>();
        ((TestScheduler)Sys.Scheduler).Advance(Deadline);
        first.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        var second = CreateTestProbe();
        second.Send(driver, new RegisterClient("client-2", 10));
        second.ExpectMsg<ClientRegistered>();

        Assert.Equal(1, first.ExpectMsg<FitRequest>().Round);
        Assert.Equal(1, second.ExpectMsg<FitRequest>().Round);
    }

    [Fact]
    public void A_server_that_crashes_is_replaced_its_clients_register_again_and_the_round_in_flight_runs_again()
    {
        var driver = Sys.ActorOf(FederationDriver.Props(Options(minClients: 1, waitForClients: 1), test: null));
        var client = CreateTestProbe();
        client.Send(driver, new RegisterClient("client-1", 10));
        client.ExpectMsg<ClientRegistered>();
        var server = client.LastSender;
        client.Watch(server);
        Assert.Equal(1, client.ExpectMsg<FitRequest>().Round);

        // Whatever makes the server throw: a restarted server would keep its actor ref and forget every client.
        server.Tell(Akka.Actor.Kill.Instance, Akka.Actor.ActorRefs.NoSender);

        client.ExpectTerminated(server);
        client.Send(driver, new RegisterClient("client-1", 10));
        client.ExpectMsg<ClientRegistered>();
        Assert.NotEqual(server, client.LastSender);
        Assert.Equal(1, client.ExpectMsg<FitRequest>().Round);
    }
}
