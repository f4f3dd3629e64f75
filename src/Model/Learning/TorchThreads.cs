using TorchSharp;

namespace AkkaFed.Model.Learning;

/// <summary>
/// libtorch's intra-op thread count, which is process-wide and changes results: with 2 threads a convolution's
/// backward pass sums in another order than with 1, and the trained weights differ in their last bits. So everything
/// that trains or evaluates for a run holds a lease on one count for as long as it runs. Leases on the same count
/// share it; a lease on another count while one is held is refused, because it would silently change the other
/// run's results. This is the one guard over that native global, which is why it is static.
/// </summary>
public static class TorchThreads
{
    private static readonly object Gate = new();
    private static int _count;
    private static int _holders;

    /// <summary>Sets libtorch's intra-op threads to <paramref name="count"/> until the lease is disposed.</summary>
    /// <exception cref="InvalidOperationException">another lease on a different count is held in this process.</exception>
    public static IDisposable Acquire(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        lock (Gate)
        {
            if (_holders > 0 && _count != count)
            {
                throw new InvalidOperationException(
                    $"torch threads are process-wide: {_count} are in use by another run in this process, and this one asks for {count}; " +
                    "results depend on the count, so runs with different counts cannot share a process");
            }
            if (_holders == 0 && torch.get_num_threads() != count)
            {
                torch.set_num_threads(count);
            }
            _count = count;
            _holders++;
        }
        return new Lease();
    }

    /// <summary>The count held now, or null when no lease is held.</summary>
    public static int? Held
    {
        get
        {
            lock (Gate)
            {
                return _holders > 0 ? _count : null;
            }
        }
    }

    private sealed class Lease : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                lock (Gate)
                {
                    _holders--;
                }
            }
        }
    }
}
