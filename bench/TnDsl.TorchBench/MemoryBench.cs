using System.Diagnostics;
using System.Globalization;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>memory</c>: the byte estimate of the program a module runs (<see cref="ExecutedBytes"/>, what the memory
/// guard compares) against the peak memory measured while every example and layer runs, forward (no autograd) and
/// one training step (forward, the mean of squares, backward, an Adam step): the rise of resident memory during the
/// run (<see cref="PeakMemory"/>) plus the weights, consts and raw inputs already allocated. The estimate from the
/// plan alone (<see cref="PlanView.Bytes(int)"/>, what <c>tn plan</c> prints) is shown beside it.
/// </summary>
public static class MemoryBench
{
    /// <summary>One measured case: an example, its overrides and the batch it runs at.</summary>
    public sealed record Case(string File, string Sets, long Batch);

    /// <summary>Every example and layer, at sizes where the network's own memory (tens of MB) dwarfs the
    /// allocator's and the runtime's few MB.</summary>
    public static readonly Case[] Cases =
    [
        new("born-machine.tn", "n=100,chi=30", 2000),
        new("convac.tn", "M=2,Y=64", 1),
        new("mera-classifier.tn", "chi=8", 20000),
        new("mera.tn", "L=3,d=5,chi=8", 1),
        new("mpo-linear.tn", "", 4000),
        new("mpo-linear.tn", "k=4,r=16", 20000),
        new("mps.tn", "n=22", 1),
        new("mps.tn", "n=14,chi=512", 1),
        new("peps.tn", "Lx=4,Ly=5,D=4", 1),
        new("qcnn.tn", "", 100),
        new("ttn.tn", "L=3,d=7,chi=8", 1),
        new("layers/convac.tn", "", 50000),
        new("layers/mera.tn", "chi=8,out=64", 20000),
        new("layers/mps.tn", "chi=16", 50000),
        new("layers/peps.tn", "D=3", 10000),
        new("layers/tt-linear.tn", "m=6,r=8", 5000),
        new("layers/ttn.tn", "chi=8,out=64", 20000),
    ];

    /// <summary>The measured and predicted bytes of one case, forward or training.</summary>
    public sealed record Figures(string Name, bool Training, long Tensors, long Predicted, long Measured, long PlanAlone, long Held, bool Sliced)
    {
        /// <summary>Measured over predicted.</summary>
        public double Ratio => (double)Measured / Predicted;
    }

    /// <summary>
    /// Runs every case and prints predicted, measured and their ratio. Each case runs in a process of its own (this
    /// program again, with <c>--case N</c>): glibc's heap keeps what earlier cases freed and raises its mmap threshold
    /// after large frees, so a case measured after others would show their history rather than its own peak.
    /// </summary>
    public static void Run(ScalarType dtype, string examples, string? only = null, int? single = null)
    {
        if (!PeakMemory.Available)
        {
            Console.Error.WriteLine("memory: /proc/self/clear_refs or VmHWM is not available here (Linux only)");
            return;
        }
        if (single is { } index)
        {
            foreach (var training in new[] { false, true })
            {
                var f = Measure(Cases[index], dtype, training, examples);
                Console.WriteLine($"{f.Name,-46} {(training ? "training" : "forward"),-8} {Mb(f.Held),10} {Mb(f.Tensors),11} {Mb(f.Predicted),11} {Mb(f.Measured),11} {f.Ratio,6:F2} " +
                                  $"{Mb(f.PlanAlone),11} {(double)f.Measured / f.PlanAlone,6:F2}{(f.Sliced ? "  (sliced)" : "")}");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#ratios {f.Ratio} {(double)f.Measured / f.PlanAlone}"));
            }
            return;
        }
        Console.WriteLine($"Byte estimate of the module's program (ExecutedBytes, the memory guard's figure) against measured peak memory, {dtype.ToString().ToLowerInvariant()}, {get_num_threads()} threads");
        Console.WriteLine("measured = peak resident memory during a warm call (VmHWM after clear_refs) - resident before + held (weights, consts, raw inputs); one process per case");
        Console.WriteLine(NativeHeap.Requested(Environment.GetEnvironmentVariable)
            ? $"heap: freed blocks of {NativeHeap.LargeBlock / 1024} KiB or more returned (TN_HEAP=return); predicted = the tensors"
            : NativeHeap.Default(Environment.GetEnvironmentVariable)
                ? $"heap: the default (NativeHeap: libtorch's large blocks page-aligned, glibc's thresholds fixed); predicted = held + {MemoryGuard.HeapAllowance} x the tensors the call allocates (MemoryGuard.HeapAllowance)"
                : $"heap: glibc's as it is (TN_HEAP=glibc or glibc's own settings); predicted = held + {MemoryGuard.HeapAllowance} x the tensors the call allocates (MemoryGuard.HeapAllowance)");
        Console.WriteLine("training = forward, mean of squares, backward, Adam step; plan alone = tn plan's estimate (every step a matrix product)");
        Console.WriteLine();
        Console.WriteLine($"{"case",-46} {"pass",-8} {"held",10} {"tensors",11} {"predicted",11} {"measured",11} {"ratio",6} {"plan alone",11} {"ratio",6}");
        var ratios = new List<(double Ratio, double PlanAlone)>();
        for (int i = 0; i < Cases.Length; i++)
        {
            var c = Cases[i];
            if (only is not null && !$"{c.File} {c.Sets}".Contains(only, StringComparison.Ordinal))
                continue;
            var self = Environment.GetCommandLineArgs()[0];
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            // Run as `dotnet TnDsl.TorchBench.dll`, the host needs the assembly; the app host does not.
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
                start.ArgumentList.Add(self);
            foreach (var a in new[] { "memory", "--case", $"{i}", "--threads", $"{get_num_threads()}", "--examples", examples,
                                      "--dtype", dtype == ScalarType.Float64 ? "float64" : "float32" })
                start.ArgumentList.Add(a);
            using var child = Process.Start(start)!;
            string? line;
            while ((line = child.StandardOutput.ReadLine()) is not null)
            {
                if (line.StartsWith("#ratios ", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ');
                    ratios.Add((double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture)));
                }
                else
                    Console.WriteLine(line);
            }
            child.WaitForExit();
        }
        if (ratios.Count == 0)
            return;
        Console.WriteLine();
        Console.WriteLine($"ratio measured/predicted: min {ratios.Min(r => r.Ratio):F2}, max {ratios.Max(r => r.Ratio):F2}, " +
                          $"{ratios.Count(r => r.Ratio <= 1.5 && r.Ratio >= 1 / 1.5)} of {ratios.Count} within 1.5 both ways " +
                          $"(plan alone: min {ratios.Min(r => r.PlanAlone):F2}, max {ratios.Max(r => r.PlanAlone):F2})");
    }

    static string Mb(long bytes) => $"{bytes / 1048576.0:F1} MB";

    /// <summary>Builds the case's module, runs it once (forward without autograd, or a training step) and returns the
    /// estimate and the measured peak.</summary>
    public static Figures Measure(Case c, ScalarType dtype, bool training, string examples)
    {
        var sets = c.Sets.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        var options = new NetworkModuleOptions { DType = dtype, Seed = 1 };
        using var module = NetworkModules.FromFile(Path.Combine(examples, c.File), sets, new NetworkBuildOptions
        {
            Batch = c.Batch,
            Training = training,
            Module = options,
        });
        var plan = module.ExecutionPlan;
        using var inputsGenerator = new Generator(2);
        var inputs = RandomInputs.Make(module, c.Batch, inputsGenerator, dtype);
        try
        {
            // Warm up: libtorch's first use of a kernel in the process sets up its own buffers, no part of the
            // network's peak. Then the measured call starts from no gradients and no optimizer state.
            using (no_grad())
                module.forward(inputs).Dispose();
            if (training)
            {
                RiseOfStep(module, inputs, measure: false);
                module.zero_grad(set_to_none: true);
            }
            long held = module.parameters().Concat(module.buffers()).Concat(inputs).Sum(t => t.numel() * t.element_size());
            long rise = training ? RiseOfStep(module, inputs) : PeakMemory.Measure(() =>
            {
                using var _ = no_grad();
                using var y = module.forward(inputs);
            });
            var name = $"{c.File} {c.Sets}{(c.Batch > 1 ? $" batch {c.Batch}" : "")}";
            var tensors = ExecutedBytes.Estimate(module.Spec, plan, options);
            return new Figures(name, training, (long)(training ? tensors.Training : tensors.Forward),
                (long)MemoryGuard.Needed(module.Spec, plan, options, training), rise + held,
                (long)MemoryGuard.Needed(plan, dtype, training), held, plan.IsSliced);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    /// The rise of resident memory during one training step from fresh (no gradients, no optimizer state yet): the
    /// optimizer is made inside the measured call, so that its state counts (Adam makes it when it is made).
    static long RiseOfStep(NetworkModule module, Tensor[] inputs, bool measure = true)
    {
        void Step()
        {
            using var optimizer = new Adam(module.parameters(), 1e-3);
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            ScalarOps.Square(module.forward(inputs)).mean().backward();
            optimizer.step();
        }
        if (measure)
            return PeakMemory.Measure(Step);
        Step();
        return 0;
    }
}
