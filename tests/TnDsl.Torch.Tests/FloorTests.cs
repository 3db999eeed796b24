using System.Numerics;
using TnDsl.Api;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>
/// The plan-free floor under the byte estimate (<see cref="ExecutedBytes.Floor"/>), which <see cref="MemoryGuard.Fit"/>
/// checks before it plans: it must be a floor for every plan (else a call that fits would be refused), and a call
/// over it must be refused without planning.
/// </summary>
[Collection("peak memory")] // the tests set the process-wide override: they run alone (see PeakMemoryCollection)
public class FloorTests
{
    static FloorTests() => NativeLoader.EnsureLoaded();

    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (var dir in new[] { "", "layers" })
            foreach (var file in Directory.GetFiles(Path.Combine(Repo.Root, "examples", dir), "*.tn").Order())
                data.Add(dir == "" ? Path.GetFileName(file) : $"{dir}/{Path.GetFileName(file)}");
        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void The_floor_is_under_every_plans_estimate_forward_and_training_at_every_batch(string example)
    {
        var net = Frontend.Load(Repo.Example(example), Repo.Small(example), null);
        var spec = NetworkAdapter.FromFlat(net);
        bool dynamic = net.Indices.Any(i => i.IsDynamic);
        foreach (long? batch in dynamic ? new long?[] { null, 1, 37, 100_000 } : [null])
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
            {
                var options = new NetworkModuleOptions { DType = dtype };
                var plans = new List<PlanView> { NetworkAdapter.Plan(net, "greedy", batch, 0, null), NetworkAdapter.Plan(net, "auto", batch, 0, null) };
                // Sliced plans hold less than the whole: a limit on intermediates of an eighth of the largest.
                var largest = plans[0].LargestIntermediate / 8;
                if (largest >= 1)
                    try
                    {
                        plans.Add(NetworkAdapter.Plan(net, "greedy", batch, 0, (long)largest));
                    }
                    catch (TnException)
                    {
                        // nothing left to slice: the unsliced plans still count
                    }
                foreach (var plan in plans)
                {
                    var estimate = ExecutedBytes.Estimate(spec, plan, options);
                    foreach (var training in new[] { false, true })
                    {
                        var (inputs, floor) = ExecutedBytes.Floor(spec, batch, options, training);
                        var bytes = training ? estimate.Training : estimate.Forward;
                        Assert.Equal(estimate.Inputs, inputs);
                        Assert.True(floor <= bytes,
                            $"{example} batch {batch} {dtype} {(training ? "training" : "forward")} ({plan.Slices} slices): floor {floor:N0} over the estimate {bytes:N0}");
                        Assert.True(MemoryGuard.WithHeap(inputs, floor) <= MemoryGuard.Needed(spec, plan, options, training));
                    }
                }
            }
    }

    [Fact]
    public void A_batch_over_the_floor_is_refused_before_anything_is_planned()
    {
        var net = Frontend.Load(Repo.Example("layers/peps.tn"), [], null);
        var spec = NetworkAdapter.FromFlat(net);
        var (_, floor) = ExecutedBytes.Floor(spec, 1_000_000, new NetworkModuleOptions { DType = ScalarType.Float32 }, training: true);
        MemoryGuard.LimitOverride = (long)floor;
        try
        {
            var e = Assert.Throws<MemoryLimitException>(() => MemoryGuard.Fit(_ => throw new InvalidOperationException("the planner ran"),
                null, ScalarType.Float32, training: true, "layer peps_layer", spec, batch: 1_000_000));
            Assert.Equal((long)floor, e.Limit);
            Assert.True(e.BytesNeeded > floor); // the heap's allowance on what the call allocates
            Assert.Contains("training needs at least", e.Message);
            Assert.Contains("whatever the plan", e.Message);
            // The forward pass alone holds less: its floor (the inputs, embedded) fits, and the planner is asked.
            Assert.Throws<InvalidOperationException>(() => MemoryGuard.Fit(_ => throw new InvalidOperationException("the planner ran"),
                null, ScalarType.Float32, training: false, "peps_layer", spec, batch: 1_000_000));
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    /// <summary>A(a, b) B(b, c) -> (a, c) with a = c = 1024, b = 4: a result of 2^20 elements from inputs of 2^13.</summary>
    static NetworkView OuterLike()
    {
        var net = new NetBuilder("wide");
        var a = net.Index("a", 1024);
        var b = net.Index("b", 4);
        var c = net.Index("c", 1024);
        net.Weight("A", a, b);
        net.Weight("B", b, c);
        return net.Build(a, c);
    }

    [Fact]
    public void A_forward_pass_whose_result_alone_is_over_the_limit_is_refused_before_anything_is_planned()
    {
        var spec = NetworkAdapter.FromFlat(OuterLike());
        var (inputs, floor) = ExecutedBytes.Floor(spec, null, new NetworkModuleOptions { DType = ScalarType.Float32 }, training: false);
        // The result (4 MiB) cannot be a view of an input of 4,096 elements: the forward floor holds it.
        Assert.Equal(new BigInteger(2 * 4096 * 4), inputs);
        Assert.Equal(inputs + (1 << 20) * 4, floor);
        MemoryGuard.LimitOverride = 2L << 20;
        try
        {
            var e = Assert.Throws<MemoryLimitException>(() => MemoryGuard.Fit(_ => throw new InvalidOperationException("the planner ran"),
                null, ScalarType.Float32, training: false, "wide", spec));
            Assert.Contains("wide: the forward pass needs at least", e.Message);
            Assert.Contains("whatever the plan (the weights, consts and inputs, and the result)", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    [Fact]
    public void Fit_says_that_nothing_is_sliced_below_the_result_not_a_limit_in_elements_the_user_never_set()
    {
        var net = OuterLike();
        var plan = NetworkAdapter.Plan(net, "greedy", null, 0, null);
        var needed = MemoryGuard.Needed(plan, ScalarType.Float32, false);
        foreach (var (limit, expected) in new[]
                 {
                     // The result (4 MiB) fits but the plan does not: no slicing of closed indices shrinks it.
                     ((long)needed - 1, "slicing cannot go further: no intermediate can be sliced below the result's 1,048,576 elements (open indices are not sliced)"),
                     // The result alone is over the limit (a caller without a network, so no floor was checked).
                     (2L << 20, "slicing cannot go further: the result alone is 1,048,576 elements (4 MiB"),
                 })
        {
            MemoryGuard.LimitOverride = limit;
            try
            {
                int calls = 0;
                var e = Assert.Throws<MemoryLimitException>(() => MemoryGuard.Fit(_ => { calls++; return plan; },
                    null, ScalarType.Float32, training: false, "wide"));
                Assert.Contains(expected, e.Message);
                Assert.DoesNotContain("(elements)", e.Message);
                Assert.Equal(1, calls); // the first plan only: no quarter-step below the result is planned
            }
            finally
            {
                MemoryGuard.LimitOverride = null;
            }
        }
    }

    [Fact]
    public void A_layer_whose_training_cannot_fit_is_refused_by_Layers_with_the_floors_figures()
    {
        MemoryGuard.LimitOverride = 64L << 20;
        try
        {
            // 10^7 rows of 16 raw features (embedded as 32) and 10 outputs: 3.4 GB whatever the plan, with the heap allowance.
            var e = Assert.Throws<MemoryLimitException>(() => Layers.FromSpec(Repo.Example("layers/peps.tn"), (object?)null, new LayerOptions { Batch = 10_000_000 }));
            Assert.Contains("layer peps_layer (float32, batch 10000000): training needs at least", e.Message);
            Assert.InRange(e.BytesNeeded, new BigInteger(3_400_000_000), new BigInteger(3_500_000_000));
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }

    [Fact]
    public void A_contraction_job_whose_weights_alone_are_over_the_limit_is_refused_before_anything_is_planned()
    {
        // A 4x4 lattice with D = 1000: 4 tensors of 10^12 elements. Planned first, it was refused "by the planner's
        // estimate" (on a 16x16 lattice after 44 s of search); the floor refuses it "whatever the plan".
        MemoryGuard.LimitOverride = 1L << 30;
        try
        {
            var e = Assert.Throws<MemoryLimitException>(() => ContractionJobs.Create(Repo.Example("grid.tn"),
                new ContractionJobs.Options { Overrides = Repo.Set(("L", 4), ("D", 1000)) }));
            Assert.Contains("grid (float64): the forward pass needs at least", e.Message);
            Assert.Contains("whatever the plan (the weights, consts and inputs)", e.Message);
            Assert.DoesNotContain("planner's estimate", e.Message);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }
}
