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
    /// A path for layers that never forms an outer product while a bonded pair exists: at each step, among the pairs
    /// of operands sharing a fixed (non-batch) index, contract the one with the smallest result (ties: the smallest
    /// operands). Tree-shaped layers (q-CNN, ConvAC, TTN) then contract leaves into their parents and keep every
    /// intermediate at batch × channels, where a general greedy search may pair inputs through the batch
    /// hyperindex and build huge intermediates.
    /// </summary>
    public static (int, int)[] BondGreedy(FlatNetwork net, long batch = 100)
    {
        var (ops, size, output, dynamicIx) = Operands(net, batch);
        var path = new List<(int, int)>();
        while (ops.Count > 1)
        {
            int bi = -1, bj = -1;
            double bestResult = double.PositiveInfinity, bestInputs = double.PositiveInfinity;
            for (int i = 0; i < ops.Count; i++)
                for (int j = i + 1; j < ops.Count; j++)
                {
                    if (!ops[i].Overlaps(ops[j]) || ops[i].Intersect(ops[j]).All(dynamicIx.Contains))
                        continue;
                    double result = Size(Result(ops, i, j, output), size), inputs = Size(ops[i], size) + Size(ops[j], size);
                    if (result < bestResult || (result == bestResult && inputs < bestInputs))
                        (bi, bj, bestResult, bestInputs) = (i, j, result, inputs);
                }
            if (bi < 0)
                (bi, bj) = (0, 1);
            var merged = Result(ops, bi, bj, output);
            path.Add((bi, bj));
            ops.RemoveAt(bj);
            ops.RemoveAt(bi);
            ops.Add(merged);
        }
        return path.ToArray();
    }

    /// <summary>The flops of a pairwise path under the plain cost model (product of the dimensions of each step's indices).</summary>
    public static double Flops(FlatNetwork net, IReadOnlyList<(int, int)> path, long batch = 100)
    {
        var (ops, size, output, _) = Operands(net, batch);
        double total = 0;
        foreach (var (i, j) in path)
        {
            var union = new HashSet<int>(ops[i]);
            union.UnionWith(ops[j]);
            total += Size(union, size);
            var merged = Result(ops, i, j, output);
            ops.RemoveAt(Math.Max(i, j));
            ops.RemoveAt(Math.Min(i, j));
            ops.Add(merged);
        }
        return total;
    }

    /// <summary>
    /// The path a layer uses: the planner's (with the named optimizer) or <see cref="BondGreedy"/>, whichever costs
    /// fewer flops at the given batch size.
    /// </summary>
    public static (int, int)[] Best(FlatNetwork net, string optimizer = "auto", long batch = 100)
    {
        var planned = Plan(net, optimizer, batch);
        var bonded = BondGreedy(net, batch);
        return Flops(net, bonded, batch) < Flops(net, planned, batch) ? bonded : planned;
    }

    static (List<HashSet<int>> Ops, double[] Size, HashSet<int> Output, HashSet<int> Dynamic) Operands(FlatNetwork net, long batch)
    {
        var size = net.Indices.Select(i => DimModule.isDynamic(i.Dim) ? batch : (double)DimModule.size(i.Dim)).ToArray();
        var dynamicIx = net.Indices.Where(i => DimModule.isDynamic(i.Dim)).Select(i => i.Id).ToHashSet();
        var ops = net.Tensors.Select(t => t.Legs.ToHashSet()).ToList();
        return (ops, size, net.Output.ToHashSet(), dynamicIx);
    }

    static HashSet<int> Result(List<HashSet<int>> ops, int i, int j, HashSet<int> output)
    {
        var keep = new HashSet<int>(output);
        for (int k = 0; k < ops.Count; k++)
            if (k != i && k != j)
                keep.UnionWith(ops[k]);
        var result = new HashSet<int>(ops[i]);
        result.UnionWith(ops[j]);
        result.IntersectWith(keep);
        return result;
    }

    static double Size(IEnumerable<int> indices, double[] size) => indices.Aggregate(1.0, (acc, ix) => acc * size[ix]);

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
