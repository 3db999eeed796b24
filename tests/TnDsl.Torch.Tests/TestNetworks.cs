using TnDsl.Api;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Builds F# flat networks from test code, so that the adapter is exercised too.
sealed class NetBuilder(string name = "net")
{
    readonly List<FlatIndex> indices = [];
    readonly List<FlatTensor> tensors = [];

    static FSharpList<int> L(IEnumerable<int> xs) => ListModule.OfSeq(xs);

    public int Index(string name, long size, bool dynamic = false, bool hyper = false)
    {
        var dim = dynamic ? Dim.NewDynamic(size) : Dim.NewFixed(size);
        indices.Add(new FlatIndex(indices.Count, name, L([]), dim, hyper ? IndexKind.Hyper : IndexKind.Bond, TnDsl.Range.none));
        return indices.Count - 1;
    }

    public int Tensor(string name, Role role, int[] legs, Init? init = null, Embedding? embedding = null,
                      string? param = null, string? family = null, int[]? subscripts = null)
    {
        // The name is written from family and subscripts; the parameter is the one given, or the name as given.
        tensors.Add(new FlatTensor(tensors.Count, family ?? name, L(subscripts ?? []), role, FSharpOption<string>.Some(param ?? name), legs,
            init is null ? FSharpOption<Init>.None : FSharpOption<Init>.Some(init),
            embedding is null ? FSharpOption<Embedding>.None : FSharpOption<Embedding>.Some(embedding),
            TnDsl.Range.none));
        return tensors.Count - 1;
    }

    public int Weight(string name, params int[] legs) => Tensor(name, Role.Weight, legs);

    public NetworkView Build(params int[] output) =>
        new(new FlatNetwork(name, ListModule.Empty<Tuple<string, Value>>(), tensors.ToArray(), indices.ToArray(), L(output),
            ListModule.Empty<FlatCut>(), TnDsl.Range.none));

    /// The path that contracts operand 0 with 1, then the running result with the next original operand.
    public static (int, int)[] LeftToRight(int operands) =>
        operands < 2 ? [] : [(0, 1), .. Enumerable.Range(0, operands - 2).Select(k => (0, operands - 2 - k))];

    /// A random valid linear path.
    public static (int, int)[] RandomPath(int operands, Random rng)
    {
        var path = new List<(int, int)>();
        for (int n = operands; n > 1; n--)
        {
            int i = rng.Next(n), j = rng.Next(n - 1);
            path.Add((i, j >= i ? j + 1 : j));
        }
        return path.ToArray();
    }
}

/// A dense float64 tensor with one integer label per axis, row-major.
sealed record Dense(int[] Labels, long[] Shape, double[] Data)
{
    public static Dense Of(Tensor t, int[] labels)
    {
        using var scope = NewDisposeScope();
        var d = t.detach().cpu().to_type(ScalarType.Float64).contiguous();
        var dense = new Dense(labels, d.shape, d.data<double>().ToArray());
        GC.KeepAlive(t);
        return dense;
    }

    public double this[long[] index]
    {
        get
        {
            long off = 0;
            for (int k = 0; k < Shape.Length; k++)
                off = off * Shape[k] + index[k];
            return Data[off];
        }
    }
}

/// An independent naive contraction: sums the product of all tensors over every assignment of every label.
static class Naive
{
    public static Dense Contract(IReadOnlyList<Dense> tensors, int[] output)
    {
        var size = new Dictionary<int, long>();
        foreach (var t in tensors)
            for (int k = 0; k < t.Labels.Length; k++)
                size[t.Labels[k]] = t.Shape[k];
        var all = output.Concat(size.Keys.Where(l => !output.Contains(l)).Order()).ToArray();
        var dims = all.Select(l => size[l]).ToArray();
        long total = dims.Aggregate(1L, (a, b) => a * b);
        var outShape = output.Select(l => size[l]).ToArray();
        var result = new double[outShape.Aggregate(1L, (a, b) => a * b)];
        var assign = new Dictionary<int, long>();
        var idx = new long[dims.Length];
        for (long flat = 0; flat < total; flat++)
        {
            long r = flat;
            for (int k = dims.Length - 1; k >= 0; k--)
            {
                idx[k] = r % dims[k];
                r /= dims[k];
            }
            for (int k = 0; k < all.Length; k++)
                assign[all[k]] = idx[k];
            double p = 1;
            foreach (var t in tensors)
                p *= t[t.Labels.Select(l => assign[l]).ToArray()];
            long o = 0;
            for (int k = 0; k < output.Length; k++)
                o = o * outShape[k] + idx[k];
            result[o] += p;
        }
        return new Dense(output, outShape, result);
    }
}
