using System.Numerics;
using TnDsl.Api;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>
/// The byte estimate of the program a <see cref="NetworkModule"/> runs for a plan, described step by step from the
/// same lowered steps the module executes (<see cref="NetworkModule.MakePlan"/>) and walked by the planner's memory
/// simulation (<see cref="MemoryModel"/>): the weights, consts and raw inputs it holds, the embedded inputs
/// it makes, per step the copies its kernel makes of operands whose axes cannot be viewed in the product's layout,
/// the result, and what autograd keeps (a matrix product keeps both operands in the product's layout, a gather its
/// index, a diagonal nothing). Nothing is allocated.
/// </summary>
public static class ExecutedBytes
{
    /// An operand as laid out in memory: its shape and strides (elements), the bytes of the storage it keeps alive,
    /// its element size, whether the call made it, and the class numbers a deferred one-hot product carries.
    sealed record Operand(long[] Shape, long[] Strides, BigInteger Storage, int Element, bool Owned, Operand? Classes = null)
    {
        public BigInteger Elements => Shape.Aggregate(BigInteger.One, (n, d) => n * d);
        public BigInteger Bytes => Elements * Element;
    }

    /// <summary>
    /// The estimate for <paramref name="spec"/> run by <paramref name="plan"/> with <paramref name="options"/> (dtype,
    /// lowering), at the sizes the plan was made for (<see cref="BatchSizes.Planned"/>), trained (for
    /// <see cref="BytesView.Training"/>) with an optimizer keeping <paramref name="optimizerSlots"/> parameter-sized
    /// tensors per parameter (Adam: 2).
    /// </summary>
    public static BytesView Estimate(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, int optimizerSlots = 2) =>
        Estimate(spec, plan, options, optimizerSlots, null, BatchSizes.Planned(spec, plan));

    /// <summary>
    /// As the other <c>Estimate</c>, with every dynamic index of size <paramref name="batch"/> (null: their declared
    /// sizes): what the plan's program needs when it is fed a batch other than the one it was planned for.
    /// </summary>
    public static BytesView Estimate(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, int optimizerSlots, long? batch) =>
        Estimate(spec, plan, options, optimizerSlots, batch, null);

    /// <summary>
    /// As the other <c>Estimate</c>, with each dynamic index that <paramref name="sizes"/> names (index id → extent) of
    /// that size and the others of size <paramref name="batch"/>: a chunk of rows along some dynamic indices with the
    /// others whole (<see cref="MemoryGuard.Chunking(NetworkSpec, PlanView, NetworkModuleOptions, IReadOnlyDictionary{int, long})"/>).
    /// </summary>
    public static BytesView Estimate(NetworkSpec spec, PlanView plan, NetworkModuleOptions options, int optimizerSlots, long? batch,
        IReadOnlyDictionary<int, long>? sizes) =>
        Checkpointing(spec, plan, options, optimizerSlots, batch, sizes).Estimate;

    /// <summary>
    /// The estimate of <c>Estimate</c> and how a training step of a sliced plan runs
    /// (<see cref="NetworkModuleOptions.CheckpointSlices"/>): <c>GroupSlices</c> 0 where it records every slice (an
    /// unsliced plan, <see cref="SliceCheckpointing.Never"/>, or <see cref="SliceCheckpointing.Auto"/> where that
    /// fits <see cref="MemoryGuard.Limit"/>), else the slices per group of a checkpointed step, whose training estimate
    /// is then <see cref="MemoryModel.Checkpointed"/>'s: the forward pass of every slice without autograd, then one
    /// group's program trained alone beside the gradients summed over the groups. A group is the inner loops' slices
    /// times a divisor of the next loop's extent (so groups start where that loop's values do, and reuse across
    /// slices works within one); the largest whose estimate fits the limit, the smallest (one slice) where none does.
    /// </summary>
    public static (BytesView Estimate, long GroupSlices) Checkpointing(NetworkSpec spec, PlanView plan, NetworkModuleOptions options,
        int optimizerSlots, long? batch, IReadOnlyDictionary<int, long>? sizes)
    {
        var slots = NetworkModule.MakeSlots(spec);
        var leaves = NetworkModule.MakeLeaves(spec, slots, plan);
        var (steps, _, asIndex) = NetworkModule.MakePlan(spec, slots, leaves, plan, options);
        int size = MemoryGuard.ElementSize(options.DType);
        var sliced = plan.SlicedLabels.ToHashSet();
        bool isSliced = sliced.Count > 0;
        long Extent(int l) => ExtentAt(spec, batch, sizes, l);
        long InSlice(int l) => sliced.Contains(l) ? 1 : Extent(l);
        BigInteger Count(IEnumerable<long> shape) => shape.Aggregate(BigInteger.One, (n, d) => n * d);

        // Held: weights and consts in the module's dtype, raw inputs as RandomInputs makes them.
        var parameters = new List<BigInteger>();
        var parameterIds = new Dictionary<string, int>();
        BigInteger held = 0;
        foreach (var group in spec.Tensors.Where(t => t.Role != TensorRole.Input).GroupBy(t => t.Param))
        {
            var bytes = Count(group.First().Legs.Select(Extent)) * size;
            held += bytes;
            if (group.First().Role == TensorRole.Weight)
            {
                parameterIds[group.Key] = parameters.Count;
                parameters.Add(bytes);
            }
        }
        BigInteger fed = 0, fedScratch = 0;
        var fedShapes = new long[slots.Length][];
        for (int s = 0; s < slots.Length; s++)
        {
            var slot = slots[s];
            var raw = RawShape(spec, slot, batch, sizes);
            var rawCount = Count(raw);
            held += rawCount * (slot.Embedding is EmbeddingSpec.OneHot ? 8 : size);
            var members = leaves.Select((l, id) => (l, id)).Where(x => x.l.Source == NetworkModule.Source.Input && x.l.Slot == s).ToList();
            fedShapes[s] = slot.Embedding is { } e ? [.. raw, e.Width] : raw;
            if (members.All(x => asIndex[x.id]) || slot.Embedding is null)
                continue; // class numbers are the raw int64 values; an input without embedding is used as fed
            fed += rawCount * slot.Embedding.Width * size;
            fedScratch += slot.Embedding switch
            {
                // int64 class numbers, their int64 one-hot rows, then the conversion (the result).
                EmbeddingSpec.OneHot o => rawCount * 8 * o.D,
                // x, cos x and sin x before they are stacked.
                EmbeddingSpec.Trig => rawCount * size * 3,
                // x, every feature and the multiple of x it is taken of, alive until the stack.
                EmbeddingSpec.Fourier f => rawCount * size * (2 * f.K),
                EmbeddingSpec.Legendre l => rawCount * size * (3 * l.K),
                _ => rawCount * size * slot.Embedding.Width,
            };
        }

        // The leaves' operands: views of what is held or fed (sliced labels narrowed to one value), or tensors made
        // by summing a label on one tensor alone.
        var live = new List<Operand>();
        var leafViews = new List<LeafBytesView>();
        for (int id = 0; id < leaves.Length; id++)
        {
            var leaf = leaves[id];
            int parameter = leaf.Source == NetworkModule.Source.Parameter ? parameterIds[leaf.Name] : -1;
            Operand operand;
            if (leaf.Reduce)
            {
                var shape = leaf.ReducedLabels.Select(InSlice).ToArray();
                var storage = Count(leaf.ReducedLabels.Select(Extent)) * size;
                // Sliced: made once for every slice, released after the last one.
                if (isSliced)
                    fed += storage;
                operand = new Operand(shape, Contiguous(leaf.ReducedLabels.Select(Extent).ToArray()), storage, size, !isSliced);
                leafViews.Add(new LeafBytesView(storage, !isSliced, parameter));
            }
            else if (leaf.Source == NetworkModule.Source.Input)
            {
                var slot = slots[leaf.Slot];
                int element = asIndex[id] ? 8 : size;
                long[] whole = asIndex[id] ? fedShapes[leaf.Slot][..^(slot.Embedding is null ? 0 : 1)] : fedShapes[leaf.Slot];
                var strides = Contiguous(whole).ToList();
                if (slot.HasMemberAxis)
                    strides.RemoveAt(slot.Batch);
                var labels = asIndex[id] ? leaf.Labels[..^1] : leaf.Labels;
                var shape = labels.Select(InSlice).ToArray();
                operand = new Operand(shape, strides.ToArray(), 0, element, false);
                leafViews.Add(new LeafBytesView(0, false, -1));
            }
            else
            {
                var whole = leaf.Labels.Select(Extent).ToArray();
                var shape = leaf.Labels.Select(InSlice).ToArray();
                var storage = Count(whole) * size;
                operand = new Operand(shape, Contiguous(whole), storage, size, false);
                leafViews.Add(new LeafBytesView(storage, false, parameter));
            }
            live.Add(operand);
        }

        var described = new List<StepBytesView>();
        foreach (var step in steps)
        {
            var a = live[step.Left];
            var b = live[step.Right];
            var c = step.Contraction;
            Operand result;
            BigInteger copyA = 0, copyB = 0, scratch = 0, keeps = 0, backward = 0;
            bool savedA = true, savedB = true;
            switch (step.Lowering)
            {
                case null:
                    {
                        var (pa, ga, pb, gb) = c.Layout(step.Kernel);
                        copyA = Copies(a, pa, ga) ? a.Bytes : 0;
                        copyB = Copies(b, pb, gb) ? b.Bytes : 0;
                        result = Made(c.Result.Select(InSlice).ToArray(), size);
                        break;
                    }
                case OneHotGather g:
                    {
                        var (k, t) = g.indexOnLeft ? (a, b) : (b, a);
                        var (tableCopy, indexCopy, gs, gk, made) = Gather(g, k, t, c.Result.Select(InSlice).ToArray(), size);
                        (copyA, copyB) = g.indexOnLeft ? (indexCopy, tableCopy) : (tableCopy, indexCopy);
                        (savedA, savedB, scratch, keeps, result) = (false, false, gs, gk, made);
                        break;
                    }
                case CopyDiagonal d:
                    {
                        var t = d.copyOnLeft ? b : a;
                        result = Diagonal(d.equation, t, c.Result.Select(InSlice).ToArray());
                        (savedA, savedB) = (false, false);
                        break;
                    }
                case OuterProduct:
                    result = Made(c.Result.Select(InSlice).ToArray(), size);
                    break;
                case DeferOneHot defer:
                    {
                        var (o, x) = defer.OneHotOnLeft ? (a, b) : (b, a);
                        // Nothing is computed: the dense operand goes on, carrying the class numbers.
                        result = x with { Classes = o, Storage = x.Owned ? x.Storage : 0, Owned = true };
                        (savedA, savedB) = (false, false);
                        break;
                    }
                case ContractThenGather cg:
                    {
                        var (product, other) = cg.productOnLeft ? (a, b) : (b, a);
                        var u = cg.permU is null ? other : Permuted(other, cg.permU);
                        var (px, gx, pu, gu) = cg.inner.Layout(cg.inner.Fastest);
                        var cx = Copies(product, px, gx) ? product.Bytes : 0;
                        var cu = Copies(u, pu, gu) ? u.Bytes : 0;
                        (copyA, copyB) = cg.productOnLeft ? (cx, cu) : (cu, cx);
                        var y = Made(cg.inner.Result.Select(InSlice).ToArray(), size);
                        var (tableCopy, indexCopy, gs, gk, made) = Gather(cg.gather, product.Classes!, y, c.Result.Select(InSlice).ToArray(), size);
                        scratch = y.Bytes + tableCopy + indexCopy + gs;
                        keeps = gk;
                        backward = y.Bytes;
                        result = made;
                        break;
                    }
                case ChainLink link when link.Position < link.Chain.Length - 1:
                    {
                        // An early link only collects its operands: the environment goes on as it is (a view kept
                        // alive until the chain runs), the core waits.
                        var product = link.ProductOnLeft ? a : b;
                        result = product with { Classes = null, Storage = product.Owned ? product.Storage : 0, Owned = true };
                        (savedA, savedB) = (false, false);
                        break;
                    }
                case ChainLink link:
                    {
                        var (product, core) = link.ProductOnLeft ? (a, b) : (b, a);
                        long rows = (long)product.Classes!.Elements, chi = (long)(product.Elements / rows);
                        long width = (long)(core.Elements / chi / chi);
                        result = Made(c.Result.Select(InSlice).ToArray(), size);
                        (savedA, savedB) = (false, false);
                        (scratch, keeps, backward) = Chain(link.Chain.Length, rows, chi, width, size);
                        break;
                    }
                default:
                    // A lowering this model does not know: its result, made, and both operands kept.
                    result = Made(c.Result.Select(InSlice).ToArray(), size);
                    break;
            }
            // The result's storage as the simulation counts it: what the step made, or for a view (a diagonal, a
            // deferred product) the operand storage it keeps alive, which the simulation then frees from the operand.
            described.Add(new StepBytesView(step.Left, step.Right, copyA, savedA, copyB, savedB, result.Storage, scratch, keeps, backward));
            live.RemoveAt(Math.Max(step.Left, step.Right));
            live.RemoveAt(Math.Min(step.Left, step.Right));
            live.Add(result);
        }
        var resultElements = Count(spec.Output.Select(Extent));
        // Reuse across slices: each step's level in the loop order the module runs (see SliceReuse).
        int[] levels = [];
        BigInteger[] loopSizes = [];
        if (isSliced && options.SliceReuse && steps.All(s => s.Lowering is not ChainLink))
        {
            var order = options.SliceOrder ?? plan.SlicedLabels;
            var reuse = SliceReuse.Of(leaves.Select(l => l.ReducedLabels).ToArray(), steps.Select(s => (s.Left, s.Right)).ToArray(), order);
            levels = reuse.Level[leaves.Length..];
            loopSizes = order.Select(l => new BigInteger(Extent(l))).ToArray();
        }
        var leafArray = leafViews.ToArray();
        var stepArray = described.ToArray();
        var parameterArray = parameters.ToArray();
        BytesView Run(BigInteger slices, BigInteger[] loops) =>
            MemoryModel.Estimate(held, fed, fedScratch, leafArray, stepArray, slices, resultElements * size, parameterArray, optimizerSlots, levels, loops);
        var recorded = Run(plan.Slices, loopSizes);
        if (!isSliced || options.CheckpointSlices == SliceCheckpointing.Never)
            return (recorded, 0);
        var (limit, _) = MemoryGuard.Current();
        bool Fits(BytesView e) => MemoryGuard.WithHeap(e.Inputs, e.Training) <= limit;
        if (options.CheckpointSlices == SliceCheckpointing.Auto && Fits(recorded))
            return (recorded, 0);
        var extents = (options.SliceOrder ?? plan.SlicedLabels).Select(Extent).ToArray();
        var groups = GroupSizes(extents);
        BytesView Group((int Loop, long Values, long Slices) g) =>
            MemoryModel.Checkpointed(recorded,
                Run(g.Slices, levels.Length == 0 ? [] : [.. Enumerable.Repeat(BigInteger.One, g.Loop), g.Values, .. extents[(g.Loop + 1)..].Select(e => new BigInteger(e))]),
                resultElements * size);
        if (options.CheckpointGroup is { } forced)
        {
            // Estimated as the smallest aligned group that holds it.
            if (forced < 1)
                throw new ArgumentOutOfRangeException(nameof(options), $"a checkpointed group of {forced} slices: it needs at least one");
            var holding = groups.FirstOrDefault(g => g.Slices >= forced, groups[^1]);
            return (Group(holding), Math.Min(forced, groups[^1].Slices));
        }
        // The estimate grows with the group: the largest that fits, by bisection.
        int lo = 0, hi = groups.Count - 1;
        var best = Group(groups[0]);
        if (!Fits(best))
            return (best, groups[0].Slices);
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            var e = Group(groups[mid]);
            if (Fits(e))
                (lo, best) = (mid, e);
            else
                hi = mid - 1;
        }
        return (best, groups[lo].Slices);
    }

    /// The groups of consecutive slices a checkpointed step may run, smallest first, for slice loops of
    /// <paramref name="extents"/> (outermost first): every slice of the loops inside loop j, times a divisor m of loop
    /// j's extent, as (j, m, slices).
    internal static List<(int Loop, long Values, long Slices)> GroupSizes(long[] extents)
    {
        var groups = new List<(int, long, long)>();
        long inner = 1;
        for (int j = extents.Length - 1; j >= 0; j--)
        {
            // m = 1 repeats the previous loop's whole extent.
            for (long m = j == extents.Length - 1 ? 1 : 2; m <= extents[j]; m++)
                if (extents[j] % m == 0)
                    groups.Add((j, m, checked(m * inner)));
            inner = checked(inner * extents[j]);
        }
        if (groups.Count == 0)
            groups.Add((extents.Length - 1, 1, 1));
        return groups;
    }

    /// <summary>
    /// A floor under <see cref="Estimate(NetworkSpec, PlanView, NetworkModuleOptions, int, long?)"/> for every plan of <paramref name="spec"/> at <paramref name="batch"/>
    /// (null: the nominal sizes), from the network alone, so that a call far over the memory limit is refused before
    /// the planner runs. <c>Inputs</c>: the weights, consts and raw inputs held (exactly the estimate's). <c>Floor</c>:
    /// those and the embedded inputs other than one-hot ones (made whatever the plan), or those and the result where it
    /// cannot be a view of one of them (it has more elements than each), whichever is more, for the forward pass; for
    /// training also the result and the loss's copy of it, every parameter's gradient (where there is a
    /// step), the optimizer's <paramref name="optimizerSlots"/> parameter-sized tensors per parameter and Adam's two
    /// temporaries for the largest parameter: what the estimate's optimizer step holds, which bounds its training peak.
    /// The dynamic indices <paramref name="sizes"/> names (index id → extent) are of those sizes, not <paramref name="batch"/>.
    /// </summary>
    public static (BigInteger Inputs, BigInteger Floor) Floor(NetworkSpec spec, long? batch, NetworkModuleOptions options, bool training,
        int optimizerSlots = 2, IReadOnlyDictionary<int, long>? sizes = null)
    {
        var slots = NetworkModule.MakeSlots(spec);
        int size = MemoryGuard.ElementSize(options.DType);
        long Extent(int l) => ExtentAt(spec, batch, sizes, l);
        BigInteger Count(IEnumerable<long> shape) => shape.Aggregate(BigInteger.One, (n, d) => n * d);
        BigInteger held = 0, fed = 0, largestHeld = 0;
        var parameters = new List<BigInteger>();
        foreach (var group in spec.Tensors.Where(t => t.Role != TensorRole.Input).GroupBy(t => t.Param))
        {
            var elements = Count(group.First().Legs.Select(Extent));
            var bytes = elements * size;
            held += bytes;
            largestHeld = BigInteger.Max(largestHeld, elements);
            if (group.First().Role == TensorRole.Weight)
                parameters.Add(bytes);
        }
        foreach (var slot in slots)
        {
            var raw = RawShape(spec, slot, batch, sizes);
            var rawCount = Count(raw);
            largestHeld = BigInteger.Max(largestHeld, rawCount);
            held += rawCount * (slot.Embedding is EmbeddingSpec.OneHot ? 8 : size);
            // A one-hot input may be read as class numbers (a gather), depending on the plan; any other is embedded.
            if (slot.Embedding is { } e and not EmbeddingSpec.OneHot)
                fed += rawCount * e.Width * size;
        }
        var result = ResultBytes(spec, batch, options.DType, sizes);
        var resultElements = result / size;
        // Forward: what is held and fed from the call's start, or what is held and the result at its end. The result
        // may be a view of a held tensor, so it counts only when it has more elements than any of them (a view has
        // at most its base's, and no step makes an expanded view): then a kernel made it, with the held ones alive.
        if (!training)
            return (held, held + (resultElements > largestHeld ? BigInteger.Max(fed, result) : fed));
        var weights = parameters.Aggregate(BigInteger.Zero, (n, p) => n + p);
        // Every parameter is a leaf of some step, so its gradient is made wherever there is a step.
        var gradients = spec.Tensors.Length > 1 ? weights : 0;
        var largest = parameters.Count == 0 || optimizerSlots == 0 ? 0 : parameters.Max();
        return (held, held + fed + 2 * result + gradients + optimizerSlots * weights + 2 * largest);
    }

    /// <summary>The bytes of <paramref name="spec"/>'s result at <paramref name="batch"/> rows (null: the nominal sizes), the
    /// dynamic indices <paramref name="sizes"/> names at their sizes there.</summary>
    public static BigInteger ResultBytes(NetworkSpec spec, long? batch, ScalarType dtype, IReadOnlyDictionary<int, long>? sizes = null) =>
        spec.Output.Aggregate(BigInteger.One, (n, l) => n * ExtentAt(spec, batch, sizes, l)) * MemoryGuard.ElementSize(dtype);

    /// The size of index <paramref name="l"/>: a dynamic one its size in <paramref name="sizes"/>, else
    /// <paramref name="batch"/> rows, else its own.
    static long ExtentAt(NetworkSpec spec, long? batch, IReadOnlyDictionary<int, long>? sizes, int l) =>
        !spec.Indices[l].IsDynamic ? spec.Indices[l].Size
        : sizes is not null && sizes.TryGetValue(l, out var s) ? s
        : batch ?? spec.Indices[l].Size;

    /// The shape an input family is fed as: its batch axes (each at its extent, <see cref="ExtentAt"/>), its member
    /// axis where it has one, and each member's shape.
    static long[] RawShape(NetworkSpec spec, NetworkModule.InputSlot slot, long? batch, IReadOnlyDictionary<int, long>? sizes) =>
        [.. slot.BatchLabels.Select(l => ExtentAt(spec, batch, sizes, l)),
         .. slot.HasMemberAxis ? new long[] { slot.Members } : [], .. slot.MemberShape];

    static long[] Contiguous(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(1, shape[i]);
        }
        return strides;
    }

    /// A tensor a kernel makes: contiguous, its own storage.
    static Operand Made(long[] shape, int element) =>
        new(shape, Contiguous(shape), shape.Aggregate(BigInteger.One, (n, d) => n * d) * element, element, true);

    static Operand Permuted(Operand o, long[] perm) =>
        o with { Shape = perm.Select(p => o.Shape[p]).ToArray(), Strides = perm.Select(p => o.Strides[p]).ToArray() };

    /// Whether reshaping the operand, permuted by <paramref name="perm"/>, into dimensions that each merge
    /// <paramref name="groups"/> consecutive axes needs a copy (libtorch's view rule: within a merged group, every
    /// axis of size above 1 must step exactly over the next one).
    static bool Copies(Operand o, long[] perm, int[] groups)
    {
        int at = 0;
        foreach (var count in groups)
        {
            var axes = perm.Skip(at).Take(count).Where(p => o.Shape[p] != 1).ToArray();
            for (int i = 0; i + 1 < axes.Length; i++)
                if (o.Strides[axes[i]] != o.Strides[axes[i + 1]] * o.Shape[axes[i + 1]])
                    return true;
            at += count;
        }
        return false;
    }

    /// A gather (<see cref="OneHotGather"/>) of the rows of table <paramref name="t"/> picked by class numbers
    /// <paramref name="k"/>: the copies of both into the gather's layout, the scratch (the flat index, the picked rows
    /// before they are summed), what autograd keeps (the flat index) and the result, laid out as the gather leaves it.
    static (BigInteger TableCopy, BigInteger IndexCopy, BigInteger Scratch, BigInteger Keeps, Operand Result) Gather(
        OneHotGather g, Operand k, Operand t, long[] resultShape, int element)
    {
        int lead = g.kept + g.summed;
        var tp = g.permT is null ? t : Permuted(t, g.permT);
        var kp = g.permK is null ? k : Permuted(k, g.permK);
        var tableCopy = Copies(tp, Enumerable.Range(0, tp.Shape.Length).Select(i => (long)i).ToArray(), [lead + 1, tp.Shape.Length - lead - 1]) ? t.Bytes : 0;
        var indexCopy = Copies(kp, Enumerable.Range(0, kp.Shape.Length).Select(i => (long)i).ToArray(), [lead, kp.Shape.Length - lead]) ? k.Bytes : 0;
        long rows = tp.Shape.Take(lead).Aggregate(1L, (x, y) => x * y);
        BigInteger picks = kp.Elements / Math.Max(1, rows);
        BigInteger columns = tp.Elements / Math.Max(1, tp.Shape.Take(lead + 1).Aggregate(1L, (x, y) => x * y));
        BigInteger flat = rows == 1 ? 0 : rows * picks * 8;
        BigInteger gathered = rows * picks * columns * element;
        var produced = g.permResult is null ? resultShape : Inverse(g.permResult).Select(p => resultShape[p]).ToArray();
        var made = Made(produced, element);
        var result = g.permResult is null ? made : Permuted(made, g.permResult);
        // The index autograd keeps: the flat index made here, or the class numbers (or their copy) it views.
        var keeps = rows == 1 ? indexCopy : flat;
        return (tableCopy, indexCopy, flat + (g.summed > 0 ? gathered : 0), keeps, result);
    }

    /// <summary>
    /// A <see cref="OneHotChain"/> of <paramref name="links"/> links run at its last one, for a batch of
    /// <paramref name="batch"/> rows, bond <paramref name="chi"/> and inputs of width P = <paramref name="width"/>: the
    /// scratch of its forward beyond the result (the int64 codes, ranks and row maps, the one-hot rows the ranks are
    /// counted from, the stacked cores and their P²·χ² products per pair, and at most three pairs' rows at once), what
    /// autograd keeps (the row maps, the stacked cores, the products, every pair's rows) and its backward's scratch
    /// (three pairs' row gradients, the products' gradients gathered per pair, stacked and permuted back, the stacked
    /// cores' gradient). A pair's rows are its P² groups, each padded to the largest: counted for classes spread
    /// evenly (P²·⌈B / P²⌉ rows); the rows of inputs concentrated on one pair of classes are up to P² times more.
    /// </summary>
    static (BigInteger Scratch, BigInteger Keeps, BigInteger Backward) Chain(int links, long batch, long chi, long width, int element)
    {
        BigInteger pairs = links / 2, groups = width * width, b = batch, e = element, x = chi;
        BigInteger rows = groups * ((b + groups - 1) / groups);
        BigInteger pairRows = rows * x * e;
        BigInteger codes = links * b * 8 + pairs * b * 8 * 5 + b * 8 + pairs * groups * 8;
        BigInteger ranks = 2 * pairs * b * groups * 8;
        BigInteger sourceMap = pairs * rows * 8;
        BigInteger cores = links * x * width * x * e;
        BigInteger products = pairs * groups * x * x * e;
        var scratch = codes + ranks + sourceMap + cores + 2 * products + 3 * pairRows;
        var keeps = sourceMap + pairs * b * 8 + cores + products + pairs * pairRows;
        var backward = 3 * pairRows + 3 * products + cores;
        return (scratch, keeps, backward);
    }

    static long[] Inverse(long[] perm)
    {
        var inverse = new long[perm.Length];
        for (int i = 0; i < perm.Length; i++)
            inverse[perm[i]] = i;
        return inverse;
    }

    /// A diagonal (<see cref="CopyDiagonal"/>): a strided view of <paramref name="t"/> where the equation sums
    /// nothing (it keeps the operand's storage alive), else a tensor made by the sum.
    static Operand Diagonal(string equation, Operand t, long[] resultShape)
    {
        var parts = equation.Split("->");
        string input = parts[0], output = parts[1];
        if (input.Distinct().Any(ch => !output.Contains(ch)))
            return Made(resultShape, t.Element);
        var strides = output.Select(ch => Enumerable.Range(0, input.Length).Where(i => input[i] == ch).Sum(i => t.Strides[i])).ToArray();
        return new Operand(resultShape, strides, t.Owned ? t.Storage : 0, t.Element, true);
    }
}
