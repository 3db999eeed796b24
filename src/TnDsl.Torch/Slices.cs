using System.Numerics;
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

/// <summary>
/// What running a sliced plan in chunks costs, and the chunk size a job takes when its client does not choose. A chunk
/// is one pass of its slices (see <see cref="ISliceWork"/>): its first slice runs every step, and after that a step
/// of level L (<see cref="SliceReuse"/>) reruns where the slice number crosses a multiple of P_L, the product of the
/// extents of the loops inside position L. A chunk size that is a multiple of P_m (a product of the innermost loops'
/// extents) starts every chunk where loop m or an outer one changes, so the steps of level ≥ m run no more often than
/// in one pass over all slices; only the steps of level &lt; m, which depend on outer loops alone, run once per chunk
/// instead of once per value of their loops. Counts assume every chunk is its own pass (as chunks scattered over
/// workers are); consecutive chunks run in one pass (<see cref="ISliceWork.ContractChunks"/>) cost at most this.
/// </summary>
public sealed class SliceChunking
{
    /// <summary>A default chunking gives at least this many chunks where there are as many slices: four per worker
    /// for 16 workers, so that workers that finish early find work, and an interrupted run loses at most 1/64.</summary>
    public const long MinChunks = 64;
    /// <summary>A default chunking gives at most this many chunks: a chunk's bookkeeping (its result, its entry in
    /// a resume record, its message) stays negligible beside its contraction.</summary>
    public const long MaxChunks = 4096;

    /// <summary>The most slices a default chunk takes, 65,536, even where that makes more than <see cref="MaxChunks"/>
    /// chunks: a chunk is what a resume record keeps, a progress bar counts and a batch grows by, so it stays seconds
    /// of work; without the cap a 6 x 6 lattice at 4,700 bytes (5.4e8 slices) would run 64 chunks of 8 million slices,
    /// each tens of minutes. (Memory does not grow with a chunk: each slice of a pass runs in its own dispose scope.)</summary>
    public const long MaxChunkSlices = 65536;
    /// <summary>A finer aligned chunking is taken when its executed flops are within this fraction of the coarsest
    /// one that gives <see cref="MinChunks"/>.</summary>
    public const double Tolerance = 0.01;

    readonly long[] extents;
    readonly int[] levels;
    readonly BigInteger[] flops;

    SliceChunking(long[] extents, int[] levels, BigInteger[] flops) => (this.extents, this.levels, this.flops) = (extents, levels, flops);

    /// <summary>The chunking model of a plan whose labels have the sizes <paramref name="size"/> gives (a label is a
    /// network index id): its pairwise steps, their levels under the plan's loop order (<see cref="PlanView.SlicedLabels"/>)
    /// and their flops in one slice (opt_einsum's convention, the sliced labels at size 1).</summary>
    public static SliceChunking Of(PlanView plan, Func<int, long> size)
    {
        var sliced = plan.SlicedLabels;
        var extents = sliced.Select(size).ToArray();
        var pairs = plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray();
        var reuse = SliceReuse.Of(plan.LeafLabels.Select(l => (IReadOnlyList<int>)l).ToArray(), pairs, sliced);
        var levels = Enumerable.Range(0, pairs.Length).Select(s => reuse.Level[reuse.Leaves + s]).ToArray();
        var flops = plan.Steps.Select(s =>
        {
            var involved = s.Kept.Concat(s.Summed).Distinct().Where(l => Array.IndexOf(sliced, l) < 0);
            return involved.Aggregate(BigInteger.One, (a, l) => a * size(l)) * (s.Summed.Length > 0 ? 2 : 1);
        }).ToArray();
        return new SliceChunking(extents, levels, flops);
    }

    /// <summary>The number of slices: the product of the loops' extents.</summary>
    public long Slices => TnDsl.Torch.Slices.Count(extents);

    /// <summary>The loops' extents, outermost first.</summary>
    public IReadOnlyList<long> Extents => extents;

    /// <summary>Per pairwise step, its level (0: it depends on no sliced label).</summary>
    public IReadOnlyList<int> Levels => levels;

    /// <summary>Per pairwise step, its flops in one slice.</summary>
    public IReadOnlyList<BigInteger> StepFlops => flops;

    /// <summary>P_m: the slices per value of the first m loops, the product of the extents after position m (the
    /// chunk size aligned at loop m; <see cref="Slices"/> at 0, 1 at the innermost).</summary>
    public long Inner(int m) => extents.Skip(m).Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>How many times a step of level <paramref name="level"/> runs over all slices in chunks of
    /// <paramref name="chunkSize"/>, each chunk one pass: once per chunk, plus once per multiple of P_level that is
    /// not a chunk's first slice, n + S/P − 1 − ⌊(n − 1)·gcd(C, P)/P⌋ for n chunks of C slices (chunk c starts on a
    /// multiple of P when P/gcd(C, P) divides c).</summary>
    public long Runs(int level, long chunkSize)
    {
        if (chunkSize < 1)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), "the chunk size must be at least 1");
        long s = Slices, p = Inner(level), n = (s + chunkSize - 1) / chunkSize;
        long g = (long)BigInteger.GreatestCommonDivisor(chunkSize, p);
        return n + s / p - 1 - (n - 1) * g / p;
    }

    /// <summary>Step runs over all slices in chunks of <paramref name="chunkSize"/> (see <see cref="Runs"/>).</summary>
    public BigInteger StepRuns(long chunkSize) => levels.Aggregate(BigInteger.Zero, (a, l) => a + Runs(l, chunkSize));

    /// <summary>Executed flops over all slices in chunks of <paramref name="chunkSize"/>: each step's flops in one
    /// slice times its runs (see <see cref="Runs"/>).</summary>
    public BigInteger ExecutedFlops(long chunkSize) =>
        levels.Select((l, s) => flops[s] * Runs(l, chunkSize)).Aggregate(BigInteger.Zero, (a, b) => a + b);

    /// <summary>
    /// The chunk size a job takes by default, aligned with the loop order: P_m for the loop position m chosen so.
    /// First the smallest m whose chunks, ∏_{j ≤ m} extent(o_j), number at least min(<see cref="MinChunks"/>,
    /// slices): the coarsest chunking that still gives every worker work, hence the fewest executed flops (they do not
    /// fall as m grows). Then m grows while the chunks stay at most <see cref="MaxChunks"/> and the executed flops
    /// within <see cref="Tolerance"/> of that (finer chunks for free: resumes and the progress bar gain). Where even
    /// that m gives more than <see cref="MaxChunks"/> chunks, a chunk takes the fewest whole multiples of P_m that
    /// bring them under it (its start still a multiple of P_m), at most <see cref="MaxChunkSlices"/> slices where the
    /// loops allow. 1 when unsliced.
    /// </summary>
    public long DefaultChunkSize()
    {
        long slices = Slices;
        int k = extents.Length, m = 0;
        while (m < k && slices / Inner(m) < Math.Min(MinChunks, slices))
            m++;
        var least = ExecutedFlops(Inner(m));
        while (m < k && slices / Inner(m + 1) <= MaxChunks
               && (double)ExecutedFlops(Inner(m + 1)) <= (1 + Tolerance) * (double)least)
            m++;
        // A chunk is the unit of resumes and progress: at most MaxChunkSlices slices per chunk, finer loops and more
        // chunks where the loops allow.
        while (m < k && Inner(m) > MaxChunkSlices)
            m++;
        long chunks = slices / Inner(m);
        long size = Inner(m) * ((chunks + MaxChunks - 1) / MaxChunks);
        return Math.Max(Inner(m), Math.Min(size, MaxChunkSlices / Inner(m) * Inner(m)));
    }
}
