using Xunit;

namespace AkkaFed.Benchmarks.Tests;

[Collection(BenchmarkCollection.Name)]
public sealed class ScaleBenchmarkTests
{
    [Fact]
    public async Task Quick_mode_gives_every_target_a_finite_figure_and_its_goal_and_every_check_holds()
    {
        var output = new StringWriter();

        var report = await ScaleBenchmark.MeasureAsync(ScaleBenchmark.Quick, Enum.GetValues<ScaleTarget>(), output);

        foreach (var target in Enum.GetValues<ScaleTarget>())
        {
            var figures = report.Figures.Where(f => f.Target == target).ToArray();
            Assert.True(figures.Length > 0, $"no figure for {target}");
            Assert.All(figures, f =>
            {
                Assert.True(double.IsFinite(f.Value), $"{f.What}: {f.Value}");
                Assert.False(string.IsNullOrWhiteSpace(f.Goal), f.What);
            });
        }
        Assert.All(report.Checks, check => Assert.True(check.Holds, $"{check.Name}: {check.Detail}"));
        // What quick mode must show whatever the machine's speed, each of it at least once.
        foreach (var invariant in new[]
                 {
                     "clients training at once", "models", "participants equal the selected",
                     "aggregation: the same updates in two orders give identical bits",
                     "serialization: a weight message reads back bit-identical, whole",
                     "serialization: a weight message reads back bit-identical, from its chunks",
                     "resident memory, last round against round 10",
                 })
        {
            Assert.Contains(report.Checks, check => check.Name.EndsWith(invariant, StringComparison.Ordinal));
        }

        var table = new StringWriter();
        Assert.Equal(0, ScaleBenchmark.Print(report, table));
        var rows = table.ToString().Split('\n').Where(line => line.StartsWith("| ", StringComparison.Ordinal)).Skip(2).ToArray();
        Assert.Equal(report.Figures.Count, rows.Length);
        foreach (var name in ScaleBenchmark.Targets.Keys)
        {
            Assert.Contains(rows, row => row.StartsWith($"| {name}: ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void A_broken_check_or_a_figure_that_is_not_a_number_fails_the_run_and_is_named()
    {
        var figure = new ScaleBenchmark.Figure(ScaleTarget.Aggregation, "streaming aggregation", "<= 0.150 s", 0.1, "0.100 s", true);
        var fine = new Check("aggregation: the same updates in two orders give identical bits", true, "4 updates");
        var broken = Check.AtMost("run: clients training at once", 3, 2);
        var output = new StringWriter();

        Assert.Equal(0, ScaleBenchmark.Print(new ScaleBenchmark.Report([figure], [fine]), new StringWriter()));
        Assert.Equal(1, ScaleBenchmark.Print(new ScaleBenchmark.Report([figure], [fine, broken]), output));
        Assert.Contains("BROKEN: run: clients training at once: 3, at most 2", output.ToString());
        Assert.Equal(1, ScaleBenchmark.Print(new ScaleBenchmark.Report([figure with { Value = double.NaN }], [fine]), output));
        Assert.Contains("BROKEN: aggregation: streaming aggregation: the figure: NaN", output.ToString());
    }
}
