using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>memory</c>: the planner's byte estimate (<see cref="MemoryGuard.Needed"/>) against the peak memory measured
/// while the examples run, forward (no autograd) and forward + backward: the rise of resident memory during the run
/// (<see cref="PeakMemory"/>) plus the weights and inputs that were already allocated.
/// </summary>
public static class MemoryBench
{
    /// <summary>One measured case: an example, its overrides and the batch it runs at.</summary>
    public sealed record Case(string File, string Sets, long Batch);

    /// <summary>The cases the benchmark (and the test that bounds the estimate) run: big enough that the allocator's
    /// own overhead (a few MB) does not dominate.</summary>
    public static readonly Case[] Cases =
    [
        new("mps.tn", "n=22", 1),
        new("mps.tn", "n=14,chi=512", 1),
        new("peps.tn", "Lx=4,Ly=4,D=4", 1),
        new("mpo-linear.tn", "", 4000),
        new("mera-classifier.tn", "chi=8", 20000),
    ];

    /// <summary>The measured and predicted bytes of one case, forward or training.</summary>
    public sealed record Figures(string Name, bool Training, long Predicted, long Measured, bool Sliced)
    {
        /// <summary>Measured over predicted.</summary>
        public double Ratio => (double)Measured / Predicted;
    }

    /// <summary>Runs every case and prints predicted, measured and their ratio.</summary>
    public static void Run(ScalarType dtype, string examples)
    {
        if (!PeakMemory.Available)
        {
            Console.Error.WriteLine("memory: /proc/self/clear_refs or VmHWM is not available here (Linux only)");
            return;
        }
        Console.WriteLine($"Planner's byte estimate against measured peak memory, {dtype.ToString().ToLowerInvariant()}, {get_num_threads()} threads");
        Console.WriteLine("measured = peak resident memory during the run (VmHWM after clear_refs) - resident before + weights and inputs");
        Console.WriteLine();
        Console.WriteLine($"{"case",-44} {"pass",-9} {"predicted",12} {"measured",12} {"ratio",7}");
        var all = new List<Figures>();
        foreach (var c in Cases)
            foreach (var training in new[] { false, true })
            {
                var f = Measure(c, dtype, training, examples);
                all.Add(f);
                Console.WriteLine($"{f.Name,-44} {(training ? "fwd+bwd" : "forward"),-9} {Mb(f.Predicted),12} {Mb(f.Measured),12} {f.Ratio,7:F2}");
            }
        Console.WriteLine();
        Console.WriteLine($"ratio measured/predicted: min {all.Min(f => f.Ratio):F2}, max {all.Max(f => f.Ratio):F2}");
    }

    static string Mb(long bytes) => $"{bytes / 1048576.0:F1} MB";

    /// <summary>Builds the case's module, runs it once (forward without autograd, or forward + backward of the sum of
    /// squares) and returns the estimate and the measured peak.</summary>
    public static Figures Measure(Case c, ScalarType dtype, bool training, string examples)
    {
        var sets = c.Sets.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        using var module = NetworkModules.FromFile(Path.Combine(examples, c.File), sets, new NetworkBuildOptions
        {
            Batch = c.Batch,
            Training = training,
            Module = new NetworkModuleOptions { DType = dtype, Seed = 1 },
        });
        var plan = module.ExecutionPlan;
        var inputs = RandomInputs.Make(module, c.Batch, new Generator(2), dtype);
        try
        {
            long held = (long)plan.Bytes(MemoryGuard.ElementSize(dtype)).Inputs;
            long rise = PeakMemory.Measure(() =>
            {
                if (training)
                {
                    module.zero_grad();
                    using var scope = NewDisposeScope();
                    module.forward(inputs).square().sum().backward();
                }
                else
                {
                    using var _ = no_grad();
                    using var y = module.forward(inputs);
                }
            });
            var name = $"{c.File} {c.Sets}{(c.Batch > 1 ? $" batch {c.Batch}" : "")}";
            return new Figures(name, training, (long)MemoryGuard.Needed(plan, dtype, training), rise + held, plan.IsSliced);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}
