using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>How <see cref="Tn.Expression(string, long[][], ContractionOptions?)"/> plans.</summary>
public sealed record ContractionOptions
{
    /// <summary>A registered optimizer (<c>auto</c>, <c>optimal</c>, <c>greedy</c>, <c>random-greedy</c>,
    /// <c>partition</c>); <c>auto</c> by default.</summary>
    public string Optimizer { get; init; } = "auto";
    /// <summary>The seed of randomised optimizers.</summary>
    public int Seed { get; init; }
    /// <summary>The most elements any intermediate may have (none by default).</summary>
    public long? MemoryLimit { get; init; }
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
/// <c>contract_expression</c>: the equation is read by the same reader as <c>tn plan --einsum</c> (any Unicode
/// letters, <c>...</c> and size-1 broadcasting as torch.einsum, repeated indices taking a diagonal), planned by the
/// same optimizer registry, and executed pairwise by <see cref="PairContraction"/>, like a network module.
/// </summary>
public static class Tn
{
    /// <summary>Contracts <paramref name="operands"/> by <paramref name="equation"/> (<c>"ab,bc->ac"</c>), planning
    /// with <c>auto</c>. Equal to <c>torch.einsum</c> up to rounding. Throws <see cref="EinsumException"/> on bad text
    /// or shapes that do not fit it.</summary>
    public static Tensor Contract(string equation, params Tensor[] operands) =>
        Expression(equation, operands.Select(o => o.shape).ToArray(), null).Invoke(operands);

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
/// device (all operands on one device), with autograd.
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

    /// <summary>The equation as given.</summary>
    public string Equation { get; }
    /// <summary>The path in opt_einsum's linear convention (pairs of positions in the current operand list).</summary>
    public IReadOnlyList<(int, int)> Path { get; }
    /// <summary>The planner's figures for this path (exact flops, largest intermediate, …).</summary>
    public PlanFigures Figures { get; }
    /// <summary>The shape of the result.</summary>
    public IReadOnlyList<long> OutputShape => outputShape;

    internal ContractExpression(string equation, long[][] shapes, ContractionOptions options)
    {
        Equation = equation;
        this.shapes = shapes.Select(s => s.ToArray()).ToArray();
        var source = new SourceText(Einsum.equationFile, equation);
        var parsed = Einsum.parse(equation);
        if (parsed.IsError)
            throw Fail(parsed.ErrorValue, source);
        var bound = Einsum.bind(parsed.ResultValue, this.shapes);
        if (bound.IsError)
            throw Fail(bound.ErrorValue, source);
        var binding = bound.ResultValue;
        var indexed = ProblemModule.index(TnDsl.Range.ofFile(Einsum.equationFile), binding.Problem);
        if (indexed.IsError)
            throw Fail(indexed.ErrorValue, source);
        var problem = indexed.ResultValue;
        var defaults = PlanOptionsModule.defaults;
        var planOptions = new PlanOptions(defaults.Objective,
            options.MemoryLimit is { } m ? FSharpOption<long>.Some(m) : FSharpOption<long>.None,
            options.Seed, defaults.Trials, defaults.TimeLimitMs, defaults.Parallel, false);
        var result = TnDsl.Plan.run(options.Optimizer, planOptions, problem);
        if (!TnDsl.Plan.succeeded(result))
            throw Fail(result.Diagnostics, source);
        var tree = result.Tree.Value;
        var cost = result.Cost.Value;
        Path = NetworkAdapter.ToPairs(tree.Leaves, tree.Steps);
        Figures = new PlanFigures(options.Optimizer, cost.Flops, cost.NaiveFlops, cost.LargestIntermediate, cost.Peak,
            cost.ActivationMemory, null, result.SearchMs,
            result.Diagnostics.Select(d => DiagnosticModule.headline(d)).ToArray());

        // Labels are the planner's index ids.
        var id = problem.IndexNames.Select((name, k) => (name, k)).ToDictionary(x => x.name, x => x.k);
        int n = this.shapes.Length;
        squeeze = new long[n][];
        leafLabels = new int[n][];
        for (int k = 0; k < n; k++)
        {
            squeeze[k] = Enumerable.Range(0, this.shapes[k].Length).Where(a => binding.Broadcast[k][a]).Reverse().Select(a => (long)a).ToArray();
            leafLabels[k] = binding.Problem.Inputs[k].Select(l => id[l]).ToArray();
        }
        var output = binding.Problem.Output.Select(l => id[l]).ToArray();
        outputShape = output.Select(l => problem.Size[l]).ToArray();
        // Zero-size axes were planned at size 1: the result's shape takes their real size.
        for (int o = 0; o < output.Length; o++)
            for (int k = 0; k < n; k++)
                for (int a = 0; a < binding.Axes[k].Length; a++)
                    if (binding.Axes[k][a] == binding.Problem.Output[o] && this.shapes[k][a] == 0)
                        outputShape[o] = 0;
        // A label is kept at a leaf when the output or another operand carries it (as in a network module).
        var holders = new Dictionary<int, int>();
        foreach (var labels in leafLabels)
            foreach (var l in labels.Distinct())
                holders[l] = holders.GetValueOrDefault(l) + 1;
        reducedLabels = leafLabels.Select(ls => ls.Distinct().Where(l => output.Contains(l) || holders[l] > 1).ToArray()).ToArray();
        (steps, finalPermutation) = MakeSteps(reducedLabels, Path, output);
    }

    static (PlanStep[], long[]?) MakeSteps(int[][] leaves, IReadOnlyList<(int, int)> path, int[] output)
    {
        var ops = leaves.ToList();
        var steps = new List<PlanStep>();
        void Step(int i, int j)
        {
            var keep = new HashSet<int>(output);
            for (int k = 0; k < ops.Count; k++)
                if (k != i && k != j)
                    keep.UnionWith(ops[k]);
            var c = new PairContraction(ops[i], ops[j], keep);
            steps.Add(new PlanStep(i, j, c, c.Fastest));
            ops.RemoveAt(Math.Max(i, j));
            ops.RemoveAt(Math.Min(i, j));
            ops.Add(c.Result.ToArray());
        }
        foreach (var (i, j) in path)
            Step(i, j);
        while (ops.Count > 1)
            Step(0, 1);
        var final = ops[0];
        var perm = output.Select(l => (long)Array.IndexOf(final, l)).ToArray();
        return (steps.ToArray(), perm.Select((p, k) => p == k).All(x => x) ? null : perm);
    }

    static EinsumException Fail(Microsoft.FSharp.Collections.FSharpList<Diagnostic> diagnostics, SourceText source)
    {
        var find = FuncConvert.FromFunc<string, FSharpOption<SourceText>>(
            f => f == source.File ? FSharpOption<SourceText>.Some(source) : FSharpOption<SourceText>.None);
        var errors = diagnostics.Where(d => !d.Kind.Level.IsInfo).ToArray();
        return new EinsumException(errors.Select(d => DiagnosticModule.render(find, d)).ToArray(), errors.Select(d => d.Kind.Code).ToArray());
    }

    /// <summary>Contracts operands of the planned shapes. Operands of different dtypes are promoted to a common one
    /// (as torch's arithmetic does); the result is on the operands' device.</summary>
    public Tensor Invoke(params Tensor[] operands)
    {
        if (operands.Length != shapes.Length)
            throw new ArgumentException($"the expression '{Equation}' takes {shapes.Length} operand(s), got {operands.Length}");
        for (int k = 0; k < operands.Length; k++)
            if (!operands[k].shape.SequenceEqual(shapes[k]))
                throw new ArgumentException(
                    $"operand {k + 1} has shape [{string.Join(", ", operands[k].shape)}]; the expression was planned for [{string.Join(", ", shapes[k])}]");
        var dtype = operands[0].dtype;
        foreach (var o in operands.Skip(1))
            dtype = promote_types(dtype, o.dtype);
        if (outputShape.Contains(0) || operands.Any(o => o.numel() == 0))
            return zeros(outputShape, dtype, operands[0].device);

        using var scope = NewDisposeScope();
        var live = new List<Tensor>(operands.Length);
        for (int k = 0; k < operands.Length; k++)
        {
            var t = operands[k].dtype == dtype ? operands[k] : operands[k].to_type(dtype);
            foreach (var axis in squeeze[k])
                t = t.squeeze(axis);
            if (reducedLabels[k].Length != leafLabels[k].Length)
                t = PairContraction.Reduce(t, leafLabels[k], reducedLabels[k].Contains).Tensor;
            live.Add(t);
        }
        foreach (var step in steps)
        {
            var r = step.Contraction.Apply(live[step.Left], live[step.Right], step.Kernel);
            live.RemoveAt(Math.Max(step.Left, step.Right));
            live.RemoveAt(Math.Min(step.Left, step.Right));
            live.Add(r);
        }
        var result = finalPermutation is null ? live[0].alias() : live[0].permute(finalPermutation);
        return result.MoveToOuterDisposeScope();
    }
}
