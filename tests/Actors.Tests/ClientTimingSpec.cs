using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>A client's timers (registration retries, wall-clock straggler delays) on TestKit's scheduler: time passes only when the test says so.</summary>
public sealed class ClientTimingSpec : TestKit
{
    private readonly TensorData _data = new(TinyData.Create(10));
    private readonly TrainerPoolCounters _counters = new();
    private readonly TrainerPool _trainers;
    private readonly float[] _global = InitialWeights.Create(ModelKind.TwoNN, seed: 3);

    public ClientTimingSpec() : base(AkkaFedConfig.Dispatcher(1).WithFallback(
        ManualTime.Config))
    {
        _trainers = new TrainerPool(ModelKind.TwoNN, torchThreads: 1, _counters);
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

    private IActorRef StartClient(string clientId, SimulatedFaults faults)
    {
        var client = Sys.ActorOf(ClientActor.Props(clientId, Enumerable.Range(0, 10).ToArray(), _data, _trainers, TestActor, faults));
        ExpectMsg<RegisterClient>();
        LastSender.Tell(new ClientRegistered(clientId));
        return client;
    }

    [Fact]
    public void On_the_wall_clock_a_simulated_dropout_never_replies_and_a_straggler_replies_its_delay_late()
    {
        // An evaluation queued behind each request answers once the client is done with the request.
        var dropper = StartClient("dropper", new SimulatedFaults(DropoutFraction: 1.0));
        dropper.Tell(new FitRequest(1, _global, new LocalTrainingOptions(), Seed: 1));
        dropper.Tell(new EvaluateRequest(1, _global));
        ExpectMsg<EvaluateResult>(TimeSpan.FromSeconds(30));
        Clock.Advance(TimeSpan.FromMinutes(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, _counters.Finished); // the evaluation: the dropout never trained

        var delay = TimeSpan.FromSeconds(1.5);
        var straggler = StartClient("straggler", new SimulatedFaults(StragglerFraction: 1.0, StragglerDelay: delay));
        straggler.Tell(new FitRequest(1, _global, new LocalTrainingOptions(), Seed: 1));
        straggler.Tell(new EvaluateRequest(1, _global));
        ExpectMsg<EvaluateResult>(TimeSpan.FromSeconds(30));
        // Trained, and the reply is on the scheduler: it is due only once the delay has passed.
        Clock.Advance(delay - TimeSpan.FromMilliseconds(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, ExpectMsg<FitResult>().Round);
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
