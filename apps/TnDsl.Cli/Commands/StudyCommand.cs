using System.Globalization;
using TnDsl.Studies;
using TnDsl.Data;
using TnDsl.Torch;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn study NAME [options]</c>: runs one training study with CPU-sized defaults and prints its table; with
/// <c>--out DIR</c> the tables (Markdown, CSV) and plots are written there. Studies: tt-mlp (issue 5), convac,
/// heads, qcnn (issue 7). Missing data is reported with the setup command.
/// </summary>
public static class StudyCommand
{
    const string UsageLine =
        "usage: tn study tt-mlp|convac|heads|qcnn [--epochs N] [--train N] [--test N] [--batch N] [--lr X] [--seed S]\n" +
        "                [--dataset fashion|mnist|both] [--out DIR] [--checkpoint FILE] [--no-progress] [study options, see --help]\n" +
        "  --checkpoint FILE saves the model being trained (TorchSharp state_dict) after every epoch.";

    static readonly string[] Names = ["tt-mlp", "convac", "heads", "qcnn"];

    /// <summary>Parses the arguments and runs the study. Returns the exit code.</summary>
    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine(UsageLine);
            Console.WriteLine("  tt-mlp  MLP 784-256-10 on Fashion-MNIST: dense hidden layer vs examples/mpo-linear.tn  [--rank r]");
            Console.WriteLine("  convac  two ConvACs of equal size, min-cut bounds vs accuracy over seeds  [--samples N] [--seeds K] [--tasks long-range,local,band] [--init constant|ones] [--noise s]");
            Console.WriteLine("  heads   CNN front + dense / TT / MERA head (256 -> 16) at several bond dimensions  [--ranks 1,2,4,8] [--chis 2,3,4]");
            Console.WriteLine("  qcnn    q-CNN (examples/qcnn.tn) with exact entanglement entropy of the label states per epoch  [--size S] [--features K] [--scaling site-norm|none] [--init copy|unit|constant|ones] [--noise s]");
            return args.Length == 0 ? 2 : 0;
        }
        var name = args[0];
        if (!Names.Contains(name))
            return Usage($"unknown study `{name}`; studies: {string.Join(", ", Names)}");
        var o = new Options();
        for (int k = 1; k < args.Length; k++)
        {
            var a = args[k];
            if (a == "--no-progress") { o.Flags.Add("no-progress"); continue; }
            if (!a.StartsWith("--", StringComparison.Ordinal) || k + 1 >= args.Length)
                return Usage($"unexpected argument `{a}`");
            o.Values[a[2..]] = args[++k];
        }
        try
        {
            // Settings are read (and checked) before anything runs.
            Func<ResultTable[]> job = name switch
            {
                "tt-mlp" => TtMlp(o),
                "convac" => ConvAc(o),
                "heads" => Heads(o),
                "qcnn" => Qcnn(o),
                _ => throw new UsageException($"study `{name}` is not available yet"),
            };
            o.CheckAllUsed();
            foreach (var table in job())
                table.Print();
            return 0;
        }
        catch (UsageException e)
        {
            return Usage(e.Message);
        }
        catch (Exception e) when (e is DataMissingException or StudyException or LayerException or IdxFormatException or NotSupportedException)
        {
            Console.Error.WriteLine($"tn study {name}: {e.Message}");
            return 1;
        }
    }

    static Func<ResultTable[]> TtMlp(Options o)
    {
        var settings = new TtMlpSettings
        {
            Dataset = o.Dataset("fashion").Single(),
            TrainLimit = o.Long("train", 60000),
            TestLimit = o.Long("test", 10000),
            Rank = (int)o.Long("rank", 8),
            Train = o.Train(epochs: 2, batch: 100, lr: 1e-3),
            OutputDirectory = o.Text("out"),
        };
        return () => [TtMlpStudy.Run(settings)];
    }

    static Func<ResultTable[]> Heads(Options o)
    {
        var settings = new HeadSettings
        {
            Datasets = o.Dataset("both"),
            TrainLimit = o.Long("train", 10000),
            TestLimit = o.Long("test", 5000),
            Ranks = o.Ints("ranks", [2, 8]),
            Chis = o.Ints("chis", [2, 4]),
            Train = o.Train(epochs: 2, batch: 100, lr: 2e-3),
            OutputDirectory = o.Text("out"),
        };
        return () => [HeadStudy.Run(settings)];
    }

    static Func<ResultTable[]> Qcnn(Options o)
    {
        var settings = new QcnnSettings
        {
            Datasets = o.Dataset("both"),
            Size = (int)o.Long("size", 8),
            Features = (int)o.Long("features", 6),
            TrainLimit = o.Long("train", 10000),
            TestLimit = o.Long("test", 2000),
            Noise = o.Double("noise", 0.2),
            Scaling = o.Text("scaling") switch
            {
                null or "site-norm" => QcnnScaling.SiteNorm,
                "none" => QcnnScaling.None,
                var t => throw new UsageException($"--scaling expects site-norm or none, got `{t}`"),
            },
            Init = o.Text("init") switch
            {
                "unit" => QcnnInit.Unit,
                "constant" => QcnnInit.NearConstant,
                "ones" => QcnnInit.AllOnes,
                null or "copy" => QcnnInit.Copy,
                var t => throw new UsageException($"--init expects unit, copy, constant or ones, got `{t}`"),
            },
            Train = o.Train(epochs: 5, batch: 100, lr: 3e-3),
            OutputDirectory = o.Text("out"),
        };
        return () =>
        {
            var (summary, epochs) = QcnnStudy.Run(settings);
            return [summary, epochs];
        };
    }

    static Func<ResultTable[]> ConvAc(Options o)
    {
        var settings = new ConvAcSettings
        {
            Samples = o.Long("samples", 20000),
            TestSamples = o.Long("test", 4000),
            Train = o.Train(epochs: 20, batch: 100, lr: 0.01),
            Seeds = (int)o.Long("seeds", 3),
            Tasks = o.Text("tasks") is { } tasks
                ? tasks.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : ["long-range", "local"],
            OutputDirectory = o.Text("out"),
            // 0.2: from the smaller 0.05 start neither network left the majority baseline on the earlier band task.
            Noise = o.Double("noise", 0.2),
            Init = o.Text("init") is { } init ? (init is "constant" or "ones" ? init : throw new UsageException($"--init expects constant or ones, got `{init}`")) : "constant",
        };
        var known = ConvAcTasks.All.Select(t => t.Name).ToArray();
        if (settings.Tasks.Length == 0 || settings.Tasks.Any(t => !known.Contains(t)))
            throw new UsageException($"--tasks expects names from {string.Join(", ", known)} separated by commas, got `{string.Join(",", settings.Tasks)}`");
        if (settings.Seeds > 10)
            throw new UsageException($"--seeds expects at most 10 (the exact permutation test enumerates every split), got {settings.Seeds}");
        return () => ConvAcStudy.Run(settings);
    }

    static int Usage(string message)
    {
        Console.Error.WriteLine($"tn study: {message}");
        Console.Error.WriteLine(UsageLine);
        return 2;
    }

    /// The study options given on the command line, read by name; each read marks the option used.
    sealed class Options
    {
        public readonly Dictionary<string, string> Values = [];
        public readonly HashSet<string> Flags = [];
        readonly HashSet<string> used = [];

        public string? Text(string key)
        {
            used.Add(key);
            return Values.GetValueOrDefault(key);
        }

        public long Long(string key, long fallback)
        {
            var t = Text(key);
            if (t is null) return fallback;
            return long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v : throw new UsageException($"--{key} expects a positive integer, got `{t}`");
        }

        public double Double(string key, double fallback)
        {
            var t = Text(key);
            if (t is null) return fallback;
            return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v : throw new UsageException($"--{key} expects a positive number, got `{t}`");
        }

        public int[] Ints(string key, int[] fallback)
        {
            var t = Text(key);
            if (t is null) return fallback;
            var parts = t.Split(',', StringSplitOptions.RemoveEmptyEntries);
            var values = parts.Select(p => int.TryParse(p, out var v) && v > 0 ? v : -1).ToArray();
            return values.Length > 0 && values.All(v => v > 0) ? values : throw new UsageException($"--{key} expects positive integers separated by commas, got `{t}`");
        }

        public DatasetName[] Dataset(string fallback)
        {
            var t = Text("dataset") ?? fallback;
            if (t == "both") return [DatasetName.FashionMnist, DatasetName.Mnist];
            return Datasets.Parse(t) is { } d ? [d] : throw new UsageException($"--dataset expects fashion, mnist or both, got `{t}`");
        }

        public TrainSettings Train(int epochs, int batch, double lr) => new()
        {
            Epochs = (int)Long("epochs", epochs),
            BatchSize = (int)Long("batch", batch),
            LearningRate = Double("lr", lr),
            Seed = Long("seed", 1),
            Progress = !Flags.Contains("no-progress"),
            CheckpointPath = Text("checkpoint"),
        };

        public void CheckAllUsed()
        {
            var unknown = Values.Keys.Where(k => !used.Contains(k)).ToList();
            if (unknown.Count > 0)
                throw new UsageException($"unknown option(s) for this study: {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }
}
