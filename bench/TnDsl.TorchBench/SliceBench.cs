using System.Diagnostics;
using System.Numerics;
using TnDsl.Api;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// Reuse across slices (issue 17): closed lattices planned by <c>auto</c> under a memory limit of 1/16 to 1/64 (or the
/// fraction given) of the unsliced plan's largest intermediate (at 1/100 these small lattices have millions of
/// slices; the large ones issue 17 plans, 8x8 D=4 at 1/100 a million, are out of a benchmark's reach), each run forward in float64 both ways in the same
/// process, alternated: with reuse (a step runs again only when a sliced value it depends on changed) and with every
/// step run in every slice (<see cref="NetworkModuleOptions.SliceReuse"/> false, what ran before). Per network: the
/// slices, the step runs and the flops executed each way (a pairwise step's flops: the product of the sizes of its
/// labels in one slice, twice where it sums one), the CPU time of the forward pass (best of the rounds), its
/// measured peak memory (the rise over what was allocated, plus the weights) and the estimate the memory guard
/// uses (<see cref="ExecutedBytes"/>), and one training step's (forward and backward) time and peak; then the same
/// training step checkpointed (<see cref="SliceCheckpointing.Always"/>, with reuse), in the largest groups of slices
/// whose estimate fits a quarter of the reuse step's recording every slice, as under a memory limit that recording
/// does not fit.
/// </summary>
static class SliceBench
{
    const string Grid = """
        network grid(L: int = 4, D: int = 4) {
          index h[x, y]: D for x in 0..L-2, y in 0..L-1
          index v[x, y]: D for x in 0..L-1, y in 0..L-2
          weight T[x, y]: (h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1)
            for x in 0..L-1, y in 0..L-1  init normal(0, 0.5)
        }
        """;

    const long MaxSlices = 20000;

    public static void Run(string? only, double fraction, int rounds)
    {
        Console.WriteLine($"# slices with reuse vs every step per slice: closed L x L grids, auto under a limit of {(fraction > 0 ? $"{fraction:G3}" : "1/k")} x the unsliced largest intermediate, float64, {get_num_threads()} thread(s), best of {rounds}");
        Console.WriteLine("| network | limit (1/k of largest) | slices | step runs every / reuse | flops every / reuse / unsliced | forward CPU s every / reuse | forward peak MB every / reuse (estimate) | training CPU s every / reuse | training peak MB every / reuse (estimate) | checkpointed training under 1/4 of reuse's estimate: slices per group, CPU s, peak MB (estimate) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (l, d, part) in new[] { (5, 4, 16), (5, 4, 64), (6, 3, 9), (8, 2, 16) })
        {
            var name = $"{l}x{l} D={d}";
            if (only is not null && name != only)
                continue;
            var net = Frontend.LoadText("grid.tn", Grid, [new("L", l.ToString()), new("D", d.ToString())], null);
            var free = Planner.Plan(net, "auto", null, 0);
            long limit = Math.Max(1, (long)((double)free.LargestIntermediate * (fraction > 0 ? fraction : 1.0 / part)));
            var plan = Planner.Plan(net, "auto", null, 0, limit);
            if (plan.Slices > MaxSlices)
            {
                Console.WriteLine($"| {name} | {limit} | {plan.Slices} | more slices than the bench runs ({MaxSlices}) | | | | | | |");
                continue;
            }
            var spec = NetworkAdapter.FromFlat(net);
            var reuseOptions = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 1 };
            var everyOptions = reuseOptions with { SliceReuse = false };
            using var reuse = new NetworkModule(spec, plan, reuseOptions);
            using var every = new NetworkModule(spec, plan, everyOptions);
            // Checkpointed (with reuse): the largest groups whose training step fits a quarter of what recording every
            // slice needs (with reuse), as under a limit that recording does not fit.
            long group;
            using (MemoryGuard.Advise(MemoryGuard.DefaultRemedies, (long)(MemoryGuard.Needed(spec, plan, reuseOptions with { CheckpointSlices = SliceCheckpointing.Never }, true) / 4)))
                (_, group) = ExecutedBytes.Checkpointing(spec, plan, reuseOptions with { CheckpointSlices = SliceCheckpointing.Always }, 0, null, null);
            var checkpointOptions = reuseOptions with { CheckpointSlices = SliceCheckpointing.Always, CheckpointGroup = group };
            using var checkpointed = new NetworkModule(spec, plan, checkpointOptions);
            var ms = new Dictionary<(bool Reuse, bool Training), (double Cpu, long Peak)>();
            for (int round = 0; round < rounds; round++)
                foreach (var training in new[] { false, true })
                    foreach (var m in new[] { every, reuse })
                    {
                        var key = (ReferenceEquals(m, reuse), training);
                        var figures = Measure(m, training);
                        ms[key] = ms.TryGetValue(key, out var best) ? (Math.Min(best.Cpu, figures.Cpu), Math.Max(best.Peak, figures.Peak)) : figures;
                    }
            (double Cpu, long Peak)? checkpointFigures = null;
            for (int round = 0; round < rounds; round++)
            {
                var figures = Measure(checkpointed, true);
                checkpointFigures = checkpointFigures is { } best ? (Math.Min(best.Cpu, figures.Cpu), Math.Max(best.Peak, figures.Peak)) : figures;
            }
            var flops = StepFlops(spec, reuse);
            BigInteger runsEvery = every.StepRuns.Sum(), runsReuse = reuse.StepRuns.Sum();
            BigInteger flopsEvery = flops.Select((f, s) => f * every.StepRuns[s]).Aggregate(BigInteger.Zero, (a, b) => a + b);
            BigInteger flopsReuse = flops.Select((f, s) => f * reuse.StepRuns[s]).Aggregate(BigInteger.Zero, (a, b) => a + b);
            double Mb(BigInteger b) => (double)b / 1e6;
            var estimate = (Every: ExecutedBytes.Estimate(spec, plan, everyOptions), Reuse: ExecutedBytes.Estimate(spec, plan, reuseOptions));
            Console.WriteLine($"| {name} | {limit} (1/{free.LargestIntermediate / limit}) | {plan.Slices} | {runsEvery} / {runsReuse} | {(double)flopsEvery:E2} / {(double)flopsReuse:E2} / {(double)free.Flops:E2} " +
                $"| {ms[(false, false)].Cpu:F3} / {ms[(true, false)].Cpu:F3} " +
                $"| {ms[(false, false)].Peak / 1e6:F1} / {ms[(true, false)].Peak / 1e6:F1} ({Mb(estimate.Every.Forward):F1} / {Mb(estimate.Reuse.Forward):F1}) " +
                $"| {ms[(false, true)].Cpu:F3} / {ms[(true, true)].Cpu:F3} " +
                $"| {ms[(false, true)].Peak / 1e6:F1} / {ms[(true, true)].Peak / 1e6:F1} ({Mb(Training(spec, plan, everyOptions)):F1} / {Mb(Training(spec, plan, reuseOptions)):F1}) " +
                $"| {group}, {checkpointFigures!.Value.Cpu:F3}, {checkpointFigures.Value.Peak / 1e6:F1} ({Mb(Training(spec, plan, checkpointOptions)):F1}) |");
        }
    }

    /// Forward and backward, no optimizer step.
    static BigInteger Training(NetworkSpec spec, PlanView plan, NetworkModuleOptions options) =>
        ExecutedBytes.Estimate(spec, plan, options, optimizerSlots: 0).Training;

    /// CPU seconds of one call and its peak: the measured rise plus the weights.
    static (double Cpu, long Peak) Measure(NetworkModule m, bool training)
    {
        long weights = m.parameters().Sum(t => t.numel() * t.element_size());
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        void Call()
        {
            using var scope = NewDisposeScope();
            if (training)
            {
                m.zero_grad();
                ScalarOps.Square(m.forward([])).backward();
            }
            else
                using (no_grad())
                    m.forward([]);
        }
        long rise = PeakMemory.Available ? PeakMemory.Measure(Call) : 0;
        if (!PeakMemory.Available)
            Call();
        process.Refresh();
        return ((process.TotalProcessorTime - cpu).TotalSeconds, rise + weights);
    }

    /// Each step's flops in one slice (sliced labels at size 1): the product of the sizes of its labels, twice where
    /// it sums one (opt_einsum's count for a pairwise step).
    static BigInteger[] StepFlops(NetworkSpec spec, NetworkModule m)
    {
        var sliced = m.SliceOrder.ToHashSet();
        return m.Plan.Select(s =>
        {
            var c = s.Contraction;
            var size = c.LeftLabels.Union(c.RightLabels).Aggregate(BigInteger.One, (a, l) => a * (sliced.Contains(l) ? 1 : spec.Indices[l].Size));
            return c.Contracted.Count > 0 ? 2 * size : size;
        }).ToArray();
    }
}
