using System.Globalization;
using TnDsl.Api;

namespace TnDsl.Torch;

/// <summary>
/// The sizes given to a network's dynamic (batch) indices: one size for every one of them (<see cref="All"/>), and
/// sizes by index family (<see cref="ByIndex"/>) that override it; an index neither names keeps the size its file
/// declares. <c>tn run --batch 2000</c> is <c>{ All = 2000 }</c>, <c>--batch q=2000,k=50000</c> names both indices of
/// <c>examples/mpo-kernel.tn</c>; a number converts to one (<c>Batch = 100</c>), null to none.
/// </summary>
public sealed record BatchSizes
{
    /// <summary>The size of every dynamic index that <see cref="ByIndex"/> does not name; null: the declared ones.</summary>
    public long? All { get; init; }

    /// <summary>The size of the dynamic indices of each family named (family → size), over <see cref="All"/>.</summary>
    public IReadOnlyDictionary<string, long> ByIndex { get; init; } = new Dictionary<string, long>();

    /// <summary>Every dynamic index at <paramref name="all"/> (null: none given).</summary>
    public static implicit operator BatchSizes?(long? all) => all is { } n ? new BatchSizes { All = n } : null;

    /// <summary>
    /// Refuses sizes below one row with an <see cref="ArgumentOutOfRangeException"/> that names them as the caller gave
    /// them (<paramref name="given"/>, such as <c>NetworkBuildOptions.Batch</c>); null is no sizes, and passes.
    /// </summary>
    public static void Validate(BatchSizes? sizes, string given)
    {
        if (sizes is null)
            return;
        if (sizes.All is < 1)
            throw new ArgumentOutOfRangeException(given, $"{given} is {sizes.All}: a batch has at least 1 row");
        foreach (var (family, n) in sizes.ByIndex)
            if (n < 1)
                throw new ArgumentOutOfRangeException(given, $"{given} gives {family} {n} rows: a batch has at least 1 row");
    }

    /// <summary>The size given to the dynamic indices of <paramref name="family"/>, or null where none is.</summary>
    public long? Of(string family) => ByIndex.TryGetValue(family, out var n) ? n : All;

    /// <summary>
    /// The sizes the planner takes (<see cref="Planner.PlanSized"/>):
    /// each dynamic index family of <paramref name="network"/> that is given a size, by family.
    /// </summary>
    public IReadOnlyDictionary<string, long> Families(NetworkView network) =>
        network.Indices.Where(i => i.IsDynamic).Select(i => i.Family).Distinct()
            .Where(f => Of(f) is not null).ToDictionary(f => f, f => Of(f)!.Value);

    /// <summary>
    /// The extent of every dynamic index of <paramref name="spec"/> (index id → extent) under <paramref name="sizes"/>
    /// (null: the declared ones), as the memory guard and <see cref="RandomInputs"/> take them.
    /// </summary>
    public static IReadOnlyDictionary<int, long> Extents(NetworkSpec spec, BatchSizes? sizes) =>
        spec.Indices.Where(i => i.IsDynamic).ToDictionary(i => i.Id, i => sizes?.Of(i.Family) ?? i.Size);

    /// <summary>
    /// The extent of every dynamic index of <paramref name="spec"/> that <paramref name="plan"/> was planned at (index id
    /// → extent; <see cref="PlanView.BatchSizes"/>, the declared size where the plan gave none).
    /// </summary>
    public static IReadOnlyDictionary<int, long> Planned(NetworkSpec spec, PlanView plan) =>
        spec.Indices.Where(i => i.IsDynamic).ToDictionary(i => i.Id, i => plan.BatchSizes.TryGetValue(i.Id, out var n) ? n : i.Size);

    /// <summary>
    /// The extents of <paramref name="spec"/>'s dynamic indices in words: the one size where they all have it
    /// (<c>2000</c>, or <c>2,000</c> with <paramref name="grouped"/>), else each family's as <c>--batch</c> takes it
    /// (<c>q=2000, k=50000</c>), in the order they are declared.
    /// </summary>
    public static string Describe(NetworkSpec spec, IReadOnlyDictionary<int, long> extents, bool grouped = false) =>
        Describe(spec.Indices.Where(i => i.IsDynamic && extents.ContainsKey(i.Id)).Select(i => (i.Family, i.Name, extents[i.Id])), grouped);

    /// <summary>These sizes given to the dynamic indices of <paramref name="network"/>, in words (as
    /// <see cref="Describe(NetworkSpec, IReadOnlyDictionary{int, long}, bool)"/>).</summary>
    public string Describe(NetworkView network) =>
        Describe(network.Indices.Where(i => i.IsDynamic).Select(i => (i.Family, i.Name, Of(i.Family) ?? i.Size)), false);

    /// <summary>The extent of <paramref name="index"/> under these sizes (its own where it is not dynamic).</summary>
    public long Extent(IndexView index) => index.IsDynamic ? Of(index.Family) ?? index.Size : index.Size;

    static string Describe(IEnumerable<(string Family, string Name, long Extent)> dynamic, bool grouped)
    {
        string Number(long n) => n.ToString(grouped ? "N0" : "D", CultureInfo.InvariantCulture);
        var indices = dynamic.ToArray();
        var distinct = indices.Select(i => i.Extent).Distinct().ToArray();
        if (distinct.Length == 1)
            return Number(distinct[0]);
        return string.Join(", ", indices.GroupBy(i => i.Family).Select(g =>
            g.Select(i => i.Extent).Distinct().Count() == 1
                ? $"{g.Key}={Number(g.First().Extent)}"
                : string.Join(", ", g.Select(i => $"{i.Name}={Number(i.Extent)}"))));
    }

    /// <summary>The sizes as <c>--batch</c> takes them: <c>2000</c>, <c>q=2000,k=50000</c>, <c>64,k=50000</c>.</summary>
    public override string ToString() =>
        string.Join(",", (All is { } n ? [n.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>())
            .Concat(ByIndex.Select(p => $"{p.Key}={p.Value.ToString(CultureInfo.InvariantCulture)}")));
}
