using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// What a client refuses from anyone but the server it registered with: requests that would hand its updates to a
/// stranger, an acknowledgement that would stop its registration, the end of the run, and training options that would
/// pin its thread. Time is TestKit's scheduler: a registration retry comes when the test moves time.
/// </summary>
[Trait("Category", "Security")]
public sealed class ClientGuardSpec : TestKit, IDisposable
{
    private const string ClientId = "client-7";
    private readonly TensorData _data = new(TinyData.Create(40));
    private readonly TrainerPool _trainers = new(ModelKind.TwoNN, torchThreads: 1);
    private readonly float[] _global = InitialWeights.Create(ModelKind.TwoNN, seed: 3);

    public ClientGuardSpec() : base(Akka.Configuration.ConfigurationFactory.ParseString(ManualTime.Config)
        .WithFallback(AkkaFedConfig.Dispatcher(1)))
    {
    }

    private void NextRetry() => ((TestScheduler)Sys.Scheduler).Advance(ClientActor.RegistrationRetry);

    private (IActorRef Client, TestProbe Server) StartClient()
    {
        var server = CreateTestProbe("server");
        var client = Sys.ActorOf(ClientActor.Props(ClientId, Enumerable.Range(0, 20).ToArray(), _data, _trainers, server));
        server.ExpectMsg<RegisterClient>();
        return (client, server);
    }

    private static FitRequest Request(int round, float[] weights, LocalTrainingOptions? options = null) =>
        new(round, weights, options ?? new LocalTrainingOptions(BatchSize: 10), Seed: 1);

    [Fact]
    public void An_acknowledgement_for_another_id_does_not_stop_the_registration_retries()
    {
        var (client, server) = StartClient();

        server.Send(client, new ClientRegistered("client-8"));
        NextRetry();
        server.ExpectMsg<RegisterClient>(r => r.ClientId == ClientId);

        server.Reply(new ClientRegistered(ClientId));
        NextRetry();
        server.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Requests_from_anyone_but_the_server_it_registered_with_are_never_answered()
    {
        var (client, server) = StartClient();
        server.Reply(new ClientRegistered(ClientId));
        var stranger = CreateTestProbe("stranger");

        stranger.Send(client, Request(1, _global));
        stranger.Send(client, new EvaluateRequest(1, _global));
        server.Send(client, Request(2, _global));

        Assert.Equal(2, server.ExpectMsg<FitResult>().Round);
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Before_registration_no_request_is_answered()
    {
        var (client, server) = StartClient();

        server.Send(client, Request(1, _global));
        server.Reply(new ClientRegistered(ClientId));
        server.Send(client, Request(2, _global));

        Assert.Equal(2, server.ExpectMsg<FitResult>().Round);
    }

    public static TheoryData<LocalTrainingOptions, string> HostileOptions() => new()
    {
        { new LocalTrainingOptions(BatchSize: 0), "batch-size" },
        { new LocalTrainingOptions(Epochs: 1_000_000), "epochs" },
        { new LocalTrainingOptions(Epochs: 0), "epochs" },
        { new LocalTrainingOptions(LearningRate: double.NaN), "client-lr" },
        { new LocalTrainingOptions(ProximalMu: double.PositiveInfinity), "proximal-mu" },
    };

    [Theory]
    [MemberData(nameof(HostileOptions))]
    public void Training_options_that_would_pin_a_thread_fail_the_round_with_the_setting_named_and_the_client_trains_on(
        LocalTrainingOptions options, string setting)
    {
        var (client, server) = StartClient();
        server.Reply(new ClientRegistered(ClientId));

        server.Send(client, Request(1, _global, options));
        var failed = server.ExpectMsg<FitFailed>();
        server.Send(client, Request(2, _global));

        Assert.Contains(setting, failed.Reason);
        Assert.Equal(2, server.ExpectMsg<FitResult>().Round);
    }

    [Fact]
    public void The_end_of_the_run_counts_only_from_the_server_it_registered_with()
    {
        var (client, server) = StartClient();
        server.Reply(new ClientRegistered(ClientId));
        var listener = CreateTestProbe();
        Sys.EventStream.Subscribe(listener, typeof(RunEvents.Ended));

        CreateTestProbe("stranger").Send(client, new RunEvents.Ended(3, "forged"));
        server.Send(client, new RunEvents.Ended(5, null));

        Assert.Equal(5, listener.ExpectMsg<RunEvents.Ended>().LastRound);
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
