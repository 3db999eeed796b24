using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Torch;

/// <summary>
/// A structure-aware way to execute one pairwise step, chosen by <see cref="Lowering.Choose"/> when a
/// <see cref="NetworkModule"/> is built and never changed afterwards. It computes exactly what
/// <see cref="PairContraction.Apply"/> computes on the dense operands, with the result's axes in
/// <see cref="PairContraction.Result"/> order, but uses what the compiler knows about an operand (a one-hot input,
/// a copy tensor) instead of a dense product. Differentiable through autograd like the dense kernels.
/// </summary>
public abstract class StepLowering
{
    /// <summary>A short name for reports (<c>gather</c>, <c>diagonal</c>).</summary>
    public abstract string Name { get; }

    /// <summary>Executes the step on the live operands (the structured operand as <see cref="Lowering"/> describes it).</summary>
    public abstract Tensor Apply(Tensor left, Tensor right);
}

/// <summary>
/// What the compiler knows about an operand when the plan is built: nothing (dense values), a one-hot input (fed
/// as its class numbers, the one-hot leg last among its labels), or a copy tensor (1 where all its legs agree).
/// </summary>
public enum OperandForm
{
    /// <summary>Dense values, nothing known.</summary>
    Dense,
    /// <summary>A one-hot input: at run time the operand is the int64 tensor of class numbers over every label
    /// except the last, which is the one-hot leg.</summary>
    OneHot,
    /// <summary>A const copy tensor (δ over legs of one size); at run time its dense buffer is live but unused.</summary>
    Copy,
}

/// <summary>
/// The rules that pick a <see cref="StepLowering"/> for a step. Both lowerings do strictly less work than the
/// dense product they replace, so the cost model reduces to when they apply:
/// <list type="bullet">
/// <item>A one-hot operand whose one-hot leg is summed in the step becomes a row gather
/// (<c>index_select</c>) of the other operand: |result| copies instead of |result|·d multiply-adds, and no
/// one-hot tensor is made (backward: autograd's <c>index_add</c>).</item>
/// <item>A copy tensor whose legs leave at most one copy of the diagonal in the result becomes a diagonal view
/// (and a sum over it where no leg survives) of the other operand: no dense δ enters a product. With two or more
/// surviving legs the result is dense in them anyway, and the dense kernel is kept.</item>
/// </list>
/// <item>A step that sums nothing (an outer product, or a Hadamard product over shared kept labels, as when a
/// one-hot input meets an environment over the batch) becomes one broadcast multiplication: the same
/// multiplications as the dense kernel's batched product with an inner size of 1, without the batched-GEMM
/// dispatch.</item>
/// Everything else runs densely; a one-hot operand is then expanded to its one-hot values first.
/// </summary>
public static class Lowering
{
    /// <summary>Whether a const parameter's values are a copy tensor: its initialiser is <c>copy</c> (the default for
    /// consts) or, for two legs, <c>identity</c>, and all its legs have one size.</summary>
    public static bool IsCopy(InitSpec? init, IReadOnlyList<long> sizes) =>
        (init ?? Initializers.DefaultConst) switch
        {
            InitSpec.Copy => sizes.Count > 0 && sizes.All(s => s == sizes[0]),
            InitSpec.Identity => sizes.Count == 2 && sizes[0] == sizes[1],
            _ => false,
        };

    /// <summary>
    /// Picks the lowering of step <paramref name="c"/> whose operands have the given forms, or null for the dense
    /// kernel. <paramref name="leftLabels"/> and <paramref name="rightLabels"/> are the operands' labels (a one-hot
    /// operand's one-hot leg last).
    /// </summary>
    public static StepLowering? Choose(PairContraction c, IReadOnlyList<int> leftLabels, OperandForm left,
                                       IReadOnlyList<int> rightLabels, OperandForm right)
    {
        if (left == OperandForm.OneHot && right != OperandForm.OneHot && c.Contracted.Contains(leftLabels[^1]))
            return new OneHotGather(c, leftLabels, rightLabels, indexOnLeft: true);
        if (right == OperandForm.OneHot && left != OperandForm.OneHot && c.Contracted.Contains(rightLabels[^1]))
            return new OneHotGather(c, rightLabels, leftLabels, indexOnLeft: false);
        if (left == OperandForm.OneHot || right == OperandForm.OneHot)
            return c.Contracted.Count == 0 ? new OuterProduct(c, leftLabels, rightLabels) : null;
        if (left == OperandForm.Copy && CopyDiagonal.Applies(c, leftLabels, rightLabels))
            return new CopyDiagonal(c, leftLabels, rightLabels, copyOnLeft: true);
        if (right == OperandForm.Copy && CopyDiagonal.Applies(c, rightLabels, leftLabels))
            return new CopyDiagonal(c, rightLabels, leftLabels, copyOnLeft: false);
        if (c.Contracted.Count == 0)
            return new OuterProduct(c, leftLabels, rightLabels);
        return null;
    }

    /// <summary>
    /// Picks the lowering of every step of a plan: per step the rule of <see cref="Choose"/>, and one rule over two
    /// steps: a one-hot input O multiplied by an operand X over the batch (a step that sums nothing, O's other legs all
    /// on X) whose product is consumed by a step U that sums O's one-hot leg is deferred (<see cref="DeferOneHot"/>),
    /// and that step becomes X·U followed by a gather (<see cref="ContractThenGather"/>): one matrix product and
    /// a gather, where the plan's order asks for a broadcast product and a product over a leg d times larger.
    /// Returns the lowering per step (null: dense) and which tensors are one-hot inputs fed as class numbers.
    /// </summary>
    /// <para>With <paramref name="size"/> (the labels' sizes, a dynamic label at its declared size), runs of
    /// contract-gather steps along a matrix chain become a <see cref="OneHotChain"/> where its cost model says so.</para>
    internal static (StepLowering?[] Steps, bool[] AsIndex) Lower(IReadOnlyList<int[]> leafLabels, IReadOnlyList<OperandForm> leafForms,
                                                                 IReadOnlyList<(int Left, int Right, PairContraction C)> steps,
                                                                 Func<int, long>? size = null)
    {
        int leaves = leafLabels.Count;
        var labels = new List<IReadOnlyList<int>>(leafLabels);
        var forms = new List<OperandForm>(leafForms);
        var operands = new (int Left, int Right)[steps.Count];
        var consumer = Enumerable.Repeat(-1, leaves + steps.Count).ToArray();
        var ids = Enumerable.Range(0, leaves).ToList();
        for (int s = 0; s < steps.Count; s++)
        {
            var (i, j, c) = steps[s];
            operands[s] = (ids[i], ids[j]);
            consumer[ids[i]] = consumer[ids[j]] = s;
            ids.RemoveAt(Math.Max(i, j));
            ids.RemoveAt(Math.Min(i, j));
            ids.Add(leaves + s);
            labels.Add(c.Result);
            forms.Add(OperandForm.Dense);
        }
        var result = new StepLowering?[steps.Count];
        var asIndex = new bool[leaves];
        var deferred = new Dictionary<int, DeferOneHot>();
        for (int s = 0; s < steps.Count; s++)
        {
            var (l, r) = operands[s];
            var c = steps[s].C;
            if (deferred.TryGetValue(s, out var defer))
            {
                bool productOnLeft = l == defer.Node;
                result[s] = new ContractThenGather(c, defer, productOnLeft ? labels[r] : labels[l], productOnLeft);
                continue;
            }
            foreach (var (o, x, oneHotOnLeft) in new[] { (l, r, true), (r, l, false) })
            {
                if (forms[o] != OperandForm.OneHot || forms[x] == OperandForm.OneHot || c.Contracted.Count > 0)
                    continue;
                int p = labels[o][^1];
                int next = consumer[leaves + s];
                if (labels[x].Contains(p) || !labels[o].SkipLast(1).All(labels[x].Contains) || next < 0
                    || !steps[next].C.Contracted.Contains(p) || deferred.ContainsKey(next))
                    continue;
                int u = operands[next].Left == leaves + s ? operands[next].Right : operands[next].Left;
                if (forms[u] == OperandForm.OneHot)
                    continue;
                deferred[next] = new DeferOneHot(leaves + s, labels[o], labels[x], oneHotOnLeft) { DenseNode = x };
                result[s] = deferred[next];
                asIndex[o] = true;
                break;
            }
            if (result[s] is not null)
                continue;
            result[s] = Choose(c, labels[l], forms[l], labels[r], forms[r]);
            if (result[s] is OneHotGather)
                asIndex[forms[l] == OperandForm.OneHot ? l : r] = true;
        }
        if (size is not null)
            Chains(result, steps.Select(st => st.C).ToArray(), operands, labels, leaves, size);
        return (result, asIndex);
    }

    /// <summary>
    /// Replaces runs of contract-gather steps along a matrix chain by <see cref="OneHotChain"/>s: a link is a
    /// contract-gather step whose deferred one-hot input O has labels [B, p], whose environment X has labels {B, l},
    /// whose other operand U has labels {l, p, r} with |l| = |r| = χ, and whose result is {B, r}; the next link's
    /// environment is this link's result. A run of links of one χ and one P becomes a chain of its longest even prefix
    /// where <see cref="OneHotChain.Worthwhile"/> says so.
    /// </summary>
    static void Chains(StepLowering?[] result, PairContraction[] steps, (int Left, int Right)[] operands,
                       List<IReadOnlyList<int>> labels, int leaves, Func<int, long> size)
    {
        // The link at each step, or null: (environment node, core node, B, l, p, r).
        var links = new (int Env, int Core, int B, int L, int P, int R)?[steps.Length];
        var stepOfDefer = new Dictionary<int, int>();
        for (int s = 0; s < steps.Length; s++)
        {
            if (result[s] is not ContractThenGather || FindDefer(result, operands, s, leaves) is not { } defer)
                continue;
            var (l0, r0) = operands[s];
            int core = l0 == defer.Node ? r0 : l0;
            var o = defer.OneHotLabels;
            var x = defer.DenseLabels;
            var u = labels[core];
            var c = steps[s].Result;
            if (o.Length != 2 || x.Length != 2 || u.Count != 3 || c.Count != 2 || !x.Contains(o[0]))
                continue;
            int b = o[0], p = o[1], l = x[0] == b ? x[1] : x[0];
            int r = c[0] == b ? c[1] : c[0];
            if (!c.Contains(b) || !u.Contains(l) || !u.Contains(p) || !u.Contains(r) || r == l || r == p
                || size(l) != size(r) || size(l) < 1)
                continue;
            links[s] = (defer.DenseNode, core, b, l, p, r);
        }
        // Follow each run from its first link (one whose environment is not another link's result).
        var next = new int[steps.Length];
        Array.Fill(next, -1);
        var linked = new bool[steps.Length];
        for (int s = 0; s < steps.Length; s++)
            if (links[s] is { } link && link.Env >= leaves && links[link.Env - leaves] is { } before
                && size(before.L) == size(link.L) && size(before.P) == size(link.P) && before.B == link.B)
            {
                next[link.Env - leaves] = s;
                linked[s] = true;
            }
        for (int s = 0; s < steps.Length; s++)
        {
            if (links[s] is not { } first || linked[s])
                continue;
            var run = new List<int>();
            for (int t = s; t >= 0; t = next[t])
                run.Add(t);
            int length = run.Count / 2 * 2;
            if (length < 2 || !OneHotChain.Worthwhile(size(first.B), size(first.L), size(first.P), length))
                continue;
            var last = links[run[length - 1]]!.Value;
            var chain = new OneHotChain(
                OrNull(Positions(labels[first.Env], [first.B, first.L])),
                run.Take(length).Select(t => OrNull(Positions(labels[links[t]!.Value.Core], [links[t]!.Value.L, links[t]!.Value.P, links[t]!.Value.R]))).ToArray(),
                OrNull(Positions([last.B, last.R], steps[run[length - 1]].Result)));
            for (int j = 0; j < length; j++)
            {
                int t = run[j];
                var defer = FindDefer(result, operands, t, leaves)!;
                result[t] = new ChainLink(chain, j, (ContractThenGather)result[t]!, operands[t].Left == defer.Node, steps[t].Result);
            }
        }
    }

    /// The deferred one-hot product a contract-gather step consumes.
    static DeferOneHot? FindDefer(StepLowering?[] result, (int Left, int Right)[] operands, int s, int leaves)
    {
        var (l, r) = operands[s];
        foreach (int node in new[] { l, r })
            if (node >= leaves && result[node - leaves] is DeferOneHot d && d.Node == node)
                return d;
        return null;
    }

    internal static long[] Positions(IReadOnlyList<int> of, IEnumerable<int> labels) =>
        labels.Select(l => (long)IndexOf(of, l)).ToArray();

    internal static int IndexOf(IReadOnlyList<int> xs, int x)
    {
        for (int i = 0; i < xs.Count; i++)
            if (xs[i] == x)
                return i;
        throw new ArgumentException($"label {x} missing");
    }

    /// A permutation, or null where it is the identity.
    internal static long[]? OrNull(long[] perm) => IsIdentity(perm) ? null : perm;

    internal static bool IsIdentity(long[] perm)
    {
        for (int i = 0; i < perm.Length; i++)
            if (perm[i] != i)
                return false;
        return true;
    }

    internal static long Product(long[] shape, int from, int count)
    {
        long p = 1;
        for (int i = from; i < from + count; i++)
            p *= shape[i];
        return p;
    }
}

/// <summary>
/// A step with a one-hot operand O (class numbers k over labels Lo, one-hot leg p of width P summed here) and a
/// dense operand T: result[..] = Σ T[.., p = k[..], ..] over the other summed labels. T is laid out as rows
/// [shared kept, shared summed, p] × columns [T's free labels], and the rows k picks are copied with one
/// <c>index_select</c>; a sum runs over the shared summed labels where there are any.
/// </summary>
public sealed class OneHotGather : StepLowering
{
    // Internal for the memory model (ExecutedBytes), which follows the same layouts.
    internal readonly bool indexOnLeft;
    internal readonly long[]? permT, permK;
    internal readonly int kept, summed;
    internal readonly long[]? permResult;

    /// <inheritdoc/>
    public override string Name => "gather";

    internal OneHotGather(PairContraction c, IReadOnlyList<int> oneHotLabels, IReadOnlyList<int> denseLabels, bool indexOnLeft)
    {
        this.indexOnLeft = indexOnLeft;
        int p = oneHotLabels[^1];
        var index = oneHotLabels.Take(oneHotLabels.Count - 1).ToArray();
        var inDense = denseLabels.ToHashSet();
        var sharedKept = c.Batch.ToArray();
        var sharedSummed = c.Contracted.Where(l => l != p).ToArray();
        var indexFree = index.Where(l => !inDense.Contains(l)).ToArray();
        var inIndex = index.ToHashSet();
        var denseFree = denseLabels.Where(l => l != p && !inIndex.Contains(l)).ToArray();
        (kept, summed) = (sharedKept.Length, sharedSummed.Length);
        permT = Lowering.OrNull(Lowering.Positions(denseLabels, [.. sharedKept, .. sharedSummed, p, .. denseFree]));
        permK = Lowering.OrNull(Lowering.Positions(index, [.. sharedKept, .. sharedSummed, .. indexFree]));
        // The gather yields [shared kept, index free, dense free]; the step's result order may differ.
        int[] produced = [.. sharedKept, .. indexFree, .. denseFree];
        var perm = Lowering.Positions(produced, c.Result);
        permResult = Lowering.IsIdentity(perm) ? null : perm;
    }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor left, Tensor right)
    {
        // Few calls per step: along a chain this runs once per site, and each TorchSharp call costs microseconds.
        var (k, t) = indexOnLeft ? (left, right) : (right, left);
        using var tp = permT is null ? null : t.permute(permT);
        using var kp = permK is null ? null : k.permute(permK);
        var st = (tp ?? t).shape;
        var sk = (kp ?? k).shape;
        long rows = Lowering.Product(st, 0, kept + summed), width = st[kept + summed];
        long columns = Lowering.Product(st, kept + summed + 1, st.Length - kept - summed - 1);
        long picks = Lowering.Product(sk, kept + summed, sk.Length - kept - summed);
        // T as a [rows·width, columns] table: row r·width + p holds T at (shared labels = r, p). index_select copies
        // whole rows, which beats an element-wise gather when the rows are long.
        using var table = (tp ?? t).reshape(rows * width, columns);
        using var k2 = (kp ?? k).reshape(rows, picks);
        // The offset index is disposed here, not left to the caller's scope: one per step would stay alive (and
        // fragment the heap between larger tensors) until the whole forward pass ends.
        using var offset = rows == 1 ? null : Plus(k2, Offsets(rows, width, k.device));
        using var flat = (offset ?? k2).reshape(-1);
        using var gathered = table.index_select(0, flat);
        long[] shape = [.. st[..kept], .. sk[(kept + summed)..], .. st[(kept + summed + 1)..]];
        using var rows3 = summed == 0 ? null : gathered.view(Lowering.Product(st, 0, kept), Lowering.Product(st, kept, summed), picks * columns);
        using var reduced = rows3?.sum(1);
        var result = (reduced ?? gathered).reshape(shape);
        if (permResult is null)
            return result;
        using (result)
            return result.permute(permResult);
    }

    // The row offsets 0, width, 2·width, … as a [rows, 1] column, kept between calls and shared by every gather on
    // this thread (a chain asks for the same ones at every site). One tensor, not one per step: a cache per step
    // would be allocated between the larger tensors of the first call and keep glibc's heap from reusing their
    // memory (the Born machine's forward pass at 100 sites rose by 52 MB instead of 11). Outside any dispose scope;
    // replaced (and the old one released) when the batch or device changes.
    [ThreadStatic]
    static (Tensor Value, long Rows, long Width, DeviceType Device, int Index)? offsets;

    static Tensor Offsets(long rows, long width, Device device)
    {
        if (offsets is { } o && o.Rows == rows && o.Width == width && o.Device == device.type && o.Index == device.index && !o.Value.IsInvalid)
            return o.Value;
        offsets?.Value.Dispose();
        using (NewDisposeScope())
        {
            var value = ScalarOps.Arange(0, rows * width, width, ScalarType.Int64, device).unsqueeze(1).DetachFromDisposeScope();
            offsets = (value, rows, width, device.type, device.index);
            return value;
        }
    }
}

/// <summary>
/// A step with a copy tensor δ (legs of one size n, 1 where all agree) and a dense operand T: T's axes that carry
/// δ's legs collapse onto their diagonal, which becomes the one δ leg left in the result (or is summed where none
/// is left). Executed as one single-operand einsum with a repeated letter, i.e. a strided diagonal view and at
/// most a sum.
/// </summary>
public sealed class CopyDiagonal : StepLowering
{
    internal readonly bool copyOnLeft;
    internal readonly string equation;

    /// <inheritdoc/>
    public override string Name => "diagonal";

    /// Whether δ's legs leave at most one diagonal copy in the result and T carries at least one of them.
    internal static bool Applies(PairContraction c, IReadOnlyList<int> copyLabels, IReadOnlyList<int> denseLabels)
    {
        var inCopy = copyLabels.ToHashSet();
        int shared = denseLabels.Count(inCopy.Contains);
        int surviving = c.Result.Count(inCopy.Contains);
        return shared > 0 && surviving <= 1 && denseLabels.Concat(c.Result).Distinct().Count() <= Letters.Length;
    }

    const string Letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    internal CopyDiagonal(PairContraction c, IReadOnlyList<int> copyLabels, IReadOnlyList<int> denseLabels, bool copyOnLeft)
    {
        this.copyOnLeft = copyOnLeft;
        var inCopy = copyLabels.ToHashSet();
        // Every δ label is written with the letter of δ's first label, so T's δ axes become one diagonal.
        int Letter(int l) => inCopy.Contains(l) ? copyLabels[0] : l;
        var distinct = denseLabels.Concat(c.Result).Select(Letter).Distinct().ToList();
        string Word(IEnumerable<int> ls) => string.Concat(ls.Select(l => Letters[distinct.IndexOf(Letter(l))]));
        equation = $"{Word(denseLabels)}->{Word(c.Result)}";
    }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor left, Tensor right) => einsum(equation, copyOnLeft ? right : left);
}

/// <summary>
/// A step that sums no label: result[batch, left free, right free] = left[batch, left free] · right[batch, right free],
/// one broadcast multiplication of the two operands laid out as [batch, left free, 1…] and [batch, 1…, right free].
/// </summary>
public sealed class OuterProduct : StepLowering
{
    internal readonly long[]? permLeft, permRight;
    internal readonly int batch, leftFree, rightFree;

    /// <inheritdoc/>
    public override string Name => "product";

    internal OuterProduct(PairContraction c, IReadOnlyList<int> leftLabels, IReadOnlyList<int> rightLabels)
    {
        permLeft = Lowering.OrNull(Lowering.Positions(leftLabels, [.. c.Batch, .. c.LeftFree]));
        permRight = Lowering.OrNull(Lowering.Positions(rightLabels, [.. c.Batch, .. c.RightFree]));
        (batch, leftFree, rightFree) = (c.Batch.Count, c.LeftFree.Count, c.RightFree.Count);
    }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor left, Tensor right)
    {
        using var ap = permLeft is null ? null : left.permute(permLeft);
        using var bp = permRight is null ? null : right.permute(permRight);
        var (a, b) = (ap ?? left, bp ?? right);
        using var a2 = rightFree == 0 ? null : a.reshape([.. a.shape, .. Enumerable.Repeat(1L, rightFree)]);
        var sb = b.shape;
        using var b2 = leftFree == 0 ? null : b.reshape([.. sb[..batch], .. Enumerable.Repeat(1L, leftFree), .. sb[batch..]]);
        return (a2 ?? a) * (b2 ?? b);
    }
}

/// <summary>
/// The first of two steps lowered together: a one-hot input O times an operand X that carries O's other legs, with
/// O's one-hot leg summed by the next step that uses the product. Nothing is computed: the live operand stays X,
/// carrying O's class numbers, for <see cref="ContractThenGather"/>.
/// </summary>
public sealed class DeferOneHot : StepLowering
{
    internal int Node { get; }
    internal int[] OneHotLabels { get; }
    internal int[] DenseLabels { get; }
    internal bool OneHotOnLeft { get; }
    internal int DenseNode { get; init; } = -1;

    internal DeferOneHot(int node, IReadOnlyList<int> oneHotLabels, IReadOnlyList<int> denseLabels, bool oneHotOnLeft) =>
        (Node, OneHotLabels, DenseLabels, OneHotOnLeft) = (node, oneHotLabels.ToArray(), denseLabels.ToArray(), oneHotOnLeft);

    /// <inheritdoc/>
    public override string Name => "deferred";

    /// <summary>Not applied on tensors: the module keeps the dense operand with the class numbers (see the class summary).</summary>
    public override Tensor Apply(Tensor left, Tensor right) =>
        throw new InvalidOperationException("a deferred one-hot product is applied by the step that consumes it");

    internal LiveOperand Defer(LiveOperand left, LiveOperand right)
    {
        var (o, x) = OneHotOnLeft ? (left, right) : (right, left);
        return x with { Classes = o.Value };
    }
}

/// <summary>
/// The second of two steps lowered together (see <see cref="DeferOneHot"/>): the product (X with class numbers k
/// over O's legs) times U, summing O's one-hot leg p. Computed as Y = X·U keeping p and O's legs (one matrix
/// product, U laid out with p first so that Y's rows are ordered [O's legs, p]), then Y's rows picked by k
/// (<see cref="OneHotGather"/>), summing what the step sums among O's legs.
/// </summary>
public sealed class ContractThenGather : StepLowering
{
    internal readonly PairContraction inner;
    internal readonly OneHotGather gather;
    internal readonly bool productOnLeft;
    internal readonly long[]? permU;
    internal readonly long[]? permResult;

    /// <inheritdoc/>
    public override string Name => "contract-gather";

    internal ContractThenGather(PairContraction c, DeferOneHot defer, IReadOnlyList<int> otherLabels, bool productOnLeft)
    {
        this.productOnLeft = productOnLeft;
        int p = defer.OneHotLabels[^1];
        var index = defer.OneHotLabels.SkipLast(1).ToHashSet();
        int[] uLabels = [p, .. otherLabels.Where(l => l != p)];
        permU = Lowering.OrNull(Lowering.Positions(otherLabels, uLabels));
        var keep = c.Result.Concat(index).ToHashSet();
        inner = new PairContraction(defer.DenseLabels, uLabels, keep);
        var gathered = new PairContraction(defer.OneHotLabels, inner.Result, c.Result.ToHashSet());
        gather = new OneHotGather(gathered, defer.OneHotLabels, inner.Result, indexOnLeft: true);
        var perm = Lowering.Positions(gathered.Result, c.Result);
        permResult = Lowering.IsIdentity(perm) ? null : perm;
    }

    /// <summary>Not applied on tensors alone: it needs the class numbers the deferred operand carries.</summary>
    public override Tensor Apply(Tensor left, Tensor right) =>
        throw new InvalidOperationException("a contract-then-gather step needs the deferred operand's class numbers");

    internal Tensor Apply(LiveOperand left, LiveOperand right)
    {
        var (product, other) = productOnLeft ? (left, right) : (right, left);
        using var u = permU is null ? null : other.Value.permute(permU);
        using var y = inner.Apply(product.Value, u ?? other.Value, inner.Fastest);
        var r = gather.Apply(product.Classes!, y);
        if (permResult is null)
            return r;
        using (r)
            return r.permute(permResult);
    }
}

/// <summary>
/// A batched-chain rule over a run of contract-gather steps (<see cref="ContractThenGather"/>) along a matrix chain:
/// an environment X[B, l] meets, link after link, a one-hot input k_j[B] and a core U_j[l, p, r] of one shape
/// (l = r = χ, p of width P), as the sweep of an MPS Born machine does at every bulk site. Step by step each link costs
/// one product B·χ·Pχ (both values of p, then a gather), and about five TorchSharp calls. The chain executes the
/// run at its last link instead, two links at a time:
/// <list type="bullet">
/// <item>the cores of each pair are multiplied once per call for all pairs (one batched product,
/// P²·χ³ per pair, independent of the batch): M[(p, q)] = U_j[:, p, :]·U_{j+1}[:, q, :];</item>
/// <item>the samples are sorted by their pair of classes (p, q) once per call for all pairs, and each group of rows is
/// multiplied by its own χ×χ matrix: B·χ² per pair, a quarter of the step-by-step products, in P² + 3 calls per
/// pair;</item>
/// <item>the rows stay in the sorted order of the pair that made them (one row gather per pair reorders them for the
/// next), and return to batch order once at the end.</item>
/// </list>
/// Differentiable through autograd (gathers, splits, products, a concatenation). Chosen at build time by
/// <see cref="Worthwhile"/>; the run's steps before its last only collect their operands.
/// </summary>
public sealed class OneHotChain
{
    readonly long[]? permStart;
    readonly long[]?[] permCores;
    readonly long[]? permResult;

    /// <summary>The number of links (contract-gather steps) the chain executes: even, two per pair.</summary>
    public int Length { get; }

    internal OneHotChain(long[]? permStart, long[]?[] permCores, long[]? permResult)
    {
        (this.permStart, this.permCores, this.permResult) = (permStart, permCores, permResult);
        Length = permCores.Length;
    }

    // Costs per TorchSharp call and per multiply-add on one CPU thread, measured with the backend benchmark (float32,
    // one thread, `dotnet run -c Release --project bench/TnDsl.TorchBench -- backend --threads 1`): a Born-machine
    // sweep of ~3,100 calls and 2.8 Gflop took 71 ms, the same sweep paired and grouped (~5,500 calls, 0.8 Gflop) 63 ms.
    const double CallSeconds = 9e-6, FlopSeconds = 1.5e-11;

    /// <summary>
    /// The cost model of the rule: whether <paramref name="links"/> links step by step (per link a product of
    /// B·χ·Pχ and about five calls) cost more than the chain: per pair B·χ² multiply-adds in the grouped products, the
    /// pair's P²·χ³ of the cores' product and six calls, plus about twenty calls once to sort the rows, for a batch of
    /// <paramref name="batch"/> rows; never where the P² codes outnumber the rows.
    /// </summary>
    public static bool Worthwhile(long batch, long chi, long width, int links)
    {
        // More codes than rows would multiply mostly padding, and keep more merged cores than the batch has rows.
        if (width * width > batch)
            return false;
        double stepwise = links * (5 * CallSeconds + 2.0 * batch * chi * width * chi * FlopSeconds);
        double chained = 20 * CallSeconds
                         + links / 2 * (6 * CallSeconds + (2.0 * batch * chi * chi + 2.0 * width * width * chi * chi * chi) * FlopSeconds);
        return chained < stepwise;
    }

    /// <summary>Executes the chain on its collected operands; the result's axes are the last link's result order.</summary>
    internal Tensor Apply(ChainParts parts)
    {
        int m = Length, pairs = m / 2;
        using var scope = NewDisposeScope();
        var start = permStart is null ? parts.Start : parts.Start.permute(permStart);
        long batch = start.shape[0], chi = start.shape[1];
        var cores = parts.Cores.Select((u, j) => permCores[j] is { } p ? u.permute(p) : u).ToArray();
        long width = cores[0].shape[1];
        // Each sample's pair of classes as one code p·P + q.
        var k = stack(parts.Classes).view(pairs, 2, batch);
        // Through ScalarOps: TorchSharp's own mul(long)/add_ build temporary Scalars that the GC may free mid-call.
        var code = Plus(Times(k.select(1, 0), width), k.select(1, 1));
        long groups = width * width;
        var counts = zeros([pairs, groups], ScalarType.Int64, code.device).scatter_add_(1, code, ones_like(code));
        // After pair j the rows form groups of one code, each padded to the largest group of the pair (g_j rows), so
        // that one batched product [P², g_j, χ]·[P², χ, χ] multiplies every group by its matrix: at most the
        // step-by-step products' multiply-adds (all samples in one group), a quarter of them for even classes.
        var largest = counts.amax(1);
        var sizes = largest.cpu().data<long>().ToArray();
        // row[j, s]: the row of sample s after pair j: its code's block, then its rank among the samples of that code.
        var rank = nn.functional.one_hot(code, groups).cumsum(1).gather(2, code.unsqueeze(2)).squeeze(2);
        var row = Minus(Plus(code.mul(largest.unsqueeze(1)), rank), 1L);
        // source[j, r]: the row that padded row r of pair j is gathered from after pair j - 1 (batch order before
        // the first pair); a padding row reads row 0, whose product no later gather picks.
        var previous = pairs == 1 ? ScalarOps.Arange(batch, ScalarType.Int64, code.device).unsqueeze(0)
                                  : cat([ScalarOps.Arange(batch, ScalarType.Int64, code.device).unsqueeze(0), row.narrow(0, 0, pairs - 1)]);
        var source = zeros([pairs, groups * sizes.Max()], ScalarType.Int64, code.device).scatter_(1, row, previous);
        // The cores' products for every pair and code: [pairs, χ·P, χ]·[pairs, χ, P·χ] = [pairs, χ, P, P, χ], as
        // [P², χ, χ] per pair.
        var s = stack(cores).view(pairs, 2, chi, width, chi);
        var merged = s.select(1, 0).reshape(pairs, chi * width, chi).bmm(s.select(1, 1).reshape(pairs, chi, width * chi));
        var matrices = merged.view(pairs, chi, width, width, chi).permute(0, 2, 3, 1, 4).contiguous().unbind(0);
        var sources = source.unbind(0);
        // Each pair's rows and product are released as soon as the next pair has read them (autograd holds its own
        // references to what its backward needs: the rows a product saves), not at the end of the scope: otherwise
        // every pair's rows stay alive at once, a chain of 49 pairs at batch 2,000 and χ 30 holding 26 MB.
        var left = start;
        for (int j = 0; j < pairs; j++)
        {
            // Every handle on a storage keeps it, views included: each is released here.
            using var index = sources[j].narrow(0, 0, groups * sizes[j]);
            using var rows = left.index_select(0, index);
            using var grouped = rows.view(groups, sizes[j], chi);
            using var matrix = matrices[j].view(groups, chi, chi);
            using var product = grouped.bmm(matrix);
            var next = product.view(groups * sizes[j], chi);
            if (!ReferenceEquals(left, start))
                left.Dispose();
            left = next;
        }
        var result = left.index_select(0, row[pairs - 1]);
        return (permResult is null ? result : result.permute(permResult)).MoveToOuterDisposeScope();
    }
}

/// <summary>The operands a <see cref="OneHotChain"/> collects link by link until its last link runs it.</summary>
sealed class ChainParts(Tensor start, bool startOwned)
{
    public Tensor Start { get; } = start;
    public bool StartOwned { get; } = startOwned;
    public List<Tensor> Classes { get; } = [];
    public List<Tensor> Cores { get; } = [];
    public List<Tensor> Owned { get; } = [];
}

/// <summary>
/// One step of a <see cref="OneHotChain"/>: the contract-gather step it replaces, with the product (the environment
/// carrying the deferred one-hot input) on the left or right. Every link but the last only collects its operands.
/// </summary>
public sealed class ChainLink : StepLowering
{
    readonly bool productOnLeft;
    readonly IReadOnlyList<int> result;

    /// <summary>The chain this step belongs to.</summary>
    public OneHotChain Chain { get; }
    /// <summary>This step's place in the chain (0 first).</summary>
    public int Position { get; }

    /// Whether the product (the environment carrying the deferred one-hot input) is the step's left operand.
    internal bool ProductOnLeft => productOnLeft;

    /// <inheritdoc/>
    public override string Name => "chain";

    /// <summary>The same step on its own, run where the chain cannot be (in log-scale, whose scales are per batch
    /// element in batch order).</summary>
    public ContractThenGather Stepwise { get; }

    internal ChainLink(OneHotChain chain, int position, ContractThenGather stepwise, bool productOnLeft, IReadOnlyList<int> result) =>
        (Chain, Position, Stepwise, this.productOnLeft, this.result) = (chain, position, stepwise, productOnLeft, result);

    /// <summary>Not applied on tensors alone: it needs the deferred operand's class numbers and the chain's other links.</summary>
    public override Tensor Apply(Tensor left, Tensor right) =>
        throw new InvalidOperationException("a chain link needs the deferred operand's class numbers");

    internal LiveOperand Accept(LiveOperand left, LiveOperand right)
    {
        var (product, core) = productOnLeft ? (left, right) : (right, left);
        var parts = product.Chain ?? new ChainParts(product.Value, product.Owned);
        parts.Classes.Add(product.Classes!);
        parts.Cores.Add(core.Value);
        if (core.Owned)
            parts.Owned.Add(core.Value);
        if (Position < Chain.Length - 1)
            return new LiveOperand(parts.Start, false, result, null, null, parts);
        var value = Chain.Apply(parts);
        if (parts.StartOwned)
            parts.Start.Dispose();
        foreach (var t in parts.Owned)
            t.Dispose();
        return new LiveOperand(value, true, result, null);
    }
}
