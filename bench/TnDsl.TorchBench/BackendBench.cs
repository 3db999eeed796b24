using System.Diagnostics;
using System.Runtime.InteropServices;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// The backend benchmark of issues 5 and 20, every figure a ratio against a baseline measured in the same run (the
/// sides take turns within each round; medians):
/// (a) the born-machine MPS (784 sites, chi 30, batch 1000, one-hot inputs): the module (structure-aware lowering,
/// and dense for comparison) against the best hand-written TorchSharp loops a user writes for it, forward and
/// forward+backward;
/// (b) PEPS, MERA and layer networks: the module against the planner's pairwise order written by hand (one
/// tensordot per step, or a two-operand einsum where a step keeps batch legs), forward and forward+backward;
/// (c) peak native memory of a training step against the planner's activation-memory prediction.
/// </summary>
static partial class BackendBench
{
    /// glibc: returns freed heap memory to the system, so that RSS counts live memory only.
    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    /// <summary>Runs the parts named in <paramref name="parts"/> (<c>born</c>, <c>networks</c>, <c>memory</c>).</summary>
    public static void Run(ScalarType dtype, Device device, int sites, string examples, int rounds, IReadOnlySet<string> parts)
    {
        cpuTime = device.type == DeviceType.CPU;
        Console.WriteLine($"TnDsl backend benchmark: {dtype} on {device}, {get_num_threads()} threads, median of {rounds} rounds " +
                          $"of {(cpuTime ? "process CPU time" : "wall time")}, TorchSharp native: {NativeLoader.Outcome}");
        Console.WriteLine();
        if (parts.Contains("born"))
        {
            BornMachine(dtype, device, sites, examples, rounds);
            Console.WriteLine();
        }
        if (parts.Contains("networks"))
            Networks(dtype, device, examples, rounds);
        if (parts.Contains("memory"))
            Memory(dtype, device, examples);
    }

    static bool cpuTime;

    static void Networks(ScalarType dtype, Device device, string examples, int rounds)
    {
        Console.WriteLine("(b) module / the planner's pairwise order written by hand (tensordot per step, einsum where a step keeps batch legs), timed call by call");
        Console.WriteLine($"    in pairs (the side that runs first alternates), ~{0.2 * rounds:F1} s of calls per side: ratio of the medians per call, [lowest-highest ratio over {rounds} consecutive blocks of pairs]");
        Pairwise(dtype, device, Path.Combine(examples, "peps.tn"), [], rounds);
        Pairwise(dtype, device, Path.Combine(examples, "mera.tn"), [], rounds);
        Pairwise(dtype, device, Path.Combine(examples, "layers", "peps.tn"), [], rounds);
        Pairwise(dtype, device, Path.Combine(examples, "layers", "mera.tn"), [], rounds);
        Pairwise(dtype, device, Path.Combine(examples, "layers", "tt-linear.tn"), [], rounds);
        Pairwise(dtype, device, Path.Combine(examples, "layers", "ttn.tn"), [], rounds);
        Pairwise(dtype, device, Path.Combine(examples, "mera-classifier.tn"), [], rounds);
        Console.WriteLine();
    }

    static void Memory(ScalarType dtype, Device device, string examples)
    {
        Memory(dtype, device, Path.Combine(examples, "mpo-linear.tn"), [new("k", "4"), new("r", "16")], 20000);
        Memory(dtype, device, Path.Combine(examples, "mera-classifier.tn"), [new("chi", "8")], 20000);
        Memory(dtype, device, Path.Combine(examples, "born-machine.tn"), [new("n", "100"), new("chi", "30")], 1000);
    }

    static void BornMachine(ScalarType dtype, Device device, int sites, string examples, int rounds)
    {
        const long chi = 30, batch = 1000;
        var set = new KeyValuePair<string, string>[] { new("n", sites.ToString()), new("chi", chi.ToString()) };
        var net = TnDsl.Api.Frontend.Load(Path.Combine(examples, "born-machine.tn"), set, null);
        var planned = NetworkAdapter.Plan(net, "auto", batch);
        var spec = NetworkAdapter.FromFlat(net);
        var options = new NetworkModuleOptions { DType = dtype, Device = device, Seed = 1 };
        using var module = new NetworkModule(spec, planned, options);
        using var dense = new NetworkModule(spec, planned, options with { Lower = false });
        using var rawGenerator = new Generator(2);
        using var drawn = randint(0, 2, [batch, sites], generator: rawGenerator);
        using var raw = drawn.to(device);
        var cores = Enumerable.Range(0, sites).Select(i => module.get_parameter($"A.{i}")!).ToArray();
        // The dense module shares the lowered module's values, so all sides compute the same numbers.
        using (no_grad())
            foreach (var (name, p) in dense.named_parameters())
                p.copy_(module.get_parameter(name)!);

        // The hand loops free each intermediate as soon as the next exists (as the module does), so that neither side
        // pays for holding 784 of them; under autograd the graph keeps what backward needs either way.
        static Tensor Next(Tensor old, Tensor next)
        {
            old.Dispose();
            return next;
        }
        // The seed paper's loop: one-hot vectors times each core by batched matrix products.
        Tensor OneHotBmm()
        {
            using var x = nn.functional.one_hot(raw, 2).to_type(dtype);
            var left = x.select(1, 0).matmul(cores[0]);
            for (int i = 1; i < sites - 1; i++)
            {
                using var m = left.matmul(cores[i].reshape(chi, 2 * chi)).view(batch, 2, chi);
                using var xi = x.select(1, i).unsqueeze(1);
                using var r = xi.bmm(m);
                left = Next(left, r.squeeze(1));
            }
            using var end = left.matmul(cores[sites - 1]);
            left.Dispose();
            using var product = end * x.select(1, sites - 1);
            return product.sum(-1);
        }
        // One matmul of the environment with the core for both pixel values, then each sample's half picked with
        // index_select on the [batch·2, chi] rows; the row numbers 2·sample + pixel made per site, or once for all
        // sites (precomputed one-hot slices).
        Tensor MatmulGather(bool precomputed)
        {
            using var offsets = ScalarOps.Arange(0, 2 * batch, 2, ScalarType.Int64, device);
            using var all = precomputed ? ScalarOps.Plus(raw, offsets.unsqueeze(1)).t().contiguous() : null;
            Tensor Rows(int i) => all is null ? ScalarOps.Plus(raw.select(1, i), offsets) : all[i];
            var left = cores[0].index_select(0, raw.select(1, 0));
            for (int i = 1; i < sites - 1; i++)
            {
                using var m = left.matmul(cores[i].reshape(chi, 2 * chi));
                using var rows = Rows(i);
                left = Next(left, m.view(2 * batch, chi).index_select(0, rows));
            }
            using var end = left.matmul(cores[sites - 1]);
            left.Dispose();
            using var last = Rows(sites - 1);
            return end.view(2 * batch).index_select(0, last);
        }
        // TensorKrowch's MPS contraction (its `MPS.contract(inline_input, inline_mats)`): each site's input vector is
        // contracted with its core first, into a (batch, chi, chi) matrix, and then the matrices are multiplied.
        // Inline (inline_input and inline_mats true): site by site, the environment times each matrix by bmm.
        Tensor KrowchInline()
        {
            using var x = nn.functional.one_hot(raw, 2).to_type(dtype);
            var left = x.select(1, 0).matmul(cores[0]);
            for (int i = 1; i < sites - 1; i++)
            {
                using var core = cores[i].permute(1, 0, 2).reshape(2, chi * chi);
                using var mat = x.select(1, i).matmul(core).view(batch, chi, chi);
                using var row = left.unsqueeze(1);
                using var r = row.bmm(mat);
                left = Next(left, r.squeeze(1));
            }
            using var end = left.matmul(cores[sites - 1]);
            left.Dispose();
            using var product = end * x.select(1, sites - 1);
            return product.sum(-1);
        }
        // TensorKrowch's default (inline_input and inline_mats false): every site's matrix at once (one einsum of the
        // stacked inputs with the stacked cores), then the matrices multiplied in pairs, log-depth.
        Tensor KrowchParallel()
        {
            using var x = nn.functional.one_hot(raw, 2).to_type(dtype);
            using var stacked = stack(cores[1..^1]);
            using var xs = x.narrow(1, 1, sites - 2).permute(1, 0, 2);
            var mats = einsum("nbp,nlpr->nblr", xs, stacked);
            while (mats.shape[0] > 1)
            {
                long k = mats.shape[0], h = k / 2;
                using var even = mats.narrow(0, 0, 2 * h).view(h, 2, batch, chi, chi);
                using var a = even.select(1, 0);
                using var b = even.select(1, 1);
                var paired = a.matmul(b);
                if (k % 2 == 1)
                {
                    using var odd = mats.narrow(0, k - 1, 1);
                    using var p = paired;
                    paired = cat([p, odd]);
                }
                mats = Next(mats, paired);
            }
            using var first = x.select(1, 0).matmul(cores[0]).unsqueeze(1);
            using var all = first.bmm(mats.squeeze(0)).squeeze(1);
            mats.Dispose();
            using var end = all.matmul(cores[sites - 1]);
            using var product = end * x.select(1, sites - 1);
            return product.sum(-1);
        }
        var hands = new Dictionary<string, Func<Tensor>>
        {
            ["one-hot vectors, bmm"] = OneHotBmm,
            ["matmul, index_select"] = () => MatmulGather(false),
            ["matmul, index_select (rows precomputed)"] = () => MatmulGather(true),
        };
        // Timed apart from the rest (after them): their large temporaries otherwise change the heap and the caches
        // the next side in the same round finds.
        var krowch = new Dictionary<string, Func<Tensor>> { ["TensorKrowch-style, inline"] = KrowchInline };
        // The parallel form holds every site's matrix at once (and autograd keeps each level of the products).
        double stackedBytes = (sites - 2.0) * batch * chi * chi * (dtype == ScalarType.Float64 ? 8 : 4);
        bool parallel = stackedBytes <= 1L << 30;
        if (parallel)
            krowch["TensorKrowch-style, parallel"] = KrowchParallel;
        Console.WriteLine($"(a) born-machine MPS: {sites} sites, chi {chi}, batch {batch}, one-hot inputs (examples/born-machine.tn)");
        if (!parallel)
            Console.WriteLine($"    TensorKrowch-style parallel form left out: its stacked matrices alone take {stackedBytes / (1L << 30):F1} GiB, " +
                              $"and its pairwise products take {(double)chi / 2:F0} times the flops of a sweep");
        var lowered = module.Plan.Where(s => s.Lowering is not null).GroupBy(s => s.Lowering!.Name).Select(g => $"{g.Key} {g.Count()}");
        Console.WriteLine($"    planner path ({planned.Optimizer}, chose {planned.Chosen}): {planned.Flops:E2} flops, {(double)planned.Flops / SweepFlops(sites, chi, batch):F2}x the hand sweep's; " +
                          $"{module.Plan.Count} steps, lowered: {string.Join(", ", lowered)}");
        using (no_grad())
        using (NewDisposeScope())
        {
            using var a = MatmulGather(false);
            foreach (var (name, f) in hands.Concat(krowch).Append(new("module", () => module.forward([raw]))).Append(new("module, dense", () => dense.forward([raw]))))
            {
                using var b = f();
                Console.WriteLine($"    max |{name} - matmul, index_select| / max = {(ScalarOps.Minus(a, b).abs().max() / a.abs().max()).to_type(ScalarType.Float64).item<double>():g3}");
            }
        }
        Tensor Backward(Func<Tensor> f)
        {
            var y = f().sum();
            y.backward();
            return y;
        }
        foreach (bool train in new[] { false, true })
        {
            var fs = hands.ToDictionary(kv => kv.Key, kv => train ? () => Backward(kv.Value) : kv.Value);
            fs["module"] = train ? () => Backward(() => module.forward([raw])) : () => module.forward([raw]);
            fs["module, dense"] = train ? () => Backward(() => dense.forward([raw])) : () => dense.forward([raw]);
            var fk = krowch.ToDictionary(kv => kv.Key, kv => train ? () => Backward(kv.Value) : kv.Value);
            Dictionary<string, double> t;
            if (train)
            {
                t = Median(fs, device, rounds, () => { module.zero_grad(); dense.zero_grad(); }, cpuTime);
                foreach (var (k, v) in Median(fk, device, rounds, cpuTime: cpuTime))
                    t[k] = v;
            }
            else
                using (no_grad())
                {
                    t = Median(fs, device, rounds, cpuTime: cpuTime);
                    foreach (var (k, v) in Median(fk, device, rounds, cpuTime: cpuTime))
                        t[k] = v;
                }
            double best = hands.Keys.Concat(krowch.Keys).Min(k => t[k]);
            Console.WriteLine($"    {(train ? "forward+backward" : "forward")}:");
            foreach (var k in hands.Keys.Concat(krowch.Keys))
                Console.WriteLine($"      hand: {k,-42} {Ms(t[k])}");
            Console.WriteLine($"      module (lowered)                               {Ms(t["module"])}   ratio module/best hand = {t["module"] / best:F2}");
            Console.WriteLine($"      module (dense, Lower = false)                  {Ms(t["module, dense"])}   ratio {t["module, dense"] / best:F2}");
        }
    }

    /// opt_einsum flops of the sweep: per bulk site env.A (b·chi·2·chi, summed) and .x (b·2·chi, summed).
    static double SweepFlops(int sites, long chi, long batch) =>
        (sites - 2) * (2.0 * batch * chi * 2 * chi + 2.0 * batch * 2 * chi) + 4.0 * batch * 2 * chi;

    /// The planner's pairwise steps as a user writes them by hand: each network tensor's operand (inputs embedded
    /// once per call), then per step one tensordot, or a two-operand einsum where the step keeps batch legs.
    sealed class PairwiseHand
    {
        readonly NetworkModule m;
        readonly (int Slot, int Member, bool Members, int[] Labels, string? Reduce)[] leaves;
        readonly (int Left, int Right, long[]? DimsA, long[]? DimsB, string? Equation)[] steps;
        readonly long[]? final;

        public PairwiseHand(NetworkModule m)
        {
            this.m = m;
            var spec = m.Spec;
            var plan = m.ExecutionPlan;
            var names = m.InputNames.ToList();
            var members = new Dictionary<string, int>();
            var labels = new List<int[]>();
            leaves = spec.Tensors.Select(t =>
            {
                int[] own;
                (int, int, bool) at = (-1, -1, false);
                if (t.Role == TensorRole.Input)
                {
                    var body = t.Embedding is null ? t.Legs : t.Legs[..^1];
                    own = [.. body.Where(l => spec.Indices[l].IsDynamic), .. body.Where(l => !spec.Indices[l].IsDynamic), .. t.Embedding is null ? [] : new[] { t.Legs[^1] }];
                    int member = members[t.Family] = members.GetValueOrDefault(t.Family, -1) + 1;
                    at = (names.IndexOf(t.Family), member, t.Subscripts.Length > 0);
                }
                else
                    own = t.Legs;
                var kept = own.Distinct().Where(plan.LeafLabels[t.Id].Contains).ToArray();
                labels.Add(kept);
                string? reduce = kept.Length == own.Length ? null : $"{Word(own, own)}->{Word(own, kept)}";
                return (at.Item1, at.Item2, at.Item3, own, reduce);
            }).ToArray();
            var ops = labels;
            steps = plan.Steps.Select(s =>
            {
                var (a, b) = (ops[s.Left], ops[s.Right]);
                var keep = s.Kept.ToHashSet();
                var shared = a.Where(b.Contains).ToArray();
                var result = s.Kept.ToArray();
                (int, int, long[]?, long[]?, string?) step;
                if (shared.Any(keep.Contains))
                {
                    // Result legs in the order einsum writes them: the left operand's, then the right's.
                    result = a.Concat(b).Distinct().Where(keep.Contains).ToArray();
                    var all = a.Concat(b).Distinct().ToArray();
                    step = (s.Left, s.Right, null, null, $"{Word(all, a)},{Word(all, b)}->{Word(all, result)}");
                }
                else
                {
                    var summed = shared.ToArray();
                    result = [.. a.Where(l => !summed.Contains(l)), .. b.Where(l => !summed.Contains(l))];
                    step = (s.Left, s.Right, summed.Select(l => (long)Array.IndexOf(a, l)).ToArray(), summed.Select(l => (long)Array.IndexOf(b, l)).ToArray(), null);
                }
                ops.RemoveAt(Math.Max(s.Left, s.Right));
                ops.RemoveAt(Math.Min(s.Left, s.Right));
                ops.Add(result);
                return step;
            }).ToArray();
            var last = ops[0];
            var perm = spec.Output.Select(l => (long)Array.IndexOf(last, l)).ToArray();
            final = perm.Select((p, k) => p == k).All(x => x) ? null : perm;
        }

        static string Word(int[] all, IEnumerable<int> ls) =>
            string.Concat(ls.Select(l => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[Array.IndexOf(all.Distinct().ToArray(), l)]));

        public Tensor Forward(Tensor[] inputs, ScalarType dtype)
        {
            using var scope = NewDisposeScope();
            var embedded = inputs.Select((x, k) => m.Inputs[k].Embedding is { } e ? Embeddings.Apply(e, x, dtype) : x).ToArray();
            var ops = m.Spec.Tensors.Select((t, id) =>
            {
                var leaf = leaves[id];
                var v = t.Role == TensorRole.Input
                    ? leaf.Members ? embedded[leaf.Slot].select(m.Inputs[leaf.Slot].BatchAxes, leaf.Member) : embedded[leaf.Slot]
                    : m.get_parameter(t.Param) ?? m.get_buffer(t.Param)!;
                return leaf.Reduce is null ? v : einsum(leaf.Reduce, v);
            }).ToList();
            foreach (var s in steps)
            {
                var (a, b) = (ops[s.Left], ops[s.Right]);
                var r = s.Equation is { } eq ? einsum(eq, a, b) : tensordot(a, b, s.DimsA!, s.DimsB!);
                ops.RemoveAt(Math.Max(s.Left, s.Right));
                ops.RemoveAt(Math.Min(s.Left, s.Right));
                ops.Add(r);
            }
            return (final is null ? ops[0] : ops[0].permute(final)).MoveToOuterDisposeScope();
        }
    }

    static void Pairwise(ScalarType dtype, Device device, string file, KeyValuePair<string, string>[] set, int rounds)
    {
        const long batch = 100;
        using var m = NetworkModules.FromFile(file, set, new NetworkBuildOptions { Batch = batch, Module = new() { DType = dtype, Device = device, Seed = 1 } });
        var hand = new PairwiseHand(m);
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(m, batch, inputsGenerator, dtype, device);
        using (no_grad())
        {
            using var a = hand.Forward(inputs, dtype);
            using var b = m.forward(inputs);
            double err;
            using (NewDisposeScope())
                err = (ScalarOps.Minus(a, b).abs().max() / a.abs().max()).to_type(ScalarType.Float64).item<double>();
            var (h, mod, blocks) = Paired(() => hand.Forward(inputs, dtype), () => m.forward(inputs), device, rounds, null);
            Console.Write($"    {Path.GetRelativePath(Path.GetDirectoryName(Path.GetDirectoryName(file)!)!, file),-24} {m.Spec.Tensors.Length,4} tensors{(m.Inputs.Count > 0 ? $", batch {batch}" : ""),-11} " +
                          $"forward: hand {Us(h)}, module {Us(mod)}, ratio {mod / h:F2} [{blocks}] (max rel. difference {err:g2})");
        }
        Tensor Backward(Func<Tensor> f)
        {
            var y = ScalarOps.Square(f()).sum();
            y.backward();
            return y;
        }
        var (hb, mb, bb) = Paired(() => Backward(() => hand.Forward(inputs, dtype)), () => Backward(() => m.forward(inputs)), device, rounds, () => m.zero_grad());
        Console.WriteLine($"; forward+backward: ratio {mb / hb:F2} [{bb}]");
        foreach (var x in inputs)
            x.Dispose();
    }

    /// <summary>
    /// Seconds per call of two functions timed call by call, in pairs (the one that runs first alternates), until
    /// each has run for about 0.2·<paramref name="rounds"/> seconds (at least 100 pairs): the median of each, and the
    /// ratio of the medians (second/first) in each of <paramref name="rounds"/> consecutive blocks of pairs, lowest
    /// to highest. A call of a small network takes tens of microseconds, so per-call samples let thousands of pairs
    /// share the same moments of a busy machine, where samples of many calls each leave the two sides apart in time.
    /// </summary>
    static (double First, double Second, string Blocks) Paired(Func<Tensor> first, Func<Tensor> second, Device device, int rounds, Action? before)
    {
        double Time(Func<Tensor> f)
        {
            before?.Invoke();
            double cpu = cpuTime ? ProcessCpuSeconds() : 0;
            long start = Stopwatch.GetTimestamp();
            using (NewDisposeScope())
            {
                f();
                if (device.type == DeviceType.CUDA)
                    cuda.synchronize();
            }
            return cpuTime ? ProcessCpuSeconds() - cpu : Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        for (int i = 0; i < 20; i++)
        {
            Time(first);
            Time(second);
        }
        var (a, b) = (new List<double>(), new List<double>());
        double budget = 0.2 * rounds, spent = 0;
        for (int i = 0; spent < 2 * budget || i < 100; i++)
        {
            double x, y;
            if (i % 2 == 0)
                (x, y) = (Time(first), Time(second));
            else
                (y, x) = (Time(second), Time(first));
            a.Add(x);
            b.Add(y);
            spent += x + y;
        }
        int size = a.Count / rounds;
        var blocks = Enumerable.Range(0, rounds)
            .Select(k => Quantile(b.GetRange(k * size, size), 0.5) / Quantile(a.GetRange(k * size, size), 0.5)).Order().ToList();
        return (Quantile(a, 0.5), Quantile(b, 0.5), $"{rounds} blocks {blocks[0]:F2}-{blocks[^1]:F2}");
    }

    static void Memory(ScalarType dtype, Device device, string file, KeyValuePair<string, string>[] set, long batch)
    {
        using var m = NetworkModules.FromFile(file, set, new NetworkBuildOptions { Batch = batch, Module = new() { DType = dtype, Device = device, Seed = 1 } });
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(m, batch, inputsGenerator, dtype, device);
        using var opt = new Sgd(m.parameters(), 1e-6);
        void Step()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            ScalarOps.Square(m.forward(inputs)).mean().backward();
            opt.step();
        }
        Step();
        Step();
        // Return freed heap to the system, reset the peak-RSS mark (Linux: writing 5 to clear_refs), then run one
        // step and read the peak.
        GC.Collect();
        MallocTrim(0);
        File.WriteAllText("/proc/self/clear_refs", "5");
        long before = Status("VmRSS");
        long hwmBefore = Status("VmHWM");
        Step();
        long peak = Status("VmHWM");
        // The memory guard's estimate of this training step (the module's program, an SGD step without state)
        // against what was held before the step plus the rise during it; `memory` runs every example this way.
        long held = m.parameters().Concat(m.buffers()).Concat(inputs).Sum(t => t.numel() * t.element_size());
        double predicted = (double)ExecutedBytes.Estimate(m.Spec, m.ExecutionPlan, new() { DType = dtype }, optimizerSlots: 0).Training;
        Console.WriteLine($"(c) {m.Spec.Name} {string.Join(" ", set.Select(kv => kv.Key + "=" + kv.Value))} batch {batch}: training step peak native memory +{Mb(peak - before)} " +
                          $"(RSS {Mb(before)} before, peak mark reset from {Mb(hwmBefore)}); with the {Mb(held)} of weights and inputs held {Mb(peak - before + held)}, " +
                          $"the guard's estimate {Mb((long)predicted)}, ratio measured/predicted {(peak - before + held) / predicted:F2}");
        foreach (var t in inputs)
            t.Dispose();
    }

    static long Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    static string Mb(long bytes) => $"{bytes / 1048576.0:F1} MB";

    static string Ms(double seconds) => $"{seconds * 1e3,9:F2} ms";

    static string Us(double seconds) => $"{seconds * 1e6,7:F1} us";

    struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    /// The CPU time of the whole process (all threads), in seconds (Linux CLOCK_PROCESS_CPUTIME_ID).
    static double ProcessCpuSeconds() => ClockGetTime(2, out var t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9 : double.NaN;

    /// <summary>
    /// Median seconds per call; the functions take turns within each round so that outside load falls on all alike.
    /// With <paramref name="cpuTime"/> the process's CPU time is measured rather than wall time: on a busy machine a
    /// one-thread run loses wall time to other processes but not CPU time (the issue's figures are CPU time).
    /// </summary>
    internal static Dictionary<string, double> Median(Dictionary<string, Func<Tensor>> fs, Device device, int rounds = 15, Action? before = null, bool cpuTime = false) =>
        Samples(fs, device, rounds, before, cpuTime).ToDictionary(kv => kv.Key, kv => Quantile(kv.Value, 0.5));

    /// The q-quantile of <paramref name="xs"/> (the nearest sample below).
    static double Quantile(IReadOnlyList<double> xs, double q) => xs.Order().ElementAt((int)(q * (xs.Count - 1)));

    /// <summary>
    /// Seconds per call of each function in every round (see <see cref="Median"/>).
    /// </summary>
    static Dictionary<string, List<double>> Samples(Dictionary<string, Func<Tensor>> fs, Device device, int rounds = 15, Action? before = null, bool cpuTime = false)
    {
        var times = fs.Keys.ToDictionary(k => k, _ => new List<double>());
        var clock = new Stopwatch();
        foreach (var (_, f) in fs)
            using (var scope = NewDisposeScope())
                f();
        for (int r = 0; r < rounds; r++)
            foreach (var (k, f) in fs)
            {
                before?.Invoke();
                double cpu = cpuTime ? ProcessCpuSeconds() : 0;
                clock.Restart();
                using (var scope = NewDisposeScope())
                {
                    f();
                    if (device.type == DeviceType.CUDA)
                        cuda.synchronize();
                }
                times[k].Add(cpuTime ? ProcessCpuSeconds() - cpu : clock.Elapsed.TotalSeconds);
            }
        return times;
    }
}
