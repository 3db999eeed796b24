using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// The contraction API as an opt_einsum user calls it: plans kept across calls, threads, autograd on empty
/// operands, and every misuse refused by a .NET exception that says what is wrong (never a libtorch stack trace).
public class ContractionApiTests
{
    static ContractionApiTests() => NativeLoader.EnsureLoaded();

    static Tensor[] Operands(long[][] shapes, int seed)
    {
        using var g = new Generator((ulong)seed);
        return shapes.Select(s => randn(s, ScalarType.Float64, generator: g)).ToArray();
    }

    static double MaxDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(a.shape, b.shape);
        double diff = a.numel() == 0 ? 0 : ScalarOps.Minus(a, b).abs().max().item<double>();
        GC.KeepAlive(a);
        GC.KeepAlive(b);
        return diff;
    }

    [Fact]
    public void A_contraction_over_the_memory_limit_is_refused_with_the_figures_before_anything_is_allocated()
    {
        // a,b,c->abc on three vectors of 20,000: a result of 8e12 elements (32 TB in float32), which libtorch was asked
        // for and answered with a native stack trace.
        var xs = Enumerable.Range(0, 3).Select(_ => ones(20_000)).ToArray();
        try
        {
            var e = Assert.Throws<MemoryLimitException>(() => Tn.Contract("a,b,c->abc", xs));
            Assert.Contains("the contraction 'a,b,c->abc' (float32)", e.Message);
            Assert.Contains("over the memory limit", e.Message);
            // Its result alone is over the limit: slicing, which cuts closed indices only, cannot help, and the refusal
            // says so (it sent the caller to ContractionOptions.MemoryLimit, whose plan was then refused with TN0301).
            Assert.Contains("slicing cannot bring it under the limit: the operands and the result alone take", e.Message);
            Assert.DoesNotContain("ContractionOptions.MemoryLimit", e.Message);
            Assert.True(e.BytesNeeded >= new System.Numerics.BigInteger(4) * 8_000_000_000_000);
            // With autograd it says so.
            foreach (var x in xs)
                x.requires_grad_(true);
            Assert.Contains("with autograd", Assert.Throws<MemoryLimitException>(() => Tn.Contract("a,b,c->abc", xs)).Message);
        }
        finally
        {
            foreach (var x in xs)
                x.Dispose();
        }
    }

    [Fact]
    public void Contract_plans_an_equation_once_per_shapes_and_reuses_the_plan()
    {
        // Labels no other test uses, so that no other test's call shares these plans.
        const string equation = "ᚠᚢ,ᚢᚦ,ᚦᚨ->ᚠᚨ";
        long[][] small = [[2, 3], [3, 4], [4, 5]], large = [[2, 3], [3, 4], [4, 6]];
        var first = Tn.Planned(equation, small);
        Assert.Same(first, Tn.Planned(equation, small));
        Assert.NotSame(first, Tn.Planned(equation, large));
        foreach (var shapes in new[] { small, large, small })
        {
            var xs = Operands(shapes, 5);
            using var ours = Tn.Contract(equation, xs);
            using var theirs = einsum("ab,bc,cd->ad", xs);
            Assert.True(MaxDiff(theirs, ours) < 1e-12);
            foreach (var x in xs)
                x.Dispose();
        }
        Assert.Same(first, Tn.Planned(equation, small));
    }

    [Fact]
    public void Contract_with_a_memory_limit_slices_keeps_that_plan_apart_and_gives_torchs_values()
    {
        const string equation = "ᚱᚲ,ᚲᚷ,ᚷᚱ->ᚲ";
        var xs = Operands([[6, 5], [5, 4], [4, 6]], 9);
        var limited = new ContractionOptions { MemoryLimit = 5 };
        var plain = Tn.Planned(equation, xs.Select(x => x.shape).ToArray());
        var sliced = Tn.Planned(equation, xs.Select(x => x.shape).ToArray(), limited);
        Assert.False(plain.Figures.IsSliced);
        Assert.True(sliced.Figures.IsSliced);
        Assert.Same(plain, Tn.Planned(equation, xs.Select(x => x.shape).ToArray(), new ContractionOptions()));
        Assert.Same(sliced, Tn.Planned(equation, xs.Select(x => x.shape).ToArray(), limited with { }));
        using var ours = Tn.Contract(equation, limited, xs);
        using var theirs = einsum("ab,bc,ca->b", xs);
        Assert.True(MaxDiff(theirs, ours) < 1e-12);
        foreach (var x in xs)
            x.Dispose();
    }

    [Fact]
    public void An_expression_invoked_from_two_threads_gives_torchs_values_and_one_calls_step_counts()
    {
        // A sliced plan with reuse: its step counts differ between steps, so a mixture of two calls would show.
        var xs = Operands([[6, 5], [5, 4], [4, 6]], 7);
        var expr = Tn.Expression("ab,bc,ca->b", xs.Select(x => x.shape).ToArray(), new ContractionOptions { MemoryLimit = 5 });
        Assert.True(expr.Figures.IsSliced);
        using var expected = einsum("ab,bc,ca->b", xs);
        using (var once = expr.Invoke(xs)) { }
        var counts = expr.StepRuns.ToArray();
        int wrong = 0, mixed = 0;
        void Work()
        {
            for (int i = 0; i < 400; i++)
            {
                using var r = expr.Invoke(xs);
                if (MaxDiff(expected, r) > 1e-12)
                    Interlocked.Increment(ref wrong);
                if (!expr.StepRuns.SequenceEqual(counts))
                    Interlocked.Increment(ref mixed);
            }
        }
        var threads = new[] { new Thread(Work), new Thread(Work) };
        foreach (var t in threads)
            t.Start();
        foreach (var t in threads)
            t.Join();
        Assert.Equal(0, wrong);
        Assert.Equal(0, mixed);
        foreach (var x in xs)
            x.Dispose();
    }

    [Theory]
    [InlineData("ab,bc->ac", new long[] { 3, 0 }, new long[] { 0, 5 })]   // a summed empty axis
    [InlineData("a,b->ab", new long[] { 0 }, new long[] { 4 })]           // an empty output, the other operand not empty
    public void An_empty_operand_keeps_autograd_and_gives_torchs_zero_gradients(string equation, long[] x, long[] y)
    {
        var ours = Operands([x, y], 1).Select(t => t.requires_grad_()).ToArray();
        var theirs = ours.Select(t => t.detach().clone().requires_grad_()).ToArray();
        using var r = Tn.Contract(equation, ours);
        using var e = einsum(equation, theirs);
        Assert.True(r.requires_grad);
        Assert.True(MaxDiff(e, r) == 0);
        using (NewDisposeScope())
        {
            r.sum().backward();
            e.sum().backward();
        }
        for (int k = 0; k < 2; k++)
            Assert.True(MaxDiff(theirs[k].grad!, ours[k].grad!) == 0, $"gradient of operand {k + 1}");
        foreach (var t in ours.Concat(theirs))
            t.Dispose();
    }

    [Theory]
    [InlineData("ab->ab")]
    [InlineData("ab")]
    [InlineData("...->...")]
    [InlineData("a...->a...")]
    public void An_identity_contraction_is_a_view_whose_metadata_is_its_own_as_torchs(string equation)
    {
        // torch.einsum gives a view: it shares the operand's data, but reshaping it in place or marking it for
        // autograd leaves the operand as it was. A second handle on the operand itself would reshape the operand.
        using var x = Operands([[2, 3]], 1)[0];
        using var before = x.clone();
        using var e = einsum(equation, x);
        using var r = Tn.Contract(equation, x);
        Assert.True(MaxDiff(e, r) == 0);
        r.unsqueeze_(0);
        r.mul_(2);
        r.requires_grad_();
        Assert.Equal(new long[] { 2, 3 }, x.shape);
        Assert.False(x.requires_grad);
        using (NewDisposeScope())
            Assert.True(MaxDiff(before * 2, x) == 0);   // the data is shared, as with torch's view
        // On an operand that requires a gradient, the result is not that leaf but a view with a backward, as torch's.
        using var w = Operands([[2, 3]], 2)[0].requires_grad_();
        using var v = Tn.Contract(equation, w);
        Assert.False(v.is_leaf);
        using (NewDisposeScope())
            (v * v).sum().backward();
        Assert.True(MaxDiff(w.detach() * 2, w.grad!) == 0);
    }

    [Fact]
    public void Operands_on_two_devices_are_refused_before_libtorch_sees_them()
    {
        // The meta device stands for a second device on a machine with one: torch.einsum would mix them silently.
        using var cpu = ones(2, 3);
        using var meta = empty(3, 4, device: torch.device("meta"));
        var e = Assert.Throws<ArgumentException>(() => Tn.Contract("ab,bc->ac", cpu, meta));
        Assert.Contains("meta", e.Message);
        Assert.Contains("cpu", e.Message);
    }

    [Fact]
    public void Bool_operands_are_refused_with_a_readable_message()
    {
        using var a = ones(2, 3, ScalarType.Bool);
        using var b = ones(3, 4, ScalarType.Bool);
        var e = Assert.Throws<ArgumentException>(() => Tn.Contract("ab,bc->ac", a, b));
        Assert.DoesNotContain("frame #", e.Message);
    }

    [Fact]
    public void Null_arguments_are_refused_by_name_not_by_a_null_reference()
    {
        using var a = ones(2, 3);
        Assert.Equal("equation", Assert.Throws<ArgumentNullException>(() => Tn.Contract(null!, a)).ParamName);
        Assert.Equal("operands", Assert.Throws<ArgumentNullException>(() => Tn.Contract("ab,bc->ac", a, null!)).ParamName);
        Assert.Equal("operands", Assert.Throws<ArgumentNullException>(() => Tn.Contract("ab->ba", (Tensor[])null!)).ParamName);
        Assert.Equal("shapes", Assert.Throws<ArgumentNullException>(() => Tn.Expression("ab,bc->ac", [2, 3], null!)).ParamName);
        var expr = Tn.Expression("ab->ba", [2, 3]);
        Assert.Equal("operands", Assert.Throws<ArgumentNullException>(() => expr.Invoke(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => NetworkModules.FromFile(null!)).ParamName);
        using var module = NetworkModules.FromFile(Repo.Example("mera-classifier.tn"));
        Assert.Equal("inputs", Assert.Throws<ArgumentNullException>(() => module.forward(null!)).ParamName);
        Assert.Equal("inputs", Assert.Throws<ArgumentNullException>(() => module.forward([null!])).ParamName);
    }

    [Fact]
    public void Layer_overrides_given_as_text_are_refused_not_read_as_a_Length_parameter()
    {
        var e = Assert.Throws<ArgumentException>(() => Layers.FromSpec(Repo.Example("layers/mera.tn"), "L=2"));
        Assert.Equal("values", e.ParamName);
    }

    [Fact]
    public void A_negative_size_is_refused_before_planning()
    {
        var e = Assert.Throws<ArgumentException>(() => Tn.Expression("ab,bc->ac", [2, -3], [-3, 4]));
        Assert.Equal("shapes", e.ParamName);
    }

    [Fact]
    public void Ten_thousand_calls_leave_no_live_tensor_behind()
    {
        static long Live() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var xs = Operands([[4, 5], [5, 6], [6, 4]], 3);
        using var single = ones(4, 5, ScalarType.Float32);
        using var row = ones(1, 5, ScalarType.Float64);
        using var none = zeros(0, 5, ScalarType.Float64);
        var sliced = Tn.Expression("ab,bc,ca->b", xs.Select(x => x.shape).ToArray(), new ContractionOptions { MemoryLimit = 5 });
        var calls = new Action[]
        {
            () => { using var r = Tn.Contract("ab,bc,cd->ad", xs); },
            () => { using var r = Tn.Contract("ab,bc,cd->ad", single, xs[1], xs[2]); },   // promoted
            () => { using var r = sliced.Invoke(xs); },
            () => { using var r = Tn.Contract("ab,ab->b", row, xs[0]); },                 // broadcast
            () => { using var r = Tn.Contract("ab,bc->ac", none, xs[1]); },               // empty
            () => Assert.Throws<ArgumentException>(() => sliced.Invoke(xs[1], xs[1], xs[1])),
        };
        foreach (var call in calls)
            call();
        long before = Live();
        for (int i = 0; i < 10_000; i++)
            calls[i % calls.Length]();
        Assert.Equal(before, Live());
        foreach (var x in xs)
            x.Dispose();
    }

    [Fact]
    public void A_size_conflict_names_the_index_both_sizes_and_both_operands()
    {
        // Operand 2 broadcasts 'b' (size 1); the conflict is between operands 1 and 3, and the message says so
        // (torch.einsum names only the later operand).
        using var x = ones(2, 3);
        using var y = ones(1, 4);
        using var z = ones(4, 5);
        var e = Assert.Throws<EinsumException>(() => Tn.Contract("ab,bc,bd->acd", x, y, z));
        Assert.Contains("index 'b' has size 4 in operand 3 but 3 in operand 1 (sizes must agree or be 1)", e.Message);
        Assert.Equal(["TN0308"], e.Codes);
        // A rank that does not fit the labels counts its axes in words that read.
        using var v = ones(2);
        var rank = Assert.Throws<EinsumException>(() => Tn.Contract("ab->a", v));
        Assert.Contains("operand 1 has 2 index label(s) but its shape has 1 axis", rank.Message);
    }

    [Fact]
    public void The_planners_hints_name_the_APIs_options_not_tn_plans()
    {
        // A result of 24 elements under a limit of 3: no slicing can meet it.
        var limited = Assert.Throws<EinsumException>(() => Tn.Expression("ab,bc->ac", [[4, 5], [5, 6]], new ContractionOptions { MemoryLimit = 3 }));
        Assert.Contains("ContractionOptions.MemoryLimit", limited.Message);
        Assert.DoesNotContain("--memory-limit", limited.Message);
        Assert.DoesNotContain("--optimizer", limited.Message);
        var unknown = Assert.Throws<EinsumException>(() => Tn.Expression("ab,bc->ac", [[4, 5], [5, 6]], new ContractionOptions { Optimizer = "nope" }));
        Assert.Contains("ContractionOptions.Optimizer", unknown.Message);
        Assert.DoesNotContain("--optimizer", unknown.Message);
    }
}
