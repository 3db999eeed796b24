using System.Diagnostics;
using System.Runtime.InteropServices;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// The backend benchmark of issue 5, every figure a ratio against a baseline measured in the same run:
/// (a) the born-machine MPS (784 sites, chi 30, batch 1000, one-hot inputs): module forward against a hand-written
/// loop of batched matrix products over the sites, with the module executing the planner's path;
/// (b) a 4×4 PEPS and a MERA: module forward against one torch.einsum call over all tensors;
/// (c) peak native memory of a training step against the planner's activation-memory prediction.
/// </summary>
static partial class BackendBench
{
    /// glibc: returns freed heap memory to the system, so that RSS counts live memory only.
    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    public static void Run(ScalarType dtype, Device device, int sites, string examples)
    {
        Console.WriteLine($"TnDsl backend benchmark: {dtype} on {device}, {get_num_threads()} threads, TorchSharp native: {NativeLoader.Outcome}");
        Console.WriteLine();
        BornMachine(dtype, device, sites, examples);
        Console.WriteLine();
        Einsum(dtype, device, Path.Combine(examples, "peps.tn"), []);
        Einsum(dtype, device, Path.Combine(examples, "mera.tn"), []);
        Console.WriteLine();
        Memory(dtype, device, Path.Combine(examples, "mpo-linear.tn"), [new("k", "4"), new("r", "16")], 20000);
        Memory(dtype, device, Path.Combine(examples, "mera-classifier.tn"), [new("chi", "8")], 20000);
        Memory(dtype, device, Path.Combine(examples, "born-machine.tn"), [new("n", "100"), new("chi", "30")], 1000);
    }

    static void BornMachine(ScalarType dtype, Device device, int sites, string examples)
    {
        const long chi = 30, batch = 1000;
        var set = new KeyValuePair<string, string>[] { new("n", sites.ToString()), new("chi", chi.ToString()) };
        var net = TnDsl.Api.Frontend.Load(Path.Combine(examples, "born-machine.tn"), set, null);
        var planned = NetworkAdapter.Plan(net, "auto", batch);
        var spec = NetworkAdapter.FromFlat(net);
        var options = new NetworkModuleOptions { DType = dtype, Device = device, Seed = 1 };
        using var module = new NetworkModule(spec, planned, options);
        using var raw = randint(0, 2, [batch, sites], generator: new Generator(2)).to(device);
        var cores = Enumerable.Range(0, sites).Select(i => module.get_parameter($"A.{i}")!).ToArray();

        // The hand-written loop of the seed paper's code: batched matrix products over the sites.
        Tensor Hand()
        {
            using var scope = NewDisposeScope();
            var x = nn.functional.one_hot(raw, 2).to_type(dtype);
            var left = x.select(1, 0).matmul(cores[0]);
            for (int i = 1; i < sites - 1; i++)
            {
                var m = left.matmul(cores[i].reshape(chi, 2 * chi)).view(batch, 2, chi);
                left = x.select(1, i).unsqueeze(1).bmm(m).squeeze(1);
            }
            return (left.matmul(cores[sites - 1]) * x.select(1, sites - 1)).sum(-1).MoveToOuterDisposeScope();
        }
        // The same loop with the one-hot absorption fused as a gather: each site's matrix A[:, x, :] is picked per sample.
        var slices = cores.Skip(1).Take(sites - 2).Select(c => c.permute(1, 0, 2).contiguous()).ToArray();
        Tensor Gather()
        {
            using var scope = NewDisposeScope();
            var left = cores[0].index_select(0, raw.select(1, 0));
            for (int i = 1; i < sites - 1; i++)
                left = left.unsqueeze(1).bmm(slices[i - 1].index_select(0, raw.select(1, i))).squeeze(1);
            var last = cores[sites - 1].t().index_select(0, raw.select(1, sites - 1));
            return (left * last).sum(-1).MoveToOuterDisposeScope();
        }
        Console.WriteLine($"(a) born-machine MPS: {sites} sites, chi {chi}, batch {batch}, one-hot inputs (examples/born-machine.tn)");
        using (no_grad())
        {
            using var a = Hand();
            using var b = module.forward([raw]);
            using var g = Gather();
            Console.WriteLine($"    max |module - hand| / max |hand| = {((a - b).abs().max() / a.abs().max()).to_type(ScalarType.Float64).item<double>():g3}, gather loop {((a - g).abs().max() / a.abs().max()).to_type(ScalarType.Float64).item<double>():g3}");
            var t = Median(new() { ["hand"] = Hand, ["gather"] = Gather, ["module"] = () => module.forward([raw]) }, device);
            double best = Math.Min(t["hand"], t["gather"]);
            Console.WriteLine($"    hand-written loop (one-hot bmm)   {Ms(t["hand"])}");
            Console.WriteLine($"    hand-written loop (gather + bmm)  {Ms(t["gather"])}");
            Console.WriteLine($"    module, planner path              {Ms(t["module"])}   ratio module/best hand = {t["module"] / best:F2}");
            Console.WriteLine($"    kernels chosen (planner path): {string.Join(", ", module.Plan.GroupBy(p => p.Kernel).Select(g => $"{g.Key} {g.Count()}"))}");
        }
        var ratioFlops = (double)planned.Flops / SweepFlops(sites, chi, batch);
        Console.WriteLine($"    planner path ({planned.Optimizer}, chose {planned.Chosen}): {planned.Flops:E2} flops, {ratioFlops:F2}x the hand sweep's {SweepFlops(sites, chi, batch):E2}; largest intermediate {planned.LargestIntermediate:E2} elements");
    }

    /// opt_einsum flops of the sweep: per bulk site env.A (b·chi·2·chi, summed) and .x (b·2·chi, summed).
    static double SweepFlops(int sites, long chi, long batch) =>
        (sites - 2) * (2.0 * batch * chi * 2 * chi + 2.0 * batch * 2 * chi) + 4.0 * batch * 2 * chi;

    static void Einsum(ScalarType dtype, Device device, string file, KeyValuePair<string, string>[] set)
    {
        using var m = NetworkModules.FromFile(file, set, new NetworkBuildOptions { Module = new() { DType = dtype, Device = device, Seed = 1 } });
        var spec = m.Spec;
        const string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        if (spec.Indices.Length > letters.Length)
        {
            Console.WriteLine($"(b) {spec.Name}: more than 52 indices, no single einsum");
            return;
        }
        var equation = string.Join(",", spec.Tensors.Select(t => string.Concat(t.Legs.Select(l => letters[l])))) + "->" + string.Concat(spec.Output.Select(l => letters[l]));
        var operands = spec.Tensors.Select(t => m.get_parameter(t.Param) ?? m.get_buffer(t.Param)!).ToArray();
        using (no_grad())
        {
            Tensor Single() => einsum(equation, operands);
            using var a = Single();
            using var b = m.forward([]);
            double err = ((a - b).abs().max() / a.abs().max()).to_type(ScalarType.Float64).item<double>();
            var t = Median(new() { ["einsum"] = Single, ["module"] = () => m.forward([]) }, device, rounds: 7);
            Console.WriteLine($"(b) {spec.Name} ({spec.Tensors.Length} tensors, plan {m.ExecutionPlan.Flops:E2} flops vs left-to-right naive): " +
                              $"one einsum {Ms(t["einsum"])}, module {Ms(t["module"])}, speed-up {t["einsum"] / t["module"]:F1}x (max rel. difference {err:g2})");
        }
    }

    static void Memory(ScalarType dtype, Device device, string file, KeyValuePair<string, string>[] set, long batch)
    {
        using var m = NetworkModules.FromFile(file, set, new NetworkBuildOptions { Batch = batch, Module = new() { DType = dtype, Device = device, Seed = 1 } });
        var inputs = RandomInputs.Make(m, batch, new Generator(3), dtype, device);
        using var opt = optim.SGD(m.parameters(), 1e-6);
        void Step()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            m.forward(inputs).square().mean().backward();
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
        int bytes = dtype == ScalarType.Float64 ? 8 : 4;
        var f = m.ExecutionPlan;
        double predicted = (double)f.ActivationMemory * bytes;
        double predictedPeak = (double)(f.ActivationMemory + f.LargestIntermediate) * bytes;
        Console.WriteLine($"(c) {m.Spec.Name} {string.Join(" ", set.Select(kv => kv.Key + "=" + kv.Value))} batch {batch}: training step peak native memory +{Mb(peak - before)} " +
                          $"(RSS {Mb(before)} before, peak mark reset from {Mb(hwmBefore)}); planner's activation memory {Mb((long)predicted)}, " +
                          $"ratio measured/predicted {(peak - before) / predicted:F2} (against activations + largest intermediate: {(peak - before) / predictedPeak:F2})");
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

    /// Median seconds per call; the functions take turns within each round so that outside load falls on all alike.
    internal static Dictionary<string, double> Median(Dictionary<string, Func<Tensor>> fs, Device device, int rounds = 15)
    {
        var times = fs.Keys.ToDictionary(k => k, _ => new List<double>());
        var clock = new Stopwatch();
        foreach (var (_, f) in fs)
            using (var scope = NewDisposeScope())
                f();
        for (int r = 0; r < rounds; r++)
            foreach (var (k, f) in fs)
            {
                clock.Restart();
                using (var scope = NewDisposeScope())
                {
                    f();
                    if (device.type == DeviceType.CUDA)
                        cuda.synchronize();
                }
                times[k].Add(clock.Elapsed.TotalSeconds);
            }
        return times.ToDictionary(kv => kv.Key, kv => kv.Value.Order().ElementAt(kv.Value.Count / 2));
    }
}
