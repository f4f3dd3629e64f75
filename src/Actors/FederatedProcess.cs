using Akka.Actor;
using Akka.Configuration;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>Everything a single-process simulation needs.</summary>
/// <param name="Partitions">Client k holds the training samples <c>Partitions[k]</c>, a view into one shared index array
/// (a partitioner's <c>int[][]</c> converts implicitly).</param>
/// <param name="Workers">Training workers: threads of the training dispatcher, and so models in memory.</param>
/// <param name="TorchThreads">libtorch's intra-op threads, per worker.</param>
public sealed record SimulationSpec(
    ModelKind Model,
    DatasetSplit Data,
    Shards Partitions,
    ServerOptions Server,
    SimulatedFaults Faults,
    int Workers,
    int TorchThreads = 1)
{
    /// <summary>Evaluate the new global model on the test set after every round (off for pure training benchmarks).</summary>
    public bool EvaluateEachRound { get; init; } = true;

    /// <summary>Misbehaving clients, for experiments with robust aggregation.</summary>
    public Attack Attack { get; init; } = Attack.None;

    /// <summary>Counts what the training pool does (models, clients training at once, busy time), for benchmarks and
    /// tests that check its bounds; null counts nothing.</summary>
    public TrainerPoolCounters? TrainerCounters { get; init; }
}

/// <summary>A run stopped because too many rounds in a row failed.</summary>
public sealed class FederationException(string message) : Exception(message);

/// <summary>
/// The tutorial's loop over actors: <c>state = process.Initialize()</c>, then
/// <c>(state, metrics) = await process.NextAsync(state)</c> once per round. Owns the actor system of a
/// simulation: a <see cref="ServerActor"/> and one <see cref="ClientActor"/> per partition.
/// </summary>
public sealed class FederatedProcess : IAsyncDisposable
{
    private readonly ActorSystem _system;
    private readonly bool _ownsSystem;
    private readonly IActorRef _server;
    private readonly IActorRef[] _clients;
    private readonly SimulationSpec _spec;
    private readonly TensorData _train;
    private readonly TensorData _test;
    private readonly TrainerPool _trainers;
    private readonly LocalTrainer _evaluator;

    private FederatedProcess(ActorSystem system, bool ownsSystem, SimulationSpec spec)
    {
        _system = system;
        _ownsSystem = ownsSystem;
        _spec = spec;
        _train = new TensorData(spec.Data.Train);
        _test = new TensorData(spec.Data.Test);
        _trainers = new TrainerPool(spec.Model, spec.TorchThreads, spec.TrainerCounters);
        _evaluator = new LocalTrainer(spec.Model);
        _server = system.ActorOf(ServerActor.Props(spec.Server), "server");
        _clients = new IActorRef[spec.Partitions.Count];
        for (int k = 0; k < _clients.Length; k++)
        {
            _clients[k] = system.ActorOf(
                ClientActor.Props(ClientId(k), spec.Partitions[k], _train, _trainers, _server, spec.Faults, spec.Attack), ClientId(k));
        }
    }

    public ActorSystem System => _system;
    public IActorRef Server => _server;
    public int ParameterCount => _evaluator.ParameterCount;

    /// <summary>The models the clients train with: one per training worker.</summary>
    public TrainerPool Trainers => _trainers;

    public static string ClientId(int index) => $"client-{index:D5}";

    /// <summary>
    /// Starts the server and the clients, and returns once every client has registered.
    /// With no <paramref name="system"/>, makes one from <paramref name="config"/> and disposes of it with the process.
    /// </summary>
    public static async Task<FederatedProcess> StartAsync(SimulationSpec spec, ActorSystem? system = null, Config? config = null)
    {
        spec.Server.Validate();
        if (spec.Partitions.Count == 0)
        {
            throw new ArgumentException("a federation needs at least one client", nameof(spec));
        }
        if (spec.Partitions.Count < spec.Server.MinClients)
        {
            throw new ArgumentException(
                $"min-clients ({spec.Server.MinClients}) is more than the number of clients ({spec.Partitions.Count})");
        }
        bool owns = system is null;
        system ??= ActorSystem.Create("akkafed", (config ?? Config.Empty).WithFallback(AkkaFedConfig.Dispatcher(spec.Workers)));
        var process = new FederatedProcess(system, owns, spec);
        await process._server.Ask<ClientsAvailable>(new AwaitClients(spec.Partitions.Count), TimeSpan.FromMinutes(5));
        return process;
    }

    /// <summary>The state before round 1: the model's initial weights for the run's seed.</summary>
    public FederatedState Initialize() => new(1, InitialWeights.Create(_spec.Model, _spec.Server.Seed));

    /// <summary>Runs one round through the actors, then evaluates the new global model on the test set.</summary>
    public async Task<(FederatedState State, RoundMetrics Metrics)> NextAsync(FederatedState state, CancellationToken cancel = default)
    {
        // The server always answers by its deadline; the margin covers aggregation and a loaded machine.
        var limit = _spec.Server.RoundDeadline * 2 + TimeSpan.FromMinutes(1);
        var reply = await _server.Ask<object>(new RunRound(state), limit, cancel);
        var completed = reply switch
        {
            RoundCompleted done => done,
            RoundRefused refused => throw new InvalidOperationException($"round {refused.Round} refused: {refused.Reason}"),
            _ => throw new InvalidOperationException($"unexpected reply {reply.GetType().Name}"),
        };
        var test = _spec.EvaluateEachRound ? Evaluate(completed.State.Weights) : null;
        return (completed.State, completed.Metrics with { Test = test });
    }

    /// <summary>Loss and accuracy of <paramref name="weights"/> on the test set.</summary>
    public Evaluation Evaluate(float[] weights) => _evaluator.Evaluate(weights, _test);

    /// <summary>Saves <paramref name="weights"/> as a TorchSharp model file.</summary>
    public void Save(float[] weights, string path) => _evaluator.Save(weights, path);

    /// <summary>
    /// Runs <paramref name="rounds"/> rounds from <paramref name="state"/>, calling <paramref name="onRound"/> after each.
    /// Throws <see cref="FederationException"/> once <paramref name="maxConsecutiveFailures"/> rounds in a row failed.
    /// </summary>
    public async Task<FederatedState> RunAsync(FederatedState state, int rounds, int maxConsecutiveFailures,
        Action<RoundMetrics> onRound, CancellationToken cancel = default)
    {
        int failuresInARow = 0;
        for (int i = 0; i < rounds; i++)
        {
            cancel.ThrowIfCancellationRequested();
            (state, var metrics) = await NextAsync(state, cancel);
            onRound(metrics);
            failuresInARow = metrics.Succeeded ? 0 : failuresInARow + 1;
            if (failuresInARow >= maxConsecutiveFailures)
            {
                throw new FederationException(
                    $"{failuresInARow} rounds in a row failed (max-failed-rounds = {maxConsecutiveFailures}); last: {metrics.FailureReason}");
            }
        }
        return state;
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsSystem)
        {
            await _system.Terminate();
        }
        else
        {
            foreach (var actor in _clients.Append(_server))
            {
                await actor.GracefulStop(TimeSpan.FromSeconds(30));
            }
        }
        _evaluator.Dispose();
        _trainers.Dispose();
        _train.Dispose();
        _test.Dispose();
    }
}
