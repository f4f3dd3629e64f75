using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AkkaFed.Model.Federation;

namespace AkkaFed.Host;

/// <summary>
/// Per-round metrics as CSV and as JSON lines, one row per round, flushed as each round ends. Each row also says when
/// the round ended (<c>timestamp</c>, UTC) and how long the run had been going (<c>elapsed_seconds</c>), and a failed
/// round why it failed (<c>failure</c>).
/// </summary>
public sealed class MetricsWriter : IDisposable
{
    public static readonly string[] Columns =
    {
        "round", "succeeded", "loss", "accuracy", "test_loss", "test_accuracy", "selected", "participants",
        "stragglers", "dropouts", "late", "duplicates", "rejected", "failed", "mean_staleness", "sim_seconds", "sim_time", "wall_seconds",
        "bytes_sent", "bytes_received", "epsilon", "clip_norm", "fed_loss", "fed_accuracy", "failure", "timestamp", "elapsed_seconds",
    };

    /// <summary>Columns that measure the host, not the run: they differ between two runs of the same seed.</summary>
    public static readonly string[] HostColumns = { "wall_seconds", "timestamp", "elapsed_seconds" };

    private readonly StreamWriter _csv;
    private readonly StreamWriter _jsonl;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly double _elapsedBefore;
    private readonly Func<DateTimeOffset> _now;

    /// <param name="resumeAt">For a resumed run: the round it continues from. The rows of earlier rounds are kept, later
    /// ones (written after the checkpoint) dropped, and elapsed time goes on from the last row kept. Null starts afresh.</param>
    public MetricsWriter(string directory, int? resumeAt = null, Func<DateTimeOffset>? now = null)
    {
        _now = now ?? (() => DateTimeOffset.UtcNow);
        Directory.CreateDirectory(directory);
        CsvPath = Path.Combine(directory, "metrics.csv");
        JsonLinesPath = Path.Combine(directory, "metrics.jsonl");
        var (csvRows, jsonRows) = resumeAt is { } round ? (Earlier(CsvPath, round, skipHeader: true), Earlier(JsonLinesPath, round, skipHeader: false)) : ([], []);
        _elapsedBefore = resumeAt is null ? 0 : LastElapsed(csvRows);
        _csv = new StreamWriter(CsvPath, append: false);
        _jsonl = new StreamWriter(JsonLinesPath, append: false);
        _csv.WriteLine(string.Join(',', Columns));
        foreach (var row in csvRows)
        {
            _csv.WriteLine(row);
        }
        foreach (var row in jsonRows)
        {
            _jsonl.WriteLine(row);
        }
        _csv.Flush();
        _jsonl.Flush();
    }

    public string CsvPath { get; }
    public string JsonLinesPath { get; }

    public void Write(RoundMetrics m)
    {
        var values = new object?[]
        {
            m.Round, m.Succeeded, m.Loss, m.Accuracy, m.Test?.Loss, m.Test?.Accuracy, m.Selected, m.Participants,
            m.Stragglers, m.Dropouts, m.Late, m.Duplicates, m.Rejected, m.Failed, m.MeanStaleness, m.SimulatedSeconds, m.SimulatedTime, m.WallSeconds,
            m.BytesSent, m.BytesReceived, m.Epsilon, m.ClipNorm, m.FederatedTest?.Loss, m.FederatedTest?.Accuracy, m.FailureReason,
            _now().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture), Math.Round(_elapsedBefore + _clock.Elapsed.TotalSeconds, 3),
        };
        _csv.WriteLine(string.Join(',', values.Select(Format)));
        _csv.Flush();

        var row = new Dictionary<string, object?>();
        for (int i = 0; i < Columns.Length; i++)
        {
            // JSON has no NaN: a metric that does not exist (a failed round's loss) is null.
            row[Columns[i]] = values[i] is double d && !double.IsFinite(d) ? null : values[i];
        }
        _jsonl.WriteLine(JsonSerializer.Serialize(row));
        _jsonl.Flush();
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        double d when !double.IsFinite(d) => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        string s => Quote(s),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Quote(value.ToString() ?? ""),
    };

    /// <summary>RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.</summary>
    private static string Quote(string text) =>
        text.IndexOfAny([',', '"', '\n', '\r']) < 0 ? text : "\"" + text.Replace("\"", "\"\"") + "\"";

    /// <summary>The rows of a metrics file for rounds before <paramref name="round"/> (each row starts with its round).</summary>
    private static string[] Earlier(string path, int round, bool skipHeader)
    {
        if (!File.Exists(path))
        {
            return [];
        }
        return File.ReadAllLines(path).Skip(skipHeader ? 1 : 0).Where(line => RoundOf(line) is { } r && r < round).ToArray();

        static int? RoundOf(string line)
        {
            var digits = new string(line.SkipWhile(c => !char.IsDigit(c)).TakeWhile(char.IsDigit).ToArray());
            return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var r) ? r : null;
        }
    }

    private static double LastElapsed(string[] csvRows)
    {
        if (csvRows.Length == 0)
        {
            return 0;
        }
        var last = csvRows[^1];
        int comma = last.LastIndexOf(',');
        return double.TryParse(last[(comma + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var elapsed) ? elapsed : 0;
    }

    public void Dispose()
    {
        _csv.Dispose();
        _jsonl.Dispose();
    }
}
