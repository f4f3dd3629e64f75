using System.Diagnostics;
using System.Globalization;
using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using Spectre.Console;

namespace AkkaFed.Host;

/// <summary><c>akkafed simulate</c>: a whole federation in one process, one line per round.</summary>
public static class SimulateCommand
{
    /// <summary>The exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    /// <summary>Akka's own logging stays quiet unless the configuration asks for more.</summary>
    public static readonly Config QuietAkka = ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");

    /// <param name="resume">The output folder of a run that stopped early (Ctrl-C, failed rounds) or finished, to continue
    /// from its checkpoint; <paramref name="config"/> must then be that run's settings (its settings.conf) with at most
    /// <see cref="RunFolder.ChangeableOnResume"/> changed.</param>
    public static async Task<int> RunAsync(Config config, TextWriter output, CancellationToken cancel, string? resume = null)
    {
        var settings = FederationSettings.Create(config);
        // The output folder is checked before any data loads: a run never fails on it after minutes of work.
        RunFolder folder;
        if (resume is not null)
        {
            folder = RunFolder.ForResume(resume);
            folder.CheckSameRun(config);
            settings = settings with { Output = folder.Path };
        }
        else
        {
            folder = RunFolder.ForNewRun(settings.Output, Overwrite(config));
        }
        // A model to start from is read (and checked against the architecture) before the data, too.
        var initial = ModelFiles.Initial(settings);
        var fingerprint = RunFingerprint.Of(new RunOptions(settings.Server, settings.Model, settings.Rounds, settings.MaxFailedRounds,
            WaitForClients: 0, CheckpointDirectory: folder.CheckpointDirectory) { StartingWeights = initial });
        var resumed = resume is null ? null : folder.LoadCheckpoint(fingerprint, output.WriteLine);
        if (resumed is not null && resumed.State.Round > settings.Rounds)
        {
            throw new SettingsException("rounds",
                $"the run in {folder.Path} has done all its {resumed.State.Round - 1} rounds: pass --rounds with more to run further");
        }

        var data = settings.LoadData(output.WriteLine);
        var partitions = settings.Partitions(data);
        var spec = new SimulationSpec(settings.Model, data, partitions, settings.ServerOnItsClock(), settings.Faults, Workers: settings.Threads)
        {
            Attack = settings.Attack,
        };
        output.WriteLine(
            $"AkkaFed simulate: {data.Train.Name} ({data.Train.Count} train / {data.Test.Count} test), model {Architectures.NameOf(settings.Model)}, " +
            $"{partitions.Count} clients ({PartitionName(settings.Partition)}), {settings.Rounds} rounds, {settings.Threads} training threads, seed {settings.Server.Seed}, " +
            (spec.Server.Clock is { } simulated ? $"simulated clock ({simulated.Devices.Describe()})" : "wall clock"));
        output.WriteLine(Banner(settings));
        if (resumed is not null)
        {
            output.WriteLine($"Resuming {folder.Path} at round {resumed.State.Round} of {settings.Rounds}");
        }
        folder.WriteSettings(config, "simulate");

        await using var process = await FederatedProcess.StartAsync(spec, config: config.WithFallback(QuietAkka));
        var holder = new RoundProgressHolder();
        var listener = process.System.ActorOf(ProgressListener.Props(holder), "progress");
        process.System.EventStream.Subscribe(listener, typeof(Actors.Protocol.Training.RoundProgress));
        using var metrics = new RunRecorder(folder.Path, resumeAt: resumed?.State.Round);

        // What a checkpoint of the last completed round needs, kept as each round ends (on the relay's thread).
        var start = resumed?.State ?? process.Initialize(initial);
        var completed = new List<RoundMetrics>(resumed?.Metrics ?? []);
        var last = start;
        var gate = new object();
        bool stopped = false;
        var clock = Stopwatch.StartNew();
        try
        {
            var final = await WithProgress(holder, new ProgressPlan(start.Round, settings.Rounds, settings.Server.RoundDeadline, spec.Server.Clock is not null),
                print => process.RunAsync(start, settings.Rounds - start.Round + 1, settings.MaxFailedRounds,
                    (state, round) =>
                    {
                        lock (gate)
                        {
                            // After an interrupt the results are saved: a round that ends meanwhile is the resume's to redo.
                            if (stopped)
                            {
                                return;
                            }
                            metrics.Write(round);
                            completed.Add(round);
                            last = state;
                        }
                        print(Describe(round));
                    }, cancel, failuresInARow: resumed?.FailuresInARow ?? 0), output);
            string modelPath = SaveResults(final, completed);
            output.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F1}s. Metrics: {metrics.CsvPath}, {metrics.JsonLinesPath}. Model: {modelPath}. " +
                             $"Plot: {Reports.RunPlot.WriteAfterRun(folder.Path, output)}");
        }
        catch (OperationCanceledException)
        {
            var (state, rounds) = Snapshot();
            string modelPath = SaveResults(state, rounds);
            output.WriteLine(state.Round == start.Round
                ? $"Interrupted before round {start.Round} finished. Model: {modelPath} (as the run began)."
                : $"Interrupted after round {state.Round - 1} of {settings.Rounds}. Model and checkpoint of round {state.Round - 1}: {modelPath}, {folder.CheckpointDirectory}.");
            output.WriteLine($"Continue it with: akkafed simulate --resume {folder.Path}");
            return Interrupted;
        }
        catch (FederationException)
        {
            // The run failed: what it had done is kept (the model of its last round, its checkpoint), then the failure is reported.
            var (state, rounds) = Snapshot();
            output.WriteLine($"Model and checkpoint of the last completed round: {SaveResults(state, rounds)}, {folder.CheckpointDirectory}");
            throw;
        }

        // A run whose every round failed trained nothing, even when it stayed under max-failed-rounds: it failed.
        return completed.Any(round => round.Succeeded) ? 0
            : throw new FederationException($"none of the {completed.Count} rounds succeeded; the last failed with: {completed[^1].FailureReason}");

        (FederatedState, List<RoundMetrics>) Snapshot()
        {
            lock (gate)
            {
                stopped = true;
                return (last, completed.ToList());
            }
        }

        // The model, and a checkpoint from which `--resume` continues exactly as if the run had not stopped.
        string SaveResults(FederatedState state, List<RoundMetrics> rounds)
        {
            int failuresInARow = rounds.AsEnumerable().Reverse().TakeWhile(round => !round.Succeeded).Count();
            folder.SaveCheckpoint(new Checkpoint(settings.Server.Seed, state, state.Optimizer.Slots, failuresInARow, rounds)
            {
                Privacy = state.Privacy,
                Fingerprint = fingerprint,
            });
            return ModelFiles.Save(settings.Model, state.Weights, folder.Path).StateDict;
        }
    }

    private static string CompressionText(CompressionOptions up, CompressionOptions down)
    {
        static string Name(CompressionOptions options) => options.Codec switch
        {
            Codec.TopK => FormattableString.Invariant($"topk {options.TopKFraction:P1}{(options.ErrorFeedback ? " with error feedback" : "")}"),
            Codec.Int8 or Codec.Int4 => FormattableString.Invariant($"{CompressionOptions.NameOf(options.Codec)}/{options.BlockSize}"),
            _ => CompressionOptions.NameOf(options.Codec),
        };
        return $"compression up {Name(up)}, down {Name(down)}";
    }

    /// <summary>The run's choices a reader of its log needs first: strategy, aggregation, deadline, learning rates, privacy and faults.</summary>
    public static string Banner(FederationSettings settings)
    {
        var server = settings.Server;
        var strategy = server.Strategy;
        var parts = new List<string>
        {
            $"strategy {strategy.Name}",
            $"aggregator {StrategyOptions.Aggregators.First(pair => pair.Value == strategy.Aggregator).Key}",
            $"round-deadline {Format(server.RoundDeadline)}{(settings.SimulatedClock ? " (simulated)" : "")}",
            Invariant($"client-lr {server.Local.LearningRate}, server-lr {server.ServerLearningRate}, epochs {server.Local.Epochs}, batch-size {server.Local.BatchSize}"),
            Invariant($"client-fraction {server.Fraction}, min-clients {server.MinClients}"),
        };
        if (strategy.Privacy is { Enabled: true } dp)
        {
            parts.Add(Invariant($"DP clip {dp.ClipNorm} noise {dp.NoiseMultiplier}{(dp.Adaptive ? " adaptive" : "")}"));
        }
        if (server.Uplink.Compresses || server.Downlink.Compresses)
        {
            parts.Add(CompressionText(server.Uplink, server.Downlink));
        }
        var faults = new List<string>();
        if (settings.Faults.StragglerFraction > 0)
        {
            faults.Add(Invariant($"stragglers {settings.Faults.StragglerFraction:P0} +{Format(settings.Faults.StragglerDelay)}"));
        }
        if (settings.Faults.DropoutFraction > 0)
        {
            faults.Add(Invariant($"dropouts {settings.Faults.DropoutFraction:P0}"));
        }
        if (settings.Attack.Kind != AttackKind.None)
        {
            faults.Add(Invariant($"attack {AttackName(settings.Attack.Kind)} {settings.Attack.Fraction:P0} x{settings.Attack.Scale}"));
        }
        parts.Add($"faults: {(faults.Count == 0 ? "none" : string.Join(", ", faults))}");
        return string.Join("; ", parts);

        static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
        static string AttackName(AttackKind kind) => Attack.Names.First(pair => pair.Value == kind).Key;
    }

    private static string Format(TimeSpan span) =>
        span.TotalSeconds >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.###}s") : string.Create(CultureInfo.InvariantCulture, $"{span.TotalMilliseconds:0.###}ms");

    private static bool Overwrite(Config config) =>
        config.GetString("akkafed.overwrite", "false")?.Trim().ToLowerInvariant() switch
        {
            null or "" or "false" or "off" or "no" => false,
            "true" or "on" or "yes" => true,
            var text => throw new SettingsException("overwrite", $"must be true or false, got '{text}'"),
        };

    /// <summary>The round's line, e.g. <c>Round 3: loss=1.9680 accuracy=0.7245 ... clients=80/80 stragglers=0 time=1.1s</c>.</summary>
    public static string Describe(RoundMetrics m)
    {
        // A failed round aggregated nothing: it has no training metrics to show.
        var line = m.Succeeded
            ? string.Create(CultureInfo.InvariantCulture, $"Round {m.Round}: loss={m.Loss:F4} accuracy={m.Accuracy:F4}")
            : $"Round {m.Round}:";
        if (m.Test is { } test)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" test_loss={test.Loss:F4} test_accuracy={test.Accuracy:F4}");
        }
        if (m.FederatedTest is { } federated)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" fed_loss={federated.Loss:F4} fed_accuracy={federated.Accuracy:F4}");
        }
        line += string.Create(CultureInfo.InvariantCulture, $" clients={m.Participants}/{m.Selected} stragglers={m.Stragglers}");
        foreach (var (name, count) in new[] { ("dropouts", m.Dropouts), ("late", m.Late), ("duplicates", m.Duplicates), ("rejected", m.Rejected), ("failed", m.Failed) })
        {
            if (count > 0)
            {
                line += $" {name}={count}";
            }
        }
        if (m.BytesSent + m.BytesReceived > 0)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" sent={m.BytesSent / 1e6:F2}MB received={m.BytesReceived / 1e6:F2}MB");
        }
        if (m.Epsilon is { } epsilon)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" epsilon={epsilon:F3}");
        }
        if (m.MeanStaleness is { } staleness)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" staleness={staleness:F2}");
        }
        if (m.SimulatedSeconds is { } simulated)
        {
            line += string.Create(CultureInfo.InvariantCulture, $" sim={simulated:F2}s sim_time={m.SimulatedTime:F1}s");
        }
        line += string.Create(CultureInfo.InvariantCulture, $" wall={m.WallSeconds:F1}s");
        return m.Succeeded ? line : $"{line} FAILED: {m.FailureReason}";
    }

    private static string PartitionName(PartitionKind kind) =>
        FederationSettings.PartitionNames.First(pair => pair.Value == kind).Key;

    /// <summary>What the progress line needs to know of the run: its rounds, and the deadline of each.</summary>
    private sealed record ProgressPlan(int FirstRound, int LastRound, TimeSpan Deadline, bool SimulatedClock);

    /// <summary>
    /// Runs <paramref name="work"/> under a live status line on an interactive terminal: round x/N, elapsed time, ETA,
    /// clients answered and the deadline (its countdown on the wall clock). Elsewhere (output redirected) just runs it,
    /// printing plain lines. Lines go through the printer <paramref name="work"/> is given.
    /// </summary>
    private static async Task<T> WithProgress<T>(RoundProgressHolder holder, ProgressPlan plan, Func<Action<string>, Task<T>> work, TextWriter output)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected || output != Console.Out)
        {
            return await work(output.WriteLine);
        }
        var clock = Stopwatch.StartNew();
        int done = 0;
        return await AnsiConsole.Status().StartAsync("Starting", async context =>
        {
            var task = work(line =>
            {
                Interlocked.Increment(ref done);
                AnsiConsole.WriteLine(line);
            });
            int shown = 0;
            var roundStarted = clock.Elapsed;
            while (!task.IsCompleted)
            {
                if (holder.Latest is { } progress)
                {
                    if (progress.Round != shown)
                    {
                        (shown, roundStarted) = (progress.Round, clock.Elapsed);
                    }
                    context.Status(Markup.Escape(ProgressLine(plan, progress, clock.Elapsed, clock.Elapsed - roundStarted, Volatile.Read(ref done))));
                }
                await Task.WhenAny(task, Task.Delay(200));
            }
            return await task;
        });
    }

    /// <summary>E.g. <c>Round 3/10 | 0:12 elapsed, ETA 0:28 | 45/80 clients answered | deadline in 48s</c>.</summary>
    private static string ProgressLine(ProgressPlan plan, Actors.Protocol.Training.RoundProgress progress, TimeSpan elapsed, TimeSpan inRound, int done)
    {
        string eta = done == 0 ? "ETA --" : $"ETA {Clock(elapsed / done * (plan.LastRound - plan.FirstRound + 1 - done))}";
        string deadline = plan.SimulatedClock
            ? $"deadline {Format(plan.Deadline)} of simulated time"
            : $"deadline in {Math.Max(0, (plan.Deadline - inRound).TotalSeconds):F0}s";
        return $"Round {progress.Round}/{plan.LastRound} | {Clock(elapsed)} elapsed, {eta} | {progress.Answered}/{progress.Selected} clients answered | {deadline}";

        static string Clock(TimeSpan span) => span.TotalHours >= 1 ? span.ToString(@"h\:mm\:ss") : span.ToString(@"m\:ss");
    }
}
