using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>The ways one pairwise contraction step can be executed with TorchSharp.</summary>
public enum PairKernel
{
    /// <summary>A two-operand <c>torch.einsum</c>.</summary>
    Einsum,
    /// <summary><c>torch.tensordot</c> (only for steps without batch legs, i.e. legs kept from both operands).</summary>
    Tensordot,
    /// <summary>Permute both operands to [batch, free, contracted] / [batch, contracted, free], reshape to 3-D, <c>matmul</c>.</summary>
    Matmul,
}

/// <summary>
/// One pairwise contraction of two tensors whose axes carry integer labels (index ids). Each label sits on at most
/// one axis of each operand (see <see cref="Reduce"/>). Labels on both operands are either kept (batch legs, as
/// for a hyperindex) or summed; labels on one operand are kept (a label on one operand that is not kept must be
/// summed out first, by <see cref="Reduce"/>). The result's axes are
/// <see cref="Batch"/> ++ <see cref="LeftFree"/> ++ <see cref="RightFree"/> whatever the kernel.
/// </summary>
public sealed class PairContraction
{
    readonly long[] perA, perB;
    readonly int[] contractA, contractB;
    // tensordot's dims (contractA and contractB as it takes them).
    readonly long[] dimsA, dimsB;
    readonly bool identityA, identityB, inOperandOrder;
    // The swapped product B·A: A as [batch, contracted, free], B as [batch, free, contracted].
    readonly long[] swapA, swapB;
    readonly bool swapped;

    /// <summary>Labels on both operands and kept, in the left operand's order.</summary>
    public IReadOnlyList<int> Batch { get; }
    /// <summary>Labels on both operands and summed, in the left operand's order (or the right's where built so).</summary>
    public IReadOnlyList<int> Contracted { get; }
    /// <summary>Labels only on the left operand, in its order.</summary>
    public IReadOnlyList<int> LeftFree { get; }
    /// <summary>Labels only on the right operand, in its order.</summary>
    public IReadOnlyList<int> RightFree { get; }
    /// <summary>The labels of the result's axes, in order.</summary>
    public IReadOnlyList<int> Result { get; }
    /// <summary>The axes of the left operand that are summed, in <see cref="Contracted"/> order (tensordot's dims).</summary>
    public IReadOnlyList<int> ContractedLeftAxes => contractA;
    /// <summary>The axes of the right operand that are summed, in <see cref="Contracted"/> order (tensordot's dims).</summary>
    public IReadOnlyList<int> ContractedRightAxes => contractB;
    /// <summary>The left operand's labels, in its axis order.</summary>
    public IReadOnlyList<int> LeftLabels { get; }
    /// <summary>The right operand's labels, in its axis order.</summary>
    public IReadOnlyList<int> RightLabels { get; }
    /// <summary>The einsum equation of this step (null where more than 52 distinct labels take part).</summary>
    public string? Equation { get; }

    /// <summary>Plans the contraction of operands labelled <paramref name="left"/> and <paramref name="right"/>,
    /// keeping the shared labels in <paramref name="keep"/>; the result's axes follow the operands' orders.</summary>
    public PairContraction(IReadOnlyList<int> left, IReadOnlyList<int> right, IReadOnlySet<int> keep)
        : this(left, right, keep, null)
    {
    }

    /// <summary>Plans the step of a plan that makes <paramref name="result"/> (the planner's
    /// <c>PairStepView.Kept</c>): its labels and their order, legs on both operands first, then the left operand's
    /// own, then the right's. Throws when the result is not grouped so or does not fit the operands.</summary>
    public PairContraction(IReadOnlyList<int> left, IReadOnlyList<int> right, IReadOnlyList<int> result)
        : this(left, right, result.ToHashSet(), result)
    {
    }

    /// <summary>As <see cref="PairContraction(IReadOnlyList{int}, IReadOnlyList{int}, IReadOnlyList{int})"/>, the summed
    /// legs taken in the right operand's order when <paramref name="contractedInRightOrder"/>.</summary>
    public PairContraction(IReadOnlyList<int> left, IReadOnlyList<int> right, IReadOnlyList<int> result, bool contractedInRightOrder)
        : this(left, right, result.ToHashSet(), result, contractedInRightOrder)
    {
    }

    /// <summary>As <see cref="PairContraction(IReadOnlyList{int}, IReadOnlyList{int}, IReadOnlySet{int})"/>, the summed
    /// legs taken in the right operand's order when <paramref name="contractedInRightOrder"/> (the same product; which
    /// operand a kernel may have to copy differs: see <c>StepLayouts</c>).</summary>
    public PairContraction(IReadOnlyList<int> left, IReadOnlyList<int> right, IReadOnlySet<int> keep, bool contractedInRightOrder)
        : this(left, right, keep, null, contractedInRightOrder)
    {
    }

    PairContraction(IReadOnlyList<int> left, IReadOnlyList<int> right, IReadOnlySet<int> keep, IReadOnlyList<int>? order, bool contractedInRightOrder = false)
    {
        if (left.Distinct().Count() != left.Count || right.Distinct().Count() != right.Count)
            throw new ArgumentException("an operand carries a label twice; reduce it first");
        var inRight = right.ToHashSet();
        var inLeft = left.ToHashSet();
        int[] Ordered(IEnumerable<int> labels) =>
            order is null ? labels.ToArray() : labels.OrderBy(l => IndexOf(order, l)).ToArray();
        Batch = Ordered(left.Where(l => inRight.Contains(l) && keep.Contains(l)));
        Contracted = contractedInRightOrder
            ? right.Where(l => inLeft.Contains(l) && !keep.Contains(l)).ToArray()
            : left.Where(l => inRight.Contains(l) && !keep.Contains(l)).ToArray();
        LeftFree = Ordered(left.Where(l => !inRight.Contains(l)));
        RightFree = Ordered(right.Where(l => !inLeft.Contains(l)));
        Result = [.. Batch, .. LeftFree, .. RightFree];
        // tensordot keeps each operand's own legs in that operand's order; a planned order that differs needs matmul.
        inOperandOrder = LeftFree.SequenceEqual(left.Where(l => !inRight.Contains(l)))
                         && RightFree.SequenceEqual(right.Where(l => !inLeft.Contains(l)));
        if (order is not null && !Result.SequenceEqual(order))
            throw new ArgumentException($"the planned result [{string.Join(", ", order)}] is not the operands' shared kept legs, then the left's, then the right's");

        perA = Batch.Concat(LeftFree).Concat(Contracted).Select(l => (long)IndexOf(left, l)).ToArray();
        perB = Batch.Concat(Contracted).Concat(RightFree).Select(l => (long)IndexOf(right, l)).ToArray();
        identityA = perA.Select((p, i) => p == i).All(x => x);
        identityB = perB.Select((p, i) => p == i).All(x => x);
        swapA = Batch.Concat(Contracted).Concat(LeftFree).Select(l => (long)IndexOf(left, l)).ToArray();
        swapB = Batch.Concat(RightFree).Concat(Contracted).Select(l => (long)IndexOf(right, l)).ToArray();
        static bool Identity(long[] p) => p.Select((x, i) => x == i).All(x => x);
        int Copies(bool a, bool b) => (a ? 0 : 1) + (b ? 0 : 1);
        // Computing (B·A)ᵀ costs no permutation of the result when one side has no free legs, so it is used
        // where it needs fewer operand permutations (e.g. env[b,p,r]·x[b,p] as x[b,1,p]·env[b,p,r]).
        swapped = (LeftFree.Count == 0 || RightFree.Count == 0)
                  && Copies(Identity(swapA), Identity(swapB)) < Copies(identityA, identityB);
        (LeftLabels, RightLabels) = (left.ToArray(), right.ToArray());
        contractA = Contracted.Select(l => IndexOf(left, l)).ToArray();
        contractB = Contracted.Select(l => IndexOf(right, l)).ToArray();
        dimsA = contractA.Select(i => (long)i).ToArray();
        dimsB = contractB.Select(i => (long)i).ToArray();

        var labels = left.Concat(right).Distinct().ToList();
        if (labels.Count <= Letters.Length)
        {
            string Word(IEnumerable<int> ls) => string.Concat(ls.Select(l => Letters[labels.IndexOf(l)]));
            Equation = $"{Word(left)},{Word(right)}->{Word(Result)}";
        }
    }

    const string Letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    static int IndexOf(IReadOnlyList<int> xs, int x)
    {
        for (int i = 0; i < xs.Count; i++)
            if (xs[i] == x)
                return i;
        throw new ArgumentException($"label {x} missing");
    }

    /// <summary>
    /// The kernel measured fastest for this step on CPU (<c>dotnet run -c Release --project bench/TnDsl.TorchBench -- kernels</c>):
    /// tensordot for steps without batch legs (whose result keeps the operands' orders), permute+reshape+matmul
    /// (batched) otherwise. Two-operand einsum was
    /// never the fastest, by 3-70%.
    /// </summary>
    public PairKernel Fastest => Supports(PairKernel.Tensordot) ? PairKernel.Tensordot : PairKernel.Matmul;

    /// <summary>Whether <paramref name="kernel"/> can execute this step.</summary>
    public bool Supports(PairKernel kernel) =>
        kernel switch
        {
            PairKernel.Einsum => Equation is not null,
            PairKernel.Tensordot => Batch.Count == 0 && inOperandOrder,
            _ => true,
        };

    /// <summary>Contracts <paramref name="a"/> (left) with <paramref name="b"/> (right) using <paramref name="kernel"/>.</summary>
    public Tensor Apply(Tensor a, Tensor b, PairKernel kernel)
    {
        switch (kernel)
        {
            case PairKernel.Einsum when Equation is not null:
                return einsum(Equation, a, b);
            case PairKernel.Tensordot when Supports(PairKernel.Tensordot):
                return tensordot(a, b, dimsA, dimsB);
            case PairKernel.Einsum or PairKernel.Tensordot:
                throw new InvalidOperationException($"{kernel} cannot execute this step");
            default:
                return ApplyMatmul(a, b);
        }
    }

    Tensor ApplyMatmul(Tensor a, Tensor b)
    {
        int nb = Batch.Count, nl = LeftFree.Count, nr = RightFree.Count;
        var sa = a.shape;
        var sb = b.shape;
        long Prod(long[] shape, long[] perm, int from, int count)
        {
            long p = 1;
            for (int i = from; i < from + count; i++)
                p *= shape[perm[i]];
            return p;
        }
        long bs = Prod(sa, perA, 0, nb), m = Prod(sa, perA, nb, nl), k = Prod(sa, perA, nb + nl, Contracted.Count);
        long n = Prod(sb, perB, nb + Contracted.Count, nr);
        var shape = new long[nb + nl + nr];
        for (int i = 0; i < nb + nl; i++)
            shape[i] = sa[perA[i]];
        for (int i = 0; i < nr; i++)
            shape[nb + nl + i] = sb[perB[nb + Contracted.Count + i]];
        // Temporaries are disposed one by one rather than through a dispose scope: this runs once per step and
        // the scope's bookkeeping is measurable next to small products. Identity permutations are skipped.
        if (swapped)
        {
            using var sa2 = Identity(perm: swapA) ? null : a.permute(swapA);
            using var sb2 = Identity(perm: swapB) ? null : b.permute(swapB);
            using var ak = (sa2 ?? a).reshape(bs, k, m);
            using var bk = (sb2 ?? b).reshape(bs, n, k);
            // One of m, n is 1, so (B·A) [bs, n, m] holds the entries of [bs, m, n] in the same order.
            using var rs = bk.bmm(ak);
            return rs.reshape(shape);
        }
        using var ap = identityA ? null : a.permute(perA);
        using var bp = identityB ? null : b.permute(perB);
        // Without batch legs a 2-D matmul lets BLAS see one large product rather than a batch of one.
        using var a3 = nb == 0 ? (ap ?? a).reshape(m, k) : (ap ?? a).reshape(bs, m, k);
        using var b3 = nb == 0 ? (bp ?? b).reshape(k, n) : (bp ?? b).reshape(bs, k, n);
        using var r = nb == 0 ? a3.matmul(b3) : a3.bmm(b3);
        return r.reshape(shape);
    }

    /// <summary>
    /// How <paramref name="kernel"/> lays out the operands for its product (for the memory model): each operand's
    /// permutation and how many of the permuted axes each dimension of the reshaped operand merges.
    /// </summary>
    internal (long[] Left, int[] LeftGroups, long[] Right, int[] RightGroups) Layout(PairKernel kernel)
    {
        int nb = Batch.Count, nl = LeftFree.Count, nr = RightFree.Count, nc = Contracted.Count;
        if (kernel == PairKernel.Tensordot && Supports(PairKernel.Tensordot))
            return (LeftFree.Concat(Contracted).Select(l => (long)IndexOf(LeftLabels, l)).ToArray(), [nl, nc],
                    Contracted.Concat(RightFree).Select(l => (long)IndexOf(RightLabels, l)).ToArray(), [nc, nr]);
        if (kernel == PairKernel.Einsum)
            return (perA, [nb, nl, nc], perB, [nb, nc, nr]);
        return swapped ? (swapA, [nb, nc, nl], swapB, [nb, nr, nc]) : (perA, nb == 0 ? [nl, nc] : [nb, nl, nc], perB, nb == 0 ? [nc, nr] : [nb, nc, nr]);
    }

    static bool Identity(long[] perm)
    {
        for (int i = 0; i < perm.Length; i++)
            if (perm[i] != i)
                return false;
        return true;
    }

    /// <summary>
    /// Brings one operand into the form <see cref="PairContraction"/> needs: a label repeated on several axes is
    /// replaced by its diagonal, and labels not in <paramref name="keep"/> are summed. Returns the labels of the
    /// result, and the tensor (the same object where nothing had to change).
    /// </summary>
    public static (Tensor Tensor, int[] Labels) Reduce(Tensor t, IReadOnlyList<int> labels, Func<int, bool> keep)
    {
        var result = labels.Distinct().Where(keep).ToArray();
        if (result.Length == labels.Count)
            return (t, result);
        var distinct = labels.Distinct().ToList();
        if (distinct.Count > Letters.Length)
            throw new NotSupportedException("more than 52 distinct labels on one tensor");
        string Word(IEnumerable<int> ls) => string.Concat(ls.Select(l => Letters[distinct.IndexOf(l)]));
        return (einsum($"{Word(labels)}->{Word(result)}", t), result);
    }
}
