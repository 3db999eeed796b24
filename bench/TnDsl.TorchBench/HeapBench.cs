using System.Diagnostics;
using System.Globalization;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// <c>heap</c>: what returning freed large blocks (<c>TN_HEAP=return</c>, <see cref="NativeHeap"/>: glibc's mmap
/// threshold fixed at 1 MiB) costs in CPU time against glibc's default heap, on the memory benchmark's cases: forward passes without autograd and training steps
/// (forward, mean of squares, backward, Adam step), process CPU time per call after a warm-up. Each case and policy
/// runs in a process of its own (the policy is per process); the two policies take turns, the order swapped every
/// round, and the medians over the rounds are compared.
/// </summary>
public static class HeapBench
{
    /// <summary>Runs the cases whose name contains <paramref name="only"/> (all when null), or, with
    /// <paramref name="single"/>, measures that one case in this process and prints its CPU seconds per call.</summary>
    public static void Run(ScalarType dtype, string examples, string? only, int? single, int steps, int rounds)
    {
        if (single is { } index)
        {
            var (forward, training) = Measure(MemoryBench.Cases[index], dtype, examples, steps);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#cpu {forward} {training} {NativeHeap.Policy}"));
            return;
        }
        Console.WriteLine($"CPU time per call with freed blocks of {NativeHeap.LargeBlock / 1024} KiB or more returned (TN_HEAP=return) " +
                          $"against the default heap policy (NativeHeap.BlocksReused), {dtype.ToString().ToLowerInvariant()}, {get_num_threads()} threads, " +
                          $"{steps} calls per process after a warm-up, median of {rounds} rounds (policies alternated, one process each)");
        Console.WriteLine();
        Console.WriteLine($"{"case",-46} {"forward glibc",14} {"return",10} {"ratio",6} {"training glibc",15} {"return",10} {"ratio",6}");
        var ratios = new List<double>();
        for (int i = 0; i < MemoryBench.Cases.Length; i++)
        {
            var c = MemoryBench.Cases[i];
            if (only is not null && !$"{c.File} {c.Sets}".Contains(only, StringComparison.Ordinal))
                continue;
            var glibc = new List<(double F, double T)>();
            var policy = new List<(double F, double T)>();
            for (int r = 0; r < rounds; r++)
                foreach (var keepDefault in r % 2 == 0 ? new[] { true, false } : [false, true])
                    (keepDefault ? glibc : policy).Add(Child(i, keepDefault, dtype, examples, steps));
            double Median(IEnumerable<double> xs)
            {
                var s = xs.Order().ToArray();
                return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
            }
            double gf = Median(glibc.Select(x => x.F)), pf = Median(policy.Select(x => x.F));
            double gt = Median(glibc.Select(x => x.T)), pt = Median(policy.Select(x => x.T));
            ratios.Add(pf / gf);
            ratios.Add(pt / gt);
            var name = $"{c.File} {c.Sets}{(c.Batch > 1 ? $" batch {c.Batch}" : "")}";
            Console.WriteLine($"{name,-46} {Ms(gf),14} {Ms(pf),10} {pf / gf,6:F2} {Ms(gt),15} {Ms(pt),10} {pt / gt,6:F2}");
        }
        if (ratios.Count > 0)
            Console.WriteLine($"\nratio return/glibc: geometric mean {Math.Exp(ratios.Average(Math.Log)):F2}, min {ratios.Min():F2}, max {ratios.Max():F2}");
    }

    static string Ms(double seconds) => $"{seconds * 1e3:F1} ms";

    /// One case in a child process under one policy: its CPU seconds per forward and per training step.
    static (double Forward, double Training) Child(int index, bool keepDefault, ScalarType dtype, string examples, int steps)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
            start.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        foreach (var a in new[] { "heap", "--case", $"{index}", "--steps", $"{steps}", "--threads", $"{get_num_threads()}",
                                  "--examples", examples, "--dtype", dtype == ScalarType.Float64 ? "float64" : "float32" })
            start.ArgumentList.Add(a);
        if (keepDefault)
            start.Environment.Remove(NativeHeap.EnvironmentVariable);
        else
            start.Environment[NativeHeap.EnvironmentVariable] = "return";
        using var child = Process.Start(start)!;
        (double, double)? figures = null;
        string? line;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            if (!line.StartsWith("#cpu ", StringComparison.Ordinal))
                continue;
            var parts = line.Split(' ');
            var expected = keepDefault ? nameof(HeapPolicy.Glibc) : nameof(HeapPolicy.LargeBlocksReturned);
            if (parts[3] != expected)
                throw new InvalidOperationException($"case {index}: the child ran under {parts[3]}, not {expected}");
            figures = (double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
        }
        child.WaitForExit();
        return figures ?? throw new InvalidOperationException($"case {index}: the child printed no figures (exit {child.ExitCode})");
    }

    /// CPU seconds per forward (no autograd) and per training step of a case, after one of each to warm up.
    static (double Forward, double Training) Measure(MemoryBench.Case c, ScalarType dtype, string examples, int steps)
    {
        var sets = c.Sets.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        using var module = NetworkModules.FromFile(Path.Combine(examples, c.File), sets, new NetworkBuildOptions
        {
            Batch = c.Batch,
            Training = true,
            Module = new NetworkModuleOptions { DType = dtype, Seed = 1 },
        });
        using var inputsGenerator = new Generator(2);
        var inputs = RandomInputs.Make(module, c.Batch, inputsGenerator, dtype);
        using var optimizer = new Adam(module.parameters(), 1e-3);
        void Forward()
        {
            using var _ = no_grad();
            module.forward(inputs).Dispose();
        }
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            ScalarOps.Square(module.forward(inputs)).mean().backward();
            optimizer.step();
        }
        double Cpu(Action run)
        {
            run();
            var process = Process.GetCurrentProcess();
            var before = process.TotalProcessorTime;
            for (int i = 0; i < steps; i++)
                run();
            process.Refresh();
            return (process.TotalProcessorTime - before).TotalSeconds / steps;
        }
        try
        {
            return (Cpu(Forward), Cpu(Step));
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}
