using System.Net;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.DependencyInjection;
using TnDsl.Api;
using TnDsl.Testing;
using TnDsl.Torch;
using Xunit;

namespace TnDsl.Cluster.Tests;

/// <summary>Real contraction jobs (<see cref="ContractionJob"/>) over the cluster against the same job contracted here.</summary>
[Collection(ClusterCollection.Name)]
public sealed class JobClusterTests(ClusterFixture fixture)
{
    static JobClusterTests() => NativeLoader.EnsureLoaded();

    private static readonly SchedulerOptions Quick = new() { TargetBatchSeconds = 0.05, RefreshEvery = TimeSpan.FromMilliseconds(200) };

    /// <summary>A random network of the testing kit with its inputs made weights (a job contracts weights and consts alone).</summary>
    private static string ClosedText(GeneratedNetwork g)
    {
        var r = g.Recipe;
        var recipe = new NetworkRecipe(r.Topology, r.Tensors, r.ExtraBonds, r.MaxDim, r.OpenLegs, r.Hyper, r.HyperOpen,
                                       r.CopyLegs, r.Tied, 0, false, r.Seed);
        return TnText.ofNetwork(Networks.build(recipe));
    }

    /// <summary>The job of a network's text, sliced so that no intermediate is larger than the result (where it can be).</summary>
    private static (ContractionJob Job, bool Sliced) JobOf(string text, long chunkSize)
    {
        var net = Frontend.LoadText("random.tn", text, null, null);
        var limit = Math.Max(1, net.Output.Aggregate(1L, (a, l) => a * net.Indices[l].Size));
        PlanView plan;
        try
        {
            plan = Planner.Plan(net, "greedy", null, 0, limit);
        }
        catch (TnException e) when (e.Diagnostics.Any(d => d.Code == "TN0301"))
        {
            plan = Planner.Plan(net, "greedy", null, 0);
        }
        var job = new ContractionJob
        {
            File = "random.tn",
            Text = text,
            Path = plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray(),
            Sliced = plan.SlicedLabels,
            ChunkSize = chunkSize,
            Seed = 5,
        };
        return (job, plan.IsSliced);
    }

    private static double[] Here(ContractionJob job)
    {
        using var work = ContractionJobs.Open(job);
        return ChunkSum.InOrder(Enumerable.Range(0, (int)work.Chunks).Select(c => work.ContractChunk(c)).ToArray());
    }

    [Fact]
    public async Task random_networks_of_the_testing_kit_give_the_bits_of_one_machine_in_float64()
    {
        var networks = TnArbitraries.Network();
        var samples = networks.Generator.Sample(60, new Rnd(20261205UL, 21UL), 12);
        var sliced = 0;
        foreach (var g in samples)
        {
            var (job, isSliced) = JobOf(ClosedText(g), 1 + g.Recipe.Seed % 3);
            if (isSliced) sliced++;
            var run = await new SliceScheduler(fixture.Cluster.Client, Quick).Run(job.ToBytes());
            Bits.Equal(Here(job), run.Value);
        }
        Assert.True(sliced >= 4, $"only {sliced} of {samples.Length} random networks were sliced");
    }

    [Fact]
    public async Task workers_report_the_steps_they_ran_between_one_pass_and_every_chunk_on_its_own()
    {
        const string grid =
            "network grid(L: int = 5, D: int = 2) {\n" +
            "  index h[x, y]: D for x in 0..L-2, y in 0..L-1\n" +
            "  index v[x, y]: D for x in 0..L-1, y in 0..L-2\n" +
            "  weight T[x, y]: (h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1)\n" +
            "    for x in 0..L-1, y in 0..L-1  init normal(0, 0.5)\n" +
            "  output ()\n}\n";
        var net = Frontend.LoadText("grid.tn", grid, null, null);
        var plan = Planner.Plan(net, "greedy", null, 0, 8);
        var model = SliceChunking.Of(plan, l => net.Indices[l].Size);
        Assert.Equal(32, model.Slices);  // greedy at 8 elements: 5 bonds sliced (7 before the unneeded ones were unsliced)
        var job = new ContractionJob
        {
            File = "grid.tn",
            Text = grid,
            Path = plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray(),
            Sliced = plan.SlicedLabels,
            ChunkSize = model.DefaultChunkSize(),
            Seed = 5,
        };
        var run = await new SliceScheduler(fixture.Cluster.Client, Quick).Run(job.ToBytes());
        Bits.Equal(Here(job), run.Value);
        // A batch of consecutive chunks runs in one pass; each batch starts afresh at a chunk boundary.
        long runs = run.Workers.Sum(w => w.StepRuns);
        double flops = run.Workers.Sum(w => w.Flops);
        Assert.InRange(runs, (long)model.StepRuns(model.Slices), (long)model.StepRuns(job.ChunkSize));
        Assert.InRange(flops, (double)plan.SlicedFlops, (double)model.ExecutedFlops(job.ChunkSize));
    }

    [Fact]
    public async Task a_job_with_a_use_that_is_not_in_the_bundle_is_refused_by_the_workers_without_reading_a_file()
    {
        // The worker compiles from the job's texts alone: a `use` of a file the client did not put in the job fails
        // there, even though the file exists on the worker's disk.
        var dir = Directory.CreateTempSubdirectory("tn-cluster-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "part.tn"), "network part(n: int = 2) {\n  index a: n\n  weight A: (a)\n  weight B: (a)\n}\n");
            var whole = Path.Combine(dir.FullName, "whole.tn");
            var text = "use \"part.tn\"\nnetwork whole() {\n  instance p: part(n = 3)\n}\n";
            File.WriteAllText(whole, text);
            Assert.Equal(2, Frontend.Load(whole, null, null).Tensors.Length); // read from disk, it compiles
            var job = new ContractionJob { File = whole, Text = text, Path = [(0, 1)], ChunkSize = 1 };
            var refused = await Assert.ThrowsAsync<ClusterRunException>(() => new SliceScheduler(fixture.Cluster.Client, Quick).Run(job.ToBytes()));
            Assert.IsType<InvalidDataException>(refused.InnerException);
        }
        finally
        {
            dir.Delete(true);
        }
    }
}

/// <summary>The hosting code <c>tn worker</c> and <c>tn contract --cluster</c> run: two worker silos and a client on loopback TCP.</summary>
public sealed class HostingTests
{
    static HostingTests() => NativeLoader.EnsureLoaded();

    [Fact]
    public async Task two_workers_started_like_tn_worker_contract_an_example_with_the_bits_of_one_machine()
    {
        var ports = ClusterHosts.FreeLoopbackPorts(4);
        var primary = new IPEndPoint(IPAddress.Loopback, ports[0]);
        var secret = ClusterSecret.FromText(TestClusters.Secret);
        using var first = ClusterHosts.Worker(primary, IPAddress.Loopback, ports[0], ports[1], secret, new ContractionJobOpener());
        using var second = ClusterHosts.Worker(primary, IPAddress.Loopback, ports[2], ports[3], secret, new ContractionJobOpener());
        await first.StartAsync().Within("starting the first worker");
        await second.StartAsync().Within("starting the second worker");
        using var client = await ClusterHosts.Client([new IPEndPoint(IPAddress.Loopback, ports[1])], secret).Within("starting the client");

        var peps = Path.Combine(Repo.Root, "examples", "peps.tn");
        var overrides = new[] { new KeyValuePair<string, string>("Lx", "2"), new KeyValuePair<string, string>("Ly", "3") };
        var saved = MemoryGuard.LimitOverride;
        ContractionJob job;
        try
        {
            // Between the best sliced estimate (4.8 KiB with the heap allowance) and the unsliced one (7.5 KiB).
            MemoryGuard.LimitOverride = 6000;
            job = ContractionJobs.Create(peps, new ContractionJobs.Options { Overrides = overrides, ChunkSize = 2 }).Job;
        }
        finally
        {
            MemoryGuard.LimitOverride = saved;
        }
        var run = await new SliceScheduler(client.Services.GetRequiredService<IClusterClient>(),
            new SchedulerOptions { RefreshEvery = TimeSpan.FromMilliseconds(200) }).Run(job.ToBytes()).Within("the run over two workers");
        Assert.True(run.Job.Slices > 1, "the example was not sliced");
        using var work = ContractionJobs.Open(job);
        Bits.Equal(ChunkSum.InOrder(Enumerable.Range(0, (int)work.Chunks).Select(c => work.ContractChunk(c)).ToArray()), run.Value);
        await client.StopAsync().Within("stopping the client");
        await second.StopAsync().Within("stopping the second worker");
        await first.StopAsync().Within("stopping the first worker");
    }

}

/// <summary>The repository's root, found from the test's directory.</summary>
public static class Repo
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TnDsl.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("the repository root (TnDsl.sln) is not above the test's directory");
    }
}
