using System.Diagnostics;
using TnDsl.Torch;
using TnDsl.Data;
using static TorchSharp.torch;

namespace TnDsl.Studies;

/// <summary>Settings of <see cref="QcnnStudy"/>.</summary>
public sealed record QcnnSettings : ImageStudySettings
{
    /// <summary>The defaults: MNIST then Fashion-MNIST, 10000 training and 2000 test images, 5 epochs at a learning
    /// rate of 3e-3.</summary>
    public QcnnSettings() => Train = new() { Epochs = 5, LearningRate = 3e-3 };

    /// <summary>Images are resized (area averaging) to Size × Size; a power of two.</summary>
    public int Size { get; init; } = 8;
    /// <summary>Fourier features per pixel (K).</summary>
    public int Features { get; init; } = 6;
    /// <summary>Standard deviation off the constant path at initialisation (see <see cref="ProductInit"/>; used by
    /// <see cref="QcnnInit.NearConstant"/> and <see cref="QcnnInit.AllOnes"/>).</summary>
    public double Noise { get; init; } = 0.2;
    /// <summary>How intermediates are kept in range (<see cref="QcnnScaling.SiteNorm"/>: per-site L2 normalisation
    /// after every pooling, with a learnable temperature; see <see cref="QcnnNetwork"/>).</summary>
    public QcnnScaling Scaling { get; init; } = QcnnScaling.SiteNorm;
    /// <summary>How the weights start.</summary>
    public QcnnInit Init { get; init; } = QcnnInit.Copy;
    /// <summary>Where the data sets are installed (null: <see cref="TnDsl.Data.Datasets.DataDirectory"/>).</summary>
    public string? DataDirectory { get; init; }
}

/// <summary>How the q-CNN's weights start (see <see cref="ProductInit"/>).</summary>
public enum QcnnInit
{
    /// <summary><see cref="ProductInit.UnitVariance"/>: random, each block's output of unit variance.</summary>
    Unit,
    /// <summary><see cref="ProductInit.NearConstant"/>: channel 0 carries a constant, other weights small noise.</summary>
    NearConstant,
    /// <summary><see cref="ProductInit.AllOnes"/>: every channel 1 plus small noise, later convolutions averaging.</summary>
    AllOnes,
    /// <summary><see cref="ProductInit.Copy"/>: every channel 1 plus small noise, later convolutions copying channels.</summary>
    Copy,
}

/// <summary>
/// Issue 7, study 2 (Anagiannis and Cheng, "Entangled q-Convolutional Neural Nets", 2021): the q-CNN of
/// <c>examples/qcnn.tn</c> on MNIST and Fashion-MNIST resized to S × S, trained with cross-entropy; before training
/// and after each epoch, the exact entanglement entropy of every label state across the left|right and up|down image
/// halves (<see cref="QcnnEntropy"/>; the label state is the network's score, without the output bias added after
/// it), with the Pearson correlation between the mean entropy and the training loss
/// over the epochs.
/// </summary>
public static class QcnnStudy
{
    /// <summary>Why an image size cannot be studied (it must be a power of two, at least 2), or null: the command line
    /// checks it before anything runs and reports it as a usage error.</summary>
    public static string? SizeProblem(int size)
    {
        int blocks = (int)Math.Round(Math.Log2((double)size * size));
        return size < 2 || blocks >= 31 || 1 << blocks != (long)size * size ? $"--size must be a power of two (2, 4, 8, 16), got {size}" : null;
    }

    /// <summary>Runs the study: a summary table and a per-epoch table (also saved with a plot when asked).</summary>
    public static (ResultTable Summary, ResultTable Epochs) Run(QcnnSettings settings)
    {
        int size = settings.Size;
        int blocks = (int)Math.Round(Math.Log2((double)size * size));
        if (SizeProblem(size) is { } problem)
            throw new StudyException(problem);
        // The summary's title states the images used, known once the data sets are loaded: its rows wait for it.
        var summaryRows = new List<object[]>();
        var used = new List<(string, long, long)>();
        var epochs = new ResultTable("q-CNN per epoch: training loss, test accuracy and mean label-state entanglement entropy (nats)",
            "dataset", "epoch", "train loss", "test accuracy", "mean EE left|right", "mean EE up|down", "EE left|right per label", "EE up|down per label");
        foreach (var name in settings.Datasets)
        {
            using var trainFull = TnDsl.Data.Datasets.Load(name, Split.Train, settings.DataDirectory, settings.TrainLimit);
            using var testFull = TnDsl.Data.Datasets.Load(name, Split.Test, settings.DataDirectory, settings.TestLimit);
            used.Add((TnDsl.Data.Datasets.Folder(name), trainFull.Count, testFull.Count));
            using var train = trainFull.Resize(size);
            using var test = testFull.Resize(size);
            using var x = train.Images.reshape(train.Count, size * size);
            using var tx = test.Images.reshape(test.Count, size * size);
            manual_seed(settings.Train.Seed);
            var layer = Layers.FromSpec(Specs.Example("qcnn.tn"), new { S = size, K = settings.Features, blocks, labels = train.Classes },
                // The study re-initialises the weights and runs them through QcnnNetwork: no calibration, and the
                // planner's path only (the bond-greedy search is cubic in the 1022 tensors of a 16 × 16 q-CNN).
                new LayerOptions { Seed = settings.Train.Seed, Calibrate = false });
            switch (settings.Init)
            {
                case QcnnInit.Unit: ProductInit.UnitVariance(layer, settings.Train.Seed); break;
                case QcnnInit.NearConstant: ProductInit.NearConstant(layer, settings.Train.Seed, settings.Noise, oneHotFirstLayer: false); break;
                case QcnnInit.AllOnes: ProductInit.AllOnes(layer, settings.Train.Seed, settings.Noise); break;
                case QcnnInit.Copy: ProductInit.Copy(layer, settings.Train.Seed, settings.Noise); break;
            }
            using var model = new QcnnNetwork(layer, settings.Scaling);
            var rows = new List<(int Epoch, double Loss, double Accuracy, LabelEntropy[] Entropy)>();
            double initialLoss;
            using (no_grad())
            using (var logits = model.forward(x))
            using (var first = nn.functional.cross_entropy(logits, train.Labels))
                initialLoss = first.item<float>();
            rows.Add((0, initialLoss, Trainer.Accuracy(model, tx, test.Labels), QcnnEntropy.Compute(layer)));
            var clock = Stopwatch.StartNew();
            var history = Trainer.Fit($"{TnDsl.Data.Datasets.Folder(name)} q-CNN", model, x, train.Labels, tx, test.Labels, settings.Train,
                e => rows.Add((e.Epoch, e.Loss, e.TestAccuracy, QcnnEntropy.Compute(layer))));
            clock.Stop();
            string folder = TnDsl.Data.Datasets.Folder(name);
            foreach (var r in rows)
                epochs.Add(folder, r.Epoch, r.Loss, r.Accuracy, r.Entropy.Average(e => e.LeftRight), Shown(r.Entropy.Average(e => e.UpDown)),
                    string.Join(" ", r.Entropy.Select(e => e.LeftRight.ToString("G3", System.Globalization.CultureInfo.InvariantCulture))),
                    r.Entropy.Any(e => double.IsNaN(e.UpDown)) ? Shown(double.NaN)
                        : string.Join(" ", r.Entropy.Select(e => e.UpDown.ToString("G3", System.Globalization.CultureInfo.InvariantCulture))));
            var loss = rows.Select(r => r.Loss).ToArray();
            var lr = rows.Select(r => r.Entropy.Average(e => e.LeftRight)).ToArray();
            var ud = rows.Select(r => r.Entropy.Average(e => e.UpDown)).ToArray();
            summaryRows.Add([folder, Trainer.ParameterCount(model), history[^1].TestAccuracy, history.Sum(h => h.Seconds),
                lr[^1], Shown(ud[^1]), Correlation(lr, loss), Correlation(ud, loss),
                Correlation(lr.Select(Math.Log10).ToArray(), loss), Correlation(ud.Select(Math.Log10).ToArray(), loss)]);
        }
        var summary = new ResultTable($"q-CNN {size}x{size}, K = {settings.Features}, {blocks} blocks ({ResultTable.Images(used)}, {ResultTable.Count(settings.Train.Epochs, "epoch")})",
            "dataset", "params", "test accuracy", "train seconds", "final EE left|right", "final EE up|down", "corr(EE l|r, loss)", "corr(EE u|d, loss)",
            "corr(log EE l|r, loss)", "corr(log EE u|d, loss)");
        foreach (var row in summaryRows)
            summary.Add(row);
        if (settings.OutputDirectory is { } dir)
        {
            summary.Save(dir, "summary");
            epochs.Save(dir, "epochs");
            var failure = PlotEpochs(dir, epochs).Select(c => c.Failure).FirstOrDefault(f => f is not null);
            if (failure is not null)
                Console.Error.WriteLine(failure);
        }
        return (summary, epochs);
    }

    /// <summary>
    /// Draws <c>entropy.png</c> (log10 of the mean left|right entropy per epoch, and up|down where every epoch has it)
    /// and <c>loss.png</c> (training loss per epoch) into <paramref name="dir"/> from the epochs table (as run, or read
    /// back from <c>epochs.csv</c>), one series per data set, on integer epoch ticks.
    /// </summary>
    public static Chart[] PlotEpochs(string dir, ResultTable epochs)
    {
        var lossSeries = new List<Series>();
        var entropySeries = new List<Series>();
        int dataset = epochs.Column("dataset");
        foreach (var rows in epochs.Rows.GroupBy(r => r[dataset]))
        {
            string folder = rows.Key;
            var at = rows.Select(r => epochs.Number(r, "epoch")).ToArray();
            var lr = rows.Select(r => epochs.Number(r, "mean EE left|right")).ToArray();
            var ud = rows.Select(r => epochs.Number(r, "mean EE up|down")).ToArray();
            lossSeries.Add(new Series($"training loss ({folder})", at, rows.Select(r => epochs.Number(r, "train loss")).ToArray()));
            entropySeries.Add(new Series($"left|right ({folder})", at, lr.Select(Math.Log10).ToArray()));
            if (ud.All(double.IsFinite))
                entropySeries.Add(new Series($"up|down ({folder})", at, ud.Select(Math.Log10).ToArray()));
        }
        string entropy = Path.Combine(dir, "entropy.png"), loss = Path.Combine(dir, "loss.png");
        return
        [
            new Chart(entropy, entropySeries, null, Plots.TrySave(entropy, "q-CNN: mean label-state entanglement entropy per epoch",
                "epoch (0: before training)", "log10 of the mean entropy (nats)", entropySeries, XAxisKind.WholeNumbers)),
            new Chart(loss, lossSeries, null, Plots.TrySave(loss, "q-CNN: training loss per epoch", "epoch (0: before training)",
                "cross-entropy", lossSeries, XAxisKind.WholeNumbers)),
        ];
    }

    /// <summary>A table cell for a value that may not have been computed (an up|down entropy above the size
    /// limit): the value, or "not computed" instead of NaN.</summary>
    static object Shown(double v) => double.IsNaN(v) ? "not computed (above the size limit)" : v;

    /// <summary>A table cell for the correlation of two series: Pearson's r from three points on (two points always
    /// give ±1), else a note saying why there is none.</summary>
    static object Correlation(double[] a, double[] b)
    {
        if (a.Length < 3)
            return $"n/a ({a.Length} points: needs 3)";
        double r = Pearson(a, b);
        return double.IsNaN(r) ? "n/a (a constant or uncomputed series)" : r;
    }

    /// <summary>Pearson's correlation of two equally long series; NaN when either is constant or not finite.</summary>
    public static double Pearson(double[] a, double[] b)
    {
        if (a.Length != b.Length || a.Length < 2 || !a.Concat(b).All(double.IsFinite))
            return double.NaN;
        double ma = a.Average(), mb = b.Average();
        double sab = a.Zip(b).Sum(p => (p.First - ma) * (p.Second - mb));
        double saa = a.Sum(v => (v - ma) * (v - ma)), sbb = b.Sum(v => (v - mb) * (v - mb));
        return saa == 0 || sbb == 0 ? double.NaN : sab / Math.Sqrt(saa * sbb);
    }
}
