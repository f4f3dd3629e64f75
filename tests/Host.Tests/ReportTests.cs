using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using AkkaFed.Host.Reports;
using AkkaFed.Model;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using SkiaSharp;
using Xunit;

namespace AkkaFed.Host.Tests;

/// <summary>`akkafed plot`, the end-of-run plot, and the TensorBoard event files, on metrics written here.</summary>
public sealed class ReportTests
{
    // A simulated-clock run as MetricsWriter writes it, with the columns added since (timestamp, elapsed_seconds,
    // failure): round 2 failed, so its loss, accuracy and test metrics are empty and its failure is a quoted text.
    private const string SimulatedRun =
        "round,succeeded,loss,accuracy,test_loss,test_accuracy,selected,participants,stragglers,dropouts,late,duplicates,rejected,failed," +
        "mean_staleness,sim_seconds,sim_time,wall_seconds,bytes_sent,bytes_received,epsilon,clip_norm,fed_loss,fed_accuracy,timestamp,elapsed_seconds,failure\n" +
        "1,true,2.1,0.31,2.0,0.35,10,10,0,0,0,0,0,0,,12.5,12.5,0.8,0,0,,,,,2026-05-07T10:00:01Z,0.8,\n" +
        "2,false,,,,,10,0,10,0,0,0,0,0,,60,72.5,0.1,0,0,,,,,2026-05-07T10:00:02Z,0.9,\"deadline: 0 of 10 updates, \"\"min-clients\"\" is 3\"\n" +
        "3,true,1.5,0.6,1.4,0.65,10,9,1,0,0,0,0,0,,15,87.5,0.7,0,0,,,,,2026-05-07T10:00:03Z,1.6,\n" +
        "4,true,1.0,0.8,0.9,0.82,10,10,0,0,0,0,0,0,,15,102.5,0.7,0,0,,,,,2026-05-07T10:00:04Z,2.3,\n";

    // A wall-clock run from before those columns: no sim_time, no elapsed_seconds, and its columns in another order.
    private const string WallClockRun =
        "test_accuracy,round,participants,stragglers,test_loss,loss,accuracy,succeeded\n" +
        "0.4,1,8,2,1.9,2.0,0.3,true\n" +
        "0.5,2,9,1,1.7,1.8,0.4,true\n" +
        "0.7,3,10,0,1.2,1.3,0.6,true\n";

    private static readonly SKColor FirstRunColor = SKColor.Parse("#1f77b4");
    private static readonly SKColor SecondRunColor = SKColor.Parse("#ff7f0e");

    private static string RunFolder(TempDirectory root, string name, string csv)
    {
        string folder = Path.Combine(root.Path, name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "metrics.csv"), csv);
        return folder;
    }

    [Fact]
    public void Metrics_csv_is_read_by_column_name_with_quoted_fields_empty_values_and_missing_columns()
    {
        var simulated = MetricsCsv.Parse("sim", "sim", SimulatedRun);
        var wall = MetricsCsv.Parse("wall", "wall", WallClockRun);

        Assert.Equal(new[] { 1, 2, 3, 4 }, simulated.Rounds());
        Assert.Equal(new double?[] { 0.35, null, 0.65, 0.82 }, simulated.Values("test_accuracy"));
        Assert.Equal(new double?[] { 10, 0, 9, 10 }, simulated.Values("participants"));
        // The quoted failure, commas and doubled quotes in it, is one cell: the columns after it do not shift.
        Assert.Equal(new double?[] { 0.8, 0.9, 1.6, 2.3 }, simulated.Values("elapsed_seconds"));
        Assert.Equal(new double?[] { 12.5, 72.5, 87.5, 102.5 }, simulated.Values("sim_time"));
        Assert.Equal(new double?[] { 1, 0, 1, 1 }, simulated.Values("succeeded"));

        Assert.Equal(new double?[] { 0.4, 0.5, 0.7 }, wall.Values("test_accuracy"));
        Assert.Equal(new double?[] { 2, 1, 0 }, wall.Values("stragglers"));
        Assert.False(wall.HasColumn("sim_time"));
        Assert.Equal(new double?[] { null, null, null }, wall.Values("sim_time"));
    }

    [Fact]
    public void The_end_of_run_plot_is_a_valid_png_of_the_fixed_size_with_the_run_drawn_across_a_failed_round()
    {
        using var root = new TempDirectory();
        string folder = RunFolder(root, "simulated", SimulatedRun);

        string path = RunPlot.WriteForRun(folder);

        Assert.Equal(Path.Combine(folder, "plot.png"), path);
        Assert.Equal((RunPlot.Width, RunPlot.Height), PngSize(path));
        using var bitmap = Decode(path);
        Assert.True(Pixels(bitmap, FirstRunColor) > 500, "the run's line is not drawn");
        Assert.Equal(0, Pixels(bitmap, SecondRunColor));
    }

    [Fact]
    public void Several_runs_go_on_one_png_one_colour_each_a_wall_clock_run_among_them()
    {
        using var root = new TempDirectory();
        string simulated = RunFolder(root, "simulated", SimulatedRun);
        string wall = RunFolder(root, "wall", WallClockRun);
        string png = root.File("compare/runs.png");
        var output = new StringWriter();
        var error = new StringWriter();

        int exit = PlotCommand.Run(new[] { simulated, wall }, png, output, error);

        Assert.Equal(0, exit);
        Assert.Equal("", error.ToString());
        Assert.Contains("simulated: 4 rounds, wall: 3 rounds", output.ToString());
        Assert.Equal((RunPlot.Width, RunPlot.Height), PngSize(png));
        using var bitmap = Decode(png);
        Assert.True(Pixels(bitmap, FirstRunColor) > 500, "the first run's line is not drawn");
        Assert.True(Pixels(bitmap, SecondRunColor) > 500, "the second run's line is not drawn");
    }

    [Fact]
    public void The_panels_against_simulated_time_are_there_when_a_run_has_simulated_time_and_only_then()
    {
        var simulated = MetricsCsv.Parse("simulated", "simulated", SimulatedRun);
        var wall = MetricsCsv.Parse("wall", "wall", WallClockRun);
        var untested = MetricsCsv.Parse("untested", "untested", "round,loss,accuracy,participants,stragglers\n1,2.0,0.3,5,0\n");

        Assert.Equal(
            new[] { "Test accuracy per round", "Test loss per round", "Participants per round", "Stragglers per round" },
            RunPlot.PanelTitles(new[] { wall }));
        Assert.Equal(
            new[]
            {
                "Test accuracy per round", "Test loss per round", "Test accuracy against simulated time", "Test loss against simulated time",
                "Participants per round", "Stragglers per round",
            },
            RunPlot.PanelTitles(new[] { wall, simulated }));
        // A run without a test set falls back to its training metrics.
        Assert.Equal("Training accuracy per round", RunPlot.PanelTitles(new[] { untested })[0]);
        Assert.Equal("Accuracy per round", RunPlot.PanelTitles(new[] { untested, wall })[0]);
    }

    [Fact]
    public void Akkafed_plot_names_what_is_wrong_in_one_line_with_its_exit_code()
    {
        using var root = new TempDirectory();
        string empty = Path.Combine(root.Path, "not-a-run");
        Directory.CreateDirectory(empty);
        string malformed = RunFolder(root, "malformed", "round,loss\n1,0.5\n2,lots\n");
        string headless = RunFolder(root, "headless", "loss,accuracy\n0.5,0.9\n");

        var noFolder = Akkafed(root.Path, "plot");
        var notARun = Akkafed(root.Path, "plot", empty);
        var missing = Akkafed(root.Path, "plot", Path.Combine(root.Path, "nowhere"));
        var badNumber = Akkafed(root.Path, "plot", malformed);
        var noRound = Akkafed(root.Path, "plot", headless);
        var notPng = Akkafed(root.Path, "plot", RunFolder(root, "ok", WallClockRun), "--output", "plot.jpg");

        Assert.Equal((2, "error: DIR: name at least one run folder to plot (a run's --output, with its metrics.csv)"), noFolder);
        Assert.Equal((2, $"error: {empty}: no metrics.csv in this folder (is it a run's --output folder?)"), notARun);
        Assert.Equal((2, $"error: {Path.Combine(root.Path, "nowhere")}: no such folder"), missing);
        Assert.Equal((1, $"error: {malformed}: metrics.csv row 3, column loss: 'lots' is not a number"), badNumber);
        Assert.Equal(1, noRound.Exit);
        Assert.StartsWith($"error: {headless}: metrics.csv has no 'round' column", noRound.Error);
        Assert.Equal(2, notPng.Exit);
        Assert.StartsWith("error: --output: 'plot.jpg' does not end in .png", notPng.Error);
    }

    [Fact]
    public void Akkafed_plot_writes_plot_png_in_one_run_folder_and_comparison_png_here_for_several()
    {
        using var root = new TempDirectory();
        string simulated = RunFolder(root, "simulated", SimulatedRun);
        string wall = RunFolder(root, "wall", WallClockRun);
        string here = Path.Combine(root.Path, "here");
        Directory.CreateDirectory(here);

        var one = Akkafed(here, "plot", wall);
        var several = Akkafed(here, "plot", simulated, wall);

        Assert.Equal((0, ""), one);
        Assert.Equal((RunPlot.Width, RunPlot.Height), PngSize(Path.Combine(wall, "plot.png")));
        Assert.Equal((0, ""), several);
        Assert.Equal((RunPlot.Width, RunPlot.Height), PngSize(Path.Combine(here, "comparison.png")));
    }

    [Fact]
    public void TensorBoard_events_are_a_valid_tfrecord_stream_of_scalars_per_round_flushed_as_each_round_is_written()
    {
        using var folder = new TempDirectory();
        var first = new RoundMetrics(1, true, 2.25, 0.25, 10, 10, 0, 0, 0, 0, 0, 0.5)
        {
            Test = new Evaluation(2.0, 0.375, 100), SimulatedTime = 12.5, Epsilon = 0.75,
        };
        var failed = new RoundMetrics(2, false, double.NaN, double.NaN, 10, 0, 10, 0, 0, 0, 0, 0.125, "deadline") { SimulatedTime = 72.5, Epsilon = 0.75 };
        var third = new RoundMetrics(3, true, 1.5, 0.625, 10, 9, 1, 0, 0, 0, 0, 0.5) { Test = new Evaluation(1.25, 0.75, 100), SimulatedTime = 87.5, Epsilon = 1.5 };

        Dictionary<(string Tag, long Step), float> afterFirst;
        using (var writer = new TensorBoardWriter(folder.Path))
        {
            writer.Write(first);
            afterFirst = Scalars(ReadEvents(EventFile(folder.Path)));
            writer.Write(failed);
            writer.Write(third);
        }
        var events = ReadEvents(EventFile(folder.Path));
        var scalars = Scalars(events);

        Assert.Equal("brain.Event:2", events[0].FileVersion);
        // What a Ctrl+C after round 1 would have left: round 1, on disk already.
        Assert.Equal(0.375f, afterFirst[("test/accuracy", 1)]);
        Assert.DoesNotContain(afterFirst.Keys, k => k.Step > 1);

        Assert.Equal(0.375f, scalars[("test/accuracy", 1)]);
        Assert.Equal(0.75f, scalars[("test/accuracy", 3)]);
        Assert.Equal(2.0f, scalars[("test/loss", 1)]);
        Assert.Equal(2.25f, scalars[("train/loss", 1)]);
        Assert.Equal(0.625f, scalars[("train/accuracy", 3)]);
        Assert.Equal(10f, scalars[("clients/participants", 1)]);
        Assert.Equal(0f, scalars[("clients/participants", 2)]);
        Assert.Equal(10f, scalars[("clients/stragglers", 2)]);
        Assert.Equal(0f, scalars[("round/succeeded", 2)]);
        Assert.Equal(72.5f, scalars[("time/sim_time", 2)]);
        Assert.Equal(1.5f, scalars[("privacy/epsilon", 3)]);
        // Values that do not exist are left out, not written as NaN: the failed round has no loss and no test.
        Assert.DoesNotContain(("train/loss", 2L), scalars.Keys);
        Assert.DoesNotContain(("test/accuracy", 2L), scalars.Keys);
        Assert.DoesNotContain(scalars.Keys, k => k.Tag.StartsWith("federated_eval/"));
        Assert.DoesNotContain(scalars.Keys, k => k.Tag == "privacy/clip_norm" || k.Tag == "fedbuff/mean_staleness");
        Assert.All(scalars.Values, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(new long[] { 1, 2, 3 }, scalars.Keys.Select(k => k.Step).Distinct().Order());
    }

    [Fact]
    public void A_new_run_in_the_same_folder_replaces_the_last_ones_events_as_it_replaces_its_metrics()
    {
        using var folder = new TempDirectory();
        using (var writer = new TensorBoardWriter(folder.Path))
        {
            writer.Write(new RoundMetrics(1, true, 2, 0.5, 10, 10, 0, 0, 0, 0, 0, 1));
            writer.Write(new RoundMetrics(2, true, 1, 0.75, 10, 10, 0, 0, 0, 0, 0, 1));
        }
        using (var writer = new TensorBoardWriter(folder.Path))
        {
            writer.Write(new RoundMetrics(1, true, 3, 0.125, 10, 10, 0, 0, 0, 0, 0, 1));
        }

        var scalars = Scalars(ReadEvents(EventFile(folder.Path)));
        Assert.Equal(0.125f, scalars[("train/accuracy", 1)]);
        Assert.DoesNotContain(("train/accuracy", 2L), scalars.Keys);
    }

    [Fact]
    public void A_resumed_run_appends_to_the_events_already_there()
    {
        using var folder = new TempDirectory();
        using (var writer = new TensorBoardWriter(folder.Path))
        {
            writer.Write(new RoundMetrics(1, true, 2, 0.5, 10, 10, 0, 0, 0, 0, 0, 1));
        }
        using (var writer = new TensorBoardWriter(folder.Path, append: true))
        {
            writer.Write(new RoundMetrics(2, true, 1, 0.75, 10, 10, 0, 0, 0, 0, 0, 1));
        }

        var files = Directory.GetFiles(folder.Path, "events.out.tfevents.*");
        Assert.Equal(2, files.Length);
        var scalars = files.SelectMany(f => Scalars(ReadEvents(f))).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(0.5f, scalars[("train/accuracy", 1)]);
        Assert.Equal(0.75f, scalars[("train/accuracy", 2)]);
    }

    // ---- PNG: the signature, chunks whose CRC-32s check, IHDR first, IEND last; then a decode by SkiaSharp. ----

    private static (int Width, int Height) PngSize(string path)
    {
        byte[] png = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        var chunks = new List<string>();
        int width = 0, height = 0;
        for (int at = 8; at < png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = Encoding.ASCII.GetString(png, at + 4, 4);
            var typeAndData = png.AsSpan(at + 4, 4 + length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            Assert.True(Crc32(typeAndData) == crc, $"chunk {type} at byte {at}: CRC-32 does not match");
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at + 8));
                height = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at + 12));
            }
            chunks.Add(type);
            at += 12 + length;
        }
        Assert.Equal("IHDR", chunks[0]);
        Assert.Equal("IEND", chunks[^1]);
        Assert.Contains("IDAT", chunks);
        return (width, height);
    }

    private static SKBitmap Decode(string path)
    {
        var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((RunPlot.Width, RunPlot.Height), (bitmap.Width, bitmap.Height));
        return bitmap;
    }

    private static int Pixels(SKBitmap bitmap, SKColor color)
    {
        int count = 0;
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                var p = bitmap.GetPixel(x, y);
                if (Math.Abs(p.Red - color.Red) < 8 && Math.Abs(p.Green - color.Green) < 8 && Math.Abs(p.Blue - color.Blue) < 8)
                {
                    count++;
                }
            }
        }
        return count;
    }

    /// <summary>PNG's CRC-32 (reflected polynomial 0xEDB88320).</summary>
    private static uint Crc32(ReadOnlySpan<byte> data) => Crc(data, 0xEDB88320);

    /// <summary>The reflected CRC-32 of <paramref name="data"/> with <paramref name="polynomial"/>: PNG's, or TFRecord's CRC-32C.</summary>
    private static uint Crc(ReadOnlySpan<byte> data, uint polynomial)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1;
            }
        }
        return ~crc;
    }

    // ---- TensorBoard: TFRecord framing (uint64 length, masked CRC-32C of it, data, masked CRC-32C of the data), ----
    // ---- each record an Event protobuf, read by hand: wall_time = 1, step = 2, file_version = 3, summary = 5.   ----

    private sealed record TfEvent(double WallTime, long Step, string? FileVersion, List<(string Tag, float Value)> Values);

    private static string EventFile(string folder)
    {
        var files = Directory.GetFiles(folder, "events.out.tfevents.*");
        Assert.Single(files);
        return files[0];
    }

    private static List<TfEvent> ReadEvents(string path)
    {
        byte[] bytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
        }
        var events = new List<TfEvent>();
        for (int at = 0; at < bytes.Length;)
        {
            Assert.True(bytes.Length - at >= 12, $"a record header is cut short at byte {at}");
            var lengthBytes = bytes.AsSpan(at, 8);
            long length = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
            Assert.True(MaskedCrc32C(lengthBytes) == BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)), $"record at byte {at}: the length's CRC does not match");
            Assert.True(bytes.Length - at >= 16 + length, $"the record at byte {at} is cut short");
            var data = bytes.AsSpan(at + 12, (int)length);
            Assert.True(MaskedCrc32C(data) == BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)), $"record at byte {at}: the data's CRC does not match");
            events.Add(ParseEvent(data.ToArray()));
            at += 16 + (int)length;
        }
        return events;
    }

    private static Dictionary<(string Tag, long Step), float> Scalars(List<TfEvent> events) =>
        events.SelectMany(e => e.Values.Select(v => (Key: (v.Tag, e.Step), v.Value))).ToDictionary(x => x.Key, x => x.Value);

    private static TfEvent ParseEvent(byte[] data)
    {
        double wallTime = 0;
        long step = 0;
        string? fileVersion = null;
        var values = new List<(string, float)>();
        foreach (var (field, wire, varint, bytes) in Fields(data))
        {
            switch (field)
            {
                case 1 when wire == 1:
                    wallTime = BitConverter.Int64BitsToDouble((long)varint);
                    break;
                case 2 when wire == 0:
                    step = (long)varint;
                    break;
                case 3 when wire == 2:
                    fileVersion = Encoding.UTF8.GetString(bytes!);
                    break;
                case 5 when wire == 2:
                    foreach (var value in Fields(bytes!).Where(f => f.Field == 1 && f.Wire == 2))
                    {
                        string? tag = null;
                        float? simple = null;
                        foreach (var inner in Fields(value.Bytes!))
                        {
                            if (inner.Field == 1 && inner.Wire == 2)
                            {
                                tag = Encoding.UTF8.GetString(inner.Bytes!);
                            }
                            else if (inner.Field == 2 && inner.Wire == 5)
                            {
                                simple = BitConverter.Int32BitsToSingle((int)inner.Varint);
                            }
                        }
                        Assert.NotNull(tag);
                        Assert.NotNull(simple);
                        values.Add((tag!, simple!.Value));
                    }
                    break;
            }
        }
        return new TfEvent(wallTime, step, fileVersion, values);
    }

    /// <summary>A protobuf message's fields: number, wire type, the number (varint, fixed64, fixed32) or the bytes (length-delimited).</summary>
    private static IEnumerable<(int Field, int Wire, ulong Varint, byte[]? Bytes)> Fields(byte[] data)
    {
        int at = 0;
        ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = data[at++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }
        }
        var fields = new List<(int, int, ulong, byte[]?)>();
        while (at < data.Length)
        {
            ulong key = Varint();
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    fields.Add((field, wire, Varint(), null));
                    break;
                case 1:
                    fields.Add((field, wire, BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at)), null));
                    at += 8;
                    break;
                case 2:
                    int length = (int)Varint();
                    fields.Add((field, wire, 0, data[at..(at + length)]));
                    at += length;
                    break;
                case 5:
                    fields.Add((field, wire, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at)), null));
                    at += 4;
                    break;
                default:
                    throw new InvalidDataException($"wire type {wire} in an Event");
            }
        }
        return fields;
    }

    private static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc(data, 0x82F63B78);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8U;
    }

    // ---- akkafed as a user runs it, in a working folder of the test's. ----

    private static (int Exit, string Error) Akkafed(string workingDirectory, params string[] args)
    {
        var (exit, _, error) = SimulateTests.AkkafedIn(workingDirectory, args);
        Assert.DoesNotContain("   at ", error);
        return (exit, error.TrimEnd());
    }
}
