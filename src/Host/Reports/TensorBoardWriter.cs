using AkkaFed.Model.Federation;
using TorchSharp;

namespace AkkaFed.Host.Reports;

/// <summary>
/// Per-round scalars as TensorBoard event files (TorchSharp's <c>SummaryWriter</c>), step = round, so that
/// <c>tensorboard --logdir OUTPUT</c> shows the run and <c>tensorboard --logdir PARENT</c> compares the runs
/// beneath it (TensorBoard names a run by its folder). Each scalar is appended to the file as it is added, so a
/// run stopped with Ctrl+C keeps every round it finished. A value that does not exist (a failed round's loss,
/// epsilon without DP, simulated time on the wall clock) is left out, not written as NaN or 0.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    private readonly TorchSharp.Modules.SummaryWriter _writer;
    private bool _disposed;

    /// <param name="directory">The run's output folder.</param>
    /// <param name="append">
    /// Keep the event files already there (a run resumed from its checkpoint adds to them); otherwise they are
    /// deleted, as metrics.csv is written afresh, or TensorBoard would draw this run over the last one's.
    /// </param>
    public TensorBoardWriter(string directory, bool append = false)
    {
        Directory.CreateDirectory(directory);
        if (!append)
        {
            foreach (string old in Directory.EnumerateFiles(directory, "events.out.tfevents.*"))
            {
                File.Delete(old);
            }
        }
        _writer = torch.utils.tensorboard.SummaryWriter(directory);
        LogDir = directory;
    }

    /// <summary>The folder the event file is in.</summary>
    public string LogDir { get; }

    public void Write(RoundMetrics m)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var (tag, value) in Scalars(m))
        {
            if (value is { } v && double.IsFinite(v))
            {
                _writer.add_scalar(tag, (float)v, m.Round);
            }
        }
    }

    /// <summary>The tags written for a round, and their values (null: not written).</summary>
    public static IEnumerable<(string Tag, double? Value)> Scalars(RoundMetrics m) => new (string, double?)[]
    {
        ("test/accuracy", m.Test?.Accuracy),
        ("test/loss", m.Test?.Loss),
        ("train/accuracy", m.Accuracy),
        ("train/loss", m.Loss),
        ("federated_eval/accuracy", m.FederatedTest?.Accuracy),
        ("federated_eval/loss", m.FederatedTest?.Loss),
        ("round/succeeded", m.Succeeded ? 1 : 0),
        ("clients/selected", m.Selected),
        ("clients/participants", m.Participants),
        ("clients/stragglers", m.Stragglers),
        ("clients/dropouts", m.Dropouts),
        ("clients/late", m.Late),
        ("clients/duplicates", m.Duplicates),
        ("clients/rejected", m.Rejected),
        ("clients/failed", m.Failed),
        ("fedbuff/mean_staleness", m.MeanStaleness),
        ("privacy/epsilon", m.Epsilon),
        ("privacy/clip_norm", m.ClipNorm),
        ("time/sim_seconds", m.SimulatedSeconds),
        ("time/sim_time", m.SimulatedTime),
        ("time/wall_seconds", m.WallSeconds),
        ("network/bytes_sent", m.BytesSent),
        ("network/bytes_received", m.BytesReceived),
    };

    public void Dispose()
    {
        // The SummaryWriter opens and closes the file for each scalar: there is nothing left to flush.
        _disposed = true;
    }
}
