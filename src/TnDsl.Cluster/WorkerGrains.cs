using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using TnDsl.Torch;

namespace TnDsl.Cluster;

/// <summary>What a worker reports of a job it holds: enough for the client to size the result and hand out chunks.</summary>
[GenerateSerializer, Immutable]
public sealed record JobInfo(
    [property: Id(0)] string Hash,
    [property: Id(1)] long Slices,
    [property: Id(2)] long ChunkSize,
    [property: Id(3)] long Chunks,
    [property: Id(4)] long[] Shape);

/// <summary>The results of one batch of chunks, in the order they were asked for, the seconds the worker spent on them,
/// and the pairwise steps it ran for them and their flops (see <see cref="ExecutedWork"/>; 0 where not counted).</summary>
[GenerateSerializer, Immutable]
public sealed record BatchResult(
    [property: Id(0)] double[][] Values,
    [property: Id(1)] double Seconds,
    [property: Id(2)] long StepRuns = 0,
    [property: Id(3)] double Flops = 0);

/// <summary>
/// The worker of one silo, keyed by that silo's address (<see cref="SiloTargetedPlacementAttribute"/> places it there
/// and nowhere else). It holds jobs sent as bytes, once per silo, by their SHA-256, and contracts batches of chunks.
/// Calls run one at a time; the client keeps a second batch queued to hide the round trip. Every call takes a
/// cancellation token: the client cancels the calls that may have crossed a gateway it lost, which Orleans would
/// otherwise leave unanswered until the response timeout, and sends them again.
/// </summary>
public interface IWorkerGrain : IGrainWithStringKey
{
    /// <summary>
    /// The job with this hash if this silo holds it, else <c>null</c> (the client then sends it). Answered at once,
    /// even while a batch runs: the client asks it at the end of a run to learn which workers are still there.
    /// </summary>
    [AlwaysInterleave]
    Task<JobInfo?> Describe(string hash, CancellationToken cancel = default);

    /// <summary>Opens a job from its bytes (validated by the opener) and keeps it under its SHA-256.</summary>
    Task<JobInfo> Load(byte[] job, CancellationToken cancel = default);

    /// <summary>
    /// Contracts the given chunks of a held job, each the sum of its slices in slice order, with
    /// <paramref name="threads"/> TorchSharp threads (0: the worker's own setting). Kernels may split their sums by
    /// thread count, so a client that wants the bits of a run on one machine asks for that run's thread count.
    /// </summary>
    /// <remarks><c>null</c> when the silo no longer holds the job: the client sends it again. A batch cancelled before
    /// it starts is not contracted; one that has started runs to its end (its chunks run in one pass).</remarks>
    Task<BatchResult?> Contract(string hash, long[] chunks, int threads, CancellationToken cancel = default);

    /// <summary>Releases a job this silo holds (nothing happens if it holds none by that hash).</summary>
    Task Forget(string hash);
}

/// <summary>
/// The worker grain: one activation per silo, on that silo, over the silo's <see cref="JobCache"/>. A job it cannot
/// open and a batch that fails are logged (one line at default verbosity, <see cref="ClusterLogging"/>) as well as
/// answered to the client.
/// </summary>
[SiloTargetedPlacement]
public sealed class WorkerGrain(JobCache jobs, ISliceWorkOpener opener, ILogger<WorkerGrain> log) : Grain, IWorkerGrain
{
    /// <inheritdoc/>
    public Task<JobInfo?> Describe(string hash, CancellationToken cancel) => Task.FromResult(jobs.TryGet(hash, out var held) ? held.Info : null);

    /// <inheritdoc/>
    public async Task<JobInfo> Load(byte[] job, CancellationToken cancel)
    {
        try
        {
            // Opening compiles and plans the network: off the grain's scheduler thread, like contraction.
            return (await Task.Run(() => jobs.Load(job))).Info;
        }
        catch (Exception e)
        {
            log.LogWarning(e, "a client's job could not be opened: {Message}", e.Message);
            if (e is InvalidDataException) throw;
            throw new InvalidDataException($"the worker cannot open the job: {e.Message}");
        }
    }

    /// <inheritdoc/>
    public async Task<BatchResult?> Contract(string hash, long[] chunks, int threads, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        if (!jobs.TryGet(hash, out var held)) return null;
        try
        {
            return await Task.Run(() =>
            {
                cancel.ThrowIfCancellationRequested();
                // On this pool thread: thread counts are per thread in OpenMP and MKL.
                opener.UseThreads(threads);
                return ContractBatch(held, chunks);
            });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError(e, "a batch of {Count} chunks failed: {Message}", chunks.Length, e.Message);
            if (e is ArgumentOutOfRangeException or InvalidOperationException) throw;
            // The client sees Orleans-serialisable exceptions only (the backend's own types have no codec).
            throw new InvalidOperationException($"the worker failed to contract the job: {e.Message}");
        }
    }

    private static BatchResult ContractBatch(HeldJob held, long[] chunks)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var chunk in chunks)
            if (chunk < 0 || chunk >= held.Info.Chunks)
                throw new ArgumentOutOfRangeException(nameof(chunks), $"chunk {chunk} is outside [0, {held.Info.Chunks})");
        // Consecutive chunks run in one pass of their slices, reusing across their boundaries (ISliceWork). Calls
        // are serialised, so the work counted between the two readings is this batch's.
        var before = held.Work.Executed;
        var values = held.Work.ContractChunks(chunks);
        var done = held.Work.Executed - before;
        return new BatchResult(values, clock.Elapsed.TotalSeconds, done.StepRuns, done.Flops);
    }

    /// <inheritdoc/>
    public Task Forget(string hash)
    {
        jobs.Forget(hash);
        return Task.CompletedTask;
    }
}
