using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AkkaFed.Host;

/// <summary>
/// Another <c>akkafed</c> process on this machine (a cluster node), as <c>akkafed cluster-demo</c> starts them.
/// Disposing kills it if it still runs.
/// </summary>
public sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private int _disposed;

    private NodeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    /// <summary>The operating system's id of the process.</summary>
    public int Id => _process.Id;

    /// <summary>
    /// Starts <c>akkafed</c> with <paramref name="args"/> and hands each line it prints, standard output and error,
    /// to <paramref name="onLine"/> (from two threads: the two streams are read apart).
    /// </summary>
    public static NodeProcess Start(string name, IEnumerable<string> args, Action<string> onLine)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet akkafed.dll` (or a test host, or another program) akkafed is a dll beside this assembly.
        if (!Path.GetFileNameWithoutExtension(start.FileName).Equals("akkafed", StringComparison.Ordinal))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "akkafed.dll"));
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = start };
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is not null)
            {
                onLine(e.Data);
            }
        };
        process.OutputDataReceived += collect;
        process.ErrorDataReceived += collect;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new NodeProcess(name, process);
    }

    /// <summary>
    /// Waits for the process to exit; kills it and throws if it has not within <paramref name="timeout"/>, or when
    /// <paramref name="cancel"/> is cancelled.
    /// </summary>
    public async Task<int> WaitForExit(TimeSpan timeout, CancellationToken cancel = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Dispose();
            cancel.ThrowIfCancellationRequested();
            throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds:F0}s");
        }
    }

    /// <summary>Ends the process at once if it still runs, as a crash would.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }

    /// <summary>A TCP port that is free on the loopback interface right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
