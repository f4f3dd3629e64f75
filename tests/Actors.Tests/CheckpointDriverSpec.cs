using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// The cluster's driver on a checkpoint folder: what it refuses to resume from, how it says so (the run ends with a
/// failure every node hears, the driver lives on and answers), and what it does when another server takes over.
/// </summary>
public sealed class CheckpointDriverSpec() : TestKit(ManualTime.Config)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _folder = new();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _folder.Dispose();
    }

    /// <param name="start">The run's initial model (<c>--initial-model</c>); null starts from the seed.</param>
    private RunOptions Options(ModelKind model = ModelKind.TwoNN, int seed = 3, float[]? start = null) => new(
        new ServerOptions(1.0, 1, Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), seed),
        model, Rounds: 5, MaxFailedRounds: 3, WaitForClients: 1, CheckpointDirectory: _folder.Path)
    {
        StartingWeights = start,
    };

    /// <summary>The checkpoint leading to round 3 of the run <paramref name="options"/> describe, as another server wrote it.</summary>
    private string WriteCheckpoint(RunOptions options, int round = 3)
    {
        var weights = InitialWeights.Create(options.Model, options.Server.Seed);
        return new CheckpointStore(_folder.Path).Save(new Checkpoint(options.Server.Seed, new FederatedState(round, weights),
            Array.Empty<float[]>(), 0, Array.Empty<RoundMetrics>()) { Fingerprint = RunFingerprint.Of(options) });
    }

    private Akka.TestKit.TestProbe RunEventsProbe()
    {
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RunEvents.Ended));
        Sys.EventStream.Subscribe(events.Ref, typeof(RunEvents.Resumed));
        return events;
    }

    [Fact]
    public void A_checkpoint_of_another_seed_ends_the_run_with_a_failure_naming_it_and_the_driver_keeps_answering()
    {
        string file = WriteCheckpoint(Options(seed: 4));
        var events = RunEventsProbe();

        var driver = Sys.ActorOf(FederationDriver.Props(Options(seed: 3), test: null));

        var ended = events.ExpectMsg<RunEvents.Ended>();
        Assert.Equal($"the checkpoint {file} was written by a run with seed 4; this run has seed 3: refusing to resume; "
            + $"move it away or use another checkpoint-dir than {_folder.Path}", ended.Failure);
        // Alive, not stopped by an exception in PreStart: clients still get an answer.
        var client = CreateTestProbe();
        client.Send(driver, new RegisterClient("client-1", 10));
        client.ExpectMsg<ClientRegistered>();
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_checkpoint_of_another_model_with_the_same_seed_is_refused_naming_both_models()
    {
        WriteCheckpoint(Options(ModelKind.Cnn, seed: 3));
        var events = RunEventsProbe();

        Sys.ActorOf(FederationDriver.Props(Options(ModelKind.TwoNN, seed: 3), test: null));

        var failure = events.ExpectMsg<RunEvents.Ended>().Failure!;
        Assert.Contains("written by a run with model cnn, parameters 54410;", failure);
        Assert.Contains("this run has model 2nn, parameters 199210:", failure);
        Assert.Contains("refusing to resume", failure);
    }

    [Fact]
    public void A_checkpoint_of_the_same_run_is_resumed()
    {
        WriteCheckpoint(Options());
        var events = RunEventsProbe();

        Sys.ActorOf(FederationDriver.Props(Options(), test: null));

        Assert.Equal(3, events.ExpectMsg<RunEvents.Resumed>().NextRound);
        events.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_checkpoint_of_format_version_2_is_resumed_on_its_seed_alone_with_a_warning()
    {
        var weights = InitialWeights.Create(ModelKind.TwoNN, 3);
        File.WriteAllBytes(Path.Combine(_folder.Path, "checkpoint-00000003.akfed"),
            new Checkpoint(3, new FederatedState(3, weights), Array.Empty<float[]>(), 0, Array.Empty<RoundMetrics>()).ToBytes());
        var events = RunEventsProbe();

        EventFilter.Warning(contains: "only its seed was checked").ExpectOne(() =>
            Sys.ActorOf(FederationDriver.Props(Options(), test: null)));

        Assert.Equal(3, events.ExpectMsg<RunEvents.Resumed>().NextRound);
    }

    [Fact]
    public void A_driver_that_another_server_took_over_from_steps_down_without_writing_or_announcing_an_end()
    {
        var events = RunEventsProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RunEvents.SteppedDown));
        Sys.EventStream.Subscribe(events.Ref, typeof(RunEvents.RoundReport));
        var driver = Sys.ActorOf(FederationDriver.Props(Options(), test: null));
        var client = CreateTestProbe();
        client.Send(driver, new RegisterClient("client-1", 10));
        client.ExpectMsg<ClientRegistered>();
        var request = client.ExpectMsg<FitRequest>();

        // Mid-round, a second server takes over the folder and writes its first checkpoint.
        WriteCheckpoint(Options(), round: 1);
        client.Reply(new FitResult(request.Round, "client-1", new float[request.Weights.Length], 10, 1.0, 0.5));

        // Its node hears why; the cluster hears no end and no report: the run goes on under the other server.
        Assert.Contains("another server took over at epoch 2", events.ExpectMsg<RunEvents.SteppedDown>().Reason);
        events.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(new[] { "checkpoint-00000001.akfed" }, Directory.GetFiles(_folder.Path, "*.akfed").Select(Path.GetFileName));
    }

    [Fact]
    public void Every_registered_client_hears_the_end_of_the_run_from_the_server_itself()
    {
        // Pub-sub reaches only the nodes its registry has gossiped with; a node still joining (after it was downed,
        // while another node is unreachable) trains, but would miss the end and wait out the server grace.
        WriteCheckpoint(Options(), round: 5);
        var driver = Sys.ActorOf(FederationDriver.Props(Options(), test: null));
        var client = CreateTestProbe();
        client.Send(driver, new RegisterClient("client-1", 10));
        client.ExpectMsg<ClientRegistered>();
        var request = client.ExpectMsg<FitRequest>();

        client.Reply(new FitResult(request.Round, "client-1", new float[request.Weights.Length], 10, 1.0, 0.5));

        var ended = client.ExpectMsg<RunEvents.Ended>();
        Assert.Equal((5, null), (ended.LastRound, ended.Failure));
    }

    // A run from an initial model (--initial-model): round 1 starts from its weights, and the run's fingerprint holds
    // them, so a resume with another initial model is refused while a run from the seed matches older checkpoints.

    [Fact]
    public void Round_one_starts_from_the_initial_model_or_else_from_the_seed()
    {
        var start = InitialWeights.Create(ModelKind.TwoNN, seed: 77);

        Assert.Same(start, Options(start: start).FirstWeights());
        Assert.Equal(InitialWeights.Create(ModelKind.TwoNN, seed: 3), Options(start: null).FirstWeights());
    }

    [Fact]
    public void A_run_from_the_seed_has_no_initial_model_in_its_fingerprint_and_matches_checkpoints_written_before_it_existed()
    {
        var fingerprint = RunFingerprint.Of(Options(start: null));
        var older = fingerprint with { InitialModel = null };

        Assert.Null(fingerprint.InitialModel);
        Assert.Empty(fingerprint.Differences(older));
        Assert.NotEqual(fingerprint.InitialModel, RunFingerprint.Of(Options(start: InitialWeights.Create(ModelKind.TwoNN, seed: 77))).InitialModel);
    }

    [Fact]
    public void A_checkpoint_of_a_run_from_another_initial_model_is_refused_naming_the_setting()
    {
        var theirs = Options(start: InitialWeights.Create(ModelKind.TwoNN, seed: 77));
        new CheckpointStore(_folder.Path).Save(new Checkpoint(3, new FederatedState(3, theirs.FirstWeights()),
            Array.Empty<float[]>(), 0, Array.Empty<RoundMetrics>()) { Fingerprint = RunFingerprint.Of(theirs) });
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RunEvents.Ended));

        Sys.ActorOf(FederationDriver.Props(Options(start: InitialWeights.Create(ModelKind.TwoNN, seed: 78)), test: null));

        var failure = events.ExpectMsg<RunEvents.Ended>().Failure!;
        Assert.Contains("initial-model sha256:", failure);
        Assert.Contains("refusing to resume", failure);
    }
}
