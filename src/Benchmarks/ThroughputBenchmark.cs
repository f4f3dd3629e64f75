using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using AkkaFed.Actors;
using AkkaFed.Host;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;

namespace AkkaFed.Benchmarks;

/// <summary>
/// <c>--suite throughput</c>: the simulation's training throughput against centralized TorchSharp training of the
/// same model on the same samples with the same batch size, measured side by side in one run.
/// </summary>
public static class ThroughputBenchmark
{
    /// <summary>One training setup, run both ways. <paramref name="Threads"/> is both the simulation's training workers
    /// and the centralized model's intra-op threads.</summary>
    public sealed record Setup(
        string Dataset, ModelKind Model, int Clients, int SamplesPerClient, int ClientsPerRound, int Epochs, int BatchSize,
        int Rounds, int Threads, int Seed);

    /// <summary>McMahan et al.'s CNN on Fashion-MNIST: 100 clients of 600 IID samples, 10 per round, E=1, B=10.</summary>
    public static readonly Setup McMahanFashionMnist = new("fashion-mnist", ModelKind.McMahanCnn, Clients: 100, SamplesPerClient: 600,
        ClientsPerRound: 10, Epochs: 1, BatchSize: 10, Rounds: 3, Threads: Environment.ProcessorCount, Seed: 0);

    /// <summary>A few seconds on synthetic data with the tutorial's CNN: checks that the suite runs, its figures mean nothing.</summary>
    public static readonly Setup Quick = new("synthetic", ModelKind.Cnn, Clients: 10, SamplesPerClient: 100,
        ClientsPerRound: 5, Epochs: 1, BatchSize: 10, Rounds: 1, Threads: Environment.ProcessorCount, Seed: 0);

    /// <summary>Samples per second both ways, and the checks the run passed or broke.</summary>
    public sealed record Result(double Centralized, double Simulated, IReadOnlyList<Check> Checks)
    {
        public double Ratio => Simulated / Centralized;
    }

    /// <summary>Measures <paramref name="setup"/> and prints the ratio and the checks; 1 if a check broke.</summary>
    public static async Task<int> RunAsync(Setup setup, TextWriter output)
    {
        var result = await MeasureAsync(setup, output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ratio simulation / centralized: {result.Ratio:F2} (target >= 0.90)"));
        return Check.Report(result.Checks, output);
    }

    /// <summary>
    /// Samples per second of centralized training (the faster of all threads on one model, or one thread) and of
    /// the simulation's whole rounds, on the same samples with the same model and batch size.
    /// </summary>
    public static async Task<Result> MeasureAsync(Setup o, TextWriter output)
    {
        var data = DatasetCatalog.Load(o.Dataset, null, DatasetCatalog.DefaultCacheDir(), o.Seed, output.WriteLine);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, o.Clients, o.SamplesPerClient, o.Seed);
        var server = new ServerOptions((double)o.ClientsPerRound / o.Clients, o.ClientsPerRound, TimeSpan.FromMinutes(30),
            ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(o.Epochs, o.BatchSize, 0.01), o.Seed);
        var counters = new TrainerPoolCounters();
        var spec = new SimulationSpec(o.Model, data, partitions, server, SimulatedFaults.None, Workers: o.Threads)
        {
            EvaluateEachRound = false,
            TrainerCounters = counters,
        };
        long samplesPerRound = (long)o.ClientsPerRound * o.SamplesPerClient * o.Epochs;
        string run = $"{Architectures.NameOf(o.Model)} on {data.Train.Name}";
        output.WriteLine($"throughput: {run}, {o.Clients} clients x {o.SamplesPerClient} samples, " +
                         $"{o.ClientsPerRound} per round, E={o.Epochs}, B={o.BatchSize}, {o.Threads} threads, {o.Rounds} measured rounds, " +
                         $"{Environment.ProcessorCount} cores");

        // Centralized: one model, libtorch's intra-op threads on every core, the same number of samples as a round.
        var shared = partitions.Take(o.ClientsPerRound).SelectMany(p => p).ToArray();
        double centralized;
        using (var train = new TensorData(data.Train))
        {
            centralized = CentralizedFloor(o, train, shared, output);
        }

        var checks = new List<Check>();
        double simulated;
        await using (var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka))
        {
            var state = process.Initialize();
            (state, var warm) = await process.NextAsync(state);
            checks.AddRange(Check.FullRound(run, warm, o.ClientsPerRound));
            double seconds = 0;
            for (int i = 0; i < o.Rounds; i++)
            {
                (state, var metrics) = await process.NextAsync(state);
                checks.AddRange(Check.FullRound(run, metrics, o.ClientsPerRound));
                seconds += metrics.WallSeconds;
            }
            simulated = samplesPerRound * o.Rounds / seconds;
        }
        output.WriteLine(Row("AkkaFed simulation", simulated, $"{o.Threads} training workers x 1 thread, whole rounds incl. aggregation"));
        checks.AddRange(Check.PoolBounds(run, counters, o.Threads));
        checks.Add(Check.FinitePositive($"{run}: ratio simulation / centralized", simulated / centralized));
        return new Result(centralized, simulated, checks);
    }

    /// <summary>
    /// Samples per second of one model trained on <paramref name="samples"/> for <c>o.Rounds</c> passes of
    /// <c>o.Epochs</c>: the faster of the two ways one model can use the machine, libtorch's intra-op threads on
    /// every core or a single thread. Both are printed.
    /// </summary>
    public static double CentralizedFloor(Setup o, TensorData train, int[] samples, TextWriter output)
    {
        double allThreads = MeasureCentralized(o, train, samples, threads: o.Threads);
        output.WriteLine(Row("centralized TorchSharp", allThreads, $"1 model, {o.Threads} intra-op threads"));
        double oneThread = MeasureCentralized(o, train, samples, threads: 1);
        output.WriteLine(Row("centralized TorchSharp", oneThread, "1 model, 1 intra-op thread"));
        return Math.Max(allThreads, oneThread);
    }

    private static double MeasureCentralized(Setup o, TensorData train, int[] samples, int threads)
    {
        using var lease = TorchThreads.Acquire(threads);
        using var trainer = new LocalTrainer(o.Model);
        var weights = InitialWeights.Create(o.Model, o.Seed);
        var local = new LocalTrainingOptions(o.Epochs, o.BatchSize, 0.01);
        trainer.Train(weights, train, samples.AsSpan(0, Math.Min(samples.Length, 20 * o.BatchSize)), local, o.Seed); // warm-up
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < o.Rounds; i++)
        {
            var result = trainer.Train(weights, train, samples, local, o.Seed + i);
            weights = FederatedAveraging.ApplyServerSgd(weights, result.Delta, 1.0);
        }
        return (double)samples.Length * o.Epochs * o.Rounds / clock.Elapsed.TotalSeconds;
    }

    /// <summary>One child's figures for <see cref="CompareMallocAsync"/>: the centralized floor, evaluation at
    /// batch 1,000 (samples/s), and what <see cref="NativeHeap.Tune"/> did in that process.</summary>
    public sealed record Floor(double Centralized, double Evaluation, NativeHeap.TuningOutcome Malloc);

    private const string FloorLine = "floor-only:";
    private const int EvaluationBatch = 1000;
    private const int EvaluationSamples = 2000;

    /// <summary>
    /// <c>--floor-only</c>: the centralized floor and evaluation at batch 1,000 alone, and a line that
    /// <see cref="CompareMallocAsync"/> reads. Evaluation at large batches is where glibc's default thresholds cost
    /// most: each batch's activations are fresh pages from the kernel.
    /// </summary>
    public static int FloorOnly(Setup o, TextWriter output)
    {
        var malloc = NativeHeap.Tune();
        var data = DatasetCatalog.Load(o.Dataset, null, DatasetCatalog.DefaultCacheDir(), o.Seed, output.WriteLine);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, o.Clients, o.SamplesPerClient, o.Seed);
        var shared = partitions.Take(o.ClientsPerRound).SelectMany(p => p).ToArray();
        double centralized;
        using (var train = new TensorData(data.Train))
        {
            centralized = CentralizedFloor(o, train, shared, output);
        }
        double evaluation;
        using (var test = new TensorData(data.Test))
        using (var lease = TorchThreads.Acquire(o.Threads))
        using (var trainer = new LocalTrainer(o.Model))
        {
            var weights = InitialWeights.Create(o.Model, o.Seed);
            var rows = Enumerable.Range(0, Math.Min(EvaluationSamples, test.Count)).ToArray();
            trainer.Evaluate(weights, test, rows, EvaluationBatch); // warm-up
            var times = Enumerable.Range(0, 3).Select(_ =>
            {
                var clock = Stopwatch.StartNew();
                trainer.Evaluate(weights, test, rows, EvaluationBatch);
                return clock.Elapsed.TotalSeconds;
            }).Order().ToArray();
            evaluation = rows.Length / times[1];
        }
        output.WriteLine(Row("evaluation", evaluation, $"batch {EvaluationBatch}, {o.Threads} intra-op threads, median of 3"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{FloorLine} centralized={centralized:F1} evaluation={evaluation:F1} malloc={malloc}"));
        return 0;
    }

    /// <summary>
    /// <c>--malloc-compare N</c>: <see cref="FloorOnly"/> in 2N fresh processes, alternately with the malloc tuning
    /// off (<c>AKKAFED_MALLOC_TUNING=off</c>) and on, the order swapped each repetition so that a drift of the
    /// machine falls on both alike; then the medians and their ratio. Fresh processes, because glibc's thresholds
    /// cannot be put back to their dynamic defaults once set.
    /// </summary>
    public static async Task<int> CompareMallocAsync(IReadOnlyList<string> childArguments, int repetitions, TextWriter output)
    {
        output.WriteLine($"malloc tuning, off against on: {repetitions} repetitions, each a fresh process; {Machine.Describe()}");
        var off = new List<Floor>();
        var on = new List<Floor>();
        var checks = new List<Check>();
        for (int k = 0; k < repetitions; k++)
        {
            foreach (bool tuned in k % 2 == 0 ? new[] { false, true } : new[] { true, false })
            {
                var (floor, text) = await RunChildAsync(childArguments, tuned);
                checks.Add(new Check($"malloc {(tuned ? "on" : "off")}, repetition {k + 1}: the child ran and reported its floor", floor is not null,
                    floor is null ? text : "exit 0"));
                if (floor is null)
                {
                    continue;
                }
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {k + 1} malloc {(tuned ? "on " : "off")}: centralized {floor.Centralized,7:F0} samples/s, evaluation {floor.Evaluation,7:F0} samples/s ({floor.Malloc})"));
                (tuned ? on : off).Add(floor);
                var expected = tuned ? NativeHeap.TuningOutcome.Applied : NativeHeap.TuningOutcome.Disabled;
                if (NativeHeap.Decide(Environment.GetEnvironmentVariable, OperatingSystem.IsLinux()) == NativeHeap.TuningOutcome.Applied)
                {
                    checks.Add(new Check($"malloc {(tuned ? "on" : "off")}, repetition {k + 1}: the tuning was {expected}", floor.Malloc == expected, $"{floor.Malloc}"));
                }
            }
        }
        if (off.Count > 0 && on.Count > 0)
        {
            double centralized = Median(on.Select(f => f.Centralized)) / Median(off.Select(f => f.Centralized));
            double evaluation = Median(on.Select(f => f.Evaluation)) / Median(off.Select(f => f.Evaluation));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"medians, off -> on: centralized {Median(off.Select(f => f.Centralized)):F0} -> {Median(on.Select(f => f.Centralized)):F0} samples/s = {centralized:F2}x; " +
                $"evaluation at batch {EvaluationBatch} {Median(off.Select(f => f.Evaluation)):F0} -> {Median(on.Select(f => f.Evaluation)):F0} samples/s = {evaluation:F2}x"));
            checks.Add(Check.FinitePositive("malloc tuning: ratio of the centralized floors, on / off", centralized));
        }
        return Check.Report(checks, output);
    }

    private static async Task<(Floor? Floor, string Text)> RunChildAsync(IReadOnlyList<string> arguments, bool tuned)
    {
        string self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.ArgumentList.Add("--floor-only");
        start.Environment[NativeHeap.TuningVariable] = tuned ? "on" : "off";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        string text = await stdout + await stderr;
        var line = Regex.Match(text, $@"{FloorLine} centralized=(\S+) evaluation=(\S+) malloc=(\w+)");
        if (process.ExitCode != 0 || !line.Success)
        {
            return (null, $"exit {process.ExitCode}: {text.Trim()}");
        }
        return (new Floor(
            double.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture),
            double.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture),
            Enum.Parse<NativeHeap.TuningOutcome>(line.Groups[3].Value)), text);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Row(string name, double samplesPerSecond, string how) =>
        string.Create(CultureInfo.InvariantCulture, $"{name,-24} {samplesPerSecond,8:F0} samples/s  ({how})");
}
