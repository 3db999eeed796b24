namespace TnDsl.Cli.Commands;

using TnDsl.BornMachine;

/// <summary>The NLL-per-loop plot of a Born-machine run (ScottPlot 5), against the authors' curve and final figure for the same Dmax.</summary>
public static class BornPlot
{
    /// <summary>
    /// Writes a PNG: training NLL (left axis) and test NLL (right axis) per loop (loop 0, the initial state, left out:
    /// its NLL dwarfs the rest; each axis frames the last 90 % of the loops, from the first within 10 % of the last),
    /// and, for the MNIST set (<paramref name="mnist"/>), the authors' training NLL per loop (a black line) where their log for
    /// that Dmax is kept and a dashed line at their final training NLL where they report that Dmax.
    /// </summary>
    public static void WriteNll(string path, IReadOnlyList<LoopRecord> history, int dmax, bool mnist)
    {
        var plot = new ScottPlot.Plot();
        var rows = history.Where(h => h.Loop > 0).ToList();
        bool hasReference = mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out _);
        double reference = hasReference ? PublishedFigures.MnistTrainNll[dmax] : double.NaN;
        double[] curve = mnist && PublishedFigures.MnistTrainCurves.TryGetValue(dmax, out var c) ? c : [];
        if (rows.Count > 0)
        {
            var loops = rows.Select(h => (double)h.Loop).ToArray();
            var train = plot.Add.Scatter(loops, rows.Select(h => h.TrainNll).ToArray());
            train.LegendText = "train NLL (left axis)";
            var test = plot.Add.Scatter(loops, rows.Select(h => h.TestNll).ToArray());
            test.LegendText = "test NLL (right axis)";
            test.Axes.YAxis = plot.Axes.Right;
            // The first loops start hundreds of nats higher: frame the last 90 % of the loops, from the first whose
            // train NLL is within 10 % of the last (at least loops 3 onwards), and the reference on each axis, so that
            // the late differences of a hundredth of a nat show.
            int settled = rows.First(h => h.TrainNll <= 1.1 * rows[^1].TrainNll).Loop;
            int from = Math.Max(Math.Max(3, rows[^1].Loop / 10), settled);
            Frame(plot.Axes.Left, rows.Where(h => h.Loop >= from).Select(h => h.TrainNll)
                .Concat(curve.Skip(from).Take(rows[^1].Loop - from + 1)).Concat(hasReference ? [reference] : []));
            Frame(plot.Axes.Right, rows.Where(h => h.Loop >= from).Select(h => h.TestNll));
        }
        if (curve.Length > 1)
        {
            var theirs = plot.Add.Scatter(Enumerable.Range(1, curve.Length - 1).Select(l => (double)l).ToArray(), curve[1..]);
            theirs.LegendText = "authors' train NLL (their log)";
            theirs.Color = ScottPlot.Colors.Black;
            theirs.LineWidth = 1.5f;
            theirs.MarkerSize = 0;
        }
        if (hasReference)
        {
            var line = plot.Add.HorizontalLine(reference);
            line.LinePattern = ScottPlot.LinePattern.Dashed;
            line.LegendText = $"authors' final train NLL, Dmax {dmax}: {reference:F2}";
        }
        plot.Title($"MPS Born machine, Dmax {dmax}");
        plot.XLabel("loop");
        plot.Axes.Left.Label.Text = "train NLL (nats per image)";
        plot.Axes.Right.Label.Text = "test NLL (nats per image)";
        plot.ShowLegend(ScottPlot.Alignment.MiddleRight);
        plot.SavePng(path, 800, 500);
    }

    static void Frame(ScottPlot.IYAxis axis, IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        if (v.Count == 0)
            return;
        double lo = v.Min(), hi = v.Max(), pad = Math.Max(0.05 * (hi - lo), 1e-3);
        axis.Range.Set(lo - pad, hi + pad);
    }
}
