using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using AkkaFed.Actors;
using AkkaFed.Actors.Serialization;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Training;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Host;

/// <summary>
/// <c>akkafed benchmark --suite scale</c>: the figures of the scale targets that can be measured today
/// (aggregation time, serialization throughput, memory across rounds), each printed beside its goal.
/// </summary>
public static class ScaleBenchmark
{
    private const int McMahanFloats = 1_663_370;

    public static async Task<int> RunAsync(int rounds, TextWriter output)
    {
        output.WriteLine($"scale benchmark: {Environment.ProcessorCount} cores");
        Aggregation(output);
        Serialization(output);
        await Memory(rounds, output);
        return 0;
    }

    /// <summary>Target 4: 100 McMahan-CNN updates (665 MB of floats) aggregate in at most 0.15 s.</summary>
    private static void Aggregation(TextWriter output)
    {
        var random = new Random(1);
        var updates = Enumerable.Range(0, 100).Select(_ =>
        {
            var delta = new float[McMahanFloats];
            for (int i = 0; i < delta.Length; i++)
            {
                delta[i] = (float)(random.NextDouble() - 0.5);
            }
            return delta;
        }).ToArray();
        var weights = Enumerable.Range(0, 100).Select(k => 100.0 + k).ToArray();
        FederatedAveraging.WeightedMean(updates, weights); // warm-up
        var times = Enumerable.Range(0, 5).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            FederatedAveraging.WeightedMean(updates, weights);
            return clock.Elapsed.TotalSeconds;
        }).Order().ToArray();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"aggregation, 100 McMahan updates (665 MB): median {times[2]:F3} s, best {times[0]:F3} s (target <= 0.150 s)"));
    }

    /// <summary>Target 6: serialization of weight messages at least 1 GB/s each way.</summary>
    private static void Serialization(TextWriter output)
    {
        using var system = ActorSystem.Create("bench",
            SimulateCommand.QuietAkka.WithFallback(FederationSerialization.Config));
        var delta = new float[McMahanFloats];
        new Random(2).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(delta.AsSpan()));
        var message = new FitResult(3, "client-00001", delta, 600, 0.5, 0.5);
        var serializer = (Akka.Serialization.SerializerWithStringManifest)system.Serialization.FindSerializerFor(message);
        string manifest = serializer.Manifest(message);
        var bytes = serializer.ToBinary(message);
        var write = new List<double>();
        var read = new List<double>();
        for (int i = 0; i < 30; i++)
        {
            var clock = Stopwatch.StartNew();
            bytes = serializer.ToBinary(message);
            write.Add(clock.Elapsed.TotalSeconds);
            clock.Restart();
            serializer.FromBinary(bytes, manifest);
            read.Add(clock.Elapsed.TotalSeconds);
        }
        double Rate(List<double> seconds) => bytes.Length / seconds.Order().ElementAt(seconds.Count / 2) / 1e9;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"serialization of a {bytes.Length / 1e6:F2} MB update: write {Rate(write):F2} GB/s, read {Rate(read):F2} GB/s, median of 30 (target >= 1 GB/s each way)"));
    }

    /// <summary>Target 5: resident memory after the last round within 5% of round 10 (tutorial configuration).</summary>
    private static async Task Memory(int rounds, TextWriter output)
    {
        var data = DatasetCatalog.Load("mnist", null, DatasetCatalog.DefaultCacheDir(), 0, null);
        var partitions = Partitioner.Split(PartitionKind.Contiguous, data.Train.Labels, 80, 100, 0);
        var server = new ServerOptions(1.0, 1, TimeSpan.FromMinutes(5), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), 0);
        var spec = new SimulationSpec(ModelKind.Cnn, data, partitions, server, SimulatedFaults.None, Environment.ProcessorCount);
        await using var process = await FederatedProcess.StartAsync(spec,
            config: SimulateCommand.QuietAkka);
        var state = process.Initialize();
        long atTen = 0;
        long resident = 0;
        for (int round = 1; round <= rounds; round++)
        {
            (state, _) = await process.NextAsync(state);
            if (round == 10 || round == rounds)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                using var self = Process.GetCurrentProcess();
                resident = self.WorkingSet64;
                atTen = round == 10 ? resident : atTen;
            }
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"memory, tutorial configuration: resident {atTen / 1e6:F0} MB at round 10, {resident / 1e6:F0} MB at round {rounds}: " +
            $"{(double)resident / atTen:F3} of round 10 (target <= 1.05 after 200 rounds)"));
    }
}
