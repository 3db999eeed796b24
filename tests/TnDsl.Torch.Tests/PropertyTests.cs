using TnDsl.Api;
using FsCheck;
using FsCheck.Fluent;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// A random network case: the seed of its construction and a size that bounds it (shrinks towards 1).
public sealed record NetCase(int Seed, int Size)
{
    /// A valid flat network: up to 2 + size/2 tensors of 0–3 legs (dims 1–4), some indices on three or more tensors
    /// (hyperindices), a repeated leg now and then (a trace), a const copy tensor, and a weight tied to another of
    /// the same shape; the output is a random subset of the indices in scrambled order.
    public NetworkView Build()
    {
        var rng = new Random(Seed);
        var n = new NetBuilder($"random{Seed}");
        int tensors = 2 + rng.Next(Size / 2 + 1);
        int indexCount = 1 + rng.Next(Math.Max(2, tensors + Size / 3));
        var dims = Enumerable.Range(0, indexCount).Select(_ => (long)(1 + rng.Next(4))).ToArray();
        var legs = new List<List<int>>();
        for (int t = 0; t < tensors; t++)
        {
            var l = new List<int>();
            int count = rng.Next(4);
            for (int k = 0; k < count; k++)
                l.Add(rng.Next(indexCount));
            if (l.Count == 0)
                l.Add(rng.Next(indexCount));
            legs.Add(l);
        }
        // Keep the naive oracle cheap: the product of all dimensions in use stays small.
        var used = legs.SelectMany(x => x).Distinct().ToList();
        while (used.Aggregate(1L, (a, i) => a * dims[i]) > 20000)
            dims[used.MaxBy(i => dims[i])] -= 1;
        var carriers = used.ToDictionary(i => i, i => legs.Count(l => l.Contains(i)));
        var ids = new Dictionary<int, int>();
        foreach (var i in used.Order())
            ids[i] = n.Index($"i{i}", dims[i], hyper: carriers[i] > 2);
        bool copyMade = false;
        string? tiedTo = null;
        long[]? tiedShape = null;
        for (int t = 0; t < tensors; t++)
        {
            var myLegs = legs[t].Select(i => ids[i]).ToArray();
            var shape = legs[t].Select(i => dims[i]).ToArray();
            if (!copyMade && rng.Next(4) == 0)
            {
                n.Tensor($"C{t}", Role.Const, myLegs, Init.Copy);
                copyMade = true;
            }
            else if (tiedTo is not null && tiedShape!.SequenceEqual(shape) && rng.Next(2) == 0)
                n.Tensor($"W{t}", Role.Weight, myLegs, param: tiedTo);
            else
            {
                n.Tensor($"W{t}", Role.Weight, myLegs, Init.NewNormal(0.0, 1.0));
                tiedTo ??= $"W{t}";
                tiedShape ??= shape;
            }
        }
        var output = used.Where(_ => rng.Next(3) == 0).Select(i => ids[i]).OrderBy(_ => rng.Next()).ToArray();
        return n.Build(output);
    }
}

public class PropertyTests
{
    static PropertyTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 3 };

    static Arbitrary<NetCase> Cases() =>
        Arb.From(
            Gen.Sized(size => Gen.Choose(0, int.MaxValue).Select(seed => new NetCase(seed, Math.Clamp(size, 1, 12)))),
            c => c.Size > 1 ? [c with { Size = c.Size - 1 }, c with { Size = c.Size / 2 }] : []);

    static Dense Oracle(NetworkModule m) =>
        Naive.Contract(m.Spec.Tensors.Select(t => Dense.Of(m.get_parameter(t.Param) ?? m.get_buffer(t.Param)!, t.Legs)).ToList(), m.Spec.Output);

    static bool Close(Dense expected, Tensor actual, double rel)
    {
        var got = Dense.Of(actual, expected.Labels);
        if (!expected.Shape.SequenceEqual(got.Shape))
            return false;
        double scale = Math.Max(1e-300, expected.Data.Max(Math.Abs));
        return expected.Data.Zip(got.Data).All(p => Math.Abs(p.First - p.Second) <= rel * scale);
    }

    [Fact]
    public void Every_optimizers_plan_contracts_random_networks_like_the_naive_sum()
    {
        var optimizers = Planner.OptimizerNames;
        Assert.Contains("auto", optimizers);
        int runs = 0, tensors = 0;
        var property = Prop.ForAll(Cases(), c =>
        {
            var net = c.Build();
            runs++;
            tensors += net.Tensors.Length;
            foreach (var optimizer in optimizers)
            {
                var plan = NetworkAdapter.Plan(net, optimizer, null);
                using var m = new NetworkModule(NetworkAdapter.FromFlat(net), plan, F64);
                using var y = m.forward([]);
                if (!Close(Oracle(m), y, 1e-9))
                    throw new Exception($"{optimizer}: module output differs from the naive contraction for {c}");
            }
            return true;
        });
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), property);
        Assert.Equal(40, runs);
        Assert.True(tensors >= 3 * runs, $"the generator made only {tensors} tensors in {runs} networks");
    }

    [Fact]
    public void Gradients_of_random_networks_match_central_finite_differences()
    {
        var property = Prop.ForAll(Cases(), c =>
        {
            var net = c.Build();
            var plan = NetworkAdapter.Plan(net, "greedy", null);
            using var m = new NetworkModule(NetworkAdapter.FromFlat(net), plan, F64);
            GradCheck.Assert(m, []);
            return true;
        });
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithMaxTest(25), property);
    }
}

/// A float64 gradient check in the manner of torch.autograd.gradcheck: the loss is the output contracted with a
/// fixed random probe; each parameter entry's autograd derivative must match the central finite difference.
static class GradCheck
{
    public static void Assert(NetworkModule m, Tensor[] inputs, double h = 1e-6, double tolerance = 1e-6)
    {
        using var shape = m.forward(inputs);
        using var generator = new Generator(17);
        using var probe = randn(shape.shape, ScalarType.Float64, generator: generator);
        double Loss()
        {
            using var scope = NewDisposeScope();
            return (m.forward(inputs) * probe).sum().item<double>();
        }
        m.zero_grad();
        using (var scope = NewDisposeScope())
            (m.forward(inputs) * probe).sum().backward();
        foreach (var (name, p) in m.named_parameters())
        {
            double[] grad;
            using (var scope = NewDisposeScope())
                grad = p.grad is null ? new double[p.numel()] : p.grad.contiguous().data<double>().ToArray();
            using var detached = p.detach();
            using var flat = detached.view(-1);
            for (long e = 0; e < flat.shape[0]; e++)
            {
                double v;
                using (var entry = flat[e])
                    v = entry.item<double>();
                ScalarOps.Put(flat, v + h, e);
                double up = Loss();
                ScalarOps.Put(flat, v - h, e);
                double down = Loss();
                ScalarOps.Put(flat, v, e);
                double fd = (up - down) / (2 * h);
                if (Math.Abs(fd - grad[e]) > tolerance * Math.Max(1, Math.Abs(fd)))
                    throw new Exception($"{name}[{e}]: autograd {grad[e]}, finite difference {fd}");
            }
        }
    }
}
