using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

/// <summary>Tests that touch torch's process-wide state run alone: a training test beside them would see it change.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalsCollection
{
    public const string Name = "torch's process-wide state";
}

[Collection(TorchGlobalsCollection.Name)]
public sealed class TorchGlobalsTests
{
    [Theory]
    [InlineData(ModelKind.Cnn)]
    [InlineData(ModelKind.McMahanCnn)]
    [InlineData(ModelKind.TwoNN)]
    public void Initial_weights_are_bit_for_bit_those_of_seeding_the_global_generator_and_building_the_model(ModelKind kind)
    {
        TorchSharp.torch.random.manual_seed(42);
        using var built = Architectures.Create(kind);

        Assert.Equal(FlatWeights.Read(built), InitialWeights.Create(kind, 42));
    }

    [Fact]
    public void Leases_on_one_count_share_it_and_a_lease_on_another_count_is_refused_while_one_is_held()
    {
        using (var first = TorchThreads.Acquire(1))
        using (var second = TorchThreads.Acquire(1))
        {
            Assert.Equal(1, TorchSharp.torch.get_num_threads());
            var error = Assert.Throws<InvalidOperationException>(() => TorchThreads.Acquire(2));
            Assert.Contains("process-wide", error.Message);
            Assert.Equal(1, TorchSharp.torch.get_num_threads());
        }
        using (TorchThreads.Acquire(2))
        {
            Assert.Equal(2, TorchSharp.torch.get_num_threads());
        }
    }
}
