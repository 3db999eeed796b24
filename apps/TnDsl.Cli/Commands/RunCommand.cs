namespace TnDsl.Cli.Commands;

using TnDsl.Api;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// <c>tn run FILE [--set k=v] [--network NAME] [--device cpu|cuda] [--dtype float32|float64] [--batch N|name=N,…]
/// [--seed S] [--repeat R] [--optimizer NAME] [--threads N]</c>: builds the TorchSharp module of a network (planned by the
/// planner), runs random inputs through it and prints the output shape, the parameter count, the plan's flops and
/// the time per batch (median of R calls, forward and forward + backward). The module is planned, and the inputs made,
/// at the batch: every dynamic index at N, or each one named at its size (<see cref="BatchSizes"/>). A batch
/// whose forward pass fits only in chunks of rows runs so (a <c>chunks</c> line says how many, and along which index
/// where there are several) and its backward pass is not run.
/// Exit codes: 0 ran, 1 the network has errors or could not run, 2 a usage error.
/// </summary>
public static class RunCommand
{
    /// <summary>The <c>run</c> verb; it reports on the console.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var device = TnOptions.Choice("--device", "where to run: cpu, or cuda (a GPU with TorchSharp's CUDA libraries)", "cpu", "cuda");
        var dtype = TnOptions.Choice("--dtype", "the floating-point type of weights and inputs", "float32", "float64");
        var batch = TnOptions.Batch("the batch size: N for every dynamic index, or name=N for the one named; repeatable or " +
                                    "comma-separated (q=2000,k=50000) [default: the size the file gives each]");
        var seed = TnOptions.Integer("--seed", 0, "seed of the weights' initialisation and the random inputs", min: long.MinValue);
        var repeat = TnOptions.Int("--repeat", 10, "timed calls; the median is reported");
        var optimizer = TnOptions.Optimizer();
        var threads = TnOptions.ThreadCount("TorchSharp CPU threads [default: 1 under 1e8 flops per call, else the core count]");
        var command = new Command("run", "build the network's TorchSharp module and time it on random inputs")
        {
            file, set, network, device, dtype, batch, seed, repeat, optimizer, threads,
        };
        Cli.SetAction(command, parse => Run(parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network),
            parse.GetValue(device)!, parse.GetValue(dtype) == "float64" ? ScalarType.Float64 : ScalarType.Float32,
            parse.GetValue(batch), parse.GetValue(seed), parse.GetValue(repeat),
            parse.GetValue(optimizer)!, parse.GetValue(threads)));
        return command;
    }

    private static int Run(string file, IReadOnlyList<KeyValuePair<string, string>> overrides, string? networkName,
        string deviceName, ScalarType dtype, BatchSizes? batch, long seed, int repeat, string optimizer, int? threads)
    {
        PlanCommand.RequireTnFile("run", file);
        PlanCommand.RequireOptimizer(optimizer);
        // The file is checked before libtorch loads: errors in the input come first, and cheaply.
        // Errors end the run as every verb reports them (Cli.SetAction); warnings are written here.
        var check = Shipped.Check(file, overrides, networkName);
        var net = check.OrThrow();
        // A refusal by the memory guard names this verb's options that apply to this network.
        using var advice = MemoryGuard.Advise(DynamicOptions.Remedies(net));
        DiagnosticOutput.Write(Console.Error, check.Diagnostics);
        DynamicOptions.CheckBatch(net, batch);
        DynamicOptions.CheckBatchBytes(net, batch, dtype);
        NativeLoader.EnsureLoaded();
        if (deviceName == "cuda" && !cuda.is_available())
        {
            Console.Error.WriteLine("tn run: --device cuda: CUDA is not available here (no GPU, or TorchSharp's CPU-only native libraries); use --device cpu");
            return 1;
        }
        var device = new Device(deviceName);
        // The limit on a GPU is a share of its free memory: for the build, the random inputs and the timed passes.
        using var on = MemoryGuard.OnDevice(device);
        if (threads is { } nt)
            set_num_threads(nt);
        var clock = Stopwatch.StartNew();
        var module = NetworkModules.FromNetwork(net, new NetworkBuildOptions
        {
            Optimizer = optimizer,
            Batch = batch,
            NetworkName = networkName,
            Module = new NetworkModuleOptions { Device = device, DType = dtype, Seed = seed },
        });
        double buildSeconds = clock.Elapsed.TotalSeconds;
        using (module)
        {
            try
            {
                Report(module, device, dtype, batch, seed, repeat, buildSeconds, threads);
            }
            catch (Exception e) when (e is ArgumentException)
            {
                Console.Error.WriteLine($"tn run: {module.Spec.Name}: {MemoryGuard.NativeMessage(e)}");
                return 1;
            }
        }
        return 0;
    }

    private static void Report(NetworkModule module, Device device, ScalarType dtype, BatchSizes? batch, long seed, int repeat, double buildSeconds, int? threads)
    {
        var plan = module.ExecutionPlan;
        if (threads is null)
            set_num_threads(Threads.For(plan.Flops));
        bool hasBatch = module.Spec.Indices.Any(i => i.IsDynamic);
        // Every dynamic index at its size: the one given to all, its own, or the file's.
        var extents = BatchSizes.Extents(module.Spec, batch);
        var n = BatchSizes.Describe(module.Spec, extents);
        using var generator = new Generator((ulong)seed + 1);
        var inputs = RandomInputs.Make(module, extents, generator, dtype, device);
        // The report comes after the calls; a plan sliced to fit a small limit can take hours (a 16x16 lattice under
        // 100K: 524,288 slices, 4.15e10 flops a call), so what each call runs is said before the first starts.
        if (plan.IsSliced)
            Console.Error.WriteLine($"tn run: {module.Spec.Name}: the plan is sliced to fit the memory limit: each call runs {plan.Slices:N0} slices, " +
                                    $"{Counted(plan.SlicedFlops, "flop")} (a first call, then {repeat} timed)");
        try
        {
            var clock = Stopwatch.StartNew();
            Tensor First()
            {
                using var _ = no_grad();
                return module.forward(inputs);
            }
            long[] shape;
            using (var y = First())
            {
                Sync(device);
                shape = y.shape; // the output is freed before the timed calls make theirs
            }
            // A forward pass that does not fit at once ran in chunks of rows (NetworkModule.forward).
            var chunks = module.Chunking;
            double first = clock.Elapsed.TotalSeconds;
            var forward = Median(repeat, device, () =>
            {
                using var _ = no_grad();
                return module.forward(inputs);
            });
            // Backward keeps the activations of every slice (or, where that does not fit a sliced plan, of one group of
            // slices run again: SliceCheckpointing) and makes a gradient per parameter: where that does not fit, the
            // forward figures are still reported and the backward pass is not run.
            string? noBackward = null;
            var at = new NetworkModuleOptions { DType = dtype };
            // The training step's estimate and the slices per group it checkpoints in, worked out once.
            var (trainingBytes, checkpointGroup) = module.ParameterCount > 0 ? MemoryGuard.TrainingStep(module.Spec, plan, at) : (0, 0L);
            if (module.ParameterCount > 0)
            {
                try
                {
                    // The rows that fit are this plan's, its training step checkpointed in groups of slices; a smaller
                    // --batch is planned anew and may need no slicing, which trains faster (before checkpointing, "not
                    // even one row fits" was said of a batch whose tenth trained).
                    if (trainingBytes > MemoryGuard.Limit)
                        MemoryGuard.Check(trainingBytes, "the backward pass (activations kept, one gradient per weight)",
                            !hasBatch ? null
                            : plan.IsSliced
                                ? MemoryGuard.AtMost(MemoryGuard.MostRows(module.Spec, plan, at, true, extents), true, MemoryGuard.Along(extents, "with this sliced plan")) +
                                  "; a smaller --batch is planned anew, and unsliced where that fits"
                                : MemoryGuard.AtMost(MemoryGuard.MostRows(module.Spec, plan, at, true, extents), true, MemoryGuard.Along(extents)));
                }
                catch (MemoryLimitException e)
                {
                    noBackward = e.Message;
                }
            }
            double? backward = module.ParameterCount == 0 || noBackward is not null ? null : Median(repeat, device, () =>
            {
                module.zero_grad();
                var loss = ScalarOps.Square(module.forward(inputs)).sum();
                loss.backward();
                return loss;
            });
            var w = Console.Out;
            w.WriteLine($"network {module.Spec.Name}: {module.Spec.Tensors.Length} tensor{(module.Spec.Tensors.Length == 1 ? "" : "s")}, {dtype.ToString().ToLowerInvariant()} on {device.type.ToString().ToLowerInvariant()}, {ThreadCount(get_num_threads())}");
            // Batch axes of different extents are named by their index.
            bool named = extents.Values.Distinct().Count() > 1;
            w.WriteLine($"  inputs      {(module.Inputs.Count == 0 ? "none" : string.Join(", ", module.Inputs.Select(i => Describe(module.Spec, i, named))))}");
            w.WriteLine($"  output      [{string.Join(", ", shape)}]  ({string.Join(", ", Abbreviate(module.OutputLegs))})");
            w.WriteLine($"  parameters  {module.ParameterCount:N0} trainable scalar{(module.ParameterCount == 1 ? "" : "s")} in {module.ParameterNames.Count} tensor{(module.ParameterNames.Count == 1 ? "" : "s")}");
            // The planner's steps, as tn plan lists them: a lone tensor's is one (`ab -> ab`, as in opt_einsum), though
            // the module runs no product for it.
            int steps = plan.TreeSteps.Count;
            w.WriteLine($"  plan        {plan.Optimizer}{(plan.Chosen == plan.Optimizer ? "" : $" (chose {plan.Chosen})")}: " +
                        $"{Counted(plan.Flops, "flop")}, largest intermediate {Counted(plan.LargestIntermediate, "element")}, {steps} step{(steps == 1 ? "" : "s")}{(hasBatch ? $" (batch {n})" : "")}");
            if (plan.IsSliced)
                w.WriteLine($"  sliced      {plan.Slices} slices over {string.Join(", ", plan.SlicedLabels.Select(l => module.Spec.Indices[l].Name))}: " +
                            $"{Counted(plan.SlicedFlops, "flop")} ({plan.SliceOverhead:0.##}x), largest intermediate {Counted(plan.SliceLargestIntermediate, "element")} per slice");
            var forwardBytes = MemoryGuard.Needed(module.Spec, plan, at, training: false);
            long limit = MemoryGuard.Limit;
            w.WriteLine($"  memory      {MemoryGuard.Format(forwardBytes)} forward" +
                        (module.ParameterCount > 0 ? $", {MemoryGuard.Format(trainingBytes)} training" +
                            (checkpointGroup > 0 ? $" (slices checkpointed in groups of {checkpointGroup:N0})" : "") : "") +
                        $" (planner's estimate; limit {MemoryGuard.Format(limit)})");
            // Chunks where the whole pass fits are the cap's (MemoryGuard.ChunkCap): smaller chunks run faster.
            if (chunks.Count > 0)
                w.WriteLine($"  chunks      {MemoryGuard.Describe(module.Spec, chunks)} " +
                            (forwardBytes > limit
                                ? "(the forward pass does not fit at once)"
                                : $"(the forward pass fits at once, but runs faster in chunks of at most {Short(MemoryGuard.Format(MemoryGuard.ChunkCap))} by the estimate)"));
            w.WriteLine(module.Plan.Count == 0
                ? "  kernels     none (one tensor: no pairwise product)"
                : $"  kernels     {string.Join(", ", module.Plan.GroupBy(p => p.Kernel).OrderBy(g => g.Key).Select(g => $"{g.Key.ToString().ToLowerInvariant()} {g.Count()}"))} (chosen when the module was built)");
            if (module.Plan.Any(p => p.Lowering is not null))
                w.WriteLine($"  lowered     {string.Join(", ", module.Plan.Where(p => p.Lowering is not null).GroupBy(p => p.Lowering!.Name).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))} (steps run by structure, not dense products)");
            w.WriteLine($"  build       {buildSeconds * 1e3:F0} ms (check, plan, initialise); first call {first * 1e3:F1} ms");
            var per = hasBatch ? $"per batch of {n}" : "per call";
            w.WriteLine($"  forward     {Ms(forward)} {per} (median of {repeat})");
            if (backward is { } bw)
                w.WriteLine($"  fwd + bwd   {Ms(bw)} {per} (median of {repeat}; loss = sum of squares)");
            else if (noBackward is not null)
                w.WriteLine($"  fwd + bwd   not run: {noBackward}");
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    /// A figure of MemoryGuard.Format without its bytes: <c>256 MiB</c>.
    private static string Short(string figure) => figure.Split(" (")[0];

    private static string Describe(NetworkSpec spec, InputInfo i, bool named) =>
        $"{i.Name}[{string.Join(", ", i.BatchIndices.Select(l => named ? spec.Indices[l].Name : "batch").Concat(i.Shape.Select(s => s.ToString(CultureInfo.InvariantCulture))))}]" +
        (i.Embedding switch
        {
            EmbeddingSpec.OneHot o => $" onehot({o.D}): random classes",
            null => ": standard normal",
            _ => $" {i.Embedding.GetType().Name.ToLowerInvariant()}: uniform in [0, 1)",
        });

    private static IEnumerable<string> Abbreviate(IReadOnlyList<string> legs) =>
        legs.Count <= 6 ? legs : legs.Take(3).Append("…").Append(legs[^1]);

    private static string Ms(double seconds) => seconds >= 1 ? $"{seconds:F2} s" : $"{seconds * 1e3:F2} ms";

    /// <summary>The thread count in words: <c>1 thread</c>, <c>2 threads</c>.</summary>
    internal static string ThreadCount(int n) => n == 1 ? "1 thread" : $"{n} threads";

    /// <summary>A figure with its noun, singular for exactly one (<c>1 element</c>, <c>12 elements</c>).</summary>
    private static string Counted(BigInteger x, string noun) => $"{Figure(x)} {noun}{(x.IsOne ? "" : "s")}";

    /// <summary>A count in full below a million, else in scientific notation.</summary>
    private static string Figure(BigInteger x)
    {
        if (x < 1_000_000)
            return x.ToString("N0", CultureInfo.InvariantCulture);
        double log10 = BigInteger.Log10(x);
        double exponent = Math.Floor(log10);
        return $"{Math.Pow(10, log10 - exponent).ToString("F2", CultureInfo.InvariantCulture)}e{exponent:F0}";
    }

    private static double Median(int repeat, Device device, Func<Tensor> f)
    {
        var times = new List<double>();
        var clock = new Stopwatch();
        for (int i = 0; i < repeat; i++)
        {
            clock.Restart();
            using (var scope = NewDisposeScope())
            {
                f();
                Sync(device);
            }
            times.Add(clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    private static void Sync(Device device)
    {
        if (device.type == DeviceType.CUDA)
            cuda.synchronize();
    }
}
