using System.Diagnostics;
using System.Globalization;
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

    private static string Row(string name, double samplesPerSecond, string how) =>
        string.Create(CultureInfo.InvariantCulture, $"{name,-24} {samplesPerSecond,8:F0} samples/s  ({how})");
}
