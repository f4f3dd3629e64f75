namespace AkkaFed.Host.Chaos;

/// <summary>One resident-memory reading of a node: when, after which round, and how much.</summary>
internal readonly record struct MemorySample(DateTime At, int AfterRound, long Kb);

/// <summary>
/// One life of a cluster node the soak started (an <c>akkafed server</c> or <c>akkafed client</c> process, through
/// <see cref="NodeProcess"/>): its pid, its exit, its memory over time, and what the soak did to it. Touched only by
/// the soak's control loop, apart from <see cref="Exited"/>, which completes on its own.
/// </summary>
internal sealed class ChaosNode : IDisposable
{
    private readonly NodeProcess _process;

    private ChaosNode(string name, bool server, int index, int incarnation, NodeProcess process, int pid, int startedAfterRound)
    {
        Name = name;
        IsServer = server;
        Index = index;
        Incarnation = incarnation;
        _process = process;
        Pid = pid;
        StartedAt = DateTime.UtcNow;
        StartedAfterRound = startedAfterRound;
        Exited = WatchExit(process);
    }

    /// <summary>E.g. <c>client-2#1</c>: client node 2 in its second life.</summary>
    public string Name { get; }
    public bool IsServer { get; }
    public int Index { get; }
    public int Incarnation { get; }
    public int Pid { get; }
    public DateTime StartedAt { get; }
    public int StartedAfterRound { get; }

    /// <summary>The exit code once the process has ended; -9 when the soak killed it (the code of a killed process is not kept).</summary>
    public Task<int> Exited { get; }

    public bool IsRunning => !Exited.IsCompleted;

    /// <summary>The node's Akka port, once it has printed its address.</summary>
    public int? Port { get; set; }

    public ClientPersonality? Personality { get; init; }

    public bool KilledBySoak { get; private set; }

    /// <summary>When the soak last sent SIGCONT after a SIGSTOP; null if it never paused this node.</summary>
    public DateTime? ResumedAt { get; private set; }

    /// <summary>When a paused node is due to continue; null while it runs.</summary>
    public DateTime? PausedUntil { get; private set; }

    /// <summary>The round after which this life became the active server (0 from its start); null while standby.</summary>
    public int? ActiveSinceRound { get; set; }

    /// <summary>What the process printed that says how its run ended ("run finished after round 20", ...).</summary>
    public string? Ending { get; set; }

    public List<MemorySample> Memory { get; } = new();

    /// <summary>Starts <c>akkafed</c> with <paramref name="args"/> plus a marker argument by which its pid is found.</summary>
    public static ChaosNode Start(string name, bool server, int index, int incarnation, IEnumerable<string> args, Action<string> onLine,
        int startedAfterRound, ClientPersonality? personality = null)
    {
        // node-name only names a client's clients when it holds its own data (partition-count 1), which the soak never
        // uses: here it marks the process, so that its pid can be found.
        string marker = $"chaos-{Environment.ProcessId}-{name}";
        var process = NodeProcess.Start(name, args.Concat(new[] { "--node-name", marker }), onLine);
        int? pid = null;
        // Process.Start returns after the exec, so the marker is there at once; the bound is for a machine under load.
        for (int attempt = 0; attempt < 600 && pid is null; attempt++)
        {
            pid = LinuxProcesses.ChildWithArgument(marker);
            if (pid is null)
            {
                Thread.Sleep(50);
            }
        }
        if (pid is null)
        {
            process.Dispose();
            throw new InvalidOperationException($"{name} started, but no child process with argument {marker} appeared in /proc within 30 s");
        }
        return new ChaosNode(name, server, index, incarnation, process, pid.Value, startedAfterRound) { Personality = personality };
    }

    private static async Task<int> WatchExit(NodeProcess process)
    {
        try
        {
            return await process.WaitForExit(TimeSpan.FromDays(7));
        }
        catch (InvalidOperationException)
        {
            // Killed and disposed before its exit code was read.
            return -9;
        }
    }

    /// <summary><c>kill -9</c>, as a crash would; returns once the process is gone.</summary>
    public void Kill()
    {
        KilledBySoak = true;
        _process.Dispose();
    }

    public void Pause(TimeSpan length)
    {
        LinuxProcesses.Signal(Pid, LinuxProcesses.SigStop);
        PausedUntil = DateTime.UtcNow + length;
    }

    public void Resume()
    {
        if (PausedUntil is null)
        {
            return;
        }
        PausedUntil = null;
        ResumedAt = DateTime.UtcNow;
        if (IsRunning)
        {
            LinuxProcesses.Signal(Pid, LinuxProcesses.SigCont);
        }
    }

    public void SampleMemory(int afterRound)
    {
        if (IsRunning && LinuxProcesses.ResidentKb(Pid) is { } kb)
        {
            Memory.Add(new MemorySample(DateTime.UtcNow, afterRound, kb));
        }
    }

    /// <summary>Kills the process if it still runs (a paused one is continued first, so that it can die).</summary>
    public void Dispose()
    {
        if (IsRunning && PausedUntil is not null)
        {
            Resume();
        }
        _process.Dispose();
    }
}
