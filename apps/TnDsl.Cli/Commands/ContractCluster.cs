namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TnDsl.Cluster;
using TnDsl.Torch;

/// <summary>
/// <c>tn contract ... --cluster HOST[:PORT],... [--secret-file FILE]</c>: the chunks of the job contracted by the
/// workers of a cluster (<c>tn worker</c>) instead of in this process, through the same resume record, so that the
/// value has the bits of a run on one machine. The options and the run live here; <see cref="ContractCommand"/> calls in.
/// </summary>
public static class ContractCluster
{
    /// <summary>Where a client's chunks go: the gateways of the cluster and its secret.</summary>
    public sealed record Target(IReadOnlyList<IPEndPoint> Gateways, ClusterSecret Secret);

    /// <summary><c>--cluster</c>: the gateways of a cluster's workers.</summary>
    public static Option<string> Cluster() => new("--cluster")
    {
        Description = $"contract on the workers of a cluster (tn worker) through their gateways (default port {ClusterHosting.DefaultGatewayPort}), each chunk with this command's --threads; needs the cluster's secret",
        HelpName = "HOST[:PORT],...",
    };

    /// <summary><c>--secret-file</c>: the cluster's secret, for <c>--cluster</c>.</summary>
    public static Option<string> SecretFile() => new("--secret-file")
    {
        Description = $"a file holding the cluster's secret, with --cluster [default: ${ClusterSecret.Variable}]",
        HelpName = "FILE",
    };

    /// <summary>The target named by the options, or <c>null</c> without <c>--cluster</c>; a missing secret is a usage error.</summary>
    public static Target? From(ParseResult parse, Option<string> cluster, Option<string> secretFile)
    {
        if (parse.GetValue(cluster) is not { } gateways)
            return parse.GetValue(secretFile) is null ? null : throw new UsageException("--secret-file goes with --cluster");
        var secret = WorkerCommand.Secret(parse.GetValue(secretFile))
            ?? throw new UsageException($"--cluster needs the cluster's secret: set {ClusterSecret.Variable} or give --secret-file");
        return new Target(WorkerCommand.Endpoints(gateways, ClusterHosting.DefaultGatewayPort), secret);
    }

    /// <summary>How long the client tries to reach a gateway before it gives up.</summary>
    static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Contracts the record's unfinished chunks of <paramref name="job"/> on the cluster, each with
    /// <paramref name="threads"/> threads (the count this machine would use, so the bits are the same), adding each to the record as
    /// it arrives (and saving it every <paramref name="saveEvery"/> to <paramref name="resume"/>), calling
    /// <paramref name="progress"/> with the chunks finished; stops when <paramref name="interrupted"/> turns true.
    /// Returns what each worker did. A cluster that cannot be reached, refuses the secret or cannot finish throws
    /// <see cref="IOException"/> (one line, exit 1).
    /// </summary>
    public static IReadOnlyList<WorkerReport> Run(Target target, ContractionJob job, ContractionJobRecord record, int threads, string? resume,
        TimeSpan saveEvery, Action<long> progress, Func<bool> interrupted)
    {
        using var stop = new CancellationTokenSource();
        var saved = System.Diagnostics.Stopwatch.StartNew();
        var running = Task.Run(async () =>
        {
            // A gateway that never answers would keep the client retrying: the connection has a time limit.
            using var connecting = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
            connecting.CancelAfter(ConnectTimeout);
            IHost connected;
            try
            {
                connected = await ClusterHosts.Client(target.Gateways, target.Secret, connecting.Token, ClusterLogging.VerboseFromEnvironment);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                throw new TimeoutException($"no answer within {ConnectTimeout.TotalSeconds:0} s");
            }
            using var client = connected;
            try
            {
                var scheduler = new SliceScheduler(client.Services.GetRequiredService<IClusterClient>(), new SchedulerOptions { Threads = threads });
                var run = await scheduler.Run(job.ToBytes(), record.IsFinished, done =>
                {
                    record.Add(done.Chunk, done.Value);
                    progress(record.Finished);
                    if (resume is not null && saved.Elapsed >= saveEvery)
                    {
                        record.Save(resume);
                        saved.Restart();
                    }
                }, stop.Token);
                return run.Workers;
            }
            finally
            {
                await client.StopAsync(CancellationToken.None);
            }
        });
        // Waits without Task.Wait, which would throw a failure wrapped in an AggregateException past the handlers below.
        while (!((IAsyncResult)running).AsyncWaitHandle.WaitOne(200))
            if (interrupted()) stop.Cancel();
        try
        {
            return running.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return [];
        }
        catch (ClusterRunException e)
        {
            throw new IOException($"the cluster at {string.Join(",", target.Gateways)}: {e.Message}", e);
        }
        catch (Exception e) when (e is Orleans.Runtime.OrleansException or TimeoutException)
        {
            throw new IOException($"no worker answers at {string.Join(",", target.Gateways)} ({e.Message}); start one with tn worker", e);
        }
    }

    /// <summary>One line per worker of the run: its address, its chunks and slices, its rate, whether it was lost (out of reach at the end).</summary>
    public static void Report(TextWriter w, IReadOnlyList<WorkerReport> workers)
    {
        foreach (var r in workers.OrderBy(r => r.Worker, StringComparer.Ordinal))
            w.WriteLine($"  worker      {r.Worker}: {r.Chunks} chunks, {r.Slices} slices, {r.SlicesPerSecond:G4} slices/s{(r.Lost ? " (lost: out of reach at the end of the run; any unfinished chunks of its went to others)" : "")}");
    }
}
