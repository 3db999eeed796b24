using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Memory of sliced execution (issue 17, item 4): each slice runs in its own dispose scope, so the tensors alive
/// between slices (held results, the running sum) do not grow with the number of slices, forward-only (the slice
/// ranges a job's chunks run) and under autograd (a sliced module trained), with the same values, gradients and
/// step runs.
public class SliceScopeTests
{
    static SliceScopeTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    /// The live tensors of this thread after each slice of <paramref name="pass"/>, less those before it; and after
    /// the pass, its result disposed.
    static (long[] AfterSlices, long After) Live(NetworkModule m, Action pass)
    {
        static long Count() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var after = new List<long>();
        long before = Count();
        m.SliceDone = () => after.Add(Count() - before);
        try
        {
            pass();
        }
        finally
        {
            m.SliceDone = null;
        }
        return (after.ToArray(), Count() - before);
    }

    /// The closed 4 x 4 lattice at D = 2, sliced by greedy to a limit of 2 elements.
    static (NetworkModule Module, PlanView Plan) Grid()
    {
        var net = Frontend.Load(Repo.Example("grid.tn"), Repo.Set(("L", 4), ("D", 2)), null);
        var plan = Planner.Plan(net, "greedy", null, 0, 2L);
        return (new NetworkModule(NetworkAdapter.FromFlat(net), plan, F64), plan);
    }

    [Fact]
    public void The_tensors_alive_between_slices_do_not_grow_with_the_number_of_slices()
    {
        var (m, plan) = Grid();
        using var _ = m;
        const long n = 64;
        Assert.True(plan.Slices >= 8 * n, $"{plan.Slices} slices");
        var (few, afterFew) = Live(m, () => m.ForwardSlices([], 0, n).Dispose());
        var runsFew = m.StepRuns.ToArray();
        var (many, afterMany) = Live(m, () => m.ForwardSlices([], 0, 8 * n).Dispose());
        Assert.Equal(n, few.Length);
        Assert.Equal(8 * n, many.Length);
        // What a pass holds between slices is its held results and running sum: as many after 8N slices as after N,
        // and no more late in the pass than early in it.
        Assert.Equal(few.Max(), many.Max());
        Assert.True(many.Skip(4 * (int)n).Max() <= many.Take(4 * (int)n).Max(), $"{many.Skip(4 * (int)n).Max()} live late, {many.Take(4 * (int)n).Max()} early");
        Assert.True(few.Max() < 4 * plan.Pairs.Length, $"{few.Max()} tensors alive between slices for {plan.Pairs.Length} steps");
        // Nothing is left behind once the result is released.
        Assert.Equal(0, afterFew);
        Assert.Equal(0, afterMany);
        // Reuse is untouched: the first N slices of the longer pass ran each step as often as the shorter pass did.
        using var __ = m.ForwardSlices([], 0, n);
        Assert.Equal(runsFew, m.StepRuns);
    }

    [Fact]
    public void Ranges_run_in_one_pass_hold_as_few_tensors_and_add_up_to_the_whole()
    {
        var (m, plan) = Grid();
        using var _ = m;
        using var whole = m.ForwardSlices([], 0, 512);
        Tensor[] parts = [];
        var (after, left) = Live(m, () => parts = m.ForwardSliceRanges([], 0, [64, 64, 128, 256]));
        try
        {
            Assert.Equal(512, after.Length);
            // The finished ranges' sums stay alive (three of them by the last slice), nothing else accumulates.
            Assert.True(after.Skip(256).Max() <= after.Take(256).Max() + 3, $"{after.Skip(256).Max()} live late, {after.Take(256).Max()} early");
            using var sum = parts.Aggregate((a, b) => a + b);
            SlicedExecutionTests.AssertClose([whole.item<double>()], [sum.item<double>()], "sum of the ranges");
        }
        finally
        {
            foreach (var p in parts)
                p.Dispose();
        }
        Assert.Equal(4, left);
    }

    [Theory]
    [InlineData("grid.tn", "L=3,D=3", false)]
    [InlineData("born-machine.tn", "n=10,chi=3", false)]
    [InlineData("born-machine.tn", "n=10,chi=3", true)]
    [InlineData("mera-classifier.tn", "", true)]
    public void A_sliced_module_under_autograd_holds_as_few_tensors_late_as_early_and_gives_the_unsliced_gradients(string file, string sets, bool logScale)
    {
        var overrides = Repo.Overrides(sets);
        var net = Frontend.Load(Repo.Example(file), overrides, null);
        var free = Planner.Plan(net, "greedy", 4, 0);
        long limit = OutputLimit.Of(net, 4);
        var plan = Planner.Plan(net, "greedy", 4, 0, limit);
        Assert.True(plan.Slices >= 16, $"{file}: {plan.Slices} slices");
        var spec = NetworkAdapter.FromFlat(net);
        var options = F64 with { LogScale = logScale };
        using var a = new NetworkModule(spec, free, options);
        using var b = new NetworkModule(spec, plan, options);
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(a, 4, inputsGenerator, ScalarType.Float64);
        try
        {
            var (v0, g0) = SlicedExecutionTests.Run(a, inputs, logScale);
            var (v1, g1) = (Array.Empty<double>(), new Dictionary<string, double[]>());
            var (after, left) = Live(b, () => (v1, g1) = SlicedExecutionTests.Run(b, inputs, logScale));
            Assert.Equal((long)plan.Slices, after.Length);
            int half = after.Length / 2;
            Assert.True(after.Skip(half).Max() <= after.Take(half).Max(), $"{after.Skip(half).Max()} live late, {after.Take(half).Max()} early");
            Assert.Equal(0, left);
            SlicedExecutionTests.AssertClose(v0, v1, "value");
            foreach (var (name, g) in g0)
                SlicedExecutionTests.AssertClose(g, g1[name], $"gradient of {name}");
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}
