using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Serialization;
using AkkaFed.Actors;
using AkkaFed.Actors.Serialization;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Host;

/// <summary>
/// <c>akkafed benchmark --suite scale</c>: issue 5's six targets, each figure printed beside its goal, and a
/// closing table in the form BENCHMARKS.md keeps. With <c>--quick</c> the same code runs on small synthetic
/// sizes: that only checks it still runs, and its figures mean nothing.
/// </summary>
public static class ScaleBenchmark
{
    /// <summary>The sizes of one run of the suite.</summary>
    public sealed record Sizes(
        string Dataset,
        BenchmarkCommand.Options McMahan,
        BenchmarkCommand.Options Tutorial,
        int SmallClients,
        int[] Registered,
        int IdleShard,
        int IdleRounds,
        int Updates,
        int MemoryRounds,
        int Repeats);

    public static readonly Sizes Full = new(
        "fashion-mnist",
        BenchmarkCommand.Issue2 with { Epochs = 5, Rounds = 2 },
        new BenchmarkCommand.Options("mnist", ModelKind.Cnn, Clients: 80, SamplesPerClient: 100, ClientsPerRound: 80, Epochs: 5,
            BatchSize: 20, Rounds: 3, Threads: Environment.ProcessorCount, Seed: 0),
        SmallClients: 10_000,
        Registered: [100_000, 1_000_000],
        IdleShard: 100,
        IdleRounds: 3,
        Updates: 100,
        MemoryRounds: 200,
        Repeats: 30);

    public static readonly Sizes Quick = new(
        "synthetic",
        BenchmarkCommand.Quick,
        BenchmarkCommand.Quick with { ClientsPerRound = BenchmarkCommand.Quick.Clients },
        SmallClients: 200,
        Registered: [5_000],
        IdleShard: 10,
        IdleRounds: 2,
        Updates: 4,
        MemoryRounds: 12,
        Repeats: 3);

    private const int McMahanFloats = 1_663_370;

    private sealed record Figure(string Target, string Goal, string Measured, bool? Met);

    /// <summary>Runs the <paramref name="targets"/> (numbers 1 to 6) and prints each figure, then the table.</summary>
    public static async Task<int> RunAsync(Sizes sizes, IReadOnlyCollection<int> targets, TextWriter output)
    {
        output.WriteLine($"scale benchmark: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9:F0} GB");
        var figures = new List<Figure>();
        if (targets.Contains(1))
        {
            figures.AddRange(await Overhead(sizes, output));
        }
        if (targets.Contains(2))
        {
            figures.Add(await ManySmallClients(sizes, output));
        }
        foreach (int registered in targets.Contains(3) ? sizes.Registered : [])
        {
            figures.AddRange(await ManyIdleClients(sizes, registered, output));
        }
        if (targets.Contains(4))
        {
            figures.Add(Aggregation(sizes, output));
        }
        if (targets.Contains(5))
        {
            figures.Add(await Memory(sizes, output));
        }
        if (targets.Contains(6))
        {
            figures.AddRange(Serialization(sizes, output));
        }

        output.WriteLine();
        output.WriteLine("| target | goal | measured | |");
        output.WriteLine("| --- | --- | --- | --- |");
        foreach (var f in figures)
        {
            string verdict = f.Met switch { true => "met", false => "**missed**", null => "recorded" };
            output.WriteLine($"| {f.Target} | {f.Goal} | {f.Measured} | {verdict} |");
        }
        return 0;
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static Figure Print(TextWriter output, Figure figure)
    {
        output.WriteLine($"=> {figure.Target}: {figure.Measured} (goal {figure.Goal})");
        return figure;
    }

    /// <summary>Target 1: the simulation trains at least 0.95 as fast as centralized TorchSharp, side by side.</summary>
    private static async Task<Figure[]> Overhead(Sizes sizes, TextWriter output)
    {
        var figures = new List<Figure>();
        foreach (var options in new[] { sizes.McMahan, sizes.Tutorial })
        {
            var (centralized, simulated) = await BenchmarkCommand.MeasureAsync(options, output);
            double ratio = simulated / centralized;
            figures.Add(Print(output, new Figure(
                Format($"1. throughput, {Architectures.NameOf(options.Model)}, {options.Clients}x{options.SamplesPerClient}, {options.ClientsPerRound} per round, E={options.Epochs}, B={options.BatchSize}"),
                ">= 0.95 of centralized",
                Format($"{simulated:F0} against {centralized:F0} samples/s = {ratio:F2}"),
                ratio >= 0.95)));
        }
        return figures.ToArray();
    }

    /// <summary>Target 2: one round of 10,000 clients over 60,000 samples within 1.3x a centralized epoch.</summary>
    private static async Task<Figure> ManySmallClients(Sizes sizes, TextWriter output)
    {
        var data = Load(sizes.Dataset, output);
        int shard = data.Train.Count / sizes.SmallClients;
        var local = new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.02);
        var shards = Shards.Windows(data.Train.Count, sizes.SmallClients, shard, seed: 0);
        var samples = shards.SelectMany(s => s.ToArray()).ToArray();

        double centralized;
        using (var train = new TensorData(data.Train))
        {
            var o = new BenchmarkCommand.Options(sizes.Dataset, ModelKind.Cnn, 1, samples.Length, 1, local.Epochs, local.BatchSize,
                Rounds: 1, Environment.ProcessorCount, Seed: 0);
            centralized = samples.Length / BenchmarkCommand.CentralizedFloor(o, train, samples, output);
        }
        output.WriteLine(Format($"centralized epoch over {samples.Length} samples, tutorial CNN, B={local.BatchSize}: {centralized:F2} s"));

        var server = new ServerOptions(1.0, 1, TimeSpan.FromMinutes(30), ClientWeighting.NumExamples, 1.0, local, Seed: 0);
        var counters = new TrainerPoolCounters();
        var spec = new SimulationSpec(ModelKind.Cnn, data, shards, server, SimulatedFaults.None, Environment.ProcessorCount)
        {
            EvaluateEachRound = false,
            TrainerCounters = counters,
        };
        var clock = Stopwatch.StartNew();
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        output.WriteLine(Format($"{sizes.SmallClients} clients of {shard} samples registered in {clock.Elapsed.TotalSeconds:F1} s"));
        var state = process.Initialize();
        (state, var warm) = await process.NextAsync(state);
        (_, var round) = await process.NextAsync(state);
        output.WriteLine(Format($"rounds of {round.Participants} clients: {warm.Seconds:F2} s (first), {round.Seconds:F2} s; {counters.ModelCount} models, at most {counters.PeakConcurrency} clients training at once"));
        double ratio = round.Seconds / centralized;
        return Print(output, new Figure(
            Format($"2. one round of {sizes.SmallClients:N0} clients x {shard} samples, tutorial CNN, E=1, B={local.BatchSize}"),
            "<= 1.3x a centralized epoch",
            Format($"{round.Seconds:F2} s against {centralized:F2} s = {ratio:F2}x"),
            ratio <= 1.3));
    }

    /// <summary>Target 3: many registered clients, 100 sampled: peak memory and per-round orchestration time.</summary>
    private static async Task<Figure[]> ManyIdleClients(Sizes sizes, int registered, TextWriter output)
    {
        var data = Load(sizes.Dataset, output);
        const int sampled = 100;
        var local = new LocalTrainingOptions(Epochs: 1, BatchSize: 20, LearningRate: 0.02);
        var counters = new TrainerPoolCounters();
        var server = new ServerOptions((double)sampled / registered, sampled, TimeSpan.FromMinutes(30), ClientWeighting.NumExamples, 1.0,
            local, Seed: 0);
        var spec = new SimulationSpec(ModelKind.Cnn, data, Shards.Windows(data.Train.Count, registered, sizes.IdleShard, seed: 0), server,
            SimulatedFaults.None, Environment.ProcessorCount)
        {
            EvaluateEachRound = false,
            TrainerCounters = counters,
        };
        GC.Collect();
        PeakMemory.Reset();
        long baseline = PeakMemory.Resident();
        var clock = Stopwatch.StartNew();
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        output.WriteLine(Format($"{registered:N0} clients of {sizes.IdleShard} samples registered in {clock.Elapsed.TotalSeconds:F1} s"));
        var state = process.Initialize();
        var overheads = new List<double>();
        for (int round = 0; round <= sizes.IdleRounds; round++)
        {
            var busyBefore = counters.BusySeconds();
            (state, var metrics) = await process.NextAsync(state);
            var busyAfter = counters.BusySeconds();
            double training = busyAfter.Max(worker => worker.Value - busyBefore.GetValueOrDefault(worker.Key));
            double overhead = metrics.Seconds - training;
            output.WriteLine(Format($"round {metrics.Round}: {metrics.Seconds:F3} s, of which the busiest worker trained {training:F3} s: orchestration {overhead:F3} s{(round == 0 ? " (warm-up, not counted)" : "")}"));
            if (round > 0)
            {
                overheads.Add(overhead);
            }
        }
        long peak = PeakMemory.Peak();
        output.WriteLine(Format($"resident memory: {baseline / 1e6:F0} MB before the clients (data loaded), peak {peak / 1e6:F0} MB: {(peak - baseline) / (double)registered:F0} bytes per registered client"));
        double mean = overheads.Average();
        bool target = registered <= 100_000;
        return
        [
            Print(output, new Figure(Format($"3. peak resident memory, {registered:N0} registered clients, {sampled} sampled"),
                target ? "<= 2 GB" : "recorded", Format($"{peak / 1e9:F2} GB"), target ? peak <= 2e9 : null)),
            Print(output, new Figure(Format($"3. orchestration per round, {registered:N0} registered clients, {sampled} sampled"),
                target ? "<= 0.5 s" : "recorded", Format($"{mean:F3} s (mean of {overheads.Count}, max {overheads.Max():F3} s)"),
                target ? mean <= 0.5 : null)),
        ];
    }

    /// <summary>Target 4: 100 McMahan-CNN updates (665 MB of floats) aggregate, streaming, in at most 0.15 s.</summary>
    private static Figure Aggregation(Sizes sizes, TextWriter output)
    {
        var random = new Random(1);
        var updates = Enumerable.Range(0, sizes.Updates).Select(_ =>
        {
            var delta = new float[McMahanFloats];
            for (int i = 0; i < delta.Length; i++)
            {
                delta[i] = (float)(random.NextDouble() - 0.5) * 0.01f;
            }
            return delta;
        }).ToArray();
        var weights = Enumerable.Range(0, sizes.Updates).Select(k => 100L + k).ToArray();
        // As the server does it: a running sum that each update is added to as it arrives, then the mean.
        float[] Aggregate()
        {
            using var sum = new FixedPointSum(McMahanFloats);
            for (int k = 0; k < updates.Length; k++)
            {
                sum.Add(updates[k], weights[k]);
            }
            return sum.Mean();
        }
        Aggregate(); // warm-up
        var times = Enumerable.Range(0, 5).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            Aggregate();
            return clock.Elapsed.TotalSeconds;
        }).Order().ToArray();
        return Print(output, new Figure(
            Format($"4. streaming aggregation of {sizes.Updates} McMahan-CNN updates ({sizes.Updates * McMahanFloats * 4L / 1e6:F0} MB)"),
            "<= 0.150 s", Format($"{times[2]:F3} s median of 5, best {times[0]:F3} s"), times[2] <= 0.150));
    }

    /// <summary>Target 5: resident memory after the last round within 5% of round 10 (tutorial configuration).</summary>
    private static async Task<Figure> Memory(Sizes sizes, TextWriter output)
    {
        var data = Load(sizes.Dataset == "synthetic" ? "synthetic" : "mnist", output);
        var partitions = Partitioner.Split(PartitionKind.Contiguous, data.Train.Labels, 80, Math.Min(100, data.Train.Count / 80), 0);
        var server = new ServerOptions(1.0, 1, TimeSpan.FromMinutes(5), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), 0);
        var spec = new SimulationSpec(ModelKind.Cnn, data, partitions, server, SimulatedFaults.None, Environment.ProcessorCount);
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        var state = process.Initialize();
        long atTen = 0;
        long resident = 0;
        for (int round = 1; round <= sizes.MemoryRounds; round++)
        {
            (state, _) = await process.NextAsync(state);
            if (round == 10 || round == sizes.MemoryRounds)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                resident = PeakMemory.Resident();
                atTen = round == 10 ? resident : atTen;
            }
        }
        double ratio = (double)resident / atTen;
        return Print(output, new Figure(
            Format($"5. resident memory, tutorial configuration, round {sizes.MemoryRounds} against round 10"),
            "<= 1.05", Format($"{resident / 1e6:F0} MB against {atTen / 1e6:F0} MB = {ratio:F3}"), ratio <= 1.05));
    }

    /// <summary>Target 6: weight messages serialize at least 1 GB/s each way, whole and as the chunks remoting carries.</summary>
    private static Figure[] Serialization(Sizes sizes, TextWriter output)
    {
        using var system = ActorSystem.Create("bench", SimulateCommand.QuietAkka.WithFallback(FederationSerialization.Config));
        var delta = new float[McMahanFloats];
        var random = new Random(2);
        for (int i = 0; i < delta.Length; i++)
        {
            delta[i] = (float)(random.NextDouble() - 0.5);
        }
        var message = new FitResult(3, "client-00001", delta, 600, 0.5, 0.5);
        var serializer = (SerializerWithStringManifest)system.Serialization.FindSerializerFor(message);
        string manifest = serializer.Manifest(message);
        var bytes = serializer.ToBinary(message);

        var transfer = new ChunkedTransfer(system);
        var assembler = new ChunkAssembler();
        var chunkSerializer = (SerializerWithStringManifest)system.Serialization.FindSerializerForType(typeof(Chunk));
        string chunkManifest = chunkSerializer.Manifest(new Chunk(0, 0, 1, "", new byte[1]));
        var frames = Array.Empty<byte[]>();
        var times = new Dictionary<string, List<double>> { ["whole write"] = [], ["whole read"] = [], ["chunked write"] = [], ["chunked read"] = [] };
        for (int i = 0; i < sizes.Repeats + 1; i++)
        {
            var clock = Stopwatch.StartNew();
            bytes = serializer.ToBinary(message);
            times["whole write"].Add(clock.Elapsed.TotalSeconds);
            clock.Restart();
            var read = (FitResult)serializer.FromBinary(bytes, manifest);
            times["whole read"].Add(clock.Elapsed.TotalSeconds);
            WeightBuffers.Return(read.Delta); // as the server does once it has added the update to its sum

            // What remoting does with a large message: cut into chunks, each chunk serialized as a frame, and back.
            clock.Restart();
            frames = transfer.Prepare(message).Chunks().Select(chunkSerializer.ToBinary).ToArray();
            times["chunked write"].Add(clock.Elapsed.TotalSeconds);
            clock.Restart();
            object? whole = null;
            foreach (var frame in frames)
            {
                var chunk = (Chunk)chunkSerializer.FromBinary(frame, chunkManifest);
                assembler.TryAdd(chunk, null, out whole, out _);
            }
            times["chunked read"].Add(clock.Elapsed.TotalSeconds);
            if (whole is not FitResult reassembled)
            {
                throw new InvalidOperationException("the chunks did not reassemble into the message");
            }
            WeightBuffers.Return(reassembled.Delta);
        }
        output.WriteLine(Format($"a weight message of {bytes.Length / 1e6:F2} MB, {frames.Length} chunks: median of {sizes.Repeats} after a warm-up"));
        return times.Select(pair =>
        {
            var measured = pair.Value.Skip(1).Order().ToArray();
            double median = bytes.Length / measured[measured.Length / 2] / 1e9;
            double best = bytes.Length / measured[0] / 1e9;
            return Print(output, new Figure(Format($"6. serialization of a McMahan-CNN update, {pair.Key}"), ">= 1 GB/s",
                Format($"{median:F2} GB/s median, {best:F2} GB/s best"), median >= 1));
        }).ToArray();
    }

    private static DatasetSplit Load(string dataset, TextWriter output) =>
        DatasetCatalog.Load(dataset, null, DatasetCatalog.DefaultCacheDir(), 0, output.WriteLine);

    /// <summary>The process's resident memory, from Linux's /proc (peak resettable through clear_refs).</summary>
    private static class PeakMemory
    {
        public static long Resident() => Status("VmRSS:");

        public static long Peak() => Status("VmHWM:");

        /// <summary>Starts a new peak from the current resident size (Linux: writing 5 to clear_refs).</summary>
        public static void Reset()
        {
            try
            {
                File.WriteAllText("/proc/self/clear_refs", "5");
            }
            catch (IOException)
            {
                // Not Linux, or not allowed: the peak then covers the whole process.
            }
        }

        private static long Status(string field)
        {
            if (!File.Exists("/proc/self/status"))
            {
                using var self = Process.GetCurrentProcess();
                return field == "VmRSS:" ? self.WorkingSet64 : self.PeakWorkingSet64;
            }
            var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
            return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
    }
}
