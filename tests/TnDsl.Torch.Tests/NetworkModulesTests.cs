using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class NetworkModulesTests
{
    static NetworkModulesTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkBuildOptions F64 = new() { Module = new() { DType = ScalarType.Float64, Seed = 3 } };

    static Dense Oracle(NetworkModule m) =>
        Naive.Contract(m.Spec.Tensors.Select(t => Dense.Of(m.get_parameter(t.Param) ?? m.get_buffer(t.Param)!, t.Legs)).ToList(), m.Spec.Output);

    static void AssertClose(Dense expected, Tensor actual, double rel = 1e-9)
    {
        var got = Dense.Of(actual, expected.Labels);
        Assert.Equal(expected.Shape, got.Shape);
        double scale = Math.Max(1e-300, expected.Data.Max(Math.Abs));
        for (int e = 0; e < expected.Data.Length; e++)
            Assert.True(Math.Abs(expected.Data[e] - got.Data[e]) <= rel * scale, $"entry {e}: expected {expected.Data[e]}, got {got.Data[e]}");
    }

    [Theory]
    [InlineData("mps.tn", "n=5,chi=3")]
    [InlineData("peps.tn", "Lx=2,Ly=3,D=2")]
    [InlineData("ttn.tn", "L=3,chi=2")]
    [InlineData("mera.tn", "L=2,chi=2")]
    public void A_planned_example_equals_the_naive_contraction(string file, string sets)
    {
        foreach (var optimizer in new[] { "auto", "greedy", "optimal" })
        {
            using var m = NetworkModules.FromFile(Repo.Example(file), Repo.Overrides(sets), F64 with { Optimizer = optimizer });
            Assert.Equal(optimizer, m.ExecutionPlan.Optimizer);
            Assert.True(m.ExecutionPlan.Flops > 0);
            using var y = m.forward([]);
            AssertClose(Oracle(m), y);
        }
    }

    [Fact]
    public void A_file_with_errors_throws_with_its_diagnostics()
    {
        var e = Assert.Throws<TnException>(() =>
            NetworkModules.FromText("bad.tn", "network n() {\n  index a: 2\n  weight W: (a, zz)\n  output (a)\n}\n"));
        Assert.NotEmpty(e.Diagnostics);
        Assert.Contains(e.Diagnostics, d => d.File == "bad.tn" && d.Line == 3 && d.IsError && d.Code.StartsWith("TN"));
        Assert.Contains(e.Rendered, d => d.StartsWith("bad.tn(3,") && d.Contains(": error TN"));
    }

    [Fact]
    public void A_missing_file_and_an_unknown_optimizer_are_build_errors()
    {
        var missing = Assert.Throws<TnException>(() => NetworkModules.FromFile("/no/such/file.tn"));
        Assert.Contains(missing.Diagnostics, d => d.Code == "TN0007");
        var e = Assert.Throws<TnException>(() =>
            NetworkModules.FromFile(Repo.Example("mps.tn"), Repo.Set(("n", 3)), new NetworkBuildOptions { Optimizer = "nope" }));
        Assert.Contains(e.Diagnostics, d => d.Code == "TN0300");
    }

    [Fact]
    public void A_partial_user_path_is_completed_left_to_right_by_the_planner()
    {
        var net = Frontend.Load(Repo.Example("mps.tn"), Repo.Set(("n", 4), ("chi", 2)), null);
        var plan = NetworkAdapter.FollowPath(net, [(1, 3)]);
        Assert.Equal("path", plan.Optimizer);
        Assert.Equal("path", plan.Chosen);
        // Live [0,1,2,3]: (1,3) -> [0,2,t]; then left to right: (0,1) -> [t,u]; (0,1).
        Assert.Equal([(1, 3), (0, 1), (0, 1)], plan.Pairs.Select(p => (p.Item1, p.Item2)));
        Assert.Throws<TnException>(() => NetworkAdapter.FollowPath(net, [(0, 9)]));
    }

    [Fact]
    public void A_refusal_names_no_batch_for_a_network_with_no_dynamic_index()
    {
        // An MPS of 40 sites is refused before anything is allocated; given a batch it has no index for, the refusal
        // named one with no size: "mps (float64, batch ): the forward pass needs at least …".
        var e = Assert.Throws<MemoryLimitException>(() => NetworkModules.FromFile(Repo.Example("mps.tn"), Repo.Overrides("n=40"), F64 with { Batch = 4 }));
        Assert.StartsWith("mps (float64): the forward pass needs at least", e.Message);
    }

    [Fact]
    public void A_dtype_that_is_not_floating_point_is_refused_in_one_line()
    {
        // Int64 failed in libtorch ("Only Tensors of floating point and complex dtype can require gradients") with its
        // native stack trace in the message.
        var e = Assert.Throws<TnException>(() => NetworkModules.FromFile(Repo.Example("mps.tn"), Repo.Overrides("n=4"), F64 with { Module = new() { DType = ScalarType.Int64 } }));
        Assert.Contains("mps: dtype Int64: a module's weights, consts and results are floating-point", e.Message);
        Assert.DoesNotContain("frame #", e.Message);
    }

    [Fact]
    public void Batch_sizes_that_name_no_dynamic_index_are_refused_by_modules_and_layers()
    {
        // A size for "rows" where the index is "batch" was ignored: the module was planned at the declared 100 rows.
        var rows = new BatchSizes { ByIndex = new Dictionary<string, long> { ["rows"] = 5 } };
        var e = Assert.Throws<TnException>(() => NetworkModules.FromFile(Repo.Example("layers/tt-linear.tn"), null, F64 with { Batch = rows }));
        Assert.Contains("tt_linear: the batch sizes name rows, no dynamic index of the network (its dynamic indices: batch)", e.Message);
        e = Assert.Throws<TnException>(() => Layers.FromSpec(Repo.Example("layers/tt-linear.tn"), new { }, new LayerOptions { Batch = rows }));
        Assert.Contains("the batch sizes name rows", e.Message);
        using var named = NetworkModules.FromFile(Repo.Example("layers/tt-linear.tn"), null,
            F64 with { Batch = new BatchSizes { ByIndex = new Dictionary<string, long> { ["batch"] = 5 } } });
        Assert.Equal(5L, named.ExecutionPlan.BatchSizes.Values.Single());
    }

    [Fact]
    public void A_memory_limit_or_a_batch_below_one_is_the_callers_mistake_not_the_files()
    {
        // MaxIntermediateElements = -1 was reported as the network's TN0301 ("the result alone has 65536 elements, over
        // the memory limit of -1"), and Batch = 0 as TN0303 placed in the file ("index 'batch' has size 0").
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            NetworkModules.FromFile(Repo.Example("peps.tn"), null, F64 with { MaxIntermediateElements = -1 }));
        Assert.Contains("NetworkBuildOptions.MaxIntermediateElements is -1", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => NetworkModules.FromFile(Repo.Example("layers/tt-linear.tn"), null, F64 with { Batch = 0 }));
        Assert.Contains("NetworkBuildOptions.Batch is 0", e.Message);
        var named = new BatchSizes { ByIndex = new Dictionary<string, long> { ["batch"] = -3 } };
        e = Assert.Throws<ArgumentOutOfRangeException>(() => NetworkModules.FromFile(Repo.Example("layers/tt-linear.tn"), null, F64 with { Batch = named }));
        Assert.Contains("NetworkBuildOptions.Batch gives batch -3 rows", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => Layers.FromSpec(Repo.Example("layers/tt-linear.tn"), new { }, new LayerOptions { Batch = 0 }));
        Assert.Contains("LayerOptions.Batch is 0", e.Message);
        // The planner's own entry points, as F# and C# call them.
        var net = Frontend.Load(Repo.Example("peps.tn"), null, null);
        Assert.Throws<ArgumentOutOfRangeException>(() => Planner.Plan(net, "greedy", null, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Planner.Plan(Frontend.Load(Repo.Example("layers/tt-linear.tn"), null, null), "greedy", 0, 0));
        Assert.Equal(1, Planner.Plan(net, "greedy", null, 0, 1L << 20).Slices);
    }
}
