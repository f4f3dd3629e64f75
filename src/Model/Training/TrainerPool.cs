using AkkaFed.Model.Models;

namespace AkkaFed.Model.Training;

/// <summary>
/// One <see cref="LocalTrainer"/> per worker thread, made on first use. Clients borrow the trainer of the
/// thread they run on, so the number of models is bounded by the number of threads that train, never by
/// the number of clients.
/// </summary>
public sealed class TrainerPool : IDisposable
{
    private readonly ThreadLocal<LocalTrainer> _trainers;

    public TrainerPool(ModelKind kind, int torchThreads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(torchThreads);
        Kind = kind;
        // Process-wide in libtorch: every worker's operators use this many threads.
        TorchSharp.torch.set_num_threads(torchThreads);
        _trainers = new ThreadLocal<LocalTrainer>(() => new LocalTrainer(kind), trackAllValues: true);
    }

    public ModelKind Kind { get; }

    /// <summary>The calling thread's trainer.</summary>
    public LocalTrainer Current => _trainers.Value!;

    /// <summary>How many models exist: at most one per thread that ever trained.</summary>
    public int ModelCount => _trainers.Values.Count;

    public void Dispose()
    {
        foreach (var trainer in _trainers.Values)
        {
            trainer.Dispose();
        }
        _trainers.Dispose();
    }
}
