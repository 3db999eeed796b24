using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace TnDsl.Cluster;

/// <summary>
/// How silos and clients of a TnDsl cluster are set up. The cluster's membership is kept by its first worker, the
/// primary (Orleans' development clustering): every other worker joins it by address, clients connect to gateways.
/// Nothing else is needed (no database, no cloud account); the price is that the cluster lives as long as its primary.
/// </summary>
public static class ClusterHosting
{
    /// <summary>The cluster id and service id every TnDsl silo and client uses (the secret, not these, keeps others out).</summary>
    public const string ClusterId = "tndsl";

    /// <summary>The default port silos talk to each other on.</summary>
    public const int DefaultSiloPort = 11111;

    /// <summary>The default port a silo accepts clients on.</summary>
    public const int DefaultGatewayPort = 30000;

    /// <summary>The largest message (a job's bytes travel in one): 1 GiB instead of Orleans' 100 MiB.</summary>
    public const int MaxMessageBytes = 1 << 30;

    /// <summary>
    /// A worker's pieces on a silo, whatever its clustering: the worker grain's placement, the job cache with its
    /// opener, the secret's filters (incoming: refuse; outgoing: sign, for calls between silos), the message size and
    /// the one line logged when another worker joins, leaves or is lost (<see cref="MembershipReporter"/>).
    /// </summary>
    public static ISiloBuilder AddTnWorker(this ISiloBuilder silo, ClusterSecret secret, Func<IServiceProvider, ISliceWorkOpener> opener)
    {
        silo.AddPlacementDirector<SiloTargetedPlacement, SiloTargetedPlacementDirector>();
        silo.Services.AddSingleton(secret);
        silo.Services.AddSingleton(opener);
        silo.Services.AddSingleton<JobCache>();
        silo.Services.AddSingleton<MembershipReporter>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(services => services.GetRequiredService<MembershipReporter>());
        silo.Services.Configure<SiloMessagingOptions>(o =>
        {
            o.MaxMessageBodySize = MaxMessageBytes;
            // A batch is sized to about a second, but a single chunk of a large job can take far longer.
            o.ResponseTimeout = TimeSpan.FromHours(12);
        });
        silo.AddIncomingGrainCallFilter<ClusterSecretFilter>();
        silo.AddOutgoingGrainCallFilter<ClusterTokenFilter>();
        return silo;
    }

    /// <summary>
    /// A client's pieces: the secret's token on every call, the message size, a long response timeout, and the count of
    /// lost gateway connections (<see cref="GatewayLosses"/>) by which the scheduler sends again what crossed them.
    /// </summary>
    public static IClientBuilder AddTnClient(this IClientBuilder client, ClusterSecret secret)
    {
        client.Services.AddSingleton(secret);
        client.Services.AddSingleton<GatewayLosses>();
        client.AddGatewayCountChangedHandler(services => services.GetRequiredService<GatewayLosses>().OnGatewayCountChanged);
        client.Services.Configure<ClientMessagingOptions>(o =>
        {
            o.MaxMessageBodySize = MaxMessageBytes;
            o.ResponseTimeout = TimeSpan.FromHours(12);
        });
        client.AddOutgoingGrainCallFilter<ClusterTokenFilter>();
        return client;
    }

    /// <summary>
    /// A standalone worker silo: joins the cluster whose primary is <paramref name="primary"/> (or is it, when its own
    /// address and port are the primary's), listening on all interfaces and advertising <paramref name="address"/>.
    /// </summary>
    public static ISiloBuilder UseTnCluster(this ISiloBuilder silo, IPEndPoint primary, IPAddress address, int siloPort, int gatewayPort)
    {
        silo.UseDevelopmentClustering(primary);
        silo.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = ClusterId; });
        silo.ConfigureEndpoints(address, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(address));
        return silo;
    }

    /// <summary>A client of the cluster, through the given gateways.</summary>
    public static IClientBuilder UseTnCluster(this IClientBuilder client, IReadOnlyList<IPEndPoint> gateways)
    {
        client.UseStaticClustering(gateways.ToArray());
        client.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = ClusterId; });
        return client;
    }

    /// <summary>
    /// Endpoints from text: <c>HOST[:PORT]</c>, comma-separated, <paramref name="defaultPort"/> where none is given;
    /// <c>localhost</c> is 127.0.0.1; host names are resolved (IPv4 first).
    /// </summary>
    public static IReadOnlyList<IPEndPoint> ParseEndpoints(string text, int defaultPort)
    {
        var endpoints = new List<IPEndPoint>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.LastIndexOf(':');
            var host = colon < 0 ? part : part[..colon];
            var port = defaultPort;
            if (colon >= 0 && (!int.TryParse(part[(colon + 1)..], out port) || port is < 1 or > 65535))
                throw new FormatException($"'{part}': the port must be a number from 1 to 65535");
            endpoints.Add(new IPEndPoint(Resolve(host), port));
        }
        if (endpoints.Count == 0) throw new FormatException($"'{text}' names no HOST[:PORT]");
        return endpoints;
    }

    /// <summary>An address from a host name or literal; <c>localhost</c> is 127.0.0.1.</summary>
    public static IPAddress Resolve(string host)
    {
        if (host is "localhost" or "") return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var literal)) return literal;
        try
        {
            var found = Dns.GetHostAddresses(host);
            return found.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? found.First();
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new FormatException($"'{host}' is not an address and does not resolve");
        }
    }

    /// <summary>The local address that reaches <paramref name="remote"/> (loopback for a loopback peer): what a worker advertises.</summary>
    public static IPAddress LocalAddressTowards(IPAddress remote)
    {
        if (IPAddress.IsLoopback(remote)) return IPAddress.Loopback;
        using var probe = new Socket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(remote, 9); // no packet is sent: connecting a UDP socket only picks the route.
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }
}

/// <summary>Starting worker silos and clients outside tests: what <c>tn worker</c>, <c>tn contract --cluster</c> and the benchmark run.</summary>
public static class ClusterHosts
{
    /// <summary>
    /// A worker silo (not yet started): joins the cluster whose primary silo is <paramref name="primary"/>, advertising
    /// <paramref name="address"/>, logging to the console as <see cref="ClusterLogging"/> says (one line per event;
    /// Orleans' warnings and stack traces where <paramref name="verbose"/>; where <paramref name="quiet"/>, as for a
    /// benchmark's silos, without the lines on other workers joining, leaving or lost).
    /// </summary>
    public static IHost Worker(IPEndPoint primary, IPAddress address, int siloPort, int gatewayPort, ClusterSecret secret, ISliceWorkOpener opener,
        bool verbose = false, bool quiet = false) =>
        new HostBuilder()
            .ConfigureLogging(logging =>
            {
                logging.AddTnConsole(verbose, allToError: false);
                if (quiet) logging.AddFilter(typeof(MembershipReporter).FullName, LogLevel.Warning);
            })
            .UseOrleans(silo => silo.UseTnCluster(primary, address, siloPort, gatewayPort).AddTnWorker(secret, _ => opener))
            .Build();

    /// <summary>Ports free on the loopback interface now, all different (for silos started on one machine: tests, benchmarks).</summary>
    public static int[] FreeLoopbackPorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>
    /// A started client of the cluster behind <paramref name="gateways"/>; fails if none answers. It logs to the error
    /// stream as <see cref="ClusterLogging"/> says (errors in one line; warnings and stack traces where
    /// <paramref name="verbose"/>).
    /// </summary>
    public static async Task<IHost> Client(IReadOnlyList<IPEndPoint> gateways, ClusterSecret secret, CancellationToken cancel = default, bool verbose = false)
    {
        var host = new HostBuilder()
            .ConfigureLogging(logging => logging.AddTnConsole(verbose, allToError: true)
                // A start that fails is the caller's to report in one line (tn contract: "no worker answers at …"),
                // not the host's; and what is logged goes to the error stream, never into a result.
                .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None))
            .UseOrleansClient(client => client.UseTnCluster(gateways).AddTnClient(secret))
            // Not the console lifetime, which would take Ctrl-C and SIGTERM from the program and stop the connection
            // under a running scheduler: the program decides when its client stops.
            .ConfigureServices(services => services.AddSingleton<IHostLifetime, CallerLifetime>())
            .Build();
        try
        {
            await host.StartAsync(cancel);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }
}

/// <summary>A host lifetime that leaves the process's signals to the program: its host starts and stops when told.</summary>
internal sealed class CallerLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancel) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancel) => Task.CompletedTask;
}
