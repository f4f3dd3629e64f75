using AkkaFed.Model.Models;

namespace AkkaFed.Model.Learning;

/// <summary>
/// One <see cref="LocalTrainer"/> per worker thread, made on first use. Clients borrow the trainer of the
/// thread they run on, so the number of models is bounded by the number of threads that train, never by
/// the number of clients.
/// </summary>
public sealed class TrainerPool : IDisposable
{
    private readonly ThreadLocal<LocalTrainer> _trainers;
    private readonly IDisposable _torchThreads;
    private readonly TrainerPoolCounters? _counters;
    private int _busy;

    /// <param name="counters">Told of every model built and every training run, for benchmarks and tests that check the
    /// pool's bounds; without it the pool counts nothing.</param>
    public TrainerPool(ModelKind kind, int torchThreads, TrainerPoolCounters? counters = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(torchThreads);
        // Process-wide in libtorch, and results depend on it: held for as long as the pool lives.
        _torchThreads = TorchThreads.Acquire(torchThreads);
        _counters = counters;
        _trainers = new ThreadLocal<LocalTrainer>(() =>
        {
            var trainer = new LocalTrainer(kind);
            counters?.ModelBuilt();
            return trainer;
        }, trackAllValues: true);
    }

    /// <summary>For tests: each piece of work first sleeps this long, as on a slow or loaded host.</summary>
    public TimeSpan HostDelay { get; init; }

    /// <summary>Runs <paramref name="work"/> with the calling thread's trainer.</summary>
    public T Run<T>(Func<LocalTrainer, T> work)
    {
        var trainer = _trainers.Value!;
        Interlocked.Increment(ref _busy);
        long started = _counters?.Started() ?? 0;
        try
        {
            return Work(work, trainer);
        }
        finally
        {
            _counters?.Done(started);
            // Between rounds, once every worker is done: what training freed goes back to the kernel.
            if (Interlocked.Decrement(ref _busy) == 0 && TrimWhenIdle)
            {
                NativeHeap.Trim();
            }
        }
    }

    /// <summary>Trims the native heap (<see cref="NativeHeap"/>) when the last running work ends. On by default.</summary>
    public bool TrimWhenIdle { get; init; } = true;

    private T Work<T>(Func<LocalTrainer, T> work, LocalTrainer trainer)
    {
        if (HostDelay > TimeSpan.Zero)
        {
            Thread.Sleep(HostDelay);
        }
        return work(trainer);
    }

    public void Dispose()
    {
        foreach (var trainer in _trainers.Values)
        {
            trainer.Dispose();
        }
        _trainers.Dispose();
        _torchThreads.Dispose();
    }
}
