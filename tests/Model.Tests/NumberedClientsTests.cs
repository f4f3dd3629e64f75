using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class NumberedClientsTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(9_999)]
    [InlineData(10_001)]
    [InlineData(100_000)]
    [InlineData(123_457)]
    [InlineData(1_000_001)]
    public void The_ordinal_order_is_the_order_of_the_sorted_ids(int count)
    {
        var sorted = Enumerable.Range(0, count).Select(NumberedClients.Id).Order(StringComparer.Ordinal).ToArray();

        var order = NumberedClients.OrdinalOrder(count);

        Assert.Equal(sorted, order.Select(NumberedClients.Id));
        Assert.Equal(sorted, NumberedClients.InOrdinalOrder(order));
    }

    [Fact]
    public void Sampling_the_lazy_list_picks_the_clients_sampling_the_sorted_ids_picks()
    {
        const int count = 150_000;
        var sorted = Enumerable.Range(0, count).Select(NumberedClients.Id).Order(StringComparer.Ordinal).ToArray();
        var lazy = NumberedClients.InOrdinalOrder(NumberedClients.OrdinalOrder(count));

        Assert.Equal(ClientSampling.Select(sorted, 100, seed: 3, round: 7), ClientSampling.Select(lazy, 100, seed: 3, round: 7));
    }

    [Theory]
    [InlineData("client-00000", 0)]
    [InlineData("client-00042", 42)]
    [InlineData("client-99999", 99_999)]
    [InlineData("client-100000", 100_000)]
    [InlineData("client-9999999", 9_999_999)]
    public void An_id_gives_back_its_index(string id, int index)
    {
        Assert.Equal(id, NumberedClients.Id(index));
        Assert.True(NumberedClients.TryIndex(id, out int parsed));
        Assert.Equal(index, parsed);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(99_999)]
    [InlineData(123_456)]
    [InlineData(int.MaxValue)]
    public void An_id_written_into_a_buffer_is_the_id(int index)
    {
        Span<char> buffer = stackalloc char[NumberedClients.MaxLength];

        int length = NumberedClients.Format(index, buffer);

        Assert.Equal(NumberedClients.Id(index), buffer[..length].ToString());
    }

    [Theory]
    [InlineData("client-0042")]
    [InlineData("client-042000")]
    [InlineData("client-")]
    [InlineData("client-1234a")]
    [InlineData("node-00001")]
    [InlineData("client-99999999999")]
    public void Strings_that_are_no_numbered_id_give_no_index(string id)
    {
        Assert.False(NumberedClients.TryIndex(id, out _));
    }
}
