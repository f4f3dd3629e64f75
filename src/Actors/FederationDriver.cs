using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Models;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>How a <see cref="FederationDriver"/> runs.</summary>
/// <param name="WaitForClients">Registered clients to wait for before the first round (cluster only).</param>
/// <param name="CheckpointDirectory">Where a checkpoint is written after every round; null for none.</param>
/// <param name="StartsOnItsOwn">
/// True for the cluster singleton: it resumes from the last checkpoint (or starts), waits for clients and runs
/// <paramref name="Rounds"/> rounds. False in one process: it waits for <see cref="RunRounds"/>.
/// </param>
/// <param name="TorchThreads">libtorch's intra-op threads while the driver evaluates (see <see cref="TorchThreads"/>).</param>
public sealed record RunOptions(
    ServerOptions Server,
    ModelKind Model,
    int Rounds,
    int MaxFailedRounds,
    int WaitForClients,
    string? CheckpointDirectory,
    bool StartsOnItsOwn = true,
    int TorchThreads = 1)
{
    /// <summary>Round 1's weights (a model trained elsewhere, <c>--initial-model</c>); null for the seed's initial weights.</summary>
    public float[]? StartingWeights { get; init; }

    /// <summary>Round 1's weights: <see cref="StartingWeights"/>, or the model's initial weights for the seed.</summary>
    public float[] FirstWeights() => StartingWeights ?? InitialWeights.Create(Model, Server.Seed);
}

/// <summary>
/// The one run driver: it runs every run, as the cluster singleton and in one process. Its child
/// <see cref="ServerActor"/> runs each round; the driver then evaluates the new model on the test set, writes a
/// checkpoint (when configured), reports the round, counts failed rounds in a row, and starts the next round or
/// ends the run. If its node dies, the next driver reads the checkpoint and continues: at most the round in
/// flight is redone. A watchdog ends a run whose server stops making progress, so a run never hangs. A server that
/// throws is replaced, never restarted in place: a new actor makes every client see the old one terminate and
/// register again, and the round in flight runs again once min-clients are back.
/// </summary>
public sealed class FederationDriver : ReceiveActor, IWithTimers
{
    /// <summary>The server's name under the driver: clients see it as the sender of every request.</summary>
    public const string ServerName = "server";

    /// <summary>Past the round's deadline (twice: training, then evaluation), how long the driver waits before giving up on the server.</summary>
    public static readonly TimeSpan WatchdogGrace = TimeSpan.FromMinutes(1);

    /// <summary>
    /// On the simulated clock no deadline runs in real time, and a slow host may take long over a round: the driver
    /// gives up only when no client has answered for this long.
    /// </summary>
    public static readonly TimeSpan SimulatedStall = TimeSpan.FromMinutes(10);

    private readonly RunOptions _options;
    private readonly TensorData? _test;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CheckpointStore? _checkpoints;
    private readonly RunFingerprint? _fingerprint;
    private readonly List<RoundMetrics> _completed = new();
    private IActorRef _server = ActorRefs.Nobody;
    private LocalTrainer? _evaluator;
    private IDisposable? _torchThreads;
    private Task? _evaluation;
    private FederatedState _state = new(1, Array.Empty<float>());
    private int _failuresInARow;
    private bool _roundInFlight;

    // The run in progress: its last round, its failure limit, and who asked for it (Nobody for the singleton).
    private int _lastRound;
    private int _maxFailedRounds;
    private IActorRef _requester = ActorRefs.Nobody;

    public FederationDriver(RunOptions options, TensorData? test)
    {
        _options = options;
        _test = test;
        _checkpoints = options.CheckpointDirectory is null ? null : new CheckpointStore(options.CheckpointDirectory);
        _fingerprint = options.CheckpointDirectory is null ? null : RunFingerprint.Of(options);
        if (options.StartsOnItsOwn)
        {
            Starting();
        }
        else
        {
            Ready();
        }
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(RunOptions options, TensorData? test) =>
        Akka.Actor.Props.Create(() => new FederationDriver(options, test));

    private sealed record Evaluated(RoundCompleted Round, Evaluation? Test);

    private sealed record Retry;

    private sealed record RoundOverdue(int Round);

    /// <summary>One round-deadline has passed since the driver started waiting for clients.</summary>
    private sealed record WaitedForClients
    {
        public static readonly WaitedForClients Instance = new();
    }

    /// <summary>A server that throws is stopped and replaced (<see cref="ReplaceServer"/>): restarted in place, it would keep its actor ref and forget every client.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void StartServer()
    {
        var server = _options.Server.Strategy.IsBuffered ? BufferedServerActor.Props(_options.Server) : ServerActor.Props(_options.Server);
        _server = Context.ActorOf(server, ServerName);
        Context.Watch(_server);
    }

    protected override void PreStart()
    {
        StartServer();
        // Every answer the server collects restarts the watchdog.
        Context.System.EventStream.Subscribe(Self, typeof(RoundProgress));
        if (_test is not null)
        {
            _torchThreads = TorchThreads.Acquire(_options.TorchThreads);
            _evaluator = new LocalTrainer(_options.Model);
        }
        if (!_options.StartsOnItsOwn)
        {
            return;
        }
        var (checkpoint, refusal) = _checkpoints?.Resume(_fingerprint!, problem => _log.Warning(problem)) ?? default;
        if (refusal is not null)
        {
            // Not an exception: one in PreStart would stop the singleton for good and leave every node waiting.
            End(refusal);
            return;
        }
        if (checkpoint is not null)
        {
            _state = checkpoint.State;
            _failuresInARow = checkpoint.FailuresInARow;
            _completed.AddRange(checkpoint.Metrics);
            _log.Info("Resuming from the checkpoint of round {0}", _state.Round - 1);
            Context.System.EventStream.Publish(new RunEvents.Resumed(_state.Round, _completed.ToArray()));
        }
        else
        {
            _state = new FederatedState(1, _options.FirstWeights());
        }
        _lastRound = _options.Rounds;
        _maxFailedRounds = _options.MaxFailedRounds;
        if (_state.Round > _lastRound)
        {
            End(null);
            return;
        }
        // Round 1 starts once wait-for-clients have registered, or after one round-deadline with at least min-clients.
        _server.Tell(new AwaitClients(_options.WaitForClients));
        Timers.StartSingleTimer("wait-for-clients", WaitedForClients.Instance, _options.Server.RoundDeadline);
    }

    protected override void PostStop()
    {
        // A hand-over can stop the driver while it evaluates: the evaluator is not disposed under that work.
        _evaluation?.Wait(TimeSpan.FromMinutes(1));
        _evaluator?.Dispose();
        _torchThreads?.Dispose();
    }

    /// <summary>
    /// Clients register with the server through the driver, wherever it runs. When the server fails, a new one
    /// starts and <paramref name="serverReplaced"/> tells it what the old one was asked to wait for.
    /// </summary>
    private void Membership(Action? serverReplaced = null)
    {
        Receive<RegisterClient>(register => _server.Forward(register));
        Receive<Hosting.RegisterClients>(register => _server.Forward(register));
        Receive<AwaitClients>(wait => _server.Forward(wait));
        Receive<Terminated>(terminated => terminated.ActorRef.Equals(_server), _ =>
        {
            _log.Warning("The server failed: starting a new one, with which the clients register again");
            StartServer();
            serverReplaced?.Invoke();
        });
    }

    private void Starting()
    {
        Membership(() => _server.Tell(new AwaitClients(_options.WaitForClients)));
        Receive<ClientsAvailable>(available =>
        {
            _log.Info("{0} clients registered; starting at round {1}", available.Count, _state.Round);
            Timers.Cancel("wait-for-clients");
            Become(Running);
            NextRound();
        });
        Receive<WaitedForClients>(_ => _server.Tell(new AwaitClients(_options.Server.MinClients)));
        Receive<RoundProgress>(_ => { });
    }

    private void Ready()
    {
        Membership();
        Receive<ClientsAvailable>(_ => { });
        Receive<RoundProgress>(_ => { });
        Receive<RunRounds>(run =>
        {
            (_state, _lastRound, _maxFailedRounds, _requester) = (run.From, run.LastRound, run.MaxFailedRounds, Sender);
            _failuresInARow = run.FailuresInARow;
            Become(Running);
            NextRound();
        });
    }

    private void Running()
    {
        Membership(() =>
        {
            if (!_roundInFlight)
            {
                return;
            }
            // The round in flight died with the server: run it again once min-clients have registered with the new one.
            Timers.Cancel("watchdog");
            Become(Recovering);
        });
        Receive<ClientsAvailable>(_ => { });
        Receive<RunRounds>(run => Sender.Tell(new RoundRefused(run.From.Round, $"a run is in progress at round {_state.Round}")));
        Receive<StopRun>(_ => _lastRound = Math.Min(_lastRound, _state.Round));
        Receive<RoundCompleted>(OnRoundCompleted);
        Receive<RoundRefused>(refused => _log.Warning("Round {0} refused: {1}", refused.Round, refused.Reason));
        Receive<Evaluated>(OnEvaluated);
        Receive<Retry>(_ => NextRound());
        Receive<RoundProgress>(progress => progress.Round == _state.Round, _ => StartWatchdog());
        Receive<RoundProgress>(_ => { });
        Receive<RoundOverdue>(overdue => overdue.Round == _state.Round, overdue => End(
            $"round {overdue.Round} made no progress for {Overdue.TotalSeconds:F0} s: the server stopped answering"));
        Receive<RoundOverdue>(_ => { });
    }

    /// <summary>After the server failed mid-round: the round runs again once min-clients are back, or after one round-deadline.</summary>
    private void Recovering()
    {
        _server.Tell(new AwaitClients(_options.Server.MinClients));
        Timers.StartSingleTimer("wait-for-clients", WaitedForClients.Instance, _options.Server.RoundDeadline);
        Membership(() => _server.Tell(new AwaitClients(_options.Server.MinClients)));
        Receive<ClientsAvailable>(_ => Resume());
        Receive<WaitedForClients>(_ => Resume());
        Receive<StopRun>(_ => _lastRound = Math.Min(_lastRound, _state.Round));
        Receive<RunRounds>(run => Sender.Tell(new RoundRefused(run.From.Round, $"a run is in progress at round {_state.Round}")));
        Receive<RoundProgress>(_ => { });
        Receive<RoundOverdue>(_ => { });
    }

    private void Resume()
    {
        Timers.Cancel("wait-for-clients");
        Become(Running);
        NextRound();
    }

    private void Finished()
    {
        Membership();
        Receive<ClientsAvailable>(_ => { });
        Receive<RoundOverdue>(_ => { });
        Receive<RoundProgress>(_ => { });
    }

    private TimeSpan Overdue => _options.Server.Clock is null ? _options.Server.RoundDeadline * 2 + WatchdogGrace : SimulatedStall;

    private void NextRound()
    {
        _roundInFlight = true;
        StartWatchdog();
        _server.Tell(new RunRound(_state));
    }

    private void StartWatchdog() => Timers.StartSingleTimer("watchdog", new RoundOverdue(_state.Round), Overdue);

    private void OnRoundCompleted(RoundCompleted done)
    {
        Timers.Cancel("watchdog");
        _roundInFlight = false;
        // A failed round left the model as it was: there is no new model to evaluate.
        if (_evaluator is null || _test is null || !done.Metrics.Succeeded)
        {
            Self.Tell(new Evaluated(done, null));
            return;
        }
        // Evaluation is CPU work: off the actor's thread, one at a time (the driver waits for it).
        var evaluator = _evaluator;
        var test = _test;
        var evaluation = Task.Run(() => evaluator.Evaluate(done.State.Weights, test));
        _evaluation = evaluation;
        evaluation.PipeTo(Self, success: result => new Evaluated(done, result), failure: error =>
        {
            _log.Error(error, "Round {0}: evaluating the new model on the test set failed", done.Metrics.Round);
            return new Evaluated(done, null);
        });
    }

    private void OnEvaluated(Evaluated evaluated)
    {
        var metrics = evaluated.Round.Metrics with { Test = evaluated.Test };
        _state = evaluated.Round.State;
        _failuresInARow = metrics.Succeeded ? 0 : _failuresInARow + 1;
        if (_checkpoints is not null)
        {
            _completed.Add(metrics);
            try
            {
                _checkpoints.Save(new Checkpoint(_options.Server.Seed, _state, _state.Optimizer.Slots, _failuresInARow, _completed.ToArray())
                {
                    Privacy = _state.Privacy,
                    Fingerprint = _fingerprint,
                }, problem => _log.Warning(problem));
            }
            catch (CheckpointSupersededException superseded) when (_options.StartsOnItsOwn)
            {
                StepDown(superseded.Message);
                return;
            }
            catch (CheckpointSupersededException superseded)
            {
                End(superseded.Message);
                return;
            }
        }
        Publish(new RunEvents.RoundReport(metrics));
        _requester.Tell(new RoundCompleted(_state, metrics));

        if (_failuresInARow >= _maxFailedRounds)
        {
            End($"{_failuresInARow} rounds in a row failed (max-failed-rounds = {_maxFailedRounds}); last: {metrics.FailureReason}");
        }
        else if (_state.Round > _lastRound)
        {
            End(null);
        }
        else if (metrics.Selected == 0 && _options.Server.Clock is null)
        {
            // Failed at once for want of clients: give them a deadline's time to come back before trying again
            // (on the simulated clock that time has passed already: the server counted it).
            Timers.StartSingleTimer("retry", new Retry(), _options.Server.RoundDeadline);
        }
        else
        {
            NextRound();
        }
    }

    private void End(string? failure)
    {
        Timers.Cancel("watchdog");
        var ended = new RunEvents.Ended(_state.Round - 1, failure);
        Publish(ended);
        if (_options.StartsOnItsOwn)
        {
            _server.Tell(ended);
        }
        _requester.Tell(new RunCompleted(_state, failure));
        _requester = ActorRefs.Nobody;
        if (_options.StartsOnItsOwn)
        {
            Become(Finished);
        }
        else
        {
            Become(Ready);
        }
    }

    /// <summary>The run is the other server's now: nothing is announced to the cluster, whose clients follow it.</summary>
    private void StepDown(string reason)
    {
        Timers.CancelAll();
        _log.Warning("Stepping down: {0}", reason);
        Context.System.EventStream.Publish(new RunEvents.SteppedDown(reason));
        Become(Finished);
    }

    private void Publish(object message)
    {
        Context.System.EventStream.Publish(message);
        ClusterFederation.PublishToCluster(Context.System, message);
    }
}
