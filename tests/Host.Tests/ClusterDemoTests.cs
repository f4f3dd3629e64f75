using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace AkkaFed.Host.Tests;

/// <summary>`akkafed cluster-demo` as a user runs it: a process of its own, with children of its own.</summary>
public sealed class ClusterDemoTests
{
    [Fact]
    public async Task A_sigterm_to_cluster_demo_takes_its_node_processes_down_with_it()
    {
        using var folder = new TempDirectory();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "akkafed.dll"), "cluster-demo", "--client-nodes", "2", "--rounds", "1000",
                     "--dataset", "synthetic", "--model", "2nn", "--output", folder.Path,
                 })
        {
            start.ArgumentList.Add(arg);
        }
        using var demo = Process.Start(start)!;
        var pids = new List<int>();
        var allStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        demo.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null && Regex.Match(e.Data, @"^cluster-demo: started \S+ \(pid (\d+)\)") is { Success: true } started)
            {
                lock (pids)
                {
                    pids.Add(int.Parse(started.Groups[1].Value));
                    if (pids.Count == 3)
                    {
                        allStarted.TrySetResult();
                    }
                }
            }
        };
        demo.ErrorDataReceived += (_, _) => { };
        demo.BeginOutputReadLine();
        demo.BeginErrorReadLine();
        try
        {
            await allStarted.Task.WaitAsync(TimeSpan.FromMinutes(2));
            Assert.All(pids, pid => Assert.True(Running(pid), $"node {pid} should run"));

            using (var term = Process.Start("kill", new[] { "-TERM", $"{demo.Id}" }))
            {
                await term.WaitForExitAsync();
            }
            await demo.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));

            // Its nodes went with it: none is left running on its own.
            Assert.All(pids, pid => Assert.False(Running(pid), $"node {pid} outlived cluster-demo"));
        }
        finally
        {
            if (!demo.HasExited)
            {
                demo.Kill(entireProcessTree: true);
            }
            lock (pids)
            {
                foreach (int pid in pids.Where(Running))
                {
                    Process.GetProcessById(pid).Kill(entireProcessTree: true);
                }
            }
        }
    }

    /// <summary>The process exists and is not a zombie waiting to be reaped.</summary>
    private static bool Running(int pid)
    {
        string status = $"/proc/{pid}/status";
        if (!File.Exists(status))
        {
            return false;
        }
        try
        {
            return !File.ReadLines(status).Any(line => line.StartsWith("State:", StringComparison.Ordinal) && line.Contains("zombie"));
        }
        catch (IOException)
        {
            return false;
        }
    }
}
