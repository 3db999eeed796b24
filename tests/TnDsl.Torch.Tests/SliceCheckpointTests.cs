using TnDsl.Api;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using TnDsl.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// A training step of a sliced plan checkpointed in groups of slices (SliceCheckpointing): the slices run without
/// autograd, and the backward pass runs each group again with autograd. Its gradients are the unsliced plan's, for the
/// parameters and for the inputs that need one, in float64.
public class SliceCheckpointTests
{
    static SliceCheckpointTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    /// The unsliced module's value and gradients equal the checkpointed one's, which ran in groups of
    /// <paramref name="group"/> slices.
    static void AssertSame(NetworkModule unsliced, NetworkModule checkpointed, Tensor[] inputs, long group, bool logScale = false)
    {
        var (v0, g0) = SlicedExecutionTests.Run(unsliced, inputs, logScale, inputGrads: true);
        var (v1, g1) = SlicedExecutionTests.Run(checkpointed, inputs, logScale, inputGrads: true);
        Assert.Equal(group, checkpointed.CheckpointedGroup);
        Assert.Equal(0, unsliced.CheckpointedGroup);
        SlicedExecutionTests.AssertClose(v0, v1, "value", 1e-12);
        Assert.Equal(g0.Keys.Order(), g1.Keys.Order());
        foreach (var (name, g) in g0)
            SlicedExecutionTests.AssertClose(g, g1[name], $"gradient of {name}", 1e-12);
    }

    [Fact]
    public void Checkpointed_gradients_of_random_networks_are_the_unsliced_ones_for_parameters_and_inputs()
    {
        int runs = 0, sliced = 0;
        var networks = TnArbitraries.Network();
        var property = Prop.ForAll(Arb.From(networks.Generator.Resize(80), networks.Shrinker), g =>
        {
            runs++;
            var net = new NetworkView(g.Network);
            var free = Planner.Plan(net, "greedy", null, 0);
            PlanView plan;
            try
            {
                plan = Planner.Plan(net, "greedy", null, 0, OutputLimit.Of(net));
            }
            catch (TnException e) when (e.Diagnostics.Any(d => d.Code == "TN0301"))
            {
                return true; // an intermediate of open legs only: nothing to slice
            }
            if (!plan.IsSliced || plan.Slices < 2)
                return true;
            sliced++;
            var spec = NetworkAdapter.FromFlat(net);
            // Groups of 2 or 3 slices: several groups, some starting mid-way through a loop.
            long group = 2 + runs % 2;
            using var a = new NetworkModule(spec, free, F64);
            using var b = new NetworkModule(spec, plan, F64 with { CheckpointSlices = SliceCheckpointing.Always, CheckpointGroup = group });
            using var inputsGenerator = new Generator(7);
            var inputs = RandomInputs.Make(a, 3, inputsGenerator, ScalarType.Float64);
            try
            {
                AssertSame(a, b, inputs, Math.Min(group, (long)plan.Slices));
            }
            finally
            {
                foreach (var t in inputs)
                    t.Dispose();
            }
            return true;
        });
        var config = Config.QuickThrowOnFailure.WithMaxTest(100).WithReplay(new Replay(new Rnd(20261207UL, 29UL), FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        Assert.Equal(100, runs);
        Assert.True(sliced >= 15, $"only {sliced} of {runs} random networks were sliced");
    }

    [Fact]
    public void Groups_are_the_inner_loops_slices_times_a_divisor_of_the_next_loops_extent()
    {
        // Loops of 4 (outer) and 6 (inner) values: 1, 2, 3 or 6 values of the inner loop, then 2 or 4 of the outer.
        Assert.Equal([(1, 1L, 1L), (1, 2L, 2L), (1, 3L, 3L), (1, 6L, 6L), (0, 2L, 12L), (0, 4L, 24L)], ExecutedBytes.GroupSizes([4, 6]));
        Assert.Equal([(0, 1L, 1L), (0, 7L, 7L)], ExecutedBytes.GroupSizes([7]));
    }

    /// The closed L x L lattice at bond D, sliced by greedy to a limit of 2 elements per intermediate, and unsliced.
    static (NetworkSpec Spec, PlanView Free, PlanView Sliced) Grid(int l, int d)
    {
        var net = Frontend.Load(Repo.Example("grid.tn"), Repo.Set(("L", l), ("D", d)), null);
        return (NetworkAdapter.FromFlat(net), Planner.Plan(net, "greedy", null, 0), Planner.Plan(net, "greedy", null, 0, 2L));
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(7L)]   // groups that start mid-way through loops
    [InlineData(64L)]
    public void A_checkpointed_lattice_has_the_unsliced_gradients(long group)
    {
        var (spec, free, plan) = Grid(4, 2);
        Assert.True(plan.Slices > 4 * group, $"{plan.Slices} slices");
        using var a = new NetworkModule(spec, free, F64);
        using var b = new NetworkModule(spec, plan, F64 with { CheckpointSlices = SliceCheckpointing.Always, CheckpointGroup = group });
        AssertSame(a, b, [], group);
    }

    [Fact]
    public void The_tensors_alive_between_groups_do_not_grow_with_the_groups_and_none_are_left()
    {
        var (spec, _, plan) = Grid(4, 2);
        using var m = new NetworkModule(spec, plan, F64 with { CheckpointSlices = SliceCheckpointing.Always, CheckpointGroup = 8 });
        static long Count() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var after = new List<long>();
        long before = Count();
        m.SliceGroupDone = () => after.Add(Count() - before);
        try
        {
            using var scope = NewDisposeScope();
            m.zero_grad();
            ScalarOps.Square(m.forward([])).backward();
        }
        finally
        {
            m.SliceGroupDone = null;
        }
        Assert.Equal((long)plan.Slices / 8, after.Count);
        // Between groups: the step's value and loss, and one gradient sum per weight; no more late than early.
        Assert.True(after.Max() <= m.ParameterNames.Count + 8, $"{after.Max()} tensors alive between groups for {m.ParameterNames.Count} weights");
        Assert.True(after.Skip(after.Count / 2).Max() <= after.Take(after.Count / 2).Max(), $"{after.Skip(after.Count / 2).Max()} live late, {after.Take(after.Count / 2).Max()} early");
        Assert.Equal(0, Count() - before);
    }

    [Theory]
    [InlineData("mps.tn", "n=6,chi=16", false)]
    [InlineData("mpo-linear.tn", "k=3", false)]
    [InlineData("mpo-linear.tn", "k=3", true)]
    [InlineData("mera-classifier.tn", "", false)]
    [InlineData("mera-classifier.tn", "", true)]
    public void Checkpointed_examples_have_the_unsliced_gradients_in_log_scale_too(string file, string sets, bool logScale)
    {
        var net = Frontend.Load(Repo.Example(file), Repo.Overrides(sets), null);
        var free = Planner.Plan(net, "greedy", 4, 0);
        var plan = Planner.Plan(net, "greedy", 4, 0, OutputLimit.Of(net, 4));
        Assert.True(plan.Slices >= 4, $"{file}: {plan.Slices} slices");
        var spec = NetworkAdapter.FromFlat(net);
        var options = F64 with { LogScale = logScale };
        using var a = new NetworkModule(spec, free, options);
        using var b = new NetworkModule(spec, plan, options with { CheckpointSlices = SliceCheckpointing.Always, CheckpointGroup = 3 });
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(a, 4, inputsGenerator, ScalarType.Float64);
        try
        {
            AssertSame(a, b, inputs, 3, logScale);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}

/// The memory guard and a checkpointed training step: the estimate it compares with the limit is the checkpointed
/// step's (the forward pass of every slice, one group recorded), so it lets through a training step that recording
/// every slice does not fit, which then allocates less; it still refuses one whose smallest group does not fit.
[Collection("peak memory")] // the tests set the limit and measure the process's peak: they run alone
public class SliceCheckpointGuardTests
{
    static SliceCheckpointGuardTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    static BigIntegerFigures Figures(NetworkSpec spec, PlanView plan, NetworkModuleOptions options) =>
        new(MemoryGuard.Needed(spec, plan, options with { CheckpointSlices = SliceCheckpointing.Never }, true),
            MemoryGuard.Needed(spec, plan, options with { CheckpointSlices = SliceCheckpointing.Always, CheckpointGroup = 1 }, true));

    sealed record BigIntegerFigures(System.Numerics.BigInteger Recorded, System.Numerics.BigInteger OneSlice);

    /// One training step (the value squared, summed, backward) and the sum of the gradients' squares.
    static double Step(NetworkModule m)
    {
        using var scope = NewDisposeScope();
        m.zero_grad();
        ScalarOps.Square(m.forward([])).sum().backward();
        return m.parameters().Sum(p => ScalarOps.Square(p.grad!).sum().item<double>());
    }

    [Fact]
    public void The_guard_passes_a_checkpointed_training_step_that_recording_every_slice_does_not_fit_and_refuses_one_that_cannot()
    {
        var net = Frontend.Load(Repo.Example("grid.tn"), Repo.Set(("L", 5), ("D", 2)), null);
        var plan = Planner.Plan(net, "greedy", null, 0, 4L);
        var spec = NetworkAdapter.FromFlat(net);
        var figures = Figures(spec, plan, F64);
        Assert.True(figures.OneSlice * 3 < figures.Recorded, $"{plan.Slices} slices: {figures.OneSlice} bytes checkpointed one slice a group, {figures.Recorded} recording every slice");
        long limit = (long)(figures.OneSlice * 2);
        using var recording = new NetworkModule(spec, plan, F64 with { CheckpointSlices = SliceCheckpointing.Never });
        using var auto = new NetworkModule(spec, plan, F64);
        // Without a limit of its own, Auto records every slice.
        double expected = Step(recording);
        Step(auto);
        Assert.Equal(0, auto.CheckpointedGroup);
        long recordedPeak = PeakMemory.Available ? PeakMemory.Measure(() => Step(recording)) : 0;
        MemoryGuard.LimitOverride = limit;
        try
        {
            // Recording every slice is refused before anything is computed (what every training step of it was).
            var e = Assert.Throws<MemoryLimitException>(() => Step(recording));
            Assert.Equal(figures.Recorded, e.BytesNeeded);
            // Auto checkpoints in groups that fit, to the same gradients, and allocates less.
            Assert.True(MemoryGuard.Needed(spec, plan, F64, true) <= limit);
            double got = 0;
            // The least of two runs: the first checkpointed step also compiles and allocates what later steps reuse
            // (one measurement in a full test run read 14 MB against an estimate of 0.5 MB; alone it fits).
            long checkpointedPeak = PeakMemory.Available ? PeakMemory.Measure(() => got = Step(auto)) : 0;
            if (PeakMemory.Available)
                checkpointedPeak = Math.Min(checkpointedPeak, PeakMemory.Measure(() => Step(auto)));
            Assert.InRange(auto.CheckpointedGroup, 1, (long)plan.Slices - 1);
            Assert.True(Math.Abs(got - expected) <= 1e-12 * expected, $"checkpointed {got}, recorded {expected}");
            if (PeakMemory.Available)
            {
                Assert.True(checkpointedPeak * 2 < recordedPeak, $"peak {checkpointedPeak} bytes checkpointed in groups of {auto.CheckpointedGroup}, {recordedPeak} recording every slice");
                // The estimate bounds the measured peak as MemoryEstimateTests states (1.5 both ways, 8 MiB of slack).
                var needed = (double)MemoryGuard.Needed(spec, plan, F64, true);
                Assert.True(checkpointedPeak <= 1.5 * needed + (8 << 20) && needed <= 1.5 * checkpointedPeak + (8 << 20), $"measured {checkpointedPeak}, estimated {needed}");
            }
            // Under the smallest group's estimate nothing fits: refused, naming the checkpointed step's figure.
            MemoryGuard.LimitOverride = (long)(figures.OneSlice / 2);
            var refused = Assert.Throws<MemoryLimitException>(() => Step(auto));
            Assert.Equal(MemoryGuard.Needed(spec, plan, F64, true), refused.BytesNeeded);
            Assert.True(refused.BytesNeeded < figures.Recorded);
        }
        finally
        {
            MemoryGuard.LimitOverride = null;
        }
    }
}
