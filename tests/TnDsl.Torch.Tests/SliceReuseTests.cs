using TnDsl.Api;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using TnDsl.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Reuse across slices (issue 17): a sliced plan run as nested loops over its sliced indices, a step run again only
/// when a sliced value it depends on changed, gives the unsliced values and gradients in float64 for any loop order
/// and any range of slices, and each step runs exactly as often as the model says (counted, against this file's own
/// copy of the model).
public class SliceReuseTests
{
    static SliceReuseTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    /// The model, written from its definition: per step, the loop position (1-based) of the innermost sliced index any
    /// leaf below it carries (0: none).
    static int[] Levels(IReadOnlyList<int[]> leafLabels, IEnumerable<(int Left, int Right)> steps, IReadOnlyList<int> order)
    {
        var live = leafLabels.Select(ls => ls.Select(l => order.ToList().IndexOf(l) + 1).DefaultIfEmpty(0).Max()).ToList();
        var levels = new List<int>();
        foreach (var (i, j) in steps)
        {
            int level = Math.Max(live[i], live[j]);
            live.RemoveAt(Math.Max(i, j));
            live.RemoveAt(Math.Min(i, j));
            live.Add(level);
            levels.Add(level);
        }
        return levels.ToArray();
    }

    /// N_s over all slices: the product of the sizes of the loops at or outside the step's level.
    static long[] ModelRuns(int[] levels, long[] extents) =>
        levels.Select(l => extents.Take(l).Aggregate(1L, (a, b) => a * b)).ToArray();

    /// The runs over the slices [first, first + count): every step in the first slice, then the steps of level ≥ c
    /// where the values change first at loop position c.
    static long[] ModelRuns(int[] levels, long[] extents, long first, long count)
    {
        var runs = new long[levels.Length];
        long[]? previous = null;
        for (long slice = first; slice < first + count; slice++)
        {
            var values = new long[extents.Length];
            for (long k = extents.Length - 1, rest = slice; k >= 0; k--)
                (values[k], rest) = (rest % extents[k], rest / extents[k]);
            int c = previous is null ? 0 : Enumerable.Range(0, values.Length).First(j => values[j] != previous[j]) + 1;
            for (int s = 0; s < levels.Length; s++)
                if (levels[s] >= c)
                    runs[s]++;
            previous = values;
        }
        return runs;
    }

    static long[] Extents(NetworkView net, IReadOnlyList<int> order) => order.Select(l => net.Indices[l].Size).ToArray();

    /// The plan's order, its reverse and a seeded shuffle (distinct ones).
    static List<int[]> Orders(int[] sliced, int seed)
    {
        var random = new Random(seed);
        var orders = new List<int[]> { sliced, sliced.Reverse().ToArray(), sliced.OrderBy(_ => random.Next()).ToArray() };
        return orders.DistinctBy(o => string.Join(",", o)).ToList();
    }

    [Fact]
    public void Reuse_gives_the_unsliced_values_and_gradients_in_every_loop_order_and_runs_each_step_N_s_times()
    {
        int runs = 0, sliced = 0, multi = 0;
        long reused = 0, everyStep = 0;
        var networks = TnArbitraries.Network();
        var property = Prop.ForAll(Arb.From(networks.Generator.Resize(100), networks.Shrinker), g =>
        {
            runs++;
            var net = new NetworkView(g.Network);
            var free = Planner.Plan(net, "greedy", null, 0);
            long limit = OutputLimit.Of(net);
            PlanView plan;
            try
            {
                plan = Planner.Plan(net, "greedy", null, 0, limit);
            }
            catch (TnException e) when (e.Diagnostics.Any(d => d.Code == "TN0301"))
            {
                return true;
            }
            if (!plan.IsSliced)
                return true;
            sliced++;
            if (plan.SlicedLabels.Length >= 2)
                multi++;
            var spec = NetworkAdapter.FromFlat(net);
            using var unsliced = new NetworkModule(spec, free, F64);
            using var inputsGenerator = new Generator(7);
            var inputs = RandomInputs.Make(unsliced, 3, inputsGenerator, ScalarType.Float64);
            try
            {
                var (v0, g0) = SlicedExecutionTests.Run(unsliced, inputs);
                foreach (var order in Orders(plan.SlicedLabels, runs))
                {
                    using var m = new NetworkModule(spec, plan, F64 with { SliceOrder = order });
                    var (v1, g1) = SlicedExecutionTests.Run(m, inputs);
                    SlicedExecutionTests.AssertClose(v0, v1, $"value, order [{string.Join(",", order)}]");
                    foreach (var (name, grad) in g0)
                        SlicedExecutionTests.AssertClose(grad, g1[name], $"gradient of {name}, order [{string.Join(",", order)}]");
                    var levels = Levels(plan.LeafLabels.ToList(), m.Plan.Select(s => (s.Left, s.Right)), order);
                    var expected = ModelRuns(levels, Extents(net, order));
                    Assert.Equal(expected, m.StepRuns);
                    // In the plan's own order, Core's levels (PlanView.SliceLevels) say the same.
                    if (order.SequenceEqual(plan.SlicedLabels))
                        Assert.Equal(ModelRuns(plan.SliceLevels, Extents(net, order)), m.StepRuns);
                    reused += m.StepRuns.Sum();
                    everyStep += (long)plan.Slices * m.Plan.Count;
                }
            }
            finally
            {
                foreach (var t in inputs)
                    t.Dispose();
            }
            return true;
        });
        var config = Config.QuickThrowOnFailure.WithMaxTest(150).WithReplay(new Replay(new Rnd(20261206UL, 3UL), FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        Assert.Equal(150, runs);
        Assert.True(sliced >= 25 && multi >= 5, $"{sliced} of {runs} random networks sliced, {multi} on two indices or more");
        // Reuse skips steps: the runs counted are fewer than every step in every slice.
        Assert.True(reused < everyStep, $"{reused} step runs with reuse, {everyStep} without");
    }

    /// A 2 x 3 PEPS sliced on several bonds: every range of slices, starting anywhere, sums to the whole, and runs each
    /// step as the model says for that range.
    [Fact]
    public void Ranges_starting_mid_way_compute_everything_first_then_reuse_and_add_up_to_the_whole()
    {
        var net = Frontend.Load(Repo.Example("peps.tn"), Repo.Set(("Lx", 2), ("Ly", 3), ("D", 3)), null);
        var plan = Planner.Plan(net, "greedy", null, 0, 64);
        Assert.True(plan.SlicedLabels.Length >= 2, $"{plan.SlicedLabels.Length} sliced indices");
        var spec = NetworkAdapter.FromFlat(net);
        var free = Planner.Plan(net, "greedy", null, 0);
        using var unsliced = new NetworkModule(spec, free, F64);
        using var scope = NewDisposeScope();
        var whole = unsliced.forward([]).contiguous().data<double>().ToArray();
        long slices = (long)plan.Slices;
        foreach (var order in Orders(plan.SlicedLabels, 1))
        {
            using var m = new NetworkModule(spec, plan, F64 with { SliceOrder = order });
            var levels = Levels(plan.LeafLabels.ToList(), m.Plan.Select(s => (s.Left, s.Right)), order);
            var extents = Extents(net, order);
            foreach (long cut in new[] { 1, slices / 3, slices / 2 + 1, slices - 1 })
            {
                var parts = new[] { (0L, cut), (cut, slices - cut) };
                var sum = zeros_like(unsliced.forward([]));
                foreach (var (first, count) in parts)
                {
                    sum = ScalarOps.Plus(sum, m.ForwardSlices([], first, count));
                    Assert.Equal(ModelRuns(levels, extents, first, count), m.StepRuns);
                }
                SlicedExecutionTests.AssertClose(whole, sum.contiguous().data<double>().ToArray(), $"slices cut at {cut}, order [{string.Join(",", order)}]");
                // Ranges run in one pass (as a worker runs consecutive chunks): each range's very sum, and reuse
                // across the boundary (the model's runs over the whole span).
                long span = Math.Min(slices - cut, 5);
                if (span >= 2)
                {
                    var ranges = m.ForwardSliceRanges([], cut, span > 2 ? [2L, span - 2] : [2L]);
                    Assert.Equal(ModelRuns(levels, extents, cut, span), m.StepRuns);
                    Assert.Equal(m.ForwardSlices([], cut, 2).contiguous().data<double>().ToArray(), ranges[0].contiguous().data<double>().ToArray());
                }
            }
        }
    }

    [Fact]
    public void Without_reuse_every_step_runs_in_every_slice_and_the_value_is_the_same()
    {
        var net = Frontend.Load(Repo.Example("peps.tn"), Repo.Set(("Lx", 2), ("Ly", 3), ("D", 3)), null);
        var plan = Planner.Plan(net, "greedy", null, 0, 64);
        var spec = NetworkAdapter.FromFlat(net);
        using var reuse = new NetworkModule(spec, plan, F64);
        using var every = new NetworkModule(spec, plan, F64 with { SliceReuse = false });
        var (v0, g0) = SlicedExecutionTests.Run(reuse, []);
        var (v1, g1) = SlicedExecutionTests.Run(every, []);
        SlicedExecutionTests.AssertClose(v1, v0, "value");
        foreach (var (name, grad) in g1)
            SlicedExecutionTests.AssertClose(grad, g0[name], $"gradient of {name}");
        Assert.All(every.StepRuns, r => Assert.Equal((long)plan.Slices, r));
        Assert.True(reuse.StepRuns.Sum() < every.StepRuns.Sum());
    }

    [Theory]
    [InlineData("mpo-linear.tn", "k=3", true)]
    [InlineData("mera-classifier.tn", "", false)]
    [InlineData("mera-classifier.tn", "", true)]
    public void Reuse_in_examples_with_inputs_and_log_scale_gives_the_unsliced_values_and_gradients(string file, string sets, bool logScale)
    {
        var overrides = Repo.Overrides(sets);
        var net = Frontend.Load(Repo.Example(file), overrides, null);
        var free = Planner.Plan(net, "greedy", 4, 0);
        long limit = OutputLimit.Of(net, 4);
        var plan = Planner.Plan(net, "greedy", 4, 0, limit);
        Assert.True(plan.IsSliced);
        var spec = NetworkAdapter.FromFlat(net);
        using var a = new NetworkModule(spec, free, F64 with { LogScale = logScale });
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(a, 4, inputsGenerator, ScalarType.Float64);
        try
        {
            var (v0, g0) = SlicedExecutionTests.Run(a, inputs, logScale);
            foreach (var order in Orders(plan.SlicedLabels, 2))
            {
                using var b = new NetworkModule(spec, plan, F64 with { LogScale = logScale, SliceOrder = order });
                var (v1, g1) = SlicedExecutionTests.Run(b, inputs, logScale);
                SlicedExecutionTests.AssertClose(v0, v1, "value");
                foreach (var (name, g) in g0)
                    SlicedExecutionTests.AssertClose(g, g1[name], $"gradient of {name}");
                var levels = Levels(plan.LeafLabels.ToList(), b.Plan.Select(s => (s.Left, s.Right)), order);
                Assert.Equal(ModelRuns(levels, Extents(net, order)), b.StepRuns);
            }
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    [Fact]
    public void A_sliced_einsum_reuses_across_slices_and_gives_torchs_values_and_gradients()
    {
        using var temporaries = NewDisposeScope();
        // A ring of six bonds of 4: a limit of 1 element (every intermediate a number) slices every other bond at least.
        const string eq = "ab,bc,cd,de,ef,fa->";
        using var generator = new Generator(17);
        var xs = Enumerable.Range(0, 6).Select(_ => randn([4, 4], ScalarType.Float64, generator: generator).requires_grad_(true)).ToArray();
        var expr = Tn.Expression(eq, xs.Select(x => x.shape).ToArray(), new ContractionOptions { Optimizer = "greedy", MemoryLimit = 1 });
        var every = Tn.Expression(eq, xs.Select(x => x.shape).ToArray(), new ContractionOptions { Optimizer = "greedy", MemoryLimit = 1, SliceReuse = false });
        Assert.True(expr.Figures.SlicedLabels.Length >= 2, $"{expr.Figures.SlicedLabels.Length} sliced");
        ScalarOps.Square(expr.Invoke(xs)).backward();
        var ours = xs.Select(x => x.grad!.clone()).ToArray();
        foreach (var x in xs)
            x.grad!.zero_();
        ScalarOps.Square(einsum(eq, xs)).backward();
        using (no_grad())
        {
            SlicedExecutionTests.AssertClose([einsum(eq, xs).item<double>()], [expr.Invoke(xs).item<double>()], "value");
            SlicedExecutionTests.AssertClose([einsum(eq, xs).item<double>()], [every.Invoke(xs).item<double>()], "value without reuse");
        }
        for (int k = 0; k < xs.Length; k++)
            SlicedExecutionTests.AssertClose(xs[k].grad!.data<double>().ToArray(), ours[k].data<double>().ToArray(), $"gradient of operand {k + 1}");
        // The einsum's labels: a..f are 0..5 in order of appearance; each operand carries its two.
        int[][] leafLabels = [.. expr.Figures.LeafLabels];
        var levels = Levels(leafLabels, expr.Path, expr.Figures.SlicedLabels);
        Assert.Equal(ModelRuns(levels, expr.Figures.SlicedLabels.Select(_ => 4L).ToArray()), expr.StepRuns);
        Assert.All(every.StepRuns, r => Assert.Equal((long)every.Figures.Slices, r));
    }
}
