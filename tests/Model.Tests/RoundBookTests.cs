using AkkaFed.Model.Federation;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class RoundBookTests
{
    private static ClientUpdate Update(string id, float value = 1f, int examples = 10) => new(id, new[] { value, value }, examples, 0.5, 0.25);

    [Fact]
    public void Completes_when_every_selected_client_answered()
    {
        var book = RoundBook.Open(3, new[] { "a", "b" }, expectedLength: 2);

        (book, var first) = book.Apply(3, Update("a"));
        Assert.False(book.IsComplete);
        (book, _) = book.ApplyFailure(3, "b", "boom");

        Assert.Equal(Verdict.Accepted, first);
        Assert.True(book.IsComplete);
        Assert.Equal(0, book.Missing);
        Assert.Single(book.Failures);
    }

    [Fact]
    public void Late_duplicate_unknown_and_malformed_updates_are_counted_not_kept()
    {
        var book = RoundBook.Open(3, new[] { "a", "b", "c" }, expectedLength: 2);

        var verdicts = new List<Verdict>();
        foreach (var (round, update) in new[]
                 {
                     (2, Update("a")),
                     (3, Update("a")),
                     (3, Update("a", value: 9f, examples: 99)),
                     (3, Update("stranger")),
                     (3, new ClientUpdate("b", new[] { 1f }, 10)),
                     (3, Update("c", value: float.PositiveInfinity)),
                     (3, Update("c", examples: 0)),
                 })
        {
            (book, var verdict) = book.Apply(round, update);
            verdicts.Add(verdict);
        }

        Assert.Equal(new[] { Verdict.Late, Verdict.Accepted, Verdict.Duplicate, Verdict.Rejected, Verdict.Rejected, Verdict.Rejected, Verdict.Duplicate }, verdicts);
        Assert.Equal(1, book.Late);
        Assert.Equal(2, book.Duplicates);
        Assert.Equal(3, book.Rejected);
        // The first update of "a" stands; the duplicate changed nothing.
        Assert.Equal(10, Assert.Single(book.AcceptedInOrder).Examples);
        // A selected client's rejected update is its answer (a stranger's is nobody's): the round waits for no one.
        Assert.Equal(new[] { "b", "c" }, book.RejectedClients.Order(StringComparer.Ordinal));
        Assert.Equal(0, book.Missing);
        Assert.True(book.IsComplete);
    }

    [Fact]
    public void Updates_come_out_in_selection_order_whatever_the_arrival_order()
    {
        var book = RoundBook.Open(1, new[] { "z", "a", "m" }, expectedLength: 2);

        foreach (var id in new[] { "m", "z", "a" })
        {
            (book, _) = book.Apply(1, Update(id));
        }

        Assert.Equal(new[] { "z", "a", "m" }, book.AcceptedInOrder.Select(u => u.ClientId));
    }

    [Fact]
    public void Training_metrics_are_the_same_to_the_last_bit_whatever_the_arrival_order()
    {
        var selected = Enumerable.Range(0, 30).Select(i => $"c{i}").ToArray();
        var updates = selected.Select((id, i) => new ClientUpdate(id, new[] { 0f }, 7 + i * 13, Loss: 0.1 * (i + 1) / 3, Accuracy: 1.0 / (i + 3)))
            .ToArray();

        (double, double) MetricsAfter(IEnumerable<ClientUpdate> arrivals)
        {
            var book = RoundBook.Open(1, selected, expectedLength: 1);
            foreach (var update in arrivals)
            {
                (book, _) = book.Apply(1, update);
            }
            return book.TrainingMetrics();
        }

        var inOrder = MetricsAfter(updates);
        var reversed = MetricsAfter(updates.Reverse());
        var shuffled = updates.ToArray();
        new Random(4).Shuffle(shuffled);

        Assert.Equal(inOrder, reversed);
        Assert.Equal(inOrder, MetricsAfter(shuffled));
    }

    [Fact]
    public void Training_metrics_are_weighted_by_examples()
    {
        var book = RoundBook.Open(1, new[] { "a", "b" }, expectedLength: 1);
        (book, _) = book.Apply(1, new ClientUpdate("a", new[] { 0f }, 10, Loss: 1.0, Accuracy: 0.0));
        (book, _) = book.Apply(1, new ClientUpdate("b", new[] { 0f }, 30, Loss: 3.0, Accuracy: 1.0));

        var (loss, accuracy) = book.TrainingMetrics();

        Assert.Equal(2.5, loss, 10);
        Assert.Equal(0.75, accuracy, 10);
    }
}
