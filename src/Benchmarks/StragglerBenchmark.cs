using System.Globalization;
using AkkaFed.Actors;
using AkkaFed.Host;
using AkkaFed.Host.Data;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using AkkaFed.Model.Simulation;

namespace AkkaFed.Benchmarks;

/// <summary>
/// <c>--suite stragglers</c>: on the simulated clock, a round where 30% of the devices are too slow for the deadline
/// against the same round where none is. The slow clients are never trained, so the round should take at most
/// 0.75 of the wall time. Both runs alternate, round by round, so that the machine's drift falls on both alike.
/// </summary>
public static class StragglerBenchmark
{
    /// <param name="SlowFraction">Share of devices <paramref name="SlowFactor"/> times slower, past the deadline.</param>
    public sealed record Setup(string Dataset, ModelKind Model, int Clients, int SamplesPerClient, int Rounds, int Threads,
        double SlowFraction, double SlowFactor, TimeSpan Deadline, int Seed);

    /// <summary>The TFF tutorial: 80 clients of 100 MNIST digits, the tutorial's CNN, 30% of the devices 20 times slower.</summary>
    public static readonly Setup Tutorial = new("mnist", ModelKind.Cnn, Clients: 80, SamplesPerClient: 100, Rounds: 6,
        Threads: Environment.ProcessorCount, SlowFraction: 0.3, SlowFactor: 20, Deadline: TimeSpan.FromSeconds(0.5), Seed: 0);

    /// <summary>Seconds on synthetic data: checks that the suite runs and its checks hold; its figures mean nothing.</summary>
    public static readonly Setup Quick = Tutorial with { Dataset = "synthetic", Clients = 20, SamplesPerClient = 50, Rounds = 1 };

    public static async Task<int> RunAsync(Setup setup, TextWriter output)
    {
        var (ratio, checks) = await MeasureAsync(setup, output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ratio wall time per round, {setup.SlowFraction * 100:F0}% slow / none slow: {ratio:F2} (target <= 0.75)"));
        return Check.Report(checks, output);
    }

    public static async Task<(double Ratio, IReadOnlyList<Check> Checks)> MeasureAsync(Setup o, TextWriter output)
    {
        var data = DatasetCatalog.Load(o.Dataset, null, DatasetCatalog.DefaultCacheDir(), o.Seed, output.WriteLine);
        var partitions = Partitioner.Split(PartitionKind.Iid, data.Train.Labels, o.Clients, o.SamplesPerClient, o.Seed);
        output.WriteLine($"stragglers: {Architectures.NameOf(o.Model)} on {data.Train.Name}, {o.Clients} clients x {o.SamplesPerClient} samples, " +
                         $"all per round, deadline {o.Deadline.TotalSeconds}s simulated, {o.Threads} training threads, {o.Rounds} measured rounds each, " +
                         $"{Environment.ProcessorCount} cores");

        SimulationSpec Spec(double slowFraction, TrainerPoolCounters counters)
        {
            var devices = DeviceProfiles.Synthetic(new SyntheticDevices(SlowFraction: slowFraction, SlowFactor: o.SlowFactor, Seed: o.Seed));
            var server = new ServerOptions(1.0, 1, o.Deadline, ClientWeighting.NumExamples, 1.0, new LocalTrainingOptions(), o.Seed)
            {
                Clock = SimulatedClock.For(o.Model, devices, SimulatedFaults.None),
            };
            return new SimulationSpec(o.Model, data, partitions, server, SimulatedFaults.None, Workers: o.Threads)
            {
                EvaluateEachRound = false,
                TrainerCounters = counters,
            };
        }

        var checks = new List<Check>();
        var none = new TrainerPoolCounters();
        var some = new TrainerPoolCounters();
        await using var withoutSlow = await FederatedProcess.StartAsync(Spec(0, none), config: SimulateCommand.QuietAkka);
        var fastState = withoutSlow.Initialize();
        await using var withSlow = await FederatedProcess.StartAsync(Spec(o.SlowFraction, some), config: SimulateCommand.QuietAkka);
        var slowState = withSlow.Initialize();

        double fastSeconds = 0, slowSeconds = 0;
        int trainedWithSlow = 0;
        for (int round = 0; round <= o.Rounds; round++)
        {
            (fastState, var fast) = await withoutSlow.NextAsync(fastState);
            (slowState, var slow) = await withSlow.NextAsync(slowState);
            checks.Add(Check.Equal($"round {fast.Round}, none slow: every client took part", fast.Participants, o.Clients));
            checks.Add(new Check($"round {slow.Round}, {o.SlowFraction * 100:F0}% slow: the slow clients are stragglers",
                slow.Stragglers > 0 && slow.Participants + slow.Stragglers == o.Clients, $"{slow.Participants} took part, {slow.Stragglers} stragglers"));
            trainedWithSlow += slow.Participants;
            if (round > 0)
            {
                // Round 0 warms both up and is not counted.
                fastSeconds += fast.WallSeconds;
                slowSeconds += slow.WallSeconds;
            }
        }
        checks.Add(Check.Equal("stragglers are never trained: trainings run with slow devices", some.Finished, trainedWithSlow));
        double ratio = slowSeconds / fastSeconds;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"none slow: {fastSeconds / o.Rounds:F3} s per round"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{o.SlowFraction * 100:F0}% slow: {slowSeconds / o.Rounds:F3} s per round, {trainedWithSlow / (o.Rounds + 1.0):F1} of {o.Clients} clients trained"));
        checks.Add(Check.FinitePositive("ratio with slow devices / without", ratio));
        return (ratio, checks);
    }
}
