using System.CommandLine;
using System.Globalization;
using TnDsl.Studies;
using TnDsl.Data;
using TnDsl.Torch;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn study NAME [options]</c>: runs one training study with CPU-sized defaults and prints its table; with
/// <c>--out DIR</c> the tables (Markdown, CSV) and plots are written there. Studies: tt-mlp (issue 5), convac,
/// heads, qcnn (issue 7); <c>tn study replot STUDY DIR</c> redraws the pictures from DIR's CSVs. Missing data is reported with the setup command.
/// </summary>
public static class StudyCommand
{
    /// <summary>The <c>study</c> verb: one sub-command per study, each with its options and CPU-sized defaults.</summary>
    public static Command Create() => new("study", "training studies on MNIST / Fashion-MNIST (tt-mlp, convac, heads, qcnn)")
    {
        TtMlp(), ConvAc(), Heads(), Qcnn(), Replot(),
    };

    /// <summary><c>tn study replot STUDY DIR</c>: redraws a study's pictures from the CSVs a run wrote into DIR
    /// (<c>--out</c>), with the same plotting code and no training; prints each picture written.</summary>
    static Command Replot()
    {
        var study = new Argument<string>("STUDY") { Description = "the study whose pictures to redraw: " + string.Join(", ", TnDsl.Studies.Replot.Studies) };
        study.AcceptOnlyFromAmong(TnDsl.Studies.Replot.Studies);
        var dir = new Argument<string>("DIR") { Description = "the folder a run wrote its tables into (--out DIR)" }.NotAnOption();
        var command = new Command("replot", "redraw a study's pictures from its recorded CSVs in DIR, without training") { study, dir };
        Cli.SetAction(command, parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output, err = parse.InvocationConfiguration.Error;
            try
            {
                int failed = 0;
                foreach (var chart in TnDsl.Studies.Replot.Run(parse.GetValue(study)!, parse.GetValue(dir)!))
                    if (chart.Failure is { } failure)
                    {
                        err.WriteLine($"tn study replot: {chart.Path}: {failure}");
                        failed++;
                    }
                    else
                        output.WriteLine($"{chart.Path}: {chart.Series.Count} series, {chart.Series.Sum(s => s.X.Length)} points");
                return failed == 0 ? 0 : 1;
            }
            catch (StudyException e)
            {
                err.WriteLine($"tn study replot: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>
    /// The options every study shares, with that study's defaults: training length and size, optimiser, seed, data
    /// set, output directory, checkpoint and progress bar.
    /// </summary>
    sealed class Common
    {
        public readonly Option<int> Epochs, Batch;
        public readonly Option<long> Seed, Test;
        public readonly Option<long>? Train;
        public readonly Option<double> Lr;
        public readonly Option<string>? Dataset;
        public readonly Option<string> Out = TnOptions.Text("--out", "DIR", "also write the tables (Markdown, CSV) and plots there");
        public readonly Option<string> Checkpoint = TnOptions.Text("--checkpoint", "FILE",
            "save the model being trained (TorchSharp state_dict) after every epoch");
        public readonly Option<bool> NoProgress = TnOptions.Flag("--no-progress", "no progress bar");
        public readonly Option<int?> Threads = TnOptions.ThreadCount("TorchSharp CPU threads [default: libtorch's]");

        public Common(int epochs, double lr, long? train, long test, string? dataset, params string[] datasets)
        {
            Epochs = TnOptions.Int("--epochs", epochs, "passes over the training set");
            Batch = TnOptions.Int("--batch", 100, "examples per optimisation step");
            Lr = TnOptions.Number("--lr", lr, "Adam's learning rate");
            Seed = TnOptions.Integer("--seed", 1, "seed of the initialisation and the shuffling");
            Train = train is { } n ? TnOptions.Integer("--train", n, "training examples used (the first N)") : null;
            Test = TnOptions.Integer("--test", test, "test examples used (the first N)");
            Dataset = dataset is null ? null : TnOptions.Choice("--dataset", "the data set", [dataset, .. datasets]);
        }

        /// <summary>Adds the options to <paramref name="command"/>.</summary>
        public Command AddTo(Command command)
        {
            foreach (var o in new Option?[] { Epochs, Batch, Lr, Seed, Train, Test, Dataset, Out, Checkpoint, NoProgress, Threads })
                if (o is not null)
                    command.Options.Add(o);
            return command;
        }

        public TrainSettings Settings(ParseResult parse) => new()
        {
            Epochs = parse.GetValue(Epochs),
            BatchSize = parse.GetValue(Batch),
            LearningRate = parse.GetValue(Lr),
            Seed = parse.GetValue(Seed),
            Progress = !parse.GetValue(NoProgress),
            CheckpointPath = parse.GetValue(Checkpoint),
        };

        /// <summary><paramref name="settings"/> with the shared options' values: data sets, image counts,
        /// training and output directory.</summary>
        public T Fill<T>(ParseResult parse, T settings) where T : ImageStudySettings => (T)(settings with
        {
            Datasets = Datasets(parse),
            TrainLimit = parse.GetValue(Train!),
            TestLimit = parse.GetValue(Test),
            Train = Settings(parse),
            OutputDirectory = parse.GetValue(Out),
        });

        public DatasetName[] Datasets(ParseResult parse) => parse.GetValue(Dataset!) switch
        {
            "both" => [DatasetName.FashionMnist, DatasetName.Mnist],
            var d => [TnDsl.Data.Datasets.Parse(d!)!.Value],
        };
    }

    /// <summary>A study's sub-command: the shared options, its own, and an action that prints its tables.</summary>
    static Command Study(string name, string description, Common common, Option[] own, Func<ParseResult, Func<ResultTable[]>> job)
    {
        var command = common.AddTo(new Command(name, description));
        foreach (var o in own)
            command.Options.Add(o);
        Cli.SetAction(command, parse =>
        {
            try
            {
                // Settings are read (and checked) before anything runs, the places results go included: a run of
                // hours must not end on an --out that names a file.
                CheckWritable(parse, common);
                if (parse.GetValue(common.Threads) is { } threads)
                {
                    TnDsl.Native.NativeLoader.EnsureLoaded();
                    TorchSharp.torch.set_num_threads(threads);
                }
                var run = job(parse);
                foreach (var table in run())
                    table.Print();
                return 0;
            }
            catch (Exception e) when (e is DataMissingException or StudyException or TnDsl.Api.TnException or IdxFormatException or NotSupportedException)
            {
                Console.Error.WriteLine($"tn study {name}: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>
    /// Throws a <see cref="UsageException"/> when <c>--out</c> names a file (it is a folder the study makes) or
    /// <c>--checkpoint</c> a folder, or either lies under a file.
    /// </summary>
    static void CheckWritable(ParseResult parse, Common common)
    {
        // The first existing folder or file at or above `path`.
        static string? Existing(string path)
        {
            for (var p = Path.GetFullPath(path); !string.IsNullOrEmpty(p); p = Path.GetDirectoryName(p))
                if (Path.Exists(p)) return p;
            return null;
        }
        void Refuse(string option, string path, string why) => throw new UsageException($"{option} {path}: {why}");
        if (parse.GetValue(common.Out) is { } dir && Existing(dir) is { } hitDir && File.Exists(hitDir))
            Refuse("--out", dir, hitDir == Path.GetFullPath(dir) ? "is a file; --out names the folder the tables and plots go into" : $"{hitDir} is a file, not a folder");
        if (parse.GetValue(common.Checkpoint) is { } file && Existing(file) is { } hitFile)
        {
            if (Directory.Exists(hitFile) && hitFile == Path.GetFullPath(file))
                Refuse("--checkpoint", file, "is a folder; give a file name");
            if (File.Exists(hitFile) && hitFile != Path.GetFullPath(file))
                Refuse("--checkpoint", file, $"{hitFile} is a file, not a folder");
        }
    }

    /// <summary>The values a list option was given, or <paramref name="fallback"/> where it was left out: System.CommandLine
    /// reads an absent list option as an empty array, not null, and the options' parsers refuse an empty list.</summary>
    static T[] Given<T>(T[]? values, T[] fallback) => values is { Length: > 0 } ? values : fallback;

    /// <summary>An option that takes positive integers separated by commas; absent, the caller takes
    /// <paramref name="fallback"/> (<see cref="Given"/>), which the help shows as it is typed (System.CommandLine's own
    /// default shows 2|8).</summary>
    static Option<int[]> Ints(string name, int[] fallback, string description) => new(name)
    {
        Description = $"{description} [default: {string.Join(",", fallback)}]",
        HelpName = "N,N,...",
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : "";
            var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => TnOptions.ReadInteger(p, out _) is { } v && v > 0 && v <= int.MaxValue ? (int)v : -1).ToArray();
            if (values.Length > 0 && values.All(v => v > 0)) return values;
            r.AddError($"{name} takes positive integers separated by commas, got '{text}'");
            return [];
        },
    };

    static Command TtMlp()
    {
        var common = new Common(epochs: 2, lr: 1e-3, train: 60000, test: 10000, dataset: "fashion", "mnist");
        var rank = TnOptions.Int("--rank", 8, "the TT rank of examples/mpo-linear.tn");
        return Study("tt-mlp", "MLP 784-256-10 on Fashion-MNIST: dense hidden layer vs examples/mpo-linear.tn", common, [rank],
            parse =>
            {
                var settings = new TtMlpSettings
                {
                    Dataset = common.Datasets(parse).Single(),
                    TrainLimit = parse.GetValue(common.Train!),
                    TestLimit = parse.GetValue(common.Test),
                    Rank = parse.GetValue(rank),
                    Train = common.Settings(parse),
                    OutputDirectory = parse.GetValue(common.Out),
                };
                return () => [TtMlpStudy.Run(settings)];
            });
    }

    static Command Heads()
    {
        var common = new Common(epochs: 2, lr: 2e-3, train: 10000, test: 5000, dataset: "both", "fashion", "mnist");
        int[] defaultRanks = [2, 8], defaultChis = [2, 4];
        var ranks = Ints("--ranks", defaultRanks, "TT ranks of the TT head");
        var chis = Ints("--chis", defaultChis, "bond dimensions of the MERA head");
        return Study("heads", "CNN front + dense / TT / MERA head (256 -> 16) at several bond dimensions", common, [ranks, chis],
            parse =>
            {
                var settings = common.Fill(parse, new HeadSettings { Ranks = Given(parse.GetValue(ranks), defaultRanks), Chis = Given(parse.GetValue(chis), defaultChis) });
                return () => [HeadStudy.Run(settings)];
            });
    }

    static Command Qcnn()
    {
        var common = new Common(epochs: 5, lr: 3e-3, train: 10000, test: 2000, dataset: "both", "fashion", "mnist");
        var size = TnOptions.Int("--size", 8, "images are scaled to size × size");
        var features = TnOptions.Int("--features", 6, "features per pixel");
        var noise = TnOptions.Number("--noise", 0.2, "scale of the initial noise");
        var scaling = TnOptions.Choice("--scaling", "normalise each site (site-norm) or not", "site-norm", "none");
        var init = TnOptions.Choice("--init", "the initial tensors", "copy", "unit", "constant", "ones");
        return Study("qcnn", "q-CNN (examples/qcnn.tn) with exact entanglement entropy of the label states per epoch", common,
            [size, features, noise, scaling, init],
            parse =>
            {
                // A size the study cannot take is a mistake in the command line: exit 2, before any data is read.
                if (QcnnStudy.SizeProblem(parse.GetValue(size)) is { } problem)
                    throw new UsageException(problem);
                var settings = common.Fill(parse, new QcnnSettings
                {
                    Size = parse.GetValue(size),
                    Features = parse.GetValue(features),
                    Noise = parse.GetValue(noise),
                    Scaling = parse.GetValue(scaling) == "none" ? QcnnScaling.None : QcnnScaling.SiteNorm,
                    Init = parse.GetValue(init) switch
                    {
                        "unit" => QcnnInit.Unit,
                        "constant" => QcnnInit.NearConstant,
                        "ones" => QcnnInit.AllOnes,
                        _ => QcnnInit.Copy,
                    },
                });
                return () =>
                {
                    var (summary, epochs) = QcnnStudy.Run(settings);
                    return [summary, epochs];
                };
            });
    }

    static Command ConvAc()
    {
        var common = new Common(epochs: 20, lr: 0.01, train: null, test: 4000, dataset: null);
        var samples = TnOptions.Integer("--samples", 20000, "training samples per task");
        var seeds = TnOptions.Integer("--seeds", 3, "seeds per network (at most 10: the exact permutation test enumerates every split)", max: 10);
        var known = ConvAcTaskNames.All; // not ConvAcTasks: building the command line loads no TorchSharp
        string[] defaultTasks = ["long-range", "local"];
        var tasks = new Option<string[]>("--tasks")
        {
            // The default as it is typed, not System.CommandLine's long-range|local.
            Description = $"the tasks, separated by commas: {string.Join(", ", known)} [default: {string.Join(",", defaultTasks)}]",
            HelpName = "TASK,TASK,...",
            CustomParser = r =>
            {
                var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : "";
                var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (names.Length > 0 && names.All(known.Contains)) return names;
                r.AddError($"--tasks takes names from {string.Join(", ", known)} separated by commas, got '{text}'");
                return [];
            },
        };
        // 0.2: from the smaller 0.05 start neither network left the majority baseline on the earlier band task.
        var noise = TnOptions.Number("--noise", 0.2, "scale of the initial noise");
        var init = TnOptions.Choice("--init", "the initial tensors", "constant", "ones");
        return Study("convac", "two ConvACs of equal size, min-cut bounds vs accuracy over seeds", common,
            [samples, seeds, tasks, noise, init],
            parse =>
            {
                var settings = new ConvAcSettings
                {
                    Samples = parse.GetValue(samples),
                    TestSamples = parse.GetValue(common.Test),
                    Train = common.Settings(parse),
                    Seeds = (int)parse.GetValue(seeds),
                    Tasks = Given(parse.GetValue(tasks), defaultTasks),
                    OutputDirectory = parse.GetValue(common.Out),
                    Noise = parse.GetValue(noise),
                    Init = parse.GetValue(init)!,
                };
                return () => ConvAcStudy.Run(settings);
            });
    }
}
