using System.Globalization;
using System.Text.Json;
using AkkaFed.Model.Federation;

namespace AkkaFed.Host;

/// <summary>Per-round metrics as CSV and as JSON lines, one row per round, flushed as each round ends.</summary>
public sealed class MetricsWriter : IDisposable
{
    private static readonly string[] Columns =
    {
        "round", "succeeded", "loss", "accuracy", "test_loss", "test_accuracy", "selected", "participants",
        "stragglers", "dropouts", "late", "duplicates", "rejected", "failed", "mean_staleness", "sim_seconds", "sim_time", "wall_seconds", "bytes_sent", "bytes_received", "epsilon", "clip_norm", "fed_loss", "fed_accuracy",
    };

    private readonly StreamWriter _csv;
    private readonly StreamWriter _jsonl;

    public MetricsWriter(string directory)
    {
        Directory.CreateDirectory(directory);
        CsvPath = Path.Combine(directory, "metrics.csv");
        JsonLinesPath = Path.Combine(directory, "metrics.jsonl");
        _csv = new StreamWriter(CsvPath, append: false);
        _jsonl = new StreamWriter(JsonLinesPath, append: false);
        _csv.WriteLine(string.Join(',', Columns));
        _csv.Flush();
    }

    public string CsvPath { get; }
    public string JsonLinesPath { get; }

    public void Write(RoundMetrics m)
    {
        var values = new object?[]
        {
            m.Round, m.Succeeded, m.Loss, m.Accuracy, m.Test?.Loss, m.Test?.Accuracy, m.Selected, m.Participants,
            m.Stragglers, m.Dropouts, m.Late, m.Duplicates, m.Rejected, m.Failed, m.MeanStaleness, m.SimulatedSeconds, m.SimulatedTime, m.WallSeconds, m.BytesSent, m.BytesReceived, m.Epsilon, m.ClipNorm, m.FederatedTest?.Loss, m.FederatedTest?.Accuracy,
        };
        _csv.WriteLine(string.Join(',', values.Select(Format)));
        _csv.Flush();

        var row = new Dictionary<string, object?>();
        for (int i = 0; i < Columns.Length; i++)
        {
            // JSON has no NaN: a metric that does not exist (a failed round's loss) is null.
            row[Columns[i]] = values[i] is double d && !double.IsFinite(d) ? null : values[i];
        }
        row["failure"] = m.FailureReason;
        _jsonl.WriteLine(JsonSerializer.Serialize(row));
        _jsonl.Flush();
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        double d when !double.IsFinite(d) => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public void Dispose()
    {
        _csv.Dispose();
        _jsonl.Dispose();
    }
}
