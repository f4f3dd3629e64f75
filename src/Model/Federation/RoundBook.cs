using System.Collections.Immutable;

namespace AkkaFed.Model.Federation;

/// <summary>What the server made of one message of a round.</summary>
public enum Verdict
{
    Accepted,
    Late,
    Duplicate,
    Rejected,
    Failed,
}

/// <summary>
/// What a round keeps of an accepted update: its example count and training metrics. The delta itself goes to the
/// round's <see cref="IRoundAggregation"/> and is not kept here.
/// </summary>
public sealed record AcceptedUpdate(string ClientId, int Examples, double Loss, double Accuracy);

/// <summary>
/// The bookkeeping of one round as an immutable value: who was asked, who answered and how. The server
/// actor only calls <see cref="Apply(int, ClientUpdate)"/> and reads the result; all the rules live here.
/// It holds a few numbers per selected client, never a model delta: its size is O(selected clients).
/// </summary>
public sealed record RoundBook
{
    private RoundBook(int round, ImmutableArray<string> selected, int expectedLength)
    {
        Round = round;
        Selected = selected;
        // Built once and never changed, so every copy made by `with` can share it.
        SelectedSet = new HashSet<string>(selected, StringComparer.Ordinal);
        ExpectedLength = expectedLength;
    }

    public static RoundBook Open(int round, IEnumerable<string> selected, int expectedLength) =>
        new(round, selected.ToImmutableArray(), expectedLength);

    public int Round { get; }
    public ImmutableArray<string> Selected { get; }
    private IReadOnlySet<string> SelectedSet { get; }
    public int ExpectedLength { get; }
    public ImmutableDictionary<string, AcceptedUpdate> Accepted { get; init; } = ImmutableDictionary<string, AcceptedUpdate>.Empty;
    public ImmutableDictionary<string, string> Failures { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// Selected clients whose update was refused (a wrong length, a non-finite value, a value out of the aggregator's
    /// range): that was their answer, so the round does not wait for them.
    /// </summary>
    public ImmutableHashSet<string> RejectedClients { get; init; } = ImmutableHashSet.Create<string>(StringComparer.Ordinal);
    public int Late { get; init; }
    public int Duplicates { get; init; }
    public int Rejected { get; init; }

    /// <summary>Every selected client has answered: an update, accepted or rejected, or a failure.</summary>
    public bool IsComplete => Answered >= Selected.Length;

    /// <summary>Selected clients that answered so far.</summary>
    public int Answered => Accepted.Count + Failures.Count + RejectedClients.Count;

    /// <summary>Selected clients that did not answer (so far, or by the deadline).</summary>
    public int Missing => Selected.Length - Answered;

    private bool HasAnswered(string clientId) =>
        Accepted.ContainsKey(clientId) || Failures.ContainsKey(clientId) || RejectedClients.Contains(clientId);

    /// <summary>
    /// The update of <paramref name="clientId"/> is refused: counted, and, from a selected client that had not answered,
    /// taken as its answer.
    /// </summary>
    public RoundBook Reject(string clientId) => this with
    {
        Rejected = Rejected + 1,
        Accepted = Accepted.Remove(clientId),
        RejectedClients = SelectedSet.Contains(clientId) && !Failures.ContainsKey(clientId) ? RejectedClients.Add(clientId) : RejectedClients,
    };

    /// <summary>Accepted updates in selection order, so sums over them follow an order fixed by the seed.</summary>
    public IReadOnlyList<AcceptedUpdate> AcceptedInOrder =>
        Selected.Where(Accepted.ContainsKey).Select(id => Accepted[id]).ToArray();

    public (RoundBook Book, Verdict Verdict) Apply(int round, ClientUpdate update)
    {
        if (round != Round)
        {
            return (this with { Late = Late + 1 }, Verdict.Late);
        }
        if (!SelectedSet.Contains(update.ClientId))
        {
            return (this with { Rejected = Rejected + 1 }, Verdict.Rejected);
        }
        if (HasAnswered(update.ClientId))
        {
            return (this with { Duplicates = Duplicates + 1 }, Verdict.Duplicate);
        }
        if (update.Delta.Length != ExpectedLength || update.Examples <= 0
            || !update.Delta.AllFinite()
            || !double.IsFinite(update.Loss) || !double.IsFinite(update.Accuracy))
        {
            return (Reject(update.ClientId), Verdict.Rejected);
        }
        var accepted = new AcceptedUpdate(update.ClientId, update.Examples, update.Loss, update.Accuracy);
        return (this with { Accepted = Accepted.Add(update.ClientId, accepted) }, Verdict.Accepted);
    }

    public (RoundBook Book, Verdict Verdict) ApplyFailure(int round, string clientId, string reason)
    {
        if (round != Round)
        {
            return (this with { Late = Late + 1 }, Verdict.Late);
        }
        if (!SelectedSet.Contains(clientId))
        {
            return (this with { Rejected = Rejected + 1 }, Verdict.Rejected);
        }
        if (HasAnswered(clientId))
        {
            return (this with { Duplicates = Duplicates + 1 }, Verdict.Duplicate);
        }
        return (this with { Failures = Failures.Add(clientId, FailureText.Bound(reason)) }, Verdict.Failed);
    }

    /// <summary>Example-weighted mean of the clients' training loss and accuracy.</summary>
    public (double Loss, double Accuracy) TrainingMetrics()
    {
        double examples = Accepted.Values.Sum(update => (double)update.Examples);
        if (examples == 0)
        {
            return (double.NaN, double.NaN);
        }
        // Selection order, so the sums are reproducible to the last bit.
        var ordered = AcceptedInOrder;
        return (ordered.Sum(u => u.Loss * u.Examples) / examples, ordered.Sum(u => u.Accuracy * u.Examples) / examples);
    }
}
