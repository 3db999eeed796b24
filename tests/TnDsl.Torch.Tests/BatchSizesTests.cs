using TnDsl.Api;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>
/// Dynamic indices of different sizes (<see cref="BatchSizes"/>): a kernel between 3 rows and 600 is planned, estimated
/// and guarded at 3 × 600, not at 600 × 600 (the one batch every dynamic index used to take).
/// </summary>
[Collection("peak memory")] // the tests set the process-wide override: they run alone (see PeakMemoryCollection)
public class BatchSizesTests
{
    static BatchSizesTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 3 };

    static NetworkModule Kernel(BatchSizes? batch) =>
        NetworkModules.FromFile(Repo.Example("mpo-kernel.tn"), [new("n", "4")],
            new NetworkBuildOptions { Batch = batch, Optimizer = "greedy", Module = F64 });

    static Dictionary<int, long> Extents(NetworkModule module, long q, long k) => new()
    {
        [module.Spec.Indices.Single(i => i.Name == "q").Id] = q,
        [module.Spec.Indices.Single(i => i.Name == "k").Id] = k,
    };

    [Fact]
    public void A_module_planned_at_sizes_per_index_is_planned_estimated_and_fed_at_them()
    {
        using var module = Kernel(new BatchSizes { ByIndex = new Dictionary<string, long> { ["q"] = 3, ["k"] = 600 } });
        var plan = module.ExecutionPlan;
        var planned = Extents(module, 3, 600);
        Assert.Equal(planned.OrderBy(p => p.Key), plan.BatchSizes.OrderBy(p => p.Key));
        Assert.Null(plan.Batch);
        Assert.Equal(3L * 600, (long)plan.ResultElements);
        // The estimate at the plan's own sizes, each index's.
        Assert.Equal(ExecutedBytes.Estimate(module.Spec, plan, F64, 2, null, planned).Forward, ExecutedBytes.Estimate(module.Spec, plan, F64).Forward);
        Assert.True(MemoryGuard.Needed(module.Spec, plan, F64, false, planned) < MemoryGuard.Needed(module.Spec, plan, F64, false, 600));
        // One size for all is still every dynamic index at it.
        using var uniform = Kernel(7);
        Assert.Equal(7L, uniform.ExecutionPlan.Batch);
        Assert.Equal(Extents(uniform, 7, 7).OrderBy(p => p.Key), uniform.ExecutionPlan.BatchSizes.OrderBy(p => p.Key));
        // The inputs each of its rows, whatever the other index's.
        using var generator = new Generator(1);
        var inputs = RandomInputs.Make(module, BatchSizes.Extents(module.Spec, new BatchSizes { All = 600, ByIndex = new Dictionary<string, long> { ["q"] = 3 } }),
            generator, ScalarType.Float64);
        try
        {
            Assert.Equal([3L, 4, 2], inputs[0].shape);
            Assert.Equal([600L, 4, 2], inputs[1].shape);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    [Fact]
    public void The_module_guard_checks_the_rows_fed_along_each_index_not_the_largest_along_all()
    {
        using var module = Kernel(new BatchSizes { ByIndex = new Dictionary<string, long> { ["q"] = 3, ["k"] = 600 } });
        var plan = module.ExecutionPlan;
        using var generator = new Generator(1);
        var fits = RandomInputs.Make(module, Extents(module, 3, 600), generator, ScalarType.Float64);
        var more = RandomInputs.Make(module, Extents(module, 6, 600), generator, ScalarType.Float64);
        // The limit the planned sizes just fit: 600 rows of each would need some 200 times as much.
        var limit = MemoryGuard.Needed(module.Spec, plan, F64, false, Extents(module, 3, 600));
        Assert.True(MemoryGuard.Needed(module.Spec, plan, F64, false, 600) > 100 * limit);
        // The whole pass by a module of its own (a module remembers the batches that fitted it).
        Tensor expected;
        using (var whole = Kernel(new BatchSizes { ByIndex = new Dictionary<string, long> { ["q"] = 3, ["k"] = 600 } }))
        using (no_grad())
            expected = whole.forward(more);
        MemoryGuard.LimitOverride = (long)limit;
        try
        {
            using (no_grad())
            {
                // The planned rows run whole.
                using (module.forward(fits))
                    Assert.Empty(module.Chunking);
                // Twice the rows along q alone are over: chunked along an index, with the values of the whole pass.
                using var y = module.forward(more);
                Assert.NotEmpty(module.Chunking);
                Assert.True(y.allclose(expected, 1e-12, 1e-12));
            }
            // With autograd the same rows are refused, the message naming each index's rows fed and planned.
            var e = Assert.Throws<MemoryLimitException>(() => module.forward(more));
            Assert.StartsWith("mpo_kernel (float64) fed a batch of q=6, k=600 (planned for q=3, k=600), with autograd (a training step), needs", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
            expected.Dispose();
            foreach (var t in fits.Concat(more))
                t.Dispose();
        }
    }

    [Fact]
    public void One_size_for_all_plans_a_dynamic_index_family_of_several_members_at_it()
    {
        // Each member of q[i] gave its family as a key, and the sizes' dictionary threw on the second (session 21's review).
        var net = Frontend.CheckText("fam.tn",
            "network fam {\n  index q[i]: dynamic(4) for i in 0..1\n  index a[i]: 3 for i in 0..1\n" +
            "  input x[i]: (q[i], a[i]) for i in 0..1\n  weight W[i]: (a[i]) for i in 0..1\n  output (q[0], q[1])\n}\n", null, null).OrThrow();
        var plan = Planner.Plan(net, "greedy", 5, 0);
        Assert.Equal(5L, plan.Batch);
        Assert.Equal([5L, 5L], plan.BatchSizes.Values.ToArray());
    }
}
