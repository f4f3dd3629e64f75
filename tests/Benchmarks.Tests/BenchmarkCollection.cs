using Xunit;

namespace AkkaFed.Benchmarks.Tests;

/// <summary>
/// The benchmark tests run one at a time: the centralized floor sets torch's process-wide thread count to each of two
/// values in turn (<c>TorchThreads.Acquire</c>), which is refused while another run in the process holds a different one.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BenchmarkCollection
{
    public const string Name = "benchmarks, one at a time";
}
