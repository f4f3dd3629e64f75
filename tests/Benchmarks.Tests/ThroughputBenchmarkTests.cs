using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace AkkaFed.Benchmarks.Tests;

[Collection(BenchmarkCollection.Name)]
public sealed class ThroughputBenchmarkTests
{
    [Fact]
    public async Task Quick_mode_gives_a_finite_positive_ratio_and_every_round_trains_all_its_clients_within_the_pool()
    {
        var output = new StringWriter();

        int exit = await ThroughputBenchmark.RunAsync(ThroughputBenchmark.Quick, output);

        string text = output.ToString();
        Assert.True(exit == 0, text);
        var ratio = Regex.Match(text, @"ratio simulation / centralized: (\S+) ");
        Assert.True(ratio.Success, text);
        double value = double.Parse(ratio.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(double.IsFinite(value) && value > 0, $"ratio {value}");
        // Each of the warm-up and measured rounds: succeeded, selected as many as asked, all of them took part;
        // then the pool's three bounds and the ratio.
        int expected = (1 + ThroughputBenchmark.Quick.Rounds) * 3 + 3 + 1;
        Assert.Contains($"checks: {expected} of {expected} hold", text);
    }
}
