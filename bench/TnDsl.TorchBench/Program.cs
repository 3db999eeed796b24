using System.Diagnostics;
using System.Globalization;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>Benchmarks for the TorchSharp backend: commands that print figures, never assertions.</summary>
public static class Program
{
    /// <summary>The benchmarks, by the name given as the first argument.</summary>
    static readonly string[] Benchmarks =
        ["kernels", "mps", "backend", "born-env", "born-split", "born-authors", "born-side", "soak", "memory", "heap", "slices", "chunks", "emit"];

    /// <summary>
    /// Every option a benchmark reads, each with its value: the usage line is made from this table, and
    /// <c>Opt</c> reads only what it lists, so the two cannot drift apart.
    /// </summary>
    static readonly (string Name, string Value)[] Options =
    [
        ("--dtype", "float32|float64"), ("--device", "cpu|cuda"), ("--threads", "N"), ("--examples", "DIR"),
        ("--only", "NAME"), ("--case", "N"), ("--steps", "N"), ("--rounds", "N"), ("--sites", "N"),
        ("--parts", "born,networks,memory"), ("--fraction", "F"), ("--authors", "DIR"), ("--dmax", "D"), ("--loops", "N"),
        ("--lr", "X"), ("--count", "N"), ("--seed", "N"), ("--batch", "N|name=N,…"), ("--cap", "BYTES"),
    ];

    /// <summary>The usage line: every benchmark and every option (<see cref="Options"/>).</summary>
    public static string Usage =>
        $"usage: TnDsl.TorchBench {string.Join('|', Benchmarks)} {string.Join(' ', Options.Select(o => $"[{o.Name} {o.Value}]"))}";

    /// <summary>Entry point: a benchmark's name, then options from <see cref="Options"/>, each with its value.</summary>
    public static int Main(string[] args)
    {
        string? mistake = args.Length == 0 || !Benchmarks.Contains(args[0]) ? "" : null;
        for (int i = 1; mistake is null && i < args.Length; i += 2)
            if (!Options.Any(o => o.Name == args[i]))
                mistake = $"unknown option {args[i]}";
            else if (i + 1 >= args.Length)
                mistake = $"{args[i]} needs a value";
        if (mistake is not null)
        {
            if (mistake.Length > 0)
                Console.Error.WriteLine($"TnDsl.TorchBench: {mistake}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        string Opt(string name, string dflt)
        {
            if (!Options.Any(o => o.Name == name))
                throw new InvalidOperationException($"{name} is read but not in Options (and so not in the usage line)");
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : dflt;
        }
        NativeLoader.EnsureLoaded();
        var dtype = Opt("--dtype", "float32") == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        var device = new Device(Opt("--device", "cpu"));
        if (args.Contains("--threads"))
            set_num_threads(int.Parse(Opt("--threads", "1")));
        if (args[0] == "soak")
            return SoakBench.Run(int.Parse(Opt("--count", "3000")), int.Parse(Opt("--seed", "1")), Opt("--examples", FindExamples())) == 0 ? 0 : 1;
        if (args[0] == "born-authors")
            return BornAuthorsBench.Run(Opt("--examples", FindExamples()), Opt("--authors", null!), int.Parse(Opt("--dmax", "30")),
                int.Parse(Opt("--loops", "2")), double.Parse(Opt("--lr", "0.005"), CultureInfo.InvariantCulture));
        if (args[0] == "born-side")
            return BornAuthorsBench.RunOurs(Opt("--examples", FindExamples()), int.Parse(Opt("--dmax", "30")),
                int.Parse(Opt("--loops", "2")), double.Parse(Opt("--lr", "0.005"), CultureInfo.InvariantCulture));
        if (args[0] == "slices")
        {
            SliceBench.Run(args.Contains("--only") ? Opt("--only", "") : null,
                double.Parse(Opt("--fraction", "0"), CultureInfo.InvariantCulture), int.Parse(Opt("--rounds", "3")));
            return 0;
        }
        if (args[0] == "emit")
        {
            EmitBench.Run(dtype, Opt("--examples", FindExamples()), args.Contains("--only") ? Opt("--only", "") : null, int.Parse(Opt("--rounds", "3")));
            return 0;
        }
        if (args[0] == "chunks")
        {
            ChunkBench.Run(Opt("--examples", FindExamples()), args.Contains("--only") ? Opt("--only", "") : null, int.Parse(Opt("--rounds", "3")),
                args.Contains("--batch") ? Opt("--batch", "") : null, args.Contains("--cap") ? long.Parse(Opt("--cap", "0")) : null);
            return 0;
        }
        if (args[0] == "kernels")
            Kernels(dtype, device);
        else if (args[0] == "memory")
            MemoryBench.Run(dtype, Opt("--examples", FindExamples()), args.Contains("--only") ? Opt("--only", "") : null,
                args.Contains("--case") ? int.Parse(Opt("--case", "0")) : null);
        else if (args[0] == "heap")
            HeapBench.Run(dtype, Opt("--examples", FindExamples()), args.Contains("--only") ? Opt("--only", "") : null,
                args.Contains("--case") ? int.Parse(Opt("--case", "0")) : null, int.Parse(Opt("--steps", "10")), int.Parse(Opt("--rounds", "3")));
        else if (args[0] == "born-env")
            BornEnvBench.Run(device, Opt("--examples", FindExamples()));
        else if (args[0] == "born-split")
            BornSplitBench.Run(device);
        else if (args[0] == "backend")
            BackendBench.Run(dtype, device, int.Parse(Opt("--sites", "784")), Opt("--examples", FindExamples()), int.Parse(Opt("--rounds", "7")),
                Opt("--parts", "born,networks,memory").Split(',').ToHashSet());
        else
            Mps(dtype, device, int.Parse(Opt("--sites", "100")));
        return 0;
    }

    static string FindExamples()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "examples")))
                return Path.Combine(dir.FullName, "examples");
        return "examples";
    }

    /// One step of a typical plan: the operands' labelled shapes and the labels kept afterwards.
    sealed record Case(string Name, (char Label, long Size)[] Left, (char Label, long Size)[] Right, string Keep);

    static (char, long)[] L(string labels, params long[] sizes) => labels.Zip(sizes).Select(p => (p.First, p.Second)).ToArray();

    static void Kernels(ScalarType dtype, Device device)
    {
        const long b = 1000, chi = 30, d = 2, D = 8;
        var cases = new[]
        {
            new Case("MPS env . site        L[b,l] A[l,p,r] -> [b,p,r]", L("bl", b, chi), L("lpr", chi, d, chi), "bpr"),
            new Case("MPS input . site      x[b,p] A[l,p,r] -> [b,l,r]", L("bp", b, d), L("lpr", chi, d, chi), "blr"),
            new Case("MPS (env.site) . input M[b,p,r] x[b,p] -> [b,r]", L("bpr", b, d, chi), L("bp", b, d), "br"),
            new Case("MPS env . transfer    L[b,l] T[b,l,r] -> [b,r]", L("bl", b, chi), L("blr", b, chi, chi), "br"),
            new Case("MPS site . site       A[l,p,m] B[m,q,r] -> [l,p,q,r]", L("lpm", chi, d, chi), L("mqr", chi, d, chi), "lpqr"),
            new Case("PEPS boundary . tensor X[a,b,c,d,e] T[c,d,f,g] (D=8)", L("abcde", D, D, D, D, D), L("cdfg", D, D, D, D), "abefg"),
            new Case("PEPS tensor . tensor  T[u,l,d,r] U[v,r,e,s] (D=8)", L("uldr", D, D, D, D), L("vres", D, D, D, D), "uldves"),
            new Case("PEPS batched env      E[n,a,c,d] T[n,c,d,e,f] (n=100,D=8)", L("nacd", 100, D, D, D), L("ncdef", 100, D, D, D, D), "naef"),
        };
        Console.WriteLine($"Pairwise contraction kernels on {device}, {dtype}, {get_num_threads()} threads, TorchSharp native: {NativeLoader.Outcome}");
        Console.WriteLine("Median time per step; ratio = time / fastest kernel for that step (1.00 = fastest).");
        Console.WriteLine();
        Console.WriteLine($"{"step",-58} {"einsum",16} {"tensordot",16} {"matmul",16}  fastest");
        var wins = new Dictionary<PairKernel, int>();
        var ratios = new Dictionary<PairKernel, List<double>>();
        foreach (var c in cases)
        {
            var labels = c.Left.Concat(c.Right).Select(x => x.Label).Distinct().ToList();
            var step = new PairContraction(
                c.Left.Select(x => labels.IndexOf(x.Label)).ToArray(),
                c.Right.Select(x => labels.IndexOf(x.Label)).ToArray(),
                c.Keep.Select(ch => labels.IndexOf(ch)).ToHashSet());
            manual_seed(1);
            using var a = randn(c.Left.Select(x => x.Size).ToArray(), dtype, device);
            using var bt = randn(c.Right.Select(x => x.Size).ToArray(), dtype, device);
            using var reference = step.Apply(a, bt, PairKernel.Einsum);
            var kernels = Enum.GetValues<PairKernel>().Where(step.Supports).ToArray();
            foreach (var k in kernels)
            {
                using var scope = NewDisposeScope();
                var r = step.Apply(a, bt, k);
                var err = (r - reference).abs().max().to_type(ScalarType.Float64).item<double>();
                var scale = reference.abs().max().to_type(ScalarType.Float64).item<double>();
                if (err > (dtype == ScalarType.Float32 ? 1e-4 : 1e-12) * Math.Max(1.0, scale))
                    Console.WriteLine($"  warning: {k} differs from einsum by {err}");
            }
            var times = MedianSeconds(kernels.ToDictionary(k => k, k => (Func<Tensor>)(() => step.Apply(a, bt, k))), device);
            var best = times.MinBy(kv => kv.Value).Key;
            wins[best] = wins.GetValueOrDefault(best) + 1;
            string Cell(PairKernel k) =>
                times.TryGetValue(k, out var t) ? $"{t * 1e6,8:F0}us {t / times[best],5:F2}" : $"{"n/a",16}";
            foreach (var (k, t) in times)
                (ratios.TryGetValue(k, out var list) ? list : ratios[k] = []).Add(t / times[best]);
            Console.WriteLine($"{c.Name,-58} {Cell(PairKernel.Einsum)} {Cell(PairKernel.Tensordot)} {Cell(PairKernel.Matmul)}  {best}");
        }
        Console.WriteLine();
        foreach (var (k, list) in ratios)
            Console.WriteLine($"{k,-10} fastest in {wins.GetValueOrDefault(k)} of {list.Count} applicable steps; geometric-mean ratio to fastest {Math.Exp(list.Average(Math.Log)):F2}");
    }

    /// An MPS over a batch with one-hot inputs (the born-machine shape), as a network spec: weights A[0..n-1]
    /// first, then inputs x[0..n-1] fed as one [batch, n] tensor.
    static NetworkSpec MpsSpec(int n, long chi, long d, long batch)
    {
        var indices = new List<IndexSpec> { new(0, "b", batch, true) };
        int Add(string name, long size)
        {
            indices.Add(new IndexSpec(indices.Count, name, size, false));
            return indices.Count - 1;
        }
        var p = Enumerable.Range(0, n).Select(i => Add($"p[{i}]", d)).ToArray();
        var v = Enumerable.Range(0, n - 1).Select(i => Add($"v[{i}]", chi)).ToArray();
        var init = new InitSpec.Sum(new InitSpec.Identity(), new InitSpec.Normal(0, 0.01));
        var tensors = new List<TensorSpec>();
        for (int i = 0; i < n; i++)
        {
            int[] legs = i == 0 ? [p[0], v[0]] : i == n - 1 ? [v[n - 2], p[i]] : [v[i - 1], p[i], v[i]];
            tensors.Add(new TensorSpec(tensors.Count, $"A[{i}]", "A", [i], TensorRole.Weight, $"A.{i}", legs, init, null));
        }
        for (int i = 0; i < n; i++)
            tensors.Add(new TensorSpec(tensors.Count, $"x[{i}]", "x", [i], TensorRole.Input, $"x.{i}", [0, p[i]], null, new EmbeddingSpec.OneHot((int)d)));
        return new NetworkSpec("mps", tensors.ToArray(), indices.ToArray(), [0]);
    }

    static void Mps(ScalarType dtype, Device device, int n)
    {
        const long chi = 30, d = 2, batch = 1000;
        var spec = MpsSpec(n, chi, d, batch);
        // The planner's own path (auto finds the sweep: x0.A0, then (env.A[i]).x[i] along the chain).
        var plan = NetworkAdapter.Plan(spec, "auto");
        using var module = new NetworkModule(spec, plan, new NetworkModuleOptions { DType = dtype, Device = device, Seed = 1 });
        using var rawGenerator = new Generator(2);
        using var drawn = randint(0, d, [batch, n], generator: rawGenerator);
        using var raw = drawn.to(device);
        var cores = Enumerable.Range(0, n).Select(i => module.get_parameter($"A.{i}")!).ToArray();

        // The hand-written loop: batched matrix products over the sites, as the seed paper's code computes psi.
        Tensor Hand()
        {
            using var scope = NewDisposeScope();
            var x = nn.functional.one_hot(raw, d).to_type(dtype);
            var left = x.select(1, 0).matmul(cores[0]);
            for (int i = 1; i < n - 1; i++)
            {
                var m = left.matmul(cores[i].reshape(chi, d * chi)).view(batch, d, chi);
                left = x.select(1, i).unsqueeze(1).bmm(m).squeeze(1);
            }
            var last = left.matmul(cores[n - 1]);
            return (last * x.select(1, n - 1)).sum(-1).MoveToOuterDisposeScope();
        }
        Tensor Module() => module.forward([raw]);

        using (no_grad())
        {
            using var a = Hand();
            using var b = Module();
            double err, scale;
            using (NewDisposeScope())
            {
                err = ScalarOps.Minus(a, b).abs().max().to_type(ScalarType.Float64).item<double>();
                scale = a.abs().max().to_type(ScalarType.Float64).item<double>();
            }
            Console.WriteLine($"MPS forward, {n} sites, chi {chi}, d {d}, batch {batch}, {dtype} on {device}, {get_num_threads()} threads");
            Console.WriteLine($"  max |module - hand| = {err:g3} (max |psi| = {scale:g3})");
            var t = MedianSeconds(new Dictionary<PairKernel, Func<Tensor>> { [PairKernel.Einsum] = Hand, [PairKernel.Matmul] = Module }, device);
            Console.WriteLine($"  hand-written loop   {t[PairKernel.Einsum] * 1e3,8:F2} ms");
            Console.WriteLine($"  NetworkModule       {t[PairKernel.Matmul] * 1e3,8:F2} ms   ratio module/hand = {t[PairKernel.Matmul] / t[PairKernel.Einsum]:F2}");
        }
        var tg = MedianSeconds(new Dictionary<PairKernel, Func<Tensor>>
        {
            [PairKernel.Einsum] = () => { var y = Hand().sum(); y.backward(); return y; },
            [PairKernel.Matmul] = () => { var y = Module().sum(); y.backward(); return y; },
        }, device);
        Console.WriteLine($"  forward+backward: hand {tg[PairKernel.Einsum] * 1e3:F2} ms, module {tg[PairKernel.Matmul] * 1e3:F2} ms, ratio {tg[PairKernel.Matmul] / tg[PairKernel.Einsum]:F2}");
    }

    /// Median wall time of one call of each function over several rounds; the functions take turns within a round
    /// so that load from other processes falls on all of them alike.
    static Dictionary<PairKernel, double> MedianSeconds(Dictionary<PairKernel, Func<Tensor>> fs, Device device)
    {
        void Run(Func<Tensor> f, int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var scope = NewDisposeScope();
                f();
            }
            if (device.type == DeviceType.CUDA)
                cuda.synchronize();
        }
        var sw = Stopwatch.StartNew();
        var per = new Dictionary<PairKernel, int>();
        foreach (var (k, f) in fs)
        {
            Run(f, 3);
            int n = 1;
            while (true)
            {
                sw.Restart();
                Run(f, n);
                if (sw.Elapsed.TotalSeconds > 0.02 || n > 1 << 20)
                    break;
                n *= 2;
            }
            per[k] = n;
        }
        var rounds = fs.Keys.ToDictionary(k => k, _ => new List<double>());
        for (int r = 0; r < 15; r++)
            foreach (var (k, f) in fs)
            {
                sw.Restart();
                Run(f, per[k]);
                rounds[k].Add(sw.Elapsed.TotalSeconds / per[k]);
            }
        return rounds.ToDictionary(kv => kv.Key, kv => kv.Value.Order().ElementAt(kv.Value.Count / 2));
    }
}
