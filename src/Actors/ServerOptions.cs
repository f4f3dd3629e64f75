using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;

namespace AkkaFed.Actors;

/// <summary>How the <see cref="ServerActor"/> runs a round.</summary>
/// <param name="Fraction">Share of the available clients asked to train each round, in (0, 1].</param>
/// <param name="MinClients">Least number of clients asked, and of updates needed to aggregate (the quorum).</param>
/// <param name="RoundDeadline">How long a round waits for updates before it closes with what arrived.</param>
public sealed record ServerOptions(
    double Fraction,
    int MinClients,
    TimeSpan RoundDeadline,
    ClientWeighting Weighting,
    double ServerLearningRate,
    LocalTrainingOptions Local,
    int Seed)
{
    /// <summary>The strategy: FedAvg unless set (FedProx, FedAdam, a robust aggregator, ...).</summary>
    public StrategyOptions Strategy { get; init; } = new();

    /// <summary>The strategy these options describe.</summary>
    public IStrategy CreateStrategy() =>
        new FederatedStrategy(Strategy, Fraction, MinClients, Weighting, ServerLearningRate, Local, Seed);

    /// <summary>Throws, naming the setting, when a value is out of range.</summary>
    public ServerOptions Validate()
    {
        if (!(Fraction > 0 && Fraction <= 1))
            throw new ArgumentOutOfRangeException("client-fraction", Fraction, "client-fraction must be in (0, 1]");
        if (MinClients < 1)
            throw new ArgumentOutOfRangeException("min-clients", MinClients, "min-clients must be at least 1");
        if (RoundDeadline <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException("round-deadline", RoundDeadline, "round-deadline must be positive");
        if (!(ServerLearningRate > 0) || double.IsInfinity(ServerLearningRate))
            throw new ArgumentOutOfRangeException("server-lr", ServerLearningRate, "server-lr must be positive and finite");
        Local.Validate();
        Strategy.Validate(MinClients);
        return this;
    }
}
