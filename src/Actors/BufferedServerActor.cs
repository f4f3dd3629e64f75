using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Simulation;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// The server of an asynchronous run (FedBuff, <see cref="FedBuffOptions"/>), on the simulated clock: it keeps
/// <c>concurrency</c> clients training, each from the model version it was sent, and for each
/// <see cref="RunRound"/> of its driver moves the model once <c>buffer-size</c> updates are in, weighted by their
/// staleness. Clients work between rounds too: one still training when the model moves is stale by the time it
/// answers. Which update counts when is decided by the <see cref="AsyncSchedule"/> on simulated time, never by
/// arrival: an update that arrives early waits for every update due before it, so a run is the same on any host.
/// </summary>
public sealed class BufferedServerActor : ReceiveActor
{
    private readonly ServerOptions _options;
    private readonly FedBuffOptions _buffered;
    private readonly SimulatedClock _clock;
    private readonly IServerOptimizer _optimizer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ClientRegistry _clients;
    private readonly FederationTransport _transfer = FederationTransport.Get(Context.System);
    private readonly Stopwatch _wall = new();

    // What clients in flight answered, by client id, until the schedule reaches them: an update or a failure.
    private readonly Dictionary<string, object> _answers = new(StringComparer.Ordinal);

    private AsyncSchedule? _schedule;
    private StalenessBuffer? _buffer;
    private FederatedState _state = new(0, Array.Empty<float>());
    private FederatedState? _next;
    private IActorRef _driver = ActorRefs.Nobody;
    private Tally _tally = new();
    private long _refusals;

    /// <param name="options">Validated settings with strategy = fedbuff and a simulated clock.</param>
    public BufferedServerActor(ServerOptions options)
    {
        _options = options;
        _buffered = options.Strategy.FedBuff;
        _clock = options.Clock ?? throw new ArgumentException("fedbuff runs on the simulated clock", nameof(options));
        _optimizer = ServerOptimizers.Create(ServerSgd.Key, options.ServerLearningRate, 0, 0, 0, 0);
        _clients = new ClientRegistry(NodeIdentities.Get(Context.System), options.MaxClientExamples, _log);
        Receive<object>(message => ServerActor.IsDriversFromElsewhere(message, Sender),
            message => ServerActor.RefuseDriversFromElsewhere(message, Sender, _log, ref _refusals));
        Receive<RunRound>(_ => _buffer is null, StartRound);
        Receive<RunRound>(run => Sender.Tell(new RoundRefused(run.State.Round, $"round {_state.Round} is in flight")));
        Receive<FitResult>(OnFitResult);
        Receive<FitFailed>(failed => Answer(failed.Round, failed.ClientId, Sender, failed.Reason));
        Receive<RegisterClient>(register => _clients.Admit(register, Sender, Context));
        Receive<Hosting.RegisterClients>(register => _clients.AdmitHost(register, Sender, Context));
        Receive<Terminated>(terminated =>
        {
            if (_clients.Remove(terminated.ActorRef) is { } clientId && _schedule?.IsInFlight(clientId) == true)
            {
                _answers[clientId] = "client terminated";
                Advance();
            }
            else if (_clients.IsHostOf(terminated.ActorRef))
            {
                // Every hosted client is gone at once; those in flight are lost, as crashed clients.
                var lost = _schedule?.InFlightClients.Where(_clients.IsHosted).ToArray() ?? [];
                _clients.RemoveHost(terminated.ActorRef);
                foreach (var id in lost)
                {
                    _answers[id] = "client terminated";
                }
                if (lost.Length > 0)
                {
                    Advance();
                }
            }
        });
        Receive<AwaitClients>(wait => _clients.Await(wait.Count, Sender));
    }

    public static Props Props(ServerOptions options) => Akka.Actor.Props.Create(() => new BufferedServerActor(options));

    /// <summary>What one server step saw.</summary>
    private sealed record Tally
    {
        public int Sent { get; init; }
        public int Stragglers { get; init; }
        public int Dropouts { get; init; }
        public int Stale { get; init; }
        public int Failed { get; init; }
        public int Rejected { get; init; }
        public double Start { get; init; }
    }

    private long ModelBytes => _options.Downlink.PayloadBytes(_state.Weights.Length);

    /// <summary>The current model as it goes down, compressed as the server's would be; one encoding per fill.</summary>
    private Model.Compression.CompressedVector Downlink() =>
        _options.Downlink.Compresses
            ? _options.Downlink.Encode(_state.Weights, StableSeed.Mix(_options.Seed, _state.Round, $"downlink-fit-{_schedule!.Now}"))
            : _state.Weights;

    private void StartRound(RunRound run)
    {
        _driver = Sender;
        _wall.Restart();
        if (_schedule is null || !ReferenceEquals(run.State, _next))
        {
            // A run from a state this server did not make: whatever is in flight belongs to another run.
            _schedule = new AsyncSchedule(_clock, _buffered.Concurrency, _options.RoundDeadline.TotalSeconds, _options.Seed, run.State.SimulatedTime);
            _answers.Clear();
        }
        _state = run.State;
        _buffer = new StalenessBuffer(_buffered, _options.Weighting, run.State.Weights.Length);
        _tally = new Tally { Start = _schedule.Now };
        Fill();
        Advance();
    }

    /// <summary>Sends the current model to idle online clients until concurrency are in flight; only those that deliver train.</summary>
    private void Fill()
    {
        var sent = _schedule!.Fill(_clients.Available(), _state.Round, _clients.Examples, _options.Local.Epochs, ModelBytes,
            _options.Uplink.PayloadBytes(_state.Weights.Length));
        _tally = _tally with { Sent = _tally.Sent + sent.Count };
        var training = sent.Where(entry => entry.Outcome == Dispatch.Delivers).Select(entry => entry.ClientId).ToArray();
        if (training.Length == 0)
        {
            return;
        }
        var prepared = _transfer.Prepare(new FitRequest(_state.Round, Downlink(), _options.Local, _options.Seed) { Uplink = _options.Uplink });
        foreach (var clientId in training)
        {
            _clients.Tell(clientId, prepared, Self);
        }
    }

    private void OnFitResult(FitResult result)
    {
        bool valid = result.Delta.Length == _state.Weights.Length && result.Examples > 0 && _clients.MayClaim(result.ClientId, result.Examples)
            && result.Delta.AllFinite() && double.IsFinite(result.Loss) && double.IsFinite(result.Accuracy);
        object answer = valid ? new ClientUpdate(result.ClientId, result.Delta, result.Examples, result.Loss, result.Accuracy) : Rejected;
        Answer(result.Round, result.ClientId, Sender, answer);
    }

    private const string Rejected = "its update was rejected";

    /// <summary>Keeps the answer of a client in flight (from its owner, for the version it was sent) until the schedule reaches it.</summary>
    private void Answer(int version, string clientId, IActorRef sender, object answer)
    {
        if (_schedule?.IsInFlight(clientId) != true || !_clients.IsOwner(clientId, sender) || _answers.ContainsKey(clientId))
        {
            RefusalLog.Refused(_log, ref _refusals, $"an answer for {ClientIds.Printable(clientId)} to version {version} from {sender.Path}",
                "no client in flight gives it");
            return;
        }
        _answers[clientId] = answer;
        Context.System.EventStream.Publish(new RoundProgress(_state.Round, _buffer?.Count ?? 0, _buffered.BufferSize));
        Advance();
    }

    /// <summary>Takes the schedule's events in simulated-time order as far as their answers are in, until the buffer is full.</summary>
    private void Advance()
    {
        while (_buffer is not null)
        {
            var next = _schedule!.Next;
            if (next is null)
            {
                if (!_schedule.WaitForSomeoneOnline(_clients.Available()))
                {
                    Finish(failure: $"no client is online to train (of {_clients.Count} registered)");
                    return;
                }
                Fill();
                continue;
            }
            if (next.Outcome == Dispatch.Delivers && !_answers.ContainsKey(next.ClientId))
            {
                return; // its update is due next: wait for the host to produce it
            }
            _schedule.Pop();
            Count(next);
            if (_buffer.IsFull)
            {
                Finish(failure: null);
                return;
            }
            Fill();
        }
    }

    private void Count(InFlight done)
    {
        switch (done.Outcome)
        {
            case Dispatch.PastDeadline:
                _tally = _tally with { Stragglers = _tally.Stragglers + 1 };
                return;
            case Dispatch.DropsOut:
                _tally = _tally with { Dropouts = _tally.Dropouts + 1 };
                return;
        }
        _answers.Remove(done.ClientId, out var answer);
        if (answer is ClientUpdate update)
        {
            bool kept = _buffer!.Add(update, staleness: _state.Round - done.Version);
            WeightBuffers.Get(Context.System).Return(update.Delta.Values);
            _tally = kept ? _tally : _tally with { Stale = _tally.Stale + 1 };
        }
        else if (answer is Rejected)
        {
            _tally = _tally with { Rejected = _tally.Rejected + 1 };
        }
        else
        {
            _tally = _tally with { Failed = _tally.Failed + 1 };
        }
    }

    /// <summary>The server step, once the buffer is full (or a failed round when nobody can train): the driver hears the new state.</summary>
    private void Finish(string? failure)
    {
        var buffer = _buffer!;
        _buffer = null;
        var state = _state;
        if (failure is null)
        {
            var optimizer = state.Optimizer.Slots.Length == 0 ? _optimizer.Initial(state.Weights.Length) : state.Optimizer;
            var (weights, next) = _optimizer.Step(state.Weights, buffer.Combine(), optimizer);
            state = new FederatedState(state.Round, weights) { Optimizer = next };
        }
        _next = state with { Round = state.Round + 1, SimulatedTime = _schedule!.Now };
        // A failed step aggregated nothing: no training metrics, no participants.
        var (loss, accuracy) = failure is null ? buffer.TrainingMetrics() : (double.NaN, double.NaN);
        var metrics = new RoundMetrics(_state.Round, failure is null, loss, accuracy,
            Selected: _tally.Sent, Participants: failure is null ? buffer.Count : 0, Stragglers: _tally.Stragglers, Late: _tally.Stale, Duplicates: 0,
            Rejected: _tally.Rejected, Failed: _tally.Failed, WallSeconds: _wall.Elapsed.TotalSeconds, FailureReason: failure)
        {
            Dropouts = _tally.Dropouts,
            SimulatedSeconds = _schedule.Now - _tally.Start,
            SimulatedTime = _schedule.Now,
            MeanStaleness = buffer.Count == 0 ? null : buffer.TotalStaleness / (double)buffer.Count,
        };
        if (failure is null)
        {
            _log.Info("Version {0}: {1} updates, mean staleness {2:F2}", _state.Round, buffer.Count, metrics.MeanStaleness);
        }
        _driver.Tell(new RoundCompleted(_next, metrics));
        _driver = ActorRefs.Nobody;
    }
}
