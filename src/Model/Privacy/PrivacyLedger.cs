using System.Collections.Immutable;

namespace AkkaFed.Model.Privacy;

/// <summary>Consecutive rounds run at one sampling rate q and noise multiplier z.</summary>
public sealed record LedgerEntry(double SamplingRate, double NoiseMultiplier, int Rounds);

/// <summary>
/// The privacy spent by a run so far: an immutable record of its rounds, each a sampled Gaussian mechanism
/// at (q, z), composed in Renyi DP. <see cref="Record"/> returns a new ledger, so a server can keep one per
/// round, checkpoint it and hand it to other threads as is.
/// </summary>
/// <remarks>
/// Consecutive rounds at the same (q, z) share one entry, and the RDP is recomputed from the entries as
/// sum(rounds x per-round RDP), as Opacus's <c>RDPAccountant</c> does, so a thousand rounds cost one series
/// evaluation and carry no summation drift. Record the noise multiplier the guarantee is stated for; with
/// adaptive clipping that is z, not <see cref="AdaptiveClipping.EffectiveNoiseMultiplier"/>.
/// </remarks>
public sealed class PrivacyLedger
{
    private readonly ImmutableArray<Segment> _segments;

    private PrivacyLedger(ImmutableArray<double> orders, RdpConversion conversion, ImmutableArray<Segment> segments)
    {
        Orders = orders;
        Conversion = conversion;
        _segments = segments;
        var rdp = new double[orders.Length];
        foreach (var segment in segments)
        {
            for (int k = 0; k < rdp.Length; k++)
            {
                rdp[k] += segment.Entry.Rounds * segment.RdpPerRound[k];
            }
        }
        Rdp = ImmutableArray.Create(rdp);
    }

    /// <summary>A ledger with no rounds, over <see cref="RdpAccountant.DefaultOrders"/>, converting with the improved bound.</summary>
    public static PrivacyLedger Empty { get; } = Create();

    /// <summary>A ledger with no rounds over the given orders (default <see cref="RdpAccountant.DefaultOrders"/>).</summary>
    public static PrivacyLedger Create(IEnumerable<double>? orders = null, RdpConversion conversion = RdpConversion.Improved)
    {
        var chosen = orders?.ToImmutableArray() ?? RdpAccountant.DefaultOrders;
        if (chosen.IsEmpty)
        {
            throw new ArgumentException("a ledger needs at least one Renyi order", nameof(orders));
        }
        foreach (double order in chosen)
        {
            if (!(order > 1))
            {
                throw new ArgumentOutOfRangeException(nameof(orders), order, "Renyi orders must be greater than 1 (+infinity allowed)");
            }
        }
        return new PrivacyLedger(chosen, conversion, ImmutableArray<Segment>.Empty);
    }

    /// <summary>The Renyi orders the RDP is tracked at.</summary>
    public ImmutableArray<double> Orders { get; }

    /// <summary>How <see cref="Spent"/> turns RDP into epsilon.</summary>
    public RdpConversion Conversion { get; }

    /// <summary>The composed RDP of every recorded round, one value per order.</summary>
    public ImmutableArray<double> Rdp { get; }

    /// <summary>The recorded rounds, consecutive rounds at the same (q, z) merged.</summary>
    public IReadOnlyList<LedgerEntry> Entries => _segments.Select(segment => segment.Entry).ToArray();

    /// <summary>How many rounds were recorded.</summary>
    public int Rounds => _segments.Sum(segment => segment.Entry.Rounds);

    /// <summary>This ledger plus <paramref name="rounds"/> rounds at sampling rate q and noise multiplier z.</summary>
    public PrivacyLedger Record(double samplingRate, double noiseMultiplier, int rounds = 1)
    {
        DpSettings.RequireSamplingRate(samplingRate, nameof(samplingRate));
        DpSettings.RequireNoiseMultiplier(noiseMultiplier, nameof(noiseMultiplier));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rounds);

        if (!_segments.IsEmpty)
        {
            var last = _segments[^1];
            if (last.Entry.SamplingRate == samplingRate && last.Entry.NoiseMultiplier == noiseMultiplier)
            {
                var merged = last with { Entry = last.Entry with { Rounds = checked(last.Entry.Rounds + rounds) } };
                return new PrivacyLedger(Orders, Conversion, _segments.SetItem(_segments.Length - 1, merged));
            }
        }
        var perRound = ImmutableArray.Create(RdpAccountant.ComputeRdp(samplingRate, noiseMultiplier, 1, Orders));
        var segment = new Segment(new LedgerEntry(samplingRate, noiseMultiplier, rounds), perRound);
        return new PrivacyLedger(Orders, Conversion, _segments.Add(segment));
    }

    /// <summary>The (epsilon, delta) guarantee of every round recorded so far; epsilon 0 before the first.</summary>
    public PrivacySpent Spent(double delta) => RdpAccountant.GetPrivacySpent(Orders, Rdp, delta, Conversion);

    private sealed record Segment(LedgerEntry Entry, ImmutableArray<double> RdpPerRound);
}
