using System.Globalization;
using Akka.Actor;
using AkkaFed.Actors;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;

namespace AkkaFed.Host.Chaos;

/// <summary>
/// <c>akkafed chaos --in-process</c>: the soak of <c>akkafed simulate</c>, faster than the cluster's. One
/// <see cref="FederatedProcess"/> on the simulated clock runs every round while clients straggle and drop out (the
/// simulated clock's faults), a few send NaN (<c>attack = nan</c> with an attack-fraction), and clients crash: their
/// actor is stopped, so the server sees it terminate, and a few rounds later a new actor with the same id and shard
/// registers in its place. A few "turncoats" come back from their first crash as sign-flip or scale attackers.
/// </summary>
/// <remarks>
/// A stopped actor is as close to a crash as one process allows: the server learns of it by a Terminated message, at
/// once, where a remote client's death reaches it through the failure detector. What the in-process soak shows is the
/// server's side of a client dying mid-round and coming back; the cluster soak shows the network's.
/// </remarks>
internal sealed class InProcessSoak(ChaosOptions options, int clients, TextWriter log)
{
    private const int SamplesPerClient = 20;

    /// <summary>Per round, the chance that a running client crashes; it is back 2 to 4 rounds later.</summary>
    public const double CrashRate = 0.03;

    /// <summary>Share of clients that come back from their first crash (in round 2) as sign-flip or scale attackers.</summary>
    public const double TurncoatFraction = 0.03;

    /// <summary>Share of clients that send NaN from the start (the run's <c>attack</c> setting).</summary>
    public const double NanFraction = 0.02;

    /// <summary>The wall time a round may take before the soak gives up on it: the driver's own watchdog, and a minute more.</summary>
    private static readonly TimeSpan RoundBound = FederationDriver.SimulatedStall + TimeSpan.FromMinutes(1);

    private static readonly Akka.Configuration.Config QuietAkka =
        Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = ERROR\nakka.stdout-loglevel = ERROR");

    private readonly ChaosInvariants _invariants = new();
    private readonly Dictionary<string, int> _injected = new();

    private void Say(string text) => log.WriteLine($"chaos: {text}");

    private void Count(string kind)
    {
        _injected[kind] = _injected.GetValueOrDefault(kind) + 1;
        _invariants.Faults++;
    }

    private double Draw(int round, string label) => StableSeed.Uniform(options.Seed, round, $"chaos:{label}");

    public async Task<int> RunAsync(CancellationToken cancel)
    {
        int rounds = options.Rounds;
        Directory.CreateDirectory(options.Output);
        foreach (var file in new[] { "metrics.csv", "metrics.jsonl", "model.pt", "memory.csv" })
        {
            File.Delete(Path.Combine(options.Output, file));
        }
        var ids = Enumerable.Range(0, clients).Select(FederatedProcess.ClientId).ToArray();
        double nanFraction = FractionFor(ids, Math.Max(1, (int)Math.Round(NanFraction * clients)));
        var overrides = new Dictionary<string, string>
        {
            ["dataset"] = "synthetic", ["model"] = "2nn", ["partition"] = "iid",
            ["clients"] = $"{clients}", ["samples-per-client"] = $"{SamplesPerClient}", ["client-fraction"] = "0.5",
            ["min-clients"] = $"{options.MinClients}", ["round-deadline"] = $"{(int)options.Deadline.TotalMilliseconds}ms",
            // 10% of the asked clients: 7% answer after the deadline (so are never trained), 3% never answer.
            ["straggler-fraction"] = "0.07", ["straggler-delay"] = "5s", ["dropout-fraction"] = "0.03",
            ["attack"] = "nan", ["attack-fraction"] = nanFraction.ToString("R", CultureInfo.InvariantCulture),
            ["seed"] = $"{options.Seed}", ["rounds"] = $"{rounds}", ["threads"] = $"{Math.Min(2, Environment.ProcessorCount)}",
            ["output"] = options.Output,
        };
        var settings = FederationSettings.Create(ConfigLoader.Load(null, overrides));
        var data = settings.LoadData(_ => { });
        var partitions = settings.Partitions(data);
        var spec = new SimulationSpec(settings.Model, data, partitions, settings.ServerOnItsClock(), settings.Faults, settings.Threads)
        {
            Attack = settings.Attack,
            // The soak crashes and restarts clients' actors by name, as a deployment's: each needs one for the whole run.
            Activation = ClientActivation.AlwaysLive,
        };
        var nan = ids.Where(settings.Attack.IsAttacker).ToHashSet();
        var turncoats = ids.Where(id => !nan.Contains(id))
            .OrderBy(id => Draw(0, $"turncoat:{id}"))
            .Take(Math.Max(2, (int)Math.Round(TurncoatFraction * clients)))
            .Select((id, i) => (id, Kind: i % 2 == 0 ? AttackKind.SignFlip : AttackKind.Scale))
            .ToDictionary(t => t.id, t => t.Kind);
        Say($"in-process soak: {clients} clients on the simulated clock, {rounds} rounds, deadline {options.Deadline.TotalSeconds:F0} s, seed {options.Seed}; " +
            $"straggler-fraction 0.07 (5 s late), dropout-fraction 0.03, {nan.Count} NaN attackers ({string.Join(", ", nan)}), " +
            $"turncoats {string.Join(", ", turncoats.Select(t => $"{t.Key} ({Attack.Names.First(n => n.Value == t.Value).Key})"))}, " +
            $"crashes {CrashRate:P0} of running clients per round");

        // Restarted clients train on tensors and models of their own: the process's are its private business.
        using var train = new TensorData(data.Train);
        using var trainers = new TrainerPool(settings.Model, spec.TorchThreads);
        // Rejected updates and failed rounds are counted in metrics.csv: Akka's warnings of each would drown the soak's log.
        await using var process = await FederatedProcess.StartAsync(spec, config: QuietAkka);
        var system = process.System;
        var driver = await system.ActorSelection("/user/federation").ResolveOne(TimeSpan.FromMinutes(1));
        var actors = new IActorRef?[clients];
        for (int k = 0; k < clients; k++)
        {
            actors[k] = await system.ActorSelection($"/user/{ids[k]}").ResolveOne(TimeSpan.FromMinutes(1));
        }
        var restartAt = new int[clients];
        var lives = new int[clients];

        var state = process.Initialize();
        var memory = new List<(int Round, long Kb)>();
        var failed = 0;
        using (var metrics = new MetricsWriter(options.Output))
        {
            for (int round = 1; round <= rounds; round++)
            {
                for (int k = 0; k < clients; k++)
                {
                    if (actors[k] is null && restartAt[k] == round)
                    {
                        var attack = lives[k] > 0 && turncoats.TryGetValue(ids[k], out var kind)
                            ? new Attack(kind, Fraction: 1, Scale: kind == AttackKind.Scale ? 10 : 1, Seed: options.Seed)
                            : settings.Attack;
                        actors[k] = system.ActorOf(ClientActor.Props(ids[k], partitions[k], train, trainers, driver, SimulatedFaults.None, attack),
                            $"{ids[k]}-life-{lives[k]}");
                        if (attack.Kind is AttackKind.SignFlip or AttackKind.Scale)
                        {
                            Count($"turncoat back as {Attack.Names.First(n => n.Value == attack.Kind).Key}");
                        }
                    }
                }

                var next = process.NextAsync(state, cancel);
                // Crashes as the round starts: a client may be asked, then die before it answers.
                for (int k = 0; k < clients; k++)
                {
                    bool turn = round == 2 && turncoats.ContainsKey(ids[k]);
                    if (actors[k] is { } actor && (turn || Draw(round, $"crash:{ids[k]}") < CrashRate))
                    {
                        system.Stop(actor);
                        actors[k] = null;
                        lives[k]++;
                        restartAt[k] = round + 2 + (int)(Draw(round, $"restart:{ids[k]}") * 3);
                        Count("client crash (actor stopped)");
                    }
                }

                var finished = await Task.WhenAny(next, Task.Delay(RoundBound, cancel));
                if (finished != next)
                {
                    _invariants.Stalled($"round {round} did not end within {RoundBound.TotalMinutes:F0} minutes of wall time");
                    break;
                }
                RoundMetrics done;
                try
                {
                    (state, done) = await next;
                }
                catch (FederationException e)
                {
                    _invariants.Break($"round {round}: the run stopped: {e.Message}");
                    break;
                }
                metrics.Write(done);
                failed += done.Succeeded ? 0 : 1;
                // In its own process the soak can measure what a leak would show: the memory left after a full collection,
                // not wherever the heap happens to be between two (it swings by 200 MB here). Every 10th round of a
                // full run, every round of a short one.
                if (round % Math.Max(1, rounds / 100) == 0 && LinuxProcesses.Supported)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    GC.Collect();
                    if (LinuxProcesses.ResidentKb(Environment.ProcessId) is { } kb)
                    {
                        memory.Add((round, kb));
                    }
                }
                if (round % Math.Max(1, rounds / 10) == 0)
                {
                    Say($"round {round}/{rounds}: {done.Participants}/{done.Selected} clients, {done.Stragglers} stragglers, " +
                        $"{done.Dropouts} dropouts, {done.Rejected} rejected, {done.Failed} failed, {actors.Count(a => a is null)} clients down");
                }
            }
        }
        ModelFiles.Save(settings.Model, state.Weights, options.Output);
        File.WriteAllLines(Path.Combine(options.Output, "memory.csv"),
            memory.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Round},{m.Kb}")).Prepend("round,rss_kb"));
        return Check(state.Weights, memory, failed, nan.Count);
    }

    /// <summary>An attack-fraction under which exactly <paramref name="count"/> of <paramref name="ids"/> attack (see <see cref="Attack.IsAttacker"/>).</summary>
    private double FractionFor(IReadOnlyList<string> ids, int count)
    {
        var draws = ids.Select(id => StableSeed.Uniform(options.Seed, 0, $"attacker:{id}")).Order().ToArray();
        return count >= draws.Length ? 1 : (draws[count - 1] + draws[count]) / 2;
    }

    private int Check(float[] weights, IReadOnlyList<(int Round, long Kb)> memory, int failed, int nanAttackers)
    {
        Say($"injected {_invariants.Faults} faults: {string.Join(", ", _injected.OrderBy(p => p.Key).Select(p => $"{p.Value} {p.Key}"))}");
        string csv = Path.Combine(options.Output, "metrics.csv");
        var rows = ChaosInvariants.ReadMetrics(csv);
        _invariants.CheckRounds(rows, options.Rounds);
        _invariants.CheckDurations(rows, options.Deadline, simulated: true);
        _invariants.CheckRejections(rows, nanAttackers, $"its {nanAttackers} NaN attackers");
        long asked = rows.Sum(r => (long)r.Selected);
        string Share(long count) => asked == 0 ? "0" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * count / asked:F1}%");
        if (rows.Count > 0)
        {
            Say($"rounds: {failed} failed; of {asked} asked: {Share(rows.Sum(r => (long)r.Stragglers))} stragglers, " +
                $"{Share(rows.Sum(r => (long)r.Dropouts))} dropouts, {Share(rows.Sum(r => (long)r.Rejected))} rejected, " +
                $"{Share(rows.Sum(r => (long)r.Failed))} failed (crashed mid-round); longest round {rows.Max(r => r.SimulatedSeconds ?? 0):F2} s simulated, " +
                $"{rows.Max(r => r.WallSeconds):F2} s wall");
        }
        _invariants.CheckModel(weights, "the final state");
        if (MemoryFigure.Of("this process", memory, options.Rounds) is { } figure)
        {
            _invariants.CheckMemory(new[] { figure }, log, judge: !options.Quick);
        }
        else
        {
            _invariants.Break($"memory could not be checked: {memory.Count} samples, too few for rounds {options.Rounds / 10}-{options.Rounds / 5} and the last tenth");
        }
        return _invariants.Report(log);
    }
}
