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
}
