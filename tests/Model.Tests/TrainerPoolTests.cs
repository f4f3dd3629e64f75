using AkkaFed.Model.Models;
using AkkaFed.Model.Learning;
using Xunit;

namespace AkkaFed.Model.Tests;

public sealed class TrainerPoolTests
{
    [Fact]
    public void Counters_see_clients_that_train_at_once_and_one_model_per_thread()
    {
        var counters = new TrainerPoolCounters();
        using var pool = new TrainerPool(ModelKind.TwoNN, torchThreads: 1, counters);
        using var together = new Barrier(2);

        // Two threads inside Run at the same time: each waits there until the other has arrived.
        var met = new bool[2];
        var threads = Enumerable.Range(0, 2)
            .Select(k => new Thread(() => met[k] = pool.Run(_ => together.SignalAndWait(TimeSpan.FromMinutes(1)))))
            .ToArray();
        Array.ForEach(threads, thread => thread.Start());
        Assert.All(threads, thread => Assert.True(thread.Join(TimeSpan.FromMinutes(2)), "a training thread did not finish"));
        Assert.Equal([true, true], met);
        pool.Run(trainer => trainer.ParameterCount);
        pool.Run(trainer => trainer.ParameterCount);

        Assert.Equal(2, counters.PeakConcurrency);
        Assert.Equal(3, counters.ModelCount);
        Assert.Equal(3, counters.BusySeconds().Count);
    }
}
