using Microsoft.FSharp.Collections;

namespace TnDsl.Torch;

/// <summary>
/// Where a layer's contraction order comes from: the planner (<c>TnDsl.Plan</c>) run on the flat network, converted
/// to the pairwise linear path <see cref="NetworkModule"/> executes. Kept in one function so that a plan-driven
/// builder on <see cref="NetworkModule"/> can replace it.
/// </summary>
public static class LayerPath
{
    /// <summary>
    /// Plans <paramref name="net"/> with the named optimizer (see <c>PlanApi.optimizerNames</c>), the dynamic (batch)
    /// dimensions set to <paramref name="batch"/>, and returns a pairwise path in opt_einsum's linear convention.
    /// Throws <see cref="LayerException"/> when planning fails.
    /// </summary>
    public static (int, int)[] Plan(FlatNetwork net, string optimizer = "auto", long batch = 100)
    {
        var dynamicFamilies = net.Indices.Where(i => DimModule.isDynamic(i.Dim)).Select(i => i.Family).Distinct();
        var sizes = MapModule.OfSeq(dynamicFamilies.Select(f => Tuple.Create(f, batch)));
        var problem = PlanInput.ofNetwork(net, sizes).Item1;
        var indexed = ProblemModule.index(net.Range, problem);
        if (indexed.IsError)
            throw new LayerException($"{net.Name}: cannot plan: {string.Join("; ", indexed.ErrorValue.Select(d => d.Message))}");
        var result = TnDsl.Plan.run(optimizer, PlanOptionsModule.defaults, indexed.ResultValue);
        if (!TnDsl.Plan.succeeded(result))
            throw new LayerException($"{net.Name}: planning with '{optimizer}' failed: {string.Join("; ", result.Diagnostics.Select(d => d.Message))}");
        var tree = result.Tree.Value;
        return Pairwise(tree.Leaves, ContractionTreeModule.toLinear(tree));
    }

    /// <summary>
    /// Turns a linear path whose steps may join more than two operands into a pairwise one with the same result
    /// (a k-ary step becomes k-1 pairwise steps, left to right); <paramref name="leaves"/> is the number of operands.
    /// </summary>
    public static (int, int)[] Pairwise(int leaves, int[][] linear)
    {
        var pairs = new List<(int, int)>();
        // Operand identities, to rewrite positions after each pairwise step.
        var live = Enumerable.Range(0, leaves).ToList();
        int next = leaves;
        int Fresh() => next++;
        foreach (var step in linear)
        {
            var ids = step.OrderBy(p => p).Select(p => live[p]).ToArray();
            int acc = ids[0];
            for (int k = 1; k < ids.Length; k++)
            {
                int i = live.IndexOf(acc), j = live.IndexOf(ids[k]);
                pairs.Add((Math.Min(i, j), Math.Max(i, j)));
                live.RemoveAt(Math.Max(i, j));
                live.RemoveAt(Math.Min(i, j));
                acc = Fresh();
                live.Add(acc);
            }
        }
        return pairs.ToArray();
    }
}
