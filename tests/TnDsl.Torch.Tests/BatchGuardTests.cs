using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>
/// A module fed a larger batch than it was planned for is checked by the memory guard before it computes (the plan
/// was fitted at its own batch): a layer planned at 100 rows and fed a million ran unguarded to 3.3 GB under
/// <c>TN_MEMORY_LIMIT=300M</c>.
/// </summary>
[Collection("peak memory")] // the tests set the process-wide override: they run alone (see PeakMemoryCollection)
public class BatchGuardTests
{
    static BatchGuardTests() => NativeLoader.EnsureLoaded();

    [Fact]
    public void A_batch_larger_than_planned_is_refused_where_its_estimate_is_over_the_limit_forward_and_training_apart()
    {
        using var layer = Layers.FromSpec(Repo.Example("layers/peps.tn"));
        var module = layer.Network;
        const long rows = 100_000;
        var options = new NetworkModuleOptions { DType = ScalarType.Float32 };
        var forward = MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, false, rows);
        var training = MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, true, rows);
        Assert.True(forward < training);
        // The estimate at the batch fed, not the planned one: the program is the same, its sizes grow with the rows.
        Assert.True(training > 100 * MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, true, 100));
        MemoryGuard.LimitOverride = (long)((forward + training) / 2);
        try
        {
            using var x = rand(rows, 16);
            var e = Assert.Throws<MemoryLimitException>(() => layer.forward(x));
            Assert.Equal(training, e.BytesNeeded);
            Assert.StartsWith("peps_layer (float32) fed a batch of 100,000 (planned for 100), with autograd (a training step), needs", e.Message);
            // Without autograd the forward pass's figure is the one checked, and it fits.
            using (no_grad())
            using (var y = layer.forward(x))
                Assert.Equal([rows, 10L], y.shape);
            // The planned batch and smaller ones are not checked again.
            using var small = rand(100, 16);
            using var z = layer.forward(small);
            Assert.Equal([100L, 10L], z.shape);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    [Fact]
    public void A_limit_lowered_after_a_batch_fitted_judges_that_batch_again_the_planned_one_too()
    {
        using var layer = Layers.FromSpec(Repo.Example("layers/peps.tn"));
        using var planned = rand(100, 16);
        using var larger = rand(1000, 16);
        using (no_grad())
        {
            // Both fit the default limit and are let through.
            using var a = layer.forward(planned);
            using var b = layer.forward(larger);
        }
        MemoryGuard.LimitOverride = 1000;
        try
        {
            using (no_grad())
            {
                Assert.Throws<MemoryLimitException>(() => layer.forward(larger));
                var e = Assert.Throws<MemoryLimitException>(() => layer.forward(planned));
                Assert.Equal(1000, e.Limit);
            }
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
        // The limit raised again: the batches fit again.
        using (no_grad())
        using (var c = layer.forward(larger))
            Assert.Equal([1000L, 10L], c.shape);
    }

    /// The figures of layers/mps.tn's module planned at 1,000 rows in <paramref name="dtype"/>, under no limit: its
    /// forward pass and a training step.
    static (System.Numerics.BigInteger Forward, System.Numerics.BigInteger Training) MpsFigures(ScalarType dtype)
    {
        using var module = NetworkModules.FromFile(Repo.Example("layers/mps.tn"), null, new NetworkBuildOptions { Batch = 1000 });
        var options = new NetworkModuleOptions { DType = dtype };
        return (MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, false), MemoryGuard.Needed(module.Spec, module.ExecutionPlan, options, true));
    }

    [Fact]
    public void A_module_planned_for_the_forward_pass_checks_its_first_training_step_at_the_planned_batch_too()
    {
        // NetworkModules' default (Training = false) fits the forward pass alone: a training step at the planned batch
        // ran unchecked, 266 MiB under a limit of 200 MiB for layers/mps.tn at chi = 64 and 50,000 rows.
        var (forward, training) = MpsFigures(ScalarType.Float32);
        Assert.True(forward < training);
        MemoryGuard.LimitOverride = (long)((forward + training) / 2);
        try
        {
            using var module = NetworkModules.FromFile(Repo.Example("layers/mps.tn"), null, new NetworkBuildOptions { Batch = 1000 });
            Assert.False(module.ExecutionPlan.IsSliced);
            using var generator = new Generator(1);
            var inputs = RandomInputs.Make(module, 1000, generator, ScalarType.Float32);
            using (no_grad())
            using (var y = module.forward(inputs))
                Assert.Equal([1000L, 10L], y.shape);
            var e = Assert.Throws<MemoryLimitException>(() => module.forward(inputs));
            Assert.Equal(training, e.BytesNeeded);
            Assert.Contains("with autograd (a training step)", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    [Fact]
    public void A_module_moved_to_a_wider_dtype_checks_its_planned_batch_again()
    {
        // Fitted for training in float32, the planned batch was let through in float64 too, at twice the bytes.
        var (_, training32) = MpsFigures(ScalarType.Float32);
        var (_, training64) = MpsFigures(ScalarType.Float64);
        Assert.True(training32 < training64);
        MemoryGuard.LimitOverride = (long)((training32 + training64) / 2);
        try
        {
            using var module = NetworkModules.FromFile(Repo.Example("layers/mps.tn"), null, new NetworkBuildOptions { Batch = 1000, Training = true });
            Assert.False(module.ExecutionPlan.IsSliced);
            using var generator = new Generator(1);
            var inputs = RandomInputs.Make(module, 1000, generator, ScalarType.Float32);
            // Fitted for training in float32: the planned batch runs unchecked.
            using (var y = module.forward(inputs))
                Assert.Equal([1000L, 10L], y.shape);
            module.to(ScalarType.Float64);
            var wide = RandomInputs.Make(module, 1000, generator, ScalarType.Float64);
            var e = Assert.Throws<MemoryLimitException>(() => module.forward(wide));
            Assert.Equal(training64, e.BytesNeeded);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }
}
