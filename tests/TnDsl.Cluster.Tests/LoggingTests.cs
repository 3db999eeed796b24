using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;
using Xunit;

namespace TnDsl.Cluster.Tests;

/// <summary>
/// Silos whose logging goes through <see cref="ClusterLogging"/>'s filters into a list per silo, each event written as
/// the console writes it (<see cref="ClusterLogging.Line"/>): default verbosity, or verbose for the silos named in
/// <see cref="Verbose"/>.
/// </summary>
public sealed class LoggedSilo : IHostConfigurator
{
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<string>> lines = new();

    /// <summary>The names of the silos (as the test cluster names them) that log verbosely.</summary>
    public static IReadOnlySet<string> Verbose { get; set; } = new HashSet<string>();

    /// <summary>What silo <paramref name="name"/> has logged so far, one entry per event.</summary>
    public static string[] Of(string name) => lines.TryGetValue(name, out var queue) ? [.. queue] : [];

    /// <summary>Waits until silo <paramref name="name"/> has logged an event that <paramref name="wanted"/> accepts.</summary>
    public static async Task Until(string name, Func<string, bool> wanted, string what)
    {
        var waiting = Task.Run(async () =>
        {
            while (!Of(name).Any(wanted)) await Task.Delay(50);
        });
        try { await waiting.Within(what); }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}; {name} logged:{Environment.NewLine}{string.Join(Environment.NewLine, Of(name))}"); }
    }

    public static void Clear() => lines.Clear();

    public void Configure(IHostBuilder host)
    {
        var name = ((IConfiguration)host.Properties["Configuration"])["Orleans:Name"]!;
        var verbose = Verbose.Contains(name);
        var queue = lines.GetOrAdd(name, _ => new ConcurrentQueue<string>());
        host.ConfigureLogging(logging => logging.AddTnFilters(verbose).AddProvider(new Capture(queue, verbose)));
    }

    private sealed class Capture(ConcurrentQueue<string> queue, bool verbose) : ILoggerProvider
    {
        public ILogger CreateLogger(string category) => new Named(queue, verbose, category);

        public void Dispose() { }

        private sealed class Named(ConcurrentQueue<string> queue, bool verbose, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel level) => true;

            public void Log<TState>(LogLevel level, EventId id, TState state, Exception? error, Func<TState, Exception?, string> formatter) =>
                queue.Enqueue(ClusterLogging.Line(level, category, id, formatter(state, error), error, verbose));
        }
    }
}

/// <summary>What a worker's console says (<see cref="ClusterLogging"/>), through the filters and format of tn worker.</summary>
public sealed class LoggingTests
{
    private static bool HasStackTrace(string line) => line.Contains("   at ", StringComparison.Ordinal);

    private static string Listing(string[] lines) => string.Join(Environment.NewLine, lines);

    [Fact]
    public async Task a_peer_leaving_is_one_line_on_a_survivors_console_by_default_and_in_the_verbose_format_when_verbose()
    {
        // bench/cluster-crash.sh: a tn worker killed made every survivor print about 100 of Orleans' warnings and
        // errors, each with its stack trace (refused connections, missed probes, undeliverable messages, retried
        // placements). A silo killed in process still announces that it stops, so the survivors say it left and
        // Orleans has little to warn of (a killed process: RobustnessTests in TnDsl.Cli.Tests); what this pins is the
        // filters and the format of tn worker on a silo. The primary logs at default verbosity, one secondary
        // verbosely; the other is killed.
        LoggedSilo.Clear();
        LoggedSilo.Verbose = new HashSet<string> { "Secondary_2" };
        var cluster = await TestClusters.Start(3, b => b.AddSiloBuilderConfigurator<LoggedSilo>());
        try
        {
            var plain = cluster.Primary!;
            var verbose = cluster.Silos.Single(s => LoggedSilo.Verbose.Contains(s.Name));
            var victim = cluster.SecondarySilos.Single(s => s != verbose);
            // A silo killed in process still tells the cluster it stops (left); a killed process does not (lost).
            var lost = $"worker {victim.SiloAddress.Endpoint} l";
            await cluster.KillSiloAsync(victim).Within("killing a silo");
            await LoggedSilo.Until(plain.Name, l => l.StartsWith(lost, StringComparison.Ordinal), "the primary's line on the lost worker");
            await LoggedSilo.Until(verbose.Name, l => l.Contains(lost, StringComparison.Ordinal), "the verbose silo's line on the lost worker");

            var plainLines = LoggedSilo.Of(plain.Name);
            Assert.Single(plainLines, l => l.Contains(lost, StringComparison.Ordinal));
            Assert.All(plainLines, l => Assert.False(l.Contains('\n') || HasStackTrace(l), $"a line with detail at default verbosity:{Environment.NewLine}{Listing(plainLines)}"));
            // Only TnDsl's own lines (joined, left) here: none of Orleans' warnings (its start-up notes included), no error.
            Assert.All(plainLines, l => Assert.StartsWith("worker ", l));

            // Verbose: with the time, level, category and Orleans' warnings (its start-up notes at least).
            var verboseLines = LoggedSilo.Of(verbose.Name);
            Assert.Contains(verboseLines, l => l.Contains($"info: {typeof(MembershipReporter).FullName}[0] {lost}", StringComparison.Ordinal));
            Assert.Contains(verboseLines, l => l.Contains(" warning: Orleans.", StringComparison.Ordinal));
        }
        finally
        {
            LoggedSilo.Verbose = new HashSet<string>();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public async Task a_job_a_worker_cannot_open_is_one_line_with_its_message_by_default_and_its_stack_trace_when_verbose()
    {
        LoggedSilo.Clear();
        LoggedSilo.Verbose = new HashSet<string> { "Secondary_1" };
        var cluster = await TestClusters.Start(2, b => b.AddSiloBuilderConfigurator<LoggedSilo>());
        try
        {
            var garbage = "not a job"u8.ToArray();
            foreach (var silo in cluster.Silos)
            {
                var worker = cluster.Client.GetGrain<IWorkerGrain>(silo.SiloAddress.ToParsableString());
                await Assert.ThrowsAsync<InvalidDataException>(() => worker.Load(garbage).Within("loading a job that is none"));
            }
            var plain = LoggedSilo.Of(cluster.Primary!.Name).Where(l => l.Contains("could not be opened", StringComparison.Ordinal)).ToArray();
            var line = Assert.Single(plain);
            Assert.StartsWith("warning: a client's job could not be opened: ", line);
            Assert.False(line.Contains('\n') || HasStackTrace(line), line);
            var verbose = LoggedSilo.Of(cluster.SecondarySilos.Single().Name).Where(l => l.Contains("could not be opened", StringComparison.Ordinal)).ToArray();
            Assert.True(HasStackTrace(Assert.Single(verbose)), Listing(verbose));
        }
        finally
        {
            LoggedSilo.Verbose = new HashSet<string>();
            await TestClusters.Stop(cluster);
        }
    }

    [Fact]
    public void a_worker_dead_without_a_word_is_lost_one_that_announced_its_stop_left_and_an_active_one_joined()
    {
        var worker = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.0.0.2"), 11112);
        Assert.StartsWith("worker 10.0.0.2:11112 lost: ", MembershipReporter.Line(worker, SiloStatus.Active, SiloStatus.Dead));
        Assert.StartsWith("worker 10.0.0.2:11112 left ", MembershipReporter.Line(worker, SiloStatus.ShuttingDown, SiloStatus.Dead));
        Assert.StartsWith("worker 10.0.0.2:11112 left ", MembershipReporter.Line(worker, SiloStatus.Stopping, SiloStatus.Dead));
        Assert.Equal("worker 10.0.0.2:11112 joined", MembershipReporter.Line(worker, SiloStatus.Joining, SiloStatus.Active));
        // An old entry of the membership table, dead before this worker saw it, and a status in between: no line.
        Assert.Null(MembershipReporter.Line(worker, SiloStatus.None, SiloStatus.Dead));
        Assert.Null(MembershipReporter.Line(worker, SiloStatus.Active, SiloStatus.ShuttingDown));
    }

    [Fact]
    public void a_line_at_default_verbosity_is_one_line_with_the_exceptions_first_line_and_verbose_has_the_stack_trace()
    {
        Exception thrown;
        try { throw new InvalidOperationException("first\nsecond"); }
        catch (Exception e) { thrown = e; }
        var plain = ClusterLogging.Line(LogLevel.Error, "Orleans.Runtime.Catalog", new EventId(7), "it failed", thrown, verbose: false);
        Assert.Equal("error: it failed (InvalidOperationException: first)", plain);
        var own = ClusterLogging.Line(LogLevel.Information, "TnDsl.Cluster.MembershipReporter", default, "worker 10.0.0.2:11111 joined", null, verbose: false);
        Assert.Equal("worker 10.0.0.2:11111 joined", own);
        var full = ClusterLogging.Line(LogLevel.Error, "Orleans.Runtime.Catalog", new EventId(7), "it failed", thrown, verbose: true);
        Assert.Contains("error: Orleans.Runtime.Catalog[7] it failed", full);
        Assert.True(HasStackTrace(full), full);
    }
}
