using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// Runs one round at a time for its driver: selects clients, broadcasts the global weights, collects updates until
/// every selected client answered or the deadline passed, aggregates (with a quorum) or fails the round, and
/// optionally has clients evaluate the new model under the same deadline: Training -> (Evaluating) -> Done.
/// On a simulated clock (<see cref="ServerOptions.Clock"/>) no timer runs: each phase's plan says up front who
/// finishes within the simulated deadline, and only those are asked, so the host's speed decides nothing.
/// Every rule of a round lives in the immutable <see cref="Round"/>, and its arithmetic in the strategy's
/// <see cref="IRoundAggregation"/>, which takes each accepted update as it arrives: this actor only routes.
/// </summary>
public sealed class ServerActor : ReceiveActor, IWithTimers
{
    private const string DeadlineTimer = "round-deadline";

    private readonly ServerOptions _options;
    private readonly IStrategy _strategy;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ClientRegistry _clients;
    private readonly FederationTransport _transfer = FederationTransport.Get(Context.System);
    private readonly Stopwatch _clock = new();

    private Round _round = Round.None;
    private IRoundAggregation? _aggregation;
    private FederatedState _state = new(0, Array.Empty<float>());
    private FederatedState _next = new(0, Array.Empty<float>());
    private IActorRef _driver = ActorRefs.Nobody;
    private long _refusals;

    /// <param name="options">Validated settings (<see cref="ServerOptions.Validate"/>, at the run's edge).</param>
    public ServerActor(ServerOptions options)
    {
        _options = options;
        _strategy = options.CreateStrategy();
        _clients = new ClientRegistry(NodeIdentities.Get(Context.System), options.MaxClientExamples, _log);
        // The driver's messages come from this node only: from elsewhere, they are refused before anything else.
        Receive<object>(message => IsDriversFromElsewhere(message, Sender), message => RefuseDriversFromElsewhere(message, Sender, _log, ref _refusals));
        // One set of handlers: the round's phase is in the Round value, and each answer is judged by it.
        Receive<RunRound>(run => _round.Phase == RoundPhase.Done, StartRound);
        Receive<RunRound>(run => Sender.Tell(new RoundRefused(run.State.Round, $"round {_round.Number} is in flight")));
        Receive<DeadlinePassed>(d => d.Round == _round.Number && d.Phase == _round.Phase, _ =>
        {
            if (_round.Phase == RoundPhase.Training)
            {
                CloseTraining(deadlinePassed: true);
            }
            else
            {
                CloseEvaluation();
            }
        });
        Receive<DeadlinePassed>(_ => { });
        Receive<FitResult>(OnFitResult);
        Receive<FitFailed>(failed =>
            Record(_round.TrainingFailed(failed.Round, failed.ClientId, failed.Reason, _clients.IsOwner(failed.ClientId, Sender)).Round));
        Receive<EvaluateResult>(OnEvaluateResult);
        Receive<EvaluateFailed>(failed => OnEvaluated(failed.Round, failed.ClientId, null, failed.Reason));
        Receive<RegisterClient>(register => _clients.Admit(register, Sender, Context));
        Receive<Hosting.RegisterClients>(register => _clients.AdmitHost(register, Sender, Context));
        Receive<RunEvents.Ended>(ended =>
        {
            // Directly, as fit requests travel: a node that pub-sub has not reached yet hears the end all the same.
            foreach (var client in _clients.Actors)
            {
                client.Tell(ended);
            }
        });
        Receive<Terminated>(OnTerminated);
        Receive<AwaitClients>(wait => _clients.Await(wait.Count, Sender));
        Receive<ClusterEvent.UnreachableMember>(unreachable =>
        {
            // Its clients are stragglers for the round in flight and are not sampled until they are back.
            _log.Warning("Node {0} is unreachable: its clients are left out", unreachable.Member.Address);
            _clients.Unreachable(unreachable.Member.Address);
        });
        Receive<ClusterEvent.ReachableMember>(reachable => _clients.Reachable(reachable.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(removed => _clients.Reachable(removed.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ServerOptions options) => Akka.Actor.Props.Create(() => new ServerActor(options));

    /// <summary>The deadline of round <paramref name="Round"/>'s <paramref name="Phase"/>; stale once the round moved on.</summary>
    private sealed record DeadlinePassed(int Round, RoundPhase Phase);

    /// <summary>
    /// Whether <paramref name="message"/> is one only this node's driver sends (run a round, await clients, the run
    /// ended) and came from another node: an attacker's way to start rounds or to end every client's run.
    /// </summary>
    internal static bool IsDriversFromElsewhere(object message, IActorRef sender) =>
        message is RunRound or AwaitClients or RunEvents.Ended && !sender.Path.Address.HasLocalScope;

    internal static void RefuseDriversFromElsewhere(object message, IActorRef sender, ILoggingAdapter log, ref long refusals) =>
        RefusalLog.Refused(log, ref refusals, $"{message.GetType().Name} from {sender.Path}", "only this node's driver sends it");

    private Cluster? ClusterOfThisNode => ClusterFederation.IsCluster(Context.System) ? Cluster.Get(Context.System) : null;

    protected override void PreStart() => ClusterOfThisNode?.Subscribe(Self, ClusterEvent.InitialStateAsEvents,
        typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop()
    {
        _aggregation?.Dispose();
        ClusterOfThisNode?.Unsubscribe(Self);
    }

    private void OnTerminated(Terminated terminated)
    {
        if (_clients.Remove(terminated.ActorRef) is { } clientId)
        {
            _log.Info("Client {0} is gone", clientId);
            Record(_round.Lost(clientId, "client terminated"));
        }
        else if (_clients.IsHostOf(terminated.ActorRef))
        {
            // Every hosted client is gone at once: those the round waits for are lost to it, as crashed clients.
            var lost = _round.Phase == RoundPhase.Done
                ? []
                : _round.Book.Selected.Concat(_round.Evaluators).Where(_clients.IsHosted).Distinct().ToArray();
            _clients.RemoveHost(terminated.ActorRef);
            // As a client that is gone: news only when it costs the round something (a simulation's end stops it too).
            const string Gone = "The host of the simulation's clients is gone, and with it {0} clients the round waits for";
            if (lost.Length > 0)
            {
                _log.Warning(Gone, lost.Length);
            }
            else
            {
                _log.Info(Gone, lost.Length);
            }
            foreach (var hosted in lost)
            {
                Record(_round.Lost(hosted, "client terminated"));
            }
        }
    }

    private void StartRound(RunRound run)
    {
        _state = run.State;
        _driver = Sender;
        _clock.Restart();
        int number = run.State.Round;
        var candidates = Online(_state.SimulatedTime);
        if (candidates.Count < _options.MinClients)
        {
            _round = Round.TooFewClients(number, candidates.Count, _options.MinClients, _round);
            // On the simulated clock, the server waits a deadline's time for clients to come online.
            _round = _options.Clock is null ? _round : _round.Waited(_options.RoundDeadline.TotalSeconds);
            _next = _state with { Round = number + 1 };
            Complete();
            return;
        }

        var plan = _strategy.ConfigureFit(number, candidates);
        _round = Round.Open(number, plan.Clients, run.State.Weights.Length, candidates.Count, _round, plan.Keep);
        _aggregation = _strategy.BeginFit(run.State, plan.Clients);
        var asked = Plan(plan.Clients, plan.Keep, (clock, id, start) =>
            clock.Train(number, id, _clients.Examples(id), plan.Options.Epochs, ModelBytes, start, UpdateBytes));
        Broadcast(new FitRequest(number, Downlink(run.State.Weights, number, "fit"), plan.Options, _options.Seed)
        {
            Uplink = _options.Uplink,
            // A client that compresses clips first, so that compression works on what DP lets through.
            ClipNorm = _options.Uplink.Compresses ? _strategy.ClipNorm(_state) : null,
        }, asked);
        _log.Debug("Round {0}: asked {1} of {2} clients", number, asked.Count, candidates.Count);
        Record(_round);
    }

    /// <summary>The bytes of the model on its way down, and of an update on its way up, for the simulated clock.</summary>
    private long ModelBytes => _options.Downlink.PayloadBytes(_state.Weights.Length);

    private long UpdateBytes => _options.Uplink.PayloadBytes(_state.Weights.Length);

    /// <summary>
    /// The global model as it goes down, compressed once for every client of the round; stochastic rounding draws
    /// from the run's seed and the round, so a replay sends the same bits.
    /// </summary>
    private CompressedVector Downlink(float[] weights, int round, string phase) =>
        _options.Downlink.Compresses
            ? _options.Downlink.Encode(weights, StableSeed.Mix(_options.Seed, round, $"downlink-{phase}"))
            : weights;

    /// <summary>
    /// Registered clients that can be selected now: on the simulated clock, those online at <paramref name="time"/>
    /// (every one when no device ever goes offline, without looking at each of ten million).
    /// </summary>
    private IReadOnlyList<string> Online(double time) =>
        _options.Clock is { AlwaysOnline: false } clock ? _clients.Available(id => clock.IsOnline(id, time)) : _clients.Available();

    /// <summary>
    /// Starts the phase in progress: on the wall clock, its deadline timer, and every selected client is asked; on
    /// the simulated clock, its plan, and only the clients it keeps are asked.
    /// </summary>
    private IReadOnlyList<string> Plan(IReadOnlyList<string> selected, int keep, Func<SimulatedClock, string, double, ClientTiming> timing)
    {
        if (_options.Clock is not { } clock)
        {
            // The deadline runs before the first request leaves, so a scheduler that is advanced by hand cannot miss it.
            Timers.StartSingleTimer(DeadlineTimer, new DeadlinePassed(_round.Number, _round.Phase), _options.RoundDeadline);
            return selected;
        }
        double start = _state.SimulatedTime + (_round.SimulatedSeconds ?? 0);
        var phase = PhasePlan.Of(selected.Select(id => timing(clock, id, start)).ToArray(), keep, _options.RoundDeadline.TotalSeconds);
        _round = _round.Planned(phase);
        return phase.Asked;
    }

    /// <summary>Serialized once for all remote clients; local clients get the object itself.</summary>
    private void Broadcast(Protocol.IFederationMessage request, IEnumerable<string> clientIds)
    {
        var prepared = _transfer.Prepare(request);
        foreach (var clientId in clientIds)
        {
            _round = _round.Sent(_clients.Tell(clientId, prepared, Self));
        }
    }

    private void OnFitResult(FitResult result)
    {
        _round = _round.Received(WireSize.Received(result, Sender));
        var update = new ClientUpdate(result.ClientId, result.Delta, result.Examples, result.Loss, result.Accuracy);
        var (next, verdict) = _round.Train(result.Round, update, _clients.IsOwner(result.ClientId, Sender));
        if (verdict == Verdict.Accepted && !_clients.MayClaim(result.ClientId, result.Examples))
        {
            _log.Warning("Round {0}: {1} claims {2} examples, more than the {3} it registered", _round.Number, result.ClientId,
                result.Examples, _clients.Examples(result.ClientId));
            (next, verdict) = (next.Reject(result.ClientId), Verdict.Rejected);
        }
        else if (verdict == Verdict.Accepted && !TryAggregate(update))
        {
            (next, verdict) = (next.Reject(result.ClientId), Verdict.Rejected);
        }
        if (verdict == Verdict.Rejected)
        {
            _log.Warning("Round {0}: rejected the update of {1}", _round.Number, result.ClientId);
        }
        Record(next);
    }

    /// <summary>Folds an accepted update into the round's aggregation, which keeps or drops its delta; false when it cannot.</summary>
    private bool TryAggregate(ClientUpdate update)
    {
        try
        {
            int retained = _aggregation!.RetainedDeltas;
            _aggregation.Add(update);
            if (_aggregation.RetainedDeltas == retained)
            {
                // Folded into the running sum: a delta that came over the wire goes back to the pool.
                WeightBuffers.Get(Context.System).Return(update.Delta.Values);
            }
            return true;
        }
        catch (ArgumentException refused)
        {
            _log.Warning("Round {0}: the update of {1} cannot be aggregated: {2}", _round.Number, update.ClientId, refused.Message);
            return false;
        }
    }

    private void Record(Round round)
    {
        bool wasTraining = _round.Phase == RoundPhase.Training;
        _round = round;
        if (wasTraining)
        {
            PublishProgress();
        }
        if (_round.TrainingComplete)
        {
            CloseTraining(deadlinePassed: false);
        }
        else if (_round.EvaluationComplete)
        {
            CloseEvaluation();
        }
    }

    private void PublishProgress() => Context.System.EventStream.Publish(new RoundProgress(
        _round.Number, _round.Book.Answered, _round.Book.Selected.Length));

    /// <summary>
    /// An evaluation counts only with an example count its client registered and finite metrics; otherwise it is that
    /// client's failed evaluation (when it comes from the client at all: <see cref="Round.Evaluated"/> judges that).
    /// </summary>
    private void OnEvaluateResult(EvaluateResult result)
    {
        string? refusal = !double.IsFinite(result.Loss) || !double.IsFinite(result.Accuracy) ? "its loss or accuracy is not finite"
            : _clients.IsOwner(result.ClientId, Sender) && !_clients.MayClaim(result.ClientId, result.Examples)
                ? $"it claims {result.Examples} examples, outside 0..{_clients.Examples(result.ClientId)}"
                : null;
        OnEvaluated(result.Round, result.ClientId, refusal is null ? new Evaluation(result.Loss, result.Accuracy, result.Examples) : null, refusal);
    }

    private void OnEvaluated(int round, string clientId, Evaluation? result, string? failure) =>
        Record(_round.Evaluated(round, clientId, result, failure, _clients.IsOwner(clientId, Sender)).Round);

    private void CloseTraining(bool deadlinePassed)
    {
        Timers.Cancel(DeadlineTimer);
        _round = _round.CloseTraining(_options.MinClients, deadlinePassed);
        _next = _state with { Round = _state.Round + 1 };
        try
        {
            _next = _round.Succeeded ? _aggregation!.Finish(_round.TrainingFailures, _round.Available) : _next;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A strategy that cannot combine the updates (e.g. optimizer state of another run) fails the round, not the server.
            _round = _round.AggregationFailed(e.Message);
        }
        _aggregation?.Dispose();
        _aggregation = null;
        if (_round.Succeeded)
        {
            _log.Info("Round {0}: {1} of {2} updates", _round.Number, _round.Book.Accepted.Count, _round.Book.Selected.Length);
        }
        else
        {
            // Reported once, in the round's metrics: not also as a warning beside them.
            _log.Info("Round {0} failed: {1}", _round.Number, _round.FailureReason);
        }

        var evaluators = _round.Succeeded
            ? _strategy.ConfigureEvaluate(_round.Number, Online(_state.SimulatedTime + (_round.SimulatedSeconds ?? 0)))
            : Array.Empty<string>();
        if (evaluators.Count == 0)
        {
            Complete();
            return;
        }
        // Federated evaluation: the new global model, on selected clients' own data, under the same deadline.
        _round = _round.Evaluate(evaluators);
        var asked = Plan(evaluators, evaluators.Count, (clock, id, start) => clock.Evaluate(id, _clients.Examples(id), ModelBytes, start));
        Broadcast(new EvaluateRequest(_round.Number, Downlink(_next.Weights, _round.Number, "evaluate")), asked);
        Record(_round);
    }

    private void CloseEvaluation()
    {
        Timers.Cancel(DeadlineTimer);
        _round = _round.CloseEvaluation();
        Complete();
    }

    private void Complete()
    {
        if (_round.SimulatedSeconds is { } took)
        {
            _next = _next with { SimulatedTime = _state.SimulatedTime + took };
        }
        var metrics = _round.Metrics(_clock.Elapsed.TotalSeconds) with
        {
            SimulatedTime = _round.SimulatedSeconds is null ? null : _next.SimulatedTime,
            Epsilon = _strategy.Epsilon(_next),
            ClipNorm = _strategy.ClipNorm(_state),
            FederatedTest = _round.Evaluators.IsEmpty
                ? null
                : _strategy.AggregateEvaluate(_round.Number, _round.EvaluationsInOrder, _round.EvaluationFailuresInOrder),
        };
        _driver.Tell(new RoundCompleted(_next, metrics));
        _driver = ActorRefs.Nobody;
    }
}
