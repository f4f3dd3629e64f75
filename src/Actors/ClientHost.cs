using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Data;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using static AkkaFed.Actors.Protocol.Hosting;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// Speaks for a simulation's clients <c>NumberedClients.Id(k)</c>, k in [0, n), as Akka.Cluster.Sharding's shard
/// region speaks for its entities: it registers them all with one message, and activates a client's
/// <see cref="ClientActor"/> (hosted) only while the client has a request in hand. The server watches the host once,
/// not every client, and an idle client costs what its row in the host's tables costs: its shard (a view into the
/// shared <see cref="Shards"/>) and, once it sent a top-k update with error feedback, its residual.
/// </summary>
/// <remarks>
/// <para>
/// A request comes as <see cref="Deliver"/>; the host makes the client's actor with the residual the client left
/// last time and hands it the request, with itself as the sender. The client's answer (<see cref="Answered"/>) gives the
/// residual back; the host keeps it, stops the actor (passivation) and tells the reply to whoever asked, with itself as
/// the sender: the registry knows the host as the owner of every hosted id. A request that arrives while the client's
/// actor is still busy joins that actor's mailbox, and the actor stops only after its last answer.
/// </para>
/// <para>
/// The client's results are those of an always-live <see cref="ClientActor"/> bit for bit: training depends on the
/// weights, the shard, the seed, the round and the id, and the residual is the one state a client keeps between
/// rounds. Hosted clients do not act out faults (no drops, straggling or crashes): a process makes a host only where
/// the server plans faults (the simulated clock) or there are none. The tables live in memory only: when the process
/// stops, every residual goes, as a restarted node's clients lose theirs.
/// </para>
/// </remarks>
public sealed class ClientHost : ReceiveActor
{
    private readonly Shards _shards;
    private readonly TensorData _data;
    private readonly TrainerPool _trainers;
    private readonly IActorRef _server;
    private readonly Attack _attack;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<int, UplinkEncoder> _residuals = new();
    private readonly Dictionary<int, Active> _active = new();
    private IActorRef _registeredWith = ActorRefs.Nobody;

    public ClientHost(Shards shards, TensorData data, TrainerPool trainers, IActorRef server, Attack attack)
    {
        _shards = shards;
        _data = data;
        _trainers = trainers;
        _server = server;
        _attack = attack;
        Receive<Deliver>(deliver => Sender.Equals(_registeredWith), OnDeliver);
        Receive<Deliver>(deliver => _log.Info("Ignored a request for {0} from {1}: not the server these clients registered with",
            NumberedClients.Id(deliver.Client), Sender.Path));
        Receive<Answered>(OnAnswered);
        Receive<ClientsRegistered>(_ => OnRegistered());
        Receive<RunEvents.Ended>(ended => Sender.Equals(_registeredWith), ended => Context.System.EventStream.Publish(ended));
        Receive<Terminated>(terminated => terminated.ActorRef.Equals(_registeredWith), _ =>
        {
            _log.Info("The server is gone; registering {0} clients with its successor", _shards.Count);
            _registeredWith = ActorRefs.Nobody;
            Register();
        });
        Receive<Terminated>(OnClientStopped);
        Receive<CountActive>(_ => Sender.Tell(new Occupancy(_active.Count, _residuals.Count)));
    }

    /// <summary>A hosted client that throws is stopped, as a crashed client: its requests go unanswered, its residual with it.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    public static Props Props(Shards shards, TensorData data, TrainerPool trainers, IActorRef server, Attack? attack = null) =>
        Akka.Actor.Props.Create(() => new ClientHost(shards, data, trainers, server, attack ?? Attack.None));

    /// <summary>A client's actor while it has requests in hand: who asked, in the order it answers.</summary>
    private sealed record Active(IActorRef Actor, Queue<IActorRef> ReplyTo);

    /// <summary>Asks for the host's <see cref="Occupancy"/> (for tests and benchmarks).</summary>
    public sealed record CountActive
    {
        public static readonly CountActive Instance = new();
    }

    /// <summary>Clients with a live actor now (none between rounds), and clients that keep a residual.</summary>
    public sealed record Occupancy(int Active, int Residuals);

    protected override void PreStart() => Register();

    private void Register()
    {
        var examples = new int[_shards.Count];
        for (int k = 0; k < examples.Length; k++)
        {
            examples[k] = _shards[k].Length;
        }
        _server.Tell(new RegisterClients(examples));
    }

    private void OnRegistered()
    {
        if (!Sender.Equals(_registeredWith))
        {
            Context.Watch(Sender);
            _registeredWith = Sender;
        }
    }

    private void OnDeliver(Deliver deliver)
    {
        if ((uint)deliver.Client >= (uint)_shards.Count)
        {
            Unhandled(deliver);
            return;
        }
        if (!_active.TryGetValue(deliver.Client, out var active))
        {
            _residuals.Remove(deliver.Client, out var residual);
            var seat = new ClientActor.Seat(deliver.Client, residual);
            var actor = Context.ActorOf(ClientActor.HostedProps(NumberedClients.Id(deliver.Client), _shards[deliver.Client], _data,
                _trainers, seat, _attack));
            Context.Watch(actor);
            active = new Active(actor, new Queue<IActorRef>());
            _active.Add(deliver.Client, active);
        }
        active.ReplyTo.Enqueue(Sender);
        active.Actor.Tell(deliver.Request, Self);
    }

    private void OnAnswered(Answered answered)
    {
        if (!_active.TryGetValue(answered.Client, out var active) || !Sender.Equals(active.Actor))
        {
            Unhandled(answered);
            return;
        }
        var replyTo = active.ReplyTo.Dequeue();
        if (active.ReplyTo.Count == 0)
        {
            // Passivation: the actor has nothing more in its mailbox, and its state is here now.
            Context.Unwatch(active.Actor);
            Context.Stop(active.Actor);
            _active.Remove(answered.Client);
            if (answered.Uplink is { Residual: not null } uplink)
            {
                _residuals[answered.Client] = uplink; // only a residual is worth a row: an encoder without one is made anew
            }
        }
        FederationTransport.Get(Context.System).Tell(replyTo, answered.Reply, Self);
    }

    private void OnClientStopped(Terminated terminated)
    {
        foreach (var (client, active) in _active)
        {
            if (active.Actor.Equals(terminated.ActorRef))
            {
                _log.Warning("{0} stopped with {1} requests unanswered", NumberedClients.Id(client), active.ReplyTo.Count);
                _active.Remove(client);
                return;
            }
        }
    }
}
