using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AkkaFed.Actors;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;

namespace AkkaFed.Host;

/// <summary>
/// <c>akkafed benchmark</c>: the simulation's training throughput against centralized TorchSharp training
/// of the same model on the same samples with the same batch size, measured side by side in one run.
/// </summary>
public static class BenchmarkCommand
{
    public sealed record Options(
        string Dataset, ModelKind Model, int Clients, int SamplesPerClient, int ClientsPerRound, int Epochs, int BatchSize,
        int Rounds, int Threads, int Seed);

    public static readonly Options Issue2 = new("fashion-mnist", ModelKind.McMahanCnn, Clients: 100, SamplesPerClient: 600,
        ClientsPerRound: 10, Epochs: 1, BatchSize: 10, Rounds: 3, Threads: Environment.ProcessorCount, Seed: 0);

    public static readonly Options Quick = new("synthetic", ModelKind.Cnn, Clients: 10, SamplesPerClient: 100,
        ClientsPerRound: 5, Epochs: 1, BatchSize: 10, Rounds: 1, Threads: Environment.ProcessorCount, Seed: 0);

    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "a few seconds on synthetic data: checks the benchmark runs, measures nothing worth keeping" };
        var rounds = new Option<int?>("--rounds") { Description = "measured rounds (default 3)" };
        var suite = new Option<string>("--suite")
        {
            Description = "throughput: simulation against centralized training; cluster: one process against four; scale: issue 5's six targets at scale",
            DefaultValueFactory = _ => "throughput",
        };
        suite.AcceptOnlyFromAmong("throughput", "cluster", "scale");
        var targets = new Option<int[]>("--target")
        {
            Description = "scale suite only: run just these of issue 5's targets (1 to 6), e.g. --target 2 3",
            AllowMultipleArgumentsPerToken = true,
        };
        targets.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int[]>()?.FirstOrDefault(t => t is < 1 or > 6) is int bad and not 0)
            {
                result.AddError($"--target {bad}: the scale targets are numbered 1 to 6");
            }
        });
        var registered = new Option<int[]>("--registered")
        {
            Description = "scale suite, target 3 only: the numbers of registered clients to measure (default 100000 1000000)",
            AllowMultipleArgumentsPerToken = true,
        };
        registered.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int[]>()?.FirstOrDefault(n => n < 100) is int bad and not 0)
            {
                result.AddError($"--registered {bad}: target 3 samples 100 clients, so it needs at least 100");
            }
        });
        var command = new Command("benchmark", "Measure AkkaFed against its targets (see BENCHMARKS.md).");
        command.Options.Add(quick);
        command.Options.Add(rounds);
        command.Options.Add(suite);
        command.Options.Add(targets);
        command.Options.Add(registered);
        command.SetAction(async (parse, cancel) =>
        {
            if (parse.GetValue(suite) == "scale")
            {
                var sizes = parse.GetValue(quick) ? ScaleBenchmark.Quick : ScaleBenchmark.Full;
                if (parse.GetValue(rounds) is int memoryRounds)
                {
                    sizes = sizes with { MemoryRounds = memoryRounds };
                }
                if (parse.GetValue(registered) is { Length: > 0 } counts)
                {
                    sizes = sizes with { Registered = counts };
                }
                var only = parse.GetValue(targets) is { Length: > 0 } chosen ? chosen : Enumerable.Range(1, 6).ToArray();
                return await Cli.Guard(() => ScaleBenchmark.RunAsync(sizes, only, Console.Out));
            }
            if (parse.GetValue(suite) == "cluster")
            {
                return await Cli.Guard(() => ClusterBenchmark.RunAsync(parse.GetValue(rounds) ?? 3, Console.Out));
            }
            var options = parse.GetValue(quick) ? Quick : Issue2;
            if (parse.GetValue(rounds) is int r)
            {
                options = options with { Rounds = r };
            }
            return await Cli.Guard(() => RunAsync(options, Console.Out));
        });
        return command;
    }

    public static async Task<int> RunAsync(Options o, TextWriter output)
    {
        var (centralized, simulated) = await MeasureAsync(o, output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ratio simulation / centralized: {simulated / centralized:F2} (target >= 0.90)"));
        return 0;
    }

    /// <summary>
    /// Samples per second of centralized training (the faster of all threads on one model, or one thread) and of
    /// the simulation's whole rounds, on the same samples with the same model and batch size.
    /// </summary>
    public static async Task<(double Centralized, double Simulated)> MeasureAsync(Options o, TextWriter output)
    {
        var data = DatasetCatalog.Load(o.Dataset, null, DatasetCatalog.DefaultCacheDir(), o.Seed, output.WriteLine);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, o.Clients, o.SamplesPerClient, o.Seed);
        var server = new ServerOptions((double)o.ClientsPerRound / o.Clients, o.ClientsPerRound, TimeSpan.FromMinutes(30),
            ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(o.Epochs, o.BatchSize, 0.01), o.Seed);
        var spec = new SimulationSpec(o.Model, data, partitions, server, SimulatedFaults.None, Workers: o.Threads)
        {
            EvaluateEachRound = false,
        };
        long samplesPerRound = (long)o.ClientsPerRound * o.SamplesPerClient * o.Epochs;
        output.WriteLine($"benchmark: {Architectures.NameOf(o.Model)} on {data.Train.Name}, {o.Clients} clients x {o.SamplesPerClient} samples, " +
                         $"{o.ClientsPerRound} per round, E={o.Epochs}, B={o.BatchSize}, {o.Threads} threads, {o.Rounds} measured rounds, " +
                         $"{Environment.ProcessorCount} cores");

        // Centralized: one model, libtorch's intra-op threads on every core, the same number of samples as a round.
        var shared = partitions.Take(o.ClientsPerRound).SelectMany(p => p).ToArray();
        double centralized;
        using (var train = new TensorData(data.Train))
        {
            centralized = CentralizedFloor(o, train, shared, output);
        }

        double simulated;
        await using (var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka))
        {
            var state = process.Initialize();
            (state, _) = await process.NextAsync(state); // warm-up
            double seconds = 0;
            for (int i = 0; i < o.Rounds; i++)
            {
                (state, var metrics) = await process.NextAsync(state);
                seconds += metrics.Seconds;
            }
            simulated = samplesPerRound * o.Rounds / seconds;
        }
        output.WriteLine(Row("AkkaFed simulation", simulated, $"{o.Threads} training workers x 1 thread, whole rounds incl. aggregation"));
        return (centralized, simulated);
    }

    /// <summary>
    /// Samples per second of one model trained on <paramref name="samples"/> for <c>o.Rounds</c> passes of
    /// <c>o.Epochs</c>: the faster of the two ways one model can use the machine, libtorch's intra-op threads on
    /// every core or a single thread. Both are printed.
    /// </summary>
    public static double CentralizedFloor(Options o, TensorData train, int[] samples, TextWriter output)
    {
        double allThreads = MeasureCentralized(o, train, samples, threads: o.Threads);
        output.WriteLine(Row("centralized TorchSharp", allThreads, $"1 model, {o.Threads} intra-op threads"));
        double oneThread = MeasureCentralized(o, train, samples, threads: 1);
        output.WriteLine(Row("centralized TorchSharp", oneThread, "1 model, 1 intra-op thread"));
        return Math.Max(allThreads, oneThread);
    }

    private static double MeasureCentralized(Options o, TensorData train, int[] samples, int threads)
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

    private static string Row(string name, double samplesPerSecond, string how) =>
        string.Create(CultureInfo.InvariantCulture, $"{name,-24} {samplesPerSecond,8:F0} samples/s  ({how})");
}
