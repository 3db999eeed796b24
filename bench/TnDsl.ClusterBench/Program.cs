using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TnDsl.Cluster;
using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.ClusterBench;

/// <summary>
/// The cluster benchmark: one sliced contraction in this process, then over 1, 2 and 4 worker silos on loopback (in
/// this process, each with its own ports, through the same hosting code as <c>tn worker</c>), printing slices per
/// second, CPU time, per-worker rates and the overhead per slice against in-process execution. A command that prints
/// figures, never an assertion.
/// </summary>
public static class Program
{
    /// <summary>Entry point: <c>[--file F.tn] [--set k=v,...] [--memory-limit BYTES] [--optimizer NAME] [--max-slices N]
/// [--chunk old,new|N,...] [--batch-seconds S] [--silos 1,2,4] [--threads N]</c>; each chunking (default: the old count-only default and
/// the new loop-aligned one) is run in process and on each number of silos, with the step runs and flops executed.</summary>
    public static async Task<int> Main(string[] args)
    {
        string Opt(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        NativeLoader.EnsureLoaded();
        var threads = int.Parse(Opt("--threads", "1"));
        set_num_threads(threads);
        var file = Opt("--file", Path.Combine(AppContext.BaseDirectory, "grid.tn"));
        var overrides = Opt("--set", "L=10,D=3").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).Select(p => new KeyValuePair<string, string>(p[0], p[1])).ToArray();
        MemoryGuard.LimitOverride = MemoryGuard.ParseBytes(Opt("--memory-limit", "200K"));
        var silos = Opt("--silos", "1,2,4").Split(',').Select(int.Parse).ToArray();
        // Chunkings to compare in one run: "old" (the count-only default, ContractionJob.UnalignedChunkSize), "new"
        // (the default aligned with the loop order) or a number of slices.
        var chunkings = Opt("--chunk", "old,new").Split(',', StringSplitOptions.RemoveEmptyEntries);
        // The seconds of work a batch aims at (SchedulerOptions.TargetBatchSeconds): a small value makes every batch
        // one chunk, as slices that take seconds each would.
        var batchSeconds = double.Parse(Opt("--batch-seconds", "1"), System.Globalization.CultureInfo.InvariantCulture);

        var (planned, plan, network) = ContractionJobs.Create(file, new ContractionJobs.Options { Overrides = overrides, Optimizer = Opt("--optimizer", "greedy") });
        var maxSlices = long.Parse(Opt("--max-slices", "5000"));
        if ((long)plan.Slices > maxSlices)
        {
            Console.Error.WriteLine($"the plan has {plan.Slices} slices, more than --max-slices {maxSlices}: raise --memory-limit or try another --optimizer");
            return 1;
        }
        var model = SliceChunking.Of(plan, l => network.Indices[l].Size);
        Console.WriteLine($"cluster bench: {network.Name} ({string.Join(", ", overrides.Select(p => $"{p.Key}={p.Value}"))}), float64, " +
            $"memory limit {MemoryGuard.Format(MemoryGuard.Limit)}, {plan.Slices} slices over loops of [{string.Join(", ", model.Extents)}], " +
            $"{plan.Steps.Count} steps, one pass over all slices {model.StepRuns(model.Slices):N0} step runs, {PlanView.Scientific(model.ExecutedFlops(model.Slices))} flops; " +
            $"batches of about {batchSeconds} s; {threads} TorchSharp thread(s), {Environment.ProcessorCount} cores, load {Load()}");
        var secret = ClusterSecret.FromText(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)));
        var process = Process.GetCurrentProcess();
        var slices = (double)plan.Slices;
        var rows = new List<(string Chunking, string Run, double Wall, long Runs, double Flops)>();
        foreach (var chunking in chunkings)
        {
            long size = chunking switch
            {
                "old" => ContractionJob.UnalignedChunkSize((long)plan.Slices),
                "new" => planned.ChunkSize,
                var n => long.Parse(n),
            };
            var job = planned with { ChunkSize = size };
            var bytes = job.ToBytes();
            Console.WriteLine();
            Console.WriteLine($"chunks of {size} slice(s) ({chunking}): {(model.Slices + size - 1) / size} chunks, job {bytes.Length} bytes; " +
                $"every chunk its own pass: {model.StepRuns(size):N0} step runs, {PlanView.Scientific(model.ExecutedFlops(size))} flops");
            Console.WriteLine($"{"run",-14} {"wall s",8} {"CPU s",8} {"slices/s",10} {"vs in-proc",10} {"overhead/slice",15} {"step runs",10} {"flops",9}  bits  per worker (slices/s of its own time)");

            // In process: the chunks one after another, each its own pass (as scattered chunks run), summed in chunk order.
            double[] local;
            double localWall, localCpu;
            ExecutedWork localWork;
            using (var work = ContractionJobs.Open(job))
            {
                // The thread count is set on this thread, as a worker sets it on the thread of each batch: past the
                // first chunking this code runs on whichever pool thread the last await resumed on, and a thread that
                // never set it runs BLAS with the library's default (every core), whose sums round differently
                // (with --threads 1 the bits differed whenever that thread had run no worker's batch before).
                set_num_threads(threads);
                work.ContractChunk(0); // warm up: first-call costs are not per-slice costs
                var before = work.Executed;
                var cpu0 = process.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                var chunks = new double[work.Chunks][];
                for (long c = 0; c < work.Chunks; c++) chunks[c] = work.ContractChunk(c);
                local = ChunkSum.InOrder(chunks);
                localWall = clock.Elapsed.TotalSeconds;
                process.Refresh();
                localCpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
                localWork = work.Executed - before;
            }
            Console.WriteLine($"{"in process",-14} {localWall,8:F2} {localCpu,8:F2} {slices / localWall,10:F0} {1.0,10:F2} {"-",15} {localWork.StepRuns,10} {localWork.Flops,9:G3}  -     -");
            rows.Add((chunking, "in process", localWall, localWork.StepRuns, localWork.Flops));

            foreach (var n in silos)
            {
                var ports = ClusterHosts.FreeLoopbackPorts(2 * n);
                var primary = new IPEndPoint(IPAddress.Loopback, ports[0]);
                var workers = new List<IHost>();
                for (var i = 0; i < n; i++)
                {
                    var host = ClusterHosts.Worker(primary, IPAddress.Loopback, ports[2 * i], ports[2 * i + 1], secret, new ContractionJobOpener(), quiet: true);
                    await host.StartAsync();
                    workers.Add(host);
                }
                var gateways = Enumerable.Range(0, n).Select(i => new IPEndPoint(IPAddress.Loopback, ports[2 * i + 1])).ToArray();
                using var client = await ClusterHosts.Client(gateways, secret);
                var scheduler = new SliceScheduler(client.Services.GetRequiredService<IClusterClient>(), new SchedulerOptions { Threads = threads, TargetBatchSeconds = batchSeconds });
                await WaitForSilos(client.Services.GetRequiredService<IClusterClient>(), n);
                process.Refresh();
                var cpu0 = process.TotalProcessorTime;
                var run = await scheduler.Run(bytes);
                process.Refresh();
                var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
                var same = local.Select(BitConverter.DoubleToInt64Bits).SequenceEqual(run.Value!.Select(BitConverter.DoubleToInt64Bits));
                var perWorker = string.Join(" ", run.Workers.OrderBy(w => w.Worker).Select(w => $"{w.SlicesPerSecond:F0}"));
                var overhead = (run.Seconds * Math.Min(n, Environment.ProcessorCount) - localWall) / slices;
                long stepRuns = run.Workers.Sum(w => w.StepRuns);
                double flops = run.Workers.Sum(w => w.Flops);
                var name = n + (n == 1 ? " silo" : " silos");
                Console.WriteLine($"{name,-14} {run.Seconds,8:F2} {cpu,8:F2} {slices / run.Seconds,10:F0} {localWall / run.Seconds,10:F2} {overhead * 1e6,12:F0} us {stepRuns,10} {flops,9:G3}  {(same ? "same" : "DIFF")}  {perWorker}");
                rows.Add((chunking, name, run.Seconds, stepRuns, flops));
                await client.StopAsync();
                // The primary keeps the membership: it goes last, or the others cannot say they are leaving.
                foreach (var w in Enumerable.Reverse(workers)) await w.StopAsync();
                foreach (var w in workers) w.Dispose();
            }
        }
        if (chunkings.Length > 1)
        {
            Console.WriteLine();
            Console.WriteLine($"{chunkings[0]} / {chunkings[1]} (same run):  {"wall",6} {"step runs",10} {"flops",7}");
            foreach (var (_, run, wall, runs, flops) in rows.Where(r => r.Chunking == chunkings[0]))
            {
                var other = rows.First(r => r.Chunking == chunkings[1] && r.Run == run);
                Console.WriteLine($"  {run,-30} {wall / other.Wall,6:F2} {(double)runs / other.Runs,10:F2} {flops / other.Flops,7:F2}");
            }
        }
        Console.WriteLine();
        Console.WriteLine("overhead/slice = (wall x min(silos, cores) - in-process wall) / slices: the time a slice costs beyond in-process");
        Console.WriteLine("execution when the cores are shared out evenly. The silos share this process and its cores: past the core count");
        Console.WriteLine("more silos only divide the same CPU.");
        return 0;
    }

    private static async Task WaitForSilos(IClusterClient client, int count)
    {
        // The job is sent to the silos active when the run starts; the bench times n silos, so it waits for all n.
        for (var tries = 0; tries < 200; tries++)
        {
            try
            {
                var hosts = await client.GetGrain<Orleans.Runtime.IManagementGrain>(0).GetHosts(onlyActive: true);
                if (hosts.Count >= count) return;
            }
            catch (Orleans.Runtime.OrleansException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the {count} silos did not all become active");
    }


    private static string Load() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
