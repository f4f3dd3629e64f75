using AkkaFed.Actors.Checkpoints;
using Xunit;
using static AkkaFed.Actors.Tests.CheckpointSamples;

namespace AkkaFed.Actors.Tests;

/// <summary>Which files a store deletes to keep the newest few: only its own run's, never the one it just wrote.</summary>
public sealed class CheckpointPruningTests
{
    private static string Name(int round) => $"checkpoint-{round:D8}.akfed";

    /// <summary>A file of a format this build does not read (a later version), under a checkpoint's name.</summary>
    private static void Unreadable(TempDirectory folder, int round)
    {
        var bytes = At(round).ToBytes();
        bytes[8] = 99;
        File.WriteAllBytes(folder.File(Name(round)), bytes);
    }

    [Fact]
    public void Files_of_another_format_at_later_rounds_are_left_alone_reported_once_and_never_cost_the_new_checkpoint()
    {
        using var folder = new TempDirectory();
        foreach (int round in new[] { 50, 51, 52 })
        {
            Unreadable(folder, round);
        }
        var store = new CheckpointStore(folder.Path, keep: 3);
        var reports = new List<string>();

        store.Save(At(1), reports.Add);
        store.Save(At(2), reports.Add);

        Assert.Equal(2, store.LoadLatest(_ => { })!.State.Round);
        Assert.True(File.Exists(folder.File(Name(1))));
        Assert.All(new[] { 50, 51, 52 }, round => Assert.True(File.Exists(folder.File(Name(round)))));
        Assert.Equal(3, reports.Count);
        Assert.All(new[] { 50, 51, 52 }, round => Assert.Contains(reports, report => report.Contains(Name(round)) && report.Contains("format version 99")));
    }

    [Fact]
    public void Another_runs_files_are_never_pruned_and_reported_once()
    {
        using var folder = new TempDirectory();
        var theirs = new CheckpointStore(folder.Path, keep: 3);
        foreach (int round in new[] { 10, 11, 12 })
        {
            theirs.Save(At(round, Fingerprint(model: "cnn")));
        }
        var store = new CheckpointStore(folder.Path, keep: 3);
        var reports = new List<string>();

        for (int round = 1; round <= 5; round++)
        {
            store.Save(At(round), reports.Add);
        }

        Assert.Equal(new[] { 3, 4, 5, 10, 11, 12 }, Directory.GetFiles(folder.Path, "*.akfed").Select(path => Checkpoint.FromBytes(File.ReadAllBytes(path)).State.Round).Order());
        Assert.Equal(3, reports.Count);
        Assert.All(reports, report => Assert.Contains("another run", report));
    }

    [Fact]
    public void The_checkpoint_just_written_is_never_pruned_even_below_the_runs_older_rounds()
    {
        using var folder = new TempDirectory();
        var store = new CheckpointStore(folder.Path, keep: 3);
        foreach (int round in new[] { 5, 6, 7, 1 })
        {
            store.Save(At(round));
        }

        Assert.True(File.Exists(folder.File(Name(1))));
        Assert.Equal(3, Directory.GetFiles(folder.Path, "*.akfed").Length);
    }

    [Fact]
    public void Files_of_format_version_2_are_the_runs_own_when_the_seed_matches_and_left_alone_when_not()
    {
        using var folder = new TempDirectory();
        foreach (var (round, seed) in new[] { (2, 9), (3, 9), (4, 5) })
        {
            File.WriteAllBytes(folder.File(Name(round)), (At(round) with { Seed = seed, Fingerprint = null }).ToBytes());
        }
        var store = new CheckpointStore(folder.Path, keep: 2);

        store.Save(At(5));

        Assert.Equal(new[] { Name(3), Name(4), Name(5) }, Directory.GetFiles(folder.Path, "*.akfed").Select(Path.GetFileName).Order());
    }
}
