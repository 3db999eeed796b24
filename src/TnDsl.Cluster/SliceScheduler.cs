using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace TnDsl.Cluster;

/// <summary>How the client hands out chunks.</summary>
public sealed record SchedulerOptions
{
    /// <summary>The seconds of work a batch aims at, once a worker's speed is known: long enough to hide the round trip.</summary>
    public double TargetBatchSeconds { get; init; } = 1.0;

    /// <summary>Batches queued on one worker at once: while one runs, the next waits there, so the worker never idles on the network.</summary>
    public int BatchesInFlight { get; init; } = 2;

    /// <summary>The most chunks in one batch.</summary>
    public int MaxBatchChunks { get; init; } = 4096;

    /// <summary>How often the client asks the cluster which silos are active (new ones get work; gone ones lose theirs).</summary>
    public TimeSpan RefreshEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// TorchSharp threads per chunk on the workers (0: each worker's own setting). The bits of a chunk may depend on
    /// it: give the thread count of the single-machine run to reproduce its value.
    /// </summary>
    public int Threads { get; init; }

    /// <summary>
    /// How long the client waits while no worker is active before it gives up: none is listed by the cluster, the
    /// calls to each have failed <see cref="FailingAfter"/> times in a row, or no call at all (a batch, a job's
    /// opening, a membership question) has been answered, as when the client's only gateway is frozen.
    /// </summary>
    public TimeSpan WaitForWorkers { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Rounds of failed calls in a row after which a worker the cluster still lists no longer counts as active for
    /// <see cref="WaitForWorkers"/>. It keeps its place and gets work again after each membership answer: while a
    /// silo that died is not yet declared dead, calls to live workers whose grain directory entries it held fail too.
    /// </summary>
    public int FailingAfter { get; init; } = 3;

    /// <summary>
    /// A batch is overdue past this many times the time its chunks should take (at its worker's measured speed, or
    /// the others' mean before the worker has one), and at least <see cref="OverdueAfter"/>: its chunks go to the
    /// other workers as well, and the worker gets no new batch for as long again, then keeps its place; whichever
    /// answer comes first is kept. A safety net: calls that crossed a gateway whose connection closed are sent again
    /// at once (<see cref="GatewayLosses"/>); this catches a call lost where no connection closes (a gateway's machine
    /// gone without a word, a half-open connection) or a worker that stalls.
    /// </summary>
    public double OverdueFactor { get; init; } = 10;

    /// <summary>The least time before a batch is overdue (<see cref="OverdueFactor"/>).</summary>
    public TimeSpan OverdueAfter { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>One finished chunk, as the scheduler hands it to its caller (e.g. to write a resume record).</summary>
public sealed record ChunkDone(long Chunk, double[] Value, string Worker);

/// <summary>What one worker did in a run: chunks and slices contracted (lost or not), the seconds it spent on them,
/// whether it was lost, that is, out of the client's reach at the end of the run (the cluster no longer listed it, its calls were
/// failing at the end, an overdue batch of its was still unanswered, or it did not answer the client's closing
/// question within 5 s: its unfinished chunks, if any, went to the others), and the pairwise steps it ran and their
/// flops (reuse across slices counted; 0 where its job does not count).</summary>
public sealed record WorkerReport(string Worker, long Chunks, long Slices, double Seconds, bool Lost, long StepRuns = 0, double Flops = 0)
{
    /// <summary>Slices per second of the worker's own contraction time (0 before its first batch).</summary>
    public double SlicesPerSecond => Seconds > 0 ? Slices / Seconds : 0;
}

/// <summary>
/// A job's run over a cluster: the value (the chunk results added in chunk order; <c>null</c> when chunks finished
/// before the run were skipped, whose results the caller holds, e.g. in a <c>ContractionJobRecord</c>), what each
/// worker did, the seconds it took and how many chunks were skipped.
/// </summary>
public sealed record ClusterRun(JobInfo Job, double[]? Value, IReadOnlyList<WorkerReport> Workers, double Seconds, long ChunksSkipped);

/// <summary>A run that cannot finish: no worker, a refused job, a worker's error, an inconsistent answer.</summary>
public sealed class ClusterRunException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The client side of a cluster contraction. It sends the job to every active silo once, hands out batches of chunks
/// (sized from each worker's measured speed to <see cref="SchedulerOptions.TargetBatchSeconds"/>, a second one queued
/// behind the first), re-issues the unfinished batches of a silo that leaves, of a call that fails (its worker gets
/// work again while the cluster lists its silo) and of every call in flight when the client loses a gateway
/// connection (<see cref="GatewayLosses"/>), gives work to silos that join, and adds the chunk results in chunk order
/// (<see cref="ChunkSum"/>), so the value does not depend on who did what.
/// </summary>
public sealed class SliceScheduler(IClusterClient client, SchedulerOptions? options = null)
{
    private readonly SchedulerOptions options = options ?? new SchedulerOptions();

    private sealed class Worker(string key, IWorkerGrain grain)
    {
        public string Key { get; } = key;
        public IWorkerGrain Grain { get; } = grain;
        public bool Ready;
        public bool Lost;
        public int InFlight;
        public double SecondsPerChunk = double.NaN;
        // Until then no new batch: one of its batches was overdue, and its chunks went to the others.
        public TimeSpan SuspectUntil;
        // A call to it failed: no new call until the answer to membership question Doubted (one asked after the
        // failure) says whether its silo is still active. The failure may be a gateway's: a silo that is shutting
        // down refuses the calls that cross it for workers elsewhere. Reopen: the failed call was its opening.
        // Failures: rounds of failed calls in a row (see SchedulerOptions.FailingAfter).
        public int Doubted, Failures;
        public bool Reopen;
        public long Chunks, Slices, StepRuns;
        public double Seconds, Flops;
    }

    // Call: the token the call was sent with (cancelled when a gateway it may have crossed was lost).
    private sealed record Op(Worker Worker, long[]? Chunks, Task Task, CancellationToken Call, TimeSpan Sent = default)
    {
        public bool Orphaned { get; set; }
    }

    /// <summary>
    /// Contracts a job over the cluster. Chunks for which <paramref name="finished"/> holds (from an interrupted run's
    /// record) are not contracted again; <paramref name="onChunk"/> hears of every chunk as it finishes, in completion
    /// order, one at a time.
    /// </summary>
    public async Task<ClusterRun> Run(byte[] job, Func<long, bool>? finished = null,
        Action<ChunkDone>? onChunk = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var hash = JobCache.HashOf(job);
        var workers = new Dictionary<string, Worker>();
        var ops = new List<Op>();
        var pending = new SortedSet<long>();
        JobInfo? info = null;
        double[]?[] results = [];
        long remaining = long.MaxValue, skipped = 0;
        int elements = 0;
        Task<Dictionary<SiloAddress, SiloStatus>>? refresh = null;
        var nextRefresh = TimeSpan.Zero;
        var refreshSince = TimeSpan.Zero;
        int questions = 0, refreshQuestion = 0;
        var idleSince = clock.Elapsed;
        Exception? lastFailure = null;
        var failedAt = TimeSpan.Zero;
        // When a call (a batch, an opening, a membership question) last had its answer.
        var answered = clock.Elapsed;
        // The calls sent since the client last lost a gateway connection: cancelled together at the next loss.
        var losses = client.ServiceProvider.GetService<GatewayLosses>();
        var lossesSeen = losses?.Count ?? 0;
        var crossing = new CancellationTokenSource();
        // Workers whose overdue batches were still unanswered at the end (a silent machine): reported lost.
        var stranded = new HashSet<Worker>();

        void Lose(Worker worker)
        {
            if (worker.Lost) return;
            worker.Lost = true;
            foreach (var op in ops.Where(o => o.Worker == worker && o.Chunks is not null && !o.Orphaned))
            {
                op.Orphaned = true;
                foreach (var c in op.Chunks!) if (results[c] is null) pending.Add(c);
            }
        }

        void Accept(JobInfo reported, Worker worker)
        {
            if (info is null)
            {
                if (reported.Hash != hash)
                    throw new ClusterRunException($"worker {worker.Key} reports job {reported.Hash}, not {hash}");
                info = reported;
                results = new double[]?[info.Chunks];
                elements = checked((int)info.Shape.Aggregate(1L, (a, b) => a * b));
                for (long c = 0; c < info.Chunks; c++)
                    if (finished?.Invoke(c) == true) skipped++;
                    else pending.Add(c);
                remaining = info.Chunks - skipped;
            }
            else if (reported.Slices != info.Slices || reported.ChunkSize != info.ChunkSize || !reported.Shape.SequenceEqual(info.Shape))
                throw new ClusterRunException($"worker {worker.Key} opened the job as {reported.Slices} slices by {reported.ChunkSize}, others as {info.Slices} by {info.ChunkSize}");
            worker.Ready = true;
        }

        Op Open(Worker worker)
        {
            var call = crossing.Token;
            return new Op(worker, null, Opening(), call);
            async Task<JobInfo> Opening() => await worker.Grain.Describe(hash, call) ?? await worker.Grain.Load(job, call);
        }

        try
        {
            while (remaining > 0)
            {
                cancel.ThrowIfCancellationRequested();
                if (losses is not null && losses.Count != lossesSeen)
                {
                    // A gateway connection closed. Orleans fails no call that crossed it, though a request its silo had
                    // not passed on, or an answer on its way back through it, is lost: the call would wait out the
                    // response timeout. Which calls crossed it is not known: all those in flight are cancelled (their
                    // tasks end at once) and sent again, through the gateways left; their workers keep their place.
                    lossesSeen = losses.Count;
                    var lost = crossing;
                    crossing = new CancellationTokenSource();
                    lost.Cancel();
                    if (refresh is not null)
                    {
                        Abandon(refresh);
                        refresh = null;
                    }
                }
                if (refresh is { IsCompleted: false } && clock.Elapsed - refreshSince > 10 * options.RefreshEvery + TimeSpan.FromSeconds(5))
                {
                    // A gateway that went away can leave the question unanswered: ask again (through another).
                    Abandon(refresh);
                    refresh = null;
                }
                if (refresh is null && clock.Elapsed >= nextRefresh)
                {
                    refresh = client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
                    refreshSince = clock.Elapsed;
                    refreshQuestion = ++questions;
                }

                var live = workers.Values.Where(w => !w.Lost).ToList();
                if (info is not null)
                {
                    var ready = live.Where(w => w.Ready).ToList();
                    foreach (var worker in ready.Where(w => w.Doubted == 0 && clock.Elapsed >= w.SuspectUntil))
                        while (worker.InFlight < options.BatchesInFlight && pending.Count > 0)
                        {
                            var batch = pending.Take(BatchSize(worker, pending.Count, ready.Count)).ToArray();
                            foreach (var c in batch) pending.Remove(c);
                            worker.InFlight++;
                            ops.Add(new Op(worker, batch, worker.Grain.Contract(hash, batch, options.Threads, crossing.Token), crossing.Token, clock.Elapsed));
                        }
                }

                if (clock.Elapsed - answered > options.WaitForWorkers)
                    // A gateway that stops answering without closing its connections (its machine frozen or cut off)
                    // fails no call: with no other gateway, every call waits on it.
                    throw new ClusterRunException(lastFailure is not null && failedAt > answered
                        ? $"nothing has answered for {options.WaitForWorkers.TotalSeconds:0} s; the last failure: {FirstLine(lastFailure)}"
                        : $"nothing has answered for {options.WaitForWorkers.TotalSeconds:0} s (a gateway that stopped without closing its connections?); give the client several gateways", lastFailure);
                if (live.Any(w => w.Failures < options.FailingAfter)) idleSince = clock.Elapsed;
                else if (clock.Elapsed - idleSince > options.WaitForWorkers)
                    throw new ClusterRunException(live.Count == 0
                        ? $"no worker has been active for {options.WaitForWorkers.TotalSeconds:0} s"
                        : $"the calls to every worker have failed for {options.WaitForWorkers.TotalSeconds:0} s (the last: {FirstLine(lastFailure)})", lastFailure);

                var waits = ops.Where(o => !o.Task.IsCompleted).Select(o => o.Task).ToList();
                if (refresh is not null) waits.Add(refresh);
                if (losses is not null) waits.Add(losses.Next);
                // Never wait past a refresh period: calls to a silo that died may stay unanswered.
                waits.Add(Task.Delay(options.RefreshEvery, cancel));
                if (ops.All(o => !o.Task.IsCompleted)) await Task.WhenAny(waits);
                cancel.ThrowIfCancellationRequested();

                if (refresh is { IsCompleted: true })
                {
                    var asked = refresh;
                    refresh = null;
                    nextRefresh = clock.Elapsed + options.RefreshEvery;
                    if (asked.IsCompletedSuccessfully)
                    {
                        answered = clock.Elapsed;
                        var active = asked.Result.Keys.Select(s => s.ToParsableString()).ToHashSet();
                        foreach (var worker in workers.Values.Where(w => !w.Lost && !active.Contains(w.Key)).ToList()) Lose(worker);
                        foreach (var worker in workers.Values.Where(w => !w.Lost && w.Doubted != 0 && w.Doubted <= refreshQuestion))
                        {
                            worker.Doubted = 0;
                            if (worker.Reopen) ops.Add(Open(worker));
                            worker.Reopen = false;
                        }
                        foreach (var key in active.Where(k => !workers.ContainsKey(k)))
                        {
                            var worker = new Worker(key, client.GetGrain<IWorkerGrain>(key));
                            workers.Add(key, worker);
                            ops.Add(Open(worker));
                        }
                    }
                    else if (Fatal(asked.Exception!.InnerException!)) throw Refused(asked.Exception.InnerException!, "the cluster");
                    else
                    {
                        lastFailure = asked.Exception.InnerException;
                        failedAt = clock.Elapsed;
                    }
                }

                foreach (var op in ops.Where(o => o.Task.IsCompleted).ToList())
                {
                    ops.Remove(op);
                    var worker = op.Worker;
                    if (op.Chunks is not null && !op.Orphaned) worker.InFlight--;
                    if (!op.Task.IsCompletedSuccessfully)
                    {
                        if (op.Call.IsCancellationRequested && (op.Task.IsCanceled || op.Task.Exception!.InnerException is OperationCanceledException))
                        {
                            // Cancelled when a gateway was lost: sent again.
                            if (op.Chunks is null && !worker.Lost) ops.Add(Open(worker));
                            else if (op.Chunks is not null && !op.Orphaned) foreach (var c in op.Chunks) if (results[c] is null) pending.Add(c);
                            continue;
                        }
                        var error = op.Task.Exception!.InnerException!;
                        if (Fatal(error)) throw Refused(error, $"worker {worker.Key}");
                        if (op.Chunks is not null && !op.Orphaned) foreach (var c in op.Chunks) if (results[c] is null) pending.Add(c);
                        // Lost if the cluster no longer lists its silo; else it gets work again, however often it failed:
                        // a silo that died and is not yet declared dead fails calls to live workers too (the grain
                        // directory entries it held), and losing those for good could leave no worker. (The calls out
                        // at once fail as one.)
                        lastFailure = error;
                        failedAt = clock.Elapsed;
                        if (worker.Doubted == 0) worker.Failures++;
                        worker.Doubted = questions + 1;
                        worker.Reopen |= op.Chunks is null;
                        continue;
                    }
                    worker.Failures = 0;
                    answered = clock.Elapsed;
                    if (op.Chunks is null)
                    {
                        if (!worker.Lost) Accept(((Task<JobInfo>)op.Task).Result, worker);
                        continue;
                    }
                    var batch = ((Task<BatchResult?>)op.Task).Result;
                    if (batch is null)
                    {
                        // The silo released the job (another client's jobs pushed it out): send it again.
                        if (!op.Orphaned) foreach (var c in op.Chunks) if (results[c] is null) pending.Add(c);
                        if (!worker.Lost && worker.Ready)
                        {
                            worker.Ready = false;
                            ops.Add(Open(worker));
                        }
                        continue;
                    }
                    if (batch.Values.Length != op.Chunks.Length)
                        throw new ClusterRunException($"worker {worker.Key} returned {batch.Values.Length} chunks for {op.Chunks.Length}");
                    long slices = 0;
                    for (var i = 0; i < op.Chunks.Length; i++)
                    {
                        var c = op.Chunks[i];
                        if (batch.Values[i].Length != elements)
                            throw new ClusterRunException($"worker {worker.Key} returned {batch.Values[i].Length} values for chunk {c}, not {elements}");
                        slices += SlicesOf(info!, c);
                        if (results[c] is not null) continue;
                        results[c] = batch.Values[i];
                        pending.Remove(c);
                        remaining--;
                        onChunk?.Invoke(new ChunkDone(c, batch.Values[i], worker.Key));
                    }
                    worker.Chunks += op.Chunks.Length;
                    worker.Slices += slices;
                    worker.Seconds += batch.Seconds;
                    worker.StepRuns += batch.StepRuns;
                    worker.Flops += batch.Flops;
                    worker.SecondsPerChunk = worker.Seconds / worker.Chunks;
                }

                // Overdue batches: their chunks go to the others as well (see SchedulerOptions.OverdueFactor).
                var rates = workers.Values.Where(w => !double.IsNaN(w.SecondsPerChunk)).Select(w => w.SecondsPerChunk).ToList();
                foreach (var op in ops.Where(o => o.Chunks is not null && !o.Orphaned && !o.Task.IsCompleted && !o.Worker.Lost))
                {
                    var rate = double.IsNaN(op.Worker.SecondsPerChunk) ? rates.DefaultIfEmpty(double.NaN).Average() : op.Worker.SecondsPerChunk;
                    if (double.IsNaN(rate))
                        continue;
                    var due = TimeSpan.FromSeconds(Math.Max(options.OverdueAfter.TotalSeconds, options.OverdueFactor * rate * op.Chunks!.Length));
                    if (clock.Elapsed - op.Sent <= due)
                        continue;
                    op.Orphaned = true;
                    op.Worker.InFlight--;
                    op.Worker.SuspectUntil = clock.Elapsed + due;
                    foreach (var c in op.Chunks!) if (results[c] is null) pending.Add(c);
                }
            }
        }
        finally
        {
            stranded.UnionWith(ops.Where(o => o.Chunks is not null && o.Orphaned && !o.Task.IsCompleted && !o.Worker.Lost).Select(o => o.Worker));
            // Calls still out (a batch sent to another worker as well, one lost with a gateway) are not waited for: a
            // worker skips those it has not started, and Orleans drops their callbacks instead of keeping them 12 h.
            crossing.Cancel();
            foreach (var op in ops) Abandon(op.Task);
            if (refresh is not null) Abandon(refresh);
        }

        // Which workers are there at the end: each not yet lost is asked (Describe, answered even while a batch runs)
        // until it answers or ClosingCheck has passed; the ones that hold the job are told to release it meanwhile. A
        // worker killed after its last batch, before the cluster declared it dead, answers neither.
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        closing.CancelAfter(ClosingCheck);
        var checks = workers.Values.Where(w => !w.Lost).ToDictionary(w => w, w => Answers(w, hash, closing.Token));
        var forget = workers.Values.Where(w => w.Ready && !w.Lost).Select(w => w.Grain.Forget(hash)).ToArray();
        foreach (var told in forget) Abandon(told);
        await Task.WhenAll(checks.Values);
        cancel.ThrowIfCancellationRequested();
        try { await Task.WhenAll(forget).WaitAsync(closing.Token); }
        catch (Exception e) when (e is not OperationCanceledException || !cancel.IsCancellationRequested) { /* a worker that cannot be told keeps the job until a newer one replaces it */ }

        // Lost: out of reach at the end. The cluster no longer listed it, or its calls were still failing (a dead worker
        // the cluster has not yet declared dead, such as a primary, which no one can declare dead), or an overdue batch
        // of its was still unanswered (a machine gone silent): its unfinished chunks went to the others; or it did not
        // answer the closing question. Its chunks and slices are what it finished, lost or not.
        var reports = workers.Values.Select(w => new WorkerReport(w.Key, w.Chunks, w.Slices, w.Seconds,
            w.Lost || w.Failures >= options.FailingAfter || stranded.Contains(w) || !checks[w].Result, w.StepRuns, w.Flops)).ToList();
        return new ClusterRun(info!, skipped == 0 ? ChunkSum.InOrder(results!) : null, reports, clock.Elapsed.TotalSeconds, skipped);
    }

    /// <summary>How long the closing question to every worker may take (<see cref="WorkerReport.Lost"/>).</summary>
    private static readonly TimeSpan ClosingCheck = TimeSpan.FromSeconds(5);

    // Whether the worker answers before the closing check's time is up; a call that fails (its gateway gone, its silo
    // refusing the connection) is asked again.
    private static async Task<bool> Answers(Worker worker, string hash, CancellationToken within)
    {
        while (!within.IsCancellationRequested)
        {
            try
            {
                await worker.Grain.Describe(hash, within).WaitAsync(within);
                return true;
            }
            catch (Exception) when (!within.IsCancellationRequested)
            {
                try { await Task.Delay(TimeSpan.FromMilliseconds(200), within); }
                catch (OperationCanceledException) { }
            }
            catch (Exception)
            {
            }
        }
        return false;
    }

    private int BatchSize(Worker worker, int pending, int ready)
    {
        var wanted = double.IsNaN(worker.SecondsPerChunk) ? 1
            : worker.SecondsPerChunk <= 0 ? options.MaxBatchChunks
            : Math.Clamp(options.TargetBatchSeconds / worker.SecondsPerChunk, 1, options.MaxBatchChunks);
        // Towards the end, smaller batches so that no worker is left holding the tail alone.
        var share = Math.Max(1, pending / Math.Max(1, ready * options.BatchesInFlight));
        return (int)Math.Min(wanted, share);
    }

    private static long SlicesOf(JobInfo job, long chunk) =>
        Math.Min((chunk + 1) * job.ChunkSize, job.Slices) - chunk * job.ChunkSize;

    // A worker that is gone or unreachable loses its batches to the others; anything else (a refused secret, a bad
    // job, an error in the contraction itself) would fail the same way everywhere, so the run stops.
    // A call no longer waited for: its failure, if it fails, is observed (not an unobserved task exception).
    private static void Abandon(Task call) => _ = call.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);

    private static bool Fatal(Exception error) => error is not (OrleansException or TimeoutException or ObjectDisposedException);

    private static ClusterRunException Refused(Exception error, string who) =>
        error is UnauthorizedAccessException
            ? new ClusterRunException($"{who} refused the client: it does not hold this cluster's secret ({ClusterSecret.Variable} or --secret-file)", error)
            : new ClusterRunException($"{who} failed: {FirstLine(error)}", error);

    // An error's message up to its first line break: the run's error is one line (Orleans' messages may go on with
    // " ---> " and their inner exceptions).
    private static string FirstLine(Exception? error) => error?.Message.Split('\n', 2)[0].TrimEnd() ?? "";
}

/// <summary>The one order in which chunk results are added: chunk 0, then 1, 2, ... elementwise, in float64.</summary>
public static class ChunkSum
{
    /// <summary>The sum of the chunk results, added in chunk order.</summary>
    public static double[] InOrder(IReadOnlyList<double[]> chunks)
    {
        if (chunks.Count == 0) throw new ArgumentException("a job has at least one chunk", nameof(chunks));
        var sum = (double[])chunks[0].Clone();
        for (var c = 1; c < chunks.Count; c++)
        {
            var chunk = chunks[c];
            for (var i = 0; i < sum.Length; i++) sum[i] += chunk[i];
        }
        return sum;
    }
}
