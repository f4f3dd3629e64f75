using System.Globalization;

namespace AkkaFed.Actors.Checkpoints;

/// <summary>
/// Checkpoints in a folder, one file per completed round, written atomically and durably (a temporary file of a
/// unique name, flushed to disk, renamed, then the folder flushed) so a crash mid-write never leaves a half file
/// under a checkpoint's name, and a failed write leaves nothing. The newest few are kept, so a
/// damaged newest file falls back to the one before.
/// </summary>
public sealed class CheckpointStore
{
    private const string Prefix = "checkpoint-";
    private const string Suffix = ".akfed";

    public CheckpointStore(string directory, int keep = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 2);
        Directory = directory;
        Keep = keep;
    }

    public string Directory { get; }
    public int Keep { get; }

    /// <summary>Writes <paramref name="checkpoint"/> and prunes older ones. Returns the file's path.</summary>
    public string Save(Checkpoint checkpoint)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string path = Path.Combine(Directory, $"{Prefix}{checkpoint.State.Round:D8}{Suffix}");
        // Unique among all hosts that share the folder (in containers every server may be PID 1) and all writers in
        // one process, so no writer ever opens another's half-written file.
        string temporary = $"{path}.{Environment.MachineName}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(checkpoint.ToBytes());
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        // The rename is durable only once the folder's entry is on disk too.
        DirectorySync.Flush(Directory);
        foreach (var old in Files().Skip(Keep))
        {
            File.Delete(old);
        }
        return path;
    }

    /// <summary>
    /// The newest checkpoint that reads cleanly, or null when there is none. Each damaged or unreadable
    /// file is reported through <paramref name="report"/> and skipped.
    /// </summary>
    public Checkpoint? LoadLatest(Action<string> report)
    {
        foreach (var path in Files())
        {
            try
            {
                return Checkpoint.FromBytes(File.ReadAllBytes(path));
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                report($"checkpoint {path} is unusable ({e.Message}); trying the one before");
            }
        }
        return null;
    }

    /// <summary>Checkpoint files, newest round first.</summary>
    private IEnumerable<string> Files() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.EnumerateFiles(Directory, $"{Prefix}*{Suffix}")
                .Select(path => (Path: path, Round: RoundOf(path)))
                .Where(file => file.Round >= 0)
                .OrderByDescending(file => file.Round)
                .Select(file => file.Path)
                .ToArray()
            : Array.Empty<string>();

    private static int RoundOf(string path)
    {
        string name = Path.GetFileName(path);
        string digits = name[Prefix.Length..^Suffix.Length];
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int round) ? round : -1;
    }
}
