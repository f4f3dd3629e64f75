using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Serialization;
using AkkaFed.Actors;
using AkkaFed.Actors.Serialization;
using AkkaFed.Host;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Benchmarks;

/// <summary>What the scale suite measures, one target each.</summary>
public enum ScaleTarget
{
    /// <summary>The simulation's throughput against centralized training, at E=5.</summary>
    Throughput,

    /// <summary>One round of many clients with a few samples each, against a centralized epoch.</summary>
    SmallClients,

    /// <summary>Many registered clients, few sampled: peak memory and orchestration per round.</summary>
    RegisteredClients,

    /// <summary>Streaming aggregation of 100 McMahan-CNN updates.</summary>
    Aggregation,

    /// <summary>Resident memory after many rounds against round 10.</summary>
    MemoryGrowth,

    /// <summary>Weight messages serialized, whole and as chunks.</summary>
    Serialization,
}

/// <summary>
/// <c>--suite scale</c>: six targets, each figure printed beside its goal, then a closing table in the form
/// BENCHMARKS.md keeps, then the checks every run must pass whatever the machine's speed. With <c>--quick</c> the
/// same code runs on small synthetic sizes: the checks still hold, the figures mean nothing.
/// </summary>
public static class ScaleBenchmark
{
    /// <summary>The sizes of one run of the suite.</summary>
    public sealed record Sizes(
        string Dataset,
        ThroughputBenchmark.Setup McMahan,
        ThroughputBenchmark.Setup Tutorial,
        int SmallClients,
        int[] Registered,
        int IdleShard,
        int IdleRounds,
        int Updates,
        int MemoryRounds,
        int Repeats);

    public static readonly Sizes Full = new(
        "fashion-mnist",
        ThroughputBenchmark.McMahanFashionMnist with { Epochs = 5, Rounds = 2 },
        new ThroughputBenchmark.Setup("mnist", ModelKind.Cnn, Clients: 80, SamplesPerClient: 100, ClientsPerRound: 80, Epochs: 5,
            BatchSize: 20, Rounds: 3, Threads: Environment.ProcessorCount, Seed: 0),
        SmallClients: 10_000,
        Registered: [100_000, 1_000_000, 10_000_000],
        IdleShard: 100,
        IdleRounds: 3,
        Updates: 100,
        MemoryRounds: 200,
        Repeats: 30);

    public static readonly Sizes Quick = new(
        "synthetic",
        ThroughputBenchmark.Quick,
        ThroughputBenchmark.Quick with { ClientsPerRound = ThroughputBenchmark.Quick.Clients },
        SmallClients: 200,
        Registered: [5_000],
        IdleShard: 10,
        IdleRounds: 2,
        Updates: 4,
        MemoryRounds: 12,
        Repeats: 3);

    /// <summary>The targets by the names the command line takes.</summary>
    public static readonly IReadOnlyDictionary<string, ScaleTarget> Targets = new Dictionary<string, ScaleTarget>
    {
        ["throughput"] = ScaleTarget.Throughput,
        ["small-clients"] = ScaleTarget.SmallClients,
        ["registered-clients"] = ScaleTarget.RegisteredClients,
        ["aggregation"] = ScaleTarget.Aggregation,
        ["memory-growth"] = ScaleTarget.MemoryGrowth,
        ["serialization"] = ScaleTarget.Serialization,
    };

    public static string NameOf(ScaleTarget target) => Targets.Single(pair => pair.Value == target).Key;

    /// <summary>The clients sampled per round by the registered-clients target, however many are registered.</summary>
    public const int Sampled = 100;

    private const int McMahanFloats = 1_663_370;

    /// <summary>One figure: what was measured, the number that is compared with the goal, and whether it met it
    /// (null: recorded, no goal).</summary>
    public sealed record Figure(ScaleTarget Target, string What, string Goal, double Value, string Measured, bool? Met);

    /// <summary>A run's figures and the checks it passed or broke.</summary>
    public sealed record Report(IReadOnlyList<Figure> Figures, IReadOnlyList<Check> Checks);

    /// <summary>Runs the <paramref name="targets"/>, prints each figure, the table and the checks; 1 if a check broke.</summary>
    public static async Task<int> RunAsync(Sizes sizes, IReadOnlyCollection<ScaleTarget> targets, TextWriter output) =>
        Print(await MeasureAsync(sizes, targets, output), output);

    /// <summary>Measures the <paramref name="targets"/>, printing each figure as it comes.</summary>
    public static async Task<Report> MeasureAsync(Sizes sizes, IReadOnlyCollection<ScaleTarget> targets, TextWriter output)
    {
        output.WriteLine($"scale benchmark: {Machine.Describe()}, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9:F0} GB");
        var figures = new List<Figure>();
        var checks = new List<Check>();
        if (targets.Contains(ScaleTarget.Throughput))
        {
            await Throughput(sizes, output, figures, checks);
        }
        if (targets.Contains(ScaleTarget.SmallClients))
        {
            await SmallClients(sizes, output, figures, checks);
        }
        foreach (int registered in targets.Contains(ScaleTarget.RegisteredClients) ? sizes.Registered : [])
        {
            await RegisteredClients(sizes, registered, output, figures, checks);
        }
        if (targets.Contains(ScaleTarget.Aggregation))
        {
            Aggregation(sizes, output, figures, checks);
        }
        if (targets.Contains(ScaleTarget.MemoryGrowth))
        {
            await MemoryGrowth(sizes, output, figures, checks);
        }
        if (targets.Contains(ScaleTarget.Serialization))
        {
            Serialization(sizes, output, figures, checks);
        }
        return new Report(figures, checks);
    }

    /// <summary>Prints the table of figures and the checks, each figure's number among them; 1 if a check broke.</summary>
    public static int Print(Report report, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine("| target | goal | measured | |");
        output.WriteLine("| --- | --- | --- | --- |");
        foreach (var f in report.Figures)
        {
            string verdict = f.Met switch { true => "met", false => "**missed**", null => "recorded" };
            output.WriteLine($"| {Label(f)} | {f.Goal} | {f.Measured} | {verdict} |");
        }
        output.WriteLine();
        var finite = report.Figures.Select(f => Check.Finite($"{Label(f)}: the figure", f.Value));
        return Check.Report(report.Checks.Concat(finite).ToArray(), output);
    }

    private static string Label(Figure figure) => $"{NameOf(figure.Target)}: {figure.What}";

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static void Add(List<Figure> figures, TextWriter output, Figure figure)
    {
        output.WriteLine($"=> {Label(figure)}: {figure.Measured} (goal {figure.Goal})");
        figures.Add(figure);
    }

    /// <summary>The simulation trains at least 0.95 as fast as centralized TorchSharp, side by side.</summary>
    private static async Task Throughput(Sizes sizes, TextWriter output, List<Figure> figures, List<Check> checks)
    {
        foreach (var setup in new[] { sizes.McMahan, sizes.Tutorial })
        {
            var result = await ThroughputBenchmark.MeasureAsync(setup, output);
            checks.AddRange(result.Checks);
            Add(figures, output, new Figure(ScaleTarget.Throughput,
                Format($"{Architectures.NameOf(setup.Model)}, {setup.Clients}x{setup.SamplesPerClient}, {setup.ClientsPerRound} per round, E={setup.Epochs}, B={setup.BatchSize}"),
                ">= 0.95 of centralized", result.Ratio,
                Format($"{result.Simulated:F0} against {result.Centralized:F0} samples/s = {result.Ratio:F2}"),
                result.Ratio >= 0.95));
        }
    }

    /// <summary>One round of 10,000 clients over 60,000 samples within 1.3x a centralized epoch.</summary>
    private static async Task SmallClients(Sizes sizes, TextWriter output, List<Figure> figures, List<Check> checks)
    {
        var data = Load(sizes.Dataset, output);
        int shard = data.Train.Count / sizes.SmallClients;
        var local = new LocalTrainingOptions(Epochs: 1, BatchSize: 10, LearningRate: 0.02);
        var shards = Shards.Windows(data.Train.Count, sizes.SmallClients, shard, seed: 0);
        var samples = shards.SelectMany(s => s.ToArray()).ToArray();
        int workers = Environment.ProcessorCount;

        double centralized;
        using (var train = new TensorData(data.Train))
        {
            var o = new ThroughputBenchmark.Setup(sizes.Dataset, ModelKind.Cnn, 1, samples.Length, 1, local.Epochs, local.BatchSize,
                Rounds: 1, workers, Seed: 0);
            centralized = samples.Length / ThroughputBenchmark.CentralizedFloor(o, train, samples, output);
        }
        output.WriteLine(Format($"centralized epoch over {samples.Length} samples, tutorial CNN, B={local.BatchSize}: {centralized:F2} s"));

        var server = new ServerOptions(1.0, 1, TimeSpan.FromMinutes(30), ClientWeighting.NumExamples, 1.0, local, Seed: 0);
        var counters = new TrainerPoolCounters();
        var spec = new SimulationSpec(ModelKind.Cnn, data, shards, server, SimulatedFaults.None, workers)
        {
            EvaluateEachRound = false,
            TrainerCounters = counters,
        };
        string run = Format($"{sizes.SmallClients} clients of {shard}");
        var clock = Stopwatch.StartNew();
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        output.WriteLine(Format($"{run} samples registered in {clock.Elapsed.TotalSeconds:F1} s"));
        var state = process.Initialize();
        (state, var warm) = await process.NextAsync(state);
        (_, var round) = await process.NextAsync(state);
        output.WriteLine(Format($"rounds of {round.Participants} clients: {warm.WallSeconds:F2} s (first), {round.WallSeconds:F2} s; {counters.ModelCount} models, at most {counters.PeakConcurrency} clients training at once"));
        checks.AddRange(Check.FullRound(run, warm, sizes.SmallClients));
        checks.AddRange(Check.FullRound(run, round, sizes.SmallClients));
        checks.AddRange(Check.PoolBounds(run, counters, workers));
        double ratio = round.WallSeconds / centralized;
        Add(figures, output, new Figure(ScaleTarget.SmallClients,
            Format($"one round of {sizes.SmallClients:N0} clients x {shard} samples, tutorial CNN, E=1, B={local.BatchSize}"),
            "<= 1.3x a centralized epoch", ratio,
            Format($"{round.WallSeconds:F2} s against {centralized:F2} s = {ratio:F2}x"),
            ratio <= 1.3));
    }

    /// <summary>
    /// Many registered clients, 100 sampled: registration time, peak memory and per-round orchestration time. The
    /// clients are activated on demand (<see cref="ClientHost"/>): between rounds none has an actor.
    /// </summary>
    private static async Task RegisteredClients(Sizes sizes, int registered, TextWriter output, List<Figure> figures, List<Check> checks)
    {
        var data = Load(sizes.Dataset, output);
        var local = new LocalTrainingOptions(Epochs: 1, BatchSize: 20, LearningRate: 0.02);
        var server = new ServerOptions((double)Sampled / registered, Sampled, TimeSpan.FromMinutes(30), ClientWeighting.NumExamples, 1.0,
            local, Seed: 0);
        int workers = Environment.ProcessorCount;
        var counters = new TrainerPoolCounters();
        GC.Collect();
        PeakMemory.Reset();
        long baseline = PeakMemory.Resident();
        var clock = Stopwatch.StartNew();
        var spec = new SimulationSpec(ModelKind.Cnn, data, Shards.Windows(data.Train.Count, registered, sizes.IdleShard, seed: 0), server,
            SimulatedFaults.None, workers)
        {
            EvaluateEachRound = false,
            TrainerCounters = counters,
            Activation = ClientActivation.OnDemand,
        };
        string run = Format($"{registered} registered clients");
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        double registration = clock.Elapsed.TotalSeconds;
        output.WriteLine(Format($"{registered:N0} clients of {sizes.IdleShard} samples (shards and registration) in {registration:F1} s"));
        var state = process.Initialize();
        var overheads = new List<double>();
        for (int round = 0; round <= sizes.IdleRounds; round++)
        {
            var busyBefore = counters.BusySeconds();
            (state, var metrics) = await process.NextAsync(state);
            var busyAfter = counters.BusySeconds();
            double training = busyAfter.Max(worker => worker.Value - busyBefore.GetValueOrDefault(worker.Key));
            double overhead = metrics.WallSeconds - training;
            output.WriteLine(Format($"round {metrics.Round}: {metrics.WallSeconds:F3} s, of which the busiest worker trained {training:F3} s: orchestration {overhead:F3} s{(round == 0 ? " (warm-up, not counted)" : "")}"));
            checks.AddRange(Check.FullRound(run, metrics, Sampled));
            if (round > 0)
            {
                overheads.Add(overhead);
            }
        }
        long peak = PeakMemory.Peak();
        var occupancy = await process.Host!.Ask<ClientHost.Occupancy>(ClientHost.CountActive.Instance, TimeSpan.FromMinutes(1));
        output.WriteLine(Format($"resident memory: {baseline / 1e6:F0} MB before the clients (data loaded), peak {peak / 1e6:F0} MB: {(peak - baseline) / (double)registered:F0} bytes per registered client"));
        checks.AddRange(Check.PoolBounds(run, counters, workers));
        checks.Add(Check.FinitePositive($"{run}: peak resident memory", peak));
        checks.Add(new Check($"{run}: no client has an actor between rounds", occupancy.Active == 0, Format($"{occupancy.Active} active")));
        double mean = overheads.Average();
        // The targets: issue 14's at ten million, the earlier ones at 100,000; the sizes between are recorded.
        var (memoryGoal, memoryLimit, overheadGoal, overheadLimit, registrationLimit) = registered switch
        {
            >= 10_000_000 => ("<= 4 GB", 4e9, "<= 0.05 s", 0.05, 30.0),
            <= 100_000 => ("<= 2 GB", 2e9, "<= 0.5 s", 0.5, double.NaN),
            _ => ("recorded", double.NaN, "recorded", double.NaN, double.NaN),
        };
        bool? Within(double value, double limit) => double.IsNaN(limit) ? null : value <= limit;
        Add(figures, output, new Figure(ScaleTarget.RegisteredClients, Format($"registration, {registered:N0} clients"),
            double.IsNaN(registrationLimit) ? "recorded" : Format($"<= {registrationLimit:F0} s"), registration, Format($"{registration:F1} s"),
            Within(registration, registrationLimit)));
        Add(figures, output, new Figure(ScaleTarget.RegisteredClients, Format($"peak resident memory, {registered:N0} registered clients, {Sampled} sampled"),
            memoryGoal, peak / 1e9, Format($"{peak / 1e9:F2} GB"), Within(peak, memoryLimit)));
        Add(figures, output, new Figure(ScaleTarget.RegisteredClients, Format($"orchestration per round, {registered:N0} registered clients, {Sampled} sampled"),
            overheadGoal, mean, Format($"{mean:F3} s (mean of {overheads.Count}, max {overheads.Max():F3} s)"), Within(mean, overheadLimit)));
    }

    /// <summary>100 McMahan-CNN updates (665 MB of floats) aggregate, streaming, in at most 0.15 s.</summary>
    private static void Aggregation(Sizes sizes, TextWriter output, List<Figure> figures, List<Check> checks)
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
        float[] Aggregate(IEnumerable<int> order)
        {
            using var sum = new FixedPointSum(McMahanFloats);
            foreach (int k in order)
            {
                sum.Add(updates[k], weights[k]);
            }
            return sum.Mean();
        }
        var inOrder = Enumerable.Range(0, sizes.Updates).ToArray();
        var forward = Aggregate(inOrder); // also the warm-up
        var backward = Aggregate(inOrder.Reverse());
        checks.Add(new Check("aggregation: the same updates in two orders give identical bits", SameBits(forward, backward),
            $"{sizes.Updates} updates, first in order, then in reverse"));
        var times = Enumerable.Range(0, 5).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            Aggregate(inOrder);
            return clock.Elapsed.TotalSeconds;
        }).Order().ToArray();
        Add(figures, output, new Figure(ScaleTarget.Aggregation,
            Format($"streaming aggregation of {sizes.Updates} McMahan-CNN updates ({sizes.Updates * McMahanFloats * 4L / 1e6:F0} MB)"),
            "<= 0.150 s", times[2], Format($"{times[2]:F3} s median of 5, best {times[0]:F3} s"), times[2] <= 0.150));
    }

    /// <summary>Resident memory after the last round within 5% of round 10 (tutorial configuration).</summary>
    private static async Task MemoryGrowth(Sizes sizes, TextWriter output, List<Figure> figures, List<Check> checks)
    {
        var data = Load(sizes.Dataset == "synthetic" ? "synthetic" : "mnist", output);
        const int clients = 80;
        var partitions = Partitioner.Split(PartitionKind.Contiguous, data.Train.Labels, clients, Math.Min(100, data.Train.Count / clients), 0);
        var server = new ServerOptions(1.0, 1, TimeSpan.FromMinutes(5), ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), 0);
        int workers = Environment.ProcessorCount;
        var counters = new TrainerPoolCounters();
        var spec = new SimulationSpec(ModelKind.Cnn, data, partitions, server, SimulatedFaults.None, workers) { TrainerCounters = counters };
        string run = Format($"memory growth over {sizes.MemoryRounds} rounds");
        await using var process = await FederatedProcess.StartAsync(spec, config: SimulateCommand.QuietAkka);
        var state = process.Initialize();
        long atTen = 0;
        long resident = 0;
        for (int round = 1; round <= sizes.MemoryRounds; round++)
        {
            (state, var metrics) = await process.NextAsync(state);
            checks.AddRange(Check.FullRound(run, metrics, clients));
            if (round == 10 || round == sizes.MemoryRounds || (round >= 100 && round % 100 == 0))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                resident = PeakMemory.Resident();
                atTen = round == 10 ? resident : atTen;
                // Where memory goes: the managed heap, and glibc's heap (in use, and held but free: fragmentation).
                var native = PeakMemory.Malloc();
                output.WriteLine(Format($"  round {round}: resident {resident / 1e6:F0} MB, managed heap {GC.GetGCMemoryInfo().HeapSizeBytes / 1e6:F0} MB, malloc in use {native.InUse / 1e6:F0} MB, malloc free {native.Free / 1e6:F0} MB"));
            }
        }
        checks.AddRange(Check.PoolBounds(run, counters, workers));
        var trims = NativeHeap.Done;
        output.WriteLine(Format($"  native heap trimmed {trims.Count} times when the trainers went idle, {trims.Time.TotalMilliseconds:F0} ms in all"));
        double ratio = (double)resident / atTen;
        checks.Add(Check.FinitePositive($"{run}: resident memory, last round against round 10", ratio));
        Add(figures, output, new Figure(ScaleTarget.MemoryGrowth,
            Format($"resident memory, tutorial configuration, round {sizes.MemoryRounds} against round 10"),
            "<= 1.05", ratio, Format($"{resident / 1e6:F0} MB against {atTen / 1e6:F0} MB = {ratio:F3}"), ratio <= 1.05));
    }

    /// <summary>Weight messages serialize at least 1 GB/s each way, whole and as the chunks remoting carries.</summary>
    private static void Serialization(Sizes sizes, TextWriter output, List<Figure> figures, List<Check> checks)
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

        var transfer = FederationTransport.Get(system);
        var assembler = new ChunkAssembler(WeightBuffers.Get(system));
        var chunkSerializer = (SerializerWithStringManifest)system.Serialization.FindSerializerForType(typeof(Chunk));
        string chunkManifest = chunkSerializer.Manifest(new Chunk(0, 0, 1, "", "", new byte[1]));
        var frames = Array.Empty<byte[]>();
        var times = new Dictionary<string, List<double>> { ["whole write"] = [], ["whole read"] = [], ["chunked write"] = [], ["chunked read"] = [] };
        bool wholeReadsBack = true;
        bool chunksReadBack = true;
        for (int i = 0; i < sizes.Repeats + 1; i++)
        {
            var clock = Stopwatch.StartNew();
            bytes = serializer.ToBinary(message);
            times["whole write"].Add(clock.Elapsed.TotalSeconds);
            clock.Restart();
            var read = (FitResult)serializer.FromBinary(bytes, manifest);
            times["whole read"].Add(clock.Elapsed.TotalSeconds);
            wholeReadsBack &= Same(read, message);
            WeightBuffers.Get(system).Return(read.Delta.Values); // as the server does once it has added the update to its sum

            // What remoting does with a large message: cut into chunks, each chunk serialized as a frame, and back.
            clock.Restart();
            frames = transfer.Prepare(message).ChunksFor(system.DeadLetters).Select(chunkSerializer.ToBinary).ToArray();
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
            chunksReadBack &= Same(reassembled, message);
            WeightBuffers.Get(system).Return(reassembled.Delta.Values);
        }
        checks.Add(new Check("serialization: a weight message reads back bit-identical, whole", wholeReadsBack, $"{sizes.Repeats + 1} reads"));
        checks.Add(new Check("serialization: a weight message reads back bit-identical, from its chunks", chunksReadBack,
            $"{sizes.Repeats + 1} reads of {frames.Length} chunks"));
        output.WriteLine(Format($"a weight message of {bytes.Length / 1e6:F2} MB, {frames.Length} chunks: median of {sizes.Repeats} after a warm-up"));
        foreach (var (way, seconds) in times)
        {
            var measured = seconds.Skip(1).Order().ToArray();
            double median = bytes.Length / measured[measured.Length / 2] / 1e9;
            double best = bytes.Length / measured[0] / 1e9;
            Add(figures, output, new Figure(ScaleTarget.Serialization, Format($"a McMahan-CNN update, {way}"), ">= 1 GB/s", median,
                Format($"{median:F2} GB/s median, {best:F2} GB/s best"), median >= 1));
        }
    }

    private static bool Same(FitResult read, FitResult sent) =>
        read.Round == sent.Round && read.ClientId == sent.ClientId && read.Examples == sent.Examples &&
        read.Loss.Equals(sent.Loss) && read.Accuracy.Equals(sent.Accuracy) && SameBits(read.Delta.Values!, sent.Delta.Values!);

    private static bool SameBits(float[] a, float[] b) =>
        MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan()));

    private static DatasetSplit Load(string dataset, TextWriter output) =>
        DatasetCatalog.Load(dataset, null, DatasetCatalog.DefaultCacheDir(), 0, output.WriteLine);

    /// <summary>The process's resident memory, from Linux's /proc (peak resettable through clear_refs).</summary>
    private static class PeakMemory
    {
        public static long Resident() => Status("VmRSS:");

        public static long Peak() => Status("VmHWM:");

        /// <summary>glibc's malloc: bytes in use and bytes held free (mallinfo2); zeros where there is no glibc.</summary>
        public static (long InUse, long Free) Malloc()
        {
            try
            {
                var info = mallinfo2();
                return ((long)(info.uordblks + info.hblkhd), (long)info.fordblks);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return (0, 0);
            }
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct MallInfo2
        {
            public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
        }

        [DllImport("libc", EntryPoint = "mallinfo2")]
        private static extern MallInfo2 mallinfo2();

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
