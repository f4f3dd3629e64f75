using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace AkkaFed.Model.Learning;

/// <summary>
/// What a <see cref="TrainerPool"/> did, for the benchmarks and tests that check its bounds: how many models it built,
/// how many clients trained at once (at most the workers), and how long each worker trained. Only a pool given one
/// counts; training itself never pays for it.
/// </summary>
public sealed class TrainerPoolCounters
{
    private readonly ConcurrentDictionary<int, StrongBox<long>> _busyTicks = new();
    private int _models;
    private int _active;
    private int _peakActive;
    private int _finished;

    /// <summary>How many models the pool built: at most one per thread that ever trained.</summary>
    public int ModelCount => Volatile.Read(ref _models);

    /// <summary>The most clients that were ever training at the same time.</summary>
    public int PeakConcurrency => Volatile.Read(ref _peakActive);

    /// <summary>How many trainings and evaluations have finished.</summary>
    public int Finished => Volatile.Read(ref _finished);

    /// <summary>Seconds each worker has spent training so far, by the worker's managed thread id.</summary>
    public IReadOnlyDictionary<int, double> BusySeconds() =>
        _busyTicks.ToDictionary(worker => worker.Key,
            worker => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref worker.Value.Value)).TotalSeconds);

    internal void ModelBuilt()
    {
        Interlocked.Increment(ref _models);
        _busyTicks.TryAdd(Environment.CurrentManagedThreadId, new StrongBox<long>());
    }

    /// <summary>A client starts training on the calling thread; returns the timestamp to hand to <see cref="Done"/>.</summary>
    internal long Started()
    {
        int active = Interlocked.Increment(ref _active);
        for (int peak = Volatile.Read(ref _peakActive); active > peak; peak = Volatile.Read(ref _peakActive))
        {
            Interlocked.CompareExchange(ref _peakActive, active, peak);
        }
        return Stopwatch.GetTimestamp();
    }

    /// <summary>The client that started at <paramref name="started"/> on the calling thread is done.</summary>
    internal void Done(long started)
    {
        var busy = _busyTicks.GetOrAdd(Environment.CurrentManagedThreadId, _ => new StrongBox<long>());
        Interlocked.Add(ref busy.Value, Stopwatch.GetTimestamp() - started);
        Interlocked.Decrement(ref _active);
        Interlocked.Increment(ref _finished);
    }
}
