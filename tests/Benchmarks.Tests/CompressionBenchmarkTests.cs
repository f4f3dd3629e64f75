using Xunit;

namespace AkkaFed.Benchmarks.Tests;

[Collection(BenchmarkCollection.Name)]
public sealed class CompressionBenchmarkTests
{
    [Fact]
    public async Task Quick_mode_runs_every_compression_and_holds_the_byte_targets()
    {
        var output = new StringWriter();

        int exit = await CompressionBenchmark.RunAsync(CompressionBenchmark.Quick, rounds: 2, quick: true, output);

        string text = output.ToString();
        Assert.True(exit == 0, text);
        foreach (var variant in CompressionBenchmark.Variants)
        {
            Assert.Contains($"  {variant.Name}", text);
        }
        // The share of each variant with a byte target, and that every run succeeded: no accuracy target in quick mode.
        int expected = CompressionBenchmark.Variants.Count(v => v.MaxShare is not null) + CompressionBenchmark.Variants.Count;
        Assert.Contains($"checks: {expected} of {expected} hold", text);
    }
}
