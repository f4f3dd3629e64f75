using System.Collections.Immutable;

namespace AkkaFed.Model.Privacy;

/// <summary>How Renyi-DP guarantees become an (epsilon, delta) guarantee.</summary>
public enum RdpConversion
{
    /// <summary>
    /// eps = rdp + log1p(-1/alpha) - (log delta + log alpha) / (alpha - 1), and 0 when the KL bound
    /// already gives delta: Balle et al. 2020 ("Hypothesis testing interpretations and Renyi differential
    /// privacy", Theorem 21), Canonne, Kamath and Steinke 2020 (Proposition 12). Used by TF Privacy since
    /// 2020, by dp_accounting and by Opacus. Tighter than <see cref="Classic"/> at every order.
    /// </summary>
    Improved,

    /// <summary>eps = rdp - log(delta) / (alpha - 1): Mironov 2017, Proposition 3; TF Privacy before 2020.</summary>
    Classic,
}

/// <summary>An (epsilon, delta) guarantee and the Renyi order that gave the smallest epsilon.</summary>
public readonly record struct PrivacySpent(double Epsilon, double Delta, double Order);

/// <summary>
/// Renyi differential privacy of the sampled Gaussian mechanism, a port of TF Privacy's
/// <c>tensorflow_privacy/privacy/analysis/rdp_accountant.py</c> (<c>compute_rdp</c>,
/// <c>get_privacy_spent</c>; the revision with the improved conversion, 2020), which Opacus also copies.
/// In DP-FedAvg one round is one step: each client takes part with probability q (the sampling rate) and
/// the sum of clipped updates gets Gaussian noise of z times the clip norm.
/// </summary>
/// <remarks>
/// The analysis (Mironov, Talwar and Zhang, "Renyi Differential Privacy of the Sampled Gaussian Mechanism",
/// 2019) assumes Poisson sampling of clients; sampling a fixed number without replacement is the usual
/// approximation, as in McMahan et al. 2018.
/// </remarks>
public static class RdpAccountant
{
    /// <summary>
    /// 1.1, 1.2, ..., 10.9 and 12, 13, ..., 63: <c>[1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))</c>,
    /// the orders of TF Privacy's tutorials and tests and Opacus's <c>RDPAccountant.DEFAULT_ALPHAS</c>.
    /// </summary>
    public static ImmutableArray<double> DefaultOrders { get; } =
        Enumerable.Range(1, 99).Select(x => 1 + x / 10.0).Concat(Enumerable.Range(12, 52).Select(x => (double)x)).ToImmutableArray();

    // The fractional-order series stops once its terms are falling and below e^-30 of the total.
    private const double SeriesTailLog = -30;

    // dp_accounting gives up after 1000 terms; orders up to a few thousand need more than that.
    private const int MaxSeriesTerms = 100_000;

    /// <summary>
    /// RDP of <paramref name="steps"/> compositions of the sampled Gaussian mechanism at each order
    /// (TF Privacy's <c>compute_rdp(q, noise_multiplier, steps, orders)</c>). Entries can be +infinity.
    /// </summary>
    public static double[] ComputeRdp(double samplingRate, double noiseMultiplier, int steps, IReadOnlyList<double> orders)
    {
        ArgumentNullException.ThrowIfNull(orders);
        var rdp = new double[orders.Count];
        for (int k = 0; k < rdp.Length; k++)
        {
            rdp[k] = ComputeRdp(samplingRate, noiseMultiplier, steps, orders[k]);
        }
        return rdp;
    }

    /// <summary>RDP at one order; see <see cref="ComputeRdp(double, double, int, IReadOnlyList{double})"/>.</summary>
    public static double ComputeRdp(double samplingRate, double noiseMultiplier, int steps, double order)
    {
        DpSettings.RequireSamplingRate(samplingRate, nameof(samplingRate));
        DpSettings.RequireNoiseMultiplier(noiseMultiplier, nameof(noiseMultiplier));
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        RequireOrder(order);
        if (steps == 0)
        {
            return 0;
        }
        return steps * RdpOfOneStep(samplingRate, noiseMultiplier, order);
    }

    /// <summary>
    /// The smallest epsilon over the orders for which the composed mechanism is (epsilon, delta)-DP
    /// (TF Privacy's <c>get_privacy_spent(orders, rdp, target_delta=delta)</c>), and the order achieving it.
    /// Ties go to the first order, as numpy's argmin does.
    /// </summary>
    public static PrivacySpent GetPrivacySpent(IReadOnlyList<double> orders, IReadOnlyList<double> rdp, double delta,
        RdpConversion conversion = RdpConversion.Improved)
    {
        ArgumentNullException.ThrowIfNull(orders);
        ArgumentNullException.ThrowIfNull(rdp);
        DpSettings.RequireDelta(delta, nameof(delta));
        if (orders.Count != rdp.Count)
        {
            throw new ArgumentException($"{orders.Count} orders but {rdp.Count} RDP values", nameof(rdp));
        }
        if (orders.Count == 0)
        {
            throw new ArgumentException("no orders to convert from", nameof(orders));
        }

        double best = double.PositiveInfinity;
        double bestOrder = orders[0];
        bool found = false;
        for (int k = 0; k < orders.Count; k++)
        {
            double alpha = orders[k];
            double r = rdp[k];
            RequireOrder(alpha);
            if (double.IsNaN(r) || r < 0)
            {
                throw new ArgumentException($"RDP value {r} at order {alpha} is not a number >= 0", nameof(rdp));
            }
            double epsilon = conversion == RdpConversion.Classic ? ClassicEpsilon(alpha, r, delta) : ImprovedEpsilon(alpha, r, delta);
            if (!found || epsilon < best)
            {
                best = epsilon;
                bestOrder = alpha;
                found = true;
            }
        }
        return new PrivacySpent(Math.Max(0, best), delta, bestOrder);
    }

    /// <summary>Epsilon after <paramref name="steps"/> rounds at a fixed q and z, over <see cref="DefaultOrders"/> unless given.</summary>
    public static PrivacySpent Epsilon(double samplingRate, double noiseMultiplier, int steps, double delta,
        IReadOnlyList<double>? orders = null, RdpConversion conversion = RdpConversion.Improved)
    {
        orders ??= DefaultOrders;
        return GetPrivacySpent(orders, ComputeRdp(samplingRate, noiseMultiplier, steps, orders), delta, conversion);
    }

    private static double ClassicEpsilon(double alpha, double r, double delta) =>
        double.IsPositiveInfinity(alpha) ? r : r - Math.Log(delta) / (alpha - 1);

    private static double ImprovedEpsilon(double alpha, double r, double delta)
    {
        if (delta * delta + LogMath.Expm1(-r) >= 0)
        {
            // delta <= sqrt(1 - exp(-KL)) already holds at epsilon 0.
            return 0;
        }
        if (double.IsPositiveInfinity(alpha))
        {
            // The limit of the formula below: both alpha terms vanish.
            return r;
        }
        if (alpha > 1.01)
        {
            // TF Privacy's floor on alpha: the bound is unstable as alpha -> 1 and useless there anyway.
            return r + LogMath.Log1p(-1 / alpha) - Math.Log(delta * alpha) / (alpha - 1);
        }
        return double.PositiveInfinity;
    }

    private static void RequireOrder(double order)
    {
        if (!(order > 1))
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, "Renyi orders must be greater than 1 (+infinity allowed)");
        }
    }

    private static double RdpOfOneStep(double q, double sigma, double alpha)
    {
        if (sigma == 0 || double.IsPositiveInfinity(alpha))
        {
            return double.PositiveInfinity;
        }
        if (q == 1)
        {
            return alpha / (2 * sigma * sigma);
        }
        // A Renyi divergence is never negative; when the true value is ~1e-20 the series can round below 0.
        return Math.Max(0, LogA(q, sigma, alpha) / (alpha - 1));
    }

    /// <summary>log A_alpha of Mironov, Talwar and Zhang 2019 (section 3.3), for 0 &lt; q &lt; 1.</summary>
    internal static double LogA(double q, double sigma, double alpha) =>
        double.IsInteger(alpha) && alpha <= int.MaxValue - 1
            ? LogAIntegerOrder(q, sigma, (int)alpha)
            : LogAFractionalOrder(q, sigma, alpha);

    /// <summary>
    /// A finite binomial sum: sum_i C(alpha, i) q^i (1 - q)^(alpha - i) exp((i^2 - i) / (2 sigma^2)), in logs
    /// (TF Privacy's <c>_compute_log_a_int</c>).
    /// </summary>
    private static double LogAIntegerOrder(double q, double sigma, int alpha)
    {
        double logQ = Math.Log(q);
        double log1mQ = LogMath.Log1p(-q);
        double twoSigmaSquared = 2 * sigma * sigma;
        double logA = double.NegativeInfinity;
        double logBinomial = 0;   // log C(alpha, 0)
        for (int i = 0; i <= alpha; i++)
        {
            if (i > 0)
            {
                // C(alpha, i) = C(alpha, i - 1) (alpha - i + 1) / i: no factorial ever overflows.
                logBinomial += Math.Log((alpha - i + 1) / (double)i);
            }
            double di = i;
            double term = logBinomial + di * logQ + (alpha - di) * log1mQ + (di * di - di) / twoSigmaSquared;
            logA = LogMath.LogAdd(logA, term);
        }
        return logA;
    }

    /// <summary>
    /// The integral for fractional alpha as two series split at z0, with generalised binomial coefficients
    /// whose signs alternate once i exceeds alpha (TF Privacy's <c>_compute_log_a_frac</c>). +infinity, which
    /// rules the order out of the epsilon minimum, when the series does not settle.
    /// </summary>
    /// <remarks>
    /// TF Privacy stops as soon as both new terms fall below e^-30. For a large order at a moderate q the
    /// first terms are that small too (0.5^63.5 ~ e^-44) while the terms near i ~ alpha q dominate, so it
    /// stops at i = 0 and returns a negative RDP (q = 0.5, z = 20, alpha = 63.5 gives -0.62). This uses
    /// the rule of TF Privacy's successor, dp_accounting (google/differential-privacy,
    /// rdp_privacy_accountant.py): stop when both terms are falling and below e^-30 of the running total.
    /// </remarks>
    private static double LogAFractionalOrder(double q, double sigma, double alpha)
    {
        double logQ = Math.Log(q);
        double log1mQ = LogMath.Log1p(-q);
        double sigmaSquared = sigma * sigma;
        double erfcScale = Math.Sqrt(2) * sigma;
        double logHalf = -Math.Log(2);
        // z0 = sigma^2 log(1/q - 1) + 1/2, with log((1 - q) / q) formed without cancelling near q = 1.
        double z0 = sigmaSquared * (log1mQ - logQ) + 0.5;

        double logA0 = double.NegativeInfinity;
        double logA1 = double.NegativeInfinity;
        double lastS0 = double.NegativeInfinity;
        double lastS1 = double.NegativeInfinity;
        double logAbsCoefficient = 0;   // binom(alpha, 0) = 1
        bool positive = true;
        for (int i = 0; i < MaxSeriesTerms; i++)
        {
            if (i > 0)
            {
                double factor = (alpha - (i - 1)) / i;
                logAbsCoefficient += Math.Log(Math.Abs(factor));
                if (factor < 0)
                {
                    positive = !positive;
                }
            }
            double di = i;
            double j = alpha - di;

            double logT0 = logAbsCoefficient + di * logQ + j * log1mQ;
            double logT1 = logAbsCoefficient + j * logQ + di * log1mQ;
            double logE0 = logHalf + LogMath.LogErfc((di - z0) / erfcScale);
            double logE1 = logHalf + LogMath.LogErfc((z0 - j) / erfcScale);
            double logS0 = logT0 + (di * di - di) / (2 * sigmaSquared) + logE0;
            double logS1 = logT1 + (j * j - j) / (2 * sigmaSquared) + logE1;

            if (positive)
            {
                logA0 = LogMath.LogAdd(logA0, logS0);
                logA1 = LogMath.LogAdd(logA1, logS1);
            }
            else if (logS0 <= logA0 && logS1 <= logA1)
            {
                logA0 = LogMath.LogSub(logA0, logS0);
                logA1 = LogMath.LogSub(logA1, logS1);
            }
            else
            {
                // A partial sum would turn negative: rounding has overtaken the series.
                return double.PositiveInfinity;
            }

            double total = LogMath.LogAdd(logA0, logA1);
            if (logS0 < lastS0 && logS1 < lastS1 && Math.Max(logS0, logS1) < total + SeriesTailLog)
            {
                return total;
            }
            lastS0 = logS0;
            lastS1 = logS1;
        }
        return double.PositiveInfinity;
    }
}
