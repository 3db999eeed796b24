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
    /// <summary>What a memory refusal tells the user of a verb that takes <c>--batch</c> (<see cref="MemoryGuard.Advise"/>).</summary>
    public const string BatchRemedies = "use a smaller --batch or smaller parameters (--set), or raise the limit";

    /// <summary>What a memory refusal tells the user of such a verb for <paramref name="net"/>: <see cref="BatchRemedies"/>,
    /// less the --batch it refuses where the network has no dynamic index.</summary>
    public static string Remedies(NetworkView net) =>
        Families(net).Length > 0 ? BatchRemedies : "use smaller parameters (--set), or raise the limit";

    /// <summary>The network's dynamic index families, in the order they are declared.</summary>
    public static string[] Families(NetworkView net) =>
        net.Indices.Where(i => i.IsDynamic).Select(i => i.Family).Distinct().ToArray();

    /// <summary>
    /// Throws a <see cref="UsageException"/>, a message per mistake, when <c>--batch</c> is given for a network with no
    /// dynamic index, or names an index that is not one of its dynamic index families (an index of fixed size, or none
    /// of the network's).
    /// </summary>
    public static void CheckBatch(NetworkView net, BatchSizes? batch)
    {
        if (batch is null)
            return;
        var families = Families(net);
        var mistakes = new List<string>();
        string Item(string? name, long n) => name is null ? $"--batch {n}" : $"--batch {name}={n}";
        if (families.Length == 0)
        {
            foreach (var (name, n) in (batch.All is { } all ? [(null, all)] : Array.Empty<(string?, long)>())
                     .Concat(batch.ByIndex.Select(p => ((string?)p.Key, p.Value))))
                mistakes.Add($"{Item(name, n)}: network {net.Name} has no dynamic index, so there is no batch to size; leave --batch out");
            Throw(mistakes);
        }
        var dynamic = $"its dynamic indices: {string.Join(", ", families)}";
        foreach (var (name, n) in batch.ByIndex.Where(p => !families.Contains(p.Key)))
        {
            var same = net.Indices.Where(i => i.Family == name || i.Name == name).ToArray();
            mistakes.Add(same.Length == 0
                ? $"{Item(name, n)}: network {net.Name} has no index {name}; {dynamic}"
                : same.Any(i => i.IsDynamic)
                    ? $"{Item(name, n)}: dynamic indices are sized by family, and {name} is one index of family {same[0].Family}; {dynamic}"
                    : $"{Item(name, n)}: index {name} of network {net.Name} is not dynamic: the file fixes its size" +
                      (same.Select(i => i.Size).Distinct().Count() == 1 ? $" at {same[0].Size}" : "s") +
                      $" (--set changes the parameters that give it); {dynamic}");
        }
        Throw(mistakes);
    }

    /// <summary>Throws a <see cref="UsageException"/>, a message per mistake, when a <c>--size</c> names no dynamic index family of the network.</summary>
    public static void CheckSizes(NetworkView net, IEnumerable<KeyValuePair<string, long>> sizes)
    {
        var families = Families(net);
        Throw(sizes.Where(s => !families.Contains(s.Key)).Select(s => families.Length == 0
            ? $"--size {s.Key}={s.Value}: network {net.Name} has no dynamic index, so there is nothing to size; leave --size out"
            : $"--size {s.Key}={s.Value}: network {net.Name} has no dynamic index {s.Key}; its dynamic indices: {string.Join(", ", families)}"));
    }

    /// <summary>
    /// Throws a <see cref="UsageException"/>, a message per mistake, when a <c>--size</c> names no index of the JSON
    /// network <paramref name="file"/>, whose tensors carry <paramref name="indices"/> (in a JSON network every index
    /// may be sized): the message lists the first <see cref="Listed"/> of them and the nearest names.
    /// </summary>
    public static void CheckJsonSizes(string file, IReadOnlyList<string> indices, IEnumerable<KeyValuePair<string, long>> sizes)
    {
        var known = indices.ToHashSet(StringComparer.Ordinal);
        Throw(sizes.Where(s => !known.Contains(s.Key)).Select(s =>
        {
            if (indices.Count == 0)
                return $"--size {s.Key}={s.Value}: JSON network {file} has no index, so there is nothing to size; leave --size out";
            var listed = string.Join(", ", indices.Take(Listed)) + (indices.Count > Listed ? $", … ({indices.Count} in all)" : "");
            // Close names only: a case difference is free, and a name may be off by one edit per two letters (up to
            // two), so a one-letter name is matched only up to case (q is not "near" a, b and c; bb is near b).
            var near = indices.Select(i => (Name: i, Distance: Cli.Distance(s.Key.ToLowerInvariant(), i.ToLowerInvariant())))
                .Where(x => x.Distance <= Math.Min(2, s.Key.Length / 2)).ToList();
            var hint = near.Count == 0 ? "" : $"; did you mean {string.Join(" or ", near.Where(x => x.Distance == near.Min(n => n.Distance)).Select(x => x.Name))}?";
            return $"--size {s.Key}={s.Value}: JSON network {file} has no index {s.Key}; its indices: {listed}{hint}";
        }));
    }

    /// <summary>How many index names a message lists.</summary>
    public const int Listed = 12;

    private static void Throw(IEnumerable<string> mistakes)
    {
        var messages = mistakes.ToList();
        if (messages.Count > 0) throw new UsageException(messages);
    }

    /// <summary>
    /// Throws a <see cref="MemoryLimitException"/> when the output and the inputs fed as they are (no embedding) with the
    /// dynamic indices at <paramref name="batch"/> are alone over the memory limit: whatever path the planner finds holds them whole, so
    /// a batch far too large is refused at once, not after minutes of planning (the memory guard's check follows).
    /// </summary>
    public static void CheckBatchBytes(NetworkView net, BatchSizes? batch, torch.ScalarType dtype)
    {
        if (batch is null) return;
        BigInteger Elements(IEnumerable<int> legs) =>
            legs.Aggregate(BigInteger.One, (n, l) => n * batch.Extent(net.Indices[l]));
        var elements = net.Tensors.Where(t => t.IsInput && t.Embedding is null)
            .Aggregate(Elements(net.Output), (n, t) => n + Elements(t.Legs));
        var bytes = MemoryGuard.Bytes(elements, dtype);
        var (limit, source) = MemoryGuard.Current();
        if (bytes <= limit) return;
        var what = $"{net.Name} ({dtype.ToString().ToLowerInvariant()}, batch {batch.Describe(net)})";
        throw new MemoryLimitException(what, bytes, limit, source,
            $"{what}: the output and the inputs alone need {MemoryGuard.Format(bytes)}, over the memory limit of " +
            $"{MemoryGuard.Format(limit)} ({source}), before any intermediate; {MemoryGuard.Remedies ?? "use a smaller batch, or raise the limit"}");
    }
}
