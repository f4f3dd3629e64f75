using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class ServerOptimizerTests
{
    // Shared by the adaptive examples: eta 0.5, beta1 0.5, beta2 0.75, tau 0.5, so v starts at 0.25.
    // Every m and v below is a dyadic fraction, exact in float; weights involve square roots.
    private static readonly float[] AdaptiveGlobal = { 1f, -1f };
    private static readonly float[] AdaptiveDelta1 = { 1f, 0.25f };
    private static readonly float[] AdaptiveDelta2 = { -1f, 1f };

    [Fact]
    public void Sgd_takes_two_plain_steps()
    {
        var sgd = new ServerSgd(0.5);

        var (w1, s1) = sgd.Step(new[] { 1f, 2f, -1f }, new[] { 0.5f, -1f, 2f }, sgd.Initial(3));
        var (w2, _) = sgd.Step(w1, new[] { 1f, 1f, -2f }, s1);

        // w1 = [1, 2, -1] + 0.5 * [0.5, -1, 2] = [1.25, 1.5, 0]
        Assert.Equal(new[] { 1.25f, 1.5f, 0f }, w1);
        // w2 = [1.25, 1.5, 0] + 0.5 * [1, 1, -2] = [1.75, 2, -1]
        Assert.Equal(new[] { 1.75f, 2f, -1f }, w2);
    }

    [Fact]
    public void Sgd_is_bit_identical_to_apply_server_sgd()
    {
        var random = new Random(11);
        var global = RandomFloats(random, 10_000);
        var delta = RandomFloats(random, 10_000);
        var sgd = new ServerSgd(0.37);

        var (weights, _) = sgd.Step(global, delta, sgd.Initial(global.Length));

        Assert.Equal(Bits(FederatedAveraging.ApplyServerSgd(global, delta, 0.37)), Bits(weights));
    }

    [Fact]
    public void FedAvgM_accumulates_momentum_over_two_steps()
    {
        var fedAvgM = new ServerMomentum(learningRate: 0.5, momentum: 0.5);

        var (w1, s1) = fedAvgM.Step(new[] { 1f, 2f, -1f }, new[] { 0.5f, -1f, 2f }, fedAvgM.Initial(3));
        var (w2, s2) = fedAvgM.Step(w1, new[] { 1f, 1f, -2f }, s1);

        // Round 1, Flower's convention: v1 = delta1 = [0.5, -1, 2]
        // w1 = [1, 2, -1] + 0.5 * [0.5, -1, 2] = [1.25, 1.5, 0]
        Assert.Equal(new[] { 0.5f, -1f, 2f }, s1.Slots[0]);
        Assert.Equal(new[] { 1.25f, 1.5f, 0f }, w1);
        // v2 = 0.5 * [0.5, -1, 2] + [1, 1, -2] = [1.25, 0.5, -1]
        // w2 = [1.25, 1.5, 0] + 0.5 * [1.25, 0.5, -1] = [1.875, 1.75, -0.5]; SGD would give [1.75, 2, -1]
        Assert.Equal(new[] { 1.25f, 0.5f, -1f }, s2.Slots[0]);
        Assert.Equal(new[] { 1.875f, 1.75f, -0.5f }, w2);
    }

    [Fact]
    public void FedAvgM_at_momentum_zero_is_bit_identical_to_sgd_over_three_steps()
    {
        var random = new Random(7);
        var global = RandomFloats(random, 10_000);
        var deltas = Enumerable.Range(0, 3).Select(_ => RandomFloats(random, 10_000)).ToArray();
        // Signed zeros are where "0 * v + delta" and "delta" part ways.
        global[0] = -0f;
        deltas[0][0] = -0f;
        deltas[1][1] = -0f;
        var sgd = new ServerSgd(0.7);
        var fedAvgM = new ServerMomentum(0.7, momentum: 0);

        var (sgdWeights, sgdState) = (global, sgd.Initial(global.Length));
        var (momentumWeights, momentumState) = (global, fedAvgM.Initial(global.Length));
        foreach (var delta in deltas)
        {
            (sgdWeights, sgdState) = sgd.Step(sgdWeights, delta, sgdState);
            (momentumWeights, momentumState) = fedAvgM.Step(momentumWeights, delta, momentumState);

            Assert.Equal(Bits(sgdWeights), Bits(momentumWeights));
        }
    }

    [Fact]
    public void FedAdagrad_takes_two_hand_computed_steps()
    {
        var adagrad = new FedAdagrad(learningRate: 0.5, beta1: 0.5, tau: 0.5);

        var (w1, s1) = adagrad.Step(AdaptiveGlobal, AdaptiveDelta1, adagrad.Initial(2));
        var (w2, s2) = adagrad.Step(w1, AdaptiveDelta2, s1);

        // m1 = 0.5 * 0 + 0.5 * [1, 0.25] = [0.5, 0.125]
        // v1 = 0.25 + [1, 0.0625] = [1.25, 0.3125]
        // w1 = [1 + 0.5 * 0.5 / (sqrt 1.25 + 0.5), -1 + 0.5 * 0.125 / (sqrt 0.3125 + 0.5)]
        //    = [1 + 0.25 / 1.6180340, -1 + 0.0625 / 1.0590170] = [1.1545085, -0.9409830]
        AssertState(s1, m: new[] { 0.5f, 0.125f }, v: new[] { 1.25f, 0.3125f });
        AssertClose(new[] { 1.1545085, -0.9409830 }, w1);
        // m2 = 0.5 * [0.5, 0.125] + 0.5 * [-1, 1] = [-0.25, 0.5625]
        // v2 = [1.25, 0.3125] + [1, 1] = [2.25, 1.3125]
        // w2 = [1.1545085 + 0.5 * -0.25 / (1.5 + 0.5), -0.9409830 + 0.5 * 0.5625 / (sqrt 1.3125 + 0.5)]
        //    = [1.1545085 - 0.0625, -0.9409830 + 0.28125 / 1.6456439] = [1.0920085, -0.7700773]
        AssertState(s2, m: new[] { -0.25f, 0.5625f }, v: new[] { 2.25f, 1.3125f });
        AssertClose(new[] { 1.0920085, -0.7700773 }, w2);
    }

    [Fact]
    public void FedAdam_takes_two_hand_computed_steps()
    {
        var adam = new FedAdam(learningRate: 0.5, beta1: 0.5, beta2: 0.75, tau: 0.5);

        var (w1, s1) = adam.Step(AdaptiveGlobal, AdaptiveDelta1, adam.Initial(2));
        var (w2, s2) = adam.Step(w1, AdaptiveDelta2, s1);

        // m1 = [0.5, 0.125] as for Adagrad
        // v1 = 0.75 * 0.25 + 0.25 * [1, 0.0625] = [0.4375, 0.203125]
        // w1 = [1 + 0.25 / (sqrt 0.4375 + 0.5), -1 + 0.0625 / (sqrt 0.203125 + 0.5)]
        //    = [1 + 0.25 / 1.1614378, -1 + 0.0625 / 0.9506939] = [1.2152504, -0.9342585]
        AssertState(s1, m: new[] { 0.5f, 0.125f }, v: new[] { 0.4375f, 0.203125f });
        AssertClose(new[] { 1.2152504, -0.9342585 }, w1);
        // m2 = [-0.25, 0.5625]
        // v2 = 0.75 * [0.4375, 0.203125] + 0.25 * [1, 1] = [0.578125, 0.40234375]
        // w2 = [1.2152504 - 0.125 / (sqrt 0.578125 + 0.5), -0.9342585 + 0.28125 / (sqrt 0.40234375 + 0.5)]
        //    = [1.2152504 - 0.125 / 1.2603453, -0.9342585 + 0.28125 / 1.1343057] = [1.1160713, -0.6863095]
        // No bias correction: Adam's factor sqrt(1 - beta2^t) / (1 - beta1^t) is 0.882 at t = 2 and would change w2.
        AssertState(s2, m: new[] { -0.25f, 0.5625f }, v: new[] { 0.578125f, 0.40234375f });
        AssertClose(new[] { 1.1160713, -0.6863095 }, w2);
    }

    [Fact]
    public void FedYogi_takes_two_hand_computed_steps()
    {
        var yogi = new FedYogi(learningRate: 0.5, beta1: 0.5, beta2: 0.75, tau: 0.5);

        var (w1, s1) = yogi.Step(AdaptiveGlobal, AdaptiveDelta1, yogi.Initial(2));
        var (w2, s2) = yogi.Step(w1, AdaptiveDelta2, s1);

        // m1 = [0.5, 0.125]
        // v1 = 0.25 - 0.25 * [1, 0.0625] * sign(0.25 - [1, 0.0625]) = 0.25 - 0.25 * [1, 0.0625] * [-1, +1]
        //    = [0.5, 0.234375]                       (v grows on the first value, shrinks on the second)
        // w1 = [1 + 0.25 / (sqrt 0.5 + 0.5), -1 + 0.0625 / (sqrt 0.234375 + 0.5)]
        //    = [1 + 0.25 / 1.2071068, -1 + 0.0625 / 0.9841229] = [1.2071068, -0.9364917]
        AssertState(s1, m: new[] { 0.5f, 0.125f }, v: new[] { 0.5f, 0.234375f });
        AssertClose(new[] { 1.2071068, -0.9364917 }, w1);
        // m2 = [-0.25, 0.5625]
        // v2 = [0.5, 0.234375] - 0.25 * [1, 1] * sign([0.5, 0.234375] - 1) = [0.75, 0.484375]
        // w2 = [1.2071068 - 0.125 / (sqrt 0.75 + 0.5), -0.9364917 + 0.28125 / (sqrt 0.484375 + 0.5)]
        //    = [1.2071068 - 0.125 / 1.3660254, -0.9364917 + 0.28125 / 1.1959705] = [1.1156004, -0.7013270]
        AssertState(s2, m: new[] { -0.25f, 0.5625f }, v: new[] { 0.75f, 0.484375f });
        AssertClose(new[] { 1.1156004, -0.7013270 }, w2);
    }

    public static TheoryData<string> AllNames() => new(ServerOptimizers.Names);

    [Theory]
    [MemberData(nameof(AllNames))]
    public void The_factory_builds_each_optimizer_under_its_own_name(string name)
    {
        var optimizer = Create(name);

        Assert.Equal(name, optimizer.Name);
    }

    [Fact]
    public void The_factory_passes_each_setting_to_the_right_parameter()
    {
        var adam = Assert.IsType<FedAdam>(ServerOptimizers.Create("fedadam", 0.1, 0.2, 0.3, 0.4, 0.5));
        var momentum = Assert.IsType<ServerMomentum>(ServerOptimizers.Create("fedavgm", 0.6, 0.7, 0.3, 0.4, 0.5));

        Assert.Equal((0.1, 0.3, 0.4, 0.5), (adam.LearningRate, adam.Beta1, adam.Beta2, adam.Tau));
        Assert.Equal((0.6, 0.7), (momentum.LearningRate, momentum.Momentum));
    }

    [Fact]
    public void An_unknown_name_is_refused_with_the_valid_names()
    {
        var error = Assert.Throws<ArgumentException>(() => ServerOptimizers.Create("adam", 1, 0, 0.9, 0.99, 1e-3));

        Assert.Contains("'adam'", error.Message);
        foreach (var name in new[] { "sgd", "fedavgm", "fedadagrad", "fedadam", "fedyogi" })
        {
            Assert.Contains(name, error.Message);
        }
    }

    [Theory]
    [InlineData("sgd", 0)]
    [InlineData("fedavgm", 1)]
    [InlineData("fedadagrad", 2)]
    [InlineData("fedadam", 2)]
    [InlineData("fedyogi", 2)]
    public void Initial_state_has_one_slot_per_buffer_each_the_size_of_the_model(string name, int slots)
    {
        var state = Create(name).Initial(5);

        Assert.Equal(slots, state.Slots.Length);
        Assert.All(state.Slots, slot => Assert.Equal(5, slot.Length));
    }

    [Fact]
    public void Initial_momentum_is_zero_and_initial_adaptive_state_is_m_zero_v_tau_squared()
    {
        Assert.Same(ServerOptimizerState.Empty, new ServerSgd(1).Initial(3));
        Assert.Equal(new float[3], new ServerMomentum(1, 0.9).Initial(3).Slots[0]);
        var adaptive = new FedYogi(1, 0.9, 0.99, tau: 0.25).Initial(3);
        Assert.Equal(new float[3], adaptive.Slots[0]);
        Assert.Equal(new[] { 0.0625f, 0.0625f, 0.0625f }, adaptive.Slots[1]);
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Step_returns_state_of_the_initial_shape(string name)
    {
        var optimizer = Create(name);
        var initial = optimizer.Initial(4);

        var (weights, state) = optimizer.Step(new float[4], new[] { 1f, -2f, 3f, 0f }, initial);

        Assert.Equal(4, weights.Length);
        Assert.Equal(initial.Slots.Length, state.Slots.Length);
        Assert.All(state.Slots, slot => Assert.Equal(4, slot.Length));
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Step_never_writes_its_inputs_so_an_old_state_replays_the_same_step(string name)
    {
        var optimizer = Create(name);
        var random = new Random(5);
        var global = RandomFloats(random, 64);
        var delta = RandomFloats(random, 64);
        var (_, state) = optimizer.Step(global, RandomFloats(random, 64), optimizer.Initial(64));
        var globalCopy = (float[])global.Clone();
        var deltaCopy = (float[])delta.Clone();
        var slotCopies = state.Slots.Select(slot => (float[])slot.Clone()).ToArray();

        var (first, next) = optimizer.Step(global, delta, state);
        var (again, _) = optimizer.Step(global, delta, state);

        Assert.Equal(globalCopy, global);
        Assert.Equal(deltaCopy, delta);
        Assert.Equal(slotCopies.Length, state.Slots.Length);
        for (int s = 0; s < slotCopies.Length; s++)
        {
            Assert.Equal(slotCopies[s], state.Slots[s]);
            Assert.NotSame(state.Slots[s], next.Slots[s]);
        }
        Assert.NotSame(global, first);
        Assert.Equal(Bits(first), Bits(again));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_learning_rate_that_is_not_finite_and_positive_is_refused(double learningRate)
    {
        foreach (var name in ServerOptimizers.Names)
        {
            AssertRefused("server-lr", () => ServerOptimizers.Create(name, learningRate, 0.9, 0.9, 0.99, 1e-3));
        }
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void A_momentum_outside_zero_to_one_is_refused(double momentum)
    {
        AssertRefused("server-momentum", () => new ServerMomentum(1, momentum));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void A_beta1_outside_zero_to_one_is_refused(double beta1)
    {
        AssertRefused("server-beta1", () => new FedAdagrad(1, beta1, 1e-3));
        AssertRefused("server-beta1", () => new FedAdam(1, beta1, 0.99, 1e-3));
        AssertRefused("server-beta1", () => new FedYogi(1, beta1, 0.99, 1e-3));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void A_beta2_outside_zero_to_one_is_refused(double beta2)
    {
        AssertRefused("server-beta2", () => new FedAdam(1, 0.9, beta2, 1e-3));
        AssertRefused("server-beta2", () => new FedYogi(1, 0.9, beta2, 1e-3));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1e-3)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_tau_that_is_not_finite_and_positive_is_refused(double tau)
    {
        AssertRefused("server-tau", () => new FedAdagrad(1, 0.9, tau));
        AssertRefused("server-tau", () => new FedAdam(1, 0.9, 0.99, tau));
        AssertRefused("server-tau", () => new FedYogi(1, 0.9, 0.99, tau));
    }

    [Fact]
    public void Settings_an_optimizer_does_not_use_are_not_checked()
    {
        // Defaults for the adaptive optimizers must not stop a plain SGD or FedAvgM run.
        Assert.Equal("sgd", ServerOptimizers.Create("sgd", 1, momentum: 5, beta1: 5, beta2: 5, tau: -1).Name);
        Assert.Equal("fedavgm", ServerOptimizers.Create("fedavgm", 1, 0.9, beta1: 5, beta2: 5, tau: -1).Name);
        Assert.Equal("fedadagrad", ServerOptimizers.Create("fedadagrad", 1, momentum: 5, 0.9, beta2: 5, 1e-3).Name);
    }

    [Fact]
    public void A_state_from_another_optimizer_or_model_size_is_refused()
    {
        var adam = new FedAdam(1, 0.9, 0.99, 1e-3);
        var fedAvgM = new ServerMomentum(1, 0.9);

        var wrongOptimizer = Assert.Throws<ArgumentException>(() => adam.Step(new float[3], new float[3], fedAvgM.Initial(3)));
        var wrongSize = Assert.Throws<ArgumentException>(() => fedAvgM.Step(new float[3], new float[3], fedAvgM.Initial(4)));
        var wrongDelta = Assert.Throws<ArgumentException>(() => adam.Step(new float[3], new float[2], adam.Initial(3)));

        Assert.Contains("fedadam keeps 2 state slots, this state has 1", wrongOptimizer.Message);
        Assert.Contains("4 values", wrongSize.Message);
        Assert.Contains("delta 2", wrongDelta.Message);
    }

    private static IServerOptimizer Create(string name) => ServerOptimizers.Create(name, 0.5, 0.9, 0.9, 0.99, 1e-3);

    private static void AssertRefused(string setting, Action create)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Contains(setting, error.Message);
    }

    private static void AssertState(ServerOptimizerState state, float[] m, float[] v)
    {
        Assert.Equal(2, state.Slots.Length);
        Assert.Equal(m, state.Slots[0]);
        Assert.Equal(v, state.Slots[1]);
    }

    private static void AssertClose(double[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-6, $"value {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static float[] RandomFloats(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
