using AkkaFed.Host.Reports;
using AkkaFed.Model.Federation;

namespace AkkaFed.Host;

/// <summary>Where a run's rounds are recorded as they end: metrics.csv and metrics.jsonl, and TensorBoard's event files.</summary>
public sealed class RunRecorder : IDisposable
{
    private readonly MetricsWriter _metrics;
    private readonly TensorBoardWriter _tensorBoard;

    /// <param name="resumeAt">For a run resumed from its checkpoint: the round it continues from (see <see cref="MetricsWriter"/>).</param>
    public RunRecorder(string directory, int? resumeAt = null)
    {
        _metrics = new MetricsWriter(directory, resumeAt);
        _tensorBoard = new TensorBoardWriter(directory, append: resumeAt is not null);
    }

    public string CsvPath => _metrics.CsvPath;
    public string JsonLinesPath => _metrics.JsonLinesPath;

    public void Write(RoundMetrics round)
    {
        _metrics.Write(round);
        _tensorBoard.Write(round);
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _tensorBoard.Dispose();
    }
}
