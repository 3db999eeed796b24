using System.Diagnostics;
using TnDsl.Torch;
using TnDsl.Data;
using static TorchSharp.torch;

namespace TnDsl.Studies;

/// <summary>Settings of <see cref="HeadStudy"/>.</summary>
public sealed record HeadSettings : ImageStudySettings
{
    /// <summary>The defaults: Fashion-MNIST then MNIST, 5000 test images, 2 epochs at a learning rate of 2e-3.</summary>
    public HeadSettings()
    {
        Datasets = [DatasetName.FashionMnist, DatasetName.Mnist];
        TestLimit = 5000;
        Train = new() { Epochs = 2, LearningRate = 2e-3 };
    }

    /// <summary>TT ranks to try.</summary>
    public int[] Ranks { get; init; } = [2, 8];
    /// <summary>MERA bond dimensions to try.</summary>
    public int[] Chis { get; init; } = [2, 4];
}

/// <summary>
/// Issue 7, study 1 (after Hallam et al., "Compact Neural Networks based on the Multiscale Entanglement
/// Renormalization Ansatz", BMVC 2018): one small CNN front (<see cref="Blocks.CnnFront"/>, 28×28 → 256 features),
/// then a replaced layer 256 → 16 with a bias, ReLU and a dense 16 → 10 classifier. The replaced layer is dense
/// (4096 weights), a tensor train (examples/layers/tt-linear.tn, modes 4⁴ → 2⁴, rank r) or a MERA
/// (examples/layers/mera.tn, 8 legs of dimension 2 → 16, bond χ). Reports the replaced layer's weights, the
/// compression against dense, test accuracy and training time, and plots accuracy against weights.
/// </summary>
public static class HeadStudy
{
    const int Features = 256, Hidden = 16, Classes = 10;

    /// <summary>Runs the study and returns its table (and writes results.md/csv and accuracy-vs-params.png).</summary>
    public static ResultTable Run(HeadSettings settings)
    {
        // The title states the images used, known once the data sets are loaded: rows wait for it.
        var rows = new List<object[]>();
        var used = new List<(string, long, long)>();
        foreach (var name in settings.Datasets)
        {
            using var train = TnDsl.Data.Datasets.Load(name, Split.Train, limit: settings.TrainLimit);
            using var test = TnDsl.Data.Datasets.Load(name, Split.Test, limit: settings.TestLimit);
            used.Add((Datasets.Folder(name), train.Count, test.Count));
            var heads = new List<(string Head, string Family, Func<nn.Module<Tensor, Tensor>> Make)>
            {
                ("dense 256x16", "dense", () => nn.Linear(Features, Hidden, hasBias: false)),
            };
            foreach (var r in settings.Ranks)
                heads.Add(($"TT r={r}", "TT", () => Layers.FromSpec(Specs.Example("layers/tt-linear.tn"), new { k = 4, m = 4, q = 2, r }, new LayerOptions { Seed = settings.Train.Seed })));
            foreach (var chi in settings.Chis)
                heads.Add(($"MERA chi={chi}", "MERA", () => Layers.FromSpec(Specs.Example("layers/mera.tn"), new { L = 3, d = 2, chi, @out = Hidden, noise = 0.01 }, new LayerOptions { Seed = settings.Train.Seed })));
            foreach (var (head, family, make) in heads)
            {
                manual_seed(settings.Train.Seed);
                var layer = make();
                long weights = Trainer.ParameterCount(layer);
                using var model = nn.Sequential(
                    ("front", Blocks.CnnFront()),
                    ("replaced", new Blocks.WithBias(layer, Hidden)),
                    ("relu", nn.ReLU()),
                    ("classifier", nn.Linear(Hidden, Classes)));
                var clock = Stopwatch.StartNew();
                var history = Trainer.Fit($"{Datasets.Folder(name)} {head}", model, train.Images, train.Labels, test.Images, test.Labels, settings.Train);
                double accuracy = history[^1].TestAccuracy;
                rows.Add([Datasets.Folder(name), head, family, weights, (double)(Features * Hidden) / weights, accuracy, history.Sum(h => h.Seconds)]);
            }
        }
        var table = new ResultTable($"CNN front + replaced 256→16 layer ({ResultTable.Images(used)}, {ResultTable.Count(settings.Train.Epochs, "epoch")})",
            "dataset", "head", "family", "layer weights", "compression", "test accuracy", "train seconds");
        foreach (var row in rows)
            table.Add(row);
        if (settings.OutputDirectory is { } dir)
        {
            table.Save(dir, "results");
            var failure = PlotAccuracy(Path.Combine(dir, "accuracy-vs-params.png"), table).Failure;
            if (failure is not null)
                Console.Error.WriteLine(failure);
        }
        return table;
    }

    /// <summary>
    /// Draws test accuracy against log10 of the replaced layer's weights from the results table (as run, or read back
    /// from <c>results.csv</c>), one series per family and data set, in the table's order.
    /// </summary>
    public static Chart PlotAccuracy(string path, ResultTable results)
    {
        int dataset = results.Column("dataset"), family = results.Column("family");
        var series = results.Rows.GroupBy(r => (Dataset: r[dataset], Family: r[family]))
            .Select(g => new Series($"{g.Key.Family} ({g.Key.Dataset})", g.Select(r => Math.Log10(results.Number(r, "layer weights"))).ToArray(),
                g.Select(r => results.Number(r, "test accuracy")).ToArray()))
            .ToArray();
        return new Chart(path, series, null, Plots.TrySave(path, "Test accuracy against weights of the replaced layer",
            "log10(weights of the 256→16 layer)", "test accuracy", series));
    }
}
