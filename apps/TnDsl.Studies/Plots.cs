namespace TnDsl.Studies;

/// <summary>One named series of (x, y) points.</summary>
public sealed record Series(string Name, double[] X, double[] Y);

/// <summary>
/// Line/scatter charts written as PNG with ScottPlot 5. Rendering needs SkiaSharp's native library; where it cannot
/// load, <see cref="TrySave"/> says so and the caller keeps its CSV.
/// </summary>
public static class Plots
{
    /// <summary>Draws the series and saves a PNG; returns null on success or the reason it failed.</summary>
    public static string? TrySave(string path, string title, string xLabel, string yLabel, IEnumerable<Series> series, int width = 900, int height = 560)
    {
        try
        {
            var plot = new ScottPlot.Plot();
            foreach (var s in series)
            {
                var scatter = plot.Add.Scatter(s.X, s.Y);
                scatter.LegendText = s.Name;
                scatter.MarkerSize = 8;
            }
            plot.Title(title);
            plot.XLabel(xLabel);
            plot.YLabel(yLabel);
            plot.ShowLegend();
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            plot.SavePng(path, width, height);
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or InvalidOperationException or EntryPointNotFoundException)
        {
            return $"PNG rendering failed on this machine ({e.GetType().Name}: {e.Message}); the CSV holds the data";
        }
    }
}
