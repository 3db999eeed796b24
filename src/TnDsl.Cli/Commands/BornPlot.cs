namespace TnDsl.Cli.Commands;

using TnDsl.Torch.BornMachine;

/// <summary>The NLL-per-loop plot of a Born-machine run (ScottPlot 5), with the authors' final figure for the same Dmax.</summary>
public static class BornPlot
{
    /// <summary>
    /// Writes a PNG: training and test NLL per loop (loop 0, the initial state, left out: its NLL dwarfs the rest;
    /// the vertical range frames loops 3 onwards),
    /// and, for the MNIST set (<paramref name="mnist"/>), a dashed line at the authors' final training NLL when they report that Dmax.
    /// </summary>
    public static void WriteNll(string path, IReadOnlyList<LoopRecord> history, int dmax, bool mnist)
    {
        var plot = new ScottPlot.Plot();
        var rows = history.Where(h => h.Loop > 0).ToList();
        if (rows.Count > 0)
        {
            var loops = rows.Select(h => (double)h.Loop).ToArray();
            var train = plot.Add.Scatter(loops, rows.Select(h => h.TrainNll).ToArray());
            train.LegendText = "train NLL";
            var test = plot.Add.Scatter(loops, rows.Select(h => h.TestNll).ToArray());
            test.LegendText = "test NLL";
        }
        if (PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var reference) && mnist)
        {
            var line = plot.Add.HorizontalLine(reference);
            line.LinePattern = ScottPlot.LinePattern.Dashed;
            line.LegendText = $"authors' final train NLL, Dmax {dmax}: {reference:F2}";
        }
        // The first loops start hundreds of nats higher; frame the rest (and the reference) so the end is readable.
        var framed = rows.Where(h => h.Loop >= 3).SelectMany(h => new[] { h.TrainNll, h.TestNll }).ToList();
        if (framed.Count > 0)
        {
            if (mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var r))
                framed.Add(r);
            double lo = framed.Min(), hi = framed.Max(), pad = Math.Max(0.05 * (hi - lo), 1e-3);
            plot.Axes.SetLimitsY(lo - pad, hi + pad);
        }
        plot.Title($"MPS Born machine, Dmax {dmax}");
        plot.XLabel("loop");
        plot.YLabel("NLL (nats per image)");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }
}
