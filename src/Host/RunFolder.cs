using System.Text;
using Akka.Configuration;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model;

namespace AkkaFed.Host;

/// <summary>
/// A run's output folder: checked before any data loads, never silently over an earlier run's results, and holding
/// what a run leaves behind: its metrics, model, plot, TensorBoard events, effective settings and, when it stopped
/// early, a checkpoint to resume from.
/// </summary>
public sealed class RunFolder
{
    /// <summary>The effective settings of the run, as HOCON: <c>--config DIR/settings.conf</c> runs it again.</summary>
    public const string SettingsFile = "settings.conf";

    /// <summary>The checkpoint of the last completed round of a run that stopped early (<c>simulate --resume DIR</c>).</summary>
    public const string CheckpointFolder = "checkpoint";

    /// <summary>What an earlier run leaves in a folder: each is replaced with <c>--overwrite</c>, never anything else.</summary>
    public static readonly string[] Results =
    {
        "metrics.csv", "metrics.jsonl", "model.pt", "model.safetensors", "plot.png", SettingsFile, CheckpointFolder,
    };

    /// <summary>Settings a resumed run may change: they decide how long it runs and where, not what a round computes.</summary>
    public static readonly string[] ChangeableOnResume = { "rounds", "max-failed-rounds", "threads", "output", "overwrite", "cache-dir" };

    private RunFolder(string path) => Path = path;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string CheckpointDirectory => File(CheckpointFolder);

    /// <summary>
    /// The folder for a new run: created if need be and checked to be writable, and refused if an earlier run's results
    /// are in it unless <paramref name="overwrite"/>, in which case those results (and only those) are removed.
    /// </summary>
    public static RunFolder ForNewRun(string path, bool overwrite)
    {
        var folder = Writable(path);
        var earlier = Results.Where(name => System.IO.File.Exists(folder.File(name)) || Directory.Exists(folder.File(name))).ToArray();
        if (earlier.Length == 0)
        {
            return folder;
        }
        if (!overwrite)
        {
            throw new SettingsException("output",
                $"{path} already holds an earlier run's results ({string.Join(", ", earlier)}): choose another --output, " +
                $"pass --overwrite to replace them, or continue that run with --resume {path}");
        }
        // TensorBoard's event files are its writer's to replace (Reports.TensorBoardWriter).
        foreach (var name in earlier)
        {
            if (Directory.Exists(folder.File(name)))
            {
                Directory.Delete(folder.File(name), recursive: true);
            }
            else
            {
                System.IO.File.Delete(folder.File(name));
            }
        }
        return folder;
    }

    /// <summary>
    /// A cluster server's folder, checked to be writable. Its results are the run's, which every server node continues
    /// after a failover from the shared checkpoints: they are not an earlier run's, and are not refused.
    /// </summary>
    public static RunFolder ForServer(string path) => Writable(path);

    /// <summary>The folder of an interrupted run, to continue: it must hold that run's settings and checkpoint.</summary>
    public static RunFolder ForResume(string path)
    {
        if (!Directory.Exists(path))
        {
            throw new SettingsException("resume", $"{path} is not a folder");
        }
        var folder = Writable(path);
        foreach (var needed in new[] { SettingsFile, CheckpointFolder })
        {
            if (!System.IO.File.Exists(folder.File(needed)) && !Directory.Exists(folder.File(needed)))
            {
                throw new SettingsException("resume", $"{path} has no {needed}: it is not the output folder of an interrupted run");
            }
        }
        return folder;
    }

    /// <summary>
    /// Refuses a resume whose settings differ from the recorded run's in anything but <see cref="ChangeableOnResume"/>:
    /// the rest decides what each round computes, so a resumed run would not be the run that stopped.
    /// </summary>
    public void CheckSameRun(Config config)
    {
        var recorded = ConfigurationFactory.ParseString(System.IO.File.ReadAllText(File(SettingsFile)));
        var mine = Flatten(config);
        var theirs = Flatten(recorded);
        var differences = mine.Keys.Union(theirs.Keys)
            .Where(key => !ChangeableOnResume.Contains(key) && mine.GetValueOrDefault(key, "") != theirs.GetValueOrDefault(key, ""))
            .Order(StringComparer.Ordinal)
            .Select(key => $"{key} = '{mine.GetValueOrDefault(key, "")}' (the run had '{theirs.GetValueOrDefault(key, "")}')")
            .ToArray();
        if (differences.Length > 0)
        {
            throw new SettingsException("resume",
                $"the run in {Path} had other settings: {string.Join(", ", differences)}; only {string.Join(", ", ChangeableOnResume)} may change on a resume");
        }
    }

    /// <summary>Writes the run's effective <c>akkafed</c> settings, every key resolved, as HOCON.</summary>
    public void WriteSettings(Config config, string command)
    {
        var text = new StringBuilder()
            .AppendLine($"# The effective settings of `akkafed {command}`, written {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}.")
            .AppendLine("# Run it again with `akkafed simulate --config settings.conf --output OTHER`.")
            .AppendLine("akkafed {");
        foreach (var (key, value) in Flatten(config))
        {
            text.Append("  ").Append(key).Append(" = ").AppendLine(Quote(value));
        }
        text.AppendLine("}");
        System.IO.File.WriteAllText(File(SettingsFile), text.ToString());
    }

    /// <summary>Every key of the <c>akkafed</c> section, dotted ("cluster.port"), with its value as text, in order.</summary>
    public static SortedDictionary<string, string> Flatten(Config config)
    {
        var section = config.GetConfig("akkafed") ?? throw new SettingsException("akkafed", "the configuration has no such section");
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, _) in section.AsEnumerable())
        {
            values[key.Replace("\"", "")] = section.GetString(key, "") ?? "";
        }
        return values;
    }

    /// <summary>Saves the state after the run's last completed round, with everything a resume needs; returns the file.</summary>
    public string SaveCheckpoint(Checkpoint checkpoint)
    {
        Directory.CreateDirectory(CheckpointDirectory);
        return new CheckpointStore(CheckpointDirectory, keep: 2).Save(checkpoint);
    }

    /// <summary>The checkpoint to resume from; refused (naming what differs) when another run wrote it.</summary>
    public Checkpoint LoadCheckpoint(RunFingerprint run, Action<string> report)
    {
        var (checkpoint, refusal) = new CheckpointStore(CheckpointDirectory, keep: 2).Resume(run, report);
        return refusal is not null ? throw new SettingsException("resume", refusal)
            : checkpoint ?? throw new SettingsException("resume", $"{CheckpointDirectory} holds no readable checkpoint");
    }

    private static RunFolder Writable(string path)
    {
        if (System.IO.File.Exists(path))
        {
            throw new SettingsException("output", $"--output {path} is a file, not a folder");
        }
        try
        {
            Directory.CreateDirectory(path);
            string probe = System.IO.Path.Combine(path, $".akkafed-write-test-{Environment.ProcessId}");
            System.IO.File.WriteAllBytes(probe, []);
            System.IO.File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new SettingsException("output", $"--output {path} cannot be written: {e.Message}");
        }
        return new RunFolder(System.IO.Path.GetFullPath(path));
    }

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}
