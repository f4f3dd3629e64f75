using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Serialization;
using AkkaFed.Actors.Protocol;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Training;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// One data holder. Owns its shard (indices into a dataset shared by every client of the process) and
/// trains on request with the trainer of the worker thread it runs on. Runs on the training dispatcher,
/// so local training never starves the server, timers or heartbeats.
/// </summary>
public sealed class ClientActor : ReceiveActor, IWithTimers
{
    /// <summary>How often an unacknowledged registration is sent again (the server may be moving).</summary>
    public static readonly TimeSpan RegistrationRetry = TimeSpan.FromSeconds(2);
    private const string RegistrationTimer = "register";

    private readonly string _clientId;
    private readonly int[] _shard;
    private readonly TensorData _data;
    private readonly TrainerPool _trainers;
    private readonly IActorRef _server;
    private readonly SimulatedFaults _faults;
    private readonly Attack _attack;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _registeredWith = ActorRefs.Nobody;
    private readonly ChunkedTransfer _transfer = new(Context.System);
    private readonly ChunkAssembler _assembler = new();

    public ClientActor(string clientId, int[] shard, TensorData data, TrainerPool trainers, IActorRef server, SimulatedFaults faults,
        Attack attack)
    {
        _attack = attack;
        _clientId = clientId;
        _shard = shard;
        _data = data;
        _trainers = trainers;
        _server = server;
        _faults = faults;
        Receive<FitRequest>(Fit);
        Receive<EvaluateRequest>(Evaluate);
        Receive<Chunk>(chunk =>
        {
            if (_assembler.TryAdd(chunk, Sender, out var message, out _, out var rejection))
            {
                Self.Tell(message, Sender);
            }
            else if (rejection is not null)
            {
                _log.Warning("{0}: dropped a malformed message from {1}: {2}", _clientId, Sender.Path, rejection.Message);
            }
        });
        Receive<ReplyLater>(later => _transfer.Tell(later.To, later.Reply, Self));
        Receive<ClientRegistered>(_ => OnRegistered());
        Receive<RegisterAgain>(_ => Register());
        Receive<Terminated>(terminated => terminated.ActorRef.Equals(_registeredWith), _ =>
        {
            _log.Info("{0}: the server is gone; registering with its successor", _clientId);
            _registeredWith = ActorRefs.Nobody;
            Register();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record RegisterAgain;

    private sealed record ReplyLater(IActorRef To, IFederationMessage Reply);

    public static Props Props(string clientId, int[] shard, TensorData data, TrainerPool trainers, IActorRef server,
        SimulatedFaults? faults = null, Attack? attack = null) =>
        Akka.Actor.Props.Create(() => new ClientActor(clientId, shard, data, trainers, server, faults ?? SimulatedFaults.None,
                attack ?? Attack.None))
            .WithDispatcher(AkkaFedConfig.TrainingDispatcher);

    protected override void PreStart() => Register();

    /// <summary>Registers, and keeps registering until acknowledged: through a singleton proxy, a message can be lost while the server moves.</summary>
    private void Register()
    {
        _server.Tell(new RegisterClient(_clientId, _shard.Length));
        if (!Timers.IsTimerActive(RegistrationTimer))
        {
            Timers.StartPeriodicTimer(RegistrationTimer, new RegisterAgain(), RegistrationRetry);
        }
    }

    private void OnRegistered()
    {
        Timers.Cancel(RegistrationTimer);
        if (!Sender.Equals(_registeredWith))
        {
            // Watch the server itself (not the proxy): if its node dies, register with the next one.
            Context.Watch(Sender);
            _registeredWith = Sender;
        }
    }

    /// <summary>Federated evaluation: the global model on this client's own samples.</summary>
    private void Evaluate(EvaluateRequest request)
    {
        IFederationMessage reply;
        try
        {
            var result = _trainers.Current.Evaluate(request.Weights, _data, _shard);
            reply = new EvaluateResult(request.Round, _clientId, result.Loss, result.Accuracy, result.Examples);
        }
        catch (Exception e)
        {
            _log.Warning("Round {0}: {1} failed to evaluate: {2}", request.Round, _clientId, e.Message);
            reply = new EvaluateFailed(request.Round, _clientId, e.Message);
        }
        _transfer.Tell(Sender, reply, Self);
    }

    private void Fit(FitRequest request)
    {
        var fault = _faults.For(request.Round, _clientId);
        if (fault == FaultKind.Drop)
        {
            _log.Debug("Round {0}: {1} drops out (simulated)", request.Round, _clientId);
            return;
        }

        IFederationMessage reply;
        try
        {
            int seed = StableSeed.Mix(request.Seed, request.Round, _clientId);
            var result = _trainers.Current.Train(request.Weights, _data, _shard, request.Options, seed);
            var delta = _attack.Corrupt(result.Delta, _clientId, request.Round);
            reply = new FitResult(request.Round, _clientId, delta, result.Examples, result.Loss, result.Accuracy);
        }
        catch (Exception e)
        {
            _log.Warning("Round {0}: {1} failed to train: {2}", request.Round, _clientId, e.Message);
            reply = new FitFailed(request.Round, _clientId, e.Message);
        }

        if (fault == FaultKind.Straggle)
        {
            Timers.StartSingleTimer(("straggle", request.Round), new ReplyLater(Sender, reply), _faults.StragglerDelay);
        }
        else
        {
            _transfer.Tell(Sender, reply, Self);
        }
    }
}
