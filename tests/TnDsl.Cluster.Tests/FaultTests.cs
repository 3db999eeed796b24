using Microsoft.Extensions.DependencyInjection;
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
        await Task.WhenAny(tenth.Task, running).Within("the first tenth of the run");
        Assert.False(running.IsCompleted, "the run ended before the silo could be stopped");
        await midway();
        var run = await running.Within("the run after the silo left");
        return (run, ChunkSum.InOrder(job.LocalChunks()));
    }

    [Fact]
    public async Task a_silo_killed_mid_run_changes_no_bit_and_a_silo_that_joins_gets_work()
    {
        var cluster = await TestClusters.Start();
        try
        {
            var victim = cluster.SecondarySilos[0];
            SiloHandle? joined = null;
            var (run, local) = await RunWith(cluster, async () =>
            {
                // The silos there are wait for the one that joins, so that the run cannot end before it has work.
                FakeJob.HoldUntilAnother(cluster.Silos.Select(s => s.SiloAddress));
                await cluster.KillSiloAsync(victim).Within("killing a silo");
                joined = await cluster.StartAdditionalSiloAsync().Within("starting a silo that joins");
            });
            Bits.Equal(local, run.Value);
            Assert.True(run.Workers.Single(w => w.Worker == victim.SiloAddress.ToParsableString()).Lost);
            Assert.True(run.Workers.Single(w => w.Worker == joined!.SiloAddress.ToParsableString()).Chunks > 0);
        }
        finally
        {
            FakeJob.StopHolding();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_silo_stopped_mid_run_changes_no_bit()
    {
        var cluster = await TestClusters.Start();
        try
        {
            var victim = cluster.SecondarySilos[1];
            var (run, local) = await RunWith(cluster, () => cluster.StopSiloAsync(victim).Within("stopping a silo"));
            Bits.Equal(local, run.Value);
            Assert.True(run.Workers.Single(w => w.Worker == victim.SiloAddress.ToParsableString()).Lost);
            Assert.True(run.Workers.Sum(w => w.Slices) >= 300);
        }
        finally
        {
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task calls_that_crossed_a_gateway_that_died_are_sent_again_through_another_and_no_bit_changes()
    {
        // The client knows only the victim's gateway at first, so every call crosses it; the other secondary silo's
        // first batch does not return until the victim is dead, so its answer goes back through a gateway that is
        // gone. Orleans fails no such call: without the scheduler's answer to the lost gateway connection the run
        // would wait for it (here: past the step's bound), the overdue reissue being put off for an hour.
        var cluster = await TestClusters.Start();
        try
        {
            var victim = cluster.SecondarySilos[0];
            var stalled = cluster.SecondarySilos[1];
            var gateways = new ChangingGateways(victim);
            using var host = await TestClusters.Client(cluster, TestClusters.Secret, gateways);
            var job = new FakeJob(300, 2, 3, Seed: 17, MillisecondsPerChunk: 30);
            FakeJob.ArmOn(stalled.SiloAddress);
            var patient = Quick with { OverdueAfter = TimeSpan.FromHours(1) };
            var running = new SliceScheduler(host.Services.GetRequiredService<IClusterClient>(), patient).Run(job.ToBytes());
            await Task.WhenAny(FakeJob.Stalled, running).Within("a batch stalling on the other secondary silo");
            Assert.False(running.IsCompleted, "the run ended before its batch stalled");
            await gateways.Set(victim, cluster.Primary!).Within("the client reading the primary's gateway as well");
            await cluster.KillSiloAsync(victim).Within("killing the silo of the client's gateway");
            FakeJob.Release();
            var run = await running.Within("the run after its gateway died");
            Bits.Equal(ChunkSum.InOrder(job.LocalChunks()), run.Value);
            // The victim's dying gateway refuses calls for the others ("silo ... is shutting down"): not their loss.
            Assert.Equal([victim.SiloAddress.ToParsableString()], run.Workers.Where(w => w.Lost).Select(w => w.Worker));
            await host.StopAsync().Within("stopping the client");
        }
        finally
        {
            FakeJob.Release();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task workers_whose_calls_fail_several_rounds_in_a_row_while_the_cluster_lists_them_keep_their_place()
    {
        // When a tn worker process was killed, calls to the live workers failed for seconds (their grain directory
        // entries were on the dead silo, not yet declared dead), and a worker was lost for good at its third round of
        // failures: a live worker did no more work, and had every worker failed so, the run would have stopped with
        // "no worker has been active". Here every silo fails its first six calls (three rounds of two batches or more).
        var cluster = await TestClusters.Start();
        try
        {
            FailingCalls.Arm(6);
            var job = new FakeJob(120, 2, 3, Seed: 17, MillisecondsPerChunk: 10);
            var run = await new SliceScheduler(cluster.Client, Quick with { WaitForWorkers = TimeSpan.FromSeconds(10) })
                .Run(job.ToBytes()).Within("the run whose first calls fail");
            Bits.Equal(ChunkSum.InOrder(job.LocalChunks()), run.Value);
            Assert.All(run.Workers, w => Assert.False(w.Lost, $"{w.Worker} was lost"));
            Assert.Equal(cluster.Silos.Count, run.Workers.Count(w => w.Chunks > 0));
        }
        finally
        {
            FailingCalls.Disarm();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_worker_whose_calls_still_fail_at_the_end_is_reported_lost_and_the_others_finish_its_chunks()
    {
        // A dead primary is never declared dead (it keeps the membership): its calls fail to the end of the run.
        var cluster = await TestClusters.Start();
        try
        {
            var failing = cluster.Silos[1].SiloAddress;
            FailingCalls.Arm(int.MaxValue, failing);
            var job = new FakeJob(300, 2, 3, Seed: 19, MillisecondsPerChunk: 20);
            var run = await new SliceScheduler(cluster.Client, Quick).Run(job.ToBytes()).Within("the run with a failing worker");
            Bits.Equal(ChunkSum.InOrder(job.LocalChunks()), run.Value);
            Assert.Equal([failing.ToParsableString()], run.Workers.Where(w => w.Lost).Select(w => w.Worker));
            Assert.Equal(0, run.Workers.Single(w => w.Lost).Chunks);
        }
        finally
        {
            FailingCalls.Disarm();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_cluster_that_stops_answering_without_closing_its_connections_stops_the_run()
    {
        // Seen with bench/cluster-crash.sh: a client given one gateway, whose tn worker was frozen (SIGSTOP), waited
        // for good, no call failing. Here every worker and membership call is held once the first chunk is done.
        var cluster = await TestClusters.Start(1);
        try
        {
            var job = new FakeJob(200, 2, 1, Seed: 5, MillisecondsPerChunk: 20);
            var error = await Assert.ThrowsAsync<ClusterRunException>(() =>
                new SliceScheduler(cluster.Client, Quick with { WaitForWorkers = TimeSpan.FromSeconds(3) })
                    .Run(job.ToBytes(), onChunk: _ => FailingCalls.Freeze()).Within("the run on a frozen cluster", TimeSpan.FromSeconds(60)));
            Assert.Contains("nothing has answered", error.Message);
        }
        finally
        {
            FailingCalls.Disarm();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_run_whose_every_silo_is_killed_stops_with_the_last_failure_not_a_frozen_gateway_hint()
    {
        // bench/cluster-crash.sh's `all`: every tn worker killed. Calls fail (connections refused), no membership
        // answer comes, and the run stopped blaming a gateway frozen without closing its connections.
        var cluster = await TestClusters.Start(1);
        try
        {
            var job = new FakeJob(200, 2, 1, Seed: 7, MillisecondsPerChunk: 20);
            var killing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var running = new SliceScheduler(cluster.Client, Quick with { WaitForWorkers = TimeSpan.FromSeconds(3) })
                .Run(job.ToBytes(), onChunk: _ => killing.TrySetResult());
            await killing.Task.Within("the first chunk");
            await cluster.KillSiloAsync(cluster.Primary!).Within("killing the only silo");
            var error = await Assert.ThrowsAsync<ClusterRunException>(() => running.Within("the run with no silo left", TimeSpan.FromSeconds(60)));
            Assert.DoesNotContain("without closing", error.Message);
            Assert.NotNull(error.InnerException);
        }
        finally
        {
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_worker_that_stops_answering_is_reported_lost_and_the_others_finish_its_chunks()
    {
        // bench/cluster-crash.sh's `stop`: a tn worker frozen (SIGSTOP) keeps its connections open, fails nothing and
        // was not declared dead; the overdue reissue finished the run, but the worker was reported as if nothing had
        // happened. Its batches are held here from its first answered chunk on.
        var cluster = await TestClusters.Start();
        try
        {
            var frozen = cluster.SecondarySilos[0].SiloAddress;
            var job = new FakeJob(200, 2, 1, Seed: 23, MillisecondsPerChunk: 20);
            var run = await new SliceScheduler(cluster.Client, Quick with { OverdueAfter = TimeSpan.FromMilliseconds(500) })
                .Run(job.ToBytes(), onChunk: done =>
                {
                    if (done.Worker == frozen.ToParsableString()) FailingCalls.Freeze(frozen);
                }).Within("the run with a frozen worker");
            Bits.Equal(ChunkSum.InOrder(job.LocalChunks()), run.Value);
            Assert.Equal([frozen.ToParsableString()], run.Workers.Where(w => w.Lost).Select(w => w.Worker));
        }
        finally
        {
            FailingCalls.Disarm();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_worker_gone_after_its_last_batch_before_the_end_is_reported_lost_with_the_chunks_it_finished()
    {
        // bench/cluster-crash.sh: a tn worker killed in the last seconds of a run, its batches all answered, was listed
        // with lost: false, the cluster not having declared it dead yet and no call to it having failed. Here the
        // primary's first batch (and the one queued behind it: two chunks) is held until the other two silos have
        // finished every other chunk; then one of them goes silent (its calls held from then on, as a killed process's
        // are unanswered until the cluster declares it dead: a silo killed in process tells the cluster it stops, which
        // the run would see), the primary's batches are let go and the run ends.
        var cluster = await TestClusters.Start();
        try
        {
            var victim = cluster.SecondarySilos[0];
            var job = new FakeJob(200, 2, 3, Seed: 29, MillisecondsPerChunk: 10);
            const int chunks = 100;
            FakeJob.ArmOn(cluster.Primary!.SiloAddress);
            var tail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var done = 0;
            var running = new SliceScheduler(cluster.Client, Quick with { OverdueAfter = TimeSpan.FromHours(1) })
                .Run(job.ToBytes(), onChunk: _ =>
                {
                    if (Interlocked.Increment(ref done) == chunks - 2) tail.TrySetResult();
                });
            await Task.WhenAny(tail.Task, running).Within("every chunk but the primary's two");
            Assert.False(running.IsCompleted, "the run ended before the silo went silent");
            await FakeJob.Stalled.Within("the primary's held batch");
            FailingCalls.Freeze(victim.SiloAddress);
            FakeJob.Release();
            var run = await running.Within("the run after the silo went silent");
            Bits.Equal(ChunkSum.InOrder(job.LocalChunks()), run.Value);
            var lost = Assert.Single(run.Workers, w => w.Lost);
            Assert.Equal(victim.SiloAddress.ToParsableString(), lost.Worker);
            Assert.True(lost.Chunks > 0, "the lost worker's finished chunks are its own");
            Assert.Equal(chunks, run.Workers.Sum(w => w.Chunks));
        }
        finally
        {
            FakeJob.Release();
            FailingCalls.Disarm();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task calls_to_every_worker_that_keep_failing_stop_the_run_with_the_last_error()
    {
        var cluster = await TestClusters.Start(1);
        try
        {
            FailingCalls.Arm(int.MaxValue);
            var job = new FakeJob(20, 2, 1, Seed: 3);
            var error = await Assert.ThrowsAsync<ClusterRunException>(() =>
                new SliceScheduler(cluster.Client, Quick with { WaitForWorkers = TimeSpan.FromSeconds(2) }).Run(job.ToBytes()).Within("the run"));
            Assert.Contains("cannot be addressed", error.Message);
            // One line (bench/cluster-crash.sh's `primary`: the client's line went on with Orleans' inner exception).
            Assert.DoesNotContain('\n', error.Message);
            Assert.IsType<OrleansException>(error.InnerException);
        }
        finally
        {
            FailingCalls.Disarm();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_step_that_never_ends_fails_its_test_by_name_and_a_failing_step_keeps_its_own_error()
    {
        var never = new TaskCompletionSource<int>().Task;
        var late = await Assert.ThrowsAsync<TimeoutException>(() => never.Within("the step", TimeSpan.FromMilliseconds(50)));
        Assert.Equal("the step: not done after 0.05 s", late.Message);
        var own = await Assert.ThrowsAsync<TimeoutException>(() => Task.FromException(new TimeoutException("its own")).Within("the step"));
        Assert.Equal("its own", own.Message);
        Assert.Equal(3, await Task.FromResult(3).Within("the step"));
    }
}
