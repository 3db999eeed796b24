namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using TnDsl.Cluster;
using static TorchSharp.torch;

/// <summary>
/// <c>tn worker --cluster HOST[:PORT] [--port N] [--gateway-port N] [--address IP] [--secret-file FILE] [--threads N] [--verbose]</c>:
/// an Orleans silo that contracts chunks of the jobs clients send (<c>tn contract FILE --cluster ...</c>), until Ctrl-C.
/// Its console says in one line when another worker joins, leaves or is lost, and any error in one line
/// (<see cref="ClusterLogging"/>); <c>--verbose</c> adds Orleans' warnings with their stack traces.
/// </summary>
public static class WorkerCommand
{
    /// <summary>The <c>worker</c> verb: prints the silo's and the gateway's addresses, then runs until interrupted.</summary>
    public static Command Create()
    {
        var cluster = new Option<string>("--cluster")
        {
            Description = $"the primary worker's silo address (default port {ClusterHosting.DefaultSiloPort}); the worker whose own address and port are these is the primary, which keeps the cluster's membership",
            HelpName = "HOST[:PORT]",
            Required = true,
        };
        var port = TnOptions.Int("--port", ClusterHosting.DefaultSiloPort, "the port this silo talks to other silos on", max: MaxPort);
        var gatewayPort = TnOptions.Int("--gateway-port", ClusterHosting.DefaultGatewayPort, "the port this silo accepts clients on", max: MaxPort);
        var address = new Option<string>("--address")
        {
            Description = "the address other machines reach this one at [default: the local address on the route to the primary]",
            HelpName = "IP",
        };
        var secretFile = new Option<string>("--secret-file")
        {
            Description = $"a file holding the cluster's secret (at least {ClusterSecret.MinimumBytes} bytes) [default: ${ClusterSecret.Variable}]",
            HelpName = "FILE",
        };
        var threads = TnOptions.ThreadCount("TorchSharp CPU threads for clients that do not ask for a count (tn contract asks for its own) [default: the core count]");
        var verbose = TnOptions.Flag("--verbose", $"log Orleans' warnings and errors in full, with stack traces (as does ${ClusterLogging.VerboseVariable}=1); by default one line per event: a worker joined, left or lost, an error");
        var command = new Command("worker", "run a worker of a cluster that contracts sliced networks for clients, until Ctrl-C")
        {
            cluster, port, gatewayPort, address, secretFile, threads, verbose,
        };
        Cli.SetAction(command, parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var secret = Secret(parse.GetValue(secretFile))
                ?? throw new UsageException($"a worker needs the cluster's secret: set {ClusterSecret.Variable} or give --secret-file");
            var primary = Endpoint(parse.GetRequiredValue(cluster), ClusterHosting.DefaultSiloPort);
            var own = parse.GetValue(address) is { } given ? Address(given) : ClusterHosting.LocalAddressTowards(primary.Address);
            var siloPort = parse.GetValue(port);
            var gateway = parse.GetValue(gatewayPort);
            RequireFreePorts(own, siloPort, gateway);
            NativeLoader.EnsureLoaded();
            if (parse.GetValue(threads) is { } n) set_num_threads(n);
            using var host = ClusterHosts.Worker(primary, own, siloPort, gateway, secret, new ContractionJobOpener(),
                parse.GetValue(verbose) || ClusterLogging.VerboseFromEnvironment);
            try
            {
                host.Start();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new IOException($"the worker could not join the cluster at {primary}: {e.Message}", e);
            }
            var role = primary.Equals(new IPEndPoint(own, siloPort)) ? "primary" : $"joined {primary}";
            output.WriteLine($"worker {own}:{siloPort} ({role}), clients at {own}:{gateway}, {get_num_threads()} thread{(get_num_threads() == 1 ? "" : "s")} by default; Ctrl-C stops it");
            output.WriteLine($"  client: tn contract FILE.tn --cluster {own}:{gateway}");
            output.Flush();
            host.WaitForShutdown();
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Throws an <see cref="IOException"/> when the silo's or the gateway's port is taken on this machine. Orleans binds
    /// its ports with SO_REUSEPORT, so a second worker on a running worker's ports started without a word, shared the
    /// ports with it and split the cluster in two (both called themselves primary). A probe bound without SO_REUSEPORT,
    /// where Orleans binds (<c>ClusterHosting.UseTnCluster</c>),
    /// fails on a port that anything listens on.
    /// </summary>
    static void RequireFreePorts(IPAddress own, int siloPort, int gatewayPort)
    {
        var at = IPAddress.IsLoopback(own) ? own : own.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
        foreach (var (port, option) in new[] { (siloPort, "--port"), (gatewayPort, "--gateway-port") })
        {
            using var probe = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            // SO_REUSEADDR alone (.NET's ReuseAddress adds SO_REUSEPORT on Linux): a port a stopped worker's connections
            // leave in TIME_WAIT is free, as it is to Orleans.
            if (OperatingSystem.IsLinux())
                probe.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            try
            {
                probe.Bind(new IPEndPoint(at, port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new IOException($"port {port} ({option}) is in use on this machine (by another tn worker?); give this worker free ports with --port and --gateway-port");
            }
        }
    }

    /// <summary>Linux's <c>SOL_SOCKET</c> and <c>SO_REUSEADDR</c>.</summary>
    const int SolSocket = 1, SoReuseAddr = 2;

    /// <summary>The largest TCP port.</summary>
    const int MaxPort = 65535;

    /// <summary>The secret from <c>--secret-file</c> or the environment; a short or unreadable one is a usage error.</summary>
    public static ClusterSecret? Secret(string? file)
    {
        try
        {
            return ClusterSecret.Find(file);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        catch (Exception e) when (file is not null && e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read --secret-file {file}: {(e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message)}");
        }
    }

    /// <summary>One <c>HOST[:PORT]</c>; a malformed one is a usage error.</summary>
    public static IPEndPoint Endpoint(string text, int defaultPort) => Endpoints(text, defaultPort)[0];

    /// <summary>Comma-separated <c>HOST[:PORT]</c>s; a malformed one is a usage error.</summary>
    public static IReadOnlyList<IPEndPoint> Endpoints(string text, int defaultPort)
    {
        try
        {
            return ClusterHosting.ParseEndpoints(text, defaultPort);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static IPAddress Address(string text)
    {
        try
        {
            return ClusterHosting.Resolve(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
