using System.Diagnostics;
using AkkaFed.Model.Models;

namespace AkkaFed.Model.Learning;

/// <summary>
/// One <see cref="LocalTrainer"/> per worker thread, made on first use. Clients borrow the trainer of the
/// thread they run on, so the number of models is bounded by the number of threads that train, never by
/// the number of clients. It also counts what the scale targets rest on: how many clients train at once
/// (at most the workers) and how long each worker spent training.
/// </summary>
public sealed class TrainerPool : IDisposable
{
    private readonly ThreadLocal<Worker> _workers;
    private readonly IDisposable _torchThreads;
    private int _active;
    private int _peakActive;

    public TrainerPool(ModelKind kind, int torchThreads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(torchThreads);
        Kind = kind;
        // Process-wide in libtorch, and results depend on it: held for as long as the pool lives.
        _torchThreads = TorchThreads.Acquire(torchThreads);
        _workers = new ThreadLocal<Worker>(() => new Worker(new LocalTrainer(kind), Environment.CurrentManagedThreadId),
            trackAllValues: true);
    }

    public ModelKind Kind { get; }

    /// <summary>How many models exist: at most one per thread that ever trained.</summary>
    public int ModelCount => _workers.Values.Count;

    /// <summary>The most clients that were ever inside <see cref="Run{T}"/> at the same time.</summary>
    public int PeakConcurrency => Volatile.Read(ref _peakActive);

    /// <summary>Seconds each worker has spent inside <see cref="Run{T}"/>, by the worker's managed thread id.</summary>
    public IReadOnlyDictionary<int, double> BusySeconds() =>
        _workers.Values.ToDictionary(worker => worker.ThreadId,
            worker => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref worker.BusyTicks)).TotalSeconds);

    /// <summary>Runs <paramref name="work"/> with the calling thread's trainer, counting it as training time.</summary>
    public T Run<T>(Func<LocalTrainer, T> work)
    {
        var worker = _workers.Value!;
        int active = Interlocked.Increment(ref _active);
        for (int peak = Volatile.Read(ref _peakActive); active > peak; peak = Volatile.Read(ref _peakActive))
        {
            Interlocked.CompareExchange(ref _peakActive, active, peak);
        }
        long start = Stopwatch.GetTimestamp();
        try
        {
            return work(worker.Trainer);
        }
        finally
        {
            Interlocked.Add(ref worker.BusyTicks, Stopwatch.GetTimestamp() - start);
            Interlocked.Decrement(ref _active);
        }
    }

    public void Dispose()
    {
        foreach (var worker in _workers.Values)
        {
            worker.Trainer.Dispose();
        }
        _workers.Dispose();
        _torchThreads.Dispose();
    }

    private sealed class Worker(LocalTrainer trainer, int threadId)
    {
        public LocalTrainer Trainer { get; } = trainer;
        public int ThreadId { get; } = threadId;
        public long BusyTicks;
    }
}
