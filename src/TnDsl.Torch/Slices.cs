using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>
/// The slices of a sliced plan (see <see cref="TnDsl.PlanView.SlicedLabels"/>): every combination of values of the
/// sliced labels, and each operand as a view with those labels fixed (their axes kept at size 1, so the plan's steps
/// run on the views unchanged). Shared by <see cref="NetworkModule"/> and <see cref="ContractExpression"/>.
/// </summary>
static class Slices
{
    /// <summary>The extent of each sliced label at run time, read from the first operand that carries it.</summary>
    public static long[] Extents(IReadOnlyList<Tensor> operands, IReadOnlyList<int[]> labels, int[] sliced) =>
        sliced.Select(l =>
        {
            for (int k = 0; k < operands.Count; k++)
                if (Array.IndexOf(labels[k], l) is var axis and >= 0)
                    return operands[k].shape[axis];
            throw new ArgumentException($"no operand carries the sliced label {l}");
        }).ToArray();

    /// <summary>Every combination of values, the last label fastest (the sum's order, so results are reproducible).</summary>
    public static IEnumerable<long[]> Values(long[] extents) => Values(extents, 0, Count(extents));

    /// <summary>The number of slices: the product of the extents.</summary>
    public static long Count(long[] extents) => extents.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>The combinations numbered <c>[first, first + count)</c> in the order of <see cref="Values(long[])"/>.</summary>
    public static IEnumerable<long[]> Values(long[] extents, long first, long count)
    {
        long total = Count(extents);
        if (first < 0 || count < 0 || first > total - count)
            throw new ArgumentOutOfRangeException(nameof(first), $"slices [{first}, {first} + {count}) are not within the {total} slices");
        for (long slice = first; slice < first + count; slice++)
        {
            var values = new long[extents.Length];
            long rest = slice;
            for (int k = extents.Length - 1; k >= 0; k--)
                (values[k], rest) = (rest % extents[k], rest / extents[k]);
            yield return values;
        }
    }

    /// <summary>The operand with every sliced label it carries fixed to its value (the same object where it carries none).</summary>
    public static Tensor Narrow(Tensor operand, int[] labels, int[] sliced, long[] values)
    {
        var view = operand;
        for (int k = 0; k < sliced.Length; k++)
            if (Array.IndexOf(labels, sliced[k]) is var axis and >= 0)
                view = view.narrow(axis, values[k], 1);
        return view;
    }
}

/// <summary>
/// Reuse across the slices of a sliced plan. The slices run as nested loops over the sliced labels in their loop
/// order (outermost first; the last fastest, as <see cref="Slices.Values(long[])"/> numbers them). A node of the
/// contraction tree (a leaf, or a step's result) depends on the sliced labels carried by the leaves below it; its
/// level is the loop position (1-based) of the innermost of them, 0 when it depends on none. A step runs only when a
/// value it depends on changed: in a run of slices, the first slice runs every step, and after that, when the
/// slice values change first at position c, exactly the steps of level ≥ c run, so step s runs
/// N_s = ∏_{j ≤ level(s)} extent(o_j) times over all slices. A step result whose consumer has a higher level is
/// held across the consumer's inner loops (and replaced, the old one released, when it runs again).
/// </summary>
sealed class SliceReuse
{
    /// <summary>The number of leaves; node <c>k &lt; Leaves</c> is leaf k, node <c>Leaves + s</c> is step s's result.</summary>
    public int Leaves { get; }
    /// <summary>Per step, the nodes of its two operands (left, right as the step names them).</summary>
    public (int Left, int Right)[] Operands { get; }
    /// <summary>Per node (leaves, then steps), its level.</summary>
    public int[] Level { get; }
    /// <summary>Per step, whether its result is held across slices (its consumer's level is higher).</summary>
    public bool[] Held { get; }

    SliceReuse(int leaves, (int, int)[] operands, int[] level, bool[] held) =>
        (Leaves, Operands, Level, Held) = (leaves, operands, level, held);

    /// <summary>The schedule of steps given as positions in the current operand list (linear convention) on leaves
    /// labelled <paramref name="leafLabels"/>, sliced over <paramref name="order"/> (the loop order, outermost first).</summary>
    public static SliceReuse Of(IReadOnlyList<IReadOnlyList<int>> leafLabels, IReadOnlyList<(int Left, int Right)> steps, IReadOnlyList<int> order)
    {
        int n = leafLabels.Count;
        var level = new int[n + steps.Count];
        for (int k = 0; k < n; k++)
            for (int j = 0; j < order.Count; j++)
                if (leafLabels[k].Contains(order[j]))
                    level[k] = j + 1;
        var ids = Enumerable.Range(0, n).ToList();
        var operands = new (int, int)[steps.Count];
        var consumer = new int[n + steps.Count];
        Array.Fill(consumer, -1);
        for (int s = 0; s < steps.Count; s++)
        {
            var (i, j) = steps[s];
            var (a, b) = (ids[i], ids[j]);
            operands[s] = (a, b);
            level[n + s] = Math.Max(level[a], level[b]);
            consumer[a] = consumer[b] = n + s;
            ids.RemoveAt(Math.Max(i, j));
            ids.RemoveAt(Math.Min(i, j));
            ids.Add(n + s);
        }
        var held = Enumerable.Range(0, steps.Count).Select(s => consumer[n + s] >= 0 && level[consumer[n + s]] > level[n + s]).ToArray();
        return new SliceReuse(n, operands, level, held);
    }

    /// <summary>How many times each step runs over all the slices: N_s = ∏_{j ≤ level(s)} extent(o_j).</summary>
    public long[] Runs(long[] extents) =>
        Enumerable.Range(0, Operands.Length).Select(s => extents.Take(Level[Leaves + s]).Aggregate(1L, (a, b) => checked(a * b))).ToArray();

    /// <summary>The loop position (1-based) where <paramref name="values"/> first differ from <paramref name="previous"/>;
    /// 0 for the first slice of a run (null previous), which runs every step.</summary>
    public static int Changed(long[]? previous, long[] values)
    {
        if (previous is null)
            return 0;
        for (int j = 0; j < values.Length; j++)
            if (values[j] != previous[j])
                return j + 1;
        return values.Length + 1;
    }

    /// <summary>Whether step <paramref name="step"/> runs in a slice whose values changed first at <paramref name="changed"/>.</summary>
    public bool Runs(int step, int changed) => Level[Leaves + step] >= changed;
}
