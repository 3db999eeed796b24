using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// The orientation of a dense plan's steps (StepLayouts): the planner fixes which tensors meet, the module lays out
/// the intermediates so that tensordot reads its operands as matrices without copying them where it can.
public class StepLayoutsTests
{
    static StepLayoutsTests() => NativeLoader.EnsureLoaded();

    /// Whether an operand held contiguously in the order of <paramref name="own"/> is the matrix [first, second], or
    /// its transpose, without a copy (axes of size 1 may sit anywhere).
    static bool Views(IReadOnlyList<int> own, IReadOnlyList<int> first, IReadOnlyList<int> second, Func<int, long> size)
    {
        var order = own.Where(l => size(l) != 1).ToArray();
        var rows = first.Where(l => size(l) != 1).ToArray();
        var columns = second.Where(l => size(l) != 1).ToArray();
        return order.SequenceEqual(rows.Concat(columns)) || order.SequenceEqual(columns.Concat(rows));
    }

    /// The tensordot steps of the module whose operands (every kernel's result is contiguous in its label order, and
    /// so are the weights) must be copied before the product.
    static int CopyingSteps(NetworkModule m)
    {
        long Size(int l) => m.Spec.Indices[l].Size;
        return m.Plan.Count(s => s.Kernel == PairKernel.Tensordot
                                 && (!Views(s.Contraction.LeftLabels, s.Contraction.LeftFree, s.Contraction.Contracted, Size)
                                     || !Views(s.Contraction.RightLabels, s.Contraction.Contracted, s.Contraction.RightFree, Size)));
    }

    [Fact]
    public void a_tree_layer_runs_every_step_without_copying_an_operand_and_computes_the_same_values()
    {
        NetworkModule Build(PairKernel? kernel) => NetworkModules.FromFile(Repo.Example("layers/ttn.tn"), [],
            new NetworkBuildOptions { Batch = 7, Module = new() { DType = ScalarType.Float64, Seed = 4, Kernel = kernel } });
        using var oriented = Build(null);
        // A forced kernel keeps the planner's orientation: there the tree's intermediates interleave their legs.
        using var planned = Build(PairKernel.Tensordot);
        Assert.Equal(0, CopyingSteps(oriented));
        Assert.True(CopyingSteps(planned) > 0);
        Assert.Equal(planned.Plan.Count, oriented.Plan.Count);
        using var inputsGenerator = new Generator(5);
        var inputs = RandomInputs.Make(oriented, 7, inputsGenerator, ScalarType.Float64);
        using var a = oriented.forward(inputs);
        using var b = planned.forward(inputs);
        Assert.Equal(b.shape, a.shape);
        Assert.True(allclose(a, b, 1e-12, 1e-14));
        foreach (var x in inputs)
            x.Dispose();
    }

    [Fact]
    public void an_oriented_einsum_expression_equals_torch_einsum()
    {
        // A tree contraction whose steps the orientation may swap: the value and the output's axis order stay.
        const string equation = "ai,bj,ck,dl,ijm,kln,mno->abcdo";
        long[][] shapes = [[3, 2], [3, 2], [3, 2], [3, 2], [2, 2, 4], [2, 2, 4], [4, 4, 5]];
        using var g = new Generator(8);
        var operands = shapes.Select(s => randn(s, ScalarType.Float64, generator: g)).ToArray();
        using var ours = Tn.Contract(equation, operands);
        using var theirs = einsum(equation, operands);
        Assert.Equal(theirs.shape, ours.shape);
        Assert.True(allclose(ours, theirs, 1e-12, 1e-14));
        foreach (var o in operands)
            o.Dispose();
    }

    [Fact]
    public void an_mps_layer_sums_each_site_in_the_order_its_environment_holds_and_computes_the_same_values_and_gradients()
    {
        using var temporaries = NewDisposeScope();
        // Each site's step is the environment [batch, p, b] against the core (b, p, b'): summed in the core's order,
        // the environment (batch elements) would be copied, and kept for backward, at every site.
        NetworkModule Build(PairKernel? kernel) => NetworkModules.FromFile(Repo.Example("layers/mps.tn"), [new("chi", "4")],
            new NetworkBuildOptions { Batch = 2000, Module = new() { DType = ScalarType.Float64, Seed = 2, Kernel = kernel } });
        using var ours = Build(null);
        using var reference = Build(PairKernel.Einsum);
        long Size(int l) => ours.Spec.Indices[l].Size;
        var batch = ours.Spec.Indices.Select((x, i) => (x, i)).Single(t => t.x.IsDynamic).i;
        var environmentSteps = ours.Plan.Where(s => s.Kernel == PairKernel.Tensordot && s.Contraction.Contracted.Count == 2
                                                    && (s.Contraction.LeftLabels.Contains(batch) || s.Contraction.RightLabels.Contains(batch))).ToArray();
        Assert.NotEmpty(environmentSteps);
        foreach (var s in environmentSteps)
        {
            var c = s.Contraction;
            var (labels, own) = c.LeftLabels.Contains(batch) ? (c.LeftLabels, c.LeftFree) : (c.RightLabels, c.RightFree);
            Assert.True(Views(labels, own, c.Contracted, Size), $"step {c.Equation} copies the environment");
        }
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(ours, 2000, inputsGenerator, ScalarType.Float64);
        using var a = ours.forward(inputs);
        using var b = reference.forward(inputs);
        // Relative to the largest entry: sums taken in another order differ in the last bits.
        static double Off(Tensor x, Tensor y) => ScalarOps.Minus(x, y).abs().max().item<double>() / y.abs().max().item<double>();
        Assert.True(Off(a, b) < 1e-12, $"values differ by {Off(a, b)} of the largest");
        ScalarOps.Square(a).sum().backward();
        ScalarOps.Square(b).sum().backward();
        foreach (var (p, q) in ours.parameters().Zip(reference.parameters()))
            Assert.True(Off(p.grad!, q.grad!) < 1e-10, $"gradients differ by {Off(p.grad!, q.grad!)} of the largest");
        foreach (var x in inputs)
            x.Dispose();
    }
}
