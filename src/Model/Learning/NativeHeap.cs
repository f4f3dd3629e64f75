using System.Diagnostics;
using System.Runtime.InteropServices;

namespace AkkaFed.Model.Learning;

/// <summary>
/// Gives glibc's free memory back to the kernel. libtorch allocates and frees tensors from many threads, and glibc
/// keeps what they free in per-thread arenas: over hundreds of rounds the memory held free grew from 77 to 128 MB
/// while the memory in use stayed flat, and resident memory grew with it (BENCHMARKS.md, memory-growth).
/// <c>malloc_trim(0)</c> returns the free pages of every arena. Elsewhere than glibc it does nothing.
/// <para>
/// <see cref="Tune"/> also sets glibc's thresholds once, from inside the process, as <c>MALLOC_MMAP_THRESHOLD_</c>
/// and <c>MALLOC_TRIM_THRESHOLD_</c> would from outside (BENCHMARKS.md, malloc tuning).
/// </para>
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

    /// <summary>What <see cref="Tune"/> did.</summary>
    public enum TuningOutcome
    {
        /// <summary>Both thresholds were set.</summary>
        Applied,
        /// <summary><c>AKKAFED_MALLOC_TUNING=off</c>: glibc's defaults were left alone.</summary>
        Disabled,
        /// <summary>The user set a threshold in the environment; glibc already applied theirs and we leave it.</summary>
        UserSet,
        /// <summary>Not Linux, or a C library other than glibc (musl, for one): nothing to tune.</summary>
        Unavailable,
        /// <summary>glibc refused a value (<c>mallopt</c> returned 0).</summary>
        Refused,
    }

    /// <summary>Set by <see cref="Tune"/>: 1 GiB. Allocations below it come from the heap, so libtorch's activations
    /// (100 MB a tensor when evaluating the McMahan CNN at batch 1,000) are reused instead of mapped and faulted in
    /// anew each batch. Setting it also turns off glibc's own adjusting of both thresholds, as the environment
    /// variable does. 32 MiB was measured too: it left evaluation at batch 1,000 as slow as the defaults.</summary>
    public const int MmapThreshold = 1 << 30;

    /// <summary>Set by <see cref="Tune"/>: 1 GiB. free() gives the top of the heap back to the kernel only beyond
    /// it; <see cref="Trim"/> between rounds still gives everything free back.</summary>
    public const int TrimThreshold = 1 << 30;

    /// <summary>The environment variable that turns the tuning off: <c>AKKAFED_MALLOC_TUNING=off</c>.</summary>
    public const string TuningVariable = "AKKAFED_MALLOC_TUNING";

    private static readonly Lazy<TuningOutcome> Tuned = new(() => Apply(Decide(Environment.GetEnvironmentVariable, OperatingSystem.IsLinux())));

    /// <summary>
    /// Sets glibc's mmap and trim thresholds (<see cref="MmapThreshold"/>, <see cref="TrimThreshold"/>) the first
    /// time it is called, and returns what it did then on every call. Every <see cref="LocalTrainer"/> calls it.
    /// </summary>
    public static TuningOutcome Tune() => Tuned.Value;

    /// <summary>
    /// What <see cref="Tune"/> should do, from the environment alone: <see cref="TuningOutcome.Applied"/> means go
    /// ahead. A threshold the user set (<c>MALLOC_MMAP_THRESHOLD_</c>, <c>MALLOC_TRIM_THRESHOLD_</c>, or either in
    /// <c>GLIBC_TUNABLES</c>) wins: glibc read it at start-up, and we change nothing.
    /// </summary>
    public static TuningOutcome Decide(Func<string, string?> environment, bool isLinux)
    {
        if (!isLinux)
        {
            return TuningOutcome.Unavailable;
        }
        if (string.Equals(environment(TuningVariable)?.Trim(), "off", StringComparison.OrdinalIgnoreCase))
        {
            return TuningOutcome.Disabled;
        }
        string tunables = environment("GLIBC_TUNABLES") ?? "";
        if (environment("MALLOC_MMAP_THRESHOLD_") is not null || environment("MALLOC_TRIM_THRESHOLD_") is not null
            || tunables.Contains("glibc.malloc.mmap_threshold", StringComparison.Ordinal)
            || tunables.Contains("glibc.malloc.trim_threshold", StringComparison.Ordinal))
        {
            return TuningOutcome.UserSet;
        }
        return TuningOutcome.Applied;
    }

    private static TuningOutcome Apply(TuningOutcome decision)
    {
        if (decision != TuningOutcome.Applied)
        {
            return decision;
        }
        try
        {
            // Only glibc has gnu_get_libc_version; mallopt's parameter numbers below are glibc's.
            _ = gnu_get_libc_version();
            bool mmap = mallopt(MmapThresholdParameter, MmapThreshold) == 1;
            bool trim = mallopt(TrimThresholdParameter, TrimThreshold) == 1;
            return mmap && trim ? TuningOutcome.Applied : TuningOutcome.Refused;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return TuningOutcome.Unavailable;
        }
    }

    private const int TrimThresholdParameter = -1; // M_TRIM_THRESHOLD in glibc's malloc.h
    private const int MmapThresholdParameter = -3; // M_MMAP_THRESHOLD

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "gnu_get_libc_version")]
    private static extern IntPtr gnu_get_libc_version();

    // DllImport rather than LibraryImport: the generated form needs unsafe code enabled in the project.
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);
}
