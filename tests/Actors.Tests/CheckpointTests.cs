using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Actors.Tests;

public sealed class CheckpointTests
{
    private static RoundMetrics Metrics(int round, bool succeeded = true) =>
        new(round, succeeded, succeeded ? 1.5 : double.NaN, 0.25, 10, 9, 1, 0, 0, 0, 0, 1.25, succeeded ? null : "quorum")
        {
            Test = new Evaluation(0.5, 0.75, 100),
            BytesSent = 1234,
        };

    private static Checkpoint Sample(int round) =>
        new(Seed: 9, new FederatedState(round, new[] { 1f, float.NaN, -0f, float.MaxValue }),
            new[] { new[] { 0.5f }, Array.Empty<float>() }, FailuresInARow: 1,
            Enumerable.Range(1, round - 1).Select(r => Metrics(r, r % 2 == 0)).ToArray());

    [Fact]
    public void A_simulated_runs_checkpoint_gives_back_the_simulated_time_it_had_reached()
    {
        var metrics = new[] { Metrics(1) with { SimulatedTime = 60.25 }, Metrics(2) with { SimulatedTime = 120.039300224 } };
        var written = new Checkpoint(9, new FederatedState(3, new[] { 1f }) { SimulatedTime = 120.039300224 }, [], 0, metrics);

        var read = Checkpoint.FromBytes(written.ToBytes());

        Assert.Equal(120.039300224, read.State.SimulatedTime);
    }

    [Fact]
    public void A_checkpoint_round_trips_bit_for_bit()
    {
        var original = Sample(4);

        var copy = Checkpoint.FromBytes(original.ToBytes());

        Assert.Equal(original.Seed, copy.Seed);
        Assert.Equal(original.State.Round, copy.State.Round);
        Assert.Equal(original.State.Weights, copy.State.Weights);
        Assert.Equal(original.ServerOptimizerState, copy.ServerOptimizerState);
        Assert.Equal(original.FailuresInARow, copy.FailuresInARow);
        Assert.Equal(original.Metrics, copy.Metrics);
        Assert.Equal(original.Metrics.Select(m => m.Test), copy.Metrics.Select(m => m.Test));
    }

    [Fact]
    public void The_server_optimizer_state_and_the_privacy_ledger_survive_a_checkpoint()
    {
        var ledger = AkkaFed.Model.Privacy.PrivacyLedger.Empty.Record(0.1, 1.1, rounds: 4).Record(0.2, 1.1);
        var state = new FederatedState(6, new[] { 1f, 2f })
        {
            Optimizer = new ServerOptimizerState(new[] { new[] { 0.1f, 0.2f }, new[] { 0.3f, 0.4f } }),
            Privacy = new PrivacyState(0.75, ledger),
        };
        var original = new Checkpoint(1, state, state.Optimizer.Slots, 0, Array.Empty<RoundMetrics>()) { Privacy = state.Privacy };

        var copy = Checkpoint.FromBytes(original.ToBytes());

        Assert.Equal(state.Optimizer.Slots, copy.State.Optimizer.Slots);
        Assert.Equal(0.75, copy.State.Privacy!.ClipNorm);
        Assert.Equal(5, copy.State.Privacy.Ledger.Rounds);
        Assert.Equal(ledger.Spent(1e-5).Epsilon, copy.State.Privacy.Ledger.Spent(1e-5).Epsilon, 12);
    }

    [Fact]
    public void The_file_layout_is_unchanged_so_older_checkpoints_still_load()
    {
        var metrics = new RoundMetrics(1, true, 1.5, 0.25, 10, 9, 1, 0, 0, 0, 0, 1.25, null)
        {
            Test = new Evaluation(0.5, 0.75, 100),
            BytesSent = 1234,
        };
        var ledger = AkkaFed.Model.Privacy.PrivacyLedger.Empty.Record(0.1, 1.1, rounds: 4).Record(0.2, 1.1);
        var state = new FederatedState(6, new[] { 1f, float.NaN, -0f })
        {
            Optimizer = new ServerOptimizerState(new[] { new[] { 0.1f, 0.2f }, new[] { 0.3f } }),
            Privacy = new PrivacyState(0.75, ledger),
        };
        var checkpoint = new Checkpoint(9, state, state.Optimizer.Slots, 1, new[] { metrics }) { Privacy = state.Privacy };

        var bytes = checkpoint.ToBytes();

        // Pinned from the format as version 2 first wrote it: the length and a hash stand for the 571 bytes.
        Assert.Equal(571, bytes.Length);
        Assert.Equal("c9885e253283de65c05109351c93cb4382109a958d469d1f8ae3f3a4af1d4f9e",
            Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant());
    }

    [Theory]
    [InlineData("flip", "checksum mismatch")]
    [InlineData("truncate", "truncated")]
    [InlineData("magic", "not an AkkaFed checkpoint")]
    [InlineData("version", "format version")]
    public void A_damaged_checkpoint_is_refused_saying_what_is_wrong(string damage, string message)
    {
        var bytes = Sample(3).ToBytes();
        switch (damage)
        {
            case "flip": bytes[30] ^= 0x10; break;
            case "truncate": bytes = bytes[..^5]; break;
            case "magic": bytes[0] = (byte)'X'; break;
            case "version": bytes[8] = 99; break;
        }

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.FromBytes(bytes));

        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void The_store_keeps_the_newest_and_falls_back_past_a_damaged_one()
    {
        using var folder = new TempDirectory();
        var store = new CheckpointStore(folder.Path, keep: 3);
        for (int round = 2; round <= 6; round++)
        {
            store.Save(Sample(round) with { Fingerprint = CheckpointSamples.Fingerprint() });
        }
        Assert.Equal(3, Directory.GetFiles(folder.Path, "*.akfed").Length);

        // Damage the newest; the store must report it and use round 5's.
        var newest = Directory.GetFiles(folder.Path, "*.akfed").Max()!;
        File.WriteAllBytes(newest, File.ReadAllBytes(newest)[..100]);
        var reports = new List<string>();

        var loaded = store.LoadLatest(reports.Add);

        Assert.Equal(5, loaded!.State.Round);
        Assert.Contains(newest, Assert.Single(reports));
    }

    [Fact]
    public void An_empty_or_missing_folder_has_no_checkpoint()
    {
        Assert.Null(new CheckpointStore("/nonexistent/akkafed-checkpoints").LoadLatest(_ => { }));
    }
}
