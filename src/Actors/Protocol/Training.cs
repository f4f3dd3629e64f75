using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;

namespace AkkaFed.Actors.Protocol;

/// <summary>Marker for every message that may cross the network between federation nodes.</summary>
public interface IFederationMessage
{
}

/// <summary>
/// The federated-training protocol between the driver, the <see cref="ServerActor"/> and the
/// <see cref="ClientActor"/>s. Every message that belongs to a round names it, so a stale one is recognised.
/// Weights and updates travel as <see cref="CompressedVector"/>s, compressed or not (a plain <c>float[]</c> converts
/// to one without a copy), that nobody mutates after sending.
/// </summary>
public static class Training
{
    /// <summary>Client to server: I hold <paramref name="Examples"/> training samples and can be selected.</summary>
    public sealed record RegisterClient(string ClientId, int Examples) : IFederationMessage;

    /// <summary>Server to client: registered. The client watches the sender and registers again if it dies.</summary>
    public sealed record ClientRegistered(string ClientId) : IFederationMessage;

    /// <summary>
    /// Server to client: train from <paramref name="Weights"/> for round <paramref name="Round"/>, and send the delta
    /// compressed as <see cref="Uplink"/> says, clipped first to <see cref="ClipNorm"/> when it is set (DP).
    /// </summary>
    public sealed record FitRequest(int Round, CompressedVector Weights, LocalTrainingOptions Options, int Seed) : IFederationMessage
    {
        /// <summary>How the client compresses its update.</summary>
        public CompressionOptions Uplink { get; init; } = CompressionOptions.None;

        /// <summary>The round's DP clip norm, which a compressing client clips to before compressing; null without DP.</summary>
        public double? ClipNorm { get; init; }
    }

    /// <summary>Client to server: the model delta of local training and the example count behind it.</summary>
    public sealed record FitResult(int Round, string ClientId, CompressedVector Delta, int Examples, double Loss, double Accuracy)
        : IFederationMessage;

    /// <summary>Client to server: local training threw; the client counts as failed for the round.</summary>
    public sealed record FitFailed(int Round, string ClientId, string Reason) : IFederationMessage;

    /// <summary>Server to client: evaluate the new global <paramref name="Weights"/> on your own data (federated evaluation).</summary>
    public sealed record EvaluateRequest(int Round, CompressedVector Weights) : IFederationMessage;

    /// <summary>Client to server: loss and accuracy of the global model on the client's data.</summary>
    public sealed record EvaluateResult(int Round, string ClientId, double Loss, double Accuracy, int Examples) : IFederationMessage;

    /// <summary>Client to server: evaluation threw.</summary>
    public sealed record EvaluateFailed(int Round, string ClientId, string Reason) : IFederationMessage;

    /// <summary>Driver to server: run one round from <paramref name="State"/>; answered by <see cref="RoundCompleted"/>.</summary>
    public sealed record RunRound(FederatedState State);

    /// <summary>Server to driver, and driver to whoever asked for the run: the state after the round (unchanged weights if the round failed) and its metrics.</summary>
    public sealed record RoundCompleted(FederatedState State, RoundMetrics Metrics);

    /// <summary>Server to driver: the round could not start (another is in flight, or the state does not fit).</summary>
    public sealed record RoundRefused(int Round, string Reason);

    /// <summary>
    /// To a driver that does not start on its own: run rounds from <paramref name="From"/> through round
    /// <paramref name="LastRound"/>, ending early after <paramref name="MaxFailedRounds"/> failed rounds in a row. The
    /// sender hears a <see cref="RoundCompleted"/> (with the test evaluation) after every round, then <see cref="RunCompleted"/>.
    /// <paramref name="FailuresInARow"/> counts the failed rounds just before <paramref name="From"/>, for a resumed run.
    /// </summary>
    public sealed record RunRounds(FederatedState From, int LastRound, int MaxFailedRounds, int FailuresInARow = 0);

    /// <summary>To a driver: end the run in progress once the round in flight is over.</summary>
    public sealed record StopRun
    {
        public static readonly StopRun Instance = new();
    }

    /// <summary>Driver to whoever asked for the run: it is over, with every round done (<paramref name="Failure"/> null) or not.</summary>
    public sealed record RunCompleted(FederatedState State, string? Failure);

    /// <summary>Driver to server: answer <see cref="ClientsAvailable"/> once at least <paramref name="Count"/> clients registered.</summary>
    public sealed record AwaitClients(int Count);

    public sealed record ClientsAvailable(int Count);

    /// <summary>Published on the event stream when a round starts and as it collects answers, for progress displays.</summary>
    public sealed record RoundProgress(int Round, int Answered, int Selected);
}
