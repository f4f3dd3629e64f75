using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// A run from an initial model (<c>--initial-model</c>): round 1 starts from its weights, and the run's fingerprint
/// holds them, so a resume with another initial model is refused while a run from the seed matches older checkpoints.
/// </summary>
public sealed class InitialModelSpec() : TestKit(ManualTime.Config)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _folder = new();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _folder.Dispose();
    }

    private RunOptions Options(float[]? start) => new(
        new ServerOptions(1.0, 1, Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), Seed: 3),
        ModelKind.TwoNN, Rounds: 5, MaxFailedRounds: 3, WaitForClients: 1, CheckpointDirectory: _folder.Path)
    {
        StartingWeights = start,
    };

    [Fact]
    public void Round_one_starts_from_the_initial_model_or_else_from_the_seed()
    {
        var start = InitialWeights.Create(ModelKind.TwoNN, seed: 77);

        Assert.Same(start, Options(start).FirstWeights());
        Assert.Equal(InitialWeights.Create(ModelKind.TwoNN, seed: 3), Options(null).FirstWeights());
    }

    [Fact]
    public void A_run_from_the_seed_has_no_initial_model_in_its_fingerprint_and_matches_checkpoints_written_before_it_existed()
    {
        var fingerprint = RunFingerprint.Of(Options(null));
        var older = fingerprint with { InitialModel = null };

        Assert.Null(fingerprint.InitialModel);
        Assert.Empty(fingerprint.Differences(older));
        Assert.NotEqual(fingerprint.InitialModel, RunFingerprint.Of(Options(InitialWeights.Create(ModelKind.TwoNN, seed: 77))).InitialModel);
    }

    [Fact]
    public void A_checkpoint_of_a_run_from_another_initial_model_is_refused_naming_the_setting()
    {
        var theirs = Options(InitialWeights.Create(ModelKind.TwoNN, seed: 77));
        new CheckpointStore(_folder.Path).Save(new Checkpoint(3, new FederatedState(3, theirs.FirstWeights()),
            Array.Empty<float[]>(), 0, Array.Empty<RoundMetrics>()) { Fingerprint = RunFingerprint.Of(theirs) });
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RunEvents.Ended));

        Sys.ActorOf(FederationDriver.Props(Options(InitialWeights.Create(ModelKind.TwoNN, seed: 78)), test: null));

        var failure = events.ExpectMsg<RunEvents.Ended>().Failure!;
        Assert.Contains("initial-model sha256:", failure);
        Assert.Contains("refusing to resume", failure);
    }
}
