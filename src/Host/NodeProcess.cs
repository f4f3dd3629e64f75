using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace AkkaFed.Host;

/// <summary>
/// Another <c>akkafed</c> process on this machine (a cluster node), with its output kept line by line.
/// Used by <c>akkafed cluster-demo</c> and by the multi-process tests. Disposing kills it.
/// </summary>
public sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _newLine = new(0);

    private NodeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }
    public IEnumerable<string> Lines => _lines;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>akkafed</c> with <paramref name="args"/>; every output line also goes to <paramref name="echo"/>.</summary>
    public static NodeProcess Start(string name, IEnumerable<string> args, Action<string, string>? echo = null)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet akkafed.dll` (or a test host) the program is a dll beside this assembly.
        string program = Path.Combine(AppContext.BaseDirectory, "akkafed.dll");
        if (!Path.GetFileNameWithoutExtension(start.FileName).Equals("akkafed", StringComparison.Ordinal))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(program);
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = start };
        var node = new NodeProcess(name, process);
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            node._lines.Enqueue(e.Data);
            node._newLine.Release();
            echo?.Invoke(name, e.Data);
        };
        process.OutputDataReceived += collect;
        process.ErrorDataReceived += collect;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>Waits until a line matches <paramref name="pattern"/>; throws <see cref="TimeoutException"/> naming it after <paramref name="timeout"/>.</summary>
    public async Task<string> WaitForLine(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var match = _lines.FirstOrDefault(regex.IsMatch);
            if (match is not null)
            {
                return match;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"{Name}: no line matching '{pattern}' within {timeout.TotalSeconds:F0}s; last lines:\n" +
                                           string.Join('\n', _lines.TakeLast(15)));
            }
            await _newLine.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Waits for the process to exit; kills it and throws if it has not within <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExit(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds:F0}s");
        }
    }

    /// <summary>Ends the process at once, as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        Kill();
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
