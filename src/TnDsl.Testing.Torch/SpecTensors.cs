using TnDsl.Api;
using TnDsl.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Testing.Torch;

/// <summary>
/// What a forward under test receives: one TorchSharp tensor per tensor of the spec's network, by written name
/// (<c>A[3]</c>), with axes in the tensor's declared leg order, plus the drawn parameters. Tied weights arrive as
/// separate tensors with equal values; inputs arrive as their full (already embedded) tensors, batch legs where the
/// spec declares them. The forward must return the network's value with one axis per output leg, in output order.
/// </summary>
public sealed class SpecTensors
{
    readonly Tensor[] tensors;

    internal SpecTensors(SpecSample sample, Tensor[] tensors)
    {
        Sample = sample;
        Network = new NetworkView(sample.Network);
        this.tensors = tensors;
    }

    /// <summary>The drawn case, the network at it and the values (float64) the tensors were made from.</summary>
    public SpecSample Sample { get; }

    /// <summary>The network at the drawn parameters.</summary>
    public NetworkView Network { get; }

    /// <summary>The tensors in network order (tensor id).</summary>
    public IReadOnlyList<Tensor> All => tensors;

    /// <summary>The written names of the tensors, in network order.</summary>
    public IReadOnlyList<string> Names => Network.Tensors.Select(t => t.Name).ToArray();

    /// <summary>The tensor with this written name (<c>A[3]</c>).</summary>
    public Tensor this[string name]
    {
        get
        {
            var t = Network.Tensors.FirstOrDefault(t => t.Name == name)
                ?? throw new ArgumentException($"the network has no tensor `{name}`; it has {string.Join(", ", Names.Take(8))}");
            return tensors[t.Id];
        }
    }

    /// <summary>The tensors of a family (<c>A</c> for <c>A[0]</c>, <c>A[1]</c>, …) in subscript order (none where the
    /// family has no member at this case); a family the spec does not declare is an <see cref="ArgumentException"/>
    /// that names those it does.</summary>
    public IReadOnlyList<Tensor> Family(string family)
    {
        if (!Sample.Families.Contains(family))
            throw new ArgumentException($"the spec has no tensor family `{family}`; its families are {string.Join(", ", Sample.Families)}");
        return Network.Tensors.Where(t => t.Family == family)
            .OrderBy(t => t.Subscripts, Comparer<int[]>.Create(Lexicographic))
            .Select(t => tensors[t.Id]).ToArray();
    }

    static int Lexicographic(int[] a, int[] b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
            if (a[i] != b[i])
                return a[i].CompareTo(b[i]);
        return a.Length.CompareTo(b.Length);
    }

    /// <summary>An integer parameter of the spec at this case (drawn, or the spec's default).</summary>
    public long Parameter(string name) => Sample.Parameter(name);

    /// <summary>The dimension of an index by written name (<c>b[3]</c>; a batch family at its drawn size).</summary>
    public long Dim(string index) => Sample.Dim(index);

    /// <summary>The dtype every tensor was given in.</summary>
    public ScalarType DType => Sample.DType.IsFloat32 ? ScalarType.Float32 : ScalarType.Float64;
}
