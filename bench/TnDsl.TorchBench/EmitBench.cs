using System.Diagnostics;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TnDsl.Api;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// The class <c>tn emit --cs</c> writes for a sliced plan, trained (issue 17): per network, the class is emitted,
/// compiled with Roslyn and built, and one training step (the value squared, summed, backward) is run both ways in the
/// same process, best of the rounds: recording every slice (<c>CheckpointSlices = Never</c>, no memory limit of its
/// own), and under a memory limit of a quarter of that step's estimate (<c>TN_MEMORY_LIMIT</c>), where the class
/// checkpoints its slices in the largest groups that fit (<c>Auto</c>). Per way: the slices per group, the emitted
/// guard's estimate, the CPU time and the measured peak (<see cref="PeakMemory"/>), and whether the gradients agree.
/// </summary>
static class EmitBench
{
    /// A network: its example file, overrides, the batch planned for and fed (null: no inputs), and the limit on an
    /// intermediate's elements it is sliced to (null: the result's size).
    sealed record Case(string Name, string File, (string, int)[] Set, long? Batch, long? Elements);

    static readonly Case[] Cases =
    [
        new("grid L=5 D=2", "grid.tn", [("L", 5), ("D", 2)], null, 4),
        new("layers/mps chi=16, 1,000 rows", "layers/mps.tn", [("chi", 16)], 1000, null),
        new("layers/mps chi=32, 2,000 rows", "layers/mps.tn", [("chi", 32)], 2000, null),
    ];

    public static void Run(ScalarType dtype, string examples, string? only, int rounds)
    {
        Console.WriteLine($"# the emitted class of a sliced plan, one training step recorded vs checkpointed under 1/4 of recording's estimate; {dtype.ToString().ToLowerInvariant()}, {get_num_threads()} thread(s), best of {rounds}");
        Console.WriteLine("| network | slices | recording: estimate MB, CPU s, peak MB | checkpointed: slices per group, estimate MB, CPU s, peak MB | peak ratio | gradients agree |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var c in Cases.Where(c => only is null || c.Name.Contains(only, StringComparison.OrdinalIgnoreCase)))
        {
            var net = Frontend.Load(Path.Combine(examples, c.File), c.Set.Select(s => new KeyValuePair<string, string>(s.Item1, s.Item2.ToString())).ToList(), null);
            var limit = c.Elements ?? Math.Max(1, net.Output.Aggregate(1L, (a, l) => a * (net.Indices[l].IsDynamic ? c.Batch ?? net.Indices[l].Size : net.Indices[l].Size)));
            var plan = Planner.Plan(net, "greedy", c.Batch, 0, limit);
            var spec = NetworkAdapter.FromFlat(net);
            using var runtime = new NetworkModule(spec, plan, new NetworkModuleOptions { DType = dtype, Seed = 5 });
            var type = Compile(CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted")).GetType("TnDsl.Emitted.Emitted")!;
            using var recording = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 5L, dtype)!;
            using var checkpointing = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 5L, dtype)!;
            type.GetProperty("CheckpointSlices")!.SetValue(recording, Enum.Parse(type.GetNestedType("SliceCheckpointing")!, "Never"));
            using var generator = new Generator(1);
            var inputs = c.Batch is { } rows ? RandomInputs.Make(runtime, rows, generator, dtype) : [];
            // The emitted guard's estimate of recording every slice: the planner's, in the dtype's elements.
            double recorded = (double)MemoryGuard.Needed(plan, dtype, true);
            var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
            try
            {
                Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, null);
                var (rCpu, rPeak, rGrad) = Measure(recording, inputs, rounds);
                Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, ((long)(recorded / 4)).ToString());
                var (cCpu, cPeak, cGrad) = Measure(checkpointing, inputs, rounds);
                long group = (long)type.GetProperty("CheckpointedGroup")!.GetValue(checkpointing)!;
                var groupBytes = (double[])type.GetField("TnGroupElements", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
                var groupFixed = (double[])type.GetField("TnGroupFixed", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
                var groupSlices = (long[])type.GetField("TnGroupSlices", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
                // At the planned rows, as fed here: the estimate of the group chosen.
                int g = Array.FindIndex(groupSlices, s => s >= group);
                double estimate = groupBytes[g] * MemoryGuard.ElementSize(dtype) + groupFixed[g];
                bool agree = Math.Abs(cGrad - rGrad) <= 1e-9 * Math.Abs(rGrad);
                Console.WriteLine($"| {c.Name} | {plan.Slices} | {recorded / 1e6:F1}, {rCpu:F3}, {rPeak / 1e6:F1} | {group}, {estimate / 1e6:F1}, {cCpu:F3}, {cPeak / 1e6:F1} | {(double)rPeak / Math.Max(1, cPeak):F1}x | {(agree ? "yes" : $"no ({cGrad} vs {rGrad})")} |");
            }
            finally
            {
                Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
                foreach (var t in inputs)
                    t.Dispose();
            }
        }
    }

    /// The best CPU time and the largest peak over the rounds of one training step, and the sum of its gradients' squares.
    static (double Cpu, long Peak, double Grad) Measure(nn.Module<Tensor[], Tensor> m, Tensor[] inputs, int rounds)
    {
        double best = double.PositiveInfinity, grad = 0;
        long peak = 0;
        for (int r = 0; r < rounds; r++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            long p = PeakMemory.Measure(() =>
            {
                using var scope = NewDisposeScope();
                m.zero_grad();
                m.forward(inputs).square().sum().backward();
                grad = m.parameters().Sum(q => q.grad!.square().sum().item<double>());
            });
            best = Math.Min(best, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
            peak = Math.Max(peak, p);
        }
        return (best, peak, grad);
    }

    /// Compiles C# source against the running framework and TorchSharp, and loads it.
    static Assembly Compile(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Append(typeof(torch).Assembly.Location)
            .Distinct()
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create("Emitted" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release));
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        if (!result.Success)
            throw new InvalidOperationException("the emitted source does not compile:\n" + string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return Assembly.Load(stream.ToArray());
    }
}
