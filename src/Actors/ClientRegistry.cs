using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors;

/// <summary>
/// The server's clients: which actor speaks for each client id, and which nodes are unreachable. Ids are listed
/// in ordinal order, so that sampling depends on the set of clients and the seed, never on the order in which
/// they registered. Private state of one server actor; not thread-safe.
/// </summary>
/// <remarks>
/// A registration is admitted only from an actor whose node may host the id (<see cref="NodeIdentities.MayHost"/>),
/// that speaks for no other id (one actor, one id), with a valid id and an example count within the server's cap.
/// A new actor registering a known id replaces the old one: that is how a restarted client gets its id back.
/// </remarks>
internal sealed class ClientRegistry(NodeIdentities identities, int maxExamples, ILoggingAdapter log)
{
    private readonly Dictionary<string, IActorRef> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, string> _byActor = new();
    private readonly Dictionary<string, int> _examples = new(StringComparer.Ordinal);
    private readonly HashSet<Address> _unreachable = new();
    private readonly List<(int Count, IActorRef ReplyTo)> _waiting = new();
    private string[]? _sorted;
    private long _refusals;

    public int Count => _byId.Count;

    /// <summary>The actors that speak for the registered clients.</summary>
    public IEnumerable<IActorRef> Actors => _byActor.Keys;

    public IActorRef this[string clientId] => _byId[clientId];

    /// <summary>The training samples <paramref name="clientId"/> said it holds.</summary>
    public int Examples(string clientId) => _examples[clientId];

    /// <summary>Whether <paramref name="examples"/> is a count <paramref name="clientId"/> may claim: 0 up to what it registered.</summary>
    public bool MayClaim(string clientId, int examples) =>
        examples >= 0 && _examples.TryGetValue(clientId, out var registered) && examples <= registered;

    /// <summary>Binds <paramref name="clientId"/> (with <paramref name="examples"/> samples) to <paramref name="client"/>; returns the actor it was bound to before, if another.</summary>
    public IActorRef? Register(string clientId, IActorRef client, int examples)
    {
        _examples[clientId] = examples;
        _byId.TryGetValue(clientId, out var previous);
        if (client.Equals(previous))
        {
            return null;
        }
        if (previous is not null)
        {
            _byActor.Remove(previous);
        }
        _byId[clientId] = client;
        _byActor[client] = clientId;
        _sorted = null;
        AnswerWaiting();
        return previous;
    }

    /// <summary>
    /// Acknowledges <paramref name="register"/> and binds its client to <paramref name="sender"/>, which the server
    /// (<paramref name="server"/>) watches instead of any actor that spoke for the id before.
    /// </summary>
    public void Admit(RegisterClient register, IActorRef sender, IActorContext server)
    {
        if (Refusal(register, sender) is { } refusal)
        {
            Refuse(register, sender, refusal);
            return;
        }
        sender.Tell(new ClientRegistered(register.ClientId), server.Self);
        if (IsOwner(register.ClientId, sender))
        {
            return;
        }
        if (Register(register.ClientId, sender, register.Examples) is { } previous)
        {
            server.Unwatch(previous);
        }
        server.Watch(sender);
    }

    /// <summary>Why <paramref name="register"/> from <paramref name="sender"/> is refused; null when it is admitted.</summary>
    private string? Refusal(RegisterClient register, IActorRef sender)
    {
        if (!ClientIds.IsValid(register.ClientId))
        {
            return ClientIds.Invalid;
        }
        if (register.Examples < 0 || register.Examples > maxExamples)
        {
            return $"it claims {register.Examples} examples, outside 0..{maxExamples}";
        }
        if (_byActor.TryGetValue(sender, out var other) && other != register.ClientId)
        {
            return $"that actor speaks for {other} already";
        }
        if (!identities.MayHost(sender, register.ClientId))
        {
            return identities.Of(sender.Path.Address) is { } identity
                ? $"its node is {identity}, whose certificate does not let it host that id"
                : Unproven;
        }
        return null;
    }

    private const string Unproven = "its node has proved no identity yet";

    /// <summary>Logs a refusal without answering it: the client retries every few seconds.</summary>
    private void Refuse(RegisterClient register, IActorRef sender, string refusal) =>
        RefusalLog.Refused(log, ref _refusals, $"the registration of {ClientIds.Printable(register.ClientId)} from {sender.Path}", refusal,
            expected: refusal == Unproven);

    /// <summary>Tells <paramref name="replyTo"/> <see cref="ClientsAvailable"/> once at least <paramref name="count"/> clients are registered.</summary>
    public void Await(int count, IActorRef replyTo)
    {
        _waiting.Add((count, replyTo));
        AnswerWaiting();
    }

    private void AnswerWaiting() =>
        _waiting.RemoveAll(wait =>
        {
            if (Count < wait.Count)
            {
                return false;
            }
            wait.ReplyTo.Tell(new ClientsAvailable(Count));
            return true;
        });

    /// <summary>Forgets the client <paramref name="client"/> spoke for; its id, or null if it spoke for none.</summary>
    public string? Remove(IActorRef client)
    {
        if (!_byActor.Remove(client, out var clientId))
        {
            return null;
        }
        _byId.Remove(clientId);
        _examples.Remove(clientId);
        _sorted = null;
        return clientId;
    }

    /// <summary>Whether <paramref name="sender"/> is the actor registered for <paramref name="clientId"/>.</summary>
    public bool IsOwner(string clientId, IActorRef sender) => _byId.TryGetValue(clientId, out var owner) && owner.Equals(sender);

    public void Unreachable(Address node) => _unreachable.Add(node);

    public void Reachable(Address node) => _unreachable.Remove(node);

    /// <summary>Registered clients on reachable nodes, in ordinal order.</summary>
    public IReadOnlyList<string> Available()
    {
        _sorted ??= _byId.Keys.Order(StringComparer.Ordinal).ToArray();
        return _unreachable.Count == 0
            ? _sorted
            : _sorted.Where(id => !_unreachable.Contains(_byId[id].Path.Address)).ToArray();
    }
}
