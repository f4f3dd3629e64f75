using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// Coordinates rounds: selects clients, broadcasts the global weights, collects updates until every
/// selected client answered or the deadline passed, then aggregates (with a quorum) or fails the round.
/// Idle -> Collecting -> Idle. The round's rules live in <see cref="RoundBook"/> and its arithmetic in the strategy's
/// <see cref="IRoundAggregation"/>, which takes each accepted update as it arrives; this actor only routes.
/// </summary>
public sealed class ServerActor : ReceiveActor, IWithTimers
{
    private const string DeadlineTimer = "round-deadline";

    private readonly ServerOptions _options;
    private readonly FederatedStrategy _strategy;
    private int _available;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, IActorRef> _clients = new();
    private readonly Dictionary<IActorRef, string> _clientIds = new();
    private readonly List<(int Count, IActorRef ReplyTo)> _waitingForClients = new();
    private readonly HashSet<Address> _unreachable = new();
    private string[]? _sortedClientIds;
    private int _lateWhileIdle;
    private readonly FederationTransport _transfer = FederationTransport.Get(Context.System);
    private long _bytesSent;
    private long _bytesReceived;

    // The round in flight (Collecting only).
    private RoundBook _book = RoundBook.Open(0, Array.Empty<string>(), 0);
    private IRoundAggregation? _aggregation;
    private FederatedState _state = new(0, Array.Empty<float>());
    private IActorRef _driver = ActorRefs.Nobody;
    private readonly Stopwatch _clock = new();

    public ServerActor(ServerOptions options)
    {
        _options = options.Validate();
        _strategy = (FederatedStrategy)options.CreateStrategy();
        Idle();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ServerOptions options) => Akka.Actor.Props.Create(() => new ServerActor(options));

    private sealed record RoundTimedOut(int Round);

    private void Idle()
    {
        Membership();
        Receive<RunRound>(StartRound);
        Receive<FitResult>(_ => _lateWhileIdle++);
        Receive<FitFailed>(_ => _lateWhileIdle++);
        Receive<RoundTimedOut>(_ => { });
    }

    private void Collecting()
    {
        Membership();
        Receive<RunRound>(run => Sender.Tell(new RoundRefused(run.State.Round, $"round {_book.Round} is in flight")));
        Receive<FitResult>(OnFitResult);
        Receive<FitFailed>(failed => Record(_book.ApplyFailure(failed.Round, failed.ClientId, failed.Reason).Book));
        Receive<RoundTimedOut>(timeout => timeout.Round == _book.Round, _ => CloseRound(deadlinePassed: true));
        Receive<RoundTimedOut>(_ => { });
    }

    private void Membership()
    {
        Receive<RegisterClient>(OnRegister);
        Receive<Terminated>(OnTerminated);
        Receive<ClusterEvent.UnreachableMember>(unreachable =>
        {
            // Its clients are stragglers for the round in flight and are not sampled until they are back.
            _log.Warning("Node {0} is unreachable: its clients are left out", unreachable.Member.Address);
            _unreachable.Add(unreachable.Member.Address);
        });
        Receive<ClusterEvent.ReachableMember>(reachable => _unreachable.Remove(reachable.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(removed => _unreachable.Remove(removed.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<AwaitClients>(wait =>
        {
            _waitingForClients.Add((wait.Count, Sender));
            AnswerWaiting();
        });
    }

    protected override void PreStart()
    {
        if (ClusterFederation.IsCluster(Context.System))
        {
            Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsEvents,
                typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));
        }
    }

    protected override void PostStop()
    {
        _aggregation?.Dispose();
        if (ClusterFederation.IsCluster(Context.System))
        {
            Cluster.Get(Context.System).Unsubscribe(Self);
        }
    }

    private void OnRegister(RegisterClient register)
    {
        Sender.Tell(new ClientRegistered(register.ClientId));
        if (_clients.TryGetValue(register.ClientId, out var known) && known.Equals(Sender))
        {
            return;
        }
        if (_clients.TryGetValue(register.ClientId, out var previous) && !previous.Equals(Sender))
        {
            _clientIds.Remove(previous);
            Context.Unwatch(previous);
        }
        _clients[register.ClientId] = Sender;
        _clientIds[Sender] = register.ClientId;
        _sortedClientIds = null;
        Context.Watch(Sender);
        AnswerWaiting();
    }

    private void OnTerminated(Terminated terminated)
    {
        if (!_clientIds.Remove(terminated.ActorRef, out var clientId))
        {
            return;
        }
        _clients.Remove(clientId);
        _sortedClientIds = null;
        _log.Info("Client {0} is gone", clientId);
        if (!_driver.Equals(ActorRefs.Nobody))
        {
            Record(_book.ApplyFailure(_book.Round, clientId, "client terminated").Book);
        }
    }

    private void AnswerWaiting()
    {
        _waitingForClients.RemoveAll(wait =>
        {
            if (_clients.Count < wait.Count)
            {
                return false;
            }
            wait.ReplyTo.Tell(new ClientsAvailable(_clients.Count));
            return true;
        });
    }

    private void StartRound(RunRound run)
    {
        _bytesSent = 0;
        _bytesReceived = 0;
        _state = run.State;
        _driver = Sender;
        _clock.Restart();
        int round = run.State.Round;
        var candidates = AvailableClients();
        int available = candidates.Count;
        _book = RoundBook.Open(round, Array.Empty<string>(), run.State.Weights.Length) with { Late = _lateWhileIdle };
        _lateWhileIdle = 0;
        if (available < _options.MinClients)
        {
            Finish(succeeded: false, $"only {available} clients available, min-clients is {_options.MinClients}");
            return;
        }

        _available = available;
        var plan = _strategy.ConfigureFit(round, candidates);
        var selected = plan.Clients;
        _book = RoundBook.Open(round, selected, run.State.Weights.Length) with { Late = _book.Late };
        _aggregation = _strategy.BeginFit(run.State, selected);
        // Serialized once for all remote clients; local clients get the object itself.
        var request = _transfer.Prepare(new FitRequest(round, run.State.Weights, plan.Options, _options.Seed));
        foreach (var clientId in selected)
        {
            _bytesSent += request.Tell(_clients[clientId], Self);
        }
        _log.Debug("Round {0}: asked {1} of {2} clients", round, selected.Count, available);
        Timers.StartSingleTimer(DeadlineTimer, new RoundTimedOut(round), _options.RoundDeadline);
        Become(Collecting);
    }

    /// <summary>Registered clients on reachable nodes, in a fixed order so that sampling follows the seed.</summary>
    private IReadOnlyList<string> AvailableClients()
    {
        _sortedClientIds ??= _clients.Keys.Order(StringComparer.Ordinal).ToArray();
        return _unreachable.Count == 0
            ? _sortedClientIds
            : _sortedClientIds.Where(id => !_unreachable.Contains(_clients[id].Path.Address)).ToArray();
    }

    private void OnFitResult(FitResult result)
    {
        _bytesReceived += WireSize.Received(result, Sender);
        // Only the registered sender of a client id may speak for it.
        bool fromOwner = _clients.TryGetValue(result.ClientId, out var owner) && owner.Equals(Sender);
        var update = new ClientUpdate(result.ClientId, result.Delta, result.Examples, result.Loss, result.Accuracy);
        var (book, verdict) = fromOwner || result.Round != _book.Round
            ? _book.Apply(result.Round, update)
            : (_book with { Rejected = _book.Rejected + 1 }, Verdict.Rejected);
        if (verdict == Verdict.Accepted && !TryAggregate(update))
        {
            (book, verdict) = (_book with { Rejected = _book.Rejected + 1 }, Verdict.Rejected);
        }
        if (verdict == Verdict.Rejected)
        {
            _log.Warning("Round {0}: rejected the update of {1}", _book.Round, result.ClientId);
        }
        Record(book);
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
                WeightBuffers.Get(Context.System).Return(update.Delta);
            }
            return true;
        }
        catch (ArgumentException refused)
        {
            _log.Warning("Round {0}: the update of {1} cannot be aggregated: {2}", _book.Round, update.ClientId, refused.Message);
            return false;
        }
    }

    private void Record(RoundBook book)
    {
        _book = book;
        Context.System.EventStream.Publish(
            new RoundProgress(_book.Round, _book.Accepted.Count + _book.Failures.Count, _book.Selected.Length));
        if (_book.IsComplete)
        {
            CloseRound(deadlinePassed: false);
        }
    }

    private void CloseRound(bool deadlinePassed)
    {
        Timers.Cancel(DeadlineTimer);
        int updates = _book.Accepted.Count;
        if (updates >= _options.MinClients)
        {
            Finish(succeeded: true, null);
        }
        else
        {
            string why = deadlinePassed ? "by the deadline" : "after every selected client answered";
            var lost = _book.Failures.Select(f => $"{f.Key} failed: {f.Value}").ToList();
            if (_book.Rejected > 0)
            {
                lost.Add($"{_book.Rejected} rejected");
            }
            string detail = lost.Count > 0 ? $" ({string.Join("; ", lost)})" : "";
            Finish(succeeded: false, $"{updates} updates {why}, min-clients is {_options.MinClients}{detail}");
        }
    }

    private void Finish(bool succeeded, string? failure)
    {
        // Failures, for the strategy: clients that threw or died, and those that did not answer in time.
        var failures = _book.Failures.Select(f => new ClientFailure(f.Key, f.Value))
            .Concat(_book.Selected.Where(id => !_book.Accepted.ContainsKey(id) && !_book.Failures.ContainsKey(id))
                .Select(id => new ClientFailure(id, "no answer by the deadline")))
            .ToArray();
        var next = succeeded
            ? _aggregation!.Finish(failures, _available)
            : _state with { Round = _state.Round + 1 };
        _aggregation?.Dispose();
        _aggregation = null;
        var (loss, accuracy) = _book.TrainingMetrics();
        var metrics = new RoundMetrics(
            _book.Round, succeeded, loss, accuracy,
            Selected: _book.Selected.Length,
            Participants: _book.Accepted.Count,
            Stragglers: _book.Missing,
            Late: _book.Late,
            Duplicates: _book.Duplicates,
            Rejected: _book.Rejected,
            Failed: _book.Failures.Count,
            Seconds: _clock.Elapsed.TotalSeconds,
            FailureReason: failure)
        {
            BytesSent = _bytesSent,
            BytesReceived = _bytesReceived,
            Epsilon = _strategy.Epsilon(next),
            ClipNorm = _options.Strategy.Privacy is { Enabled: true } privacy ? _state.Privacy?.ClipNorm ?? privacy.ClipNorm : null,
        };
        if (succeeded)
        {
            _log.Info("Round {0}: {1} of {2} updates", _book.Round, _book.Accepted.Count, _book.Selected.Length);
        }
        else
        {
            _log.Warning("Round {0} failed: {1}", _book.Round, failure);
        }
        var evaluators = succeeded ? _strategy.ConfigureEvaluate(_book.Round, AvailableClients()) : Array.Empty<string>();
        if (evaluators.Count == 0)
        {
            Complete(new RoundCompleted(next, metrics));
            return;
        }

        // Federated evaluation: the new global model, on selected clients' own data, under the same deadline.
        _evaluation = new PendingEvaluation(new RoundCompleted(next, metrics), evaluators.ToHashSet());
        var request = _transfer.Prepare(new EvaluateRequest(_book.Round, next.Weights));
        foreach (var clientId in evaluators)
        {
            _bytesSent += request.Tell(_clients[clientId], Self);
        }
        Timers.StartSingleTimer(DeadlineTimer, new EvaluationTimedOut(_book.Round), _options.RoundDeadline);
        Become(Evaluating);
    }

    private sealed record EvaluationTimedOut(int Round);

    /// <summary>A round whose model is aggregated and being evaluated by clients.</summary>
    private sealed class PendingEvaluation(RoundCompleted round, HashSet<string> asked)
    {
        public RoundCompleted Round { get; } = round;
        public HashSet<string> Asked { get; } = asked;
        public List<Evaluation> Results { get; } = new();
        public List<ClientFailure> Failures { get; } = new();
        public HashSet<string> Answered { get; } = new();
        public bool IsComplete => Answered.Count >= Asked.Count;
    }

    private PendingEvaluation? _evaluation;

    private void Evaluating()
    {
        Membership();
        Receive<RunRound>(run => Sender.Tell(new RoundRefused(run.State.Round, $"round {_book.Round} is in flight")));
        Receive<FitResult>(_ => _lateWhileIdle++);
        Receive<FitFailed>(_ => _lateWhileIdle++);
        Receive<EvaluateResult>(result => Answered(result.Round, result.ClientId,
            pending => pending.Results.Add(new Evaluation(result.Loss, result.Accuracy, result.Examples))));
        Receive<EvaluateFailed>(failed => Answered(failed.Round, failed.ClientId,
            pending => pending.Failures.Add(new ClientFailure(failed.ClientId, failed.Reason))));
        Receive<EvaluationTimedOut>(timeout => timeout.Round == _book.Round, _ => CompleteEvaluation());
        Receive<RoundTimedOut>(_ => { });
        Receive<EvaluationTimedOut>(_ => { });
    }

    private void Answered(int round, string clientId, Action<PendingEvaluation> record)
    {
        var pending = _evaluation!;
        bool fromOwner = _clients.TryGetValue(clientId, out var owner) && owner.Equals(Sender);
        // Counted once, only from the client that was asked, only for this round.
        if (round != _book.Round || !fromOwner || !pending.Asked.Contains(clientId) || !pending.Answered.Add(clientId))
        {
            return;
        }
        record(pending);
        if (pending.IsComplete)
        {
            CompleteEvaluation();
        }
    }

    private void CompleteEvaluation()
    {
        Timers.Cancel(DeadlineTimer);
        var pending = _evaluation!;
        _evaluation = null;
        var federated = _strategy.AggregateEvaluate(_book.Round, pending.Results, pending.Failures);
        var metrics = pending.Round.Metrics with
        {
            FederatedTest = federated,
            Seconds = _clock.Elapsed.TotalSeconds,
            BytesSent = _bytesSent,
            BytesReceived = _bytesReceived,
        };
        Complete(pending.Round with { Metrics = metrics });
    }

    private void Complete(RoundCompleted completed)
    {
        _driver.Tell(completed);
        _driver = ActorRefs.Nobody;
        Become(Idle);
    }
}
