using AkkaFed.Model.Federation;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>
/// A fifth of the clients send their update flipped and scaled by 4 (<see cref="Attack"/>, as the clients do in a
/// run). The honest updates all point one way, with noise. FedAvg's mean is dragged off that way; the robust
/// aggregators stay on it.
/// </summary>
public sealed class RobustnessTests
{
    private const int Clients = 20;
    private const int Length = 500;
    private static readonly Attack SignFlip = new(AttackKind.SignFlip, Fraction: 0.2, Scale: 4, Seed: 1);
    private static readonly string[] Ids = Enumerable.Range(0, Clients).Select(k => $"client-{k:D5}").ToArray();
    private static readonly int Attackers = Ids.Count(SignFlip.IsAttacker);

    /// <summary>The way every honest client's update points, of norm 1.</summary>
    private static readonly float[] Direction = Normalised(Enumerable.Range(0, Length).Select(i => (float)Math.Sin(i + 1)).ToArray());

    /// <summary>The cosine between the step the strategy takes and <see cref="Direction"/>.</summary>
    private static double Alignment(StrategyOptions options, Attack attack)
    {
        var strategy = Strategies.Create(options.Validate(Clients), 1.0, Clients, ClientWeighting.NumExamples, 1.0,
            new LocalTrainingOptions(), seed: 1);
        var state = new FederatedState(1, new float[Length]);
        var plan = strategy.ConfigureFit(1, Ids);
        using var aggregation = strategy.BeginFit(state, plan.Clients);
        foreach (var id in plan.Clients)
        {
            var random = new Random(StableSeed.Mix(7, 1, id));
            // Per-coordinate noise of sd 0.03, a norm of about 0.67 against the direction's 1.
            var honest = Direction.Select(d => (float)(d + 0.03 * (random.NextDouble() * 2 - 1) * Math.Sqrt(3))).ToArray();
            aggregation.Add(new ClientUpdate(id, attack.Corrupt(honest, id, 1), 100));
        }
        var step = aggregation.Finish(Array.Empty<ClientFailure>(), Clients).Weights;
        return Dot(step, Direction) / Math.Sqrt(Dot(step, step));
    }

    [Fact]
    public void Robust_aggregators_stay_on_course_under_sign_flipping_clients_where_fedavg_does_not()
    {
        Assert.InRange(Attackers, 2, 6);

        double clean = Alignment(new StrategyOptions(), Attack.None);
        double fedAvg = Alignment(new StrategyOptions(), SignFlip);
        double median = Alignment(new StrategyOptions(Aggregator: AggregatorKind.Median), SignFlip);
        double trimmed = Alignment(new StrategyOptions(Aggregator: AggregatorKind.TrimmedMean, TrimmedFraction: 0.3), SignFlip);
        double krum = Alignment(new StrategyOptions(Aggregator: AggregatorKind.Krum, KrumByzantine: Attackers), SignFlip);
        double multiKrum = Alignment(new StrategyOptions(Aggregator: AggregatorKind.MultiKrum, KrumByzantine: Attackers,
            KrumKeep: Clients - 2 * Attackers), SignFlip);

        string all = $"attackers {Attackers}: clean {clean:F3}, fedavg {fedAvg:F3}, median {median:F3}, trimmed {trimmed:F3}, "
            + $"krum {krum:F3}, multi-krum {multiKrum:F3}";
        Assert.True(clean > 0.95, all);
        Assert.True(fedAvg < clean - 0.3, all);
        Assert.All(new[] { median, trimmed, multiKrum }, robust => Assert.True(robust > clean - 0.1, all));
        // Krum keeps a single update, an honest one, whose own noise is not averaged out: 1 / sqrt(1 + 0.45) is 0.83.
        Assert.True(krum > 0.8, all);
    }

    [Fact]
    public void Norm_bounding_caps_what_an_attacker_can_move_the_mean()
    {
        double unbounded = Alignment(new StrategyOptions(), SignFlip);
        double bounded = Alignment(new StrategyOptions(NormBound: 1.2), SignFlip);

        // Bounded at about the honest norm, an attacker's -4x update counts as one flipped update, not four.
        Assert.True(bounded > unbounded + 0.3, $"bounded {bounded:F3}, unbounded {unbounded:F3}");
        Assert.True(bounded > 0.5, $"bounded {bounded:F3}");
    }

    private static double Dot(float[] a, float[] b) => a.Select((x, i) => (double)x * b[i]).Sum();

    private static float[] Normalised(float[] values)
    {
        double norm = Math.Sqrt(Dot(values, values));
        return values.Select(v => (float)(v / norm)).ToArray();
    }
}
