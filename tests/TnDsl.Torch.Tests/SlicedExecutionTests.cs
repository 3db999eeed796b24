using TnDsl.Api;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using TnDsl.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// Sliced execution (issue 17): a plan sliced to a memory limit computes the same values and the same gradients as
/// the unsliced plan, in float64, on random networks from the testing kit and on the examples.
public class SlicedExecutionTests
{
    static SlicedExecutionTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    /// The forward value and every parameter's gradient of the loss sum(y · probe), for fixed inputs; with
    /// <paramref name="inputGrads"/>, also the gradient of every floating-point input (named "input NAME"), fed as
    /// copies made to need one, so that each module gets its own leaves.
    internal static (double[] Value, Dictionary<string, double[]> Grads) Run(NetworkModule m, Tensor[] inputs, bool logScale = false,
        bool inputGrads = false)
    {
        using var scope = NewDisposeScope();
        if (inputGrads)
            inputs = inputs.Select(t => t.is_floating_point() ? t.detach().clone().requires_grad_(true) : t).ToArray();
        m.zero_grad();
        Tensor y;
        if (logScale)
        {
            var r = m.ForwardLog(inputs);
            y = r.Value * r.ExpandedLogScale().exp();
        }
        else
            y = m.forward(inputs);
        using var probeGenerator = new Generator(11);
        var probe = randn(y.shape, ScalarType.Float64, generator: probeGenerator);
        if (m.ParameterCount > 0 || inputs.Any(i => i.requires_grad))
            (y * probe).sum().backward();
        var grads = m.named_parameters().ToDictionary(p => p.name, p => GradValues(p.parameter));
        for (int k = 0; k < inputs.Length; k++)
            if (inputGrads && inputs[k].requires_grad)
                grads[$"input {m.InputNames[k]}"] = GradValues(inputs[k]);
        return (y.contiguous().data<double>().ToArray(), grads);
    }

    /// The float64 values of <paramref name="t"/>'s gradient, zeros where it has none.
    internal static double[] GradValues(Tensor t)
    {
        // A grad is a fresh wrapper on every read: held until its values are copied.
        using var g = t.grad;
        if (g is null)
            return new double[t.numel()];
        using var c = g.contiguous();
        return c.data<double>().ToArray();
    }

    /// Equal to <paramref name="tolerance"/> of the largest entry of <paramref name="expected"/>.
    internal static void AssertClose(double[] expected, double[] actual, string what, double tolerance = 1e-9)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1e-300, expected.Select(Math.Abs).DefaultIfEmpty(0).Max());
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale, $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    static void AssertSame(NetworkModule unsliced, NetworkModule sliced, Tensor[] inputs, bool logScale = false)
    {
        var (v0, g0) = Run(unsliced, inputs, logScale);
        var (v1, g1) = Run(sliced, inputs, logScale);
        AssertClose(v0, v1, "value");
        Assert.Equal(g0.Keys.Order(), g1.Keys.Order());
        foreach (var (name, g) in g0)
            AssertClose(g, g1[name], $"gradient of {name}");
    }

    [Fact]
    public void Sliced_plans_of_random_networks_give_the_unsliced_values_and_gradients()
    {
        int runs = 0, sliced = 0;
        // Drawn at a large size (up to 12 tensors, dimensions up to 4), where most networks have something to slice.
        var networks = TnArbitraries.Network();
        var property = Prop.ForAll(Arb.From(networks.Generator.Resize(80), networks.Shrinker), g =>
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
                return true; // an intermediate of open legs only: nothing to slice
            }
            if (!plan.IsSliced)
                return true;
            sliced++;
            Assert.True(plan.SliceLargestIntermediate <= limit);
            var spec = NetworkAdapter.FromFlat(net);
            using var a = new NetworkModule(spec, free, F64);
            using var b = new NetworkModule(spec, plan, F64);
            using var inputsGenerator = new Generator(7);
            var inputs = RandomInputs.Make(a, 3, inputsGenerator, ScalarType.Float64);
            try
            {
                AssertSame(a, b, inputs);
            }
            finally
            {
                foreach (var t in inputs)
                    t.Dispose();
            }
            return true;
        });
        var config = Config.QuickThrowOnFailure.WithMaxTest(60).WithReplay(new Replay(new Rnd(20261205UL, 7UL), FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        Assert.Equal(60, runs);
        Assert.True(sliced >= 15, $"only {sliced} of {runs} random networks were sliced");
    }

    [Theory]
    [InlineData("mps.tn", "n=6,chi=16", false)]
    [InlineData("mpo-linear.tn", "k=3", false)]
    [InlineData("mpo-linear.tn", "k=3", true)]
    [InlineData("mera-classifier.tn", "", false)]
    [InlineData("mera-classifier.tn", "", true)]
    public void Sliced_examples_give_the_unsliced_values_and_gradients(string file, string sets, bool logScale)
    {
        var overrides = Repo.Overrides(sets);
        var net = Frontend.Load(Repo.Example(file), overrides, null);
        var free = Planner.Plan(net, "greedy", 4, 0);
        var plan = Planner.Plan(net, "greedy", 4, 0, OutputLimit.Of(net, 4));
        Assert.True(plan.IsSliced, $"{file}: the plan is not sliced");
        var spec = NetworkAdapter.FromFlat(net);
        var options = F64 with { LogScale = logScale };
        using var a = new NetworkModule(spec, free, options);
        using var b = new NetworkModule(spec, plan, options);
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(a, 4, inputsGenerator, ScalarType.Float64);
        try
        {
            AssertSame(a, b, inputs, logScale);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}
