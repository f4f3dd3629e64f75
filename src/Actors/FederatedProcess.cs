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

    /// <summary>
    /// For tests of reproducibility: every local training first sleeps this long, as on a slow or loaded host. On
    /// the simulated clock it changes nothing but the wall time.
    /// </summary>
    public TimeSpan HostDelay { get; init; }

    /// <summary>Counts what the training pool does (models, clients training at once, busy time), for benchmarks and
    /// tests that check its bounds; null counts nothing.</summary>
    public TrainerPoolCounters? TrainerCounters { get; init; }

    /// <summary>Whether each client has an actor for the whole run or only while it has a request in hand.</summary>
    public ClientActivation Activation { get; init; } = ClientActivation.Automatic;

    /// <summary>
    /// On demand when that gives the same run: on the simulated clock (the server plans the faults), or on the wall
    /// clock with no faults to act out; always live otherwise (a straggler's late reply, a dropout's silence).
    /// </summary>
    public bool ActivatesOnDemand => Activation switch
    {
        ClientActivation.AlwaysLive => false,
        ClientActivation.OnDemand => true,
        _ => Server.Clock is not null || (Faults.StragglerFraction == 0 && Faults.DropoutFraction == 0),
    };
}

/// <summary>How a simulation keeps its clients' actors (<see cref="SimulationSpec.Activation"/>).</summary>
public enum ClientActivation
{
    /// <summary><see cref="OnDemand"/> where it is exact, else <see cref="AlwaysLive"/>: see <see cref="SimulationSpec.ActivatesOnDemand"/>.</summary>
    Automatic,

    /// <summary>One <see cref="ClientActor"/> per client, registered on its own, for the whole run (as in a deployment).</summary>
    AlwaysLive,

    /// <summary>
    /// One <see cref="ClientHost"/> for all clients, which activates a client's actor for each request and passivates it
    /// after its answer. Faults on the wall clock are not acted out in this mode.
    /// </summary>
    OnDemand,
}

/// <summary>A run stopped before its last round: too many rounds in a row failed, or the server stopped answering.</summary>
public sealed class FederationException(string message) : Exception(message);

/// <summary>
/// A federation in one process, for the command line and for library users: the tutorial's loop
/// <c>state = process.Initialize()</c>, then <c>(state, metrics) = await process.NextAsync(state)</c> once per round,
/// or <see cref="RunAsync"/> for many. A thin edge over the one run driver, <see cref="FederationDriver"/>, which
/// runs the rounds here as it does as the cluster singleton. Owns the actor system of a simulation: the driver (and
/// its <see cref="ServerActor"/>) and the clients: a <see cref="ClientHost"/> that activates each client's
/// <see cref="ClientActor"/> on demand, or one always-live <see cref="ClientActor"/> per partition
/// (<see cref="SimulationSpec.Activation"/>).
/// </summary>
public sealed class FederatedProcess : IAsyncDisposable
{
    private readonly ActorSystem _system;
    private readonly bool _ownsSystem;
    private readonly IActorRef _driver;
    private readonly IActorRef[] _clients;
    private readonly SimulationSpec _spec;
    private readonly TensorData _train;
    private readonly TensorData _test;
    private readonly TrainerPool _trainers;
    private readonly Lazy<LocalTrainer> _local;

    private FederatedProcess(ActorSystem system, bool ownsSystem, SimulationSpec spec)
    {
        _system = system;
        _ownsSystem = ownsSystem;
        _spec = spec;
        _train = new TensorData(spec.Data.Train);
        _test = new TensorData(spec.Data.Test);
        _trainers = new TrainerPool(spec.Model, spec.TorchThreads, spec.TrainerCounters) { HostDelay = spec.HostDelay };
        _local = new Lazy<LocalTrainer>(() => new LocalTrainer(spec.Model));
        var run = new RunOptions(spec.Server, spec.Model, Rounds: 0, MaxFailedRounds: int.MaxValue, WaitForClients: spec.Partitions.Count,
            CheckpointDirectory: null, StartsOnItsOwn: false, TorchThreads: spec.TorchThreads);
        _driver = system.ActorOf(FederationDriver.Props(run, spec.EvaluateEachRound ? _test : null), "federation");
        if (spec.ActivatesOnDemand)
        {
            // Ten million clients are one actor and a few ints each (see ClientHost).
            _clients = [system.ActorOf(ClientHost.Props(spec.Partitions, _train, _trainers, _driver, spec.Attack), "clients")];
            return;
        }
        _clients = new IActorRef[spec.Partitions.Count];
        // On the simulated clock the server's plan applies the faults; on the wall clock the clients act them out.
        var faults = spec.Server.Clock is null ? spec.Faults : SimulatedFaults.None;
        for (int k = 0; k < _clients.Length; k++)
        {
            _clients[k] = system.ActorOf(
                ClientActor.Props(ClientId(k), spec.Partitions[k], _train, _trainers, _driver, faults, spec.Attack), ClientId(k));
        }
    }

    public ActorSystem System => _system;

    /// <summary>The host of the clients when they are activated on demand; null when each has its own actor.</summary>
    public IActorRef? Host => _spec.ActivatesOnDemand ? _clients[0] : null;

    public static string ClientId(int index) => NumberedClients.Id(index);

    /// <summary>
    /// Starts the driver, the server and the clients, and returns once every client has registered.
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
        await process._driver.Ask<ClientsAvailable>(new AwaitClients(spec.Partitions.Count), TimeSpan.FromMinutes(5));
        return process;
    }

    /// <summary>The state before round 1: the model's initial weights for the run's seed.</summary>
    public FederatedState Initialize() => new(1, InitialWeights.Create(_spec.Model, _spec.Server.Seed));

    /// <summary>
    /// The state before round 1 from <paramref name="weights"/> (a model trained elsewhere); with null, <see cref="Initialize()"/>'s.
    /// </summary>
    public FederatedState Initialize(float[]? weights)
    {
        if (weights is null)
        {
            return Initialize();
        }
        int count = StateDict.Layout(_spec.Model).Sum(parameter => checked((int)parameter.Count));
        if (weights.Length != count)
        {
            throw new ArgumentException(
                $"{Architectures.NameOf(_spec.Model)} has {count} parameters, the initial weights hold {weights.Length}", nameof(weights));
        }
        return new FederatedState(1, weights);
    }

    /// <summary>Runs one round from <paramref name="state"/>, then evaluates the new global model on the test set.</summary>
    public async Task<(FederatedState State, RoundMetrics Metrics)> NextAsync(FederatedState state, CancellationToken cancel = default)
    {
        RoundMetrics? metrics = null;
        var run = await DriveAsync(new RunRounds(state, state.Round, int.MaxValue), round => metrics = round.Metrics, cancel);
        return (run.State, metrics ?? throw new FederationException(run.Failure ?? $"round {state.Round} reported nothing"));
    }

    /// <summary>
    /// Runs <paramref name="rounds"/> rounds from <paramref name="state"/>, calling <paramref name="onRound"/> after each.
    /// Throws <see cref="FederationException"/> once <paramref name="maxConsecutiveFailures"/> rounds in a row failed.
    /// </summary>
    public Task<FederatedState> RunAsync(FederatedState state, int rounds, int maxConsecutiveFailures,
        Action<RoundMetrics> onRound, CancellationToken cancel = default) =>
        RunAsync(state, rounds, maxConsecutiveFailures, (_, metrics) => onRound(metrics), cancel);

    /// <summary>
    /// As <see cref="RunAsync(FederatedState, int, int, Action{RoundMetrics}, CancellationToken)"/>, calling
    /// <paramref name="onRound"/> with the state after each round too (what a checkpoint of that round holds).
    /// <paramref name="failuresInARow"/> counts the failed rounds just before <paramref name="state"/>, for a resumed run.
    /// </summary>
    public async Task<FederatedState> RunAsync(FederatedState state, int rounds, int maxConsecutiveFailures,
        Action<FederatedState, RoundMetrics> onRound, CancellationToken cancel = default, int failuresInARow = 0)
    {
        var run = await DriveAsync(new RunRounds(state, state.Round + rounds - 1, maxConsecutiveFailures, failuresInARow),
            round => onRound(round.State, round.Metrics), cancel);
        return run.Failure is null ? run.State : throw new FederationException(run.Failure);
    }

    /// <summary>Asks the driver for a run and relays its rounds; on cancellation the driver ends it after the round in flight.</summary>
    private async Task<RunCompleted> DriveAsync(RunRounds run, Action<RoundCompleted> onRound, CancellationToken cancel)
    {
        var completed = new TaskCompletionSource<RunCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        var relay = _system.ActorOf(Akka.Actor.Props.Create(() => new RunRelay(completed, onRound)));
        try
        {
            _driver.Tell(run, relay);
            await using (cancel.Register(() => _driver.Tell(StopRun.Instance)))
            {
                var finished = await Task.WhenAny(completed.Task, Task.Delay(Timeout.Infinite, cancel));
                cancel.ThrowIfCancellationRequested();
                return await (Task<RunCompleted>)finished;
            }
        }
        finally
        {
            _system.Stop(relay);
        }
    }

    /// <summary>Hears a run's rounds for <see cref="DriveAsync"/>: calls back on each, completes at the end.</summary>
    private sealed class RunRelay : ReceiveActor
    {
        public RunRelay(TaskCompletionSource<RunCompleted> completed, Action<RoundCompleted> onRound)
        {
            Receive<RoundCompleted>(onRound);
            Receive<RunCompleted>(run => completed.TrySetResult(run));
            Receive<RoundRefused>(refused => completed.TrySetException(
                new InvalidOperationException($"round {refused.Round} refused: {refused.Reason}")));
        }
    }

    /// <summary>Loss and accuracy of <paramref name="weights"/> on the test set.</summary>
    public Evaluation Evaluate(float[] weights) => _local.Value.Evaluate(weights, _test);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_ownsSystem)
            {
                await _system.Terminate();
            }
            else
            {
                foreach (var actor in _clients.Append(_driver))
                {
                    await actor.GracefulStop(TimeSpan.FromSeconds(30));
                }
            }
        }
        finally
        {
            if (_local.IsValueCreated)
            {
                _local.Value.Dispose();
            }
            _trainers.Dispose();
            _train.Dispose();
            _test.Dispose();
        }
    }
}
