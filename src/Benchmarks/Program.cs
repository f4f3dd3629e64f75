using System.CommandLine;
using AkkaFed.Benchmarks;
using AkkaFed.Host;

// akkafed-benchmarks: AkkaFed measured against its targets; BENCHMARKS.md keeps the figures and the commands.
var suite = new Option<string>("--suite")
{
    Description = "throughput: the simulation against centralized training; cluster: one process against four on loopback; " +
                  "scale: the scale targets; stragglers: simulated rounds with 30% slow devices against none; " +
                  "compression: each update compression against none, bytes and accuracy",
    DefaultValueFactory = _ => "throughput",
};
suite.AcceptOnlyFromAmong("throughput", "cluster", "scale", "stragglers", "compression");
var quick = new Option<bool>("--quick")
{
    Description = "throughput, scale, stragglers and compression: seconds on synthetic data; checks that the suite runs and its checks hold, its figures mean nothing",
};
var rounds = new Option<int?>("--rounds") { Description = "throughput and cluster: measured rounds (default 3); stragglers: measured rounds each (default 6); scale: rounds of memory-growth (default 200)" };
rounds.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int?>() is < 1 and int bad)
    {
        result.AddError($"--rounds {bad}: at least one round is measured");
    }
});
var targets = new Option<string[]>("--target")
{
    Description = "scale only: run just these targets, e.g. --target aggregation serialization",
    AllowMultipleArgumentsPerToken = true,
};
targets.AcceptOnlyFromAmong(ScaleBenchmark.Targets.Keys.ToArray());
var registered = new Option<int[]>("--registered")
{
    Description = "scale, registered-clients only: the numbers of registered clients to measure (default 100000 1000000 10000000)",
    AllowMultipleArgumentsPerToken = true,
};
registered.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int[]>()?.FirstOrDefault(n => n < ScaleBenchmark.Sampled) is int bad and not 0)
    {
        result.AddError($"--registered {bad}: registered-clients samples {ScaleBenchmark.Sampled} clients a round, so it needs at least that many");
    }
});

var mallocCompare = new Option<int?>("--malloc-compare")
{
    Description = "throughput only: the centralized floor and evaluation at batch 1000 with glibc's malloc tuning off and on, " +
                  "alternately in this many pairs of fresh processes; prints the medians and their ratio",
};
mallocCompare.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int?>() is < 1 and int bad)
    {
        result.AddError($"--malloc-compare {bad}: at least one pair of processes is measured");
    }
});
var compression = new Option<bool>("--compression")
{
    Description = "cluster only: instead of TLS against plain TCP, the cluster uncompressed and with each update compression; bytes on the wire",
};
// The child of --malloc-compare: the floor alone, with a line the parent reads.
var floorOnly = new Option<bool>("--floor-only") { Hidden = true };

var root = new RootCommand("Measure AkkaFed against its targets (see BENCHMARKS.md). Exits 1 when a run breaks one of its checks.")
{
    suite, quick, rounds, targets, registered, mallocCompare, compression, floorOnly,
};
root.Validators.Add(result =>
{
    string chosen = result.GetValue(suite)!;
    if (chosen != "scale" && (result.GetResult(targets) is not null || result.GetResult(registered) is not null))
    {
        result.AddError("--target and --registered choose what the scale suite measures: add --suite scale");
    }
    if (chosen != "cluster" && result.GetValue(compression))
    {
        result.AddError("--compression measures compression on the wire, in the cluster: add --suite cluster (--suite compression measures it in one process)");
    }
    if (chosen == "scale" && result.GetValue(rounds) is < 10 and int few)
    {
        result.AddError($"--rounds {few}: memory-growth compares the last round with round 10, so the scale suite needs at least 10");
    }
    if (chosen != "throughput" && (result.GetResult(mallocCompare) is not null || result.GetValue(floorOnly)))
    {
        result.AddError("--malloc-compare measures the throughput suite's centralized floor: use it with --suite throughput");
    }
    if (chosen == "cluster" && result.GetValue(quick))
    {
        result.AddError("the cluster suite has no quick mode: it always trains the McMahan CNN on Fashion-MNIST across four processes");
    }
});
root.SetAction(async (parse, cancel) =>
{
    switch (parse.GetValue(suite))
    {
        case "scale":
            var sizes = parse.GetValue(quick) ? ScaleBenchmark.Quick : ScaleBenchmark.Full;
            if (parse.GetValue(rounds) is int memoryRounds)
            {
                sizes = sizes with { MemoryRounds = memoryRounds };
            }
            if (parse.GetValue(registered) is { Length: > 0 } counts)
            {
                sizes = sizes with { Registered = counts };
            }
            var only = parse.GetValue(targets) is { Length: > 0 } names
                ? names.Select(name => ScaleBenchmark.Targets[name]).ToArray()
                : Enum.GetValues<ScaleTarget>();
            return await Cli.Guard(() => ScaleBenchmark.RunAsync(sizes, only, Console.Out));
        case "stragglers":
            var stragglers = parse.GetValue(quick) ? StragglerBenchmark.Quick : StragglerBenchmark.Tutorial;
            if (parse.GetValue(rounds) is int measured)
            {
                stragglers = stragglers with { Rounds = measured };
            }
            return await Cli.Guard(() => StragglerBenchmark.RunAsync(stragglers, Console.Out));
        case "compression":
            return await Cli.Guard(() => CompressionBenchmark.RunAsync(
                parse.GetValue(quick) ? CompressionBenchmark.Quick : CompressionBenchmark.HeldIn,
                parse.GetValue(rounds) ?? (parse.GetValue(quick) ? 2 : 20), parse.GetValue(quick), Console.Out));
        case "cluster":
            return await Cli.Guard(() => parse.GetValue(compression)
                ? ClusterBenchmark.RunCompressionAsync(parse.GetValue(rounds) ?? 3, Console.Out)
                : ClusterBenchmark.RunAsync(parse.GetValue(rounds) ?? 3, Console.Out));
        default:
            var setup = parse.GetValue(quick) ? ThroughputBenchmark.Quick : ThroughputBenchmark.McMahanFashionMnist;
            if (parse.GetValue(rounds) is int r)
            {
                setup = setup with { Rounds = r };
            }
            if (parse.GetValue(floorOnly))
            {
                return await Cli.Guard(() => Task.FromResult(ThroughputBenchmark.FloorOnly(setup, Console.Out)));
            }
            if (parse.GetValue(mallocCompare) is int pairs)
            {
                var child = new List<string> { "--suite", "throughput", "--rounds", $"{setup.Rounds}" };
                if (parse.GetValue(quick))
                {
                    child.Add("--quick");
                }
                return await Cli.Guard(() => ThroughputBenchmark.CompareMallocAsync(child, pairs, Console.Out));
            }
            return await Cli.Guard(() => ThroughputBenchmark.RunAsync(setup, Console.Out));
    }
});
return await root.Parse(args).InvokeAsync();
