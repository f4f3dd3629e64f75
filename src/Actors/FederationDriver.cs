using AkkaFed.Actors.Protocol;
using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Checkpoints;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>A whole run, as the cluster's server runs it.</summary>
/// <param name="WaitForClients">Registered clients to wait for before the first round.</param>
/// <param name="CheckpointDirectory">Where a checkpoint is written after every round; null for none.</param>
public sealed record RunOptions(
    ServerOptions Server,
    ModelKind Model,
    int Rounds,
    int MaxFailedRounds,
    int WaitForClients,
    string? CheckpointDirectory);

/// <summary>
/// Runs a federation from start (or from the last checkpoint) to the last round, on its own: the actor
/// that runs as the cluster singleton. Its child <see cref="ServerActor"/> runs each round; the driver
/// evaluates the new model on the test set, writes a checkpoint, reports the round, and starts the next.
/// If its node dies, the next driver reads the checkpoint and continues: at most the round in flight is redone.
/// </summary>
public sealed class FederationDriver : ReceiveActor, IWithTimers
{
    private readonly RunOptions _options;
    private readonly TensorData? _test;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CheckpointStore? _checkpoints;
    private readonly List<RoundMetrics> _completed = new();
    private IActorRef _server = ActorRefs.Nobody;
    private LocalTrainer? _evaluator;
    private FederatedState _state = new(1, Array.Empty<float>());
    private int _failuresInARow;

    public FederationDriver(RunOptions options, TensorData? test)
    {
        _options = options;
        _test = test;
        _options.Server.Validate();
        _checkpoints = options.CheckpointDirectory is null ? null : new CheckpointStore(options.CheckpointDirectory);
        Receive<RegisterClient>(register => _server.Forward(register));
        Receive<ClientsAvailable>(available =>
        {
            _log.Info("{0} clients registered; starting at round {1}", available.Count, _state.Round);
            Become(Running);
            NextRound();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The server's name under the driver: clients see it as the sender of every request.</summary>
    public const string ServerName = "server";

    public static Props Props(RunOptions options, TensorData? test) =>
        Akka.Actor.Props.Create(() => new FederationDriver(options, test));

    private sealed record Evaluated(RoundCompleted Round, Evaluation? Test);

    private sealed record Retry;

    protected override void PreStart()
    {
        _server = Context.ActorOf(ServerActor.Props(_options.Server), ServerName);
        _evaluator = _test is null ? null : new LocalTrainer(_options.Model);
        var checkpoint = _checkpoints?.LoadLatest(problem => _log.Warning(problem));
        if (checkpoint is not null)
        {
            if (checkpoint.Seed != _options.Server.Seed)
            {
                throw new InvalidOperationException(
                    $"the checkpoint in {_options.CheckpointDirectory} belongs to a run with seed {checkpoint.Seed}, not {_options.Server.Seed}");
            }
            _state = checkpoint.State;
            _failuresInARow = checkpoint.FailuresInARow;
            _completed.AddRange(checkpoint.Metrics);
            _log.Info("Resuming from the checkpoint of round {0}", _state.Round - 1);
            Context.System.EventStream.Publish(new RunEvents.Resumed(_state.Round, _completed.ToArray()));
        }
        else
        {
            _state = new FederatedState(1, InitialWeights.Create(_options.Model, _options.Server.Seed));
        }

        if (_state.Round > _options.Rounds)
        {
            Publish(new RunEvents.Ended(_state.Round - 1, null));
            Become(Done);
            return;
        }
        _server.Tell(new AwaitClients(_options.WaitForClients));
    }

    protected override void PostStop() => _evaluator?.Dispose();

    private void Running()
    {
        Receive<RegisterClient>(register => _server.Forward(register));
        Receive<RoundCompleted>(OnRoundCompleted);
        Receive<RoundRefused>(refused => _log.Warning("Round {0} refused: {1}", refused.Round, refused.Reason));
        Receive<Evaluated>(OnEvaluated);
        Receive<Retry>(_ => NextRound());
        Receive<ClientsAvailable>(_ => { });
    }

    private void Done()
    {
        Receive<RegisterClient>(register => _server.Forward(register));
        Receive<ClientsAvailable>(_ => { });
    }

    private void NextRound() => _server.Tell(new RunRound(_state));

    private void OnRoundCompleted(RoundCompleted done)
    {
        if (_evaluator is null || _test is null)
        {
            Self.Tell(new Evaluated(done, null));
            return;
        }
        // Evaluation is CPU work: off the actor's thread, one at a time (the driver waits for it).
        var evaluator = _evaluator;
        var test = _test;
        Task.Run(() => evaluator.Evaluate(done.State.Weights, test))
            .PipeTo(Self, success: evaluation => new Evaluated(done, evaluation), failure: _ => new Evaluated(done, null));
    }

    private void OnEvaluated(Evaluated evaluated)
    {
        var metrics = evaluated.Round.Metrics with { Test = evaluated.Test };
        _state = evaluated.Round.State;
        _failuresInARow = metrics.Succeeded ? 0 : _failuresInARow + 1;
        _completed.Add(metrics);
        _checkpoints?.Save(new Checkpoint(_options.Server.Seed, _state, _state.Optimizer.Slots, _failuresInARow, _completed.ToArray())
        {
            Privacy = _state.Privacy,
        });
        Publish(new RunEvents.RoundReport(metrics));

        if (_failuresInARow >= _options.MaxFailedRounds)
        {
            Publish(new RunEvents.Ended(metrics.Round,
                $"{_failuresInARow} rounds in a row failed (max-failed-rounds = {_options.MaxFailedRounds}); last: {metrics.FailureReason}"));
            Become(Done);
        }
        else if (_state.Round > _options.Rounds)
        {
            Publish(new RunEvents.Ended(metrics.Round, null));
            Become(Done);
        }
        else if (metrics.Selected == 0)
        {
            // Failed at once for want of clients: give them a deadline's time to come back before trying again.
            Timers.StartSingleTimer("retry", new Retry(), _options.Server.RoundDeadline);
        }
        else
        {
            NextRound();
        }
    }

    private void Publish(object message)
    {
        Context.System.EventStream.Publish(message);
        ClusterFederation.PublishToCluster(Context.System, message);
    }
}
