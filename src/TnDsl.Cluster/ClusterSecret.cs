using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Orleans.Runtime;

[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("TnDsl.Cluster.Tests")]

namespace TnDsl.Cluster;

/// <summary>
/// The secret shared by the workers and clients of one cluster. Every grain call carries a token: an HMAC-SHA256,
/// keyed by the secret, of the call's time, a nonce, its target grain and its method; workers refuse calls without a
/// valid, fresh token (<see cref="ClusterSecretFilter"/>). The secret itself never travels. This keeps out clients
/// that do not know it (an Orleans cluster id and service id are not secrets); it does not encrypt the traffic: across
/// untrusted networks run the cluster inside a VPN or SSH tunnel, or add Orleans' TLS (Microsoft.Orleans.Connections.Security).
/// </summary>
public sealed class ClusterSecret
{
    /// <summary>The environment variable a secret is read from when no file is given.</summary>
    public const string Variable = "TN_CLUSTER_SECRET";

    /// <summary>The fewest bytes a secret may have.</summary>
    public const int MinimumBytes = 16;

    /// <summary>How far a token's time may be from the worker's clock.</summary>
    public static readonly TimeSpan Freshness = TimeSpan.FromMinutes(5);

    internal const string TokenKey = "tn-cluster-token";

    private readonly byte[] key;

    private ClusterSecret(byte[] key) => this.key = key;

    /// <summary>A secret from its text (surrounding white space ignored); refused if shorter than <see cref="MinimumBytes"/>.</summary>
    public static ClusterSecret FromText(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Trim());
        if (bytes.Length < MinimumBytes)
            throw new ArgumentException($"a cluster secret needs at least {MinimumBytes} bytes (it has {bytes.Length}); make one with: head -c 32 /dev/urandom | base64");
        return new ClusterSecret(bytes);
    }

    /// <summary>The secret from a file if one is named, else from <see cref="Variable"/>; <c>null</c> when neither is set.</summary>
    public static ClusterSecret? Find(string? secretFile)
    {
        if (secretFile is not null) return FromText(File.ReadAllText(secretFile));
        var text = Environment.GetEnvironmentVariable(Variable);
        return string.IsNullOrWhiteSpace(text) ? null : FromText(text);
    }

    internal string Token(GrainId target, string method) => Token(target, method, DateTime.UtcNow);

    internal string Token(GrainId target, string method, DateTime at)
    {
        var ticks = at.Ticks.ToString(CultureInfo.InvariantCulture);
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        return $"{ticks}:{nonce}:{Mac(ticks, nonce, target, method)}";
    }

    internal bool Accepts(object? token, GrainId target, string method)
    {
        if (token is not string text) return false;
        var parts = text.Split(':');
        if (parts.Length != 3 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)) return false;
        if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks) return false;
        if ((DateTime.UtcNow - new DateTime(ticks, DateTimeKind.Utc)).Duration() > Freshness) return false;
        return CryptographicOperations.FixedTimeEquals(
            Encoding.ASCII.GetBytes(parts[2]), Encoding.ASCII.GetBytes(Mac(parts[0], parts[1], target, method)));
    }

    private string Mac(string ticks, string nonce, GrainId target, string method) =>
        Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"tndsl-cluster-1|{ticks}|{nonce}|{target}|{method}")));
}

/// <summary>Adds the secret's token to every call a client or silo makes.</summary>
public sealed class ClusterTokenFilter(ClusterSecret secret) : IOutgoingGrainCallFilter
{
    /// <inheritdoc/>
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        RequestContext.Set(ClusterSecret.TokenKey, secret.Token(context.TargetId, context.InterfaceName + "." + context.MethodName));
        try { await context.Invoke(); }
        finally { RequestContext.Remove(ClusterSecret.TokenKey); }
    }
}

/// <summary>
/// Refuses, on a worker, every call to a grain (the workers, Orleans' management grain, any other) whose token the
/// cluster's secret does not verify. Orleans' own system targets (membership, manifests, load reports), which a
/// client needs to connect at all and which silos call on each other, are left to Orleans.
/// </summary>
public sealed class ClusterSecretFilter(ClusterSecret secret, Microsoft.Extensions.Logging.ILogger<ClusterSecretFilter> log) : IIncomingGrainCallFilter
{
    /// <inheritdoc/>
    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.Grain is Grain && !secret.Accepts(RequestContext.Get(ClusterSecret.TokenKey), context.TargetId, context.InterfaceName + "." + context.MethodName))
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(log, "refused {Method} on {Grain}: no valid cluster secret", context.MethodName, context.TargetId);
            throw new UnauthorizedAccessException("the worker refused the call: the client does not hold this cluster's secret");
        }
        return context.Invoke();
    }
}
