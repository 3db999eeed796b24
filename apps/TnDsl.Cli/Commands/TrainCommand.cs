namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Globalization;
using System.Numerics;
using Spectre.Console;
using TnDsl.Torch;
using TnDsl.BornMachine;
using static TorchSharp.torch;
using TnDsl.Native;

/// <summary>
/// <c>tn train born-machine …</c>: trains an MPS Born machine read from a .tn file with two-site sweeps, printing a
/// progress bar per sweep and a line per loop, checkpointing after every loop (<c>--resume</c> continues), and
/// writing the NLL plot, a sample grid and the exported network into the output directory.
/// </summary>
public static class TrainCommand
{
    const string DefaultFile = "examples/born-machine.tn";
    const string DefaultData = "examples/data/born-machine/mnist";
    const string BarsAndStripesData = "examples/data/born-machine/bars-and-stripes";

    /// <summary>The options of <c>tn train born-machine</c>, read together by <see cref="Train"/>.</summary>
    sealed class BornMachineOptions
    {
        public readonly Option<string> File = new("--file")
        {
            Description = "the MPS-shaped .tn network to train",
            HelpName = "FILE.tn",
            DefaultValueFactory = _ => DefaultFile,
        };
        public readonly Option<KeyValuePair<string, string>[]> Set = TnOptions.Set();
        public readonly Option<string> Network = TnOptions.Network();
        public readonly Option<string> Data = new("--data")
        {
            Description = "a directory with train.npy and test.npy, or bars-and-stripes (both samples ship with tn)",
            HelpName = "DIR",
            DefaultValueFactory = _ => DefaultData,
        };
        public readonly Option<int> Dmax = TnOptions.Int("--dmax", 30, "the largest bond dimension");
        public readonly Option<double> Cutoff = TnOptions.Number("--cutoff", 1e-50, "singular values below this (relative) are dropped", positive: false);
        public readonly Option<double> Lr = TnOptions.Number("--lr", 5e-3, "the starting learning rate", positive: false);
        public readonly Option<int> Hold = TnOptions.Int("--hold", 0,
            "keep the starting lr for N loops; after them lr × 0.2 follows any loop whose NLL rose", min: 0);
        public readonly Option<int> Steps = TnOptions.Int("--steps", 1, "gradient steps per bond");
        public readonly Option<string> Grad = TnOptions.Choice("--grad", "gradient scaling: norm0.25 (the authors') or plain", "norm0.25", "plain");
        public readonly Option<string> Split = TnOptions.Choice("--split",
            "svd, or gram: an eigendecomposition of the Gram, 1.5-1.9x faster at Dmax >= 100; it resolves singular values "
            + "down to ~1e-8 of the largest, so use it where Dmax, not the cutoff, sets the bonds", "svd", "gram");
        public readonly Option<int> Loops = TnOptions.Int("--loops", 10, "train until N loops are done in total, counting a resumed checkpoint's", min: 0);
        public readonly Option<long> Seed = TnOptions.Integer("--seed", 1, "seed of the initial state and the sampler", min: 0);
        public readonly Option<string> Out = TnOptions.Text("--out", "DIR",
            "where checkpoint.bin, history.csv, nll.png, samples.png, model.tn, model.weights go [default: born-machine-D<dmax>]");
        public readonly Option<bool> Resume = TnOptions.Flag("--resume", "continue from DIR/checkpoint.bin (hyper-parameters and --threads come from it; a different value is refused)");
        public readonly Option<double?> LrNow = TnOptions.OptionalNumber("--lr-now",
            "with --resume: go on at this learning rate from the next loop (the decay rule carries on from it)");
        public readonly Option<bool> Profile = TnOptions.Flag("--profile", "print where each loop's time goes (per bond: gradient steps, SVD, environment update)");
        public readonly Option<int> Threads = TnOptions.Int("--threads", 1, "TorchSharp CPU threads (1 is fastest for these small operations on a busy machine)", max: TnDsl.Cli.Threads.Max);

        public IEnumerable<Option> All => [File, Set, Network, Data, Dmax, Cutoff, Lr, Hold, Steps, Grad, Split, Loops, Seed, Out, Resume, LrNow, Profile, Threads];
    }

    /// <summary>The <c>train</c> verb with its one model, <c>born-machine</c>; it reports on the console.</summary>
    public static Command Create()
    {
        var o = new BornMachineOptions();
        var bornMachine = new Command("born-machine",
            "an MPS Born machine on images: two-site sweeps, a checkpoint after every loop (--resume continues)");
        foreach (var option in o.All)
            bornMachine.Options.Add(option);
        Cli.SetAction(bornMachine, parse =>
        {
            // Errors go to the invocation's error writer (the console for `tn`, a captured writer in process).
            var err = parse.InvocationConfiguration.Error;
            try
            {
                return Train(parse, o, err);
            }
            catch (BornDivergedException e)
            {
                err.WriteLine($"tn train: the run diverged at {e.Message}; the checkpoint still holds the last finished loop. Start again with a smaller --lr");
                return 1;
            }
            catch (Exception e) when (e is NpyFormatException or MpsShapeException or TnDsl.Api.TnException { File: null } or InvalidDataException or ArgumentException or MemoryLimitException)
            {
                err.WriteLine($"{Cli.Verb(parse.CommandResult)}: {e.Message}");
                return 1;
            }
        });
        return new Command("train", "train a model: born-machine (an MPS Born machine on images)") { bornMachine };
    }

    static int Train(ParseResult parse, BornMachineOptions o, TextWriter err)
    {
        // A refusal by the memory guard names this verb's options.
        using var advice = MemoryGuard.Advise("use a smaller --dmax or smaller parameters (--set), or raise the limit");
        NativeLoader.EnsureLoaded();
        int threads = parse.GetValue(o.Threads);
        var requested = new BornOptions
        {
            Dmax = parse.GetValue(o.Dmax),
            Cutoff = parse.GetValue(o.Cutoff),
            LearningRate = parse.GetValue(o.Lr),
            Steps = parse.GetValue(o.Steps),
            HoldLoops = parse.GetValue(o.Hold),
            Scaling = parse.GetValue(o.Grad) == "plain" ? GradientScaling.Plain : GradientScaling.Norm025,
            Split = parse.GetValue(o.Split) == "gram" ? SplitMethod.Gram : SplitMethod.Svd,
            Seed = parse.GetValue(o.Seed),
        };
        var problems = requested.Validate();
        if (problems.Count > 0)
            throw new UsageException(string.Join("; ", problems));
        int loops = parse.GetValue(o.Loops);
        var outDir = parse.GetValue(o.Out) ?? $"born-machine-D{requested.Dmax}";
        if (System.IO.File.Exists(outDir))
            throw new UsageException($"--out {outDir} is a file; --out names the folder the run writes into (checkpoint.bin, history.csv, …)");
        var checkpointPath = Path.Combine(outDir, "checkpoint.bin");
        bool resumeAsked = parse.GetValue(o.Resume);
        bool resume = resumeAsked && System.IO.File.Exists(checkpointPath);
        if (resumeAsked && !resume)
            Say($"[yellow]no checkpoint in {Markup.Escape(outDir)} yet: starting a new run[/]");
        if (!resumeAsked && System.IO.File.Exists(checkpointPath))
            throw new UsageException($"{outDir} already holds a checkpoint; pass --resume to continue it, or choose another --out");

        double? lrNow = parse.GetValue(o.LrNow);
        if (lrNow is not null && !resume)
            throw new UsageException("--lr-now changes a resumed run's learning rate; it needs --resume and a checkpoint in --out (a new run starts at --lr)");

        foreach (var stale in Checkpoint.RemoveStale(checkpointPath))
            Say($"[yellow]removed {Markup.Escape(stale)}, left by a write that was killed[/]");
        CheckpointState? saved = null;
        Mps? savedModel = null;
        if (resume)
        {
            (saved, savedModel) = Checkpoint.Load(checkpointPath);
            CheckSameSettings(parse, o, saved);
            // The thread count changes how reductions add up, hence the last bits of every loop: a resumed run keeps it.
            if (saved.Threads > 0)
                threads = saved.Threads;
            if (lrNow is { } next)
            {
                Say(string.Create(CultureInfo.InvariantCulture, $"learning rate {saved.LearningRate:g3} → {next:g3} from loop {saved.History[^1].Loop + 1}"));
                saved = saved with { LearningRate = next };
            }
        }
        set_num_threads(threads);
        // The defaults (and any examples/… path missing here) are the copies shipped with the tool: see Shipped.
        var file = Shipped.Resolve(saved?.NetworkFile ?? parse.GetValue(o.File)!);
        Shipped.Require(file);
        var network = saved is not null ? (saved.Network.Length > 0 ? saved.Network : null) : parse.GetValue(o.Network);
        var dataArg = saved?.Data ?? parse.GetValue(o.Data)!;
        var dataDir = Shipped.Resolve(dataArg == BornData.BarsAndStripes && !Directory.Exists(dataArg) ? BarsAndStripesData : dataArg);
        var data = BornData.Load(dataDir);
        var overrides = saved is not null
            ? saved.Overrides.Select(o => new KeyValuePair<string, string>(o[..o.IndexOf('=')], o[(o.IndexOf('=') + 1)..])).ToList()
            : parse.Pairs(o.Set);
        // A resumed run's overrides are its checkpoint's (the --set of the run that made it): a mistake in them (the
        // .tn file changed since) is named after the checkpoint, not after a --set this command was not given.
        var origin = saved is not null
            ? new TnDsl.Api.OverrideOrigin(checkpointPath, "saved --set ", "a resumed run keeps its checkpoint's parameters: start a new run with `--set {0}=…`")
            : TnDsl.Api.OverrideOrigin.CommandLine;
        var layout = BornSetup.LoadLayout(file, overrides, data.Train.Size, network, origin, Shipped.Shown(file));
        int asked = threads;
        threads = BornTrainer.ThreadsFor(threads, saved?.Options.Dmax ?? requested.Dmax, data.Train.Count, layout.Sites.Max(s => s.Physical));
        set_num_threads(threads);
        BornTrainer Trainer()
        {
            // The trainer keeps its own copies in site order: these are freed before training starts.
            using var trainImages = BornSetup.Images(data.Train, layout);
            using var testImages = BornSetup.Images(data.Test, layout);
            return saved is not null
                ? BornTrainer.Resume(saved, savedModel!, layout, trainImages, testImages)
                : BornTrainer.Start(layout, trainImages, testImages, requested);
        }
        using var trainer = Trainer();
        var options = trainer.Options;
        Directory.CreateDirectory(outDir);
        Say(
            $"[bold]{Markup.Escape(layout.Network)}[/]: {layout.Length} sites, {data.Train.Count} training and {data.Test.Count} test images from {Markup.Escape(dataDir)}; " +
            $"Dmax {options.Dmax}, cutoff {options.Cutoff:g3}, lr {trainer.LearningRate:g3}, {options.Steps} step(s) per bond, hold {options.HoldLoops}, {options.Split.ToString().ToLowerInvariant()} split, seed {options.Seed}" +
            $", {threads} thread(s)" + (threads < asked ? $" ({asked} asked; bonds this small run fastest on one)" : "") +
            (resume ? $"; resuming after loop {trainer.Loop} (settings from the checkpoint)" : ""));
        if (!resume)
        {
            PrintLoop(trainer.History[0], options.Dmax, IsMnist(data.Train));
            if (!double.IsFinite(trainer.History[0].TrainNll))
            {
                err.WriteLine($"tn train: the initial state's training NLL is {trainer.History[0].TrainNll} (ψ or Z out of float64 range); check the network's init in {file}");
                return 1;
            }
            Save(trainer, checkpointPath, file, overrides, layout, dataArg, data);
        }

        // A resumed checkpoint at or past --loops trains nothing and is left as it is (history.csv with it).
        bool nothingToRun = resume && trainer.Loop >= loops;
        if (nothingToRun)
            Say($"[yellow]{Markup.Escape(checkpointPath)} already holds loop {trainer.Loop}, at or past --loops {loops}: no loop to run (raise --loops to go on)[/]");
        var profiles = new List<LoopProfile>();
        while (trainer.Loop < loops)
        {
            int loop = trainer.Loop + 1;
            LoopRecord? record = null;
            try
            {
                if (Terminal)
                    AnsiConsole.Progress()
                        .AutoClear(true)
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                        .Start(ctx =>
                        {
                            var back = ctx.AddTask($"loop {loop} sweep ←", maxValue: layout.Length - 2);
                            var forth = ctx.AddTask($"loop {loop} sweep →", maxValue: layout.Length - 1);
                            record = trainer.RunLoop((sweep, done, _) => (sweep == Sweep.RightToLeft ? back : forth).Value = done);
                        });
                else
                    record = trainer.RunLoop(new SweepLines(Console.Out, loop).Report);
            }
            catch (MemoryLimitException e)
            {
                // A bond (or the environments) would grow past the limit: the loop in progress is lost, as by an
                // interrupt; the checkpoint holds the last finished loop, and the model files are written from it.
                if (!Terminal)
                    Console.WriteLine();
                err.WriteLine($"tn train: stopped in loop {loop}: {e.Message}");
                PrintTable(trainer.History, options.Dmax, IsMnist(data.Train));
                BornPlot.WriteNll(Path.Combine(outDir, "nll.png"), trainer.History, options.Dmax, IsMnist(data.Train));
                int finished = trainer.Loop;
                // The checkpoint's model is read back once the trainer's state is freed: the limit then has the room
                // that state held (the checkpoint's sites are among it).
                var room = trainer.MemoryLimit + trainer.HeldBytes;
                var source = $"{trainer.MemoryLimitSource}, with the {MemoryGuard.Format(trainer.HeldBytes)} the trainer freed";
                trainer.Dispose();
                string wrote = "history.csv, nll.png, samples.png, model.tn, model.weights";
                try
                {
                    using (MemoryGuard.Advise(MemoryGuard.Remedies ?? "raise the limit", (long)BigInteger.Min(room, long.MaxValue), source))
                    {
                        var (_, last) = Checkpoint.Load(checkpointPath);
                        using (last)
                            WriteModel(last, outDir, layout, data, options.Seed);
                    }
                }
                catch (MemoryLimitException refused)
                {
                    // The export plans a module of its own; under a limit this small it may not fit either.
                    wrote = "history.csv, nll.png";
                    err.WriteLine($"tn train: samples.png, model.tn and model.weights not written: {refused.Message}");
                }
                err.WriteLine($"tn train: {checkpointPath} holds loop {finished}; wrote {outDir}/{wrote} from it (--resume continues it, under a higher limit)");
                return 1;
            }
            if (!double.IsFinite(record!.TrainNll))
            {
                PrintLoop(record, options.Dmax, IsMnist(data.Train));
                err.WriteLine($"tn train: loop {record.Loop} diverged (training NLL {record.TrainNll}); {checkpointPath} still holds loop {record.Loop - 1}; start again with a smaller --lr");
                return 1;
            }
            Save(trainer, checkpointPath, file, overrides, layout, dataArg, data);
            PrintLoop(record, options.Dmax, IsMnist(data.Train));
            profiles.Add(trainer.LastProfile!);
            if (parse.GetValue(o.Profile))
                PrintProfile(trainer.LastProfile!, options.Dmax);
            BornPlot.WriteNll(Path.Combine(outDir, "nll.png"), trainer.History, options.Dmax, IsMnist(data.Train));
        }

        PrintTable(trainer.History, options.Dmax, IsMnist(data.Train));
        if (parse.GetValue(o.Profile) && profiles.Count > 0)
            PrintProfileSummary(profiles, options.Dmax);
        BornPlot.WriteNll(Path.Combine(outDir, "nll.png"), trainer.History, options.Dmax, IsMnist(data.Train));
        WriteModel(trainer.Model, outDir, layout, data, options.Seed);
        Say($"wrote {Markup.Escape(outDir)}/{(nothingToRun ? "" : "checkpoint.bin, history.csv, ")}nll.png, samples.png, model.tn, model.weights");
        return 0;
    }

    /// samples.png and the model's export (model.tn, model.weights) of <paramref name="model"/>.
    static void WriteModel(Mps model, string outDir, MpsLayout layout, BornDataset data, long seed)
    {
        var pixels = layout.Sites.Select(s => s.Pixel).ToArray();
        var samples = model.Sample(64, new SplitMix64((ulong)seed));
        SafeFile.ReplaceBytes(Path.Combine(outDir, "samples.png"), SampleCommand.Grid(samples, 64, pixels, data.Train.Width, data.Train.Height, 8));
        BornExport.Save(model, pixels, Path.Combine(outDir, "model.tn"), Path.Combine(outDir, "model.weights"));
    }

    static bool IsMnist(ImageSet set) => set.Count == 1000 && set.Size == 784;

    /// Whether the output is a terminal. Where it is not (a pipe, a file), Spectre's progress falls back to lines its
    /// refresh thread prints once a second: late, the next sweep's 0% amid this one's, never a sweep's end, and none
    /// at all for a loop under a second. There the sweeps are reported by <see cref="SweepLines"/> instead, and
    /// markup lines are written plain (Spectre wraps them at 80 columns where it sees no terminal).
    static bool Terminal => !Console.IsOutputRedirected;

    /// A line of markup: styled on a terminal, its text alone elsewhere.
    static void Say(string markup)
    {
        if (Terminal)
            AnsiConsole.MarkupLine(markup);
        else
            Console.WriteLine(Markup.Remove(markup));
    }

    /// <summary>A loop's progress as plain text, written on the training thread so that it keeps its place among the
    /// other lines: one line per sweep, its quarters added as they are reached and ended with the sweep's seconds
    /// (<c>loop 3 sweep ←: 25% 50% 75% 100% (4.1 s)</c>).</summary>
    sealed class SweepLines(TextWriter output, int loop)
    {
        readonly System.Diagnostics.Stopwatch clock = new();
        Sweep? current;
        int shown;

        /// <summary>Told after each bond (as <see cref="BornTrainer.RunLoop"/>'s progress): the sweep, bonds done, bonds in it.</summary>
        public void Report(Sweep sweep, int done, int bonds)
        {
            if (sweep != current)
            {
                current = sweep;
                shown = 0;
                clock.Restart();
                output.Write($"loop {loop} sweep {(sweep == Sweep.RightToLeft ? "←" : "→")}:");
            }
            int quarter = bonds <= 0 ? 4 : 4 * done / bonds;
            for (; shown < quarter; shown++)
                output.Write($" {25 * (shown + 1)}%");
            if (done >= bonds)
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $" ({clock.Elapsed.TotalSeconds:F1} s)"));
            output.Flush();
        }
    }

    static void Save(BornTrainer trainer, string path, string file, IReadOnlyList<KeyValuePair<string, string>> overrides, MpsLayout layout, string data, BornDataset set)
    {
        var state = trainer.State(file, layout, data, set.Train.Width, set.Train.Height) with
        {
            Overrides = overrides.Select(o => $"{o.Key}={o.Value}").ToArray(),
            Threads = get_num_threads(),
        };
        Checkpoint.Save(path, state, trainer.Model);
        var csv = new System.Text.StringBuilder("loop,train_nll,test_nll,max_bond,lr,seconds\n");
        // The NLLs as they round-trip: `tn sample history.csv --plot` redraws the plot from them, whose panel of the
        // last loops spans thousandths of a nat.
        foreach (var h in trainer.History)
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{h.Loop},{h.TrainNll:R},{h.TestNll:R},{h.MaxBond},{h.LearningRate:g4},{h.Seconds:F2}"));
        var csvPath = Path.Combine(Path.GetDirectoryName(path)!, "history.csv");
        SafeFile.ReplaceText(csvPath, csv.ToString());
    }

    static void CheckSameSettings(ParseResult parse, BornMachineOptions o, CheckpointState saved)
    {
        var stored = saved.Options;
        void Same<T>(Option<T> option, Func<T, string> show, string kept)
        {
            // Only what was typed counts: a default is not a request to change the run.
            if (parse.GetResult(option) is { Implicit: false } && show(parse.GetValue(option)!) is var given && given != kept)
                throw new UsageException($"{option.Name} {given} differs from the checkpoint's {kept}; a resumed run keeps its settings (drop {option.Name} or choose another --out)");
        }
        string Num(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        string Int(int x) => x.ToString(CultureInfo.InvariantCulture);
        string Long(long x) => x.ToString(CultureInfo.InvariantCulture);
        Same(o.Dmax, Int, Int(stored.Dmax));
        Same(o.Cutoff, Num, Num(stored.Cutoff));
        Same(o.Lr, Num, Num(stored.LearningRate));
        Same(o.Hold, Int, Int(stored.HoldLoops));
        Same(o.Steps, Int, Int(stored.Steps));
        Same(o.Seed, Long, Long(stored.Seed));
        Same(o.Split, s => s, stored.Split.ToString().ToLowerInvariant());
        Same(o.File, s => s, saved.NetworkFile);
        Same(o.Network, s => s, saved.Network);
        Same(o.Data, s => s, saved.Data);
        if (saved.Threads > 0)
            Same(o.Threads, Int, Int(saved.Threads));
        if (parse.Pairs(o.Set).Count > 0)
            throw new UsageException("--set cannot change a resumed run's network");
    }

    static void PrintLoop(LoopRecord r, int dmax, bool mnist)
    {
        var reference = mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var v) ? $"   (authors' final train NLL at Dmax {dmax}: {v:F2})" : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loop {r.Loop,4}  train NLL {r.TrainNll,9:F3}  test NLL {r.TestNll,9:F3}  max bond {r.MaxBond,4}{StartBond(r, dmax)}  lr {r.LearningRate,-8:g3}  {r.Seconds,7:F1} s{(r.Loop == 0 ? reference : "")}"));
    }

    /// Loop 0's largest bond is the start's, as its file declares the bonds (left-canonicalised, nothing truncated):
    /// above Dmax until loop 1's splits cut it, which the figure alone does not say.
    static string StartBond(LoopRecord r, int dmax) =>
        r.Loop != 0 ? "" : r.MaxBond > dmax ? $" (the start's, not yet cut to Dmax {dmax})" : " (the start's)";

    static void PrintTable(IReadOnlyList<LoopRecord> history, int dmax, bool mnist)
    {
        var table = new Table().Title($"MPS Born machine, Dmax {dmax}")
            .AddColumns("loop", "train NLL", "test NLL", "max bond", "lr", "seconds");
        foreach (var h in history)
            table.AddRow(h.Loop.ToString(), F(h.TrainNll, 3), F(h.TestNll, 3), h.MaxBond + (h.Loop == 0 ? " (start)" : ""), h.LearningRate.ToString("g3", CultureInfo.InvariantCulture), F(h.Seconds, 1));
        AnsiConsole.Write(table);
        // A line of its own: as the table's caption it was wrapped to the table's width, the figure alone on a line.
        if (mnist && PublishedFigures.MnistTrainNll.TryGetValue(dmax, out var v))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"authors' final training NLL at Dmax {dmax} (MNIST, 1000 images): {v:F2}"));
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
}
