using System.Diagnostics;
using System.Globalization;
using Akka.Configuration;
using AkkaFed.Actors;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using Spectre.Console;

namespace AkkaFed.Host;

/// <summary><c>akkafed simulate</c>: a whole federation in one process, one line per round.</summary>
public static class SimulateCommand
{
    /// <summary>Akka's own logging stays quiet unless the configuration asks for more.</summary>
    public static readonly Config QuietAkka = ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");

    public static async Task<int> RunAsync(Config config, TextWriter output, CancellationToken cancel)
    {
        var settings = FederationSettings.Create(config);
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

        await using var process = await FederatedProcess.StartAsync(spec, config: config.WithFallback(QuietAkka));
        var holder = new RoundProgressHolder();
        var listener = process.System.ActorOf(ProgressListener.Props(holder), "progress");
        process.System.EventStream.Subscribe(listener, typeof(Actors.Protocol.Training.RoundProgress));
        using var metrics = new MetricsWriter(settings.Output);

        var clock = Stopwatch.StartNew();
        var final = await WithProgress(holder, print => process.RunAsync(process.Initialize(ModelFiles.Initial(settings)), settings.Rounds, settings.MaxFailedRounds,
            round =>
            {
                metrics.Write(round);
                print(Describe(round));
            }, cancel), output);

        string modelPath = ModelFiles.Save(settings.Model, final.Weights, settings.Output).StateDict;
        output.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F1}s. Metrics: {metrics.CsvPath}, {metrics.JsonLinesPath}. Model: {modelPath}");
        return 0;
    }

    /// <summary>The round's line, e.g. <c>Round 3: loss=1.9680 accuracy=0.7245 ... clients=80/80 stragglers=0 time=1.1s</c>.</summary>
    public static string Describe(RoundMetrics m)
    {
        var line = string.Create(CultureInfo.InvariantCulture,
            $"Round {m.Round}: loss={m.Loss:F4} accuracy={m.Accuracy:F4}");
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

    /// <summary>
    /// Runs <paramref name="work"/> under a live status line showing the round in flight, on an interactive
    /// terminal; elsewhere just runs it. Lines go through the printer <paramref name="work"/> is given.
    /// </summary>
    private static async Task<T> WithProgress<T>(RoundProgressHolder holder, Func<Action<string>, Task<T>> work, TextWriter output)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected || output != Console.Out)
        {
            return await work(output.WriteLine);
        }
        return await AnsiConsole.Status().StartAsync("Starting", async context =>
        {
            var task = work(line => AnsiConsole.WriteLine(line));
            while (!task.IsCompleted)
            {
                if (holder.Latest is { } progress)
                {
                    context.Status($"Round {progress.Round}: {progress.Answered}/{progress.Selected} clients answered");
                }
                await Task.WhenAny(task, Task.Delay(100));
            }
            return await task;
        });
    }
}
