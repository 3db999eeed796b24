using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class LayerPathTests
{
    static LayerPathTests() => NativeLoader.EnsureLoaded();

    [Fact]
    public void a_three_operand_step_becomes_two_pairwise_steps()
    {
        // Operands 0, 1, 2: (0, 1) makes 3 at the end, leaving [2, 3]; then (0, 1).
        Assert.Equal([(0, 1), (0, 1)], LayerPath.Pairwise(3, [[0, 1, 2]]));
        // Four operands, steps (1, 3) then all three left.
        Assert.Equal([(1, 3), (0, 1), (0, 1)], LayerPath.Pairwise(4, [[1, 3], [0, 1, 2]]));
    }

    [Fact]
    public void bond_greedy_and_planner_paths_compute_the_same_qcnn_and_the_layer_takes_the_cheaper()
    {
        var net = Layers.Check(LayerTests.Example("qcnn.tn"), [new("S", "4"), new("K", "3"), new("blocks", "4"), new("labels", "3")]);
        var planned = LayerPath.Plan(net);
        var bonded = LayerPath.BondGreedy(net);
        Assert.Equal(Math.Min(LayerPath.Flops(net, bonded), LayerPath.Flops(net, planned)), LayerPath.Flops(net, LayerPath.Best(net)));
        var spec = NetworkAdapter.FromFlat(net) is var s ? s with { Tensors = s.Tensors.Select(t => t.Init is InitSpec.Auto ? t with { Init = new InitSpec.Normal(0, 0.5) } : t).ToArray() } : null!;
        var options = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 2 };
        using var a = new NetworkModule(spec, planned, options);
        using var b = new NetworkModule(spec, bonded, options);
        using var x = rand([5, 16], ScalarType.Float64, generator: new Generator(3));
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
