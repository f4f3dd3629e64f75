using AkkaFed.Model.Federation;

namespace AkkaFed.Model.Simulation;

/// <summary>What becomes of a client sent the model in an asynchronous run.</summary>
public enum Dispatch
{
    /// <summary>It trains and its update arrives at <see cref="InFlight.End"/>.</summary>
    Delivers,

    /// <summary>It would finish after the deadline: never trained, its slot frees at the deadline.</summary>
    PastDeadline,

    /// <summary>It drops out or goes offline: never trained, its slot frees at the deadline.</summary>
    DropsOut,
}

/// <summary>One client in flight: sent model version <paramref name="Version"/> at <paramref name="Start"/>, done (or given up on) at <paramref name="End"/>.</summary>
public sealed record InFlight(long Sequence, string ClientId, int Version, double Start, double End, Dispatch Outcome);

/// <summary>
/// The simulated clock of an asynchronous run (FedBuff): which clients are in flight, from which model version,
/// and when each is done. Slots are filled at the current simulated time with clients drawn uniformly from the
/// idle ones online then; events come out in order of simulated time (ties by dispatch order), so the order in
/// which updates count, and so the whole run, is fixed by the seed and the settings, never by the host.
/// </summary>
public sealed class AsyncSchedule
{
    private readonly SimulatedClock _clock;
    private readonly int _concurrency;
    private readonly double _deadline;
    private readonly int _seed;
    private readonly SortedSet<InFlight> _inFlight = new(Comparer<InFlight>.Create((a, b) =>
        a.End != b.End ? a.End.CompareTo(b.End) : a.Sequence.CompareTo(b.Sequence)));
    private readonly HashSet<string> _busy = new(StringComparer.Ordinal);
    private long _sequence;

    /// <param name="deadline">Simulated seconds a client is given before its slot is freed without an update.</param>
    public AsyncSchedule(SimulatedClock clock, int concurrency, double deadline, int seed, double now)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(concurrency);
        _clock = clock;
        _concurrency = concurrency;
        _deadline = deadline;
        _seed = seed;
        Now = now;
    }

    /// <summary>Simulated seconds since the run began.</summary>
    public double Now { get; private set; }

    public int Count => _inFlight.Count;

    /// <summary>The client in flight that is done first; null when none is in flight.</summary>
    public InFlight? Next => _inFlight.Count == 0 ? null : _inFlight.Min;

    public bool IsInFlight(string clientId) => _busy.Contains(clientId);

    /// <summary>The clients in flight, in the order they are done.</summary>
    public IEnumerable<string> InFlightClients => _inFlight.Select(entry => entry.ClientId);

    /// <summary>Random draws a slot makes among the registered clients before it lists every idle online one.</summary>
    private const int Draws = 64;

    /// <summary>
    /// Sends model <paramref name="version"/> to idle clients of <paramref name="registered"/> (in a fixed order) that
    /// are online now, until <c>concurrency</c> are in flight or none is left; returns them in dispatch order.
    /// </summary>
    /// <remarks>
    /// Each slot draws clients uniformly from <paramref name="registered"/> until one is idle and online, so that a
    /// slot costs a few draws among ten million clients, not a read of them all; only when <see cref="Draws"/> draws
    /// miss are the idle online clients listed and one drawn from them. Either way the client is uniform among
    /// those idle and online.
    /// </remarks>
    /// <param name="examples">The training samples of a client.</param>
    /// <param name="updateBytes">The bytes of an update up, when they differ from <paramref name="modelBytes"/> down (compression).</param>
    public IReadOnlyList<InFlight> Fill(IReadOnlyList<string> registered, int version, Func<string, int> examples, int epochs, long modelBytes,
        long? updateBytes = null)
    {
        var sent = new List<InFlight>();
        List<string>? idle = null;
        while (_inFlight.Count < _concurrency && registered.Count > 0)
        {
            int slot = StableSeed.Mix(_seed, (int)(_sequence & int.MaxValue), "fedbuff");
            string? clientId = null;
            for (int draw = 0; draw < Draws && clientId is null && idle is null; draw++)
            {
                string candidate = registered[StableSeed.Mix(slot, draw, "draw") % registered.Count];
                clientId = IsIdleOnline(candidate) ? candidate : null;
            }
            if (clientId is null)
            {
                idle ??= registered.Where(IsIdleOnline).ToList();
                if (idle.Count == 0)
                {
                    break;
                }
                int pick = slot % idle.Count;
                clientId = idle[pick];
                idle.RemoveAt(pick);
            }
            var timing = _clock.Train(version, clientId, examples(clientId), epochs, modelBytes, Now, updateBytes);
            var outcome = timing.DropsOut ? Dispatch.DropsOut : timing.Seconds > _deadline ? Dispatch.PastDeadline : Dispatch.Delivers;
            var entry = new InFlight(_sequence++, clientId, version, Now,
                Now + (outcome == Dispatch.Delivers ? timing.Seconds : _deadline), outcome);
            _inFlight.Add(entry);
            _busy.Add(clientId);
            sent.Add(entry);
        }
        return sent;
    }

    private bool IsIdleOnline(string clientId) => !_busy.Contains(clientId) && _clock.IsOnline(clientId, Now);

    /// <summary>Takes <see cref="Next"/> out of flight and moves the clock to when it is done.</summary>
    public InFlight Pop()
    {
        var next = Next ?? throw new InvalidOperationException("no client is in flight");
        _inFlight.Remove(next);
        _busy.Remove(next.ClientId);
        Now = Math.Max(Now, next.End);
        return next;
    }

    /// <summary>
    /// With nobody in flight and nobody online: moves the clock to the first time one of <paramref name="registered"/>
    /// is online again; false if none ever is.
    /// </summary>
    public bool WaitForSomeoneOnline(IReadOnlyList<string> registered)
    {
        double next = registered.Select(id => _clock.Devices.For(id).Availability.NextOnline(Now)).DefaultIfEmpty(double.PositiveInfinity).Min();
        if (double.IsInfinity(next) || next <= Now)
        {
            return false;
        }
        Now = next;
        return true;
    }
}
