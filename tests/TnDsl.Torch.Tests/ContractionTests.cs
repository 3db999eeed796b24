using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// A random einsum case: the seed of its construction and a size that bounds it (shrinks towards 1).
public sealed record EinsumCase(int Seed, int Size)
{
    // Our labels (any Unicode letter, a surrogate pair among them), in ordinal order so that an implied output
    // sorts them as torch sorts the ASCII letters it is given instead ('a' + position).
    static readonly string[] Labels = ["a", "b", "c", "d", "α", "β", "Ж", "𝑎"];

    /// Our equation, torch's equivalent, and the operand shapes: 1–4 operands of up to 3 labels (repeats allowed,
    /// as a diagonal), sizes 1–4, now and then an axis of size 1 broadcast against its label's size, an ellipsis
    /// covering 0–2 right-aligned broadcast axes, and an explicit output (a random subset in random order) or none.
    public (string Ours, string Torch, long[][] Shapes) Build()
    {
        var rng = new Random(Seed);
        int pool = Math.Min(Labels.Length, 2 + Size / 2);
        var size = Enumerable.Range(0, pool).Select(_ => (long)(1 + rng.Next(4))).ToArray();
        int operands = 1 + rng.Next(Math.Min(4, 1 + Size / 3));
        bool ellipsis = rng.Next(3) == 0;
        var ellipsisShape = Enumerable.Range(0, rng.Next(3)).Select(_ => (long)(1 + rng.Next(3))).ToArray();
        var ours = new List<string>();
        var theirs = new List<string>();
        var shapes = new List<long[]>();
        var used = new List<int>();
        for (int o = 0; o < operands; o++)
        {
            var labels = Enumerable.Range(0, rng.Next(4)).Select(_ => rng.Next(pool)).ToList();
            var shape = new List<long>();
            var here = new Dictionary<int, long>();
            foreach (var l in labels)
                shape.Add(here.TryGetValue(l, out var s) ? s : here[l] = rng.Next(5) == 0 ? 1 : size[l]);
            used.AddRange(labels);
            string a = string.Concat(labels.Select(l => Labels[l])), t = string.Concat(labels.Select(l => (char)('a' + l)));
            if (ellipsis && rng.Next(4) != 0)
            {
                int at = rng.Next(labels.Count + 1), rank = rng.Next(ellipsisShape.Length + 1);
                var dims = ellipsisShape[(ellipsisShape.Length - rank)..].Select(d => rng.Next(4) == 0 ? 1L : d);
                shape.InsertRange(at, dims);
                a = string.Concat(labels.Take(at).Select(l => Labels[l])) + "..." + string.Concat(labels.Skip(at).Select(l => Labels[l]));
                t = string.Concat(labels.Take(at).Select(l => (char)('a' + l))) + "..." + string.Concat(labels.Skip(at).Select(l => (char)('a' + l)));
            }
            ours.Add(a);
            theirs.Add(t);
            shapes.Add(shape.ToArray());
        }
        string lhs = string.Join(",", ours), lhsT = string.Join(",", theirs);
        if (rng.Next(2) == 0)
            return (lhs, lhsT, shapes.ToArray());
        var output = used.Distinct().OrderBy(_ => rng.Next()).Take(rng.Next(used.Distinct().Count() + 1)).ToList();
        bool withEllipsis = ours.Any(o => o.Contains("...")) && rng.Next(3) != 0;
        int pos = rng.Next(output.Count + 1);
        string Out(Func<int, string> name) =>
            string.Concat(output.Take(pos).Select(name)) + (withEllipsis ? "..." : "") + string.Concat(output.Skip(pos).Select(name));
        return (lhs + "->" + Out(l => Labels[l]), lhsT + "->" + Out(l => ((char)('a' + l)).ToString()), shapes.ToArray());
    }
}

public class ContractionTests
{
    static ContractionTests() => NativeLoader.EnsureLoaded();

    static Tensor[] Operands(long[][] shapes, int seed)
    {
        using var g = new Generator((ulong)seed);
        return shapes.Select(s => randn(s, ScalarType.Float64, generator: g)).ToArray();
    }

    /// Callers pass fresh results: the scope frees what is made here, and both are kept alive to the end.
    static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        using (var scope = NewDisposeScope())
        {
            Assert.True(expected.shape.SequenceEqual(actual.shape),
                $"{what}: shape [{string.Join(",", actual.shape)}], torch.einsum gives [{string.Join(",", expected.shape)}]");
            double scale = Math.Max(1.0, expected.numel() == 0 ? 0 : expected.abs().max().item<double>());
            double diff = expected.numel() == 0 ? 0 : ScalarOps.Minus(expected, actual).abs().max().item<double>();
            Assert.True(diff <= 1e-10 * scale, $"{what}: differs from torch.einsum by {diff}");
        }
        GC.KeepAlive(expected);
        GC.KeepAlive(actual);
    }

    [Fact]
    public void Random_equations_contract_like_torch_einsum()
    {
        int runs = 0, ellipses = 0, broadcasts = 0, diagonals = 0, multi = 0;
        var cases = Arb.From(
            Gen.Sized(size => Gen.Choose(0, int.MaxValue).Select(seed => new EinsumCase(seed, Math.Clamp(size, 1, 14)))),
            c => c.Size > 1 ? [c with { Size = c.Size - 1 }, c with { Size = c.Size / 2 }] : []);
        var property = Prop.ForAll(cases, c =>
        {
            var (ours, theirs, shapes) = c.Build();
            runs++;
            if (ours.Contains("...")) ellipses++;
            if (shapes.Any(s => s.Contains(1L))) broadcasts++;
            if (theirs.Split("->")[0].Split(',').Any(o => o.Replace(".", "").Distinct().Count() < o.Replace(".", "").Length)) diagonals++;
            if (shapes.Length > 2) multi++;
            using var scope = NewDisposeScope();
            var xs = Operands(shapes, c.Seed);
            Tensor expected;
            try
            {
                expected = einsum(theirs, xs);
            }
            catch (Exception)
            {
                // torch refuses it (e.g. an output label it does not accept): ours must refuse it too.
                Assert.Throws<EinsumException>(() => Tn.Contract(ours, xs));
                return true;
            }
            AssertClose(expected, Tn.Contract(ours, xs), $"{ours} on {string.Join(" ", shapes.Select(s => $"[{string.Join(",", s)}]"))}");
            return true;
        });
        var config = Config.QuickThrowOnFailure.WithMaxTest(300).WithReplay(new Replay(new Rnd(20261205UL, 1UL), FSharpOption<int>.None));
        FsCheck.Check.One(config, property);
        Assert.Equal(300, runs);
        // The generator reaches every feature often enough to matter.
        Assert.True(ellipses >= 30 && broadcasts >= 60 && diagonals >= 30 && multi >= 60,
            $"ellipses {ellipses}, broadcasts {broadcasts}, diagonals {diagonals}, 3+ operands {multi} of {runs}");
    }

    [Fact]
    public void An_expression_plans_once_with_the_shared_planner_and_runs_on_new_operands()
    {
        var shapes = new[] { new long[] { 10, 20 }, [20, 30], [30, 40], [40, 50] };
        var expr = Tn.Expression("ab,bc,cd,de->ae", shapes, new ContractionOptions { Optimizer = "optimal" });
        // The planner's figures for this chain (see CostTests: 76,000 flops, largest intermediate 500).
        Assert.Equal(76000, (long)expr.Figures.Flops);
        Assert.Equal(500, (long)expr.Figures.LargestIntermediate);
        Assert.Equal(3, expr.Path.Count);
        Assert.Equal(new long[] { 10, 50 }, expr.OutputShape);
        for (int seed = 1; seed <= 3; seed++)
        {
            using var scope = NewDisposeScope();
            var xs = Operands(shapes, seed);
            AssertClose(einsum("ab,bc,cd,de->ae", xs), expr.Invoke(xs), $"seed {seed}");
        }
        using var wrong = zeros(10, 21, dtype: ScalarType.Float64);
        Assert.Throws<ArgumentException>(() => expr.Invoke(wrong, wrong, wrong, wrong));
    }

    [Fact]
    public void A_memory_limit_slices_the_expression_and_gives_torchs_values_and_gradients()
    {
        using var temporaries = NewDisposeScope();
        // A ring of four: every order makes a 12 x 12 intermediate; a limit of 20 elements slices one bond.
        const string eq = "ab,bc,cd,da->";
        var xs = Operands([[12, 12], [12, 12], [12, 12], [12, 12]], 4).Select(x => x.requires_grad_(true)).ToArray();
        var expr = Tn.Expression(eq, xs.Select(x => x.shape).ToArray(), new ContractionOptions { Optimizer = "greedy", MemoryLimit = 20 });
        Assert.True(expr.Figures.IsSliced);
        Assert.True(expr.Figures.SliceLargestIntermediate <= 20);
        using (var loss = ScalarOps.Square(expr.Invoke(xs)))
            loss.backward();
        var ours = xs.Select(x => x.grad!.clone()).ToArray();
        foreach (var x in xs)
            x.grad!.zero_();
        using (var loss = ScalarOps.Square(einsum(eq, xs)))
            loss.backward();
        using (no_grad())
            AssertClose(einsum(eq, xs), expr.Invoke(xs), eq);
        for (int k = 0; k < xs.Length; k++)
            AssertClose(xs[k].grad!, ours[k], $"gradient of operand {k + 1}");
    }

    [Theory]
    [InlineData(-1L)] // opt_einsum's "no limit"
    [InlineData(0L)]
    public void A_memory_limit_below_one_element_is_refused_as_such_not_as_a_result_over_it(long limit)
    {
        using var a = ones(2, 3);
        using var b = ones(3, 4);
        // It was planned, and refused with "the result alone has 8 elements, over the memory limit of -1".
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tn.Contract("ab,bc->ac", new ContractionOptions { MemoryLimit = limit }, a, b));
        Assert.Contains($"ContractionOptions.MemoryLimit is {limit}", e.Message);
        Assert.Contains("leave it null for no limit", e.Message);
    }

    [Fact]
    public void Gradients_flow_through_a_contraction_as_through_torch_einsum()
    {
        using var temporaries = NewDisposeScope();
        var xs = Operands([[3, 4], [4, 5, 2], [2, 3]], 9).Select(x => x.requires_grad_(true)).ToArray();
        using (var scope = NewDisposeScope())
            ScalarOps.Square(Tn.Contract("ab,bcd,da->c", xs)).sum().backward();
        var ours = xs.Select(x => x.grad!.clone()).ToArray();
        foreach (var x in xs)
            x.grad!.zero_();
        using (var scope = NewDisposeScope())
            ScalarOps.Square(einsum("ab,bcd,da->c", xs)).sum().backward();
        for (int k = 0; k < xs.Length; k++)
            AssertClose(xs[k].grad!, ours[k], $"gradient of operand {k + 1}");
    }

    [Fact]
    public void Operands_of_different_dtypes_are_promoted_and_empty_axes_give_torchs_result()
    {
        using var a = ones(2, 3, dtype: ScalarType.Float32);
        using var b = ones(3, 4, dtype: ScalarType.Float64);
        using var r = Tn.Contract("ab,bc->ac", a, b);
        Assert.Equal(ScalarType.Float64, r.dtype);
        using (var entry = r[0, 0])
            Assert.Equal(3.0, entry.item<double>());
        using var e = zeros(2, 0, dtype: ScalarType.Float64);
        using var f = ones(0, 4, dtype: ScalarType.Float64);
        AssertClose(einsum("ab,bc->ac", e, f), Tn.Contract("ab,bc->ac", e, f), "a summed empty axis");
        AssertClose(einsum("ab,bc->abc", e, f), Tn.Contract("ab,bc->abc", e, f), "an empty output axis");
    }

    [Theory]
    // One diagnostic per mistake, at the mistake's column (1-based, in the equation).
    [InlineData("ab..,bc->ac", "TN0306", 3)]        // two dots: not an ellipsis
    [InlineData("a....b,bc->ac", "TN0306", 2)]      // four dots
    [InlineData("...a...,ab->b", "TN0306", 5)]      // a second ellipsis in one operand
    [InlineData("ab,bc->ac->a", "TN0306", 10)]       // a second arrow
    [InlineData("ab,b-c->ac", "TN0306", 5)]         // a stray '-'
    [InlineData("ab;bc->ac", "TN0306", 3)]          // ';' for ',': not an index (one diagnostic, not a 3-leg operand)
    [InlineData("a12,bc->ac", "TN0306", 2)]         // a run of digits: one diagnostic
    [InlineData("ab,bc->a#c", "TN0306", 9)]         // punctuation is not an index
    [InlineData("ab,bc->ax", "TN0304", 9)]          // an output index on no operand
    [InlineData("ab,bc->aca", "TN0304", 10)]        // an output index listed twice
    [InlineData("ab,bc->ac", "TN0308", 4)]          // b is 3 on the left, 4 on the right (shapes below)
    public void A_mistake_is_one_diagnostic_at_its_place(string equation, string code, int column)
    {
        using var x = ones(2, 3);
        using var y = ones(code == "TN0308" ? 4 : 3, 5);
        var e = Assert.Throws<EinsumException>(() => Tn.Contract(equation, x, y));
        var one = Assert.Single(e.Codes);
        Assert.Equal(code, one);
        Assert.StartsWith($"<einsum>(1,{column}): error {code}", e.Diagnostics[0]);
    }

    [Fact]
    public void Shapes_that_do_not_fit_the_labels_are_refused_with_the_operand()
    {
        using var x = ones(2, 3, 4);
        using var y = ones(3, 5);
        var e = Assert.Throws<EinsumException>(() => Tn.Contract("ab,bc->ac", x, y));
        Assert.Equal("TN0306", Assert.Single(e.Codes));
        Assert.StartsWith("<einsum>(1,1): error", e.Diagnostics[0]);
        var count = Assert.Throws<EinsumException>(() => Tn.Contract("ab,bc->ac", y));
        Assert.Equal("TN0306", Assert.Single(count.Codes));
    }
}
