using TnDsl.Api;

namespace TnDsl.Torch;

/// <summary>
/// Chooses the memory layout of every intermediate of a dense pairwise plan, once, when it is built. A step's kernel
/// (tensordot, or permute+reshape+bmm) multiplies two matrices; an operand whose axes are not already grouped as the
/// product needs them is copied first, and on small layers these copies take as long as the products. The planner
/// fixes which tensors meet at each step, not the order of the result's axes: a step's result is laid out as
/// [shared kept, left's own, right's own] in the order of its operands, so which operand is the left one decides the
/// layout every later step sees. This picks, per step, the orientation that copies the fewest elements over the
/// whole plan (greedily, then single flips while they help), and the module permutes the result once at the end.
/// Copies are counted for operands held contiguously in their label order, which every kernel's result is.
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
            var c = new PairContraction(ops[i], ops[j], keep);
            steps[s] = new PlanStep(i, j, c, c.Fastest);
            ops.RemoveAt(Math.Max(i, j));
            ops.RemoveAt(Math.Min(i, j));
            ops.Add([.. c.Result]);
        }
        return (steps, ops[0]);
    }

    /// <summary>The orientation of each planned step (true: its operands are swapped) and the elements copied in
    /// all, for operands labelled <paramref name="leaves"/>, steps given as positions in the current operand list and
    /// the labels each keeps, and label sizes <paramref name="size"/>.</summary>
    public static (bool[] Swapped, long Copied) Choose(IReadOnlyList<int[]> leaves, IReadOnlyList<(int Left, int Right, IReadOnlySet<int> Keep)> steps, Func<int, long> size)
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

    /// The elements copied by the plan with the orientations in <paramref name="swapped"/> (chosen here, step by
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
                swapped[s] = Step(b, a, keep, size).Copied < Step(a, b, keep, size).Copied;
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
    internal static (long Copied, int[] Result) Step(int[] a, int[] b, IReadOnlySet<int> keep, Func<int, long> size)
    {
        var batch = a.Where(l => b.Contains(l) && keep.Contains(l)).ToArray();
        var contracted = a.Where(l => b.Contains(l) && !keep.Contains(l)).ToArray();
        var leftFree = a.Where(l => !b.Contains(l)).ToArray();
        var rightFree = b.Where(l => !a.Contains(l)).ToArray();
        int[] result = [.. batch, .. leftFree, .. rightFree];
        long Numel(int[] ls) => ls.Aggregate(1L, (n, l) => n * size(l));
        // Axes of size 1 sit anywhere in a view; only the order of the others decides whether a reshape copies.
        bool Is(int[] labels, params int[][] groups) =>
            labels.Where(l => size(l) != 1).SequenceEqual(groups.SelectMany(g => g).Where(l => size(l) != 1));
        if (batch.Length == 0)
        {
            // tensordot: A as [own, contracted] and B as [contracted, own]; BLAS reads either transposed.
            bool copyA = !Is(a, leftFree, contracted) && !Is(a, contracted, leftFree);
            bool copyB = !Is(b, contracted, rightFree) && !Is(b, rightFree, contracted);
            return ((copyA ? Numel(a) : 0) + (copyB ? Numel(b) : 0), result);
        }
        // permute+reshape+bmm (see PairContraction.ApplyMatmul), or the swapped product where one side has no own legs.
        long Copies(bool copyA, bool copyB) => (copyA ? Numel(a) : 0) + (copyB ? Numel(b) : 0);
        long plain = Copies(!Is(a, batch, leftFree, contracted), !Is(b, batch, contracted, rightFree));
        long swap = leftFree.Length == 0 || rightFree.Length == 0
            ? Copies(!Is(a, batch, contracted, leftFree), !Is(b, batch, rightFree, contracted))
            : long.MaxValue;
        return (Math.Min(plain, swap), result);
    }
}
