using TnDsl.Api;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>How <see cref="Tn.Expression(string, long[][], ContractionOptions?)"/> plans.</summary>
public sealed record ContractionOptions
{
    /// <summary>A registered optimizer, in any case (<c>auto</c>, <c>optimal</c>, <c>greedy</c>, <c>random-greedy</c>,
    /// <c>partition</c>, <c>bond-greedy</c>, <c>hyper</c>: <see cref="Planner.OptimizerNames"/>); <c>auto</c> by default.</summary>
    public string Optimizer { get; init; } = "auto";
    /// <summary>The seed of randomised optimizers.</summary>
    public int Seed { get; init; }
    /// <summary>The most elements any intermediate may have (none by default); the planner slices the contraction to
    /// meet it where it has to, and the expression runs the slices one after another and adds them.</summary>
    public long? MemoryLimit { get; init; }
    /// <summary>Whether a sliced plan reuses across slices (the default): a step runs again only when a sliced value
    /// it depends on changed, and results that later steps need are held across the inner loops (see
    /// <see cref="NetworkModuleOptions.SliceReuse"/>). False runs every step in every slice.</summary>
    public bool SliceReuse { get; init; } = true;
}

/// <summary>Einsum text or operands that do not fit it: every diagnostic, rendered with a caret under the mistake.</summary>
public sealed class EinsumException(IReadOnlyList<string> diagnostics, IReadOnlyList<string> codes)
    : ArgumentException(string.Join(Environment.NewLine, diagnostics))
{
    /// <summary>The diagnostics in MSBuild canonical form, each with the equation and a caret.</summary>
    public IReadOnlyList<string> Diagnostics { get; } = diagnostics;
    /// <summary>The diagnostic codes (TN03xx), in the same order.</summary>
    public IReadOnlyList<string> Codes { get; } = codes;
}

/// <summary>
/// Contraction of TorchSharp tensors by einsum text, as opt_einsum's <c>contract</c> and
/// <c>contract_expression</c>: the equation is read by the same reader as <c>tn plan --einsum</c> (ASCII
/// letters or any character beyond ASCII, <c>...</c> and size-1 broadcasting as torch.einsum, repeated indices taking a diagonal), planned by the
/// same optimizer registry, and executed pairwise by <see cref="PairContraction"/>, like a network module.
/// </summary>
public static class Tn
{
    /// <summary>Contracts <paramref name="operands"/> by <paramref name="equation"/> (<c>"ab,bc->ac"</c>), planning
    /// with <c>auto</c> once per equation and operand shapes: later calls with the same ones reuse the plan (the last
    /// 256 kept). Equal to <c>torch.einsum</c> up to rounding. Throws <see cref="EinsumException"/> on bad text or
    /// shapes that do not fit it.</summary>
    public static Tensor Contract(string equation, params Tensor[] operands) => Contract(equation, Defaults, operands);

    /// <summary><see cref="Contract(string, Tensor[])"/> with the optimizer, seed and memory limit given (opt_einsum's
    /// <c>contract(eq, *operands, optimize=…, memory_limit=…)</c>); the plan is kept per options too.</summary>
    public static Tensor Contract(string equation, ContractionOptions options, params Tensor[] operands)
    {
        ArgumentNullException.ThrowIfNull(equation);
        ArgumentNullException.ThrowIfNull(options);
        ContractExpression.CheckPresent(equation, operands);
        return Planned(equation, operands.Select(o => o.shape).ToArray(), options).Invoke(operands);
    }

    static readonly ContractionOptions Defaults = new();

    /// How many plans Contract keeps; when full, it forgets them all and starts again.
    internal const int CacheCapacity = 256;

    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ContractExpression> cache = new();

    /// The expression Contract runs for an equation and shapes: planned on first use, then kept.
    internal static ContractExpression Planned(string equation, long[][] shapes, ContractionOptions? options = null)
    {
        options ??= Defaults;
        // The key holds every size and option: two calls share a plan only where Expression would plan the same.
        var key = equation + "\u0000" + string.Join(";", shapes.Select(s => string.Join(",", s)))
                  + (options.Equals(Defaults) ? "" : "\u0000" + options);
        if (cache.TryGetValue(key, out var expression))
            return expression;
        expression = Expression(equation, shapes, options);
        if (cache.Count >= CacheCapacity)
            cache.Clear();
        return cache.GetOrAdd(key, expression);
    }

    /// <summary>Plans <paramref name="equation"/> once for operands of <paramref name="shapes"/>; the expression then
    /// contracts any operands of those shapes (opt_einsum's <c>contract_expression</c>).</summary>
    public static ContractExpression Expression(string equation, params long[][] shapes) => Expression(equation, shapes, null);

    /// <summary><see cref="Expression(string, long[][])"/> with the optimizer, seed and memory limit given.</summary>
    public static ContractExpression Expression(string equation, long[][] shapes, ContractionOptions? options) =>
        new(equation, shapes, options ?? new ContractionOptions());
}

/// <summary>
/// An einsum planned once for fixed operand shapes (see <see cref="Tn.Expression(string, long[][])"/>): the path, its
/// figures, and each pairwise step prepared; <see cref="Invoke"/> contracts operands of those shapes, any dtype and
/// device (all operands on one device), with autograd. It holds no tensor, and several threads may invoke it at once.
/// </summary>
public sealed class ContractExpression
{
    readonly long[][] shapes;
    readonly long[][] squeeze;          // per operand, its broadcast axes, highest first
    readonly int[][] leafLabels;        // per operand, the labels after squeezing (repeats kept)
    readonly int[][] reducedLabels;     // per operand, the labels after the diagonal and the sums of its own indices
    readonly PlanStep[] steps;
    readonly long[]? finalPermutation;
    readonly long[] outputShape;
    readonly int[] sliced;              // the labels the plan slices, in loop order (none: unsliced)
    readonly SliceReuse? reuse;         // the reuse schedule of a sliced plan
    readonly bool reuseOn;
    long[] stepRuns;                    // the last finished call's; each call counts in its own array

    /// <summary>The equation as given.</summary>
    public string Equation { get; }
    /// <summary>The path in opt_einsum's linear convention (pairs of positions in the current operand list).</summary>
    public IReadOnlyList<(int, int)> Path { get; }
    /// <summary>The planner's plan for this path: exact flops, largest intermediate, the optimizer chosen, …</summary>
    public PlanView Figures { get; }
    /// <summary>The shape of the result.</summary>
    public IReadOnlyList<long> OutputShape => outputShape;
    /// <summary>How many times each step of <see cref="Path"/> ran in the last <see cref="Invoke"/> (once each when
    /// unsliced; with reuse across slices, N_s of <see cref="NetworkModule.StepRuns"/>'s model). Where several threads
    /// invoke the expression at once, the counts of one of the calls, never a mixture.</summary>
    public IReadOnlyList<long> StepRuns => Volatile.Read(ref stepRuns);

    internal ContractExpression(string equation, long[][] shapes, ContractionOptions options)
    {
        ArgumentNullException.ThrowIfNull(equation);
        ArgumentNullException.ThrowIfNull(shapes);
        for (int k = 0; k < shapes.Length; k++)
        {
            if (shapes[k] is null)
                throw new ArgumentNullException(nameof(shapes), $"the shape of operand {k + 1} is null");
            if (shapes[k].Any(d => d < 0))
                throw new ArgumentException($"operand {k + 1} has shape [{string.Join(", ", shapes[k])}]: a size cannot be negative", nameof(shapes));
        }
        // opt_einsum reads memory_limit=-1 as no limit; here null is none, and a limit below 1 element no plan meets.
        if (options.MemoryLimit is < 1)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"ContractionOptions.MemoryLimit is {options.MemoryLimit}: the most elements of one intermediate is at least 1; leave it null for no limit (opt_einsum's None or -1)");
        Equation = equation;
        this.shapes = shapes.Select(s => s.ToArray()).ToArray();
        EinsumPlan planned;
        try
        {
            planned = Planner.PlanEinsum(equation, this.shapes, options.Optimizer, options.Seed, options.MemoryLimit is { } m ? m : null);
        }
        catch (TnException e)
        {
            throw new EinsumException(e.Rendered, e.Diagnostics.Select(d => d.Code).ToArray());
        }
        Figures = planned.Plan;
        Path = planned.Plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray();
        sliced = planned.Plan.SlicedLabels.ToArray();
        squeeze = planned.Squeeze.ToArray();
        leafLabels = planned.Labels.ToArray();
        outputShape = planned.OutputShape;
        // What survives each operand (open, or carried by another operand) and what each step keeps come from the plan.
        reducedLabels = leafLabels.Select((ls, k) => ls.Distinct().Where(planned.Plan.LeafLabels[k].Contains).ToArray()).ToArray();
        // Each label's size, from the squeezed operands; the steps oriented so that the intermediates need the
        // fewest copies (see StepLayouts).
        var sizes = new Dictionary<int, long>();
        for (int k = 0; k < shapes.Length; k++)
        {
            var kept = Enumerable.Range(0, shapes[k].Length).Where(a => !squeeze[k].Contains(a)).Select(a => shapes[k][a]).ToArray();
            for (int a = 0; a < Math.Min(kept.Length, leafLabels[k].Length); a++)
                sizes[leafLabels[k][a]] = Math.Max(kept[a], sizes.GetValueOrDefault(leafLabels[k][a], 1));
        }
        (steps, var final) = StepLayouts.Orient(reducedLabels, planned.Plan, l => sizes.GetValueOrDefault(l, 2));
        var perm = planned.Output.Select(l => (long)Array.IndexOf(final, l)).ToArray();
        finalPermutation = perm.Select((p, k) => p == k).All(x => x) ? null : perm;
        stepRuns = new long[steps.Length];
        reuseOn = options.SliceReuse;
        if (sliced.Length > 0)
            reuse = SliceReuse.Of(reducedLabels, steps.Select(s => (s.Left, s.Right)).ToArray(), sliced);
    }

    /// <summary>Contracts operands of the planned shapes. Operands of different dtypes are promoted to a common one
    /// (as torch's arithmetic does); the result is on the operands' device.</summary>
    public Tensor Invoke(params Tensor[] operands)
    {
        CheckPresent(Equation, operands);
        if (operands.Length != shapes.Length)
            throw new ArgumentException($"the expression '{Equation}' takes {shapes.Length} operand(s), got {operands.Length}");
        for (int k = 0; k < operands.Length; k++)
            if (!operands[k].shape.SequenceEqual(shapes[k]))
                throw new ArgumentException(
                    $"operand {k + 1} has shape [{string.Join(", ", operands[k].shape)}]; the expression was planned for [{string.Join(", ", shapes[k])}]");
        var device = operands[0].device;
        for (int k = 1; k < operands.Length; k++)
            if (operands[k].device_type != device.type || operands[k].device_index != device.index)
                throw new ArgumentException(
                    $"operand {k + 1} is on {operands[k].device}, operand 1 on {device}: the operands of '{Equation}' must be on one device (move them with .to(device))");
        var dtype = operands[0].dtype;
        foreach (var o in operands.Skip(1))
            dtype = promote_types(dtype, o.dtype);
        if (dtype == ScalarType.Bool)
            throw new ArgumentException($"the operands of '{Equation}' are bool, which libtorch cannot multiply as matrices (torch.einsum refuses them too): convert them to an integer or floating type");
        if (outputShape.Contains(0) || operands.Any(o => o.numel() == 0))
            return Empty(operands, dtype, device);
        Guard(dtype, device, is_grad_enabled() && operands.Any(o => o.requires_grad));

        using var scope = NewDisposeScope();
        var prepared = new List<Tensor>(operands.Length);
        for (int k = 0; k < operands.Length; k++)
        {
            var t = operands[k].dtype == dtype ? operands[k] : operands[k].to_type(dtype);
            foreach (var axis in squeeze[k])
                t = t.squeeze(axis);
            if (reducedLabels[k].Length != leafLabels[k].Length)
                t = PairContraction.Reduce(t, leafLabels[k], reducedLabels[k].Contains).Tensor;
            prepared.Add(t);
        }
        var runs = new long[steps.Length];
        if (sliced.Length == 0)
        {
            var result = Run(prepared).MoveToOuterDisposeScope();
            Array.Fill(runs, 1);
            Volatile.Write(ref stepRuns, runs);
            return result;
        }
        // A sliced plan: nested loops over the sliced labels (see SliceReuse), on views with the sliced labels fixed.
        // A step runs again only when a value it depends on changed; a result held for a later step lives in the
        // call's scope (it outlives the slice's) and is released when it is replaced. Each slice's other
        // intermediates are freed before the next one.
        var extents = Slices.Extents(prepared, reducedLabels, sliced);
        var held = new Tensor?[steps.Length];
        Tensor? sum = null;
        long[]? previous = null;
        foreach (var values in Slices.Values(extents))
        {
            int changed = reuseOn ? SliceReuse.Changed(previous, values) : 0;
            previous = values;
            using var sliceScope = NewDisposeScope();
            var node = new Tensor?[prepared.Count + steps.Length];
            Tensor Operand(int n) =>
                n < prepared.Count ? Slices.Narrow(prepared[n], reducedLabels[n], sliced, values) : node[n] ?? held[n - prepared.Count]!;
            for (int s = 0; s < steps.Length; s++)
            {
                if (!reuse!.Runs(s, changed))
                    continue;
                var (a, b) = reuse.Operands[s];
                // The one held result a step replaces is needed by nothing that still runs in this slice.
                if (reuse.Held[s])
                    held[s]?.Dispose();
                var r = steps[s].Contraction.Apply(Operand(a), Operand(b), steps[s].Kernel);
                runs[s]++;
                if (reuse.Held[s])
                    held[s] = r.MoveToOuterDisposeScope();
                else
                    node[prepared.Count + s] = r;
            }
            var root = Operand(prepared.Count + steps.Length - 1);
            var part = finalPermutation is null ? root : root.permute(finalPermutation);
            var next = (sum is null ? part.alias() : ScalarOps.Plus(sum, part)).MoveToOuterDisposeScope();
            sum?.Dispose();
            sum = next;
        }
        foreach (var h in held)
            h?.Dispose();
        Volatile.Write(ref stepRuns, runs);
        return sum!.MoveToOuterDisposeScope();
    }

    /// The memory guard before anything is allocated: the planner's byte estimate of the plan in this dtype (with
    /// autograd, a training step's: the backward pass's activations and gradients) against the limit on the operands'
    /// device (MemoryGuard). A call that fits is remembered per dtype and autograd under the limit's setting, as a
    /// module remembers the batches that fit, so later calls read no memory figures.
    void Guard(ScalarType dtype, Device device, bool training)
    {
        using var on = device.type == DeviceType.CUDA ? MemoryGuard.OnDevice(device) : null;
        var key = (dtype, training, MemoryGuard.Setting());
        if (fitted.ContainsKey(key))
            return;
        // Slicing cuts closed indices only: where the operands and the result alone are over the limit, no
        // ContractionOptions.MemoryLimit helps, and the refusal says so rather than send the caller to one.
        int size = MemoryGuard.ElementSize(dtype);
        var floor = Figures.Bytes(size).Inputs + Figures.ResultElements * size;
        MemoryGuard.Check(MemoryGuard.Needed(Figures, dtype, training),
            $"the contraction '{Equation}' ({dtype.ToString().ToLowerInvariant()}{(training ? ", with autograd" : "")})",
            floor > MemoryGuard.Limit
                ? $"slicing cannot bring it under the limit: the operands and the result alone take {MemoryGuard.Format(floor)}"
                : "plan it sliced with ContractionOptions.MemoryLimit (the most elements of one intermediate)");
        fitted.TryAdd(key, 0);
    }

    readonly System.Collections.Concurrent.ConcurrentDictionary<(ScalarType, bool, (long?, string?, string?, long)), byte> fitted = new();

    /// Refuses a null operand list or operand with the operand's position (a bare NullReferenceException otherwise).
    internal static void CheckPresent(string equation, Tensor[] operands)
    {
        ArgumentNullException.ThrowIfNull(operands);
        for (int k = 0; k < operands.Length; k++)
            if (operands[k] is null)
                throw new ArgumentNullException(nameof(operands), $"operand {k + 1} of '{equation}' is null");
    }

    /// The result where an axis is empty: zeros (an empty sum), joined to every operand that requires a gradient
    /// by an empty sum of its elements, so that backward runs and gives those operands zero gradients as torch does.
    Tensor Empty(Tensor[] operands, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var result = zeros(outputShape, dtype, device);
        if (is_grad_enabled())
            foreach (var o in operands.Where(o => o.requires_grad))
                result = ScalarOps.Plus(result, o.reshape(-1).narrow(0, 0, 0).sum().to_type(dtype));
        Volatile.Write(ref stepRuns, new long[steps.Length]);
        return result.MoveToOuterDisposeScope();
    }

    /// The steps on prepared operands, and the result's axes in output order. Where no step ran and nothing was
    /// permuted, the result is a view of the operand as torch.einsum's is (it shares the data): alias() would be a
    /// second handle on the caller's own tensor, whose in-place metadata changes (unsqueeze_, requires_grad_) reached
    /// the operand.
    Tensor Run(List<Tensor> live)
    {
        foreach (var step in steps)
        {
            var r = step.Contraction.Apply(live[step.Left], live[step.Right], step.Kernel);
            live.RemoveAt(Math.Max(step.Left, step.Right));
            live.RemoveAt(Math.Min(step.Left, step.Right));
            live.Add(r);
        }
        if (finalPermutation is not null)
            return live[0].permute(finalPermutation);
        return steps.Length == 0 ? live[0].view_as(live[0]) : live[0].alias();
    }
}
