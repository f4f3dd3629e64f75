using AkkaFed.Model.Privacy;
using Xunit;

namespace AkkaFed.Model.Tests.Privacy;

public sealed class PrivacyLedgerTests
{
    [Fact]
    public void Round_by_round_recording_reproduces_the_opacus_reference()
    {
        // pytorch/opacus, opacus/tests/accountants_test.py, test_rdp_accountant: the accountant steps once per
        // iteration, int(90 / 0.04) = 2250 times at noise 1.5 and sample rate 0.04; epsilon at delta 1e-5.
        var ledger = PrivacyLedger.Empty;
        for (int round = 0; round < 2250; round++)
        {
            ledger = ledger.Record(0.04, 1.5);
        }

        double epsilon = ledger.Spent(1e-5).Epsilon;

        Assert.True(Math.Abs(epsilon - 7.32911117143) <= 0.01 * 7.32911117143, $"epsilon {epsilon:R}");
        Assert.Equal(new[] { new LedgerEntry(0.04, 1.5, 2250) }, ledger.Entries);
        Assert.Equal(2250, ledger.Rounds);
    }

    [Fact]
    public void Heterogeneous_rounds_compose()
    {
        // tensorflow/models, research/differential_privacy/privacy_accountant/python/rdp_accountant_test.py,
        // test_compute_privacy_loss: [(0.01, 4, 10000), (0.1, 2, 100)] at delta 1e-5, classic conversion -> 3.276237, order 8.
        var orders = new double[] { 1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256 };

        var ledger = PrivacyLedger.Create(orders, RdpConversion.Classic).Record(0.01, 4, rounds: 10000).Record(0.1, 2, rounds: 100);
        var spent = ledger.Spent(1e-5);

        Assert.True(Math.Abs(spent.Epsilon - 3.276237) <= 0.01 * 3.276237, $"epsilon {spent.Epsilon:R}");
        Assert.Equal(8, spent.Order);
        Assert.Equal(2, ledger.Entries.Count);
    }

    [Fact]
    public void Epsilon_grows_every_round_and_earlier_ledgers_keep_their_value()
    {
        var first = PrivacyLedger.Empty.Record(0.1, 1.1);
        double before = first.Spent(1e-5).Epsilon;

        var ledger = first;
        double previous = before;
        for (int round = 2; round <= 50; round++)
        {
            ledger = ledger.Record(0.1, 1.1);
            double epsilon = ledger.Spent(1e-5).Epsilon;
            Assert.True(epsilon > previous, $"round {round}: epsilon {epsilon} did not grow from {previous}");
            previous = epsilon;
        }

        Assert.Equal(before, first.Spent(1e-5).Epsilon);
        Assert.Equal(1, first.Rounds);
        Assert.Equal(50, ledger.Rounds);
    }

    [Fact]
    public void Recording_rounds_at_once_equals_recording_them_one_by_one()
    {
        var together = PrivacyLedger.Empty.Record(0.02, 0.9, rounds: 3).Record(0.05, 1.3, rounds: 2);
        var oneByOne = PrivacyLedger.Empty.Record(0.02, 0.9).Record(0.02, 0.9).Record(0.02, 0.9).Record(0.05, 1.3).Record(0.05, 1.3);

        Assert.Equal(together.Entries, oneByOne.Entries);
        Assert.Equal(together.Rdp.ToArray(), oneByOne.Rdp.ToArray());
        Assert.Equal(RdpAccountant.Epsilon(0.02, 0.9, 3, 1e-6).Epsilon,
            PrivacyLedger.Empty.Record(0.02, 0.9, rounds: 3).Spent(1e-6).Epsilon, 12);
    }

    [Fact]
    public void An_empty_ledger_has_spent_nothing()
    {
        Assert.Equal(0, PrivacyLedger.Empty.Spent(1e-5).Epsilon);
        Assert.Empty(PrivacyLedger.Empty.Entries);
    }

    [Fact]
    public void Invalid_settings_are_refused_by_name()
    {
        var ledger = PrivacyLedger.Empty;

        Assert.Contains("sampling rate", Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Record(0, 1)).Message);
        Assert.Contains("sampling rate", Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Record(1.01, 1)).Message);
        Assert.Contains("dp-noise-multiplier", Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Record(0.1, -1)).Message);
        Assert.Contains("dp-delta", Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Record(0.1, 1).Spent(1.0)).Message);
        Assert.Contains("dp-delta", Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Record(0.1, 1).Spent(0)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger.Record(0.1, 1, rounds: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PrivacyLedger.Create(new[] { 1.0, 2.0 }));
        Assert.Throws<ArgumentException>(() => PrivacyLedger.Create(Array.Empty<double>()));
    }
}
