using System.Numerics;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace TnDsl.Torch;

/// <summary>The planner's figures for the path a module executes (exact counts, opt_einsum conventions).</summary>
/// <param name="Optimizer">The optimizer asked for (<c>auto</c> names its choice in <paramref name="Notes"/>).</param>
/// <param name="Flops">Flops of the forward pass along the path.</param>
/// <param name="NaiveFlops">Flops of contracting everything in one step.</param>
/// <param name="LargestIntermediate">The largest intermediate, in elements.</param>
/// <param name="Peak">The most elements alive at once, inputs included.</param>
/// <param name="ActivationMemory">Elements of the intermediates that the backward pass keeps.</param>
/// <param name="BatchSize">The size given to every dynamic (batch) index when planning.</param>
/// <param name="SearchMs">Wall-clock time of the search.</param>
/// <param name="Notes">The planner's notes and warnings, rendered.</param>
public sealed record PlanFigures(
    string Optimizer,
    BigInteger Flops,
    BigInteger NaiveFlops,
    BigInteger LargestIntermediate,
    BigInteger Peak,
    BigInteger ActivationMemory,
    long? BatchSize,
    double SearchMs,
    IReadOnlyList<string> Notes);

/// <summary>A network that could not be turned into a module: the rendered diagnostics say why.</summary>
public sealed class NetworkBuildException(string message, IReadOnlyList<string> diagnostics)
    : Exception(diagnostics.Count == 0 ? message : message + Environment.NewLine + string.Join(Environment.NewLine, diagnostics))
{
    /// <summary>The diagnostics (MSBuild canonical form, with source lines where known), errors and warnings.</summary>
    public IReadOnlyList<string> Diagnostics { get; } = diagnostics;
}

/// <summary>The front end and the planner, seen from the backend (part of the one F#-to-C# adapter).</summary>
public static partial class NetworkAdapter
{
    /// <summary>Checks a <c>.tn</c> file (or text held in memory when <paramref name="text"/> is not null) and returns
    /// its flat network and the warnings; throws <see cref="NetworkBuildException"/> with every diagnostic on errors.</summary>
    public static (FlatNetwork Network, IReadOnlyList<string> Warnings) Check(
        string file, string? text, IReadOnlyList<KeyValuePair<string, string>>? overrides, string? networkName)
    {
        overrides ??= [];
        if (text is null && !File.Exists(file))
            throw new NetworkBuildException($"{file}: no such file", []);
        var result = text is null
            ? Api.Frontend.Check(file, overrides, networkName!)
            : Api.Frontend.CheckText(file, text, overrides, networkName!);
        var rendered = result.Diagnostics.Select(d => d.Rendered).ToArray();
        if (result.HasErrors)
            throw new NetworkBuildException($"{file}: {result.ErrorCount} error(s)", rendered);
        return (result.SummaryOrNull.Network, rendered);
    }

    /// <summary>
    /// Plans a flat network with a registered optimizer (<c>auto</c>, <c>optimal</c>, <c>greedy</c>,
    /// <c>random-greedy</c>, <c>partition</c>) and returns the path in opt_einsum's linear convention (pairs of
    /// positions in the current operand list, tensors numbered as in the network) with the plan's figures.
    /// <paramref name="batch"/>, when given, is the size of every dynamic index while planning (else the nominal
    /// sizes). Where the network has dynamic indices the optimizer also plans with them at size 1 (the optimizers
    /// handle wide hyperindices poorly), that tree is costed at the real sizes, and the cheaper of the two in flops
    /// is kept; a note says which. An optimizer that fails with an internal error is replaced by <c>greedy</c>, with a note.
    /// </summary>
    public static ((int, int)[] Path, PlanFigures Figures) Plan(FlatNetwork net, string optimizer, long? batch, int seed = 0)
    {
        var dynamicFamilies = net.Indices.Where(i => DimModule.isDynamic(i.Dim)).Select(i => i.Family).Distinct().ToArray();
        var (problem, warnings) = PlanInput.ofNetwork(net, Sizes(dynamicFamilies, batch));
        var indexed = ProblemModule.index(net.Range, problem);
        if (indexed.IsError)
            throw new NetworkBuildException($"{net.Name}: the network cannot be planned", Render(indexed.ErrorValue));
        var options = PlanOptionsModule.defaults;
        options = new PlanOptions(options.Objective, options.MemoryLimit, seed, options.Trials, options.TimeLimitMs, options.Parallel, options.Slice);
        var notes = new List<string>();
        var result = RunGuarded(optimizer, options, indexed.ResultValue, notes);
        var diagnostics = ListModule.Append(warnings, result.Diagnostics);
        if (!TnDsl.Plan.succeeded(result))
            throw new NetworkBuildException($"{net.Name}: planning with '{optimizer}' failed", Render(diagnostics));
        var tree = result.Tree.Value;
        var cost = result.Cost.Value;
        if (dynamicFamilies.Length > 0 && batch != 1)
        {
            var (unit, _) = PlanInput.ofNetwork(net, Sizes(dynamicFamilies, 1));
            var unitIndexed = ProblemModule.index(net.Range, unit);
            if (unitIndexed.IsOk)
            {
                var alt = RunGuarded(optimizer, options, unitIndexed.ResultValue, notes);
                if (TnDsl.Plan.succeeded(alt))
                {
                    var altCost = Cost.report(indexed.ResultValue, alt.Tree.Value);
                    if (altCost.Flops < cost.Flops)
                    {
                        notes.Add($"tn: info: the plan made with batch indices at size 1 is cheaper at the real sizes ({altCost.Flops:E2} against {cost.Flops:E2} flops) and is used");
                        tree = alt.Tree.Value;
                        cost = altCost;
                    }
                }
            }
        }
        var figures = new PlanFigures(optimizer, cost.Flops, cost.NaiveFlops, cost.LargestIntermediate, cost.Peak,
            cost.ActivationMemory, batch, result.SearchMs, [.. Render(diagnostics, includeNotes: true), .. notes]);
        return (ToPairs(tree.Leaves, tree.Steps), figures);
    }

    static FSharpMap<string, long> Sizes(string[] families, long? batch) =>
        batch is { } b
            ? MapModule.OfSeq(families.Select(f => Tuple.Create(f, b)))
            : MapModule.Empty<string, long>();

    static PlanResult RunGuarded(string optimizer, PlanOptions options, Indexed problem, List<string> notes)
    {
        try
        {
            return TnDsl.Plan.run(optimizer, options, problem);
        }
        catch (Exception e) when (optimizer != "greedy" && e is not OutOfMemoryException)
        {
            notes.Add($"tn: warning: optimizer '{optimizer}' failed ({e.Message}); greedy was used instead");
            return TnDsl.Plan.run("greedy", options, problem);
        }
    }

    /// <summary>
    /// Turns an SSA contraction tree (step s makes node <paramref name="leaves"/> + s from the listed nodes) into
    /// pairwise steps in the linear convention. A step of k &gt; 2 operands becomes k - 1 pairwise steps, left to
    /// right; a one-operand step (a single-tensor network, or a reduction of an input's own indices, which the next
    /// pairwise step performs) needs none.
    /// </summary>
    public static (int, int)[] ToPairs(int leaves, int[][] steps)
    {
        var live = Enumerable.Range(0, leaves).ToList();
        var pairs = new List<(int, int)>();
        int next = leaves + steps.Length; // fresh ids for the partial results of multi-way steps
        for (int s = 0; s < steps.Length; s++)
        {
            var children = steps[s];
            if (children.Length < 2)
            {
                // A single-operand reduction: the pairwise step that next uses this operand sums its own indices.
                if (children.Length == 1 && live.IndexOf(children[0]) is var k and >= 0) live[k] = leaves + s;
                continue;
            }
            int acc = children[0];
            for (int k = 1; k < children.Length; k++)
            {
                int i = live.IndexOf(acc), j = live.IndexOf(children[k]);
                pairs.Add((i, j));
                live.RemoveAt(Math.Max(i, j));
                live.RemoveAt(Math.Min(i, j));
                acc = k == children.Length - 1 ? leaves + s : next++;
                live.Add(acc);
            }
        }
        return pairs.ToArray();
    }

    static string[] Render(FSharpList<Diagnostic> diagnostics, bool includeNotes = false) =>
        diagnostics
            .Where(d => includeNotes || !d.Kind.Level.IsInfo)
            .Select(d => d.Range.Equals(TnDsl.Range.none)
                ? $"tn: {LevelWord(d.Kind.Level)} {d.Kind.Code}: {d.Message}"
                : DiagnosticModule.render(FuncConvert.FromFunc<string, FSharpOption<SourceText>>(_ => FSharpOption<SourceText>.None), d))
            .ToArray();

    static string LevelWord(Level level) => level.IsError ? "error" : level.IsWarning ? "warning" : "info";
}
