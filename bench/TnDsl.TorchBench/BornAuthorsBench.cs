using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using TnDsl.BornMachine;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>born-authors</c>: TnDsl's Born-machine trainer against the authors' numpy trainer (MPS_c in MPScumulant.py of
/// github.com/congzlwag/UnsupGenModbyMPS, not part of TnDsl: <c>--authors DIR</c> names the folder holding it), the
/// same algorithm from the same start: <c>born-machine.tn</c> with chi = Dmax (seed 1, left-canonical; every loop runs
/// at Dmax). With cutoff 10⁻⁵⁰ a split keeps singular values at rounding level, whose vectors depend on rounding, so
/// where a cut is rank-deficient the NLL of any two implementations drifts apart: from this start the two sides agree
/// to 10⁻⁹ at Dmax 30; at Dmax 100, and from the authors' random start, they differ by 10⁻³–1 nats (two TnDsl versions
/// that differ only in summation order differ as much). The 1000
/// training and 1000 test images, one plain gradient step per bond at a fixed learning rate (their MPScumulant step:
/// no norm0.25 rescaling, no decay), cutoff 10⁻⁵⁰ and the same 2n-3 bond updates per loop, each followed by the
/// train and test NLL. Each side runs in its own process, one after the other: the authors' under Debian's python3
/// (<c>bench/born-authors.py</c>), ours as <c>born-side</c> with 1 and with 2 threads. Prints per loop the process CPU
/// seconds and wall seconds of each side, the ratios, both sides' NLL and their difference, and each process's peak
/// resident set (their <c>ru_maxrss</c>, our <c>VmHWM</c>).
/// </summary>
static class BornAuthorsBench
{
    sealed record Loop(int Index, double Cpu, double Wall, double TrainNll, double TestNll, int MaxBond);

    sealed record Side(string Name, List<Loop> Loops, long PeakRssKb, double InitialTrainNll, int Threads);

    /// <summary>The orchestrator: prepares the start, runs both sides, prints the comparison.</summary>
    public static int Run(string examples, string? authors, int dmax, int loops, double lr)
    {
        if (authors is null || !File.Exists(Path.Combine(authors, "MPScumulant.py")))
        {
            Console.Error.WriteLine("born-authors: --authors DIR must name the folder holding the authors' MPScumulant.py "
                + "(git archive of github.com/congzlwag/UnsupGenModbyMPS, e.g. fetched into /work/.mirror)");
            return 2;
        }
        string script = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(examples))!, "bench", "born-authors.py");
        string work = Path.Combine(Path.GetTempPath(), $"tn-born-authors-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        try
        {
            Prepare(examples, dmax, work);
            Console.WriteLine($"Born machine, authors' numpy trainer against TnDsl's: Dmax {dmax}, lr {lr:g}, {loops} loops, "
                + $"born-machine.tn chi={dmax} seed 1, 1000 train + 1000 test images, float64; CPU = process CPU time");
            var theirs = RunSide("authors (numpy, 1 thread)", "/usr/bin/python3",
                [script, authors, work, loops.ToString(), dmax.ToString(), lr.ToString("R", CultureInfo.InvariantCulture)],
                new() { ["OMP_NUM_THREADS"] = "1", ["OPENBLAS_NUM_THREADS"] = "1", ["MKL_NUM_THREADS"] = "1" });
            var (self, selfArgs) = SelfCommand();
            Side Ours(int threads) => RunSide($"TnDsl ({threads} thread{(threads > 1 ? "s" : "")})", self,
                [.. selfArgs, "born-side", "--examples", examples, "--dmax", dmax.ToString(), "--loops", loops.ToString(),
                 "--lr", lr.ToString("R", CultureInfo.InvariantCulture), "--threads", threads.ToString()], []);
            var one = Ours(1);
            var two = Ours(2);
            Report(theirs, one, two);
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    static (string, string[]) SelfCommand()
    {
        string path = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? (path, [typeof(BornAuthorsBench).Assembly.Location])
            : (path, []);
    }

    static (MpsLayout, BornDataset) Load(string examples, int dmax)
    {
        var data = BornData.Load(Path.Combine(examples, "data", "born-machine", "mnist"));
        var layout = BornSetup.LoadLayout(Path.Combine(examples, "born-machine.tn"), [new("chi", dmax.ToString())], data.Train.Size);
        return (layout, data);
    }

    static Mps Start(MpsLayout layout)
    {
        var mps = Mps.Initial(layout, 1);
        mps.LeftCanonicalize();
        return mps;
    }

    /// Writes the left-canonical start (site.K.npy, float64) and the images in site order (train.npy, test.npy, uint8).
    static void Prepare(string examples, int dmax, string work)
    {
        var (layout, data) = Load(examples, dmax);
        using var mps = Start(layout);
        for (int k = 0; k < mps.Length; k++)
        {
            using var site = mps[k].contiguous();
            WriteNpy(Path.Combine(work, $"site.{k}.npy"), "<f8", mps[k].shape, site.data<double>().ToArray()
                .SelectMany(BitConverter.GetBytes).ToArray());
        }
        foreach (var (name, set) in new[] { ("train", data.Train), ("test", data.Test) })
        {
            using var pixels = BornSetup.Images(set, layout);
            using var ordered = BornTrainer.ToSiteOrder(layout, pixels);
            using var narrow = ordered.to_type(ScalarType.Byte);
            using var bytes = narrow.contiguous();
            WriteNpy(Path.Combine(work, $"{name}.npy"), "|u1", bytes.shape, bytes.data<byte>().ToArray());
        }
    }

    static void WriteNpy(string path, string descr, long[] shape, byte[] data)
    {
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = 10 + header.Length + 1;
        header += new string(' ', (64 - total % 64) % 64) + "\n";
        using var file = File.Create(path);
        file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        file.Write(BitConverter.GetBytes((ushort)header.Length));
        file.Write(Encoding.ASCII.GetBytes(header));
        file.Write(data);
    }

    /// The layout and the images (N, n) int64 in site order; the images' managed arrays are garbage on return.
    static (MpsLayout, Tensor Train, Tensor Test) LoadInSiteOrder(string examples, int dmax)
    {
        var (layout, data) = Load(examples, dmax);
        using var trainPixels = BornSetup.Images(data.Train, layout);
        using var testPixels = BornSetup.Images(data.Test, layout);
        return (layout, BornTrainer.ToSiteOrder(layout, trainPixels), BornTrainer.ToSiteOrder(layout, testPixels));
    }

    /// <summary>
    /// <c>born-side</c>: TnDsl's trainer alone in this process, from the same start, printing one JSON line per loop
    /// (process CPU seconds, wall seconds, NLL) and the peak resident set. With <c>TN_BORN_TRACE</c> set it also writes
    /// to standard error, at each phase and every 100 bonds, the resident set (peak, anonymous, file-backed), the C
    /// heap (<see cref="CHeap.Usage"/>) and the managed heap: where the peak comes from.
    /// </summary>
    public static int RunOurs(string examples, int dmax, int loops, double lr)
    {
        Trace("start");
        var (layout, train, test) = LoadInSiteOrder(examples, dmax);
        Trace("images loaded");
        // As tn train does: the asked thread count, or one where a bond update is too small to split.
        set_num_threads(BornTrainer.ThreadsFor(get_num_threads(), dmax, train.shape[0]));
        var mps = Start(layout);
        Trace("model made");
        var options = new BornOptions
        {
            Dmax = dmax, LearningRate = lr, Cutoff = 1e-50, Steps = 1, Scaling = GradientScaling.Plain, DecayOnIncrease = 1,
        };
        var start = new LoopRecord(0, mps.Nll(train), mps.Nll(test), mps.MaxBond, lr, 0);
        Trace("loop 0 NLL");
        Line($"\"train_nll\":{R(start.TrainNll)},\"test_nll\":{R(start.TestNll)},\"threads\":{get_num_threads()}");
        using var trainer = new BornTrainer(mps, train, test, options, lr, [start], 1);
        // TN_BORN_BLOCK=1 keeps every environment (no recomputation): the same bits, more memory.
        if (Environment.GetEnvironmentVariable("TN_BORN_BLOCK") is { } b)
            trainer.EnvironmentBlock = int.Parse(b, CultureInfo.InvariantCulture);
        var process = Process.GetCurrentProcess();
        Trace("trainer ready");
        for (int i = 1; i <= loops; i++)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            Trace($"loop {i} starts");
            var record = trainer.RunLoop(trace ? (sweep, done, all) => { if (done % 100 == 0 || done == all) Trace($"loop {i} {sweep} {done}/{all}"); } : null);
            process.Refresh();
            Line($"\"loop\":{i},\"cpu\":{R((process.TotalProcessorTime - cpu).TotalSeconds)},\"wall\":{R(wall.Elapsed.TotalSeconds)},"
                + $"\"train_nll\":{R(record.TrainNll)},\"test_nll\":{R(record.TestNll)},\"max_bond\":{record.MaxBond}");
        }
        Trace("end");
        Line($"\"peak_rss_kb\":{StatusKb("VmHWM:")}");
        return 0;
    }

    // One JSON object per line, written by hand: System.Text.Json's reflection and the code it compiles added a few
    // megabytes to the peak this process reports.
    static void Line(string members) => Console.WriteLine("{" + members + "}");

    static string R(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    // TN_BORN_TRACE=1: where the memory is at each phase and every 100 bonds, in MB (standard error).
    static readonly bool trace = Environment.GetEnvironmentVariable("TN_BORN_TRACE") is not null;

    static void Trace(string where)
    {
        if (!trace)
            return;
        static string Mb(double bytes) => (bytes / 1048576).ToString("F1", CultureInfo.InvariantCulture).PadLeft(6);
        var heap = CHeap.Usage();
        Console.Error.WriteLine($"{where,-28} rss {Mb(StatusKb("VmRSS:") * 1024)} peak {Mb(StatusKb("VmHWM:") * 1024)} "
            + $"anon {Mb(StatusKb("RssAnon:") * 1024)} file {Mb(StatusKb("RssFile:") * 1024)} | C heap {Mb(heap?.Heap ?? 0)} "
            + $"in use {Mb(heap?.InUse ?? 0)} free {Mb(heap?.Free ?? 0)} mapped {Mb(heap?.Mapped ?? 0)} | managed {Mb(GC.GetTotalMemory(false))}");
    }

    static long StatusKb(string field) =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith(field, StringComparison.Ordinal))
            .Select(l => long.Parse(l[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture)).FirstOrDefault();

    static Side RunSide(string name, string file, string[] args, Dictionary<string, string> env)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        foreach (var (k, v) in env)
            info.Environment[k] = v;
        Console.WriteLine($"  running {name} ...");
        using var process = Process.Start(info)!;
        var loops = new List<Loop>();
        long peak = 0;
        double initial = double.NaN;
        int threads = 1;
        var wall = Stopwatch.StartNew();
        double lastWall = 0;
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            using var doc = JsonDocument.Parse(line);
            var o = doc.RootElement;
            if (o.TryGetProperty("loop", out var loop))
            {
                double now = wall.Elapsed.TotalSeconds;
                double w = o.TryGetProperty("wall", out var ww) ? ww.GetDouble() : now - lastWall;
                loops.Add(new Loop(loop.GetInt32(), o.GetProperty("cpu").GetDouble(), w, o.GetProperty("train_nll").GetDouble(),
                    o.GetProperty("test_nll").GetDouble(), o.GetProperty("max_bond").GetInt32()));
            }
            else if (o.TryGetProperty("peak_rss_kb", out var rss))
                peak = rss.GetInt64();
            else if (o.TryGetProperty("train_nll", out var nll))
            {
                initial = nll.GetDouble();
                threads = o.TryGetProperty("threads", out var t) ? t.GetInt32() : 1;
            }
            lastWall = wall.Elapsed.TotalSeconds;
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{name} exited with {process.ExitCode}");
        return new Side(name, loops, peak, initial, threads);
    }

    static void Report(Side theirs, Side one, Side two)
    {
        Console.WriteLine();
        Console.WriteLine($"loop 0 train NLL: authors {theirs.InitialTrainNll:F6}, TnDsl {one.InitialTrainNll:F6}; "
            + $"TnDsl asked for 2 threads used {two.Threads} (BornTrainer.ThreadsFor, as tn train)");
        Console.WriteLine($"{"loop",4} {"max D",5} | {"authors CPU s",13} {"TnDsl 1t CPU s",14} {"ratio",6} | {"TnDsl 2t CPU s",14} "
            + $"{"wall 1t s",9} {"wall 2t s",9} {"2t/1t wall",10} | {"authors NLL",12} {"TnDsl NLL",12} {"|diff|",8} {"test NLL diff",13}");
        for (int i = 0; i < theirs.Loops.Count && i < one.Loops.Count && i < two.Loops.Count; i++)
        {
            var (a, b, c) = (theirs.Loops[i], one.Loops[i], two.Loops[i]);
            Console.WriteLine($"{a.Index,4} {b.MaxBond,5} | {a.Cpu,13:F2} {b.Cpu,14:F2} {b.Cpu / a.Cpu,6:F3} | {c.Cpu,14:F2} "
                + $"{b.Wall,9:F2} {c.Wall,9:F2} {c.Wall / b.Wall,10:F2} | {a.TrainNll,12:F6} {b.TrainNll,12:F6} {Math.Abs(a.TrainNll - b.TrainNll),8:E1} "
                + $"{Math.Abs(a.TestNll - b.TestNll),13:E1}");
        }
        double Mean(Side s) => s.Loops.Average(l => l.Cpu);
        double MeanWall(Side s) => s.Loops.Average(l => l.Wall);
        Console.WriteLine($"mean CPU per loop: authors {Mean(theirs):F2} s, TnDsl {Mean(one):F2} s (1 thread), ratio {Mean(one) / Mean(theirs):F3}; "
            + $"TnDsl 2 threads: wall {MeanWall(two):F2} s vs 1 thread {MeanWall(one):F2} s ({MeanWall(two) / MeanWall(one):F2}x)");
        Console.WriteLine($"peak resident set: authors {theirs.PeakRssKb / 1024.0:F0} MB, TnDsl {one.PeakRssKb / 1024.0:F0} MB (1 thread), "
            + $"{two.PeakRssKb / 1024.0:F0} MB (2 threads); ratio {(double)one.PeakRssKb / theirs.PeakRssKb:F2}");
    }
}
