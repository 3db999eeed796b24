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
    /// <summary>Entry point: <c>[--file F.tn] [--set k=v,...] [--memory-limit BYTES] [--optimizer NAME] [--max-slices N] [--chunk N] [--silos 1,2,4] [--threads N]</c>.</summary>
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
        var chunk = Opt("--chunk", "1");

        var (job, plan, network) = ContractionJobs.Create(file, new ContractionJobs.Options { Overrides = overrides, ChunkSize = long.Parse(chunk), Optimizer = Opt("--optimizer", "greedy") });
        var bytes = job.ToBytes();
        var maxSlices = long.Parse(Opt("--max-slices", "5000"));
        if ((long)plan.Slices > maxSlices)
        {
            Console.Error.WriteLine($"the plan has {plan.Slices} slices, more than --max-slices {maxSlices}: raise --memory-limit or try another --optimizer");
            return 1;
        }
        Console.WriteLine($"cluster bench: {network.Name} ({string.Join(", ", overrides.Select(p => $"{p.Key}={p.Value}"))}), float64, " +
            $"memory limit {MemoryGuard.Format(MemoryGuard.Limit)}, {plan.Slices} slices in chunks of {job.ChunkSize}, job {bytes.Length} bytes; " +
            $"{threads} TorchSharp thread(s), {Environment.ProcessorCount} cores, load {Load()}");

        // In process: the same chunks one after another, summed in chunk order.
        var process = Process.GetCurrentProcess();
        double[] local;
        double localWall, localCpu;
        using (var work = ContractionJobs.Open(job))
        {
            work.ContractChunk(0); // warm up: first-call costs are not per-slice costs
            var cpu0 = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var chunks = new double[work.Chunks][];
            for (long c = 0; c < work.Chunks; c++) chunks[c] = work.ContractChunk(c);
            local = ChunkSum.InOrder(chunks);
            localWall = clock.Elapsed.TotalSeconds;
            process.Refresh();
            localCpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        }
        var slices = (double)plan.Slices;
        Console.WriteLine();
        Console.WriteLine($"{"run",-14} {"wall s",8} {"CPU s",8} {"slices/s",10} {"vs in-proc",10} {"overhead/slice",15}  bits  per worker (slices/s of its own time)");
        Console.WriteLine($"{"in process",-14} {localWall,8:F2} {localCpu,8:F2} {slices / localWall,10:F0} {1.0,10:F2} {"-",15}  -     -");

        var secret = ClusterSecret.FromText(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)));
        foreach (var n in silos)
        {
            var ports = ClusterHosts.FreeLoopbackPorts(2 * n);
            var primary = new IPEndPoint(IPAddress.Loopback, ports[0]);
            var workers = new List<IHost>();
            for (var i = 0; i < n; i++)
            {
                var host = ClusterHosts.Worker(primary, IPAddress.Loopback, ports[2 * i], ports[2 * i + 1], secret, new ContractionJobOpener());
                await host.StartAsync();
                workers.Add(host);
            }
            var gateways = Enumerable.Range(0, n).Select(i => new IPEndPoint(IPAddress.Loopback, ports[2 * i + 1])).ToArray();
            using var client = await ClusterHosts.Client(gateways, secret);
            var scheduler = new SliceScheduler(client.Services.GetRequiredService<IClusterClient>(), new SchedulerOptions { Threads = threads });
            await WaitForSilos(client.Services.GetRequiredService<IClusterClient>(), n);
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var run = await scheduler.Run(bytes);
            process.Refresh();
            var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
            var same = local.Select(BitConverter.DoubleToInt64Bits).SequenceEqual(run.Value!.Select(BitConverter.DoubleToInt64Bits));
            var perWorker = string.Join(" ", run.Workers.OrderBy(w => w.Worker).Select(w => $"{w.SlicesPerSecond:F0}"));
            var overhead = (run.Seconds * Math.Min(n, Environment.ProcessorCount) - localWall) / slices;
            Console.WriteLine($"{n + (n == 1 ? " silo" : " silos"),-14} {run.Seconds,8:F2} {cpu,8:F2} {slices / run.Seconds,10:F0} {localWall / run.Seconds,10:F2} {overhead * 1e6,12:F0} us  {(same ? "same" : "DIFF")}  {perWorker}");
            await client.StopAsync();
            // The primary keeps the membership: it goes last, or the others cannot say they are leaving.
            foreach (var w in Enumerable.Reverse(workers)) await w.StopAsync();
            foreach (var w in workers) w.Dispose();
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
