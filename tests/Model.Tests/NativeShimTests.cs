using System.Diagnostics;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>The build's fix for TorchSharp's native shim on Debian 12 (build/WeakenGlibcxxVersion.cs).</summary>
public sealed class NativeShimTests
{
    [Fact]
    public void The_output_copy_of_the_shim_asks_for_glibcxx_3_4_32_only_weakly_and_the_nuget_cache_is_untouched()
    {
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        string home = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                      ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string cache = Path.Combine(home, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

        Assert.Contains("GLIBCXX_3.4.32  Flags: WEAK", ReadElfVersions(output));
        if (File.Exists(cache))
        {
            Assert.Contains("GLIBCXX_3.4.32  Flags: none", ReadElfVersions(cache));
        }
    }

    private static string ReadElfVersions(string path)
    {
        var start = new ProcessStartInfo("readelf", $"-V \"{path}\"") { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return text;
    }
}
