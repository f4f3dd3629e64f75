using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace AkkaFed.Benchmarks.Tests;

/// <summary>`akkafed-benchmarks` as BENCHMARKS.md runs it: the suites and targets by name, and its exit code.</summary>
[Collection(BenchmarkCollection.Name)]
public sealed class CommandLineTests
{
    [Fact]
    public void Scale_targets_are_chosen_by_name_and_the_run_exits_zero_when_its_checks_hold()
    {
        var (exit, output, error) = Benchmarks("--suite", "scale", "--quick", "--target", "aggregation", "serialization");

        Assert.True(exit == 0, output + error);
        Assert.Contains("| aggregation: streaming aggregation of 4 McMahan-CNN updates", output);
        Assert.Matches(@"\| serialization: a McMahan-CNN update, chunked read \|", output);
        Assert.DoesNotMatch(@"\| (throughput|small-clients|registered-clients|memory-growth): ", output);
        var checks = Regex.Match(output, @"checks: (\d+) of (\d+) hold");
        Assert.True(checks.Success, output);
        Assert.Equal(checks.Groups[2].Value, checks.Groups[1].Value);
    }

    [Theory]
    [InlineData("--suite scale --target 3", "registered-clients")]
    [InlineData("--target aggregation", "--suite scale")]
    [InlineData("--suite scale --rounds 5", "round 10")]
    [InlineData("--suite cluster --quick", "no quick mode")]
    [InlineData("--suite compression --compression", "add --suite cluster")]
    public void Settings_that_mean_nothing_are_refused_with_a_message_saying_why(string args, string message)
    {
        var (exit, _, error) = Benchmarks(args.Split(' '));

        Assert.NotEqual(0, exit);
        Assert.Contains(message, error);
    }

    private static (int Exit, string Output, string Error) Benchmarks(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "akkafed-benchmarks.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "akkafed-benchmarks did not exit within 5 minutes");
        return (process.ExitCode, output.Result, error.Result);
    }
}
