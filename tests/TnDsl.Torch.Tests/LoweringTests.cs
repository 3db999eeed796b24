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
        var y = m.forward(inputs);
        var w = weights ?? randn(y.shape, ScalarType.Float64, generator: new Generator(5));
        if (m.parameters().Any())
            (y * w).sum().backward();
        var grads = m.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad is { } g ? g.clone() : zeros_like(p.parameter));
        return (y.detach(), grads);
    }

    static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double scale = Math.Max(1e-300, expected.numel() == 0 ? 0 : expected.abs().max().item<double>());
        double err = expected.numel() == 0 ? 0 : (expected - actual).abs().max().item<double>();
        Assert.True(err <= 1e-12 * Math.Max(1, scale), $"{what}: lowered and dense differ by {err} (scale {scale})");
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
            var inputs = RandomInputs.Make(lowered, 3, new Generator((ulong)seed), ScalarType.Float64);
            var (y1, g1) = Run(lowered, inputs, null);
            using var w = randn(y1.shape, ScalarType.Float64, generator: new Generator(5));
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
            using var raw = randint(0, 2, [4, sites], generator: new Generator((ulong)seed));
            using var w = randn([4], ScalarType.Float64, generator: new Generator(5));
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
        using var raw = randint(0, 2, [5, 8], generator: new Generator(1));
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
        using var raw = randint(0, 2, [6, 40], generator: new Generator(2));
        using var a = m.ForwardLog([raw]);
        using var b = reference.ForwardLog([raw]);
        using var la = a.LogAbs();
        using var lb = b.LogAbs();
        AssertClose(lb, la, "log|psi|");
    }

    [Fact]
    public void Class_numbers_outside_the_one_hot_width_are_refused_before_any_gather()
    {
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
}
