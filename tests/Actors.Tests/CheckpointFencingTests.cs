using AkkaFed.Actors.Checkpoints;
using Xunit;
using static AkkaFed.Actors.Tests.CheckpointSamples;

namespace AkkaFed.Actors.Tests;

/// <summary>Two active servers on one shared folder (a split brain): the one that took over last wins, the other stops.</summary>
public sealed class CheckpointFencingTests
{
    [Fact]
    public void A_server_that_was_taken_over_refuses_to_write_and_says_by_which_epoch()
    {
        using var folder = new TempDirectory();
        var first = new CheckpointStore(folder.Path);
        first.Save(At(2));
        first.Save(At(3));
        // The second server starts while the first still runs: it resumes from round 3 and writes round 4.
        var second = new CheckpointStore(folder.Path);
        Assert.Equal(3, second.Resume(Fingerprint(), _ => { }).Checkpoint!.State.Round);
        string theirs = second.Save(At(4));

        var superseded = Assert.Throws<CheckpointSupersededException>(() => first.Save(At(4)));

        Assert.Equal(2, superseded.Epoch);
        Assert.Contains("another server took over at epoch 2", superseded.Message);
        Assert.Equal(2, Checkpoint.FromBytes(File.ReadAllBytes(theirs)).Epoch);
        second.Save(At(5));
    }

    [Fact]
    public void The_newest_checkpoint_is_the_last_server_s_even_behind_a_superseded_server_s_later_round()
    {
        using var folder = new TempDirectory();
        var first = new CheckpointStore(folder.Path, keep: 5);
        first.Save(At(3));
        var second = new CheckpointStore(folder.Path, keep: 5);
        second.Resume(Fingerprint(), _ => { });
        // The write the first server had begun before the second's claim, landing after it.
        File.WriteAllBytes(folder.File("checkpoint-00000005.akfed"), (At(5) with { Epoch = 1 }).ToBytes());
        second.Save(At(4));

        var latest = new CheckpointStore(folder.Path).LoadLatest(_ => { })!;

        Assert.Equal((2, 4), (latest.Epoch, latest.State.Round));
        Assert.Throws<CheckpointSupersededException>(() => first.Save(At(6)));
    }

    [Fact]
    public void Each_writer_claims_an_epoch_above_every_one_in_the_folder_before_it_writes_anything()
    {
        using var folder = new TempDirectory();
        var first = new CheckpointStore(folder.Path);
        var second = new CheckpointStore(folder.Path);
        var third = new CheckpointStore(folder.Path);

        first.Resume(Fingerprint(), _ => { });
        second.Resume(Fingerprint(), _ => { });
        third.Save(At(2));

        Assert.Equal((1, 2, 3), (first.Epoch, second.Epoch, third.Epoch));
        Assert.Throws<CheckpointSupersededException>(() => second.Save(At(2)));
    }

    [Fact]
    public void Reading_claims_nothing()
    {
        using var folder = new TempDirectory();
        var writer = new CheckpointStore(folder.Path);
        writer.Save(At(2));
        var reader = new CheckpointStore(folder.Path);

        Assert.Equal(2, reader.LoadLatest(_ => { })!.State.Round);
        Assert.Equal(0, reader.Epoch);
        writer.Save(At(3));
    }
}
