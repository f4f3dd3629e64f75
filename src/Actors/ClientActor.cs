using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Serialization;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// One data holder. Owns its shard (a view into the indices of a dataset shared by every client of the process) and
/// trains on request with the trainer of the worker thread it runs on. Runs on the training dispatcher,
/// so local training never starves the server, timers or heartbeats.
/// </summary>
/// <remarks>
/// <para>
/// State that lasts across rounds lives here, in the actor that owns the client: the top-k error-feedback
/// residual (<see cref="UplinkEncoder"/>), made on the first compressed update. It lives as long as the actor:
/// a client whose node restarts (or a resumed run) starts again with none, which loses at most the mass not yet
/// sent, one update's worth, and nothing of what was sent.
/// </para>
/// <para>
/// A simulation may hold a million of these, so an idle client is kept to its fields: a plain
/// <see cref="UntypedActor"/> (no per-instance handler tables), and the logger and the registration timer exist
/// only while they are needed.
/// </para>
/// <para>
/// Hosted (made with <see cref="HostedProps"/>): a child of a <see cref="ClientHost"/>, activated for one request
/// and stopped once it answered. It does not register (its host did, for all its clients), takes requests from its
/// host only, and answers its host with <see cref="Hosting.Answered"/>, which hands back its residual with the reply.
/// It never acts out faults: hosts are used only where the server plans them, or there are none.
/// </para>
/// </remarks>
public sealed class ClientActor : UntypedActor
{
    /// <summary>How often an unacknowledged registration is sent again (the server may be moving).</summary>
    public static readonly TimeSpan RegistrationRetry = TimeSpan.FromSeconds(2);

    private readonly string _clientId;
    private readonly ReadOnlyMemory<int> _shard;
    private readonly TensorData _data;
    private readonly TrainerPool _trainers;
    private readonly IActorRef _server;
    private readonly SimulatedFaults _faults;
    private readonly Attack _attack;
    private IActorRef _registeredWith = ActorRefs.Nobody;
    private ICancelable? _registration;
    private UplinkEncoder? _uplink;
    private readonly int _hostedIndex = -1;

    public ClientActor(string clientId, ReadOnlyMemory<int> shard, TensorData data, TrainerPool trainers, IActorRef server,
        SimulatedFaults faults, Attack attack)
    {
        _attack = attack;
        _clientId = clientId;
        _shard = shard;
        _data = data;
        _trainers = trainers;
        _server = server;
        _faults = faults;
    }

    /// <summary>A hosted client's place: its index among its host's clients and the residual it last left.</summary>
    public sealed record Seat(int Index, UplinkEncoder? Uplink);

    public ClientActor(string clientId, ReadOnlyMemory<int> shard, TensorData data, TrainerPool trainers, Seat seat, Attack attack)
        : this(clientId, shard, data, trainers, ActorRefs.Nobody, SimulatedFaults.None, attack)
    {
        _hostedIndex = seat.Index;
        _uplink = seat.Uplink;
    }

    private bool IsHosted => _hostedIndex >= 0;

    private sealed record RegisterAgain
    {
        public static readonly RegisterAgain Instance = new();
    }

    private sealed record ReplyLater(IActorRef To, IFederationMessage Reply);

    public static Props Props(string clientId, ReadOnlyMemory<int> shard, TensorData data, TrainerPool trainers, IActorRef server,
        SimulatedFaults? faults = null, Attack? attack = null) =>
        // By type and arguments, not an expression: compiling an expression per client made creating 100,000
        // clients take 21 s instead of 2 s.
        Akka.Actor.Props.Create(typeof(ClientActor), clientId, shard, data, trainers, server, faults ?? SimulatedFaults.None,
                attack ?? Attack.None)
            .WithDispatcher(AkkaFedConfig.TrainingDispatcher);

    /// <summary>A client of <see cref="ClientHost"/>, activated for one request: see the remarks on hosted clients.</summary>
    public static Props HostedProps(string clientId, ReadOnlyMemory<int> shard, TensorData data, TrainerPool trainers, Seat seat,
        Attack attack) =>
        Akka.Actor.Props.Create(typeof(ClientActor), clientId, shard, data, trainers, seat, attack)
            .WithDispatcher(AkkaFedConfig.TrainingDispatcher);

    private ILoggingAdapter Log => Context.GetLogger();

    private FederationTransport Transfer => FederationTransport.Get(Context.System);

    protected override void PreStart()
    {
        if (IsHosted)
        {
            _registeredWith = Context.Parent;
        }
        else
        {
            Register();
        }
    }

    /// <summary>The reply to the request in hand: to whoever asked, or, hosted, to the host with the state to keep.</summary>
    private void Answer(IFederationMessage reply)
    {
        if (IsHosted)
        {
            Context.Parent.Tell(new Hosting.Answered(_hostedIndex, reply, _uplink));
        }
        else
        {
            Transfer.Tell(Sender, reply, Self);
        }
    }

    protected override void PostStop() => _registration?.Cancel();

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case FitRequest request when Sender.Equals(_registeredWith):
                Fit(request);
                break;
            case EvaluateRequest request when Sender.Equals(_registeredWith):
                Evaluate(request);
                break;
            case FitRequest or EvaluateRequest:
                // Its answer would hand this client's update (or its data's loss) to whoever asked.
                Ignore(message, "it did not come from the server this client registered with");
                WeightBuffers.Get(Context.System).Return((message is FitRequest fit ? fit.Weights : ((EvaluateRequest)message).Weights).Values);
                break;
            case ReplyLater later:
                Transfer.Tell(later.To, later.Reply, Self);
                break;
            case ClientRegistered registered when registered.ClientId == _clientId && NodeIdentities.Get(Context.System).IsServer(Sender):
                OnRegistered();
                break;
            case ClientRegistered:
                // A forged acknowledgement would stop the retries and cut this client off.
                Ignore(message, "it is not an answer to this client from a server node");
                break;
            case RunEvents.Ended ended when Sender.Equals(_registeredWith):
                // For the node, which also listens on the cluster's topic: whichever comes first ends it.
                Context.System.EventStream.Publish(ended);
                break;
            case RunEvents.Ended:
                Ignore(message, "it did not come from the server this client registered with");
                break;
            case RegisterAgain when _registration is not null:
                Register();
                break;
            case RegisterAgain:
                break; // a retry that was already in the mailbox when the acknowledgement came
            case Terminated terminated when terminated.ActorRef.Equals(_registeredWith):
                Log.Info("{0}: the server is gone; registering with its successor", _clientId);
                _registeredWith = ActorRefs.Nobody;
                Register();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>
    /// The update as the server asked for it: as it is, or compressed with rounding drawn from a stream of this
    /// client's own for the round (so a replay sends the same bits), through the state this client keeps.
    /// </summary>
    private CompressedVector Compress(float[] delta, FitRequest request)
    {
        if (!request.Uplink.Compresses)
        {
            _uplink = null;
            return delta;
        }
        _uplink ??= new UplinkEncoder();
        return _uplink.Encode(delta, request.Uplink, StableSeed.Mix(request.Seed, request.Round, _clientId + "/uplink"), request.ClipNorm);
    }

    private void Ignore(object message, string why) =>
        Log.Info("{0}: ignored {1} from {2}: {3}", _clientId, message.GetType().Name, Sender.Path, why);

    /// <summary>Registers, and keeps registering until acknowledged: through a singleton proxy, a message can be lost while the server moves.</summary>
    private void Register()
    {
        _server.Tell(new RegisterClient(_clientId, _shard.Length));
        _registration ??= Context.System.Scheduler.ScheduleTellRepeatedlyCancelable(
            RegistrationRetry, RegistrationRetry, Self, RegisterAgain.Instance, Self);
    }

    private void OnRegistered()
    {
        _registration?.Cancel();
        _registration = null;
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
            var weights = request.Weights.ToFloats();
            var result = _trainers.Run(trainer => trainer.Evaluate(weights, _data, _shard));
            reply = new EvaluateResult(request.Round, _clientId, result.Loss, result.Accuracy, result.Examples);
        }
        catch (Exception e)
        {
            Log.Warning("Round {0}: {1} failed to evaluate: {2}", request.Round, _clientId, e.Message);
            reply = new EvaluateFailed(request.Round, _clientId, FailureText.Bound(e.Message));
        }
        WeightBuffers.Get(Context.System).Return(request.Weights.Values);
        Answer(reply);
    }

    private void Fit(FitRequest request)
    {
        var fault = _faults.For(request.Round, _clientId);
        if (fault == FaultKind.Drop)
        {
            Log.Debug("Round {0}: {1} drops out (simulated)", request.Round, _clientId);
            return;
        }

        IFederationMessage reply;
        try
        {
            // Options come over the wire: a batch of 0 or a million epochs would hold a training thread for good.
            request.Options.Validate();
            int seed = StableSeed.Mix(request.Seed, request.Round, _clientId);
            var weights = request.Weights.ToFloats();
            var result = _trainers.Run(trainer => trainer.Train(weights, _data, _shard.Span, request.Options, seed));
            var delta = _attack.Corrupt(result.Delta, _clientId, request.Round);
            reply = new FitResult(request.Round, _clientId, Compress(delta, request), result.Examples, result.Loss, result.Accuracy);
        }
        catch (Exception e)
        {
            Log.Warning("Round {0}: {1} failed to train: {2}", request.Round, _clientId, e.Message);
            reply = new FitFailed(request.Round, _clientId, FailureText.Bound(e.Message));
        }
        // Weights that came over the wire are this client's own copy, and it is done with them.
        WeightBuffers.Get(Context.System).Return(request.Weights.Values);

        if (fault == FaultKind.Straggle)
        {
            // A one-off delivery: straight to a local server, so that it arrives in the scheduler's order against the
            // server's own deadline; through this client (and the transport) to a remote one.
#pragma warning disable AK1004
            if (Sender.Path.Address.HasLocalScope)
            {
                Context.System.Scheduler.ScheduleTellOnce(_faults.StragglerDelay, Sender, reply, Self);
            }
            else
            {
                Context.System.Scheduler.ScheduleTellOnce(_faults.StragglerDelay, Self, new ReplyLater(Sender, reply), Self);
            }
#pragma warning restore AK1004
        }
        else
        {
            Answer(reply);
        }
    }
}
