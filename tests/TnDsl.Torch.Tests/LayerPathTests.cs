using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class LayerPathTests
{
    static LayerPathTests() => NativeLoader.EnsureLoaded();

    [Fact]
    public void auto_weighs_the_bond_greedy_sweep_and_the_layer_executes_the_planned_tree()
    {
        var net = Layers.Check(LayerTests.Example("qcnn.tn"), [new("S", "4"), new("K", "3"), new("blocks", "4"), new("labels", "3")]);
        var planned = NetworkAdapter.Plan(net, "auto", null);
        var bonded = NetworkAdapter.Plan(net, "bond-greedy", null);
        var greedy = NetworkAdapter.Plan(net, "greedy", null);
        // auto is never worse than its bond-greedy candidate (nor than plain greedy).
        Assert.True(planned.Flops <= bonded.Flops);
        Assert.True(planned.Flops <= greedy.Flops);
        using var layer = Layers.FromNetwork(net, new LayerOptions { DType = ScalarType.Float64, Calibrate = false });
        Assert.Equal(planned.Pairs, layer.Network.ExecutionPlan.Pairs);
        Assert.Equal(planned.Chosen, layer.Network.ExecutionPlan.Chosen);
        var spec = NetworkAdapter.FromFlat(net) is var s ? s with { Tensors = s.Tensors.Select(t => t.Init is InitSpec.Auto ? t with { Init = new InitSpec.Normal(0, 0.5) } : t).ToArray() } : null!;
        var options = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 2 };
        using var a = new NetworkModule(spec, planned, options);
        using var b = new NetworkModule(spec, bonded, options);
        using var xGenerator = new Generator(3);
        using var x = rand([5, 16], ScalarType.Float64, generator: xGenerator);
        using var ya = a.forward([x]);
        using var yb = b.forward([x]);
        Assert.True(allclose(ya, yb, 1e-9, 1e-12));
    }
}

public class WeightNetworkTests
{
    static WeightNetworkTests() => NativeLoader.EnsureLoaded();

    [Theory]
    [InlineData(2, 4)]
    [InlineData(1, 1)]
    public void the_feature_output_min_cut_is_the_rank_of_the_layer_matrix(int chi, int expectedBound)
    {
        using var temporaries = NewDisposeScope();
        // A MERA layer 256 -> 16 whose top isometry sees two legs of dimension chi: its matrix has rank chi^2 at most.
        var overrides = new Dictionary<string, object> { ["L"] = 3, ["d"] = 2, ["chi"] = chi, ["out"] = 16, ["noise"] = 0.3 };
        var net = Layers.Check(LayerTests.Example("layers/mera.tn"), overrides.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value.ToString()!)).ToList());
        var view = MinCutApi.Analyse(WeightNetwork.Of(net), WeightNetwork.FeatureOutputCut, false);
        Assert.Equal(expectedBound, (int)view.Cuts.Single().Bound);
        using var layer = Layers.FromNetwork(net, new LayerOptions { DType = ScalarType.Float64, Seed = 9 });
        using var w = layer.forward(eye(256, dtype: ScalarType.Float64));
        var singular = linalg.svdvals(w).data<double>().ToArray();
        int rank = singular.Count(s => s > 1e-9 * singular[0]);
        Assert.Equal(expectedBound, rank);
    }
}
