using System.Runtime.CompilerServices;
using AkkaFed.Model.Federation;
using AkkaFed.Model.Privacy;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>A round's aggregation as the server drives it: updates one by one, in arrival order, then Finish.</summary>
public sealed class RoundAggregationTests
{
    private const int Length = 67;
    private const int Seed = 17;

    private static readonly float[] Global = Enumerable.Range(0, Length).Select(i => (float)Math.Sin(i)).ToArray();

    private static IStrategy Strategy(StrategyOptions options, ClientWeighting weighting = ClientWeighting.NumExamples,
        double serverLearningRate = 1.0, int minClients = 2) =>
        Strategies.Create(options.Validate(minClients), 1.0, minClients, weighting, serverLearningRate, new LocalTrainingOptions(), Seed);

    private static ClientUpdate[] Updates(int count, int seed = 1, double magnitude = 0.1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(k => new ClientUpdate($"c{k:D2}",
                Enumerable.Range(0, Length).Select(_ => (float)((random.NextDouble() - 0.5) * magnitude)).ToArray(),
                random.Next(5, 600), Loss: 1, Accuracy: 0.5))
            .ToArray();
    }

    private static string[] Ids(IEnumerable<ClientUpdate> updates) => updates.Select(u => u.ClientId).ToArray();

    private static FederatedState Run(IStrategy strategy, IReadOnlyList<string> selected, IEnumerable<ClientUpdate> arrivals,
        IReadOnlyList<ClientFailure>? failures = null, FederatedState? state = null)
    {
        using var aggregation = strategy.BeginFit(state ?? new FederatedState(3, Global), selected);
        foreach (var update in arrivals)
        {
            aggregation.Add(update);
        }
        return aggregation.Finish(failures ?? Array.Empty<ClientFailure>(), available: 100);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    public static TheoryData<string, AggregatorKind, double> Compositions => new()
    {
        { "fedavg", AggregatorKind.Mean, 0 },
        { "fedavg", AggregatorKind.Mean, 0.05 },
        { "fedadam", AggregatorKind.Mean, 0 },
        { "fedavg", AggregatorKind.Median, 0 },
        { "fedavg", AggregatorKind.TrimmedMean, 0 },
        { "fedavg", AggregatorKind.Krum, 0 },
        { "fedavgm", AggregatorKind.MultiKrum, 0.05 },
    };

    [Theory]
    [MemberData(nameof(Compositions))]
    public void Any_arrival_order_gives_the_same_next_model_to_the_last_bit(string name, AggregatorKind aggregator, double normBound)
    {
        var strategy = Strategy(new StrategyOptions(name, ServerMomentum: name == "fedavgm" ? 0.9 : 0, Aggregator: aggregator,
            KrumByzantine: 1, KrumKeep: 5, NormBound: normBound), minClients: 9);
        var updates = Updates(9);
        var selected = Ids(updates);

        var inOrder = Run(strategy, selected, updates);

        for (int seed = 0; seed < 4; seed++)
        {
            var arrivals = updates.ToArray();
            new Random(seed).Shuffle(arrivals);
            var next = Run(strategy, selected, arrivals);
            Assert.Equal(Bits(inOrder.Weights), Bits(next.Weights));
            Assert.Equal(4, next.Round);
        }
    }

    [Fact]
    public void The_mean_keeps_no_delta_and_the_robust_aggregators_keep_every_one()
    {
        var updates = Updates(6);
        using var mean = Strategy(new StrategyOptions()).BeginFit(new FederatedState(1, Global), Ids(updates));
        using var median = Strategy(new StrategyOptions(Aggregator: AggregatorKind.Median)).BeginFit(new FederatedState(1, Global), Ids(updates));
        using var dp = Strategy(new StrategyOptions(Privacy: new PrivacyOptions(ClipNorm: 1))).BeginFit(new FederatedState(1, Global), Ids(updates));

        foreach (var update in updates)
        {
            mean.Add(update);
            median.Add(update);
            dp.Add(update);
        }

        Assert.Equal((6, 0), (mean.Count, mean.RetainedDeltas));
        Assert.Equal((6, 6), (median.Count, median.RetainedDeltas));
        Assert.Equal((6, 0), (dp.Count, dp.RetainedDeltas));
    }

    [Fact]
    public void The_streaming_mean_lets_each_delta_go_as_soon_as_it_is_added()
    {
        var selected = new[] { "a", "b" };
        using var mean = Strategy(new StrategyOptions()).BeginFit(new FederatedState(1, Global), selected);
        using var median = Strategy(new StrategyOptions(Aggregator: AggregatorKind.Median)).BeginFit(new FederatedState(1, Global), selected);

        var dropped = AddAndForget(mean, "a");
        var kept = AddAndForget(median, "a");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(dropped.TryGetTarget(out _), "the mean still holds a delta");
        Assert.True(kept.TryGetTarget(out _), "the median must hold its deltas until Finish");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<float[]> AddAndForget(IRoundAggregation aggregation, string clientId)
    {
        var delta = Enumerable.Repeat(0.5f, Length).ToArray();
        aggregation.Add(new ClientUpdate(clientId, delta, 10));
        return new WeakReference<float[]>(delta);
    }

    [Theory]
    [InlineData(ClientWeighting.NumExamples)]
    [InlineData(ClientWeighting.Uniform)]
    public void The_mean_is_the_weighted_mean_of_the_deltas_within_float_precision(ClientWeighting weighting)
    {
        var updates = Updates(12, magnitude: 0.02);

        var next = Run(Strategy(new StrategyOptions(), weighting), Ids(updates), updates);

        var weights = updates.Select(u => weighting == ClientWeighting.Uniform ? 1.0 : u.Examples).ToArray();
        for (int i = 0; i < Length; i++)
        {
            double mean = updates.Select((u, k) => u.Delta.Values![i] * weights[k]).Sum() / weights.Sum();
            Assert.Equal(Global[i] + mean, next.Weights[i], 1e-6);
        }
    }

    [Fact]
    public void An_update_the_aggregator_refuses_changes_nothing()
    {
        var strategy = Strategy(new StrategyOptions());
        var updates = Updates(3);
        var huge = new ClientUpdate("huge", Enumerable.Repeat(1e6f, Length).ToArray(), 500);
        using var aggregation = strategy.BeginFit(new FederatedState(3, Global), Ids(updates).Append("huge").ToArray());
        aggregation.Add(updates[0]);
        aggregation.Add(updates[1]);

        Assert.Throws<ArgumentException>(() => aggregation.Add(huge));
        Assert.Throws<ArgumentException>(() => aggregation.Add(new ClientUpdate("short", new float[Length - 1], 5)));
        aggregation.Add(updates[2]);

        Assert.Equal(3, aggregation.Count);
        var without = Run(strategy, Ids(updates), updates);
        Assert.Equal(Bits(without.Weights), Bits(aggregation.Finish(Array.Empty<ClientFailure>(), 100).Weights));
    }

    [Fact]
    public void Finishing_a_round_without_updates_is_refused()
    {
        using var aggregation = Strategy(new StrategyOptions()).BeginFit(new FederatedState(1, Global), new[] { "a" });

        Assert.Throws<InvalidOperationException>(() => aggregation.Finish(new[] { new ClientFailure("a", "gone") }, 1));
    }

    [Fact]
    public void Dp_fedavg_clips_each_update_and_divides_the_sum_by_every_client_selected()
    {
        // Norms 5 and 0.5, clipped to 1; two more selected clients failed: the sum is divided by 4, not 2.
        var privacy = new PrivacyOptions(ClipNorm: 1, NoiseMultiplier: 0);
        var state = new FederatedState(1, new float[2]);
        var updates = new[] { new ClientUpdate("a", new[] { 3f, 4f }, 10), new ClientUpdate("b", new[] { 0f, 0.5f }, 990) };
        var failures = new[] { new ClientFailure("c", "timeout"), new ClientFailure("d", "boom") };

        var next = Run(Strategy(new StrategyOptions(Privacy: privacy)), new[] { "a", "b", "c", "d" }, updates, failures, state);

        // ([0.6, 0.8] + [0, 0.5]) / 4, unweighted by examples.
        Assert.Equal(0.15f, next.Weights[0], 1e-7f);
        Assert.Equal(0.325f, next.Weights[1], 1e-7f);
        Assert.Equal(1.0, next.Privacy!.ClipNorm);
        Assert.Equal(0, next.Privacy.Ledger.Rounds);
    }

    [Fact]
    public void Dp_fedavg_streams_to_the_double_sum_noise_and_adaptive_clip_norm_of_the_batch_computation()
    {
        // The semantics before streaming: clip each update, sum in double in selection order, add the seeded noise
        // pairs, divide by the clients selected; the clip norm learns from the norms of the unclipped updates.
        var privacy = new PrivacyOptions(ClipNorm: 0.3, NoiseMultiplier: 1.1, Adaptive: true, TargetQuantile: 0.5, ClipLearningRate: 0.2);
        var strategy = Strategy(new StrategyOptions(Privacy: privacy));
        var updates = Updates(7, magnitude: 0.15);
        var failures = new[] { new ClientFailure("late", "no answer by the deadline") };
        var arrivals = updates.Reverse().ToArray();

        var next = Run(strategy, Ids(updates).Append("late").ToArray(), arrivals, failures);

        int selected = updates.Length + failures.Length;
        var clipped = updates.Select(u => DifferentialPrivacy.Clip(u.Delta.ToFloats(), 0.3)).ToArray();
        var random = new Random(StableSeed.Mix(Seed, 3, "dp-noise"));
        double stddev = 1.1 * 0.3;
        for (int i = 0; i < Length; i += 2)
        {
            var (first, second) = DifferentialPrivacy.NextGaussianPair(random);
            for (int j = i; j < Math.Min(i + 2, Length); j++)
            {
                double sum = clipped.Sum(c => (double)c[j]);
                double expected = Global[j] + (float)((sum + stddev * (j == i ? first : second)) / selected);
                Assert.Equal(expected, next.Weights[j], 1e-6);
            }
        }
        var norms = updates.Select(u => DifferentialPrivacy.L2Norm(u.Delta.ToFloats())).ToArray();
        double clipNorm = new AdaptiveClipping(0.3, 0.5, 0.2, 0).Update(norms, new Random(StableSeed.Mix(Seed, 3, "dp-clip")), selected).ClipNorm;
        Assert.Equal(clipNorm, next.Privacy!.ClipNorm);
        Assert.Equal(1, next.Privacy.Ledger.Rounds);
    }
}
