using Orleans.TestingHost;
using Xunit;

namespace TnDsl.Cluster.Tests;

/// <summary>One three-silo loopback cluster shared by the tests that leave it whole.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;
    public async Task InitializeAsync() => Cluster = await TestClusters.Start();
    public Task DisposeAsync() => TestClusters.Stop(Cluster);
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "three silos";
}

public static class Bits
{
    public static long[] Of(double[] values) => values.Select(BitConverter.DoubleToInt64Bits).ToArray();

    public static void Equal(double[] expected, double[]? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(Of(expected), Of(actual));
    }
}

[Collection(ClusterCollection.Name)]
public sealed class ClusterTests(ClusterFixture fixture)
{
    private static readonly SchedulerOptions Quick = new() { TargetBatchSeconds = 0.05, RefreshEvery = TimeSpan.FromMilliseconds(200) };

    private SliceScheduler Scheduler => new(fixture.Cluster.Client, Quick);

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(97, 4, 1)]
    [InlineData(300, 7, 5)]
    [InlineData(1000, 1, 3)]
    public async Task value_over_three_silos_has_the_bits_of_chunks_added_in_order_on_one_machine(long slices, long chunkSize, int elements)
    {
        var job = new FakeJob(slices, chunkSize, elements, Seed: (ulong)(slices * 31 + chunkSize));
        var run = await Scheduler.Run(job.ToBytes());
        Bits.Equal(ChunkSum.InOrder(job.LocalChunks()), run.Value);
        Assert.Equal((slices + chunkSize - 1) / chunkSize, run.Job.Chunks);
        Assert.Equal(slices, run.Workers.Sum(w => w.Slices));
    }

    [Fact]
    public void the_test_job_is_sensitive_to_the_order_of_summation()
    {
        // Otherwise bit equality above would prove nothing about the order the cluster adds in.
        var chunks = new FakeJob(300, 7, 5, Seed: 9).LocalChunks();
        Assert.NotEqual(Bits.Of(ChunkSum.InOrder(chunks)), Bits.Of(ChunkSum.InOrder(chunks.Reverse().ToArray())));
    }

    [Fact]
    public async Task a_batch_whose_answer_does_not_come_goes_to_the_other_workers_and_the_value_keeps_its_bits()
    {
        // Chunk 5's first contraction does not return until released, as a request lost on its way would never be
        // answered; its worker lives on. Without reissue the run waits for it (here: past the step's bound).
        var job = new FakeJob(40, 1, 3, Seed: 21, MillisecondsPerChunk: 10, StallChunk: 5);
        FakeJob.Arm();
        try
        {
            var overdue = Quick with { OverdueAfter = TimeSpan.FromMilliseconds(500) };
            var run = await new SliceScheduler(fixture.Cluster.Client, overdue).Run(job.ToBytes()).Within("the run with a stalled batch");
            Bits.Equal(ChunkSum.InOrder((job with { StallChunk = -1 }).LocalChunks()), run.Value);
        }
        finally
        {
            FakeJob.Release();
        }
    }

    [Fact]
    public async Task a_job_is_sent_once_per_silo_and_every_silo_reports_its_rate()
    {
        var job = new FakeJob(90, 1, 2, Seed: 77, MillisecondsPerChunk: 20).ToBytes();
        var run = await Scheduler.Run(job);
        Assert.Equal(3, FakeOpener.Opens(job));
        Assert.Equal(3, run.Workers.Count);
        Assert.Equal(90, run.Workers.Sum(w => w.Chunks));
        Assert.All(run.Workers.Where(w => w.Chunks > 0), w => Assert.True(w.SlicesPerSecond > 0));
    }

    [Fact]
    public async Task a_resumed_run_contracts_only_the_unfinished_chunks_and_their_sum_with_the_others_has_the_same_bits()
    {
        var job = new FakeJob(120, 3, 4, Seed: 5);
        var local = job.LocalChunks();
        var chunks = new double[local.Length][];
        var done = new List<long>();
        var run = await Scheduler.Run(job.ToBytes(), c => c % 3 != 1, chunk =>
        {
            done.Add(chunk.Chunk);
            chunks[chunk.Chunk] = chunk.Value;
        });
        Assert.Null(run.Value);
        Assert.Equal(local.Length - done.Count, run.ChunksSkipped);
        Assert.Equal(Enumerable.Range(0, local.Length).Where(c => c % 3 == 1).Select(c => (long)c), done.Order());
        for (var c = 0; c < local.Length; c++) chunks[c] ??= local[c];
        Bits.Equal(ChunkSum.InOrder(local), ChunkSum.InOrder(chunks));
    }

    [Theory]
    [InlineData("another-secret-of-16-bytes-or-more")]
    [InlineData(null)]
    public async Task a_client_without_the_secret_is_refused(string? secret)
    {
        using var host = await TestClusters.Client(fixture.Cluster, secret);
        var client = host.Services.GetService(typeof(IClusterClient)) as IClusterClient;
        var refused = await Assert.ThrowsAsync<ClusterRunException>(() =>
            new SliceScheduler(client!, Quick).Run(new FakeJob(10, 1, 1, Seed: 2).ToBytes()));
        Assert.IsType<UnauthorizedAccessException>(refused.InnerException);
        // And a worker grain called directly, past the scheduler, refuses too.
        var silo = fixture.Cluster.Primary!.SiloAddress.ToParsableString();
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => client!.GetGrain<IWorkerGrain>(silo).Describe("0"));
        await host.StopAsync();
    }

    [Fact]
    public async Task bytes_that_are_not_a_job_are_refused_by_the_workers()
    {
        var refused = await Assert.ThrowsAsync<ClusterRunException>(() => Scheduler.Run([1, 2, 3]));
        Assert.IsType<InvalidDataException>(refused.InnerException);
    }
}
