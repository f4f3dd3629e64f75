using System.Diagnostics;
using System.Runtime.InteropServices;

namespace AkkaFed.Model.Learning;

/// <summary>
/// Gives glibc's free memory back to the kernel. libtorch allocates and frees tensors from many threads, and glibc
/// keeps what they free in per-thread arenas: over hundreds of rounds the memory held free grew from 77 to 128 MB
/// while the memory in use stayed flat, and resident memory grew with it (BENCHMARKS.md, memory-growth).
/// <c>malloc_trim(0)</c> returns the free pages of every arena. Elsewhere than glibc it does nothing.
/// </summary>
public static class NativeHeap
{
    private static readonly long MinInterval = Stopwatch.Frequency; // one second
    private static long _lastTrim = -MinInterval;
    private static int _available = OperatingSystem.IsLinux() ? 1 : 0;
    private static long _trims;
    private static long _trimTicks;

    /// <summary>Trims done in this process, and the time they took: for the memory benchmark.</summary>
    public static (long Count, TimeSpan Time) Done => (Interlocked.Read(ref _trims), Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _trimTicks)));

    /// <summary>Trims, unless another trim ran less than a second ago (a pool can go idle many times a round).</summary>
    public static void Trim()
    {
        long now = Stopwatch.GetTimestamp();
        long last = Interlocked.Read(ref _lastTrim);
        if (Volatile.Read(ref _available) == 0 || now - last < MinInterval || Interlocked.CompareExchange(ref _lastTrim, now, last) != last)
        {
            return;
        }
        try
        {
            long started = Stopwatch.GetTimestamp();
            malloc_trim(0);
            Interlocked.Add(ref _trimTicks, Stopwatch.GetTimestamp() - started);
            Interlocked.Increment(ref _trims);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl and other C libraries have no malloc_trim; their allocators behave otherwise.
            Volatile.Write(ref _available, 0);
        }
    }

    // DllImport rather than LibraryImport: the generated form needs unsafe code enabled in the project.
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);
}
