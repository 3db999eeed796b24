using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class LoweringTests
{
    static LoweringTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 11 };

    /// A random network with one-hot inputs (each its own family, an optional batch leg, 0–2 fixed legs, the one-hot
    /// leg last), const copy tensors over legs of one size, and weights; sizes 2 or 3 so that copy tensors find
    /// legs of equal size; the output a random subset of the indices.
    static NetworkView RandomNetwork(int seed)
    {
        var rng = new Random(seed);
        var n = new NetBuilder($"lowering{seed}");
        int tensors = 3 + rng.Next(5);
        int count = 3 + rng.Next(5);
        var dims = Enumerable.Range(0, count).Select(_ => (long)(2 + rng.Next(2))).ToArray();
        var roles = new List<(Role Role, List<int> Legs)>();
        bool batched = false;
        for (int t = 0; t < tensors; t++)
        {
            int kind = rng.Next(10);
            var legs = Enumerable.Range(0, count).OrderBy(_ => rng.Next()).Take(1 + rng.Next(3)).ToList();
            if (kind < 4)
            {
                roles.Add((Role.Input, legs));
                batched |= legs.Count > 0;
            }
            else if (kind < 6)
            {
                // A copy tensor over legs of the first leg's size.
                var same = Enumerable.Range(0, count).Where(i => dims[i] == dims[legs[0]]).OrderBy(_ => rng.Next()).Take(2 + rng.Next(2)).ToList();
                roles.Add(same.Count >= 2 ? (Role.Const, same) : (Role.Weight, legs));
            }
            else
                roles.Add((Role.Weight, legs));
        }
        var carriers = Enumerable.Range(0, count).ToDictionary(i => i, i => roles.Count(r => r.Legs.Contains(i)));
        var ids = Enumerable.Range(0, count).Select(i => n.Index($"i{i}", dims[i], hyper: carriers[i] > 2)).ToArray();
        int batch = n.Index("b", 3, dynamic: true, hyper: true);
        var inputsWithBatch = new List<int>();
        for (int t = 0; t < roles.Count; t++)
        {
            var (role, legs) = roles[t];
            var mine = legs.Select(i => ids[i]).ToArray();
            if (role == Role.Input)
            {
                bool withBatch = rng.Next(3) > 0;
                int[] all = withBatch ? [batch, .. mine] : mine;
                n.Tensor($"x{t}", Role.Input, all, embedding: Embedding.NewOneHot((int)dims[legs[^1]]));
                if (withBatch)
                    inputsWithBatch.Add(t);
            }
            else if (role == Role.Const)
                n.Tensor($"C{t}", Role.Const, mine, Init.Copy);
            else
                n.Tensor($"W{t}", Role.Weight, mine, Init.NewNormal(0.0, 1.0));
        }
        var used = roles.SelectMany(r => r.Legs).Distinct().ToList();
        var output = used.Where(_ => rng.Next(3) == 0).Select(i => ids[i]).OrderBy(_ => rng.Next()).ToList();
        if (inputsWithBatch.Count > 0 && rng.Next(3) > 0)
            output.Insert(rng.Next(output.Count + 1), batch);
        return n.Build([.. output]);
    }

    /// The module's value and the gradient of Σ value·w for a fixed w, per parameter.
    static (Tensor Value, Dictionary<string, Tensor> Grads) Run(NetworkModule m, Tensor[] inputs, Tensor? weights)
    {
        m.zero_grad();
        using var y = m.forward(inputs);
        using var wGenerator = new Generator(5);
        using var drawn = weights is null ? randn(y.shape, ScalarType.Float64, generator: wGenerator) : null;
        var w = weights ?? drawn!;
        if (m.parameters().Any())
            using (NewDisposeScope())
                (y * w).sum().backward();
        // A parameter's grad is a fresh wrapper on every read: held until its copy is made.
        var grads = m.named_parameters().ToDictionary(p => p.name, p =>
        {
            using var g = p.parameter.grad;
            return g is null ? zeros_like(p.parameter) : g.clone();
        });
        return (y.detach(), grads);
    }

    /// Class numbers all 0 but the first sample's, width − 1: groups of one and of batch − 1.
    static Tensor FirstInItsOwnClass(long batch, long sites, long width)
    {
        using var first = tensor(new long[] { 0 });
        using var last = (width - 1).ToScalar();
        return zeros([batch, sites], ScalarType.Int64).index_fill_(0, first, last);
    }

    static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        using (NewDisposeScope())
        {
            Assert.Equal(expected.shape, actual.shape);
            double scale = Math.Max(1e-300, expected.numel() == 0 ? 0 : expected.abs().max().item<double>());
            double err = expected.numel() == 0 ? 0 : ScalarOps.Minus(expected, actual).abs().max().item<double>();
            Assert.True(err <= 1e-12 * Math.Max(1, scale), $"{what}: lowered and dense differ by {err} (scale {scale})");
        }
        GC.KeepAlive(expected);
        GC.KeepAlive(actual);
    }

    [Fact]
    public void Lowered_steps_give_the_dense_values_and_gradients_on_random_networks_with_one_hot_inputs_and_copy_tensors()
    {
        var kinds = new Dictionary<string, int>();
        for (int seed = 0; seed < 120; seed++)
        {
            var net = RandomNetwork(seed);
            var spec = NetworkAdapter.FromFlat(net);
            var rng = new Random(seed);
            // Random linear paths put the structured operand on either side and at any point of the plan.
            var path = NetBuilder.RandomPath(spec.Tensors.Length, rng);
            using var lowered = new NetworkModule(spec, path, F64);
            using var dense = new NetworkModule(spec, path, F64 with { Lower = false });
            Assert.All(dense.Plan, s => Assert.Null(s.Lowering));
            foreach (var s in lowered.Plan.Where(s => s.Lowering is not null))
                kinds[s.Lowering!.Name] = kinds.GetValueOrDefault(s.Lowering.Name) + 1;
            using var inputsGenerator = new Generator((ulong)seed);
            var inputs = RandomInputs.Make(lowered, 3, inputsGenerator, ScalarType.Float64);
            var (y1, g1) = Run(lowered, inputs, null);
            using var wGenerator = new Generator(5);
            using var w = randn(y1.shape, ScalarType.Float64, generator: wGenerator);
            var (y2, g2) = Run(dense, inputs, w);
            var (y3, g3) = Run(lowered, inputs, w);
            AssertClose(y2, y3, $"seed {seed} value");
            foreach (var (name, g) in g2)
                AssertClose(g, g3[name], $"seed {seed} gradient of {name}");
            foreach (var t in inputs.Concat([y1, y2, y3]).Concat(g1.Values).Concat(g2.Values).Concat(g3.Values))
                t.Dispose();
        }
        // The generator must exercise both lowerings many times, or the comparison says little.
        Assert.True(kinds.GetValueOrDefault("gather") >= 15, $"gather steps: {kinds.GetValueOrDefault("gather")}");
        Assert.True(kinds.GetValueOrDefault("diagonal") >= 15, $"diagonal steps: {kinds.GetValueOrDefault("diagonal")}");
        Assert.True(kinds.GetValueOrDefault("product") >= 15, $"product steps: {kinds.GetValueOrDefault("product")}");
        Assert.Equal(kinds.GetValueOrDefault("deferred"), kinds.GetValueOrDefault("contract-gather"));
    }

    [Fact]
    public void Lowered_born_machines_give_the_dense_values_and_gradients_under_planned_and_random_orders()
    {
        var kinds = new Dictionary<string, int>();
        for (int seed = 0; seed < 24; seed++)
        {
            var rng = new Random(seed);
            int sites = 2 + rng.Next(6);
            var net = Frontend.Load(Repo.Example("born-machine.tn"), Repo.Set(("n", sites), ("chi", 1 + rng.Next(3))), null);
            var spec = NetworkAdapter.FromFlat(net);
            // The planner's orders meet pixels with the environment (deferred, then contract-and-gather); random
            // orders meet them with anything.
            var plan = seed % 3 == 2 ? NetworkAdapter.FollowPath(spec, NetBuilder.RandomPath(spec.Tensors.Length, rng))
                                     : NetworkAdapter.Plan(net, seed % 3 == 0 ? "auto" : "greedy", 4);
            using var lowered = new NetworkModule(spec, plan, F64);
            using var dense = new NetworkModule(spec, plan, F64 with { Lower = false });
            foreach (var s in lowered.Plan.Where(s => s.Lowering is not null))
                kinds[s.Lowering!.Name] = kinds.GetValueOrDefault(s.Lowering.Name) + 1;
            using var rawGenerator = new Generator((ulong)seed);
            using var raw = randint(0, 2, [4, sites], generator: rawGenerator);
            using var wGenerator = new Generator(5);
            using var w = randn([4], ScalarType.Float64, generator: wGenerator);
            var (y2, g2) = Run(dense, [raw], w);
            var (y3, g3) = Run(lowered, [raw], w);
            AssertClose(y2, y3, $"seed {seed} value");
            foreach (var (name, g) in g2)
                AssertClose(g, g3[name], $"seed {seed} gradient of {name}");
        }
        Assert.True(kinds.GetValueOrDefault("contract-gather") >= 12, $"contract-gather steps: {kinds.GetValueOrDefault("contract-gather")}");
        Assert.True(kinds.GetValueOrDefault("gather") + kinds.GetValueOrDefault("product") >= 20, string.Join(", ", kinds));
    }

    [Fact]
    public void Sliced_lowered_plans_give_the_unsliced_dense_values_and_gradients()
    {
        using var temporaries = NewDisposeScope();
        int sliced = 0, lowered = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var net = RandomNetwork(seed);
            var spec = NetworkAdapter.FromFlat(net);
            long limit = OutputLimit.Of(net);
            PlanView plan;
            try
            {
                plan = Planner.Plan(net, "greedy", null, 0, limit);
            }
            catch (TnException)
            {
                continue;
            }
            if (!plan.IsSliced)
                continue;
            sliced++;
            // One-hot legs and copy tensors that are sliced stay dense; everything else may still be lowered.
            using var m = new NetworkModule(spec, plan, F64);
            lowered += m.Plan.Count(s => s.Lowering is not null);
            using var dense = new NetworkModule(spec, Planner.Plan(net, "greedy", null, 0), F64 with { Lower = false });
            using var inputsGenerator = new Generator((ulong)seed);
            var inputs = RandomInputs.Make(m, 3, inputsGenerator, ScalarType.Float64);
            using var wGenerator = new Generator(5);
            using var w = randn(dense.forward(inputs).shape, ScalarType.Float64, generator: wGenerator);
            var (y1, g1) = Run(dense, inputs, w);
            var (y2, g2) = Run(m, inputs, w);
            AssertClose(y1, y2, $"seed {seed} value");
            foreach (var (name, g) in g1)
                AssertClose(g, g2[name], $"seed {seed} gradient of {name}");
        }
        Assert.True(sliced >= 10, $"only {sliced} sliced plans");
        Assert.True(lowered >= 10, $"only {lowered} lowered steps in sliced plans");
    }

    [Fact]
    public void The_born_machines_lowered_plan_does_not_change_across_forward_calls()
    {
        using var m = NetworkModules.FromFile(Repo.Example("born-machine.tn"), Repo.Set(("n", 8), ("chi", 3)),
            new NetworkBuildOptions { Module = F64 });
        var before = m.Plan.Select(s => (s.Left, s.Right, s.Contraction, s.Kernel, s.Lowering)).ToArray();
        // The planner's tree meets each pixel with the environment over the batch, then the product with the core:
        // lowered as environment·core followed by a gather of each sample's pixel value. Pixels meeting pixels first
        // (at the chain's far end) become broadcast products.
        Assert.True(before.Count(s => s.Lowering is ContractThenGather) >= 2, string.Join(", ", before.Select(s => s.Lowering?.Name ?? "dense")));
        Assert.Equal(before.Count(s => s.Lowering is DeferOneHot), before.Count(s => s.Lowering is ContractThenGather));
        Assert.All(before.Where(s => s.Contraction.Contracted.Count == 0 && s.Lowering is not DeferOneHot), s => Assert.IsType<OuterProduct>(s.Lowering));
        Assert.All(before, s => Assert.Equal(s.Contraction.Fastest, s.Kernel));
        using var rawGenerator = new Generator(1);
        using var raw = randint(0, 2, [5, 8], generator: rawGenerator);
        using var reference = new NetworkModule(m.Spec, m.ExecutionPlan, F64 with { Lower = false });
        for (int call = 0; call < 3; call++)
        {
            using var y = m.forward([raw]);
            using var z = reference.forward([raw]);
            AssertClose(z, y, $"call {call}");
            Assert.Equal(before, m.Plan.Select(s => (s.Left, s.Right, s.Contraction, s.Kernel, s.Lowering)).ToArray());
        }
    }

    [Fact]
    public void Log_scale_execution_with_gathers_equals_the_dense_log_scale()
    {
        using var m = NetworkModules.FromFile(Repo.Example("born-machine.tn"), Repo.Set(("n", 40), ("chi", 4)),
            new NetworkBuildOptions { Module = F64 });
        using var reference = new NetworkModule(m.Spec, m.ExecutionPlan, F64 with { Lower = false });
        using var rawGenerator = new Generator(2);
        using var raw = randint(0, 2, [6, 40], generator: rawGenerator);
        using var a = m.ForwardLog([raw]);
        using var b = reference.ForwardLog([raw]);
        using var la = a.LogAbs();
        using var lb = b.LogAbs();
        AssertClose(lb, la, "log|psi|");
    }

    [Fact]
    public void Class_numbers_outside_the_one_hot_width_are_refused_before_any_gather()
    {
        using var temporaries = NewDisposeScope();
        using var m = NetworkModules.FromFile(Repo.Example("born-machine.tn"), Repo.Set(("n", 4), ("chi", 2)),
            new NetworkBuildOptions { Module = F64 });
        Assert.Contains(m.Plan, s => s.Lowering is OneHotGather);
        using var high = tensor(new long[] { 0, 1, 2, 0 }).reshape(1, 4);
        using var negative = tensor(new long[] { 0, -1, 1, 0 }).reshape(1, 4);
        Assert.Throws<ArgumentException>(() => m.forward([high]));
        Assert.Throws<ArgumentException>(() => m.forward([negative]));
    }

    [Fact]
    public void A_copy_tensor_between_two_bonds_becomes_a_diagonal_and_a_copy_with_two_surviving_legs_stays_dense()
    {
        using var temporaries = NewDisposeScope();
        // Pooling as in examples/convac.tn: δ(c0, c1, z) with c0 and c1 summed against W, z kept: a diagonal of W.
        var n = new NetBuilder("pool");
        int c0 = n.Index("c0", 3), c1 = n.Index("c1", 3), z = n.Index("z", 3), o = n.Index("o", 2);
        n.Tensor("W", Role.Weight, [o, c0, c1], Init.NewNormal(0.0, 1.0));
        n.Tensor("C", Role.Const, [c0, c1, z], Init.Copy);
        var spec = NetworkAdapter.FromFlat(n.Build(z, o));
        using var m = new NetworkModule(spec, [(0, 1)], F64);
        Assert.IsType<CopyDiagonal>(m.Plan[0].Lowering);
        using var y = m.forward([]);
        using var w = m.get_parameter("W")!;
        using var expected = w.diagonal(0, 1, 2).t();
        AssertClose(expected, y, "pooled");

        var n2 = new NetBuilder("spread");
        int a = n2.Index("a", 2), b = n2.Index("b", 2), c = n2.Index("c", 2);
        n2.Tensor("V", Role.Weight, [a], Init.NewNormal(0.0, 1.0));
        n2.Tensor("C", Role.Const, [a, b, c], Init.Copy);
        using var m2 = new NetworkModule(NetworkAdapter.FromFlat(n2.Build(b, c)), [(0, 1)], F64);
        Assert.Null(m2.Plan[0].Lowering);
    }

    /// An MPS over one-hot pixels of <paramref name="width"/> classes (the Born machine's shape, any width).
    const string Mps = """
        network mps(n: int = 12, chi: int = 3, width: int = 3) {
          index batch: dynamic(1000)
          index p[i]: width for i in 0..n-1
          index b[i]: chi   for i in 1..n-1
          input x[i]: (batch, p[i]) for i in 0..n-1 embed onehot(width)
          weight A[0]:   (p[0], b[1])
          weight A[i]:   (b[i], p[i], b[i+1]) for i in 1..n-2
          weight A[n-1]: (b[n-1], p[n-1])
          output (batch)
        }
        """;

    /// The sweep from site 0 in opt_einsum's linear path convention over the tensors x[0..n-1], A[0..n-1]: the
    /// environment meets each pixel (a product the lowering defers), then its core (contract, then gather).
    static List<(int, int)> SweepPath(int n)
    {
        var live = Enumerable.Range(0, 2 * n).Select(k => k < n ? $"x{k}" : $"A{k - n}").ToList();
        var path = new List<(int, int)>();
        void Join(string a, string b, string result)
        {
            int i = live.IndexOf(a), j = live.IndexOf(b);
            path.Add((i, j));
            live.RemoveAt(Math.Max(i, j));
            live.RemoveAt(Math.Min(i, j));
            live.Add(result);
        }
        Join("A0", "x0", "env");
        for (int i = 1; i < n; i++)
        {
            Join("env", $"x{i}", "env·x");
            Join("env·x", $"A{i}", "env");
        }
        return path;
    }

    [Theory]
    [InlineData(40, 3, 2, "random")]
    [InlineData(41, 2, 2, "zeros")]
    [InlineData(33, 3, 2, "ones")]
    [InlineData(40, 3, 3, "random")]
    [InlineData(31, 4, 3, "first")]
    public void Chains_of_one_hot_links_give_the_dense_values_and_gradients(int sites, int chi, int width, string classes)
    {
        using var temporaries = NewDisposeScope();
        var net = Frontend.LoadText("mps.tn", Mps, Repo.Set(("n", sites), ("chi", chi), ("width", width)), null);
        var spec = NetworkAdapter.FromFlat(net);
        // The sweep (the Born trainer's order, which auto picks at chi 30) meets each pixel with the environment (contract-gather steps, chained); greedy's order
        // gathers each core by its pixel first and has no chain.
        foreach (var optimizer in new[] { "sweep", "greedy" })
        {
            var plan = optimizer == "sweep" ? NetworkAdapter.FollowPath(net, SweepPath(sites)) : NetworkAdapter.Plan(net, optimizer, 1000);
            using var lowered = new NetworkModule(spec, plan, F64);
            using var dense = new NetworkModule(spec, plan, F64 with { Lower = false });
            // The planner sweeps the chain from one end or both: at least one chain of two pairs, every link in one.
            var links = lowered.Plan.Select(s => s.Lowering).OfType<ChainLink>().ToList();
            if (optimizer == "sweep")
                Assert.True(links.Count >= sites / 2, $"{optimizer}: {string.Join(", ", lowered.Plan.Select(s => s.Lowering?.Name ?? "dense"))}");
            Assert.All(links.GroupBy(l => l.Chain), g =>
            {
                Assert.Equal(g.Key.Length, g.Count());
                Assert.Equal(0, g.Key.Length % 2);
                Assert.Equal(Enumerable.Range(0, g.Count()), g.Select(l => l.Position));
            });
            foreach (int batch in new[] { 1, 7 })
            {
                using var rawGenerator = new Generator((ulong)(sites * batch));
                using var raw = classes switch
                {
                    "zeros" => zeros([batch, sites], ScalarType.Int64),
                    "ones" => ones([batch, sites], ScalarType.Int64),
                    // All samples in one class but the first: groups of one and of batch - 1.
                    "first" => FirstInItsOwnClass(batch, sites, width),
                    _ => randint(0, width, [batch, sites], generator: rawGenerator),
                };
                using var wGenerator = new Generator(5);
                using var w = randn([batch], ScalarType.Float64, generator: wGenerator);
                var (y1, g1) = Run(dense, [raw], w);
                var (y2, g2) = Run(lowered, [raw], w);
                AssertClose(y1, y2, $"{optimizer} batch {batch} value");
                foreach (var (name, g) in g1)
                    AssertClose(g, g2[name], $"{optimizer} batch {batch} gradient of {name}");
            }
        }
    }

    [Fact]
    public void In_log_scale_chain_links_run_step_by_step_and_the_cost_model_declines_wide_legs_and_tiny_batches()
    {
        var net = Frontend.LoadText("mps.tn", Mps, Repo.Set(("n", 40), ("chi", 3), ("width", 2)), null);
        var spec = NetworkAdapter.FromFlat(net);
        using var m = new NetworkModule(spec, NetworkAdapter.FollowPath(net, SweepPath(40)), F64);
        using var log = new NetworkModule(spec, m.ExecutionPlan, F64 with { LogScale = true });
        using var dense = new NetworkModule(spec, m.ExecutionPlan, F64 with { LogScale = true, Lower = false });
        Assert.Contains(log.Plan, s => s.Lowering is ChainLink);
        using var rawGenerator = new Generator(4);
        using var raw = randint(0, 2, [6, 40], generator: rawGenerator);
        using var a = log.forward([raw]);
        using var b = dense.forward([raw]);
        using var c = m.forward([raw]);
        AssertClose(b, a, "log-scale");
        AssertClose(b, c, "chained");
        // Two links step by step cost two products of B·χ·Pχ; a pair of the chain B·χ² plus P²·χ³ for the cores and
        // six calls, and the chain twenty calls to sort the rows.
        Assert.True(OneHotChain.Worthwhile(1000, 30, 2, 782));
        Assert.False(OneHotChain.Worthwhile(1000, 30, 64, 782));
        Assert.False(OneHotChain.Worthwhile(1, 30, 2, 782));
        Assert.False(OneHotChain.Worthwhile(1000, 30, 2, 2));
    }
}
