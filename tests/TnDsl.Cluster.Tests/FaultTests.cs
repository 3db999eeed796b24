using Orleans.TestingHost;
using Xunit;

namespace TnDsl.Cluster.Tests;

/// <summary>Silos that leave or join in the middle of a run: each test has its own cluster.</summary>
public sealed class FaultTests
{
    private static readonly SchedulerOptions Quick = new() { TargetBatchSeconds = 0.1, RefreshEvery = TimeSpan.FromMilliseconds(200) };

    /// <summary>Runs a slow job and calls <paramref name="midway"/> once a tenth of its chunks are done.</summary>
    private static async Task<(ClusterRun Run, double[] Local)> RunWith(TestCluster cluster, Func<Task> midway)
    {
        var job = new FakeJob(300, 2, 3, Seed: 11, MillisecondsPerChunk: 30);
        var tenth = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = 0;
        var running = new SliceScheduler(cluster.Client, Quick).Run(job.ToBytes(), onChunk: _ =>
        {
            if (Interlocked.Increment(ref done) == 15) tenth.TrySetResult();
        });
        await Task.WhenAny(tenth.Task, running);
        Assert.False(running.IsCompleted, "the run ended before the silo could be stopped");
        await midway();
        var run = await running;
        return (run, ChunkSum.InOrder(job.LocalChunks()));
    }

    [Fact]
    public async Task a_silo_killed_mid_run_changes_no_bit_and_a_silo_that_joins_gets_work()
    {
        await using var cluster = await TestClusters.Start();
        var victim = cluster.SecondarySilos[0];
        SiloHandle? joined = null;
        var (run, local) = await RunWith(cluster, async () =>
        {
            await cluster.KillSiloAsync(victim);
            joined = await cluster.StartAdditionalSiloAsync();
        });
        Bits.Equal(local, run.Value);
        Assert.True(run.Workers.Single(w => w.Worker == victim.SiloAddress.ToParsableString()).Lost);
        Assert.True(run.Workers.Single(w => w.Worker == joined!.SiloAddress.ToParsableString()).Chunks > 0);
    }

    [Fact]
    public async Task a_silo_stopped_mid_run_changes_no_bit()
    {
        await using var cluster = await TestClusters.Start();
        var victim = cluster.SecondarySilos[1];
        var (run, local) = await RunWith(cluster, () => cluster.StopSiloAsync(victim));
        Bits.Equal(local, run.Value);
        Assert.True(run.Workers.Single(w => w.Worker == victim.SiloAddress.ToParsableString()).Lost);
        Assert.True(run.Workers.Sum(w => w.Slices) >= 300);
    }
}
