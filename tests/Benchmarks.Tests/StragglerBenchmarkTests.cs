using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace AkkaFed.Benchmarks.Tests;

[Collection(BenchmarkCollection.Name)]
public sealed class StragglerBenchmarkTests
{
    [Fact]
    public async Task Quick_mode_leaves_the_slow_devices_untrained_and_prints_the_ratio()
    {
        var output = new StringWriter();

        int exit = await StragglerBenchmark.RunAsync(StragglerBenchmark.Quick, output);

        string text = output.ToString();
        Assert.True(exit == 0, text);
        var ratio = Regex.Match(text, @"ratio wall time per round, 30% slow / none slow: (\S+) ");
        Assert.True(ratio.Success, text);
        Assert.True(double.Parse(ratio.Groups[1].Value, CultureInfo.InvariantCulture) > 0, text);
        // Warm-up and measured rounds: two checks each (none slow, some slow), then the untrained stragglers and the ratio.
        int expected = (1 + StragglerBenchmark.Quick.Rounds) * 2 + 2;
        Assert.Contains($"checks: {expected} of {expected} hold", text);
    }
}
