using AkkaFed.Model.Privacy;

namespace AkkaFed.Model.Federation;

/// <summary>How client updates are combined before the server optimizer's step.</summary>
public enum AggregatorKind
{
    /// <summary>FedAvg's weighted mean.</summary>
    Mean,
    Median,
    TrimmedMean,
    Krum,
    MultiKrum,
}

/// <summary>The strategy's settings, as HOCON and the command line name them.</summary>
public sealed record StrategyOptions(
    string Name = "fedavg",
    double ServerMomentum = 0,
    double Beta1 = 0.9,
    double Beta2 = 0.99,
    double Tau = 1e-3,
    double ProximalMu = 0,
    AggregatorKind Aggregator = AggregatorKind.Mean,
    double TrimmedFraction = 0.1,
    int KrumByzantine = 0,
    int KrumKeep = 1,
    double NormBound = 0,
    double EvaluateFraction = 0,
    PrivacyOptions? Privacy = null)
{
    /// <summary>Over-commitment: ask ⌈k·C⌉ clients, keep the first k updates (FedScale's 1.3); 1 is off.</summary>
    public double Overcommit { get; init; } = 1;

    /// <summary>FedBuff's settings (strategy = fedbuff).</summary>
    public FedBuffOptions FedBuff { get; init; } = new();

    /// <summary>The asynchronous strategy: run by the buffered server, not in rounds of selected clients.</summary>
    public const string Buffered = "fedbuff";

    public bool IsBuffered => Name == Buffered;

    public static readonly IReadOnlyList<string> Names = new[] { "fedavg", "fedsgd", "fedavgm", "fedprox", "fedadagrad", "fedadam", "fedyogi", Buffered };

    public static readonly IReadOnlyDictionary<string, AggregatorKind> Aggregators = new Dictionary<string, AggregatorKind>
    {
        ["mean"] = AggregatorKind.Mean,
        ["median"] = AggregatorKind.Median,
        ["trimmed-mean"] = AggregatorKind.TrimmedMean,
        ["krum"] = AggregatorKind.Krum,
        ["multi-krum"] = AggregatorKind.MultiKrum,
    };

    /// <summary>
    /// Throws a <see cref="SettingsException"/> naming the first setting that is out of range or contradicts another.
    /// The server optimizer's settings are checked for the strategy that uses them only (FedAvg ignores
    /// server-momentum, FedAvgM the betas and tau, FedAdagrad server-beta2).
    /// </summary>
    /// <param name="minClients">The least number of updates a round aggregates, which robust aggregators must cope with.</param>
    public StrategyOptions Validate(int minClients)
    {
        if (!Names.Contains(Name))
            throw NotAStrategy(Name);
        switch (Name)
        {
            case "fedavgm":
                RequireDecay("server-momentum", ServerMomentum);
                break;
            case "fedadagrad":
                RequireDecay("server-beta1", Beta1);
                RequireTau();
                break;
            case "fedadam" or "fedyogi":
                RequireDecay("server-beta1", Beta1);
                RequireDecay("server-beta2", Beta2);
                RequireTau();
                break;
        }
        if (!(ProximalMu >= 0) || double.IsInfinity(ProximalMu))
            throw new SettingsException("proximal-mu", $"must be zero or positive and finite, got {ProximalMu}");
        if (ProximalMu > 0 && Name != "fedprox")
            throw new SettingsException("proximal-mu", $"only FedProx uses it: set strategy = fedprox, or proximal-mu = 0 (strategy is {Name})");
        if (!Enum.IsDefined(Aggregator))
            throw new SettingsException("aggregator", $"must be one of {string.Join(", ", Aggregators.Keys)}, got {Aggregator}");
        if (!(TrimmedFraction >= 0 && TrimmedFraction < 0.5))
            throw new SettingsException("trimmed-fraction", $"must be in [0, 0.5), got {TrimmedFraction}");
        if (KrumByzantine < 0)
            throw new SettingsException("krum-byzantine", $"must be zero or more, got {KrumByzantine}");
        if (KrumKeep < 1)
            throw new SettingsException("krum-keep", $"must be at least 1, got {KrumKeep}");
        if (Aggregator is AggregatorKind.Krum or AggregatorKind.MultiKrum && minClients < 2 * KrumByzantine + 3)
            throw new SettingsException("min-clients",
                $"{AggregatorName(Aggregator)} with krum-byzantine = {KrumByzantine} needs min-clients >= {2 * KrumByzantine + 3} " +
                $"(2 x krum-byzantine + 3 updates per round), got {minClients}: raise min-clients (--min-clients) to {2 * KrumByzantine + 3} or more" +
                (KrumByzantine > 0 ? ", or lower krum-byzantine" : ""));
        if (Aggregator == AggregatorKind.MultiKrum && KrumKeep > minClients - KrumByzantine)
            throw new SettingsException("krum-keep", $"must be from 1 to min-clients - krum-byzantine ({minClients - KrumByzantine}), got {KrumKeep}");
        if (!(NormBound >= 0) || double.IsInfinity(NormBound))
            throw new SettingsException("norm-bound", $"must be zero (off) or positive and finite, got {NormBound}");
        if (!(EvaluateFraction >= 0 && EvaluateFraction <= 1))
            throw new SettingsException("evaluate-fraction", $"must be in [0, 1], got {EvaluateFraction}");
        if (!(Overcommit >= 1) || double.IsInfinity(Overcommit))
            throw new SettingsException("overcommit", $"must be at least 1 (1 is off) and finite, got {Overcommit}");
        Privacy?.Validate();
        if (IsBuffered)
        {
            FedBuff.Validate();
            // FedBuff's step is its own staleness-weighted mean with server SGD: nothing else composes with it yet.
            if (Aggregator != AggregatorKind.Mean || NormBound > 0)
                throw new SettingsException("aggregator", "fedbuff combines updates with its staleness-weighted mean: use aggregator = mean and norm-bound = 0");
            if (Privacy is { Enabled: true })
                throw new SettingsException(DpSettings.ClipNorm, "DP-FedAvg's accounting is for synchronous rounds: set dp-clip-norm = 0 with strategy = fedbuff");
            if (Overcommit > 1)
                throw new SettingsException("overcommit", "fedbuff keeps concurrency clients training instead: set overcommit = 1");
            if (EvaluateFraction > 0)
                throw new SettingsException("evaluate-fraction", "fedbuff has no evaluation phase: set evaluate-fraction = 0 (the test set is still evaluated every step)");
        }
        if (Privacy is { Enabled: true } && Overcommit > 1)
            throw new SettingsException("overcommit",
                $"DP-FedAvg divides the noisy sum by the clients selected, which over-commitment inflates: use overcommit = 1 with {DpSettings.ClipNorm} (overcommit is {Overcommit})");
        if (Privacy is { Enabled: true } && Aggregator != AggregatorKind.Mean)
            throw new SettingsException("aggregator",
                $"DP-FedAvg's guarantee is for the clipped mean: use aggregator = mean with {DpSettings.ClipNorm} (aggregator is {AggregatorName(Aggregator)})");
        return this;
    }

    /// <summary>The refusal of a strategy name this program does not know.</summary>
    internal static SettingsException NotAStrategy(string name) =>
        new("strategy", $"must be one of {string.Join(", ", Names)}, got '{name}'");

    private static string AggregatorName(AggregatorKind kind) => Aggregators.First(pair => pair.Value == kind).Key;

    /// <summary>Momentum and the betas: a decay in [0, 1); at 1 the average never forgets.</summary>
    private static void RequireDecay(string key, double value)
    {
        if (!(value >= 0 && value < 1))
            throw new SettingsException(key, $"must be in [0, 1), got {value}");
    }

    private void RequireTau()
    {
        if (!(Tau > 0) || double.IsInfinity(Tau))
            throw new SettingsException("server-tau", $"must be positive and finite, got {Tau}");
    }
}

/// <summary>
/// Central differential privacy (DP-FedAvg, McMahan et al. 2018): each update clipped to <paramref name="ClipNorm"/>,
/// Gaussian noise of standard deviation <c>NoiseMultiplier * ClipNorm</c> on the sum, divided by the number of
/// clients selected. With <paramref name="Adaptive"/>, the clip norm follows the <paramref name="TargetQuantile"/>
/// of the update norms (Andrew et al. 2021). <paramref name="ClipNorm"/> = 0 turns it off.
/// </summary>
public sealed record PrivacyOptions(
    double ClipNorm = 0,
    double NoiseMultiplier = 0,
    double Delta = 1e-5,
    bool Adaptive = false,
    double TargetQuantile = 0.5,
    double ClipLearningRate = 0.2,
    double ClippedCountStddev = 0)
{
    public bool Enabled => ClipNorm > 0;

    /// <summary>
    /// Throws a <see cref="SettingsException"/> naming the first setting that is out of range or contradicts another.
    /// With DP off only the clip norm and noise multiplier are checked; the adaptive settings only with dp-adaptive.
    /// </summary>
    public PrivacyOptions Validate()
    {
        if (!(ClipNorm >= 0) || double.IsInfinity(ClipNorm))
            throw new SettingsException(DpSettings.ClipNorm, $"must be zero (off) or positive and finite, got {ClipNorm}");
        if (!(NoiseMultiplier >= 0) || double.IsInfinity(NoiseMultiplier))
            throw new SettingsException(DpSettings.NoiseMultiplier, $"must be zero or positive and finite, got {NoiseMultiplier}");
        if (NoiseMultiplier > 0 && !Enabled)
            throw new SettingsException(DpSettings.NoiseMultiplier,
                $"{NoiseMultiplier} needs {DpSettings.ClipNorm} > 0: without clipping, noise bounds nothing");
        if (Adaptive && !Enabled)
            throw new SettingsException(DpSettings.Adaptive,
                $"true needs {DpSettings.ClipNorm} > 0: adaptive clipping adapts DP-FedAvg's clip norm, and {DpSettings.ClipNorm} = 0 turns DP off " +
                $"(set {DpSettings.ClipNorm} to the starting norm, e.g. --{DpSettings.ClipNorm} 1.0, or drop --{DpSettings.Adaptive})");
        if (!Enabled)
            return this;
        if (!(Delta > 0 && Delta < 1))
            throw new SettingsException(DpSettings.Delta, $"must be in (0, 1), got {Delta}");
        if (!Adaptive)
            return this;
        if (!(TargetQuantile > 0 && TargetQuantile < 1))
            throw new SettingsException(DpSettings.TargetQuantile,
                $"must lie strictly between 0 and 1 (the fraction of updates left unclipped), got {TargetQuantile}");
        if (!(ClipLearningRate >= 0) || double.IsInfinity(ClipLearningRate))
            throw new SettingsException(DpSettings.ClipLearningRate, $"must be zero or positive and finite, got {ClipLearningRate}");
        if (!(ClippedCountStddev >= 0) || double.IsInfinity(ClippedCountStddev))
            throw new SettingsException(DpSettings.ClippedCountStddev, $"must be zero or positive and finite, got {ClippedCountStddev}");
        if (ClippedCountStddev > 0 && NoiseMultiplier > 0 && !AdaptiveClipping.LeavesUpdateNoise(NoiseMultiplier, ClippedCountStddev))
            throw new SettingsException(DpSettings.ClippedCountStddev,
                $"{ClippedCountStddev} must exceed {DpSettings.NoiseMultiplier} / 2 = {NoiseMultiplier / 2}: "
                + $"with {DpSettings.NoiseMultiplier} = {NoiseMultiplier} the clipped-count query would use up the whole privacy budget "
                + "and leave the update sum no noise variance to spare");
        return this;
    }
}

/// <summary>What DP-FedAvg carries from round to round: the current clip norm and the privacy spent.</summary>
public sealed record PrivacyState(double ClipNorm, PrivacyLedger Ledger);
