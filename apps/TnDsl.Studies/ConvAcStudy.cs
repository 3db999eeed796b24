using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.Studies;

/// <summary>Settings of <see cref="ConvAcStudy"/>.</summary>
public sealed record ConvAcSettings
{
    /// <summary>Training sequences per task.</summary>
    public long Samples { get; init; } = 10000;
    /// <summary>Test sequences per task.</summary>
    public long TestSamples { get; init; } = 4000;
    /// <summary>Training settings; its seed is the first of <see cref="Seeds"/> consecutive seeds.</summary>
    public TrainSettings Train { get; init; } = new() { Epochs = 10, LearningRate = 0.01 };
    /// <summary>Independent repetitions (data, initialisation and shuffling all change with the seed).</summary>
    public int Seeds { get; init; } = 3;
    /// <summary>Names of the tasks to run (see <see cref="ConvAcTasks.All"/>).</summary>
    public string[] Tasks { get; init; } = ["long-range", "local"];
    /// <summary>Where tables and the plot go (null: not saved).</summary>
    public string? OutputDirectory { get; init; }
    /// <summary>Standard deviation of the weights off the constant channel at initialisation.</summary>
    public double Noise { get; init; } = 0.2;
    /// <summary>"constant" (<see cref="ProductInit.NearConstant"/>) or "ones" (<see cref="ProductInit.AllOnes"/>).</summary>
    public string Init { get; init; } = "constant";
}

/// <summary>One ConvAC of the study: a name and its channel widths r0..r3.</summary>
public sealed record ConvAcProfile(string Name, int[] Widths);

/// <summary>
/// Issue 7, study 3 (Levine, Yakira, Cohen, Shashua, "Deep Learning and Quantum Entanglement", ICLR 2018): two
/// ConvACs of <c>examples/convac.tn</c> with equal parameter counts and opposite width profiles, their min-cut
/// bounds for the left|right and odd|even partitions of the 16 inputs, and their test accuracy over several seeds on
/// synthetic tasks over sequences of 16 symbols in {0..3} (<see cref="ConvAcTasks"/>). The bound predicts the winner
/// when the network with the larger bound for a task's partition is the more accurate one on average.
/// </summary>
public static class ConvAcStudy
{
    /// <summary>The two width profiles: equal parameters (M = 4, Y = 2: 168, plus a 2-entry output bias), opposite shapes.</summary>
    public static readonly ConvAcProfile[] Profiles =
    [
        new("wide-bottom", [14, 6, 3, 2]),
        new("wide-top", [2, 4, 8, 12]),
    ];

    /// <summary>Layer overrides of examples/layers/convac.tn for a profile.</summary>
    public static Dictionary<string, object> Overrides(ConvAcProfile p) => new()
    {
        ["M"] = ConvAcTasks.Symbols, ["r0"] = p.Widths[0], ["r1"] = p.Widths[1], ["r2"] = p.Widths[2], ["r3"] = p.Widths[3], ["Y"] = 2,
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

    /// <summary>The tasks named in the settings, in that order; an unknown name is a <see cref="StudyException"/>.</summary>
    public static ConvAcTask[] SelectTasks(IEnumerable<string> names) =>
        names.Select(n => ConvAcTasks.All.FirstOrDefault(t => t.Name == n)
            ?? throw new StudyException($"unknown ConvAC task `{n}`; tasks: {string.Join(", ", ConvAcTasks.All.Select(t => t.Name))}")).ToArray();

    /// <summary>
    /// Runs the study. Tables: the networks (accuracy mean ± std per task), every run, and the verdicts (majority baseline,
    /// winner by bound and by mean accuracy, Welch's t and an exact permutation p-value over the seeds).
    /// </summary>
    public static ResultTable[] Run(ConvAcSettings settings)
    {
        var tasks = SelectTasks(settings.Tasks);
        if (settings.Seeds < 1) throw new StudyException("the ConvAC study needs at least one seed");
        var bounds = Profiles.Select(Bounds).ToArray();
        int seeds = settings.Seeds;
        var accuracy = new double[Profiles.Length, tasks.Length, seeds];
        var baseline = new double[tasks.Length, seeds];
        var seconds = new double[Profiles.Length];
        var parameters = new long[Profiles.Length];
        var runs = new ResultTable("Every run (test accuracy after the last epoch, and the best epoch's)",
            "seed", "network", "task", "final accuracy", "best accuracy", "majority baseline", "train seconds");
        for (int s = 0; s < seeds; s++)
        {
            long seed = settings.Train.Seed + s;
            using var generator = new Generator((ulong)seed + 100);
            for (int t = 0; t < tasks.Length; t++)
            {
                var (xs, ys) = ConvAcTasks.Sample(tasks[t], settings.Samples, generator);
                var (tx, ty) = ConvAcTasks.Sample(tasks[t], settings.TestSamples, generator);
                using var trainX = ConvAcTasks.OneHot(xs);
                using var testX = ConvAcTasks.OneHot(tx);
                double positive;
                using (var labels = ty.to_type(ScalarType.Float64))
                using (var mean = labels.mean())
                    positive = mean.item<double>();
                baseline[t, s] = Math.Max(positive, 1 - positive);
                for (int p = 0; p < Profiles.Length; p++)
                {
                    var clock = Stopwatch.StartNew();
                    manual_seed(seed);
                    var layer = Layers.FromSpec(Specs.Example("layers/convac.tn"), Overrides(Profiles[p]), new LayerOptions { Seed = seed });
                    if (settings.Init == "ones")
                        ProductInit.AllOnes(layer, seed, settings.Noise);
                    else
                        ProductInit.NearConstant(layer, seed, settings.Noise, oneHotFirstLayer: true);
                    using var model = new Blocks.WithBias(layer, 2);
                    parameters[p] = Trainer.ParameterCount(model);
                    var history = Trainer.Fit($"seed {seed} {Profiles[p].Name} / {tasks[t].Name}", model, trainX, ys, testX, ty,
                        settings.Train with { Seed = seed });
                    accuracy[p, t, s] = history[^1].TestAccuracy;
                    double elapsed = clock.Elapsed.TotalSeconds;
                    seconds[p] += elapsed;
                    runs.Add(seed, Profiles[p].Name, tasks[t].Name, history[^1].TestAccuracy, history.Max(h => h.TestAccuracy), baseline[t, s], elapsed);
                }
                xs.Dispose(); ys.Dispose(); tx.Dispose(); ty.Dispose();
            }
        }

        var networks = new ResultTable($"ConvACs of equal size ({settings.Samples} train / {settings.TestSamples} test sequences, {ResultTable.Count(settings.Train.Epochs, "epoch")}, {ResultTable.Count(seeds, "seed")}; accuracy after the last epoch, mean ± std)",
            ["network", "widths r0..r3", "params (+bias)", "min-cut left|right", "min-cut odd|even", .. tasks.Select(t => $"acc {t.Name}"), "train seconds (all runs)"]);
        for (int p = 0; p < Profiles.Length; p++)
            networks.Add([Profiles[p].Name, string.Join("-", Profiles[p].Widths), parameters[p], bounds[p].LeftRight, bounds[p].OddEven,
                .. Enumerable.Range(0, tasks.Length).Select(t => (object)MeanStd(Runs(accuracy, p, t))), seconds[p]]);

        var verdicts = new ResultTable("Does the min-cut bound predict the winner?", VerdictHeaders);
        for (int t = 0; t < tasks.Length; t++)
        {
            var needed = tasks[t].Partition == "left|right" ? bounds.Select(b => b.LeftRight).ToArray() : bounds.Select(b => b.OddEven).ToArray();
            verdicts.Add(Verdict(tasks[t], Enumerable.Range(0, seeds).Average(s => baseline[t, s]), needed, Runs(accuracy, 0, t), Runs(accuracy, 1, t)));
        }

        if (settings.OutputDirectory is { } dir)
        {
            networks.Save(dir, "networks");
            runs.Save(dir, "runs");
            verdicts.Save(dir, "verdicts");
            if (PlotAccuracy(Path.Combine(dir, "accuracy.png"), runs, networks, verdicts).Failure is { } failure)
                Console.Error.WriteLine(failure);
        }
        return [networks, verdicts, runs];
    }

    /// <summary>The verdicts' columns. The difference and Welch's t are both of the first profile's mean accuracy
    /// minus the second's (wide-bottom − wide-top), as their headers say: negative where wide-top is the more
    /// accurate. (Earlier verdicts.csv files have an unsigned "difference" and a "Welch t" of the same order;
    /// <c>tn study replot</c> reads only the task and partition columns, so both kinds redraw.)</summary>
    public static readonly string[] VerdictHeaders =
    [
        "task", "partition it needs", "majority baseline", "larger bound", "more accurate (mean)",
        $"difference ({Profiles[0].Name} − {Profiles[1].Name})", $"Welch t ({Profiles[0].Name} − {Profiles[1].Name})",
        "permutation p", "every seed apart", "predicted",
    ];

    /// <summary>One row of the verdicts (<see cref="VerdictHeaders"/>): a task, its majority baseline (mean over seeds),
    /// each profile's min-cut bound for the task's partition and each profile's accuracies over the seeds.</summary>
    public static object[] Verdict(ConvAcTask task, double baseline, IReadOnlyList<BigInteger> bounds, IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        int byBound = bounds[0] == bounds[1] ? -1 : bounds[0] > bounds[1] ? 0 : 1;
        double diff = a.Average() - b.Average();
        int byAccuracy = diff == 0 ? -1 : diff > 0 ? 0 : 1;
        bool apart = a.Min() > b.Max() || b.Min() > a.Max();
        bool one = a.Count < 2 || b.Count < 2;
        return
        [
            task.Name, task.Partition, baseline,
            byBound < 0 ? "tie" : Profiles[byBound].Name, byAccuracy < 0 ? "tie" : Profiles[byAccuracy].Name,
            diff,
            // One seed per network has no spread: no test can be made, and the table says so rather than print ±∞.
            one ? "n/a (1 seed: no spread)" : Significance.WelchT(a, b),
            one ? "n/a (1 seed: no spread)" : Significance.PermutationP(a, b),
            one ? "n/a (1 seed)" : apart ? "yes" : "no",
            byBound >= 0 && byBound == byAccuracy ? "yes" : "no",
        ];
    }

    /// <summary>
    /// Draws <c>accuracy.png</c> from the study's tables (as run, or read back from <c>runs.csv</c>,
    /// <c>networks.csv</c>, <c>verdicts.csv</c>): one point per seed and network on a categorical task axis (the two
    /// networks set apart to the left and right of each task, the seeds spread a little), and the majority baseline
    /// (mean over seeds) at each task. Networks in the order of <paramref name="networks"/>, tasks in the order of
    /// <paramref name="runs"/>.
    /// </summary>
    public static Chart PlotAccuracy(string path, ResultTable runs, ResultTable networks, ResultTable verdicts)
    {
        int runNetwork = runs.Column("network"), runTask = runs.Column("task"), runSeed = runs.Column("seed");
        var tasks = runs.Rows.Select(r => r[runTask]).Distinct().ToArray();
        var seeds = runs.Rows.Select(r => r[runSeed]).Distinct().ToArray();
        int netName = networks.Column("network"), netWidths = networks.Column("widths r0..r3");
        var profiles = networks.Rows.Select(r => (Name: r[netName], Widths: r[netWidths])).ToArray();
        int verdictTask = verdicts.Column("task"), verdictPartition = verdicts.Column("partition it needs");
        string Partition(string task) =>
            verdicts.Rows.FirstOrDefault(r => r[verdictTask] == task)?[verdictPartition]
            ?? throw new StudyException($"{verdicts.Title}: no row for task '{task}'");
        var series = new List<Series>();
        for (int p = 0; p < profiles.Length; p++)
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int t = 0; t < tasks.Length; t++)
                for (int s = 0; s < seeds.Length; s++)
                    foreach (var row in runs.Rows.Where(r => r[runNetwork] == profiles[p].Name && r[runTask] == tasks[t] && r[runSeed] == seeds[s]))
                    {
                        xs.Add(t + (p == 0 ? -0.12 : 0.12) + 0.03 * (s - (seeds.Length - 1) / 2.0));
                        ys.Add(runs.Number(row, "final accuracy"));
                    }
            series.Add(new Series($"{profiles[p].Name} ({profiles[p].Widths})", [.. xs], [.. ys]));
        }
        // Each seed's baseline is the same for both networks: the mean over all rows is the mean over seeds.
        series.Add(new Series($"majority baseline (mean of {seeds.Length} seeds)", [.. Enumerable.Range(0, tasks.Length).Select(t => (double)t)],
            [.. tasks.Select(task => runs.Rows.Where(r => r[runTask] == task).Average(r => runs.Number(r, "majority baseline")))]));
        var categories = tasks.Select(t => $"{t} ({Partition(t)})").ToArray();
        var failure = Plots.TrySave(path, $"ConvAC test accuracy, one point per seed ({seeds.Length} seeds)", "task",
            "test accuracy", series, XAxisKind.Named(categories));
        return new Chart(path, series, categories, failure);
    }

    static double[] Runs(double[,,] accuracy, int p, int t) =>
        Enumerable.Range(0, accuracy.GetLength(2)).Select(s => accuracy[p, t, s]).ToArray();

    static string MeanStd(double[] xs) =>
        string.Create(CultureInfo.InvariantCulture, $"{xs.Average():0.0000} ± {Significance.StandardDeviation(xs):0.0000}");
}
