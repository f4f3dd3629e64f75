using Akka.Actor;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Serialization;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Serialization;

public sealed class WeightBuffersSpec() : TestKit(FederationSerialization.Config)
{
    private const int Length = WeightBuffers.MinLength + 4711;

    private WeightBuffers Pool => WeightBuffers.Get(Sys);

    [Fact]
    public void A_returned_array_is_handed_out_again_once()
    {
        var first = Pool.Rent(Length);
        Pool.Return(first);
        Pool.Return(first); // a second return is ignored

        var again = Pool.Rent(Length);
        var other = Pool.Rent(Length);

        Assert.Same(first, again);
        Assert.NotSame(first, other);
        Assert.Equal(Length, other.Length);
    }

    [Fact]
    public void Arrays_it_did_not_hand_out_are_never_taken()
    {
        var shared = new float[Length + 1];
        Pool.Return(shared);

        Assert.NotSame(shared, Pool.Rent(Length + 1));
    }

    [Fact]
    public void Deserialized_weights_come_from_the_pool_and_go_back_to_it()
    {
        var weights = Enumerable.Range(0, Length + 2).Select(i => (float)i).ToArray();
        var request = new FitRequest(1, weights, new(), 7);
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(request);
        var bytes = serializer.ToBinary(request);

        var received = (FitRequest)serializer.FromBinary(bytes, serializer.Manifest(request));
        Assert.Equal(weights, received.Weights.ToFloats());
        Pool.Return(received.Weights.Values);

        var next = (FitRequest)serializer.FromBinary(bytes, serializer.Manifest(request));
        Assert.Same(received.Weights.Values, next.Weights.Values);
        Assert.Equal(weights, next.Weights.ToFloats());
    }

    [Fact]
    public void Two_actor_systems_in_one_process_have_separate_pools()
    {
        using var other = ActorSystem.Create("other", FederationSerialization.Config);
        var theirs = WeightBuffers.Get(other);
        Assert.Same(theirs, WeightBuffers.Get(other));
        Assert.NotSame(Pool, theirs);

        // Each takes back only what it handed out, and hands out only what was returned to it.
        var mine = Pool.Rent(Length + 3);
        theirs.Return(mine);
        Assert.NotSame(mine, theirs.Rent(Length + 3));
        Pool.Return(mine);
        Assert.Same(mine, Pool.Rent(Length + 3));

        // Their serializer rents from their pool, not from this system's.
        var request = new FitRequest(1, new float[Length + 5], new(), 7);
        var serializer = (SerializerWithStringManifest)other.Serialization.FindSerializerFor(request);
        var received = (FitRequest)serializer.FromBinary(serializer.ToBinary(request), serializer.Manifest(request));
        Pool.Return(received.Weights.Values);
        Assert.NotSame(received.Weights.Values, Pool.Rent(Length + 5));
        theirs.Return(received.Weights.Values);
        Assert.Same(received.Weights.Values, theirs.Rent(Length + 5));
    }

    /// <summary>A pool that keeps at most 8 MiB, and arrays of about 1 MiB: the bound is reached within a few.</summary>
    private static ActorSystem Bounded() => ActorSystem.Create("bounded", "akkafed.transport.max-pooled-bytes = 8MiB");

    private const int Mebi = 256 * 1024;

    [Fact]
    public void After_many_distinct_lengths_the_pool_keeps_at_most_its_bound_and_lets_the_least_recently_used_go()
    {
        using var system = Bounded();
        var pool = WeightBuffers.Get(system);
        var arrays = Enumerable.Range(0, 40).Select(i => pool.Rent(Mebi + i)).ToList();
        foreach (var array in arrays)
        {
            pool.Return(array);
        }

        var kept = arrays.Where(array => ReferenceEquals(array, pool.Rent(array.Length))).ToList();

        Assert.InRange(kept.Sum(array => array.Length * 4L), 1, 8L << 20);
        Assert.Contains(arrays[^1], kept);
        Assert.DoesNotContain(arrays[0], kept);
    }

    [Fact]
    public void The_arrays_of_a_model_in_use_are_reused_while_one_off_lengths_come_and_go()
    {
        using var system = Bounded();
        var pool = WeightBuffers.Get(system);
        var model = Enumerable.Range(0, 4).Select(_ => pool.Rent(Mebi)).ToList();

        for (int round = 0; round < 20; round++)
        {
            model.ForEach(pool.Return);
            var oneOff = pool.Rent(Mebi + 1 + round);
            pool.Return(oneOff);
            var again = Enumerable.Range(0, 4).Select(_ => pool.Rent(Mebi)).ToList();
            Assert.Equal(model.ToHashSet(ReferenceEqualityComparer.Instance), again.ToHashSet(ReferenceEqualityComparer.Instance));
        }
    }

    [Fact]
    public void A_negative_bound_is_refused_naming_the_setting()
    {
        var e = Assert.ThrowsAny<Exception>(() =>
        {
            using var system = ActorSystem.Create("negative", "akkafed.transport.max-pooled-bytes = -1");
            WeightBuffers.Get(system);
        });

        Assert.Contains("akkafed.transport.max-pooled-bytes must be at least 0, got -1", e.GetBaseException().Message);
    }
}
