using AkkaFed.Model.Federation;
using AkkaFed.Model.Models;
using AkkaFed.Model.Simulation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class SimulatedClockTests
{
    private static ClientTiming On(string id, double seconds) => new(id, seconds, DropsOut: false);

    private static ClientTiming Drops(string id, double seconds) => new(id, seconds, DropsOut: true);

    private static SimulatedClock Clock(SyntheticDevices devices, SimulatedFaults? faults = null, long forwardFlops = 1_000_000) =>
        new(DeviceProfiles.Synthetic(devices), faults ?? SimulatedFaults.None, forwardFlops);

    [Fact]
    public void A_phase_asks_the_clients_that_finish_by_the_deadline_and_ends_with_the_last_of_them()
    {
        var plan = PhasePlan.Of(new[] { On("a", 1.5), On("b", 0.5), On("c", 2.5), Drops("d", 0.2) }, keep: 4, deadline: 2);

        Assert.Equal(new[] { "a", "b" }, plan.Asked);
        Assert.Equal(new[] { "c" }, plan.PastDeadline);
        Assert.Equal(new[] { "d" }, plan.DroppedOut);
        // Fewer than keep finished: the phase waits for its deadline.
        Assert.Equal(2, plan.Seconds);
    }

    [Fact]
    public void A_phase_where_everyone_is_on_time_ends_when_the_slowest_finishes()
    {
        var plan = PhasePlan.Of(new[] { On("a", 1.5), On("b", 0.5) }, keep: 2, deadline: 10);

        Assert.Equal(new[] { "a", "b" }, plan.Asked);
        Assert.Empty(plan.PastDeadline);
        Assert.Equal(1.5, plan.Seconds);
    }

    [Fact]
    public void Over_commitment_keeps_the_first_k_to_finish_in_selection_order_and_ties_go_to_the_earlier_selected()
    {
        var plan = PhasePlan.Of(new[] { On("a", 3), On("b", 1), On("c", 2), On("d", 2), On("e", 0.5) }, keep: 3, deadline: 10);

        // e (0.5), b (1), then c and d tie at 2: c was selected first.
        Assert.Equal(new[] { "b", "c", "e" }, plan.Asked);
        Assert.Equal(new[] { "a", "d" }, plan.PastDeadline);
        Assert.Equal(2, plan.Seconds);
    }

    [Fact]
    public void A_phase_that_asks_nobody_lasts_its_deadline()
    {
        var plan = PhasePlan.Of(new[] { Drops("a", 1), On("b", 9) }, keep: 2, deadline: 4);

        Assert.Empty(plan.Asked);
        Assert.Equal(4, plan.Seconds);
    }

    [Fact]
    public void A_round_time_is_compute_plus_both_transfers_plus_the_injected_delay()
    {
        // 10 GFLOP/s, 80 Mbit/s = 10 MB/s; a forward pass of 1 MFLOP, training costs three.
        var clock = Clock(new SyntheticDevices(Gflops: 10, Mbps: 80));

        var timing = clock.Train(round: 1, "client-00001", examples: 100, epochs: 2, modelBytes: 5_000_000, start: 0);

        double compute = 100 * 2 * 3 * 1e6 / 10e9; // 0.06 s
        double transfer = 2 * 5_000_000 * 8 / 80e6; // 1 s
        Assert.False(timing.DropsOut);
        Assert.Equal(compute + transfer, timing.Seconds, 12);

        var straggling = Clock(new SyntheticDevices(Gflops: 10, Mbps: 80),
            new SimulatedFaults(StragglerFraction: 1, StragglerDelay: TimeSpan.FromSeconds(3)));
        Assert.Equal(compute + transfer + 3, straggling.Train(1, "client-00001", 100, 2, 5_000_000, 0).Seconds, 12);
    }

    [Fact]
    public void Evaluation_costs_one_forward_pass_per_sample_and_the_model_down()
    {
        var clock = Clock(new SyntheticDevices(Gflops: 10, Mbps: 80));

        Assert.Equal(100 * 1e6 / 10e9 + 5_000_000 * 8 / 80e6, clock.Evaluate("c", 100, 5_000_000, start: 0).Seconds, 12);
    }

    [Fact]
    public void A_slow_device_takes_slow_factor_times_as_long()
    {
        var fast = Clock(new SyntheticDevices(SlowFraction: 0));
        var slow = Clock(new SyntheticDevices(SlowFraction: 1, SlowFactor: 4));

        double a = fast.Train(1, "c", 50, 1, 1_000_000, 0).Seconds;
        double b = slow.Train(1, "c", 50, 1, 1_000_000, 0).Seconds;

        Assert.Equal(4 * a, b, 9);
    }

    [Fact]
    public void An_injected_dropout_drops_out_and_a_device_that_goes_offline_mid_round_drops_out_when_it_goes()
    {
        var dropping = Clock(new SyntheticDevices(), new SimulatedFaults(DropoutFraction: 1));
        Assert.True(dropping.Train(1, "c", 10, 1, 1000, 0).DropsOut);

        // Online a tenth of every 100 s: whenever it is online, it has at most 10 s left.
        var clock = Clock(new SyntheticDevices(Gflops: 1e-3, OnlineFraction: 0.1, AvailabilityPeriod: 100));
        double start = Enumerable.Range(0, 1000).Select(t => t * 0.1).First(t => clock.IsOnline("c", t));
        var timing = clock.Train(1, "c", examples: 1000, epochs: 1, modelBytes: 0, start);

        Assert.True(timing.DropsOut);
        Assert.InRange(timing.Seconds, 0, 10);
        Assert.Equal(start + timing.Seconds, clock.Devices.For("c").Availability.OnlineUntil(start), 9);
    }

    [Fact]
    public void The_clock_is_a_pure_function_of_its_settings()
    {
        var settings = new SyntheticDevices(Spread: 0.8, SlowFraction: 0.3, Seed: 4);
        var faults = new SimulatedFaults(0.2, TimeSpan.FromSeconds(5), 0.1, Seed: 4);
        var a = Clock(settings, faults);
        var b = Clock(settings, faults);

        var ids = Enumerable.Range(0, 200).Select(i => $"client-{i:D5}").ToArray();
        Assert.Equal(ids.Select(id => a.Train(3, id, 100, 1, 200_000, 17.5)), ids.Select(id => b.Train(3, id, 100, 1, 200_000, 17.5)));
        // ... and the spread makes devices differ.
        Assert.True(ids.Select(id => a.Train(3, id, 100, 1, 200_000, 0).Seconds).Distinct().Count() > 150);
    }

    [Theory]
    [InlineData(ModelKind.TwoNN)]
    [InlineData(ModelKind.McMahanCnn)]
    public void A_dense_layer_costs_two_flops_per_weight(ModelKind kind)
    {
        // The 2NN is all dense layers: its forward pass costs two FLOPs per weight (biases aside). The McMahan CNN's
        // convolutions reuse each weight at every position, so it costs far more than that.
        long weights = InitialWeights.Create(kind, seed: 0).Length;
        long flops = Architectures.ForwardFlops(kind);
        if (kind == ModelKind.TwoNN)
        {
            Assert.Equal(2 * (weights - (200 + 200 + 10)), flops);
        }
        else
        {
            Assert.True(flops > 10 * weights, $"{flops} FLOPs for {weights} weights");
        }
    }
}
