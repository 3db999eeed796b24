using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using TnDsl.Api;
using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.TorchBench;

/// <summary>
/// The forward pass in chunks of rows against the chunk's size (<see cref="MemoryGuard.Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/>):
/// per example, a module is built at a batch whose forward pass fits whole, then run under memory limits
/// (<see cref="MemoryGuard.LimitOverride"/>, as <c>TN_MEMORY_LIMIT</c> sets it) at which the rule before the cap (the
/// most rows that fit, <see cref="MemoryGuard.ChunkCapOverride"/> at <see cref="long.MaxValue"/>) takes chunks of 16 MiB
/// to 4 GiB by the estimate (<see cref="MemoryGuard.ChunkBytes"/>), and the current rule
/// (<see cref="MemoryGuard.ChunkCap"/>) under the same limit, alternated in each round; and with no limit, where the rule
/// before ran the whole pass and the cap runs it in chunks. The ratio is the cap's CPU time over the rule before's
/// (CPU, not wall: the machine may be shared). Per row:
/// the wall time (median of the rounds), the CPU time, user and system, and the minor page faults of the process
/// (<c>/proc/self/stat</c>), and the resident memory's rise in an untimed call before (<see cref="PeakMemory"/>).
/// </summary>
static class ChunkBench
{
    /// The examples, the batch each is built at (its dynamic indices named as <c>tn run --batch</c> takes them).
    static readonly (string File, string Batch)[] Cases =
        [("layers/peps.tn", "2000000"), ("layers/mps.tn", "4000000"), ("mpo-kernel.tn", "q=200,k=40000")];

    /// The chunk sizes the limits are set for, by the estimate (bytes).
    static readonly long[] Targets = [16L << 20, 32L << 20, 64L << 20, 128L << 20, 256L << 20, 512L << 20, 1L << 30, 2L << 30, 4L << 30];

    public static void Run(string examples, string? only, int rounds, string? batch, long? cap)
    {
        if (cap is { } c)
            MemoryGuard.ChunkCapOverride = c;
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ').Take(3) : ["?"];
        Console.WriteLine($"# forward pass in chunks of rows against the chunk's size: float32, {get_num_threads()} thread(s), median of {rounds} rounds; " +
                          $"cap {Gib(MemoryGuard.ChunkCap)}; load {string.Join(" ", load)} at the start");
        Console.WriteLine("| example (batch) | limit | rule | chunks | chunk by the estimate | ns/row wall | ns/row CPU (system) | faults per 1,000 rows | rise | new/old CPU (wall) |");
        Console.WriteLine("|---|---:|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (file, defaultBatch) in Cases)
        {
            if (only is not null && file != only)
                continue;
            var sizes = ParseBatch(batch ?? defaultBatch);
            var net = Frontend.Load(Path.Combine(examples, file), [], null);
            MemoryGuard.LimitOverride = null;
            using var module = NetworkModules.FromNetwork(net, new NetworkBuildOptions
            {
                Batch = sizes,
                Module = new NetworkModuleOptions { DType = ScalarType.Float32, Seed = 1 },
            });
            var spec = module.Spec;
            var plan = module.ExecutionPlan;
            var options = new NetworkModuleOptions { DType = ScalarType.Float32 };
            var extents = BatchSizes.Extents(spec, sizes);
            using var generator = new TorchSharp.torch.Generator(2);
            var inputs = RandomInputs.Make(module, extents, generator, ScalarType.Float32);
            long rowsAll = extents.Values.Aggregate(1L, (a, b) => a * b);
            var index = MemoryGuard.ChunkIndices(spec).Where(i => extents[i] > 1).OrderByDescending(i => extents[i]).First();
            ChunkLevel[] Levels(long rows) => [new ChunkLevel(index, extents[index], rows)];
            var what = $"{file} ({BatchSizes.Describe(spec, extents)})";
            var whole = MemoryGuard.ChunkBytes(spec, plan, options, extents, []);
            foreach (var target in Targets.Where(t => t < whole).Append(0))
            {
                // The limit at which the most rows that fit make a chunk of the target's bytes (0: no limit, whole).
                long? limit = null;
                if (target > 0)
                {
                    long lo = 1, hi = extents[index] - 1;
                    while (lo < hi)
                    {
                        long mid = lo + (hi - lo + 1) / 2;
                        if (MemoryGuard.ChunkBytes(spec, plan, options, extents, Levels(mid)) <= target)
                            lo = mid;
                        else
                            hi = mid - 1;
                    }
                    limit = (long)MemoryGuard.ChunkNeeded(spec, plan, options, extents, Levels(lo));
                }
                // Both rules, unless the cap takes the same chunks as the most rows that fit (then it is measured once).
                MemoryGuard.LimitOverride = limit;
                var capped = MemoryGuard.Chunking(spec, plan, options, extents);
                var saved = MemoryGuard.ChunkCapOverride;
                MemoryGuard.ChunkCapOverride = long.MaxValue;
                var most = MemoryGuard.Chunking(spec, plan, options, extents);
                MemoryGuard.ChunkCapOverride = saved;
                MemoryGuard.LimitOverride = null;
                // No limit: the rule before runs the whole pass, the cap runs one over it in chunks.
                var rules = target > 0 && capped.SequenceEqual(most) ? new long?[] { long.MaxValue } : [long.MaxValue, null];
                var walls = rules.ToDictionary(r => r ?? 0, _ => new List<double>());
                var cpu = rules.ToDictionary(r => r ?? 0, _ => (User: 0.0, System: 0.0, Faults: 0L));
                var seen = new Dictionary<long, (IReadOnlyList<ChunkLevel> Chunks, long Rise)>();
                // Alternated, and in turn first, so that neither pays for the other's heap.
                for (int round = -1; round < rounds; round++)
                    foreach (var rule in round % 2 == 0 ? rules : rules.Reverse())
                    {
                        var key = rule ?? 0;
                        MemoryGuard.LimitOverride = limit;
                        if (rule is not null)
                            MemoryGuard.ChunkCapOverride = rule;
                        try
                        {
                            void Call()
                            {
                                using var scope = NewDisposeScope();
                                using (no_grad())
                                    module.forward(inputs);
                            }
                            if (round < 0)
                            {
                                // Untimed: the guard chooses, the heap settles, the resident rise is measured.
                                long rise = PeakMemory.Available ? PeakMemory.Measure(Call) : 0;
                                if (!PeakMemory.Available)
                                    Call();
                                seen[key] = (module.Chunking, rise);
                                continue;
                            }
                            var before = Stat();
                            var clock = Stopwatch.StartNew();
                            Call();
                            walls[key].Add(clock.Elapsed.TotalSeconds);
                            var after = Stat();
                            var sum = cpu[key];
                            cpu[key] = (sum.User + after.User - before.User, sum.System + after.System - before.System, sum.Faults + after.Faults - before.Faults);
                        }
                        finally
                        {
                            MemoryGuard.ChunkCapOverride = saved;
                        }
                    }
                MemoryGuard.LimitOverride = null;
                double Ns(double seconds) => seconds / rowsAll * 1e9;
                double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
                foreach (var rule in rules)
                {
                    var key = rule ?? 0;
                    var (chunks, rise) = seen[key];
                    var (user, system, faults) = cpu[key];
                    var bytes = MemoryGuard.ChunkBytes(spec, plan, options, extents, chunks.Count == 0 ? [] : chunks);
                    var name = rule == long.MaxValue ? rules.Length == 1 ? "both (the same chunks)" : target == 0 ? "whole (before)" : "most rows that fit (before)" : $"cap {Gib(MemoryGuard.ChunkCap)}";
                    double Cpu(long k) => cpu[k].User + cpu[k].System;
                    var ratio = rule is null ? $"{Cpu(0) / Cpu(long.MaxValue):F2} ({Median(walls[0]) / Median(walls[long.MaxValue]):F2})" : "";
                    Console.WriteLine($"| {what} | {(limit is { } l ? Gib(l) : "none")} | {name} | {(chunks.Count == 0 ? "whole" : MemoryGuard.Describe(spec, chunks))} " +
                                      $"| {Gib((long)bytes)} | {Ns(Median(walls[key])):F0} | {Ns((user + system) / rounds):F0} ({Ns(system / rounds):F0}) " +
                                      $"| {1e3 * faults / rounds / rowsAll:F1} | {Gib(rise)} | {ratio} |");
                }
            }
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    /// <c>N</c> for every dynamic index, or <c>name=N,…</c> each named.
    static BatchSizes ParseBatch(string text) =>
        text.Contains('=')
            ? new BatchSizes { ByIndex = text.Split(',').Select(p => p.Split('=')).ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture)) }
            : new BatchSizes { All = long.Parse(text, CultureInfo.InvariantCulture) };

    /// The process's user and system CPU seconds and minor page faults so far (/proc/self/stat).
    static (double User, double System, long Faults) Stat()
    {
        var text = File.ReadAllText("/proc/self/stat");
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // After the command's name: state is field 3, minflt 10, utime 14, stime 15 (1-based, proc(5)).
        double tick = 100.0;
        return (long.Parse(fields[11]) / tick, long.Parse(fields[12]) / tick, long.Parse(fields[7]));
    }

    static string Gib(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F2} GiB" : $"{bytes / (double)(1L << 20):F0} MiB";
}
