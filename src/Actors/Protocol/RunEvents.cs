using AkkaFed.Model.Federation;

namespace AkkaFed.Actors.Protocol;

/// <summary>
/// What a <see cref="FederationDriver"/> tells the world about a whole run: on the event stream of its node
/// and, in a cluster, on the distributed pub-sub <see cref="Topic"/> so that every node hears it.
/// </summary>
public static class RunEvents
{
    public const string Topic = "akkafed-run";

    /// <summary>
    /// A driver started from a checkpoint: these rounds are done and must not be redone or reported again.
    /// Published on the driver's own node only.
    /// </summary>
    public sealed record Resumed(int NextRound, IReadOnlyList<RoundMetrics> Completed);

    /// <summary>A round ended, and was checkpointed when checkpoints are on.</summary>
    public sealed record RoundReport(RoundMetrics Metrics) : IFederationMessage;

    /// <summary>
    /// The run is over: every round done (<paramref name="Failure"/> null), or stopped early. The final model is
    /// in the newest checkpoint.
    /// </summary>
    public sealed record Ended(int LastRound, string? Failure) : IFederationMessage;

    /// <summary>
    /// Another server took over this run's checkpoints (a split brain, or a pause past the failure detector): this
    /// driver stopped without writing or reporting anything, and the run goes on under the other. Published on the
    /// driver's own node only, never to the cluster, whose clients follow the other server.
    /// </summary>
    public sealed record SteppedDown(string Reason);
}
