using System.Runtime.Intrinsics;
using AkkaFed.Model.Federation;

namespace AkkaFed.Benchmarks;

/// <summary>What a figure was measured on: figures from different CPUs are not comparable (BENCHMARKS.md).</summary>
public static class Machine
{
    /// <summary>E.g. "AMD EPYC, 2 cores, vectors accelerated: 128 256 512 bits, aggregation uses Bits512".</summary>
    public static string Describe()
    {
        var widths = new[] { (Vector128.IsHardwareAccelerated, "128"), (Vector256.IsHardwareAccelerated, "256"), (Vector512.IsHardwareAccelerated, "512") }
            .Where(w => w.Item1).Select(w => w.Item2).ToArray();
        string accelerated = widths.Length == 0 ? "none" : string.Join(' ', widths) + " bits";
        return $"{CpuModel()}, {Environment.ProcessorCount} cores, vectors accelerated: {accelerated}, aggregation uses {FixedPointSum.Widest}";
    }

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line?.IndexOf(':') is int colon and >= 0)
            {
                return line[(colon + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }
}
