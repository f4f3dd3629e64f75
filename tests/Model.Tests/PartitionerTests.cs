using AkkaFed.Model.Data;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class PartitionerTests
{
    // 1,000 samples, 100 of each of 10 labels, interleaved as in a shuffled dataset.
    private static readonly byte[] s_labels = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7 % 10)).ToArray();

    public static TheoryData<PartitionKind> AllKinds => new()
    {
        PartitionKind.Contiguous, PartitionKind.Iid, PartitionKind.Pathological, PartitionKind.Dirichlet,
    };

    public static TheoryData<PartitionKind> SeededKinds => new()
    {
        PartitionKind.Iid, PartitionKind.Pathological, PartitionKind.Dirichlet,
    };

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void SameSeedGivesSamePartition(PartitionKind kind)
    {
        // Prepare
        int[][] first = Partitioner.Split(kind, s_labels, clients: 10, samplesPerClient: 50, seed: 42);

        // Execute
        int[][] second = Partitioner.Split(kind, s_labels, clients: 10, samplesPerClient: 50, seed: 42);

        // Assert
        Assert.Equal(first, second);
    }

    [Theory]
    [MemberData(nameof(SeededKinds))]
    public void OtherSeedGivesOtherPartition(PartitionKind kind)
    {
        // Prepare
        int[][] first = Partitioner.Split(kind, s_labels, clients: 10, samplesPerClient: 50, seed: 42);

        // Execute
        int[][] second = Partitioner.Split(kind, s_labels, clients: 10, samplesPerClient: 50, seed: 43);

        // Assert
        Assert.NotEqual(first, second);
    }

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void ClientsAreDisjointAndInRange(PartitionKind kind)
    {
        // Execute
        int[][] parts = Partitioner.Split(kind, s_labels, clients: 10, samplesPerClient: 50, seed: 1);

        // Assert
        Assert.Equal(10, parts.Length);
        int[] all = parts.SelectMany(part => part).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());
        Assert.All(all, index => Assert.InRange(index, 0, s_labels.Length - 1));
    }

    [Theory]
    [InlineData(PartitionKind.Iid)]
    [InlineData(PartitionKind.Pathological)]
    [InlineData(PartitionKind.Dirichlet)]
    public void EverySampleIsHandedOutWhenNoSizeIsGiven(PartitionKind kind)
    {
        // Execute
        int[][] parts = Partitioner.Split(kind, s_labels, clients: 10, samplesPerClient: 0, seed: 5);

        // Assert
        Assert.Equal(Enumerable.Range(0, s_labels.Length), parts.SelectMany(part => part).Order());
    }

    [Fact]
    public void ContiguousGivesTheTutorialChunks()
    {
        // Execute
        int[][] parts = Partitioner.Contiguous(count: 100, clients: 3, samplesPerClient: 20);

        // Assert
        Assert.Equal(Enumerable.Range(0, 20), parts[0]);
        Assert.Equal(Enumerable.Range(20, 20), parts[1]);
        Assert.Equal(Enumerable.Range(40, 20), parts[2]);
    }

    [Fact]
    public void ContiguousWithoutSizeSplitsEvenly()
    {
        // Execute
        int[][] parts = Partitioner.Contiguous(count: 103, clients: 4, samplesPerClient: 0);

        // Assert
        Assert.All(parts, part => Assert.Equal(25, part.Length));
        Assert.Equal(Enumerable.Range(75, 25), parts[3]);
    }

    [Fact]
    public void IidGivesEachClientTheRequestedCountInShuffledOrder()
    {
        // Execute
        int[][] parts = Partitioner.Iid(count: 1000, clients: 7, samplesPerClient: 30, seed: 3);

        // Assert
        Assert.All(parts, part => Assert.Equal(30, part.Length));
        Assert.NotEqual(Enumerable.Range(0, 30), parts[0]);
    }

    [Fact]
    public void IidClientsSeeEveryLabel()
    {
        // Execute
        int[][] parts = Partitioner.Iid(count: s_labels.Length, clients: 5, samplesPerClient: 0, seed: 3);

        // Assert: 200 random samples out of 10 balanced labels miss one with probability ~1e-8.
        Assert.All(parts, part => Assert.Equal(10, part.Select(i => s_labels[i]).Distinct().Count()));
    }

    [Fact]
    public void PathologicalClientsHoldAtMostTwoLabelsWhenShardsArePure()
    {
        // Prepare: 20 shards of 50; each label's 100 samples make exactly two shards.

        // Execute
        int[][] parts = Partitioner.Pathological(s_labels, clients: 10, shardsPerClient: 2, seed: 9);

        // Assert
        Assert.All(parts, part => Assert.Equal(100, part.Length));
        Assert.All(parts, part => Assert.InRange(part.Select(i => s_labels[i]).Distinct().Count(), 1, 2));
        Assert.Contains(parts, part => part.Select(i => s_labels[i]).Distinct().Count() == 2);
    }

    [Fact]
    public void PathologicalHandsOutUnevenCountsWholly()
    {
        // Prepare: 1,003 samples do not divide into 30 shards.
        byte[] labels = Enumerable.Range(0, 1003).Select(i => (byte)(i % 10)).ToArray();

        // Execute
        int[][] parts = Partitioner.Pathological(labels, clients: 10, shardsPerClient: 3, seed: 9);

        // Assert
        Assert.Equal(Enumerable.Range(0, 1003), parts.SelectMany(part => part).Order());
        Assert.All(parts, part => Assert.InRange(part.Length, 99, 102));
    }

    [Fact]
    public void DirichletWithSmallAlphaIsSkewed()
    {
        // Execute
        int[][] parts = Partitioner.Dirichlet(s_labels, clients: 10, alpha: 0.05, seed: 11);

        // Assert: on average a client's most common label makes up most of its data (0.1 if uniform).
        double meanTopShare = parts.Average(TopLabelShare);
        Assert.True(meanTopShare > 0.6, $"mean share of a client's top label is {meanTopShare:F2}");
    }

    [Fact]
    public void DirichletWithHugeAlphaIsNearUniform()
    {
        // Execute
        int[][] parts = Partitioner.Dirichlet(s_labels, clients: 10, alpha: 10_000, seed: 11);

        // Assert: every client gets about 10 of each label's 100 samples.
        Assert.All(parts, part => Assert.InRange(part.Length, 95, 105));
        Assert.All(parts, part => Assert.True(TopLabelShare(part) < 0.13, $"top label share {TopLabelShare(part):F2}"));
    }

    [Fact]
    public void DirichletLeavesNoClientBelowTheMinimum()
    {
        // Prepare: tiny alpha and many clients leave some clients with no samples before the top-up.
        byte[] labels = s_labels[..200];

        // Execute
        int[][] parts = Partitioner.Dirichlet(labels, clients: 50, alpha: 0.001, seed: 2, minSamples: 3);

        // Assert
        Assert.All(parts, part => Assert.True(part.Length >= 3, $"a client holds {part.Length} samples"));
        Assert.Equal(Enumerable.Range(0, 200), parts.SelectMany(part => part).Order());
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(1.0)]
    [InlineData(4.0)]
    public void GammaDrawsHaveTheRightMeanAndVariance(double shape)
    {
        // Prepare
        var random = new Random(17);

        // Execute
        double[] draws = Enumerable.Range(0, 200_000).Select(_ => Math.Exp(Partitioner.LogGamma(random, shape))).ToArray();

        // Assert: Gamma(k, 1) has mean k and variance k.
        double mean = draws.Average();
        double variance = draws.Select(x => (x - mean) * (x - mean)).Average();
        Assert.InRange(mean, shape * 0.98, shape * 1.02);
        Assert.InRange(variance, shape * 0.95, shape * 1.05);
    }

    [Fact]
    public void DirichletDrawSumsToOneEvenForTinyAlpha()
    {
        // Prepare
        var random = new Random(5);

        // Execute
        double[] proportions = Partitioner.SampleDirichlet(random, 1e-4, 20);

        // Assert
        Assert.All(proportions, p => Assert.True(double.IsFinite(p) && p >= 0));
        Assert.Equal(1.0, proportions.Sum(), 1e-12);
    }

    [Fact]
    public void SplitDispatchesOnTheKind()
    {
        // Execute
        int[][] viaSplit = Partitioner.Split(PartitionKind.Pathological, s_labels, 10, 0, seed: 4, shardsPerClient: 3);

        // Assert
        Assert.Equal(Partitioner.Pathological(s_labels, 10, 3, seed: 4), viaSplit);
    }

    public static TheoryData<string, Action> InvalidArguments => new()
    {
        { "clients", () => Partitioner.Contiguous(100, 0, 10) },
        { "samplesPerClient", () => Partitioner.Contiguous(100, 5, 21) },
        { "samplesPerClient", () => Partitioner.Iid(100, 5, -1, 0) },
        { "clients", () => Partitioner.Iid(3, 5, 0, 0) },
        { "count", () => Partitioner.Iid(-1, 5, 0, 0) },
        { "shardsPerClient", () => Partitioner.Pathological(s_labels, 10, 0, 0) },
        { "shardsPerClient", () => Partitioner.Pathological(s_labels, 100, 11, 0) },
        { "labels", () => Partitioner.Pathological(null!, 10, 2, 0) },
        { "alpha", () => Partitioner.Dirichlet(s_labels, 10, 0, 0) },
        { "alpha", () => Partitioner.Dirichlet(s_labels, 10, double.NaN, 0) },
        { "clients", () => Partitioner.Dirichlet(s_labels, 501, 0.5, 0, minSamples: 2) },
        { "minSamples", () => Partitioner.Dirichlet(s_labels, 10, 0.5, 0, minSamples: -1) },
        { "kind", () => Partitioner.Split((PartitionKind)99, s_labels, 10, 0, 0) },
    };

    [Theory]
    [MemberData(nameof(InvalidArguments))]
    public void InvalidArgumentsNameTheArgument(string argument, Action call)
    {
        // Execute
        var error = Assert.ThrowsAny<ArgumentException>(call);

        // Assert
        Assert.Equal(argument, error.ParamName);
    }

    private static double TopLabelShare(int[] part)
    {
        return part.GroupBy(i => s_labels[i]).Max(group => group.Count()) / (double)part.Length;
    }
}
