using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class NetworkModuleTests
{
    static NetworkModuleTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 7 };

    /// A 4-site MPS over a batch, one-hot inputs fed as one [batch, 4] tensor of 0/1 values.
    static (NetworkView Net, int[] Batch) Mps(int sites = 4, long chi = 3)
    {
        var n = new NetBuilder("mps");
        int b = n.Index("b", 5, dynamic: true, hyper: true);
        var p = Enumerable.Range(0, sites).Select(i => n.Index($"p[{i}]", 2)).ToArray();
        var bond = Enumerable.Range(0, sites + 1).Select(i => n.Index($"v[{i}]", i == 0 || i == sites ? 1 : chi)).ToArray();
        for (int i = 0; i < sites; i++)
            n.Tensor($"A[{i}]", Role.Weight, [bond[i], p[i], bond[i + 1]], Init.NewNormal(0.0, 0.5), param: $"A.{i}", family: "A", subscripts: [i]);
        for (int i = 0; i < sites; i++)
            n.Tensor($"x[{i}]", Role.Input, [b, p[i]], embedding: Embedding.NewOneHot(2), param: $"x.{i}", family: "x", subscripts: [i]);
        return (n.Build(b, bond[0], bond[sites]), [b]);
    }

    /// A network with a hyperindex on four tensors, tied weights (U), a const copy tensor, a traced leg and a
    /// scrambled output order.
    static NetworkView Assorted()
    {
        var n = new NetBuilder("assorted");
        int i = n.Index("i", 2), j = n.Index("j", 3), k = n.Index("k", 4), h = n.Index("h", 3, hyper: true);
        int o = n.Index("o", 2, hyper: true), q = n.Index("q", 2), m = n.Index("m", 3), r = n.Index("r", 3);
        n.Weight("W", i, j, h);
        n.Weight("V", j, k, h);
        n.Tensor("U[0]", Role.Weight, [h, m], Init.NewUniform(-1.0, 1.0), param: "U", family: "U", subscripts: [0]);
        n.Tensor("U[1]", Role.Weight, [m, h], param: "U", family: "U", subscripts: [1]);
        n.Tensor("C", Role.Const, [i, o, q], Init.Copy);
        n.Tensor("D", Role.Weight, [r, r, k], Init.NewNormal(1.0, 0.3));
        return n.Build(o, k, q);
    }

    /// Exactly equal shapes and entries.
    static bool Same(Tensor a, Tensor b)
    {
        bool same;
        using (NewDisposeScope())
            same = a.shape.SequenceEqual(b.shape) && (a == b).all().item<bool>();
        GC.KeepAlive(a);
        GC.KeepAlive(b);
        return same;
    }

    static Dense ParamDense(NetworkModule m, string param, int[] legs) =>
        Dense.Of(m.get_parameter(param) ?? m.get_buffer(param)!, legs);

    /// The oracle: the module's own parameter values with independently embedded inputs, contracted naively.
    static Dense Oracle(NetworkModule m, Func<TensorSpec, Dense> input)
    {
        var dense = m.Spec.Tensors.Select(t => t.Role == TensorRole.Input ? input(t) : ParamDense(m, t.Param, t.Legs)).ToList();
        return Naive.Contract(dense, m.Spec.Output);
    }

    static void AssertClose(Dense expected, Tensor actual, double rel = 1e-9)
    {
        var got = Dense.Of(actual, expected.Labels);
        Assert.Equal(expected.Shape, got.Shape);
        double scale = Math.Max(1e-300, expected.Data.Max(Math.Abs));
        for (int e = 0; e < expected.Data.Length; e++)
            Assert.True(Math.Abs(expected.Data[e] - got.Data[e]) <= rel * scale,
                $"entry {e}: expected {expected.Data[e]}, got {got.Data[e]}");
    }

    public static TheoryData<PairKernel?, int> KernelsAndPaths()
    {
        var data = new TheoryData<PairKernel?, int>();
        foreach (var k in new PairKernel?[] { null, PairKernel.Einsum, PairKernel.Tensordot, PairKernel.Matmul })
            foreach (var seed in new[] { -1, 1, 2, 3 })
                data.Add(k, seed);
        return data;
    }

    static (int, int)[] PathFor(int operands, int seed) =>
        seed < 0 ? NetBuilder.LeftToRight(operands) : NetBuilder.RandomPath(operands, new Random(seed));

    [Theory]
    [MemberData(nameof(KernelsAndPaths))]
    public void Mps_output_equals_the_naive_contraction(PairKernel? kernel, int pathSeed)
    {
        var (net, _) = Mps();
        using var m = NetworkAdapter.ToModule(net, PathFor(net.Tensors.Length, pathSeed), F64 with { Kernel = kernel });
        var rng = new Random(11);
        var bits = new long[5, 4];
        for (int s = 0; s < 5; s++)
            for (int i = 0; i < 4; i++)
                bits[s, i] = rng.Next(2);
        using var raw = tensor(bits);
        using var y = m.forward([raw]);
        Assert.Equal(["b", "v[0]", "v[4]"], m.OutputLegs);
        var expected = Oracle(m, t =>
        {
            int site = t.Subscripts[0];
            var data = new double[10];
            for (int s = 0; s < 5; s++)
                data[s * 2 + bits[s, site]] = 1;
            return new Dense(t.Legs, [5, 2], data);
        });
        AssertClose(expected, y);
    }

    [Theory]
    [MemberData(nameof(KernelsAndPaths))]
    public void Hyperindices_ties_copies_and_traces_contract_like_the_naive_sum(PairKernel? kernel, int pathSeed)
    {
        var net = Assorted();
        using var m = NetworkAdapter.ToModule(net, PathFor(net.Tensors.Length, pathSeed), F64 with { Kernel = kernel });
        using var y = m.forward([]);
        AssertClose(Oracle(m, _ => throw new InvalidOperationException()), y);
        Assert.Equal(["o", "k", "q"], m.OutputLegs);
    }

    [Fact]
    public void A_network_that_passes_its_input_through_returns_a_view_not_the_callers_tensor()
    {
        // As Tn.Contract("ab->ab", x): the result shares the input's data, but reshaping it in place or marking it
        // for autograd leaves the caller's tensor as it was.
        using var m = NetworkModules.FromText("id.tn", """
            network id {
              index batch: dynamic(4)
              index a: 3
              input x: (batch, a)
              output (batch, a)
            }
            """);
        using var x = ones(4, 3);
        using var y = m.forward([x]);
        y.unsqueeze_(0);
        y.requires_grad_();
        Assert.Equal(new long[] { 4, 3 }, x.shape);
        Assert.False(x.requires_grad);
        Assert.Equal(new long[] { 1, 4, 3 }, y.shape);
    }

    [Fact]
    public void Tied_weights_are_one_parameter_and_consts_are_buffers()
    {
        using var m = NetworkAdapter.ToModule(Assorted(), []);
        Assert.Equal(["W", "V", "U", "D"], m.ParameterNames);
        Assert.Equal(["W", "V", "U", "D"], m.named_parameters().Select(p => p.name));
        Assert.Equal(["C"], m.named_buffers().Select(b => b.name));
        Assert.All(m.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Embeddings_run_inside_the_module()
    {
        var n = new NetBuilder("embed");
        int b = n.Index("b", 4, dynamic: true, hyper: true);
        int f = n.Index("f", 2), g = n.Index("g", 5), e = n.Index("e", 4), o = n.Index("o", 3);
        n.Tensor("x", Role.Input, [b, f], embedding: Embedding.Trig);
        n.Tensor("y", Role.Input, [g, b], embedding: null);
        n.Tensor("z", Role.Input, [b, e], embedding: Embedding.NewLegendre(4));
        n.Tensor("w", Role.Input, [b, g], embedding: Embedding.NewFourier(5), family: "w");
        n.Weight("W", f, e, o);
        n.Weight("G", g, o);
        var net = n.Build(b, o);
        using var m = NetworkAdapter.ToModule(net, [], F64);
        Assert.Equal(["x", "y", "z", "w"], m.InputNames);
        double[] xs = [0.0, 0.3, 0.75, 1.0], zs = [0.1, 0.5, 0.9, 0.2], ws = [0.05, 0.4, 0.6, 0.95];
        var yv = new double[4, 5];
        for (int s = 0; s < 4; s++)
            for (int c = 0; c < 5; c++)
                yv[s, c] = s - c * 0.5;
        using var x = tensor(xs);
        using var yt = tensor(yv);
        using var z = tensor(zs);
        using var w = tensor(ws);
        using var out1 = m.forward([x, yt, z, w]);
        using var out2 = m.Forward(new Dictionary<string, Tensor> { ["w"] = w, ["z"] = z, ["x"] = x, ["y"] = yt });
        Assert.True(Same(out1, out2));

        Dense Feature(TensorSpec t, int width, Func<double, int, double> feature, double[] values) =>
            new(t.Legs, [4, width], Enumerable.Range(0, 4 * width).Select(k => feature(values[k / width], k % width)).ToArray());
        double P(double t, int k) => k switch { 0 => 1, 1 => t, 2 => (3 * t * t - 1) / 2, _ => (5 * t * t * t - 3 * t) / 2 };
        var expected = Oracle(m, t => t.Name switch
        {
            "x" => Feature(t, 2, (v, k) => k == 0 ? Math.Cos(Math.PI * v / 2) : Math.Sin(Math.PI * v / 2), xs),
            "z" => Feature(t, 4, (v, k) => P(2 * v - 1, k), zs),
            "w" => Feature(t, 5, (v, k) => k == 0 ? 1 : (k % 2 == 1 ? Math.Cos((k + 1) / 2 * Math.PI * v) : Math.Sin(k / 2 * Math.PI * v)), ws),
            // y is fed batch first, although its declared legs are (g, b).
            _ => new Dense([b, g], [4, 5], Enumerable.Range(0, 20).Select(k => yv[k / 5, k % 5]).ToArray()),
        });
        AssertClose(expected, out1);
    }

    [Fact]
    public void Gradients_match_finite_differences()
    {
        var net = Assorted();
        using var m = NetworkAdapter.ToModule(net, NetBuilder.RandomPath(net.Tensors.Length, new Random(5)), F64);
        GradCheck.Assert(m, []);
    }

    [Fact]
    public void Saved_state_loads_into_a_differently_seeded_module()
    {
        var (net, _) = Mps();
        var path = Path.Combine(Path.GetTempPath(), $"tndsl-state-{Guid.NewGuid():N}.bin");
        try
        {
            using var a = NetworkAdapter.ToModule(net, [], F64 with { Seed = 1 });
            using var b = NetworkAdapter.ToModule(net, [], F64 with { Seed = 2 });
            using var raw = tensor(new long[,] { { 0, 1, 1, 0 }, { 1, 1, 0, 0 } });
            using var ya = a.forward([raw]);
            using var yb0 = b.forward([raw]);
            Assert.False(ya.allclose(yb0));
            Assert.Equal(["A.0", "A.1", "A.2", "A.3"], a.state_dict().Keys);
            a.save(path);
            b.load(path);
            using var yb = b.forward([raw]);
            Assert.True(Same(ya, yb));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Initialisation_is_seeded_and_the_same_in_every_dtype()
    {
        var (net, _) = Mps();
        using var a = NetworkAdapter.ToModule(net, [], F64 with { Seed = 4 });
        using var b = NetworkAdapter.ToModule(net, [], F64 with { Seed = 4 });
        using var c = NetworkAdapter.ToModule(net, [], new NetworkModuleOptions { Seed = 4, DType = ScalarType.Float32 });
        foreach (var name in a.ParameterNames)
        {
            Assert.True(Same(a.get_parameter(name)!, b.get_parameter(name)!));
            Assert.Equal(ScalarType.Float32, c.get_parameter(name)!.dtype);
            using var c64 = c.get_parameter(name)!.to_type(ScalarType.Float64);
            Assert.True(c64.allclose(a.get_parameter(name)!, rtol: 1e-6, atol: 1e-7));
        }
    }

    [Fact]
    public void Wrong_input_shapes_and_names_are_refused()
    {
        var (net, _) = Mps();
        using var m = NetworkAdapter.ToModule(net, []);
        using var wrong = zeros(5, 3, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => m.forward([wrong]));
        Assert.Throws<ArgumentException>(() => m.forward([]));
        Assert.Throws<ArgumentException>(() => m.Forward(new Dictionary<string, Tensor> { ["nope"] = wrong }));
        Assert.Contains(Assert.Throws<TnException>(() => NetworkAdapter.ToModule(net, [(0, 0)])).Diagnostics, d => d.Code == "TN0309");
    }

    [Fact]
    public void A_training_loop_leaks_no_tensors()
    {
        using var temporaries = NewDisposeScope();
        var (net, _) = Mps(sites: 6, chi: 4);
        using var m = NetworkAdapter.ToModule(net, NetBuilder.RandomPath(net.Tensors.Length, new Random(1)));
        using var opt = new Sgd(m.parameters(), 0.01);
        using var rawGenerator = new Generator(9);
        using var raw = randint(0, 2, [5, 6], generator: rawGenerator);
        LeakCheck.AssertTrainingStepsLeakNothing(opt, () => ScalarOps.Square(m.forward([raw])).sum());
    }
}
