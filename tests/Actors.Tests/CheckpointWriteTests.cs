using AkkaFed.Actors.Checkpoints;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>How a checkpoint reaches a folder that several server hosts share.</summary>
public sealed class CheckpointWriteTests
{
    [Fact]
    public void A_failed_write_leaves_no_temporary_file_behind()
    {
        using var folder = new TempDirectory();
        // A folder where the checkpoint's file should go: the rename at the end of the write fails.
        Directory.CreateDirectory(folder.File("checkpoint-00000002.akfed"));

        Assert.ThrowsAny<IOException>(() => new CheckpointStore(folder.Path).Save(CheckpointSamples.At(2)));

        Assert.Empty(Directory.GetFiles(folder.Path, "*.tmp"));
        Assert.Empty(Directory.GetFiles(folder.Path, "*.akfed"));
    }

    [Fact]
    public void A_write_never_touches_another_hosts_temporary_file_even_one_with_the_same_process_id()
    {
        using var folder = new TempDirectory();
        // In containers every server is PID 1: another host, mid-write, with the name this process would have used.
        string theirs = folder.File($"checkpoint-00000002.akfed.{Environment.ProcessId}.tmp");
        File.WriteAllText(theirs, "another host's checkpoint, half written");

        string path = new CheckpointStore(folder.Path).Save(CheckpointSamples.At(2));

        Assert.Equal("another host's checkpoint, half written", File.ReadAllText(theirs));
        Assert.Equal(2, Checkpoint.FromBytes(File.ReadAllBytes(path)).State.Round);
    }

    [Fact]
    public void Syncing_a_folder_works_and_a_missing_folder_is_named()
    {
        using var folder = new TempDirectory();
        DirectorySync.Flush(folder.Path);

        if (OperatingSystem.IsLinux())
        {
            var error = Assert.Throws<IOException>(() => DirectorySync.Flush(folder.File("missing")));
            Assert.Contains(folder.File("missing"), error.Message);
        }
    }
}
