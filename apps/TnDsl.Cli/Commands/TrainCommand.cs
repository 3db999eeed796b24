namespace TnDsl.Cli.Commands;

using System.Globalization;
using Spectre.Console;
using TnDsl.Torch;
using TnDsl.Torch.BornMachine;
using static TorchSharp.torch;

/// <summary>
/// <c>tn train born-machine …</c>: trains an MPS Born machine read from a .tn file with two-site sweeps, printing a
/// progress bar per sweep and a line per loop, checkpointing after every loop (<c>--resume</c> continues), and
/// writing the NLL plot, a sample grid and the exported network into the output directory.
/// </summary>
public static class TrainCommand
{
    const string Usage =
        "usage: tn train born-machine [--file examples/born-machine.tn] [--set name=value ...] [--data DIR|bars-and-stripes]\n" +
        "                             [--dmax 30] [--cutoff 1e-50] [--lr 0.005] [--hold 0] [--steps 1] [--grad norm0.25|plain]\n" +
        "                             [--split svd|gram]\n" +
        "                             [--loops N] [--seed S] [--out DIR] [--resume [--lr-now X]] [--profile] [--threads 1]\n" +
        "  --data      a directory with train.npy and test.npy (default examples/data/born-machine/mnist) or bars-and-stripes\n" +
        "  --hold N    keep the starting lr for N loops; after them lr × 0.2 follows any loop whose NLL rose (default 0)\n" +
        "  --split     svd (default) or gram: an eigendecomposition of the Gram, 1.5-1.9x faster at Dmax >= 100; it resolves\n" +
        "              singular values down to ~1e-8 of the largest, so use it where Dmax, not the cutoff, sets the bonds\n" +
        "  --loops N   train until N loops are done in total, counting a resumed checkpoint's (default 10)\n" +
        "  --out DIR   where checkpoint.bin, history.csv, nll.png, samples.png, model.tn, model.weights go (default born-machine-D<dmax>)\n" +
        "  --resume    continue from DIR/checkpoint.bin (hyper-parameters and --threads come from it; a different value is refused)\n" +
        "  --lr-now X  with --resume: go on at learning rate X from the next loop (the decay rule carries on from X)\n" +
        "  --profile   print where each loop's time goes (per bond: gradient steps, SVD, environment update)\n" +
        "  --threads   TorchSharp CPU threads (1 is fastest for these small operations on a busy machine)";

    const string DefaultFile = "examples/born-machine.tn";
    const string DefaultData = "examples/data/born-machine/mnist";
    const string BarsAndStripesData = "examples/data/born-machine/bars-and-stripes";

    /// <summary>Runs the command: 0 success, 1 bad input (network, data, checkpoint), 2 usage errors.</summary>
    public static int Run(string[] argv)
    {
        if (argv.Contains("--help") || argv.Contains("-h"))
        {
            Console.WriteLine(Usage);
            return 0;
        }
        var args = Args.Parse(argv,
            ["--file", "--set", "--data", "--dmax", "--cutoff", "--lr", "--hold", "--steps", "--grad", "--split", "--loops", "--seed", "--out", "--threads", "--lr-now"],
            ["--resume", "--profile"]);
        var what = args.Single("model kind (born-machine)");
        if (what != "born-machine")
            throw new UsageException($"unknown model '{what}'; tn train knows: born-machine");
        try
        {
            return Train(args);
        }
        catch (BornDivergedException e)
        {
            Console.Error.WriteLine($"tn train: the run diverged at {e.Message}; the checkpoint still holds the last finished loop. Start again with a smaller --lr");
            return 1;
        }
        catch (Exception e) when (e is NpyFormatException or MpsShapeException or BornSetupException or InvalidDataException or ArgumentException or MemoryLimitException)
        {
            Console.Error.WriteLine($"tn train: {e.Message}");
            return 1;
        }
    }

    static int Train(Args args)
    {
        NativeLoader.EnsureLoaded();
        int threads = ParseInt(args, "--threads", 1, min: 1);
        var requested = new BornOptions
        {
            Dmax = ParseInt(args, "--dmax", 30, min: 1),
            Cutoff = ParseDouble(args, "--cutoff", 1e-50),
            LearningRate = ParseDouble(args, "--lr", 5e-3),
            Steps = ParseInt(args, "--steps", 1, min: 1),
            HoldLoops = ParseInt(args, "--hold", 0, min: 0),
            Scaling = args.Value("--grad") switch
            {
                null or "norm0.25" => GradientScaling.Norm025,
                "plain" => GradientScaling.Plain,
                var g => throw new UsageException($"--grad takes norm0.25 or plain, got '{g}'"),
            },
            Split = args.Value("--split") switch
            {
                null or "svd" => SplitMethod.Svd,
                "gram" => SplitMethod.Gram,
                var m => throw new UsageException($"--split takes svd or gram, got '{m}'"),
            },
            Seed = ParseInt(args, "--seed", 1, min: 0),
        };
        var problems = requested.Validate();
        if (problems.Count > 0)
            throw new UsageException(string.Join("; ", problems));
        int loops = ParseInt(args, "--loops", 10, min: 0);
        var outDir = args.Value("--out") ?? $"born-machine-D{requested.Dmax}";
        var checkpointPath = Path.Combine(outDir, "checkpoint.bin");
        bool resume = args.Has("--resume") && File.Exists(checkpointPath);
        if (args.Has("--resume") && !resume)
            AnsiConsole.MarkupLine($"[yellow]no checkpoint in {Markup.Escape(outDir)} yet: starting a new run[/]");
        if (!args.Has("--resume") && File.Exists(checkpointPath))
            throw new UsageException($"{outDir} already holds a checkpoint; pass --resume to continue it, or choose another --out");

        double? lrNow = args.Value("--lr-now") is not null ? ParseDouble(args, "--lr-now", 0) : null;
        if (lrNow <= 0) // ParseDouble has already refused what is not a finite number
            throw new UsageException($"--lr-now must be a positive number, got {args.Value("--lr-now")}");
        if (lrNow is not null && !resume)
            throw new UsageException("--lr-now changes a resumed run's learning rate; it needs --resume and a checkpoint in --out (a new run starts at --lr)");

        foreach (var stale in Checkpoint.RemoveStale(checkpointPath))
            AnsiConsole.MarkupLine($"[yellow]removed {Markup.Escape(stale)}, left by a write that was killed[/]");
        CheckpointState? saved = null;
        Mps? savedModel = null;
        if (resume)
        {
            (saved, savedModel) = Checkpoint.Load(checkpointPath);
            CheckSameSettings(args, saved);
            // The thread count changes how reductions add up, hence the last bits of every loop: a resumed run keeps it.
            if (saved.Threads > 0)
                threads = saved.Threads;
            if (lrNow is { } next)
            {
                AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"learning rate {saved.LearningRate:g3} → {next:g3} from loop {saved.History[^1].Loop + 1}"));
                saved = saved with { LearningRate = next };
            }
        }
        set_num_threads(threads);
        var file = saved?.NetworkFile ?? args.Value("--file") ?? DefaultFile;
        var dataArg = saved?.Data ?? args.Value("--data") ?? DefaultData;
        var dataDir = dataArg == BornData.BarsAndStripes && !Directory.Exists(dataArg) ? BarsAndStripesData : dataArg;
        var data = BornData.Load(dataDir);
        var overrides = saved is not null
            ? saved.Overrides.Select(o => new KeyValuePair<string, string>(o[..o.IndexOf('=')], o[(o.IndexOf('=') + 1)..])).ToList()
            : args.Pairs("--set");
        var layout = BornSetup.LoadLayout(file, overrides, data.Train.Size);
        using var trainImages = BornSetup.Images(data.Train, layout);
        using var testImages = BornSetup.Images(data.Test, layout);

        using var trainer = saved is not null
            ? BornTrainer.Resume(saved, savedModel!, layout, trainImages, testImages)
            : BornTrainer.Start(layout, trainImages, testImages, requested);
        var options = trainer.Options;
        Directory.CreateDirectory(outDir);
        AnsiConsole.MarkupLine(
            $"[bold]{Markup.Escape(layout.Network)}[/]: {layout.Length} sites, {data.Train.Count} training and {data.Test.Count} test images from {Markup.Escape(dataDir)}; " +
            $"Dmax {options.Dmax}, cutoff {options.Cutoff:g3}, lr {trainer.LearningRate:g3}, {options.Steps} step(s) per bond, hold {options.HoldLoops}, {options.Split.ToString().ToLowerInvariant()} split, seed {options.Seed}" +
            $", {threads} thread(s)" +
            (resume ? $"; resuming after loop {trainer.Loop} (settings from the checkpoint)" : ""));
        if (!resume)
        {
            PrintLoop(trainer.History[0], options.Dmax, IsMnist(data.Train));
            if (!double.IsFinite(trainer.History[0].TrainNll))
            {
                Console.Error.WriteLine($"tn train: the initial state's training NLL is {trainer.History[0].TrainNll} (ψ or Z out of float64 range); check the network's init in {file}");
                return 1;
            }
            Save(trainer, checkpointPath, file, overrides, layout, dataArg, data);
        }

        var profiles = new List<LoopProfile>();
        while (trainer.Loop < loops)
        {
            int loop = trainer.Loop + 1;
            LoopRecord? record = null;
            AnsiConsole.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var back = ctx.AddTask($"loop {loop} sweep ←", maxValue: layout.Length - 2);
                    var forth = ctx.AddTask($"loop {loop} sweep →", maxValue: layout.Length - 1);
                    record = trainer.RunLoop((sweep, done, _) => (sweep == Sweep.RightToLeft ? back : forth).Value = done);
                });
            if (!double.IsFinite(record!.TrainNll))
            {
                PrintLoop(record, options.Dmax, IsMnist(data.Train));
                Console.Error.WriteLine($"tn train: loop {record.Loop} diverged (training NLL {record.TrainNll}); {checkpointPath} still holds loop {record.Loop - 1}; start again with a smaller --lr");
                return 1;
            }
            Save(trainer, checkpointPath, file, overrides, layout, dataArg, data);
            PrintLoop(record, options.Dmax, IsMnist(data.Train));
            profiles.Add(trainer.LastProfile!);
            if (args.Has("--profile"))
                PrintProfile(trainer.LastProfile!, options.Dmax);
            BornPlot.WriteNll(Path.Combine(outDir, "nll.png"), trainer.History, options.Dmax, IsMnist(data.Train));
        }

        PrintTable(trainer.History, options.Dmax, IsMnist(data.Train));
        if (args.Has("--profile") && profiles.Count > 0)
            PrintProfileSummary(profiles, options.Dmax);
        BornPlot.WriteNll(Path.Combine(outDir, "nll.png"), trainer.History, options.Dmax, IsMnist(data.Train));
        var samples = trainer.Model.Sample(64, new SplitMix64((ulong)options.Seed));
        File.WriteAllBytes(Path.Combine(outDir, "samples.png"), SampleCommand.Grid(samples, 64, layout.Sites.Select(s => s.Pixel).ToArray(), data.Train.Width, data.Train.Height, 8));
        BornExport.Save(trainer.Model, layout.Sites.Select(s => s.Pixel).ToArray(), Path.Combine(outDir, "model.tn"), Path.Combine(outDir, "model.weights"));
        AnsiConsole.MarkupLine($"wrote {Markup.Escape(outDir)}/checkpoint.bin, history.csv, nll.png, samples.png, model.tn, model.weights");
        return 0;
    }

    static bool IsMnist(ImageSet set) => set.Count == 1000 && set.Size == 784;

    static void Save(BornTrainer trainer, string path, string file, IReadOnlyList<KeyValuePair<string, string>> overrides, MpsLayout layout, string data, BornDataset set)
    {
        var state = trainer.State(file, layout, data, set.Train.Width, set.Train.Height) with
        {
            Overrides = overrides.Select(o => $"{o.Key}={o.Value}").ToArray(),
            Threads = get_num_threads(),
        };
        Checkpoint.Save(path, state, trainer.Model);
        var csv = new System.Text.StringBuilder("loop,train_nll,test_nll,max_bond,lr,seconds\n");
        foreach (var h in trainer.History)
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{h.Loop},{h.TrainNll:F4},{h.TestNll:F4},{h.MaxBond},{h.LearningRate:g4},{h.Seconds:F2}"));
        var csvPath = Path.Combine(Path.GetDirectoryName(path)!, "history.csv");
        File.WriteAllText(csvPath + ".tmp", csv.ToString());
        File.Move(csvPath + ".tmp", csvPath, overwrite: true);
    }

    static void CheckSameSettings(Args args, CheckpointState saved)
    {
        var o = saved.Options;
        void Same(string option, string? given, string stored)
        {
            if (given is not null && given != stored)
                throw new UsageException($"{option} {given} differs from the checkpoint's {stored}; a resumed run keeps its settings (drop {option} or choose another --out)");
        }
        string Num(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        Same("--dmax", args.Value("--dmax"), o.Dmax.ToString(CultureInfo.InvariantCulture));
        Same("--cutoff", args.Value("--cutoff") is { } c ? Num(ParseDouble(args, "--cutoff", 0)) : null, Num(o.Cutoff));
        Same("--lr", args.Value("--lr") is { } l ? Num(ParseDouble(args, "--lr", 0)) : null, Num(o.LearningRate));
        Same("--hold", args.Value("--hold"), o.HoldLoops.ToString(CultureInfo.InvariantCulture));
        Same("--steps", args.Value("--steps"), o.Steps.ToString(CultureInfo.InvariantCulture));
        Same("--seed", args.Value("--seed"), o.Seed.ToString(CultureInfo.InvariantCulture));
        Same("--split", args.Value("--split"), o.Split.ToString().ToLowerInvariant());
        Same("--file", args.Value("--file"), saved.NetworkFile);
        Same("--data", args.Value("--data"), saved.Data);
        if (saved.Threads > 0)
            Same("--threads", args.Value("--threads"), saved.Threads.ToString(CultureInfo.InvariantCulture));
        if (args.Pairs("--set").Count > 0)
            throw new UsageException("--set cannot change a resumed run's network");
    }

    static void PrintLoop(LoopRecord r, int dmax, bool mnist)
    {
        var reference = mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var v) ? $"   (authors' final train NLL at Dmax {dmax}: {v:F2})" : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loop {r.Loop,4}  train NLL {r.TrainNll,9:F3}  test NLL {r.TestNll,9:F3}  max bond {r.MaxBond,4}  lr {r.LearningRate,-8:g3}  {r.Seconds,7:F1} s{(r.Loop == 0 ? reference : "")}"));
    }

    static void PrintTable(IReadOnlyList<LoopRecord> history, int dmax, bool mnist)
    {
        var table = new Table().Title($"MPS Born machine, Dmax {dmax}")
            .AddColumns("loop", "train NLL", "test NLL", "max bond", "lr", "seconds");
        foreach (var h in history)
            table.AddRow(h.Loop.ToString(), F(h.TrainNll, 3), F(h.TestNll, 3), h.MaxBond.ToString(), h.LearningRate.ToString("g3", CultureInfo.InvariantCulture), F(h.Seconds, 1));
        if (mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var v))
            table.Caption($"authors' final training NLL at Dmax {dmax} (MNIST, 1000 images): {v:F2}");
        AnsiConsole.Write(table);
    }

    static string F(double x, int digits) => x.ToString("F" + digits, CultureInfo.InvariantCulture);

    static void PrintProfile(LoopProfile p, int dmax)
    {
        double ms(double s) => 1000 * s / p.Bonds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  profile (Dmax {dmax}): {p.Total:F2} s = {p.Bonds} bonds × ({ms(p.Gradient):F3} ms gradient + {ms(p.Svd):F3} ms SVD + {ms(p.Environment):F3} ms environment) + {p.Setup:F2} s left environments + {p.Nll:F2} s NLL"));
    }

    static void PrintProfileSummary(List<LoopProfile> profiles, int dmax)
    {
        double Sum(Func<LoopProfile, double> f) => profiles.Sum(f);
        double total = Sum(p => p.Total);
        int bonds = profiles.Sum(p => p.Bonds);
        var table = new Table().Title($"where the time goes: {profiles.Count} loop(s) at Dmax {dmax}, {total / profiles.Count:F2} s per loop")
            .AddColumns("part", "seconds per loop", "ms per bond", "share");
        void Row(string name, double s, bool perBond) =>
            table.AddRow(name, F(s / profiles.Count, 3), perBond ? F(1000 * s / bonds, 3) : "", F(100 * s / total, 1) + " %");
        Row("gradient steps", Sum(p => p.Gradient), true);
        Row("SVD split", Sum(p => p.Svd), true);
        Row("environment updates", Sum(p => p.Environment), true);
        Row("left environments (loop start)", Sum(p => p.Setup), false);
        Row("train + test NLL (loop end)", Sum(p => p.Nll), false);
        AnsiConsole.Write(table);
    }

    static int ParseInt(Args args, string name, int fallback, int min)
    {
        var v = args.Value(name);
        if (v is null) return fallback;
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) || x < min)
            throw new UsageException($"{name} takes an integer ≥ {min}, got '{v}'");
        return x;
    }

    static double ParseDouble(Args args, string name, double fallback)
    {
        var v = args.Value(name);
        if (v is null) return fallback;
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x))
            throw new UsageException($"{name} takes a number, got '{v}'");
        return x;
    }
}
