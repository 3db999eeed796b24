using TnDsl.Api;
using System.Text.RegularExpressions;
using TnDsl.Torch;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class LayerTests
{
    static LayerTests() => NativeLoader.EnsureLoaded();

    internal static string Repo
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "TnDsl.sln")))
                    return dir.FullName;
            throw new InvalidOperationException("repository root not found");
        }
    }

    internal static string Example(string relative) => Path.Combine(Repo, "examples", relative);

    static readonly LayerOptions F64 = new() { DType = ScalarType.Float64, Seed = 3 };

    // Parameter counts from the families' formulas, written out independently of the specs.
    static long Mps(int n, int chi, int d, int outs) => d * chi + (n - 2L) * d * chi * chi + (long)chi * d * outs;
    static long TensorTrain(int[] modes, int q, int r) =>
        modes.Select((a, i) => (long)a * q * (i > 0 ? r : 1) * (i < modes.Length - 1 ? r : 1)).Sum();
    static long Ttn(int levels, int d, int chi, int outs) =>
        (1L << (levels - 1)) * d * d * chi + Enumerable.Range(2, Math.Max(0, levels - 2)).Sum(l => (1L << (levels - l)) * chi * chi * chi) + (long)chi * chi * outs;
    static long Mera(int levels, int d, int chi, int outs)
    {
        long total = 0;
        for (int l = 0; l < levels; l++)
        {
            long dl = l == 0 ? d : chi, up = l == levels - 1 ? outs : chi;
            long pairs = 1L << (levels - l - 1);
            total += (pairs - 1) * dl * dl * dl * dl + pairs * dl * dl * up;
        }
        return total;
    }
    static long Peps(int lx, int ly, int bond, int outs)
    {
        long total = 0;
        for (int x = 0; x < lx; x++)
            for (int y = 0; y < ly; y++)
            {
                int neighbours = (x > 0 ? 1 : 0) + (x < lx - 1 ? 1 : 0) + (y > 0 ? 1 : 0) + (y < ly - 1 ? 1 : 0);
                total += 2 * (long)Math.Pow(bond, neighbours) * (x == 0 && y == 0 ? outs : 1);
            }
        return total;
    }
    static long ConvAc(int m, int[] r, int y) => m * r[0] + r[0] * r[1] + r[1] * r[2] + r[2] * r[3] + r[3] * y;
    static long Qcnn(int k, int blocks, int labels) =>
        Enumerable.Range(0, blocks).Sum(b => (long)k * (b + 1) * k * (b + 2)) + (long)k * (blocks + 1) * labels;

    public static IEnumerable<object[]> Families() =>
    [
        ["layers/mps.tn", new Dictionary<string, object> { ["n"] = 5, ["chi"] = 3, ["out"] = 4 }, 5L, 4L, Mps(5, 3, 2, 4)],
        ["layers/tt-linear.tn", new Dictionary<string, object> { ["k"] = 3, ["m"] = 3, ["q"] = 2, ["r"] = 3 }, 27L, 8L, TensorTrain([3, 3, 3], 2, 3)],
        ["mpo-linear.tn", new Dictionary<string, object> { ["r"] = 2 }, 784L, 256L, TensorTrain([4, 7, 7, 4], 4, 2)],
        ["layers/ttn.tn", new Dictionary<string, object> { ["L"] = 3, ["chi"] = 3, ["out"] = 5 }, 256L, 5L, Ttn(3, 2, 3, 5)],
        ["layers/mera.tn", new Dictionary<string, object> { ["L"] = 2, ["chi"] = 3, ["out"] = 5, ["noise"] = 0.01 }, 16L, 5L, Mera(2, 2, 3, 5)],
        ["layers/mera.tn", new Dictionary<string, object> { ["L"] = 3, ["d"] = 2, ["chi"] = 4, ["out"] = 6 }, 256L, 6L, Mera(3, 2, 4, 6)],
        ["layers/peps.tn", new Dictionary<string, object> { ["Lx"] = 3, ["Ly"] = 2, ["D"] = 2, ["out"] = 3 }, 6L, 3L, Peps(3, 2, 2, 3)],
        ["layers/convac.tn", new Dictionary<string, object> { ["M"] = 3, ["r0"] = 2, ["r1"] = 3, ["r2"] = 2, ["r3"] = 4, ["Y"] = 5 }, 48L, 5L, ConvAc(3, [2, 3, 2, 4], 5)],
        ["qcnn.tn", new Dictionary<string, object> { ["S"] = 4, ["K"] = 3, ["blocks"] = 4, ["labels"] = 5 }, 16L, 5L, Qcnn(3, 4, 5)],
    ];

    [Theory]
    [MemberData(nameof(Families))]
    public void every_family_builds_runs_forward_and_backward_and_has_the_formula_parameter_count(
        string file, Dictionary<string, object> overrides, long inputs, long outputs, long parameters)
    {
        using var temporaries = NewDisposeScope();
        using var layer = Layers.FromSpec(Example(file), overrides, F64);
        Assert.Equal(inputs, layer.InputFeatures);
        Assert.Equal(outputs, layer.OutputFeatures);
        Assert.Equal(parameters, layer.ParameterCount);
        var generator = new Generator(11);
        using var x = layer.Inputs.Any(i => i.Embedded)
            ? rand([3, inputs], ScalarType.Float64, generator: generator)
            : randn([3, inputs], ScalarType.Float64, generator: generator);
        using var y = layer.forward(x);
        Assert.Equal(new long[] { 3, outputs }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
        using var loss = ScalarOps.Square(y).sum();
        loss.backward();
        foreach (var (name, p) in layer.named_parameters())
        {
            Assert.NotNull(p.grad);
            Assert.True(p.grad!.isfinite().all().item<bool>(), $"{name}: non-finite gradient");
            Assert.True(p.grad!.abs().sum().item<double>() > 0, $"{name}: zero gradient");
        }
    }

    [Fact]
    public void a_tensor_train_layer_applies_the_matrix_of_its_cores_to_row_major_features()
    {
        using var temporaries = NewDisposeScope();
        using var layer = Layers.FromSpec(Example("layers/tt-linear.tn"), new { k = 3, m = 2, q = 3, r = 2 }, F64);
        var g = Enumerable.Range(0, 3).Select(i => layer.Network.get_parameter($"G.{i}")!.detach()).ToArray();
        // W[a0, a1, a2, o0, o1, o2] from the cores G0 (a o g), G1 (g a o h), G2 (h a o), flattened row-major.
        using var w = einsum("aog,gbph,hcq->abcopq", g[0], g[1], g[2]).reshape(8, 27);
        using var xGenerator = new Generator(5);
        using var x = randn([4, 8], ScalarType.Float64, generator: xGenerator);
        using var expected = x.matmul(w);
        using var actual = layer.forward(x);
        Assert.True(allclose(actual, expected, 1e-10, 1e-12));
    }

    [Fact]
    public void a_mera_layer_with_isometric_initialisation_is_an_isometry()
    {
        using var temporaries = NewDisposeScope();
        // noise = 0: disentanglers are swaps, isometries have orthonormal columns; W (256 x out) must satisfy WᵀW = I.
        using var layer = Layers.FromSpec(Example("layers/mera.tn"), new { L = 3, d = 2, chi = 4, @out = 16, noise = 0.0 }, F64);
        using var basis = eye(256, dtype: ScalarType.Float64);
        using var w = layer.forward(basis);
        using var gram = w.T.matmul(w);
        using var identity = eye(16, dtype: ScalarType.Float64);
        Assert.True(allclose(gram, identity, 1e-10, 1e-10), $"max |WᵀW - I| = {ScalarOps.Minus(gram, identity).abs().max().item<double>()}");
    }

    [Fact]
    public void overrides_given_as_anonymous_object_dictionary_or_tuples_build_the_same_layer()
    {
        using var a = Layers.FromSpec(Example("layers/ttn.tn"), new { L = 2, chi = 3, @out = 4 }, F64);
        using var b = Layers.FromSpec(Example("layers/ttn.tn"), new Dictionary<string, object> { ["L"] = 2, ["chi"] = 3, ["out"] = 4 }, F64);
        using var c = Layers.FromSpec(Example("layers/ttn.tn"), new List<Tuple<string, object>> { Tuple.Create("L", (object)2), Tuple.Create("chi", (object)3), Tuple.Create("out", (object)4) }, F64);
        using var x = randn([2, a.InputFeatures], ScalarType.Float64);
        using var ya = a.forward(x);
        using var yb = b.forward(x);
        using var yc = c.forward(x);
        Assert.Equal(4, a.OutputFeatures);
        Assert.True(allclose(ya, yb) && allclose(ya, yc));
    }

    [Fact]
    public void auto_weights_are_calibrated_to_unit_output_scale()
    {
        using var temporaries = NewDisposeScope();
        using var layer = Layers.FromSpec(Example("layers/tt-linear.tn"), (object?)null, F64);
        using var xGenerator = new Generator(99);
        using var x = randn([2000, layer.InputFeatures], ScalarType.Float64, generator: xGenerator);
        using var y = layer.forward(x);
        double rms = Math.Sqrt(ScalarOps.Square(y).mean().item<double>());
        Assert.InRange(rms, 0.8, 1.25);
    }

    [Fact]
    public void specs_that_cannot_be_layers_are_refused_with_a_reason()
    {
        Assert.Contains("no input", Assert.Throws<TnException>(() => Layers.FromSpec(Example("mps.tn"))).Message);
        Assert.Contains(Assert.Throws<TnException>(() => Layers.FromSpec(Example("layers/nope.tn"))).Diagnostics, d => d.Code == "TN0007");
        Assert.NotEmpty(Assert.Throws<TnException>(() => Layers.FromSpec(Example("layers/tt-linear.tn"), new { k = 1 })).Diagnostics);
        using var layer = Layers.FromSpec(Example("layers/tt-linear.tn"));
        Assert.Throws<ArgumentException>(() => layer.forward(zeros(2, 3)));
    }

    [Fact]
    public void a_layer_composes_with_ordinary_modules_and_moves_to_float32()
    {
        using var temporaries = NewDisposeScope();
        using var layer = Layers.FromSpec(Example("layers/tt-linear.tn"));
        using var model = nn.Sequential(("tt", layer), ("relu", nn.ReLU()), ("out", nn.Linear(16, 3)));
        using var y = model.forward(randn(5, 256));
        Assert.Equal(new long[] { 5, 3 }, y.shape);
        Assert.Equal(ScalarType.Float32, y.dtype);
    }

    public static IEnumerable<object[]> LayerExamples() =>
        Directory.GetFiles(Path.Combine(Repo, "examples", "layers"), "*.tn").Order().Select(f => new object[] { Path.GetFileName(f) });

    /// examples/layers/ sits outside the F# ExampleTests (which read examples/*.tn), so its headers are checked here.
    [Theory]
    [MemberData(nameof(LayerExamples))]
    public void every_layer_example_checks_clean_and_matches_its_summary(string name)
    {
        var path = Path.Combine(Repo, "examples", "layers", name);
        var text = File.ReadAllText(path);
        Assert.StartsWith("//", text);
        var result = Frontend.Check(path, [], null);
        Assert.Empty(result.Diagnostics.Select(d => d.Headline));
        var s = result.SummaryOrNull!;
        var m = Regex.Match(text, @"// summary: (.*)");
        Assert.True(m.Success, "the header needs a `// summary:` line");
        foreach (var kv in m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = kv.Split('=');
            int actual = parts[0] switch
            {
                "tensors" => s.Tensors,
                "weights" => s.Weights,
                "inputs" => s.Inputs,
                "consts" => s.Constants,
                "open" => s.OpenLegs,
                "bonds" => s.Bonds,
                _ => throw new InvalidOperationException($"unknown summary key {parts[0]}"),
            };
            Assert.True(int.Parse(parts[1]) == actual, $"{name}: {parts[0]} is {actual}, the header says {parts[1]}");
        }
        using var layer = Layers.FromSpec(path);
        Assert.True(layer.ParameterCount > 0);
    }
}
