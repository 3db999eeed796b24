using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace TnDsl.Cluster;

/// <summary>
/// What a worker's or a client's console shows. By default: one line per event, from TnDsl's own categories (a peer
/// worker joined, left or was lost: <see cref="MembershipReporter"/>; a job refused; a batch failed) at information and
/// above, and Orleans' errors as one line each with the exception's message; no stack traces. Orleans reports a peer's
/// death from every side at once (refused connections, missed probes, undeliverable messages, retried placements,
/// cancellations that cannot be delivered: up to about 100 lines, each with a stack trace, on a survivor per death), mostly
/// warnings, and its errors there reach their callers as failed calls, which the client handles: the categories that
/// log them (<see cref="PeerLossCategories"/>) show only critical events by default. Verbose (<c>tn worker --verbose</c> or <see cref="VerboseVariable"/>):
/// every category at warnings and above, with a time, the category, the event id and the full exception.
/// </summary>
public static class ClusterLogging
{
    /// <summary>The environment variable that makes a worker's and a client's logging verbose (any value but empty or <c>0</c>).</summary>
    public const string VerboseVariable = "TN_CLUSTER_VERBOSE";

    /// <summary>Whether <see cref="VerboseVariable"/> asks for verbose logging.</summary>
    public static bool VerboseFromEnvironment => Environment.GetEnvironmentVariable(VerboseVariable) is { Length: > 0 } value && value != "0";

    /// <summary>The category prefix of TnDsl's own cluster logging (<c>TnDsl.Cluster.*</c>).</summary>
    public const string OwnCategory = "TnDsl";

    /// <summary>
    /// Orleans' categories (and Polly's, which Orleans uses to retry placements) that log a peer's death, each with a
    /// stack trace, though the callers concerned are told by a failed call: shown at default verbosity only when
    /// critical. (Membership errors stay visible: they say that the primary, which keeps the membership, is gone.)
    /// </summary>
    public static readonly IReadOnlyList<string> PeerLossCategories =
    [
        "Orleans.Messaging",                               // undeliverable messages, rejections discarded
        "Orleans.Runtime.GrainCallCancellationManager",    // cancellations sent to a dead silo
        "Orleans.Runtime.GrainDirectory.ClientDirectory",  // client routing tables sent to a dead silo
        "Polly",                                           // placement retries towards a dead silo
    ];

    /// <summary>
    /// The level filters (for every provider): by default TnDsl's categories at information, the rest at errors, the
    /// <see cref="PeerLossCategories"/> critical only; verbose, everything at warnings.
    /// </summary>
    public static ILoggingBuilder AddTnFilters(this ILoggingBuilder logging, bool verbose)
    {
        if (verbose) return logging.SetMinimumLevel(LogLevel.Warning).AddFilter(OwnCategory, LogLevel.Information);
        logging.SetMinimumLevel(LogLevel.Error).AddFilter(OwnCategory, LogLevel.Information);
        foreach (var category in PeerLossCategories) logging.AddFilter(category, LogLevel.Critical);
        return logging;
    }

    /// <summary>
    /// The filters and the console, in <see cref="Line"/>'s format; warnings and errors go to the error stream, the
    /// rest to the output (everything to the error stream where <paramref name="allToError"/>: a client's output is
    /// its result).
    /// </summary>
    public static ILoggingBuilder AddTnConsole(this ILoggingBuilder logging, bool verbose, bool allToError)
    {
        logging.ClearProviders().AddTnFilters(verbose);
        logging.AddConsole(o =>
        {
            o.FormatterName = TnConsoleFormatter.Name;
            o.LogToStandardErrorThreshold = allToError ? LogLevel.Trace : LogLevel.Warning;
        });
        logging.AddConsoleFormatter<TnConsoleFormatter, TnConsoleFormatterOptions>(o => o.Verbose = verbose);
        return logging;
    }

    /// <summary>
    /// One logged event as the console shows it. By default one line: TnDsl's own information as it is, anything else
    /// after its level, an exception as its type and the first line of its message. Verbose: a time, the level, the
    /// category and event id, the message, and the exception with its stack trace on the lines after.
    /// </summary>
    public static string Line(LogLevel level, string category, EventId id, string message, Exception? error, bool verbose)
    {
        if (verbose)
            return $"{DateTime.UtcNow:HH:mm:ss.fff} {LevelName(level)}: {category}[{id.Id}] {message}{(error is null ? "" : Environment.NewLine + error)}";
        var text = level <= LogLevel.Information && category.StartsWith(OwnCategory, StringComparison.Ordinal) ? message : $"{LevelName(level)}: {message}";
        if (error is not null)
        {
            var first = error.Message.Split('\n', 2)[0].TrimEnd();
            // TnDsl's own messages name the error's message already.
            if (!text.Contains(first, StringComparison.Ordinal)) text += $" ({error.GetType().Name}: {first})";
        }
        return text.ReplaceLineEndings(" ");
    }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Critical => "critical",
        LogLevel.Error => "error",
        LogLevel.Warning => "warning",
        LogLevel.Information => "info",
        _ => "debug",
    };
}

/// <summary>Options of <see cref="TnConsoleFormatter"/>: verbose or not.</summary>
public sealed class TnConsoleFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>Full detail (<see cref="ClusterLogging.Line"/>).</summary>
    public bool Verbose { get; set; }
}

/// <summary>The console formatter of <see cref="ClusterLogging.AddTnConsole"/>: each event as <see cref="ClusterLogging.Line"/> writes it.</summary>
public sealed class TnConsoleFormatter(IOptionsMonitor<TnConsoleFormatterOptions> options) : ConsoleFormatter(Name)
{
    /// <summary>The formatter's name.</summary>
    public new const string Name = "tn";

    /// <inheritdoc/>
    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopes, TextWriter writer)
    {
        var message = entry.Formatter(entry.State, entry.Exception);
        if (string.IsNullOrEmpty(message) && entry.Exception is null) return;
        writer.WriteLine(ClusterLogging.Line(entry.LogLevel, entry.Category, entry.EventId, message, entry.Exception, options.CurrentValue.Verbose));
    }
}

/// <summary>
/// Tells a worker's console, in one line each, when another worker joins the cluster, leaves it (stopped) or is lost
/// (declared dead by the cluster: it stopped answering the others' probes). A participant in the silo's lifecycle,
/// watching Orleans' membership from the silo's activation to its stop.
/// </summary>
public sealed class MembershipReporter(IClusterMembershipService membership, ILocalSiloDetails local, ILogger<MembershipReporter> log)
    : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource stop = new();
    private Task watching = Task.CompletedTask;

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MembershipReporter), ServiceLifecycleStage.Active, _ =>
        {
            watching = Task.Run(Watch);
            return Task.CompletedTask;
        }, async cancel =>
        {
            stop.Cancel();
            try { await watching.WaitAsync(cancel); }
            catch (OperationCanceledException) { /* the silo stops without waiting for the watch */ }
        });

    private async Task Watch()
    {
        var previous = membership.CurrentSnapshot;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stop.Token))
            {
                if (snapshot.Version <= previous.Version) continue;
                foreach (var change in snapshot.CreateUpdate(previous).Changes)
                    Report(change.SiloAddress, previous.GetSiloStatus(change.SiloAddress), change.Status);
                previous = snapshot;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            log.LogError(e, "this worker no longer hears of other workers joining or leaving: {Message}", e.Message);
        }
    }

    private void Report(SiloAddress silo, SiloStatus before, SiloStatus now)
    {
        if (silo.Equals(local.SiloAddress)) return;
        if (Line(silo.Endpoint, before, now) is { } line) log.LogInformation("{Line}", line);
    }

    /// <summary>
    /// The line for another worker's change of status in the cluster's membership, or <c>null</c> for none: joined
    /// (active), left (dead after it announced that it was stopping), lost (dead without a word: the others declared it
    /// dead when it stopped answering their probes).
    /// </summary>
    public static string? Line(System.Net.IPEndPoint worker, SiloStatus before, SiloStatus now) => (before, now) switch
    {
        (SiloStatus.ShuttingDown or SiloStatus.Stopping, SiloStatus.Dead) =>
            $"worker {worker} left the cluster (stopped); a client's unfinished chunks on it go to the other workers",
        (SiloStatus.Active or SiloStatus.Joining, SiloStatus.Dead) =>
            $"worker {worker} lost: the cluster declared it dead (it stopped answering); a client's unfinished chunks on it go to the other workers",
        (not SiloStatus.Active, SiloStatus.Active) => $"worker {worker} joined",
        _ => null,
    };
}
