using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Event;
using AkkaFed.Actors.Protocol;
using AkkaFed.Actors.Security;
using AkkaFed.Actors.Serialization;
using AkkaFed.Model.Federation;
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
/// <para>
/// A simulation's clients may instead be hosted: one local <see cref="ClientHost"/> registers the ids
/// <c>NumberedClients.Id(k)</c>, k in [0, n), with one <see cref="Hosting.RegisterClients"/>, and is their owner. They
/// cost the registry one int each (their example count) and one more for their ordinal rank; no string is made
/// for them until one is sampled. Requests to them go to the host in a <see cref="Hosting.Deliver"/> (<see cref="Tell"/>).
/// One host at a time; its ids cannot also be registered one by one.
/// </para>
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
    private IActorRef? _host;
    private int[] _hostedExamples = Array.Empty<int>();
    private int[]? _hostedOrder;

    public int Count => _byId.Count + _hostedExamples.Length;

    /// <summary>The actors that speak for the registered clients: each client's own, and the host once for all of its.</summary>
    public IEnumerable<IActorRef> Actors => _host is null ? _byActor.Keys : _byActor.Keys.Append(_host);

    /// <summary>The index of <paramref name="clientId"/> among the host's clients, or -1 when it is not hosted.</summary>
    private int Hosted(string clientId) =>
        _hostedExamples.Length > 0 && NumberedClients.TryIndex(clientId, out int index) && index < _hostedExamples.Length ? index : -1;

    /// <summary>Tells <paramref name="message"/> to <paramref name="clientId"/>'s actor, or to its host in an envelope; the bytes sent (0 locally).</summary>
    public long Tell(string clientId, OutgoingMessage message, IActorRef sender)
    {
        int hosted = Hosted(clientId);
        if (hosted < 0)
        {
            return message.Tell(_byId[clientId], sender);
        }
        _host!.Tell(new Hosting.Deliver(hosted, message.Message), sender);
        return 0;
    }

    /// <summary>The training samples <paramref name="clientId"/> said it holds.</summary>
    public int Examples(string clientId) => Hosted(clientId) is var hosted and >= 0 ? _hostedExamples[hosted] : _examples[clientId];

    /// <summary>Whether <paramref name="examples"/> is a count <paramref name="clientId"/> may claim: 0 up to what it registered.</summary>
    public bool MayClaim(string clientId, int examples) =>
        examples >= 0 && (Hosted(clientId) is var hosted and >= 0
            ? examples <= _hostedExamples[hosted]
            : _examples.TryGetValue(clientId, out var registered) && examples <= registered);

    /// <summary>
    /// Acknowledges <paramref name="register"/> and makes <paramref name="sender"/> the host of its clients, watched by
    /// <paramref name="server"/>; refused from another node, with an example count out of range, or with ids taken.
    /// </summary>
    public void AdmitHost(Hosting.RegisterClients register, IActorRef sender, IActorContext server)
    {
        string? refusal = !sender.Path.Address.HasLocalScope ? "a host of clients must run on the server's node"
            : _host is not null && !_host.Equals(sender) ? $"{_host.Path} hosts clients already"
            : register.Examples.Any(examples => examples < 0 || examples > maxExamples) ? $"an example count is outside 0..{maxExamples}"
            : _byId.Keys.Any(id => NumberedClients.TryIndex(id, out int k) && k < register.Examples.Length) ? "some of its ids are registered already"
            : null;
        if (refusal is not null)
        {
            RefusalLog.Refused(log, ref _refusals, $"the registration of {register.Examples.Length} hosted clients from {sender.Path}", refusal);
            return;
        }
        if (!sender.Equals(_host))
        {
            server.Watch(sender);
        }
        _host = sender;
        _hostedExamples = register.Examples;
        _hostedOrder = null;
        sender.Tell(new Hosting.ClientsRegistered(register.Examples.Length), server.Self);
        AnswerWaiting();
    }

    /// <summary>Whether <paramref name="actor"/> is the host of clients.</summary>
    public bool IsHostOf(IActorRef actor) => actor.Equals(_host);

    /// <summary>Forgets the host <paramref name="host"/> and its clients; whether it was the host.</summary>
    public bool RemoveHost(IActorRef host)
    {
        if (!IsHostOf(host))
        {
            return false;
        }
        _host = null;
        _hostedExamples = Array.Empty<int>();
        _hostedOrder = null;
        return true;
    }

    /// <summary>Whether <paramref name="clientId"/> is a client of the host.</summary>
    public bool IsHosted(string clientId) => Hosted(clientId) >= 0;

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
        if (Hosted(register.ClientId) >= 0)
        {
            return $"{_host!.Path} hosts that id";
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
    public bool IsOwner(string clientId, IActorRef sender) => Hosted(clientId) >= 0
        ? _host!.Equals(sender)
        : _byId.TryGetValue(clientId, out var owner) && owner.Equals(sender);

    public void Unreachable(Address node) => _unreachable.Add(node);

    public void Reachable(Address node) => _unreachable.Remove(node);

    /// <summary>An id, as characters: a hosted client's is never made as a string to be looked at.</summary>
    public delegate bool IdFilter(ReadOnlySpan<char> clientId);

    /// <summary>
    /// <see cref="Available()"/>, only the ids <paramref name="keep"/> keeps. Hosted clients alone are looked at through a
    /// buffer, and the list makes each kept id as it is read, so ten million clients are filtered without ten million strings.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called for every client every round: no slow first tier
    public IReadOnlyList<string> Available(IdFilter keep)
    {
        var all = Available();
        if (_byId.Count > 0 || _hostedOrder is not { } order)
        {
            return all.Where(id => keep(id)).ToArray();
        }
        var kept = new List<int>();
        Span<char> id = stackalloc char[NumberedClients.MaxLength];
        foreach (int index in order)
        {
            if (keep(id[..NumberedClients.Format(index, id)]))
            {
                kept.Add(index);
            }
        }
        return NumberedClients.InOrdinalOrder(kept.ToArray());
    }

    /// <summary>
    /// Registered clients on reachable nodes, in ordinal order. Hosted clients alone are a list that makes each id as
    /// it is read (the host is local, so always reachable); with clients of both kinds, the ids are merged into one array.
    /// </summary>
    public IReadOnlyList<string> Available()
    {
        IReadOnlyList<string> hosted = Array.Empty<string>();
        if (_hostedExamples.Length > 0)
        {
            _hostedOrder ??= NumberedClients.OrdinalOrder(_hostedExamples.Length);
            hosted = NumberedClients.InOrdinalOrder(_hostedOrder);
        }
        if (_byId.Count == 0)
        {
            return hosted;
        }
        _sorted ??= _byId.Keys.Order(StringComparer.Ordinal).ToArray();
        var own = _unreachable.Count == 0 ? _sorted : _sorted.Where(id => !_unreachable.Contains(_byId[id].Path.Address)).ToArray();
        return hosted.Count == 0 ? own : own.Concat(hosted).Order(StringComparer.Ordinal).ToArray();
    }
}
