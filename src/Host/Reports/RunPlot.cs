using ScottPlot;

namespace AkkaFed.Host.Reports;

/// <summary>
/// One PNG of one or more runs' metrics.csv: test accuracy and loss per round (and against simulated time when
/// the runs have it), participants and stragglers per round. One line per run, named by its folder.
/// </summary>
public static class RunPlot
{
    public const int Width = 1200;
    public const int Height = 900;

    // A sans-serif face where one is installed; else the system's default (text still renders, or is left out
    // on a machine with no fonts at all, and the PNG is written either way).
    private static readonly string[] SansFonts = { "DejaVu Sans", "Liberation Sans", "Open Sans", "Noto Sans", "Arial", "Helvetica" };

    /// <summary>The end of a run: plots <paramref name="outputDir"/>/metrics.csv into <paramref name="outputDir"/>/plot.png.</summary>
    /// <returns>The path of the PNG.</returns>
    /// <exception cref="Model.SettingsException">The folder or its metrics.csv is missing.</exception>
    /// <exception cref="InvalidDataException">metrics.csv is malformed (the message names the folder, row and column).</exception>
    /// <exception cref="IOException">The PNG could not be written.</exception>
    public static string WriteForRun(string outputDir)
    {
        string path = Path.Combine(outputDir, "plot.png");
        Write(new[] { outputDir }, path);
        return path;
    }

    /// <summary>
    /// The plot a finished run draws of itself: its path, or why there is none. A plot that cannot be drawn never fails
    /// the run that trained the model.
    /// </summary>
    public static string WriteAfterRun(string outputDir, TextWriter log)
    {
        try
        {
            return WriteForRun(outputDir);
        }
        catch (Exception e) when (e is Model.SettingsException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"warning: no plot: {e.Message}");
            return "none";
        }
    }

    /// <summary>Plots the runs in <paramref name="folders"/> (each with a metrics.csv) into one PNG at <paramref name="pngPath"/>.</summary>
    public static void Write(IReadOnlyList<string> folders, string pngPath)
    {
        if (folders.Count == 0)
        {
            throw new ArgumentException("no run folder to plot");
        }
        Write(folders.Select(MetricsCsv.ReadFolder).ToList(), pngPath);
    }

    public static void Write(IReadOnlyList<MetricsCsv> runs, string pngPath)
    {
        var series = runs.Select(Series.Of).ToList();
        var panels = Panels(series);

        var installed = SkiaSharp.SKFontManager.Default.FontFamilies.ToHashSet(StringComparer.OrdinalIgnoreCase);
        string? font = SansFonts.FirstOrDefault(installed.Contains);
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: panels.Count / 2, columns: 2);
        var palette = new ScottPlot.Palettes.Category10();
        for (int p = 0; p < panels.Count; p++)
        {
            var plot = multiplot.GetPlot(p);
            var panel = panels[p];
            if (font is not null)
            {
                plot.Font.Set(font);
            }
            if (panel.X == "round")
            {
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
            }
            plot.Title(panel.Title, size: 14);
            plot.XLabel(panel.X, size: 12);
            plot.YLabel(panel.Y, size: 12);
            for (int r = 0; r < series.Count; r++)
            {
                var (xs, ys) = panel.Select(series[r]);
                AddLine(plot, series[r].Name, palette.GetColor(r), xs, ys);
            }
            if (panel.Counts)
            {
                // Counts of clients: whole numbers, from 0, so a flat 80 reads as 80 of 80 and not as noise.
                plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
                double top = Math.Max(1, series.SelectMany(s => panel.Select(s).Y).Max(v => v ?? 0));
                plot.Axes.SetLimitsY(-0.04 * top, 1.12 * top);
            }
            if (p == 0)
            {
                // One legend, where accuracy is not (it rises to the top right): a run has the same colour in every panel.
                plot.ShowLegend(Alignment.LowerRight);
            }
            else
            {
                plot.HideLegend();
            }
        }

        string? directory = Path.GetDirectoryName(Path.GetFullPath(pngPath));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        // Whole or not at all: a viewer (or a run stopped mid-write) never sees half a PNG.
        string partial = pngPath + ".partial";
        multiplot.SavePng(partial, Width, Height);
        File.Move(partial, pngPath, overwrite: true);
    }

    /// <summary>The titles of the panels the runs get, in order (left to right, top to bottom).</summary>
    internal static IReadOnlyList<string> PanelTitles(IReadOnlyList<MetricsCsv> runs) =>
        Panels(runs.Select(Series.Of).ToList()).Select(p => p.Title).ToList();

    private static List<Panel> Panels(IReadOnlyList<Series> series)
    {
        bool simulated = series.Any(s => s.SimTime.Any(t => t is not null));
        bool test = series.Any(s => s.Test);
        // Each run shows its test metrics, or its training metrics when it evaluated on no test set.
        string kind = series.All(s => s.Test) ? "test " : test ? "" : "training ";
        string accuracy = $"{kind}accuracy";
        string loss = $"{kind}loss";
        double maxSimSeconds = series.SelectMany(s => s.SimTime).Select(t => t ?? 0).DefaultIfEmpty(0).Max();
        var (unit, secondsPerUnit) = maxSimSeconds switch
        {
            < 180 => ("seconds", 1.0),
            < 3 * 3600 => ("minutes", 60.0),
            _ => ("hours", 3600.0),
        };
        string simAxis = $"simulated time ({unit})";

        var panels = new List<Panel>
        {
            new($"{Capitalize(accuracy)} per round", "round", accuracy, s => (s.Round, s.Accuracy)),
            new($"{Capitalize(loss)} per round", "round", loss, s => (s.Round, s.Loss)),
        };
        if (simulated)
        {
            panels.Add(new($"{Capitalize(accuracy)} against simulated time", simAxis, accuracy, s => (Scale(s.SimTime, secondsPerUnit), s.Accuracy)));
            panels.Add(new($"{Capitalize(loss)} against simulated time", simAxis, loss, s => (Scale(s.SimTime, secondsPerUnit), s.Loss)));
        }
        panels.Add(new("Participants per round", "round", "updates aggregated", s => (s.Round, s.Participants), Counts: true));
        panels.Add(new("Stragglers per round", "round", "stragglers", s => (s.Round, s.Stragglers), Counts: true));
        return panels;
    }

    private sealed record Panel(string Title, string X, string Y, Func<Series, (double?[] X, double?[] Y)> Select, bool Counts = false);

    /// <summary>
    /// One run's line: a point where x and y both exist; a missing value (a failed round's accuracy) breaks the
    /// line, so a gap shows where the round failed. Only the first piece carries the legend's name.
    /// </summary>
    private static void AddLine(Plot plot, string name, Color color, double?[] xs, double?[] ys)
    {
        bool named = false;
        var piece = new List<Coordinates>();
        void Flush()
        {
            if (piece.Count == 0)
            {
                return;
            }
            var scatter = plot.Add.ScatterLine(piece.ToArray(), color);
            scatter.LineWidth = 2;
            scatter.MarkerSize = piece.Count == 1 ? 7 : 4;
            scatter.MarkerShape = MarkerShape.FilledCircle;
            if (!named)
            {
                scatter.LegendText = name;
                named = true;
            }
            piece.Clear();
        }
        for (int i = 0; i < xs.Length; i++)
        {
            if (xs[i] is { } x && ys[i] is { } y)
            {
                piece.Add(new Coordinates(x, y));
            }
            else
            {
                Flush();
            }
        }
        Flush();
    }

    private static double?[] Scale(double?[] values, double divisor) => values.Select(v => v / divisor).ToArray();

    private static string Capitalize(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>What the plot draws of one run, column by column, row by row (null where a value does not exist).</summary>
    private sealed record Series(
        string Name, bool Test, double?[] Round, double?[] Accuracy, double?[] Loss, double?[] SimTime,
        double?[] Participants, double?[] Stragglers)
    {
        public static Series Of(MetricsCsv run)
        {
            var round = run.Rounds().Select(r => (double?)r).ToArray();
            var testAccuracy = run.Values("test_accuracy");
            bool test = testAccuracy.Any(v => v is not null);
            var simTime = run.Values("sim_time");
            return new Series(
                run.Name, test, round,
                test ? testAccuracy : run.Values("accuracy"),
                test ? run.Values("test_loss") : run.Values("loss"),
                simTime,
                run.Values("participants"),
                run.Values("stragglers"));
        }
    }
}
