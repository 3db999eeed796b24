using System.Diagnostics;
using TnDsl.Data;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Studies;

/// <summary>Settings of <see cref="TtMlpStudy"/>.</summary>
public sealed record TtMlpSettings
{
    /// <summary>The data set (Fashion-MNIST by default).</summary>
    public DatasetName Dataset { get; init; } = DatasetName.FashionMnist;
    /// <summary>Training images used (the first ones).</summary>
    public long TrainLimit { get; init; } = 60000;
    /// <summary>Test images used.</summary>
    public long TestLimit { get; init; } = 10000;
    /// <summary>TT rank of the mpo-linear layer.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>Training settings.</summary>
    public TrainSettings Train { get; init; } = new();
    /// <summary>Where tables go (null: not saved).</summary>
    public string? OutputDirectory { get; init; }
}

/// <summary>
/// Issue 5, end to end: a 784 → 256 → 10 MLP on Fashion-MNIST whose hidden dense layer is replaced by the
/// tensor-train layer of <c>examples/mpo-linear.tn</c> (784 = 4·7·7·4 inputs, 256 = 4^4 outputs, rank r), against
/// the same MLP with a dense hidden layer. Prints parameters, test accuracy and training time of both.
/// </summary>
public static class TtMlpStudy
{
    /// <summary>Runs the study and returns its table.</summary>
    public static ResultTable Run(TtMlpSettings settings)
    {
        using var train = Datasets.Load(settings.Dataset, Split.Train, limit: settings.TrainLimit);
        using var test = Datasets.Load(settings.Dataset, Split.Test, limit: settings.TestLimit);
        var table = new ResultTable($"MLP 784-256-10 on {Datasets.Folder(settings.Dataset)} ({train.Count} train / {test.Count} test images, {ResultTable.Count(settings.Train.Epochs, "epoch")})",
            "model", "hidden-layer params", "total params", "test accuracy", "train seconds");
        manual_seed(settings.Train.Seed);
        using (var dense = Blocks.Mlp(nn.Linear(784, 256), 256, 10))
            Add(table, "dense MLP", dense, ((nn.Module)dense.named_children().First(c => c.name == "hidden").module), train, test, settings);
        var layer = Layers.FromSpec(Specs.Example("mpo-linear.tn"), new { r = settings.Rank }, new LayerOptions { Seed = settings.Train.Seed });
        var hidden = new Blocks.WithBias(layer, 256);
        using (var tt = Blocks.Mlp(hidden, 256, 10))
            Add(table, $"TT-MLP (mpo-linear.tn, r = {settings.Rank})", tt, hidden, train, test, settings);
        if (settings.OutputDirectory is { } dir)
            table.Save(dir, "results");
        return table;
    }

    static void Add(ResultTable table, string name, nn.Module<Tensor, Tensor> model, nn.Module hidden, ImageDataset train, ImageDataset test, TtMlpSettings s)
    {
        var clock = Stopwatch.StartNew();
        var history = Trainer.Fit(name, model, train.Images, train.Labels, test.Images, test.Labels, s.Train);
        clock.Stop();
        table.Add(name, Trainer.ParameterCount(hidden), Trainer.ParameterCount(model), history[^1].TestAccuracy, history.Sum(h => h.Seconds));
    }
}
