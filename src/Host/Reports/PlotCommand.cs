using System.CommandLine;
using AkkaFed.Model;

namespace AkkaFed.Host.Reports;

/// <summary>
/// <c>akkafed plot DIR... [--output FILE.png]</c>: one PNG of the runs' metrics.csv, one line per run.
/// The PNG goes to DIR/plot.png for one run, and to ./comparison.png for several, unless --output says where.
/// </summary>
public static class PlotCommand
{
    public static Command Create()
    {
        var folders = new Argument<string[]>("DIR")
        {
            Description = "run folders (a run's --output), each with a metrics.csv",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var output = new Option<string?>("--output")
        {
            Description = "the PNG to write (default: DIR/plot.png for one run, ./comparison.png for several)",
        };
        var command = new Command("plot", "Plot test accuracy, loss, participants and stragglers per round of one or more runs into one PNG.")
        {
            folders, output,
        };
        command.SetAction(parse => Run(parse.GetValue(folders) ?? [], parse.GetValue(output), Console.Out, Console.Error));
        return command;
    }

    /// <returns>0 when the PNG is written; 2 for bad usage (no DIR, a DIR that is not a run folder, an output that is not .png); 1 for a malformed metrics.csv.</returns>
    public static int Run(IReadOnlyList<string> folders, string? output, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (folders.Count == 0)
            {
                throw new SettingsException("DIR", "name at least one run folder to plot (a run's --output, with its metrics.csv)");
            }
            string path = output ?? (folders.Count == 1 ? Path.Combine(folders[0], "plot.png") : "comparison.png");
            if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            {
                throw new SettingsException("--output", $"'{path}' does not end in .png: the plot is a PNG");
            }
            var runs = folders.Select(MetricsCsv.ReadFolder).ToList();
            RunPlot.Write(runs, path);
            stdout.WriteLine($"plot: {path} ({string.Join(", ", runs.Select(r => $"{r.Name}: {r.RowCount} rounds"))})");
            return 0;
        }
        catch (SettingsException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
