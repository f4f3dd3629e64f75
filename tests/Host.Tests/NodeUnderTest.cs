using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace AkkaFed.Host.Tests;

/// <summary>
/// A node process a test started: every line it prints is kept, so the test can wait for one, and logged to the
/// test's output. Disposing kills it.
/// </summary>
internal sealed class NodeUnderTest : IDisposable
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _newLine = new(0);
    private readonly NodeProcess _process;

    private NodeUnderTest(string name, IEnumerable<string> args, ITestOutputHelper log)
    {
        _process = NodeProcess.Start(name, args, line =>
        {
            _lines.Enqueue(line);
            _newLine.Release();
            log.WriteLine($"[{name}] {line}");
        });
    }

    public string Name => _process.Name;

    /// <summary>Every line the process printed so far.</summary>
    public IReadOnlyList<string> Lines => _lines.ToArray();

    /// <summary>Starts <c>akkafed</c> with <paramref name="args"/>.</summary>
    public static NodeUnderTest Start(ITestOutputHelper log, string name, params string[] args) => new(name, args, log);

    /// <summary>
    /// Waits until a line matches <paramref name="pattern"/> (and <paramref name="where"/>, if given); throws
    /// <see cref="TimeoutException"/> naming it after <paramref name="timeout"/>.
    /// </summary>
    public async Task<string> WaitForLine(string pattern, TimeSpan timeout, Func<Match, bool>? where = null)
    {
        var regex = new Regex(pattern);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var match = _lines.FirstOrDefault(line => regex.Match(line) is { Success: true } found && (where is null || where(found)));
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

    /// <inheritdoc cref="NodeProcess.WaitForExit"/>
    public Task<int> WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>Sends the process a signal (STOP, CONT, TERM, ...), as <c>kill -SIGNAL</c> does.</summary>
    public void Signal(string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", new[] { $"-{signal}", $"{_process.Id}" })!;
        kill.WaitForExit();
    }

    /// <summary>Ends the process at once, as a crash would.</summary>
    public void Kill() => _process.Dispose();

    public void Dispose() => _process.Dispose();
}
