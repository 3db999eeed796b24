using TnDsl.Api;

namespace TnDsl.Torch;

/// <summary>
/// Chooses the memory layout of every intermediate of a dense pairwise plan, once, when it is built. A step's kernel
/// (tensordot, or permute+reshape+bmm) multiplies two matrices; an operand whose axes are not already grouped as the
/// product needs them is copied first, and on small layers these copies take as long as the products. The planner
/// fixes which tensors meet at each step, not the order of the result's axes: a step's result is laid out as
/// [shared kept, left's own, right's own] in the order of its operands, so which operand is the left one decides the
/// layout every later step sees. This picks, per step, the orientation whose copies cost least over the whole plan
/// (greedily, then single flips while they help; <see cref="CopyCost"/>: the elements copied, and the inner loops
/// they take), and the module permutes the result once at the end. Copies are counted for operands held
/// contiguously in their label order, which every kernel's result is.
/// </summary>
static class StepLayouts
{
    /// Plans with more steps than this keep the greedy orientation (each flip re-walks the plan).
    const int FlipLimit = 400;

    /// <summary>The steps of <paramref name="plan"/> on operands labelled <paramref name="leaves"/>, each oriented by
    /// <see cref="Choose"/> (ties keep the planner's orientation) and run by its fastest kernel, and the labels of
    /// the last operand.</summary>
    public static (PlanStep[] Steps, int[] Final) Orient(IReadOnlyList<int[]> leaves, PlanView plan, Func<int, long> size)
    {
        var keeps = plan.Steps.Select(s => (s.Left, s.Right, (IReadOnlySet<int>)s.Kept.ToHashSet())).ToArray();
        var (swapped, _) = Choose(leaves, keeps, size);
        var ops = leaves.ToList();
        var steps = new PlanStep[keeps.Length];
        for (int s = 0; s < steps.Length; s++)
        {
            var (i, j, keep) = keeps[s];
            if (swapped[s])
                (i, j) = (j, i);
            Step(ops[i], ops[j], keep, size, out bool rightOrder);
            var c = new PairContraction(ops[i], ops[j], keep, rightOrder);
            steps[s] = new PlanStep(i, j, c, c.Fastest);
            ops.RemoveAt(Math.Max(i, j));
            ops.RemoveAt(Math.Min(i, j));
            ops.Add([.. c.Result]);
        }
        return (steps, ops[0]);
    }

    /// <summary>The orientation of each planned step (true: its operands are swapped) and the cost of its copies in
    /// all (see <see cref="CopyCost"/>), for operands labelled <paramref name="leaves"/>, steps given as positions in the current operand list and
    /// the labels each keeps, and label sizes <paramref name="size"/>.</summary>
    public static (bool[] Swapped, long Cost) Choose(IReadOnlyList<int[]> leaves, IReadOnlyList<(int Left, int Right, IReadOnlySet<int> Keep)> steps, Func<int, long> size)
    {
        var swapped = new bool[steps.Count];
        // Greedy: each step takes its cheaper orientation given the layouts so far (ties keep the planner's).
        Walk(leaves, steps, size, swapped, greedy: true);
        long best = Walk(leaves, steps, size, swapped, greedy: false);
        if (steps.Count > FlipLimit)
            return (swapped, best);
        for (bool improved = true; improved && best > 0;)
        {
            improved = false;
            for (int s = 0; s < steps.Count && best > 0; s++)
            {
                swapped[s] = !swapped[s];
                long cost = Walk(leaves, steps, size, swapped, greedy: false);
                if (cost < best)
                {
                    best = cost;
                    improved = true;
                }
                else
                    swapped[s] = !swapped[s];
            }
        }
        return (swapped, best);
    }

    /// The cost of the copies the plan makes with the orientations in <paramref name="swapped"/> (chosen here, step by
    /// step, when <paramref name="greedy"/>).
    static long Walk(IReadOnlyList<int[]> leaves, IReadOnlyList<(int Left, int Right, IReadOnlySet<int> Keep)> steps, Func<int, long> size, bool[] swapped, bool greedy)
    {
        var ops = leaves.ToList();
        long total = 0;
        for (int s = 0; s < steps.Count; s++)
        {
            var (i, j, keep) = steps[s];
            var (a, b) = (ops[i], ops[j]);
            if (greedy)
                swapped[s] = Step(b, a, keep, size).Cost < Step(a, b, keep, size).Cost;
            var (copied, result) = swapped[s] ? Step(b, a, keep, size) : Step(a, b, keep, size);
            total += copied;
            ops.RemoveAt(Math.Max(i, j));
            ops.RemoveAt(Math.Min(i, j));
            ops.Add(result);
        }
        return total;
    }

    /// The elements the kernel <see cref="PairContraction.Fastest"/> copies for the step with left operand
    /// <paramref name="a"/> and right operand <paramref name="b"/> (both contiguous in label order), and the labels
    /// of its result (which is contiguous).
    internal static (long Cost, int[] Result) Step(int[] a, int[] b, IReadOnlySet<int> keep, Func<int, long> size) =>
        Step(a, b, keep, size, out _);

    /// <summary>As <see cref="Step(int[], int[], IReadOnlySet{int}, Func{int, long})"/>, and whether the summed legs
    /// go in the right operand's order (<paramref name="rightOrder"/>) rather than the left's: either order gives the
    /// same product, and where the two operands hold them in different orders, the one that spares the larger
    /// operand its copy is taken (an MPS layer's [batch, p, b] environment against a (b, p, b') site: the site is
    /// permuted, 1 KB, rather than the environment, 6.4 MB kept for backward at batch 50,000).</summary>
    internal static (long Cost, int[] Result) Step(int[] a, int[] b, IReadOnlySet<int> keep, Func<int, long> size, out bool rightOrder)
    {
        var inLeft = a.Where(l => b.Contains(l) && !keep.Contains(l)).ToArray();
        var inRight = b.Where(l => a.Contains(l) && !keep.Contains(l)).ToArray();
        var (cost, result) = Step(a, b, keep, size, inLeft);
        rightOrder = false;
        if (!inRight.SequenceEqual(inLeft))
        {
            var (other, _) = Step(a, b, keep, size, inRight);
            if (other < cost)
                (cost, rightOrder) = (other, true);
        }
        return (cost, result);
    }

    static (long Cost, int[] Result) Step(int[] a, int[] b, IReadOnlySet<int> keep, Func<int, long> size, int[] contracted)
    {
        var batch = a.Where(l => b.Contains(l) && keep.Contains(l)).ToArray();
        var leftFree = a.Where(l => !b.Contains(l)).ToArray();
        var rightFree = b.Where(l => !a.Contains(l)).ToArray();
        int[] result = [.. batch, .. leftFree, .. rightFree];
        // Axes of size 1 sit anywhere in a view; only the order of the others decides whether a reshape copies.
        bool Is(int[] labels, params int[][] groups) =>
            labels.Where(l => size(l) != 1).SequenceEqual(groups.SelectMany(g => g).Where(l => size(l) != 1));
        long Copy(int[] labels, params int[][] target) => Is(labels, target) ? 0 : CopyCost(labels, [.. target.SelectMany(g => g)], size);
        if (batch.Length == 0)
        {
            // tensordot: A as [own, contracted] and B as [contracted, own] (contracted legs in the order given); BLAS
            // reads either transposed.
            long copyA = Is(a, contracted, leftFree) ? 0 : Copy(a, leftFree, contracted);
            long copyB = Is(b, rightFree, contracted) ? 0 : Copy(b, contracted, rightFree);
            return (copyA + copyB, result);
        }
        // permute+reshape+bmm (see PairContraction.ApplyMatmul), or the swapped product where one side has no own legs.
        long plain = Copy(a, batch, leftFree, contracted) + Copy(b, batch, contracted, rightFree);
        long swap = leftFree.Length == 0 || rightFree.Length == 0
            ? Copy(a, batch, contracted, leftFree) + Copy(b, batch, rightFree, contracted)
            : long.MaxValue;
        return (Math.Min(plain, swap), result);
    }

    /// Per inner loop of a strided copy, what copying this many more elements costs (libtorch's TensorIterator
    /// copies along the innermost run that is contiguous on both sides; measured on tt-linear's 4096-element weight:
    /// runs of 2 took 24 us, runs of 4 took 10 us).
    const long LoopCost = 32;

    /// <summary>The cost of copying an operand held contiguously in the order of <paramref name="labels"/> into the
    /// order of <paramref name="target"/>, in elements: its size, plus <see cref="LoopCost"/> per inner loop, whose
    /// length is the longest tail of the target that is also a consecutive run of the source.</summary>
    internal static long CopyCost(int[] labels, int[] target, Func<int, long> size)
    {
        var source = labels.Where(l => size(l) != 1).ToArray();
        var order = target.Where(l => size(l) != 1).ToArray();
        long numel = source.Aggregate(1L, (n, l) => n * size(l));
        long run = 1;
        for (int k = order.Length - 1, at = -1; k >= 0; k--)
        {
            int i = Array.IndexOf(source, order[k]);
            if (at >= 0 && i != at - 1)
                break;
            run *= size(order[k]);
            at = i;
        }
        return numel + LoopCost * (numel / Math.Max(run, 1));
    }
}
