using System.Collections.Immutable;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;

namespace AkkaFed.Model.Federation;

/// <summary>Where a round is: clients training, clients evaluating the new model, or over.</summary>
public enum RoundPhase
{
    Training,
    Evaluating,
    Done,
}

/// <summary>
/// The round in flight as one immutable value: who was selected and how each answered (<see cref="RoundBook"/>),
/// whether it succeeded, the federated-evaluation phase, late answers and payload bytes. The server actor routes
/// every message into it and acts on what it returns; every rule of a round lives here. Like the book, it holds a
/// few numbers per client, never a model.
/// </summary>
public sealed record Round
{
    private Round(RoundBook book, int available)
    {
        Book = book;
        Available = available;
    }

    /// <summary>No round yet: the server before its first round.</summary>
    public static readonly Round None = new(RoundBook.Open(0, Array.Empty<string>(), 0), 0) { Phase = RoundPhase.Done };

    /// <summary>
    /// A round that asks <paramref name="selected"/> (of <paramref name="available"/>) to train a model of
    /// <paramref name="modelLength"/> values and keeps the first <paramref name="keep"/> updates (all, by default;
    /// fewer when over-committed); answers that arrived after the previous round closed count as late.
    /// </summary>
    public static Round Open(int number, IReadOnlyList<string> selected, int modelLength, int available, Round previous, int? keep = null) =>
        new(RoundBook.Open(number, selected, modelLength) with { Late = previous.LateAfterClose }, available)
        {
            Keep = keep ?? selected.Count,
        };

    /// <summary>A round that cannot start: fewer clients are available than <paramref name="minClients"/>.</summary>
    public static Round TooFewClients(int number, int available, int minClients, Round previous) =>
        Open(number, Array.Empty<string>(), 0, available, previous) with
        {
            Phase = RoundPhase.Done,
            FailureReason = $"only {available} clients available, min-clients is {minClients}",
        };

    public int Number => Book.Round;
    public RoundBook Book { get; private init; }
    public RoundPhase Phase { get; private init; } = RoundPhase.Training;

    /// <summary>Clients that could have been selected.</summary>
    public int Available { get; }

    /// <summary>Training closes once this many updates are accepted (over-commitment keeps the first k of ⌈k·C⌉).</summary>
    public int Keep { get; private init; }

    /// <summary>Selected clients the simulated clock found would finish after the deadline (or after the first <see cref="Keep"/>): never asked.</summary>
    public ImmutableHashSet<string> PastDeadline { get; private init; } = ImmutableHashSet.Create<string>(StringComparer.Ordinal);

    /// <summary>Selected clients the simulated clock found drop out or go offline before they finish: never asked.</summary>
    public ImmutableHashSet<string> DroppedOut { get; private init; } = ImmutableHashSet.Create<string>(StringComparer.Ordinal);

    /// <summary>Simulated seconds the round took so far (training, then evaluation); null on the wall clock.</summary>
    public double? SimulatedSeconds { get; private init; }

    /// <summary>Enough updates were aggregated (known once training is over).</summary>
    public bool Succeeded { get; private init; }

    /// <summary>Why the round failed; null while it runs and when it succeeded.</summary>
    public string? FailureReason { get; private init; }

    public long BytesSent { get; private init; }
    public long BytesReceived { get; private init; }

    /// <summary>Training answers that arrived after training closed: the next round reports them as late.</summary>
    public int LateAfterClose { get; private init; }

    /// <summary>The clients asked to evaluate the new model, in selection order.</summary>
    public ImmutableArray<string> Evaluators { get; private init; } = ImmutableArray<string>.Empty;
    public ImmutableDictionary<string, Evaluation> Evaluations { get; private init; } = ImmutableDictionary<string, Evaluation>.Empty;
    public ImmutableDictionary<string, string> EvaluationFailures { get; private init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// Every selected client has answered, failed or been excused by the simulated clock, or <see cref="Keep"/>
    /// updates are in: training can close before the deadline.
    /// </summary>
    public bool TrainingComplete => Phase == RoundPhase.Training
        && (Book.Answered + PastDeadline.Count + DroppedOut.Count >= Book.Selected.Length || Book.Accepted.Count >= Keep);

    /// <summary>Every evaluator has answered or failed: evaluation can close before the deadline.</summary>
    public bool EvaluationComplete =>
        Phase == RoundPhase.Evaluating && Evaluations.Count + EvaluationFailures.Count >= Evaluators.Length;

    /// <summary>
    /// The simulated clock's plan for the phase in progress: training clients it excuses are stragglers or dropouts,
    /// evaluators it excuses fail their evaluation; the phase takes <see cref="PhasePlan.Seconds"/>.
    /// </summary>
    public Round Planned(PhasePlan plan) => Phase switch
    {
        RoundPhase.Training => this with
        {
            PastDeadline = PastDeadline.Union(plan.PastDeadline),
            DroppedOut = DroppedOut.Union(plan.DroppedOut),
            SimulatedSeconds = (SimulatedSeconds ?? 0) + plan.Seconds,
        },
        RoundPhase.Evaluating => this with
        {
            EvaluationFailures = EvaluationFailures
                .SetItems(plan.PastDeadline.Select(id => KeyValuePair.Create(id, PastDeadlineReason)))
                .SetItems(plan.DroppedOut.Select(id => KeyValuePair.Create(id, DroppedOutReason))),
            SimulatedSeconds = (SimulatedSeconds ?? 0) + plan.Seconds,
        },
        _ => throw new InvalidOperationException($"round {Number} has no phase in progress to plan"),
    };

    /// <summary>A round that could not start still takes simulated time: the server waited <paramref name="seconds"/> for clients.</summary>
    public Round Waited(double seconds) => this with { SimulatedSeconds = (SimulatedSeconds ?? 0) + seconds };

    /// <summary>How many failed clients a round's failure reason names.</summary>
    public const int FailuresNamed = 5;

    private const string PastDeadlineReason = "past the deadline (simulated)";
    private const string DroppedOutReason = "dropped out (simulated)";

    public Round Sent(long bytes) => this with { BytesSent = BytesSent + bytes };

    public Round Received(long bytes) => this with { BytesReceived = BytesReceived + bytes };

    /// <summary>A client's update for round <paramref name="round"/>; only its registered owner may send it.</summary>
    public (Round Round, Verdict Verdict) Train(int round, ClientUpdate update, bool fromOwner)
    {
        if (Phase != RoundPhase.Training)
        {
            return (this with { LateAfterClose = LateAfterClose + 1 }, Verdict.Late);
        }
        if (!fromOwner && round == Number)
        {
            // Not the client's answer: only its registered owner may give that.
            return (this with { Book = Book with { Rejected = Book.Rejected + 1 } }, Verdict.Rejected);
        }
        var (book, verdict) = Book.Apply(round, update);
        return (this with { Book = book }, verdict);
    }

    /// <summary>A client reports that its training threw; only its registered owner may say so.</summary>
    public (Round Round, Verdict Verdict) TrainingFailed(int round, string clientId, string reason, bool fromOwner)
    {
        if (Phase != RoundPhase.Training)
        {
            return (this with { LateAfterClose = LateAfterClose + 1 }, Verdict.Late);
        }
        if (!fromOwner && round == Number)
        {
            return (this with { Book = Book with { Rejected = Book.Rejected + 1 } }, Verdict.Rejected);
        }
        var (book, verdict) = Book.ApplyFailure(round, clientId, reason);
        return (this with { Book = book }, verdict);
    }

    /// <summary>An update the book accepted but the aggregation refused (out of its range): rejected, and the client's answer.</summary>
    public Round Reject(string clientId) => this with { Book = Book.Reject(clientId) };

    /// <summary>A client died or left: a failure of whichever phase it was part of.</summary>
    public Round Lost(string clientId, string reason) => Phase switch
    {
        // A client that was not selected (or has answered) takes nothing from the round by leaving: not a rejection.
        RoundPhase.Training when Book.Selected.Contains(clientId) => this with { Book = Book.ApplyFailure(Number, clientId, reason).Book },
        RoundPhase.Evaluating when Evaluators.Contains(clientId) && !Evaluations.ContainsKey(clientId)
            => this with { EvaluationFailures = EvaluationFailures.SetItem(clientId, reason) },
        _ => this,
    };

    /// <summary>Closes training, by the deadline or because everyone answered: it succeeds with at least <paramref name="minClients"/> updates.</summary>
    public Round CloseTraining(int minClients, bool deadlinePassed)
    {
        if (Phase != RoundPhase.Training)
        {
            throw new InvalidOperationException($"round {Number} is not training ({Phase})");
        }
        int updates = Book.Accepted.Count;
        if (updates >= minClients)
        {
            return this with { Phase = RoundPhase.Done, Succeeded = true };
        }
        string why = deadlinePassed || !PastDeadline.IsEmpty || !DroppedOut.IsEmpty ? "by the deadline" : "after every selected client answered";
        // A round's reason travels in every report of the run: it names a few failures, each cut short, never all.
        var failures = Book.Failures.OrderBy(f => f.Key, StringComparer.Ordinal).ToList();
        var lost = failures.Take(FailuresNamed).Select(f => $"{f.Key} failed: {FailureText.Bound(f.Value)}").ToList();
        if (failures.Count > FailuresNamed)
        {
            lost.Add($"{failures.Count - FailuresNamed} more failed");
        }
        if (Book.Rejected > 0)
        {
            lost.Add($"{Book.Rejected} rejected");
        }
        string detail = lost.Count > 0 ? $" ({string.Join("; ", lost)})" : "";
        return this with { Phase = RoundPhase.Done, FailureReason = $"{updates} updates {why}, min-clients is {minClients}{detail}" };
    }

    /// <summary>Training succeeded but the strategy could not combine the updates: the round fails, the model is kept.</summary>
    public Round AggregationFailed(string reason) =>
        Phase == RoundPhase.Done && Succeeded
            ? this with { Succeeded = false, FailureReason = $"aggregation failed: {FailureText.Bound(reason)}" }
            : throw new InvalidOperationException($"round {Number} has no aggregation to fail");

    /// <summary>Selected clients that did not deliver, in selection order, for the strategy: failed, or no answer by the deadline.</summary>
    public IReadOnlyList<ClientFailure> TrainingFailures =>
        Book.Selected.Where(id => !Book.Accepted.ContainsKey(id))
            .Select(id => new ClientFailure(id, Book.Failures.TryGetValue(id, out var reason) ? reason
                : Book.RejectedClients.Contains(id) ? "its update was rejected"
                : DroppedOut.Contains(id) ? DroppedOutReason
                : PastDeadline.Contains(id) ? PastDeadlineReason
                : "no answer by the deadline"))
            .ToArray();

    /// <summary>After a successful round: <paramref name="evaluators"/> evaluate the new model.</summary>
    public Round Evaluate(IReadOnlyList<string> evaluators)
    {
        if (Phase != RoundPhase.Done || !Succeeded)
        {
            throw new InvalidOperationException($"round {Number} has no new model to evaluate");
        }
        return this with { Phase = RoundPhase.Evaluating, Evaluators = evaluators.ToImmutableArray() };
    }

    /// <summary>
    /// A client's evaluation of the new model (<paramref name="failure"/> set when it threw). Counted once, only
    /// from an evaluator's registered owner, only for this round; anything else changes nothing.
    /// </summary>
    public (Round Round, Verdict Verdict) Evaluated(int round, string clientId, Evaluation? result, string? failure, bool fromOwner)
    {
        if (Phase != RoundPhase.Evaluating || round != Number)
        {
            return (this, Verdict.Late);
        }
        if (!fromOwner || !Evaluators.Contains(clientId))
        {
            return (this, Verdict.Rejected);
        }
        if (Evaluations.ContainsKey(clientId) || EvaluationFailures.ContainsKey(clientId))
        {
            return (this, Verdict.Duplicate);
        }
        return result is not null
            ? (this with { Evaluations = Evaluations.Add(clientId, result) }, Verdict.Accepted)
            : (this with { EvaluationFailures = EvaluationFailures.Add(clientId, FailureText.Bound(failure ?? "evaluation failed")) }, Verdict.Failed);
    }

    /// <summary>Closes evaluation, by the deadline or because every evaluator answered.</summary>
    public Round CloseEvaluation() =>
        Phase == RoundPhase.Evaluating
            ? this with { Phase = RoundPhase.Done }
            : throw new InvalidOperationException($"round {Number} is not evaluating ({Phase})");

    /// <summary>The evaluators' results in selection order, so that sums over them are the same to the last bit in any arrival order.</summary>
    public IReadOnlyList<Evaluation> EvaluationsInOrder =>
        Evaluators.Where(Evaluations.ContainsKey).Select(id => Evaluations[id]).ToArray();

    public IReadOnlyList<ClientFailure> EvaluationFailuresInOrder =>
        Evaluators.Where(EvaluationFailures.ContainsKey).Select(id => new ClientFailure(id, EvaluationFailures[id])).ToArray();

    /// <summary>The round's metrics once it is over; <paramref name="wallSeconds"/> is its wall time.</summary>
    public RoundMetrics Metrics(double wallSeconds)
    {
        if (Phase != RoundPhase.Done)
        {
            throw new InvalidOperationException($"round {Number} is still {Phase}");
        }
        // A failed round aggregated nothing: it reports no training metrics and no participants, whatever arrived.
        var (loss, accuracy) = Succeeded ? Book.TrainingMetrics() : (double.NaN, double.NaN);
        return new RoundMetrics(
            Number, Succeeded, loss, accuracy,
            Selected: Book.Selected.Length,
            Participants: Succeeded ? Book.Accepted.Count : 0,
            Stragglers: Book.Missing - DroppedOut.Count,
            Late: Book.Late,
            Duplicates: Book.Duplicates,
            Rejected: Book.Rejected,
            Failed: Book.Failures.Count,
            WallSeconds: wallSeconds,
            FailureReason: FailureReason)
        {
            Dropouts = DroppedOut.Count,
            SimulatedSeconds = SimulatedSeconds,
            BytesSent = BytesSent,
            BytesReceived = BytesReceived,
        };
    }
}

/// <summary>Failure texts come from clients and exceptions, of any length: what is reported of them is bounded.</summary>
public static class FailureText
{
    public const int MaxLength = 200;

    /// <summary><paramref name="text"/>, or its first <paramref name="max"/> characters and how many more there were.</summary>
    public static string Bound(string text, int max = MaxLength) =>
        text.Length <= max ? text : $"{text[..max]}... ({text.Length - max} more characters)";
}
