namespace TnDsl.Cli.Commands;

using ScottPlot;
using TnDsl.BornMachine;
using TnDsl.Native;

/// <summary>One line of a <see cref="BornPlot"/> panel: loops and values, drawn with markers or as a plain line.</summary>
/// <param name="Name">The legend text.</param>
/// <param name="Loops">The x values (loop numbers).</param>
/// <param name="Values">The y values (nats per image).</param>
/// <param name="Reference">True for the authors' figures (black, no markers), false for this run's.</param>
public sealed record NllSeries(string Name, double[] Loops, double[] Values, bool Reference);

/// <summary>One panel of the NLL plot: one quantity on one y-axis, framed so that everything it draws is inside.</summary>
/// <param name="Title">The panel's title.</param>
/// <param name="Series">The lines drawn.</param>
/// <param name="Levels">Horizontal lines (legend text, value), e.g. the authors' final NLL.</param>
/// <param name="XMin">The left end of the loop axis.</param>
/// <param name="XMax">The right end of the loop axis.</param>
/// <param name="YMin">The bottom of the frame.</param>
/// <param name="YMax">The top of the frame.</param>
public sealed record NllPanel(string Title, IReadOnlyList<NllSeries> Series, IReadOnlyList<(string Name, double Value)> Levels,
    double XMin, double XMax, double YMin, double YMax);

/// <summary>
/// The NLL-per-loop plot of a Born-machine run (ScottPlot 5): separate panels for training NLL, for its last loops
/// (where the differences are hundredths of a nat), and for test NLL, never two quantities on one axis. Each panel's
/// frame holds every point it draws; loop 0 (the initial state, hundreds of nats higher) is left out and its value is
/// named in the x label. Legends sit outside the data, loop ticks are integers.
/// </summary>
public static class BornPlot
{
    /// <summary>Writes the PNG of <see cref="Panels"/>.</summary>
    public static void WriteNll(string path, IReadOnlyList<LoopRecord> history, int dmax, bool mnist)
    {
        var panels = Panels(history, dmax, mnist);
        var multi = new ScottPlot.Multiplot();
        var initial = history.FirstOrDefault(h => h.Loop == 0);
        for (int i = 0; i < panels.Count; i++)
        {
            var panel = panels[i];
            // A new Multiplot holds one empty plot: the first panel is drawn on it.
            var plot = i < multi.Count() ? multi.GetPlot(i) : multi.AddPlot();
            int colour = 0;
            foreach (var s in panel.Series)
            {
                var scatter = plot.Add.Scatter(s.Loops, s.Values);
                scatter.LegendText = s.Name;
                if (s.Reference)
                {
                    scatter.Color = ScottPlot.Colors.Black;
                    scatter.MarkerSize = 0;
                    scatter.LineWidth = 1.5f;
                }
                else
                {
                    scatter.Color = ScottPlot.Palette.Default.GetColor(colour++);
                    scatter.MarkerSize = panels[0].Series[0].Loops.Length > 60 ? 3 : 6;
                }
            }
            foreach (var (name, value) in panel.Levels)
            {
                var line = plot.Add.HorizontalLine(value);
                line.LinePattern = ScottPlot.LinePattern.Dashed;
                line.Color = ScottPlot.Colors.DimGray;
                line.LegendText = name;
            }
            plot.Title(panel.Title, size: 14);
            plot.YLabel("nats per image", size: 13);
            plot.XLabel(initial is null || i > 0 ? "loop" : $"loop (loop 0, the initial state, is left out: train {initial.TrainNll:F1}, test {initial.TestNll:F1})", size: 13);
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
            plot.Axes.SetLimits(panel.XMin, panel.XMax, panel.YMin, panel.YMax);
            plot.ShowLegend(ScottPlot.Edge.Right);
            // The same margins on every panel line their loop axes up; the legends go in the right margin.
            plot.Layout.Fixed(new ScottPlot.PixelPadding(80, 370, 50, 35));
        }
        SafeFile.Replace(path, p => multi.SavePng(p, 1100, 330 * Math.Max(1, panels.Count)));
    }

    /// <summary>
    /// The panels of the plot: training NLL over every loop from 1 (with the authors' per-loop NLL over the same loops
    /// where their log for this Dmax is kept, and their final figure as a dashed level where they report it), the
    /// same over the last half of the loops when there are 10 or more, and test NLL. Frames hold every drawn point.
    /// </summary>
    public static IReadOnlyList<NllPanel> Panels(IReadOnlyList<LoopRecord> history, int dmax, bool mnist)
    {
        var rows = history.Where(h => h.Loop > 0).ToList();
        if (rows.Count == 0)
            rows = history.ToList();
        if (rows.Count == 0)
            return [];
        double? final = mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var f) ? f : null;
        double[] curve = mnist && PublishedFigures.MnistTrainCurves.TryGetValue(dmax, out var c) ? c : [];
        var levels = final is { } v ? new List<(string, double)> { ($"authors' final train NLL, Dmax {dmax}: {v:F2}", v) } : [];

        NllPanel Train(string title, int from)
        {
            var ours = rows.Where(h => h.Loop >= from).ToList();
            var series = new List<NllSeries> { new($"train NLL, Dmax {dmax}", Loops(ours), ours.Select(h => h.TrainNll).ToArray(), false) };
            int last = ours[^1].Loop;
            var theirs = Enumerable.Range(from, Math.Max(0, Math.Min(last, curve.Length - 1) - from + 1)).ToArray();
            if (theirs.Length > 0)
                series.Add(new("authors' train NLL (their log)", theirs.Select(l => (double)l).ToArray(), theirs.Select(l => curve[l]).ToArray(), true));
            return Frame(title, series, levels, ours[0].Loop, last);
        }

        var panels = new List<NllPanel> { Train("training NLL", rows[0].Loop) };
        if (rows.Count >= 10)
        {
            int half = rows[rows.Count / 2].Loop;
            panels.Add(Train($"training NLL, loops {half} to {rows[^1].Loop}", half));
        }
        panels.Add(Frame("test NLL", [new("test NLL", Loops(rows), rows.Select(h => h.TestNll).ToArray(), false)], [], rows[0].Loop, rows[^1].Loop));
        return panels;
    }

    static double[] Loops(IEnumerable<LoopRecord> rows) => rows.Select(h => (double)h.Loop).ToArray();

    /// <summary>A panel whose frame holds every finite value of its series and levels, with 5 % room (a 1e-3 nat minimum).</summary>
    static NllPanel Frame(string title, IReadOnlyList<NllSeries> series, IReadOnlyList<(string, double)> levels, int first, int last)
    {
        var values = series.SelectMany(s => s.Values).Concat(levels.Select(l => l.Item2)).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        double lo = values.Min(), hi = values.Max(), pad = Math.Max(0.05 * (hi - lo), 1e-3);
        double xpad = Math.Max(0.5, 0.02 * (last - first));
        return new NllPanel(title, series, levels, first - xpad, last + xpad, lo - pad, hi + pad);
    }
}
