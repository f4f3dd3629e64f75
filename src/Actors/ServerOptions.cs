using AkkaFed.Model;
using AkkaFed.Model.Compression;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using AkkaFed.Model.Simulation;

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

    /// <summary>
    /// The simulated clock that judges deadlines, quorums and availability (a simulation's default); null for the
    /// wall clock (a cluster deployment). On the simulated clock <see cref="RoundDeadline"/> is simulated time.
    /// </summary>
    public SimulatedClock? Clock { get; init; }

    /// <summary>
    /// The most training samples a client may say it holds when it registers; no update or evaluation may claim more
    /// than its client registered. Example counts weight the mean, so an unbounded claim would let one client dominate it.
    /// </summary>
    public int MaxClientExamples { get; init; } = DefaultMaxClientExamples;

    public const int DefaultMaxClientExamples = 10_000_000;

    /// <summary>How clients compress their updates: sent with every fit request, so the clients follow the server.</summary>
    public CompressionOptions Uplink { get; init; } = CompressionOptions.None;

    /// <summary>How the server compresses the global model it sends to train and to evaluate.</summary>
    public CompressionOptions Downlink { get; init; } = CompressionOptions.None;

    /// <summary>The strategy these options describe; call <see cref="Validate"/> first.</summary>
    public IStrategy CreateStrategy() =>
        Strategies.Create(Strategy, Fraction, MinClients, Weighting, ServerLearningRate, Local, Seed);

    /// <summary>
    /// Throws a <see cref="SettingsException"/> naming the first setting that is out of range or contradicts another,
    /// here, in the clients' training options or in the strategy's.
    /// </summary>
    public ServerOptions Validate()
    {
        if (!(Fraction > 0 && Fraction <= 1))
            throw new SettingsException("client-fraction", $"must be in (0, 1], got {Fraction}");
        if (MinClients < 1)
            throw new SettingsException("min-clients", $"must be at least 1, got {MinClients}");
        if (RoundDeadline <= TimeSpan.Zero)
            throw new SettingsException("round-deadline", $"must be positive, got {RoundDeadline.TotalSeconds}s");
        if (!Enum.IsDefined(Weighting))
            throw new SettingsException("client-weighting", $"must be num_examples or uniform, got {Weighting}");
        if (!(ServerLearningRate > 0) || double.IsInfinity(ServerLearningRate))
            throw new SettingsException("server-lr", $"must be positive and finite, got {ServerLearningRate}");
        if (MaxClientExamples < 1)
            throw new SettingsException("max-client-examples", $"must be at least 1, got {MaxClientExamples}");
        Local.Validate();
        Strategy.Validate(MinClients);
        Uplink.Validate("compression-uplink");
        Downlink.Validate("compression-downlink");
        if (Downlink.Codec == Codec.TopK)
            throw new SettingsException("compression-downlink",
                "topk sparsifies updates, not the model: a client holds no earlier model to add a sparse difference to; use none, fp16, int8 or int4");
        if (Strategy.IsBuffered && Clock is null)
            throw new SettingsException("strategy", "fedbuff runs on the simulated clock: set clock = simulated");
        return this;
    }
}
