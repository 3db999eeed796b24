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
