using Akka.Configuration;

namespace AkkaFed.Actors;

/// <summary>The Akka configuration AkkaFed needs on every node.</summary>
public static class AkkaFedConfig
{
    /// <summary>Dispatcher for local training: a fixed set of dedicated threads, one per training worker.</summary>
    public const string TrainingDispatcher = "akkafed.training-dispatcher";

    /// <summary>The training dispatcher sized to <paramref name="workers"/> threads.</summary>
    public static Config Dispatcher(int workers)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workers);
        return ConfigurationFactory.ParseString($$"""
            akkafed.training-dispatcher {
              type = ForkJoinDispatcher
              # One long training message at a time per actor; fairness between clients comes from the queue.
              throughput = 1
              dedicated-thread-pool {
                thread-count = {{workers}}
                threadtype = background
              }
            }
            """);
    }
}
