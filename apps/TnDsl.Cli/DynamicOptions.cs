using System.Numerics;
using TnDsl.Api;
using TnDsl.Torch;
using TorchSharp;

namespace TnDsl.Cli;

/// <summary>
/// The checks of options that size a network's dynamic indices (<c>--batch N</c>, <c>--size name=N</c>) against the
/// network they are given for: an option that names nothing would do nothing, so it is a usage error (exit 2) that
/// names the dynamic indices there are, in every verb that takes one.
/// </summary>
public static class DynamicOptions
{
    /// <summary>The network's dynamic index families, in the order they are declared.</summary>
    public static string[] Families(NetworkView net) =>
        net.Indices.Where(i => i.IsDynamic).Select(i => i.Family).Distinct().ToArray();

    /// <summary>Throws a <see cref="UsageException"/> when <c>--batch</c> is given for a network with no dynamic index.</summary>
    public static void CheckBatch(NetworkView net, long? batch)
    {
        if (batch is { } b && Families(net).Length == 0)
            throw new UsageException($"--batch {b}: network {net.Name} has no dynamic index, so there is no batch to size; leave --batch out");
    }

    /// <summary>Throws a <see cref="UsageException"/> for the first <c>--size</c> that names no dynamic index family of the network.</summary>
    public static void CheckSizes(NetworkView net, IEnumerable<KeyValuePair<string, long>> sizes)
    {
        var families = Families(net);
        foreach (var (name, size) in sizes)
            if (!families.Contains(name))
                throw new UsageException(families.Length == 0
                    ? $"--size {name}={size}: network {net.Name} has no dynamic index, so there is nothing to size; leave --size out"
                    : $"--size {name}={size}: network {net.Name} has no dynamic index {name}; its dynamic indices: {string.Join(", ", families)}");
    }

    /// <summary>
    /// Throws a <see cref="MemoryLimitException"/> when the output and the inputs fed as they are (no embedding) at
    /// <paramref name="batch"/> are alone over the memory limit: whatever path the planner finds holds them whole, so
    /// a batch far too large is refused at once, not after minutes of planning (the memory guard's check follows).
    /// </summary>
    public static void CheckBatchBytes(NetworkView net, long? batch, torch.ScalarType dtype)
    {
        if (batch is not { } b) return;
        BigInteger Elements(IEnumerable<int> legs) =>
            legs.Aggregate(BigInteger.One, (n, l) => n * (net.Indices[l].IsDynamic ? b : net.Indices[l].Size));
        var elements = net.Tensors.Where(t => t.IsInput && t.Embedding is null)
            .Aggregate(Elements(net.Output), (n, t) => n + Elements(t.Legs));
        var bytes = MemoryGuard.Bytes(elements, dtype);
        var (limit, source) = MemoryGuard.Current();
        if (bytes <= limit) return;
        var what = $"{net.Name} ({dtype.ToString().ToLowerInvariant()}, batch {b})";
        throw new MemoryLimitException(what, bytes, limit, source,
            $"{what}: the output and the inputs alone need {MemoryGuard.Format(bytes)}, over the memory limit of " +
            $"{MemoryGuard.Format(limit)} ({source}), before any intermediate; use a smaller batch, or raise the limit");
    }
}
