using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model.Federation;
using Xunit;
using static AkkaFed.Actors.Tests.CheckpointSamples;

namespace AkkaFed.Actors.Tests;

/// <summary>The run fingerprint: written into every checkpoint, and what a refusal to resume names.</summary>
public sealed class CheckpointFingerprintTests
{
    private static readonly StrategyOptions FedAdam = new("fedadam", Beta1: 0.9, Privacy: new PrivacyOptions(ClipNorm: 1, NoiseMultiplier: 1.1))
    {
        Overcommit = 1.3,
        FedBuff = new FedBuffOptions(Concurrency: 7),
    };

    [Fact]
    public void A_checkpoint_keeps_its_run_fingerprint_and_epoch()
    {
        var original = At(4, Fingerprint(strategy: FedAdam)) with { Epoch = 7 };

        var copy = Checkpoint.FromBytes(original.ToBytes());

        Assert.Equal(original.Fingerprint, copy.Fingerprint);
        Assert.Empty(original.Fingerprint!.Differences(copy.Fingerprint!));
        Assert.Equal(7, copy.Epoch);
        Assert.Equal(original.State.Weights, copy.State.Weights);
    }

    [Fact]
    public void A_checkpoint_without_a_fingerprint_is_written_and_read_as_format_version_2()
    {
        var bytes = (At(4) with { Fingerprint = null }).ToBytes();

        Assert.Equal(2, bytes[8]);
        Assert.Null(Checkpoint.FromBytes(bytes).Fingerprint);
        Assert.Equal(0, Checkpoint.FromBytes(bytes).Epoch);
    }

    [Fact]
    public void The_differences_name_each_setting_that_differs_with_both_values()
    {
        var mine = Fingerprint(seed: 3, strategy: FedAdam);
        var theirs = Fingerprint(seed: 3, model: "cnn", strategy: FedAdam with { Beta1 = 0.95, FedBuff = new FedBuffOptions(Concurrency: 8) });

        var differences = mine.Differences(theirs);

        Assert.Equal(new[]
        {
            ("model", "2nn", "cnn"),
            ("strategy.beta1", "0.9", "0.95"),
            ("strategy.fed-buff.concurrency", "7", "8"),
        }, differences.Select(d => (d.Setting, d.Mine, d.Theirs)).Order());
    }

    [Fact]
    public void Turning_privacy_on_is_a_difference()
    {
        var differences = Fingerprint(strategy: FedAdam).Differences(Fingerprint(strategy: FedAdam with { Privacy = null }));

        Assert.Contains(differences, d => d.Setting.StartsWith("strategy.privacy", StringComparison.Ordinal));
    }
}
