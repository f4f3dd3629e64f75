using System.Security.Cryptography;
using System.Text;
using AkkaFed.Actors.Checkpoints;
using Xunit;

namespace AkkaFed.Actors.Tests;

/// <summary>
/// Files crafted to pass the checksum but hold nonsense: a reader of a shared folder must refuse each as corrupt,
/// saying what is wrong, and never let another exception escape (which would stop the server in PreStart).
/// </summary>
public sealed class CheckpointCorruptionTests
{
    private const string NoPrivacy = "null";
    private const string NoMetrics = "[]";

    /// <summary>A version-2 file around the payload <paramref name="write"/> makes, with a correct length and checksum.</summary>
    private static byte[] Crafted(Action<BinaryWriter> write)
    {
        using var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            write(writer);
        }
        using var file = new MemoryStream();
        using (var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("AKFEDCKP"u8);
            writer.Write((byte)2);
            writer.Write(payload.Length);
            writer.Write(payload.ToArray());
            writer.Write(SHA256.HashData(payload.ToArray()));
        }
        return file.ToArray();
    }

    /// <summary>Seed 9, <paramref name="round"/>, <paramref name="failures"/>, two weights, then <paramref name="slots"/> and the JSON blocks.</summary>
    private static byte[] Crafted(int slots, string metrics, string privacy, int round = 3, int failures = 0) => Crafted(writer =>
    {
        writer.Write(9);
        writer.Write(round);
        writer.Write(failures);
        writer.Write(2);
        writer.Write(1f);
        writer.Write(2f);
        writer.Write(slots);
        Block(writer, metrics);
        Block(writer, privacy);
    });

    private static void Block(BinaryWriter writer, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    [Fact]
    public void A_crafted_file_that_is_well_formed_reads()
    {
        var checkpoint = Checkpoint.FromBytes(Crafted(0, NoMetrics, NoPrivacy));

        Assert.Equal(3, checkpoint.State.Round);
        Assert.Equal(new[] { 1f, 2f }, checkpoint.State.Weights);
    }

    [Theory]
    [InlineData(int.MaxValue, NoMetrics, NoPrivacy, "ServerOptimizerState")]
    [InlineData(-1, NoMetrics, NoPrivacy, "ServerOptimizerState")]
    [InlineData(0, "[null]", NoPrivacy, "metrics")]
    [InlineData(0, NoMetrics, """{"ClipNorm":1,"Entries":null}""", "privacy ledger")]
    [InlineData(0, NoMetrics, """{"ClipNorm":1,"Entries":[null]}""", "privacy ledger")]
    [InlineData(0, NoMetrics, """{"ClipNorm":1,"Entries":[{"SamplingRate":0.1,"NoiseMultiplier":1.1,"Rounds":0}]}""", "privacy ledger")]
    [InlineData(0, NoMetrics, """{"ClipNorm":1,"Entries":[{"SamplingRate":7,"NoiseMultiplier":1.1,"Rounds":1}]}""", "privacy ledger")]
    public void A_file_with_a_valid_checksum_but_impossible_content_is_refused_as_damaged(int slots, string metrics, string privacy, string what)
    {
        var bytes = Crafted(slots, metrics, privacy);

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.FromBytes(bytes));

        Assert.Contains("damaged", error.Message);
        Assert.Contains(what, error.Message);
    }

    [Theory]
    [InlineData(0, 0, "round 0")]
    [InlineData(3, -1, "failures in a row")]
    public void A_file_with_a_valid_checksum_but_an_impossible_round_or_failure_count_is_refused_as_damaged(int round, int failures, string what)
    {
        var bytes = Crafted(0, NoMetrics, NoPrivacy, round, failures);

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.FromBytes(bytes));

        Assert.Contains("damaged", error.Message);
        Assert.Contains(what, error.Message);
    }

    [Fact]
    public void The_store_reports_a_crafted_newest_file_by_name_and_resumes_from_the_one_before()
    {
        using var folder = new TempDirectory();
        var store = new CheckpointStore(folder.Path);
        File.WriteAllBytes(folder.File("checkpoint-00000002.akfed"), (CheckpointSamples.At(2) with { Fingerprint = null }).ToBytes());
        string crafted = folder.File("checkpoint-00000003.akfed");
        File.WriteAllBytes(crafted, Crafted(0, NoMetrics, """{"ClipNorm":1,"Entries":null}"""));
        var reports = new List<string>();

        var loaded = store.LoadLatest(reports.Add);

        Assert.Equal(2, loaded!.State.Round);
        var report = Assert.Single(reports);
        Assert.Contains(crafted, report);
        Assert.Contains("privacy ledger", report);
    }
}
