using System.Text.Json.Serialization;

namespace AkkaFed.Model.Federation;

/// <summary>
/// The server's state between rounds (TFF's <c>state</c>): the round about to run and the global weights.
/// The weights array is never mutated once the state exists; it is shared read-only.
/// </summary>
public sealed record FederatedState(int Round, float[] Weights)
{
    /// <summary>The server optimizer's state (momentum, or FedAdam's m and v); empty for SGD.</summary>
    public ServerOptimizerState Optimizer { get; init; } = ServerOptimizerState.Empty;

    /// <summary>DP-FedAvg's clip norm and privacy ledger; null when differential privacy is off.</summary>
    public PrivacyState? Privacy { get; init; }

    /// <summary>Simulated seconds since the run began (0 on the wall clock): when this round starts on the simulated clock.</summary>
    public double SimulatedTime { get; init; }
}

/// <summary>What happened in one round. Loss and accuracy are the clients' training metrics.</summary>
public sealed record RoundMetrics(
    int Round,
    bool Succeeded,
    double Loss,
    double Accuracy,
    int Selected,
    int Participants,
    int Stragglers,
    int Late,
    int Duplicates,
    int Rejected,
    int Failed,
    // Named Seconds in checkpoints and on the wire since version 2 of the format.
    [property: JsonPropertyName("Seconds")] double WallSeconds,
    string? FailureReason = null)
{
    /// <summary>Centralized evaluation of the new global model, when the caller ran one.</summary>
    public Learning.Evaluation? Test { get; init; }

    /// <summary>Federated evaluation: the global model on the evaluating clients' own data, weighted by examples.</summary>
    public Learning.Evaluation? FederatedTest { get; init; }

    /// <summary>With differential privacy: epsilon spent so far, at the configured delta.</summary>
    public double? Epsilon { get; init; }

    /// <summary>With differential privacy: the clip norm the round used.</summary>
    public double? ClipNorm { get; init; }

    /// <summary>
    /// Selected clients that dropped out or went offline before they finished (simulated clock only: on the wall
    /// clock a dropout cannot be told from a straggler, and <see cref="Stragglers"/> counts both).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int Dropouts { get; init; }

    /// <summary>How long the round took on the simulated clock; null on the wall clock.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double? SimulatedSeconds { get; init; }

    /// <summary>Simulated seconds since the run began, when the round ended; null on the wall clock.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double? SimulatedTime { get; init; }

    /// <summary>FedBuff: how many model versions old the step's updates were, on average; null for synchronous rounds.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double? MeanStaleness { get; init; }

    /// <summary>Protocol payload bytes the server sent to remote clients this round (0 in one process).</summary>
    public long BytesSent { get; init; }

    /// <summary>Protocol payload bytes the server received from remote clients this round (0 in one process).</summary>
    public long BytesReceived { get; init; }
}
