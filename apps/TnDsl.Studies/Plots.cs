using TnDsl.Native;

namespace TnDsl.Studies;

/// <summary>One named series of (x, y) points.</summary>
public sealed record Series(string Name, double[] X, double[] Y);

/// <summary>A chart a study drew (or tried to): where, the series plotted, the x categories (null on a numeric
/// axis), and null or the reason the PNG could not be written.</summary>
public sealed record Chart(string Path, IReadOnlyList<Series> Series, IReadOnlyList<string>? Categories, string? Failure);

/// <summary>
/// What the x-axis of a chart holds: numbers (the default), whole numbers only (epochs: integer ticks), or named
/// categories (the series' x values are category positions 0, 1, …, offset a little to set series apart; points are
/// not joined, since a line between categories means nothing).
/// </summary>
public sealed record XAxisKind(bool Integers = false, IReadOnlyList<string>? Categories = null)
{
    /// <summary>A continuous numeric axis.</summary>
    public static readonly XAxisKind Numbers = new();
    /// <summary>Epochs, loops, counts: integer ticks only.</summary>
    public static readonly XAxisKind WholeNumbers = new(Integers: true);
    /// <summary>Named categories at positions 0, 1, ….</summary>
    public static XAxisKind Named(IReadOnlyList<string> categories) => new(Categories: categories);
}

/// <summary>
/// Line/scatter charts written as PNG with ScottPlot 5: the frame holds every point (ScottPlot's autoscale, with a
/// margin), the legend sits outside the data area on the right, and the x-axis is numeric, integer or categorical
/// (<see cref="XAxisKind"/>). Rendering needs SkiaSharp's native library; where it cannot load,
/// <see cref="TrySave"/> says so and the caller keeps its CSV.
/// </summary>
public static class Plots
{
    /// <summary>Draws the series and saves a PNG; returns null on success or the reason it failed.</summary>
    public static string? TrySave(string path, string title, string xLabel, string yLabel, IEnumerable<Series> series,
        XAxisKind? x = null, int width = 1000, int height = 560)
    {
        x ??= XAxisKind.Numbers;
        try
        {
            var plot = new ScottPlot.Plot();
            foreach (var s in series)
            {
                var scatter = plot.Add.Scatter(s.X, s.Y);
                scatter.LegendText = s.Name;
                scatter.MarkerSize = 8;
                if (x.Categories is not null)
                    scatter.LineWidth = 0;
            }
            if (x.Categories is { } names)
            {
                var ticks = new ScottPlot.TickGenerators.NumericManual();
                for (int i = 0; i < names.Count; i++)
                    ticks.AddMajor(i, names[i]);
                plot.Axes.Bottom.TickGenerator = ticks;
                plot.Axes.AutoScale();
                plot.Axes.SetLimitsX(-0.5, names.Count - 0.5);
            }
            else if (x.Integers)
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
            plot.Title(title);
            plot.XLabel(xLabel);
            plot.YLabel(yLabel);
            plot.ShowLegend(ScottPlot.Edge.Right);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            SafeFile.Replace(path, temp => plot.SavePng(temp, width, height));
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or InvalidOperationException or EntryPointNotFoundException)
        {
            return $"PNG rendering failed on this machine ({e.GetType().Name}: {e.Message}); the CSV holds the data";
        }
    }
}
