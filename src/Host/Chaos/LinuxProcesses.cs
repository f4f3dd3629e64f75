using System.Globalization;
using System.Runtime.InteropServices;

namespace AkkaFed.Host.Chaos;

/// <summary>
/// What the soak asks of Linux about the node processes it started: their pid, their resident memory, and signals
/// .NET has no API for (SIGSTOP, SIGCONT).
/// </summary>
internal static class LinuxProcesses
{
    public const int SigKill = 9;
    public const int SigCont = 18;
    public const int SigStop = 19;

    // DllImport rather than LibraryImport: the generated form needs unsafe code enabled in the project.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public static void Signal(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
        {
            throw new IOException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public static bool Supported => OperatingSystem.IsLinux() && Directory.Exists("/proc/self");

    /// <summary>
    /// The pid of the child of this process whose command line holds <paramref name="marker"/> as one argument.
    /// <see cref="NodeProcess"/> does not say which pid it started, so the soak gives each node a unique marker and looks
    /// it up in /proc.
    /// </summary>
    public static int? ChildWithArgument(string marker)
    {
        int self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }
            try
            {
                if (ParentOf(pid) == self && File.ReadAllText($"{dir}/cmdline").Split('\0').Contains(marker))
                {
                    return pid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while it was read: not the one.
            }
        }
        return null;
    }

    /// <summary>The parent pid, from /proc/PID/stat (its fourth field, after the command name in parentheses).</summary>
    private static int ParentOf(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[1], CultureInfo.InvariantCulture);
    }

    /// <summary>VmRSS of <paramref name="pid"/> in kB, or null when it is gone.</summary>
    public static long? ResidentKb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
