using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests.Privacy;

/// <summary>
/// Published reference values. Sources, quoted beside each value:
///   [TFP]      tensorflow/privacy, tensorflow_privacy/privacy/analysis/rdp_accountant_test.py (rev 385fefc, improved conversion)
///   [TFP-2018] tensorflow/privacy, privacy/analysis/rdp_accountant_test.py (rev 01ab549, classic conversion)
///   [TF-MODELS] tensorflow/models, research/differential_privacy/privacy_accountant/python/rdp_accountant_test.py (classic)
///   [TFP-SGD]  tensorflow/privacy, tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_test.py (rev 2cd46db),
///              orders from compute_dp_sgd_privacy_lib.py
///   [OPACUS]   pytorch/opacus, opacus/tests/accountants_test.py
/// Epsilons are asserted within 1% relative; RDP values within the source's own rtol of 1e-4.
/// </summary>
public sealed class RdpAccountantTests
{
    private const double Relative = 0.01;

    private static readonly double[] Orders2To32 = Enumerable.Range(2, 31).Select(x => (double)x).ToArray();

    // [TFP-2018] and [TF-MODELS] test_check_composition / test_compute_privacy_loss use these orders.
    private static readonly double[] CompositionOrders =
        { 1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256 };

    // compute_dp_sgd_privacy_lib.py: [1.25, 1.5, 1.75, 2., 2.25, 2.5, 3., 3.5, 4., 4.5] + list(range(5, 64)) + [128, 256, 512]
    private static readonly double[] DpSgdOrders = new[] { 1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5 }
        .Concat(Enumerable.Range(5, 59).Select(x => (double)x)).Concat(new double[] { 128, 256, 512 }).ToArray();

    private static void AssertRelative(double expected, double actual, double tolerance, string what)
    {
        Assert.True(Math.Abs(actual - expected) <= tolerance * Math.Abs(expected),
            $"{what}: {actual:R}, expected {expected:R} within {tolerance:P2}");
    }

    [Fact]
    public void Rdp_of_ten_steps_at_order_five()
    {
        double rdp = RdpAccountant.ComputeRdp(0.1, 2, 10, 5.0);

        AssertRelative(0.07737, rdp, 1e-4, "rdp(q=0.1, z=2, 10 steps, alpha=5)");   // [TFP] test_compute_rdp_scalar
    }

    [Fact]
    public void Rdp_over_integer_and_fractional_orders()
    {
        var orders = new[] { 1.5, 2.5, 5, 50, 100, double.PositiveInfinity };

        var rdp = RdpAccountant.ComputeRdp(0.01, 2.5, 50, orders);

        // [TFP] test_compute_rdp_sequence: [6.5007e-04, 1.0854e-03, 2.1808e-03, 2.3846e-02, 1.6742e+02, np.inf], rtol=1e-4
        var expected = new[] { 6.5007e-04, 1.0854e-03, 2.1808e-03, 2.3846e-02, 1.6742e+02 };
        for (int k = 0; k < expected.Length; k++)
        {
            AssertRelative(expected[k], rdp[k], 1e-4, $"rdp at order {orders[k]}");
        }
        Assert.Equal(double.PositiveInfinity, rdp[^1]);
    }

    [Fact]
    public void Without_sampling_rdp_is_the_gaussian_mechanism_alpha_over_two_sigma_squared()
    {
        Assert.Equal(0.1, RdpAccountant.ComputeRdp(1, 10, 1, 20.0), 15);   // [TFP] test_compute_rdp_no_sampling
    }

    // [TFP] test_compute_log_a_equals_mp's parameters. Its expected values are computed at test time by
    // multi-precision integration; these are the same integral, mpmath 1.3.0 quad(maxdegree=8), run once here.
    [Theory]
    [InlineData(1e-7, 0.1, 1.01, 4.0034159629823478e-8)]
    [InlineData(1e-6, 0.1, 256, 3260234.5099259755)]
    [InlineData(1e-5, 0.1, 256.1, 3263356.2822869574)]
    [InlineData(1e-6, 1.0, 27, 8.7695028977836027e-10)]
    [InlineData(1e-4, 1.0, 1.5, 6.4426870297688692e-9)]
    [InlineData(1e-3, 1.0, 2, 1.7182803521333247e-6)]
    [InlineData(0.01, 10, 20, 0.00019129699912815486)]
    [InlineData(0.1, 100, 20.5, 0.00019991818458118805)]
    [InlineData(0.99, 0.1, 256, 3263768.7077428359)]
    [InlineData(0.999, 100, 256.1, 3.2601080379731129)]
    // Where TF Privacy's stopping rule ends the series at its first term and returns a negative RDP.
    [InlineData(0.5, 20, 63.5, 1.2910324303489527)]
    [InlineData(0.3, 20, 256.1, 8.5296139643923503)]
    public void Log_a_equals_multi_precision_integration(double q, double sigma, double order, double expected)
    {
        AssertRelative(expected, RdpAccountant.LogA(q, sigma, order), 1e-4, $"log A(q={q}, sigma={sigma}, alpha={order})");
    }

    [Fact]
    public void Improved_conversion_of_a_constant_rdp_picks_the_largest_order()
    {
        var rdp = Orders2To32.Select(_ => 1.1).ToArray();

        var spent = RdpAccountant.GetPrivacySpent(Orders2To32, rdp, 1e-5);

        AssertRelative(1.32783806176, spent.Epsilon, Relative, "epsilon");   // [TFP] test_get_privacy_spent_check_target_delta
        Assert.Equal(32, spent.Order);                                       // same test: assertEqual(opt_order, 32)
    }

    [Fact]
    public void Improved_conversion_recovers_an_exact_one_one_in_a_million_gaussian()
    {
        // [TFP] test_get_privacy_spent_check_target_delta, second part: orders 0.001 i for i in range(1000, 100000);
        // here from 1.001, since an order of exactly 1 is refused (TF's own conversion gives infinity below 1.01).
        var orders = Enumerable.Range(1001, 98_999).Select(i => 0.001 * i).ToArray();

        var spent = RdpAccountant.Epsilon(1, 4.530877117, 1, 1e-6, orders);

        AssertRelative(1.0, spent.Epsilon, Relative, "epsilon of (1, 1e-6)-DP Gaussian");
    }

    [Fact]
    public void Opacus_rdp_accountant_reference()
    {
        // [OPACUS] test_rdp_accountant: noise 1.5, sample rate 0.04, int(90 / 0.04) steps, delta 1e-5, DEFAULT_ALPHAS
        var spent = RdpAccountant.Epsilon(0.04, 1.5, 2250, 1e-5);

        AssertRelative(7.32911117143, spent.Epsilon, Relative, "epsilon");
        // The classic conversion gives 8.07 here: this value pins the improved one.
        Assert.True(RdpAccountant.Epsilon(0.04, 1.5, 2250, 1e-5, conversion: RdpConversion.Classic).Epsilon > 7.32911117143 * 1.05);
    }

    [Theory]
    // [TFP-SGD] test_compute_dp_sgd_privacy: (n, batch_size, noise_multiplier, epochs, delta, expected_eps, expected_order)
    [InlineData(60000, 150, 1.3, 15, 1e-5, 0.7242234026109595, 19.0)]          // 'Test0'
    [InlineData(100000, 100, 1.0, 30, 1e-7, 1.4154988495444842, 13.0)]         // 'Test1'
    [InlineData(100000000, 1024, 0.1, 10, 1e-7, 5907982.3113978775, 1.25)]     // 'Test2'
    public void Tf_privacy_dp_sgd_references(int n, int batchSize, double noiseMultiplier, int epochs, double delta,
        double expectedEpsilon, double expectedOrder)
    {
        // compute_dp_sgd_privacy: q = batch_size / n, steps = ceil(epochs * n / batch_size)
        double q = batchSize / (double)n;
        int steps = (int)Math.Ceiling(epochs * (double)n / batchSize);

        var spent = RdpAccountant.Epsilon(q, noiseMultiplier, steps, delta, DpSgdOrders);

        AssertRelative(expectedEpsilon, spent.Epsilon, Relative, "epsilon");
        Assert.Equal(expectedOrder, spent.Order);
    }

    [Fact]
    public void Classic_conversion_reference()
    {
        var rdp = RdpAccountant.ComputeRdp(0.01, 4, 10000, Orders2To32);

        var spent = RdpAccountant.GetPrivacySpent(Orders2To32, rdp, 1e-5, RdpConversion.Classic);

        AssertRelative(1.258575, spent.Epsilon, Relative, "epsilon");   // [TFP-2018] test_get_privacy_spent_check_target_delta
        Assert.Equal(20, spent.Order);                                  // same test: assertEqual(opt_order, 20)
    }

    [Fact]
    public void Classic_conversion_of_a_composition()
    {
        var rdp = Add(RdpAccountant.ComputeRdp(1e-4, 0.4, 40000, CompositionOrders), RdpAccountant.ComputeRdp(0.1, 2, 100, CompositionOrders));

        var classic = RdpAccountant.GetPrivacySpent(CompositionOrders, rdp, 1e-5, RdpConversion.Classic);
        var improved = RdpAccountant.GetPrivacySpent(CompositionOrders, rdp, 1e-5);

        AssertRelative(8.509656, classic.Epsilon, Relative, "classic epsilon");   // [TFP-2018] test_check_composition
        Assert.Equal(2.5, classic.Order);                                         // same test: assertEqual(opt_order, 2.5)
        Assert.True(improved.Epsilon <= 8.509656);                                // [TFP] test_check_composition keeps it as a bound
    }

    [Fact]
    public void Classic_conversion_of_a_heterogeneous_composition()
    {
        var rdp = Add(RdpAccountant.ComputeRdp(0.01, 4, 10000, CompositionOrders), RdpAccountant.ComputeRdp(0.1, 2, 100, CompositionOrders));

        var spent = RdpAccountant.GetPrivacySpent(CompositionOrders, rdp, 1e-5, RdpConversion.Classic);

        AssertRelative(3.276237, spent.Epsilon, Relative, "epsilon");   // [TF-MODELS] test_compute_privacy_loss
        Assert.Equal(8, spent.Order);                                   // same test: assertEqual(opt_order, 8)
    }

    [Fact]
    public void Rdp_never_decreases_with_the_order_and_is_never_negative()
    {
        // Integer and fractional orders interleave in the default list (1.9, 2.0, 2.1, ...), so a mismatch
        // between the two series would show as a step down; 63.5 and 256.1 test the series' stopping rule.
        var orders = RdpAccountant.DefaultOrders.Concat(new[] { 63.5, 128, 256.1 }).ToArray();
        foreach (double q in new[] { 1e-6, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.9, 0.999 })
        {
            foreach (double z in new[] { 0.1, 0.5, 0.8, 1.0, 2.0, 5.0, 20.0, 100.0 })
            {
                var rdp = RdpAccountant.ComputeRdp(q, z, 1, orders);
                Assert.True(rdp[0] >= 0, $"q={q} z={z}: rdp {rdp[0]:R} at order {orders[0]}");
                for (int k = 1; k < rdp.Length; k++)
                {
                    Assert.True(rdp[k] >= rdp[k - 1] * (1 - 1e-9) - 1e-15,
                        $"q={q} z={z}: rdp falls from {rdp[k - 1]:R} at {orders[k - 1]} to {rdp[k]:R} at {orders[k]}");
                }
            }
        }
    }

    [Fact]
    public void Improved_conversion_is_never_looser_than_the_classic_one()
    {
        foreach (double q in new[] { 0.001, 0.01, 0.1, 1.0 })
        {
            foreach (double z in new[] { 0.5, 1.0, 4.0 })
            {
                double improved = RdpAccountant.Epsilon(q, z, 500, 1e-5).Epsilon;
                double classic = RdpAccountant.Epsilon(q, z, 500, 1e-5, conversion: RdpConversion.Classic).Epsilon;
                Assert.True(improved <= classic, $"q={q} z={z}: improved {improved} > classic {classic}");
            }
        }
    }

    [Fact]
    public void Default_orders_are_the_tf_privacy_and_opacus_list()
    {
        var orders = RdpAccountant.DefaultOrders;

        Assert.Equal(99 + 52, orders.Length);
        Assert.Equal(1.1, orders[0]);
        Assert.Equal(10.9, orders[98]);
        Assert.Equal(12, orders[99]);
        Assert.Equal(63, orders[^1]);
    }

    [Fact]
    public void No_noise_means_no_privacy()
    {
        Assert.Equal(double.PositiveInfinity, RdpAccountant.Epsilon(0.01, 0, 1, 1e-5).Epsilon);
        Assert.Equal(0, RdpAccountant.ComputeRdp(0.01, 1, 0, 2.0));
    }

    [Fact]
    public void Invalid_settings_are_refused_by_name()
    {
        Assert.Contains("sampling rate", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.ComputeRdp(0, 1, 1, 2.0)).Message);
        Assert.Contains("sampling rate", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.ComputeRdp(1.5, 1, 1, 2.0)).Message);
        Assert.Contains("sampling rate", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.ComputeRdp(double.NaN, 1, 1, 2.0)).Message);
        Assert.Contains("dp-noise-multiplier", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.ComputeRdp(0.1, -1, 1, 2.0)).Message);
        Assert.Contains("dp-delta", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Epsilon(0.1, 1, 1, 0)).Message);
        Assert.Contains("dp-delta", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Epsilon(0.1, 1, 1, 1)).Message);
        Assert.Contains("dp-delta", Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Epsilon(0.1, 1, 1, -1e-5)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.ComputeRdp(0.1, 1, 1, 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.ComputeRdp(0.1, 1, -1, 2.0));
        Assert.Throws<ArgumentException>(() => RdpAccountant.GetPrivacySpent(new[] { 2.0, 3.0 }, new[] { 0.1 }, 1e-5));
        Assert.Throws<ArgumentException>(() => RdpAccountant.GetPrivacySpent(new[] { 2.0 }, new[] { -0.1 }, 1e-5));
    }

    private static double[] Add(double[] a, double[] b) => a.Zip(b, (x, y) => x + y).ToArray();
}
