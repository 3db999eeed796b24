using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Messaging;
using Orleans.TestingHost;

namespace TnDsl.Cluster.Tests;

/// <summary>Silos of the test clusters: TnDsl workers over <see cref="FakeOpener"/>, with liveness tuned to notice a killed silo in seconds.</summary>
public sealed class WorkerSilo : ISiloConfigurator
{
    public void Configure(ISiloBuilder silo)
    {
        silo.AddTnWorker(ClusterSecret.FromText(silo.Configuration[TestClusters.SecretKey]!), services => new FakeOpener(services.GetRequiredService<ILocalSiloDetails>().SiloAddress));
        silo.AddIncomingGrainCallFilter<FailingCalls>();
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // Quicker than Orleans' defaults (5 s x 3), not so quick that a loaded machine's pauses kill live silos.
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
        });
    }
}

/// <summary>
/// Fails the next <see cref="IWorkerGrain.Contract"/> calls that reach each silo with an <see cref="OrleansException"/>,
/// as Orleans fails calls to a live silo while a silo that died, holding their grain directory entries, is not yet
/// declared dead (seen with <c>tn worker</c> processes killed by bench/cluster-crash.sh).
/// </summary>
public sealed class FailingCalls(ILocalSiloDetails silo) : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<SiloAddress, int> failed = new();
    private static int perSilo;
    private static SiloAddress? only;

    /// <summary>Fails the next <paramref name="calls"/> Contract calls on every silo (or on <paramref name="on"/> alone).</summary>
    public static void Arm(int calls, SiloAddress? on = null)
    {
        failed.Clear();
        only = on;
        Volatile.Write(ref perSilo, calls);
    }

    private static TaskCompletionSource? frozen;
    private static SiloAddress? frozenOn;

    /// <summary>
    /// Holds every worker and management call from now on, as a frozen gateway holds what crosses it (or every worker
    /// call on <paramref name="on"/> alone, as a frozen worker's silo does).
    /// </summary>
    public static void Freeze(SiloAddress? on = null)
    {
        frozenOn = on;
        frozen ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Lets every call through again.</summary>
    public static void Disarm()
    {
        Volatile.Write(ref perSilo, 0);
        frozen?.TrySetResult();
        frozen = null;
        frozenOn = null;
    }

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        var declaring = context.InterfaceMethod?.DeclaringType;
        if (frozen is { } hold && (frozenOn is null ? declaring == typeof(IWorkerGrain) || declaring == typeof(IManagementGrain)
                                                     : declaring == typeof(IWorkerGrain) && frozenOn.Equals(silo.SiloAddress)))
            await hold.Task;
        if (context.InterfaceMethod?.Name == nameof(IWorkerGrain.Contract) && Volatile.Read(ref perSilo) > 0
            && (only is null || only.Equals(silo.SiloAddress))
            && failed.AddOrUpdate(silo.SiloAddress, 1, (_, n) => n + 1) <= Volatile.Read(ref perSilo))
            // On two lines, as Orleans' messages with their inner exceptions are.
            throw new OrleansException($"test: the call to {silo.SiloAddress} cannot be addressed{Environment.NewLine} ---> inner detail");
        await context.Invoke();
    }
}

/// <summary>The test cluster's own client holds the secret.</summary>
public sealed class SecretClient : IClientBuilderConfigurator
{
    public void Configure(IConfiguration configuration, IClientBuilder client) =>
        client.AddTnClient(ClusterSecret.FromText(configuration[TestClusters.SecretKey]!));
}

public static class TestClusters
{
    /// <summary>How long one step of a test (starting a cluster, a run, a silo leaving) may take before the test fails.</summary>
    public static readonly TimeSpan StepLimit = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Awaits one step of a test within <see cref="StepLimit"/>, so that a step that never ends fails its test by name
    /// instead of hanging the whole run. A step that fails on its own keeps its own exception.
    /// </summary>
    public static async Task<T> Within<T>(this Task<T> step, string what, TimeSpan? limit = null)
    {
        await ((Task)step).Within(what, limit);
        return await step;
    }

    /// <inheritdoc cref="Within{T}(Task{T}, string, TimeSpan?)"/>
    public static async Task Within(this Task step, string what, TimeSpan? limit = null)
    {
        var bound = limit ?? StepLimit;
        try { await step.WaitAsync(bound); }
        catch (TimeoutException) when (!step.IsCompleted) { throw new TimeoutException($"{what}: not done after {bound.TotalSeconds:0.###} s"); }
    }

    /// <summary>Stops a test cluster within <see cref="StepLimit"/>.</summary>
    public static Task Stop(TestCluster cluster) => cluster.DisposeAsync().AsTask().Within("stopping the test cluster");

    public const string SecretKey = "TnClusterSecret";
    public const string Secret = "test-secret-of-this-cluster-0123456789";

    /// <summary>
    /// Three silos (or <paramref name="silos"/>) on loopback TCP, each a gateway, with a client holding the secret
    /// (and whatever <paramref name="configure"/> adds).
    /// </summary>
    public static async Task<TestCluster> Start(short silos = 3, Action<TestClusterBuilder>? configure = null)
    {
        var builder = new TestClusterBuilder(silos);
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.ConfigureFileLogging = false;
        builder.Properties[SecretKey] = Secret;
        builder.AddSiloBuilderConfigurator<WorkerSilo>();
        builder.AddClientBuilderConfigurator<SecretClient>();
        configure?.Invoke(builder);
        var cluster = builder.Build();
        await cluster.DeployAsync().Within($"starting {silos} silos");
        return cluster;
    }

    /// <summary>
    /// Another client of a test cluster, through its gateways (or those of <paramref name="gateways"/>), holding
    /// <paramref name="secret"/> (or none).
    /// </summary>
    public static async Task<IHost> Client(TestCluster cluster, string? secret, ChangingGateways? gateways = null)
    {
        var host = new HostBuilder().UseOrleansClient(client =>
        {
            if (gateways is null) client.UseStaticClustering(cluster.Silos.Select(s => s.GatewayAddress.Endpoint).ToArray());
            else
            {
                client.Services.AddSingleton<IGatewayListProvider>(gateways);
                client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = ChangingGateways.ReadEvery);
            }
            client.Configure<ClusterOptions>(o => { o.ClusterId = cluster.Options.ClusterId; o.ServiceId = cluster.Options.ServiceId; });
            if (secret is not null) client.AddTnClient(ClusterSecret.FromText(secret));
        }).Build();
        await host.StartAsync();
        return host;
    }
}

/// <summary>A client's list of gateways that a test changes while the client runs (the client reads it every 100 ms).</summary>
public sealed class ChangingGateways(params SiloHandle[] silos) : IGatewayListProvider
{
    public static readonly TimeSpan ReadEvery = TimeSpan.FromMilliseconds(100);

    private volatile IList<Uri> gateways = UrisOf(silos);
    private int reads;

    private static IList<Uri> UrisOf(SiloHandle[] silos) => silos.Select(s => s.GatewayAddress.Endpoint.ToGatewayUri()).ToList();

    /// <summary>Gives the client these gateways; completes once it has read them (twice, so that it acts on them).</summary>
    public async Task Set(params SiloHandle[] silos)
    {
        gateways = UrisOf(silos);
        var target = Volatile.Read(ref reads) + 2;
        while (Volatile.Read(ref reads) < target) await Task.Delay(ReadEvery / 4);
    }

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public Task<IList<Uri>> GetGateways()
    {
        Interlocked.Increment(ref reads);
        return Task.FromResult(gateways);
    }

    public TimeSpan MaxStaleness => ReadEvery;

    [Obsolete("Orleans no longer reads it")]
    public bool IsUpdatable => true;
}
