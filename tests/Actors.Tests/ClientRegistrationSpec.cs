using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>Registration retries run on TestKit's scheduler: time passes only when the test says so.</summary>
public sealed class ClientRegistrationSpec : TestKit
{
    private readonly TensorData _data = new(TinyData.Create(10));
    private readonly TrainerPool _trainers = new(ModelKind.TwoNN, torchThreads: 1);

    public ClientRegistrationSpec() : base(AkkaFedConfig.Dispatcher(1).WithFallback(
        "akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\""))
    {
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    [Fact]
    public void Registers_again_until_acknowledged_and_again_when_the_server_dies()
    {
        // Registration goes through a proxy; the acknowledgement comes from the server itself.
        var proxy = CreateTestProbe("proxy");
        var server = CreateTestProbe("server");
        var client = Sys.ActorOf(ClientActor.Props("client-9", new[] { 1, 2 }, _data, _trainers, proxy));

        proxy.ExpectMsg<RegisterClient>();
        proxy.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Clock.Advance(ClientActor.RegistrationRetry);
        proxy.ExpectMsg<RegisterClient>();

        server.Send(client, new ClientRegistered("client-9"));
        Clock.Advance(ClientActor.RegistrationRetry * 3);
        proxy.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        Sys.Stop(server.Ref);
        Assert.Equal("client-9", proxy.ExpectMsg<RegisterClient>().ClientId);
    }

    [Fact]
    public void A_retry_already_queued_when_the_acknowledgement_arrives_registers_nobody_again()
    {
        var proxy = CreateTestProbe("proxy");
        var server = CreateTestProbe("server");
        var client = Sys.ActorOf(ClientActor.Props("client-9", new[] { 1, 2 }, _data, _trainers, proxy));
        proxy.ExpectMsg<RegisterClient>();

        // The acknowledgement and the timer's retry race: here the acknowledgement is processed first, the retry after.
        server.Send(client, new ClientRegistered("client-9"));
        Clock.Advance(ClientActor.RegistrationRetry);

        proxy.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _trainers.Dispose();
            _data.Dispose();
        }
    }
}
