using System.Diagnostics;
using System.Numerics;
using TnDsl.Torch;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>Settings of <see cref="ConvAcStudy"/>.</summary>
public sealed record ConvAcSettings
{
    /// <summary>Training sequences per task.</summary>
    public long Samples { get; init; } = 10000;
    /// <summary>Test sequences per task.</summary>
    public long TestSamples { get; init; } = 4000;
    /// <summary>Training settings.</summary>
    public TrainSettings Train { get; init; } = new() { Epochs = 10, LearningRate = 0.01 };
    /// <summary>Where tables go (null: not saved).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Standard deviation of the weights off the constant channel at initialisation.</summary>
    public double Noise { get; init; } = 0.05;
    /// <summary>"constant" (<see cref="ProductInit.NearConstant"/>) or "ones" (<see cref="ProductInit.AllOnes"/>).</summary>
    public string Init { get; init; } = "constant";
}

/// <summary>One ConvAC of the study: a name and its channel widths r0..r3.</summary>
public sealed record ConvAcProfile(string Name, int[] Widths);

/// <summary>
/// Issue 7, study 3 (Levine, Yakira, Cohen, Shashua, "Deep Learning and Quantum Entanglement", ICLR 2018): two
/// ConvACs of <c>examples/convac.tn</c> with equal parameter counts and opposite width profiles, their min-cut
/// bounds for the left|right and odd|even partitions of the 16 inputs, and their test accuracy on two synthetic
/// tasks over sequences of 16 symbols in {0..3} (one-hot, M = 4; see <see cref="Tasks"/>): a long-range one whose
/// pairs all straddle left|right and a local one whose pairs all straddle odd|even. The bound predicts the winner
/// when the network with the larger bound for a task's partition is the more accurate one.
/// </summary>
public static class ConvAcStudy
{
    const int Positions = 16, Symbols = 4, Threshold = 3;

    /// <summary>The two width profiles: equal parameters (M = 4, Y = 2: 168), opposite shapes.</summary>
    public static readonly ConvAcProfile[] Profiles =
    [
        new("wide-bottom", [14, 6, 3, 2]),
        new("wide-top", [2, 4, 8, 12]),
    ];

    /// <summary>Largest difference between the odd-symbol counts of the two halves that the long-range task labels 1.</summary>
    public const int Band = 2;

    /// <summary>
    /// The tasks. Long-range: a = number of odd symbols among positions 0..7, b = among 8..15; label 1 when
    /// |a − b| ≤ <see cref="Band"/> (≈ 79 % positive). Both counts are invariant under the ConvAC's symmetries (shared
    /// 1×1 convolutions and product pooling make every network of this family invariant under swapping the two
    /// children of any pooling node, so labels tied to particular positions, like the earlier tasks on pairs (j, j + 8),
    /// cannot be expressed at all). Across left|right the label is the 9 × 9 band matrix [|a − b| ≤ 2]: rank 8, above
    /// wide-bottom's bound (2; 3 with the output bias) and equal to wide-top's (8). Its sign, though, is that of
    /// e^(a−b) + e^(b−a) − 2 cosh(Band + ½), a rank-3 score (two products and a constant) within wide-bottom's reach:
    /// the bound limits the score's rank, not the classifier's sign-rank. Across odd|even it is a function
    /// of far more states. Local: the full symbols at the 8 pairs (2j, 2j + 1); label 1 when at least 3 pairs match
    /// (about 32 % positive; every pair straddles odd|even, none left|right).
    /// </summary>
    public static readonly (string Name, string Partition, Func<Tensor, Tensor> Label)[] Tasks =
    [
        ("long-range", "left|right", symbols => HalvesWithin(Remainder(symbols, 2), Band)),
        ("local", "odd|even", symbols => Matches(symbols, Enumerable.Range(0, 8).Select(j => (2 * j, 2 * j + 1)).ToArray(), Threshold)),
    ];

    /// <summary>1 where the sums of the 0/1 bits in the left and right halves of the columns differ by at most <paramref name="band"/>.</summary>
    public static Tensor HalvesWithin(Tensor bits, int band)
    {
        using var scope = NewDisposeScope();
        long half = bits.shape[1] / 2;
        var left = bits[TensorIndex.Colon, TensorIndex.Slice(0, half)].sum(1);
        var right = bits[TensorIndex.Colon, TensorIndex.Slice(half, null)].sum(1);
        // Integer counts: |a − b| ≤ band exactly when |a − b| < band + ½.
        return Less(Minus(left, right).abs(), band + 0.5).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>1 where at least <paramref name="threshold"/> of the pairs of columns hold equal values, else 0.</summary>
    public static Tensor Matches(Tensor values, (int, int)[] pairs, int threshold)
    {
        using var scope = NewDisposeScope();
        var matches = zeros(values.shape[0], ScalarType.Int64);
        foreach (var (a, b) in pairs)
            matches = Plus(matches, values[TensorIndex.Colon, a].eq(values[TensorIndex.Colon, b]).to_type(ScalarType.Int64));
        return GreaterEqual(matches, threshold).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>Uniform random symbols (n, 16) with the labels of a task.</summary>
    public static (Tensor Symbols, Tensor Labels) Task(Func<Tensor, Tensor> label, long n, Generator generator)
    {
        var symbols = randint(0, Symbols, [n, Positions], generator: generator);
        return (symbols, label(symbols));
    }

    /// <summary>One-hot features (n, 16 · 4), position-major, as the ConvAC layer reads them.</summary>
    public static Tensor OneHot(Tensor symbols) =>
        nn.functional.one_hot(symbols, Symbols).to_type(ScalarType.Float32).reshape(symbols.shape[0], Positions * Symbols);

    static Dictionary<string, object> Overrides(ConvAcProfile p) => new()
    {
        ["M"] = Symbols, ["r0"] = p.Widths[0], ["r1"] = p.Widths[1], ["r2"] = p.Widths[2], ["r3"] = p.Widths[3], ["Y"] = 2,
    };

    /// <summary>The min-cut bounds of the declared cuts left_right and odd_even of examples/convac.tn for a profile.</summary>
    public static (BigInteger LeftRight, BigInteger OddEven) Bounds(ConvAcProfile p)
    {
        var overrides = Overrides(p).Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value.ToString()!)).ToList();
        var net = Layers.Check(Specs.Example("convac.tn"), overrides);
        var view = MinCutApi.Analyse(net, null, false);
        BigInteger Bound(string name) => view.Cuts.First(c => c.Name == name).Bound;
        return (Bound("left_right"), Bound("odd_even"));
    }

    /// <summary>Runs the study; the first table has the networks, the second the verdicts.</summary>
    public static (ResultTable Networks, ResultTable Verdicts) Run(ConvAcSettings settings)
    {
        var networks = new ResultTable($"ConvACs of equal size on two synthetic tasks ({settings.Samples} train / {settings.TestSamples} test sequences, {settings.Train.Epochs} epochs)",
            "network", "widths r0..r3", "params", "min-cut left|right", "min-cut odd|even",
            "acc long-range", "acc local", "train seconds");
        var generator = new Generator((ulong)settings.Train.Seed + 100);
        var data = Tasks.Select(t =>
        {
            var (xs, ys) = Task(t.Label, settings.Samples, generator);
            var (tx, ty) = Task(t.Label, settings.TestSamples, generator);
            return (Train: (X: OneHot(xs), Y: ys), Test: (X: OneHot(tx), Y: ty));
        }).ToArray();
        var accuracy = new double[Profiles.Length, Tasks.Length];
        var bounds = Profiles.Select(Bounds).ToArray();
        for (int p = 0; p < Profiles.Length; p++)
        {
            var clock = Stopwatch.StartNew();
            long parameters = 0;
            for (int t = 0; t < Tasks.Length; t++)
            {
                manual_seed(settings.Train.Seed);
                var layer = Layers.FromSpec(Specs.Example("layers/convac.tn"), Overrides(Profiles[p]), new LayerOptions { Seed = settings.Train.Seed });
                parameters = layer.ParameterCount;
                if (settings.Init == "ones")
                    ProductInit.AllOnes(layer, settings.Train.Seed, settings.Noise);
                else
                    ProductInit.NearConstant(layer, settings.Train.Seed, settings.Noise, oneHotFirstLayer: true);
                using var model = new Blocks.WithBias(layer, 2);
                var history = Trainer.Fit($"{Profiles[p].Name} / {Tasks[t].Name}", model, data[t].Train.X, data[t].Train.Y, data[t].Test.X, data[t].Test.Y, settings.Train);
                accuracy[p, t] = history.Max(h => h.TestAccuracy);
            }
            networks.Add(Profiles[p].Name, string.Join("-", Profiles[p].Widths), parameters, bounds[p].LeftRight, bounds[p].OddEven,
                accuracy[p, 0], accuracy[p, 1], clock.Elapsed.TotalSeconds);
        }
        var verdicts = new ResultTable("Does the min-cut bound predict the winner?",
            "task", "partition it needs", "majority baseline", "larger bound", "more accurate", "predicted");
        for (int t = 0; t < Tasks.Length; t++)
        {
            Func<int, BigInteger> bound = t == 0 ? p => bounds[p].LeftRight : p => bounds[p].OddEven;
            int byBound = bound(0) == bound(1) ? -1 : bound(0) > bound(1) ? 0 : 1;
            int byAccuracy = accuracy[0, t] == accuracy[1, t] ? -1 : accuracy[0, t] > accuracy[1, t] ? 0 : 1;
            double positive = data[t].Test.Y.to_type(ScalarType.Float64).mean().item<double>();
            verdicts.Add(Tasks[t].Name, Tasks[t].Partition, Math.Max(positive, 1 - positive),
                byBound < 0 ? "tie" : Profiles[byBound].Name, byAccuracy < 0 ? "tie" : Profiles[byAccuracy].Name,
                byBound >= 0 && byBound == byAccuracy ? "yes" : "no");
        }
        foreach (var d in data)
        {
            d.Train.X.Dispose(); d.Train.Y.Dispose(); d.Test.X.Dispose(); d.Test.Y.Dispose();
        }
        if (settings.OutputDirectory is { } dir)
        {
            networks.Save(dir, "networks");
            verdicts.Save(dir, "verdicts");
        }
        return (networks, verdicts);
    }
}
