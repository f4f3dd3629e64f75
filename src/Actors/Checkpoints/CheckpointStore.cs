namespace AkkaFed.Actors.Checkpoints;

/// <summary>
/// Checkpoints in a folder, one file per completed round, written atomically and durably (a temporary file of a
/// unique name, flushed to disk, renamed, then the folder flushed) so a crash mid-write never leaves a half file
/// under a checkpoint's name, and a failed write leaves nothing. The newest few of the run's own are kept, so a
/// damaged newest file falls back to the one before; files of other runs, and files this build cannot read, are
/// left alone.
/// </summary>
/// <remarks>
/// Fencing: a store that writes (one per driver incarnation) first claims an epoch one above every epoch in the folder,
/// by creating the file <c>epoch-N.claim</c> exclusively, so two servers never hold the same epoch and a claim is seen
/// before the claimant's first checkpoint lands. Every checkpoint records its writer's epoch, and the newest checkpoint
/// is the one of the highest epoch, then the highest round. Before each write a store looks again: a claim or a
/// checkpoint of a higher epoch means another server has taken over (a split brain, or a hand-over the old server did
/// not notice), and the store refuses to write (<see cref="CheckpointSupersededException"/>). The look and the write
/// are not atomic: a superseded server may still finish the one write it had begun, which then loses to the new
/// server's files because its epoch is lower. Reading (<see cref="LoadLatest"/>) claims nothing.
/// </remarks>
public sealed class CheckpointStore
{
    private const string Prefix = "checkpoint-";
    private const string Suffix = ".akfed";
    private const string ClaimPrefix = "epoch-";
    private const string ClaimSuffix = ".claim";

    // Files already reported as left alone: each is reported once, not after every round.
    private readonly HashSet<string> _reported = new();

    public CheckpointStore(string directory, int keep = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 2);
        Directory = directory;
        Keep = keep;
    }

    public string Directory { get; }
    public int Keep { get; }

    /// <summary>The epoch this store writes under, claimed by <see cref="Resume"/> or the first <see cref="Save"/>; 0 before.</summary>
    public int Epoch { get; private set; }

    /// <summary>A checkpoint file and its header, or why its header cannot be read.</summary>
    private sealed record Entry(string Path, CheckpointHeader? Header, string? Problem);

    /// <summary>
    /// Writes <paramref name="checkpoint"/> (which must carry its run's fingerprint) under this store's epoch and
    /// prunes the run's older ones; returns the file's path. Files it leaves alone are reported through
    /// <paramref name="report"/>, each once.
    /// </summary>
    /// <exception cref="CheckpointSupersededException">A claim or checkpoint of a higher epoch is in the folder: nothing was written.</exception>
    public string Save(Checkpoint checkpoint, Action<string>? report = null)
    {
        var fingerprint = checkpoint.Fingerprint
            ?? throw new ArgumentException("a checkpoint is saved with its run's fingerprint, which this one lacks", nameof(checkpoint));
        var entries = Scan();
        int epoch = Epoch > 0 ? Epoch : Claim(entries);
        var newer = entries.Where(entry => entry.Header is not null).Select(entry => (entry.Header!.Epoch, entry.Path))
            .Concat(Claims()).MaxBy(claim => claim.Epoch);
        if (newer.Epoch > epoch)
        {
            throw new CheckpointSupersededException(newer.Epoch,
                $"another server took over at epoch {newer.Epoch} ({newer.Path}): this server, epoch {epoch}, "
                + $"has stopped writing checkpoints to {Directory} and ends its run");
        }

        string path = Path.Combine(Directory, $"{Prefix}{checkpoint.State.Round:D8}{Suffix}");
        Write(checkpoint with { Epoch = epoch }, path);

        var mine = new List<Entry>();
        foreach (var entry in entries.Where(entry => entry.Path != path))
        {
            string? problem = entry.Problem ?? (BelongsTo(entry.Header!, fingerprint) ? null : "written by another run");
            if (problem is null)
            {
                mine.Add(entry);
            }
            else if (_reported.Add(entry.Path))
            {
                report?.Invoke($"checkpoint {entry.Path} is left in place and never pruned: {problem}");
            }
        }
        foreach (var old in Newest(mine).Skip(Keep - 1))
        {
            File.Delete(old.Path);
        }
        return path;
    }

    private void Write(Checkpoint checkpoint, string path)
    {
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
    }

    /// <summary>
    /// The newest checkpoint that reads cleanly, or null when there is none. Each damaged or unreadable
    /// file is reported through <paramref name="report"/> and skipped.
    /// </summary>
    public Checkpoint? LoadLatest(Action<string> report) => Latest(Scan(), report).Checkpoint;

    /// <summary>
    /// The newest checkpoint, for a run of <paramref name="run"/> to resume from; null when there is none. When that
    /// checkpoint belongs to another run, <c>Refusal</c> says so, naming the file and every setting that differs:
    /// the run must not resume, nor start afresh over another run's files. A checkpoint of format version 2 has no
    /// fingerprint: only its seed is checked, and <paramref name="report"/> says so.
    /// </summary>
    public (Checkpoint? Checkpoint, string? Refusal) Resume(RunFingerprint run, Action<string> report)
    {
        var entries = Scan();
        var (checkpoint, path) = Latest(entries, report);
        if (checkpoint is null)
        {
            Claim(entries);
            return (null, null);
        }
        var differences = checkpoint.Fingerprint is { } theirs
            ? run.Differences(theirs)
            : checkpoint.Seed == run.Seed ? [] : [("seed", $"{run.Seed}", $"{checkpoint.Seed}")];
        if (differences.Count == 0)
        {
            if (checkpoint.Fingerprint is null)
            {
                report($"checkpoint {path} is of format version 2, which records no run fingerprint: only its seed was checked, "
                    + "not the model, strategy or training settings");
            }
            Claim(entries);
            return (checkpoint, null);
        }
        return (null, $"the checkpoint {path} was written by a run with {Describe(differences, d => d.Theirs)}; "
            + $"this run has {Describe(differences, d => d.Mine)}: refusing to resume; move it away or use another checkpoint-dir than {Directory}");

        static string Describe(IEnumerable<(string Setting, string Mine, string Theirs)> differences, Func<(string Setting, string Mine, string Theirs), string> value) =>
            string.Join(", ", differences.Select(d => $"{d.Setting} {value(d)}"));
    }

    private static (Checkpoint? Checkpoint, string? Path) Latest(IReadOnlyList<Entry> entries, Action<string> report)
    {
        foreach (var entry in entries.Where(entry => entry.Problem is not null))
        {
            report($"checkpoint {entry.Path} is unusable ({entry.Problem}); skipping it");
        }
        foreach (var entry in Newest(entries.Where(entry => entry.Header is not null)))
        {
            try
            {
                return (Checkpoint.FromBytes(File.ReadAllBytes(entry.Path)), entry.Path);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                report($"checkpoint {entry.Path} is unusable ({e.Message}); trying the one before");
            }
        }
        return (null, null);
    }

    /// <summary>
    /// Claims the lowest epoch above every checkpoint in <paramref name="entries"/> and every claim in the folder that
    /// no other server has claimed first, and removes the claims below it (the highest is all a newcomer needs to see).
    /// </summary>
    private int Claim(IReadOnlyList<Entry> entries)
    {
        System.IO.Directory.CreateDirectory(Directory);
        int epoch = entries.Select(entry => entry.Header?.Epoch ?? 0).Concat(Claims().Select(claim => claim.Epoch)).DefaultIfEmpty(0).Max() + 1;
        while (!TryClaim(epoch))
        {
            epoch++;
        }
        foreach (var claim in Claims().Where(claim => claim.Epoch < epoch))
        {
            File.Delete(claim.Path);
        }
        return Epoch = epoch;
    }

    /// <summary>Creates the claim file of <paramref name="epoch"/> exclusively (O_EXCL); false when another server holds it.</summary>
    private bool TryClaim(int epoch)
    {
        try
        {
            using var claim = new FileStream(ClaimPath(epoch), FileMode.CreateNew, FileAccess.Write);
            claim.Write(System.Text.Encoding.UTF8.GetBytes($"{Environment.MachineName} {Environment.ProcessId}\n"));
            return true;
        }
        catch (IOException) when (File.Exists(ClaimPath(epoch)))
        {
            return false;
        }
    }

    private string ClaimPath(int epoch) => Path.Combine(Directory, $"{ClaimPrefix}{epoch:D8}{ClaimSuffix}");

    /// <summary>The epochs claimed in the folder, each with its claim file.</summary>
    private IEnumerable<(int Epoch, string Path)> Claims() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.EnumerateFiles(Directory, $"{ClaimPrefix}*{ClaimSuffix}")
                .Select(path => (Epoch: int.TryParse(Path.GetFileName(path)[ClaimPrefix.Length..^ClaimSuffix.Length], out int epoch) ? epoch : 0, Path: path))
                .Where(claim => claim.Epoch > 0)
                .ToArray()
            : Array.Empty<(int, string)>();

    /// <summary>
    /// A file of format version 2 has no fingerprint and belongs to the run of its seed, the test a resume applies to
    /// it too.
    /// </summary>
    private static bool BelongsTo(CheckpointHeader header, RunFingerprint run) =>
        header.Fingerprint is { } theirs ? run.Differences(theirs).Count == 0 : header.Seed == run.Seed;

    /// <summary>The newest first: the highest epoch (the server that took over last), then the highest round.</summary>
    private static IEnumerable<Entry> Newest(IEnumerable<Entry> entries) =>
        entries.OrderByDescending(entry => entry.Header!.Epoch).ThenByDescending(entry => entry.Header!.Round);

    /// <summary>Every file named like a checkpoint, with its header, or why it cannot be read.</summary>
    private IReadOnlyList<Entry> Scan() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.EnumerateFiles(Directory, $"{Prefix}*{Suffix}").Select(Read).OfType<Entry>().ToArray()
            : Array.Empty<Entry>();

    /// <summary>The file's header, or why it cannot be read; null when it is gone (another server pruned it meanwhile).</summary>
    private static Entry? Read(string path)
    {
        try
        {
            return new Entry(path, Checkpoint.ReadHeader(path), null);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return new Entry(path, null, e.Message);
        }
    }
}

/// <summary>A checkpoint of a higher epoch is in the folder: another server has taken over the run.</summary>
public sealed class CheckpointSupersededException(int epoch, string message) : Exception(message)
{
    /// <summary>The epoch of the server that took over.</summary>
    public int Epoch { get; } = epoch;
}
