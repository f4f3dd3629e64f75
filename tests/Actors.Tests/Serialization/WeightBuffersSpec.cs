using Akka.Serialization;
using Akka.TestKit.Xunit2;
using AkkaFed.Actors.Serialization;
using Xunit;
using static AkkaFed.Actors.Protocol.Training;

namespace AkkaFed.Actors.Tests.Serialization;

public sealed class WeightBuffersSpec() : TestKit(FederationSerialization.Config)
{
    // A length no other test uses, so the process-wide pool is this test's own.
    private const int Length = WeightBuffers.MinLength + 4711;

    [Fact]
    public void A_returned_array_is_handed_out_again_once()
    {
        var first = WeightBuffers.Rent(Length);
        WeightBuffers.Return(first);
        WeightBuffers.Return(first); // a second return is ignored

        var again = WeightBuffers.Rent(Length);
        var other = WeightBuffers.Rent(Length);

        Assert.Same(first, again);
        Assert.NotSame(first, other);
        Assert.Equal(Length, other.Length);
    }

    [Fact]
    public void Arrays_it_did_not_hand_out_are_never_taken()
    {
        var shared = new float[Length + 1];
        WeightBuffers.Return(shared);

        Assert.NotSame(shared, WeightBuffers.Rent(Length + 1));
    }

    [Fact]
    public void Deserialized_weights_come_from_the_pool_and_go_back_to_it()
    {
        var weights = Enumerable.Range(0, Length + 2).Select(i => (float)i).ToArray();
        var request = new FitRequest(1, weights, new(), 7);
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(request);
        var bytes = serializer.ToBinary(request);

        var received = (FitRequest)serializer.FromBinary(bytes, serializer.Manifest(request));
        Assert.Equal(weights, received.Weights);
        WeightBuffers.Return(received.Weights);

        var next = (FitRequest)serializer.FromBinary(bytes, serializer.Manifest(request));
        Assert.Same(received.Weights, next.Weights);
        Assert.Equal(weights, next.Weights);
    }
}
