namespace TnDsl.Cli.Commands;

using TnDsl.Torch.BornMachine;

/// <summary>The NLL-per-loop plot of a Born-machine run (ScottPlot 5), with the authors' final figure for the same Dmax.</summary>
public static class BornPlot
{
    /// <summary>
    /// Writes a PNG: training and test NLL per loop (loop 0, the initial state, left out: its NLL dwarfs the rest),
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
        plot.Title($"MPS Born machine, Dmax {dmax}");
        plot.XLabel("loop");
        plot.YLabel("NLL (nats per image)");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }
}
