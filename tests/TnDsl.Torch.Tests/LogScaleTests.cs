using TnDsl.Api;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class LogScaleTests
{
    static LogScaleTests() => NativeLoader.EnsureLoaded();

    /// A born-machine-shaped MPS: open ends, one-hot inputs x[i] on every site, output (batch).
    static NetworkView BornMps(int sites, long chi, double std)
    {
        var n = new NetBuilder("born");
        int b = n.Index("batch", 4, dynamic: true, hyper: true);
        var p = Enumerable.Range(0, sites).Select(i => n.Index($"p[{i}]", 2)).ToArray();
        var v = Enumerable.Range(0, sites - 1).Select(i => n.Index($"v[{i}]", chi)).ToArray();
        for (int i = 0; i < sites; i++)
        {
            int[] legs = i == 0 ? [p[0], v[0]] : i == sites - 1 ? [v[i - 1], p[i]] : [v[i - 1], p[i], v[i]];
            n.Tensor($"A[{i}]", Role.Weight, legs, Init.NewNormal(0.0, std), param: $"A.{i}", family: "A", subscripts: [i]);
        }
        for (int i = 0; i < sites; i++)
            n.Tensor($"x[{i}]", Role.Input, [b, p[i]], embedding: Embedding.NewOneHot(2), param: $"x.{i}", family: "x", subscripts: [i]);
        return n.Build(b);
    }

    /// The sweep x0.A0, then (env.A[i]).x[i] site by site, as linear pairs.
    static (int, int)[] Sweep(int sites)
    {
        var ids = Enumerable.Range(0, 2 * sites).ToList();
        var path = new List<(int, int)>();
        int next = 2 * sites;
        void Join(int a, int c)
        {
            path.Add((ids.IndexOf(a), ids.IndexOf(c)));
            ids.Remove(a);
            ids.Remove(c);
            ids.Add(next++);
        }
        Join(sites, 0);
        for (int i = 1; i < sites; i++)
        {
            Join(next - 1, i);
            Join(next - 1, sites + i);
        }
        return path.ToArray();
    }

    /// log|psi| per sample by a hand loop in float64 that renormalises a row vector after every site.
    static (double Log, int Sign)[] Reference(NetworkModule m, long[,] bits, int sites, long chi)
    {
        var cores = Enumerable.Range(0, sites).Select(i => Dense.Of(m.get_parameter($"A.{i}")!, [])).ToArray();
        var result = new (double, int)[bits.GetLength(0)];
        for (int s = 0; s < bits.GetLength(0); s++)
        {
            var vec = new double[chi];
            for (int r = 0; r < chi; r++)
                vec[r] = cores[0][[bits[s, 0], r]];
            double log = 0;
            for (int i = 1; i < sites; i++)
            {
                bool last = i == sites - 1;
                var next = new double[last ? 1 : chi];
                for (int r = 0; r < next.Length; r++)
                    for (int l = 0; l < chi; l++)
                        next[r] += vec[l] * (last ? cores[i][[l, bits[s, i]]] : cores[i][[l, bits[s, i], r]]);
                double max = next.Max(Math.Abs);
                vec = next.Select(x => x / max).ToArray();
                log += Math.Log(max);
            }
            result[s] = (log + Math.Log(Math.Abs(vec[0])), Math.Sign(vec[0]));
        }
        return result;
    }

    [Theory]
    [InlineData(4.0, ScalarType.Float64)]
    [InlineData(0.05, ScalarType.Float64)]
    [InlineData(4.0, ScalarType.Float32)]
    [InlineData(0.05, ScalarType.Float32)]
    public void A_784_site_mps_that_overflows_or_underflows_has_finite_log_amplitudes(double std, ScalarType dtype)
    {
        using var temporaries = NewDisposeScope();
        const int sites = 784;
        const long chi = 3;
        var net = BornMps(sites, chi, std);
        using var m = NetworkAdapter.ToModule(net, Sweep(sites), new NetworkModuleOptions { DType = dtype, Seed = 5 });
        var rng = new Random(2);
        var bits = new long[4, sites];
        for (int s = 0; s < 4; s++)
            for (int i = 0; i < sites; i++)
                bits[s, i] = rng.Next(2);
        using var raw = tensor(bits);
        using var plain = m.forward([raw]);
        using var plain64 = plain.to_type(ScalarType.Float64);
        var values = plain64.data<double>().ToArray();
        // The plain forward cannot represent these amplitudes.
        Assert.All(values, x => Assert.True(double.IsInfinity(x) || double.IsNaN(x) || x == 0, $"plain forward gave {x}"));

        using var scaled = m.ForwardLog([raw]);
        Assert.Equal([4L], scaled.Value.shape);
        Assert.Equal([4L], scaled.LogScale.shape);
        using var logAbs = scaled.LogAbs().to_type(ScalarType.Float64);
        using var sign = scaled.Value.sign().to_type(ScalarType.Float64);
        var got = logAbs.data<double>().ToArray();
        var signs = sign.data<double>().ToArray();
        var expected = Reference(m, bits, sites, chi);
        double tolerance = dtype == ScalarType.Float64 ? 1e-9 : 1e-3;
        for (int s = 0; s < 4; s++)
        {
            Assert.True(double.IsFinite(got[s]));
            Assert.True(Math.Abs(got[s] - expected[s].Log) <= tolerance * Math.Abs(expected[s].Log),
                $"sample {s}: log|psi| {got[s]}, reference {expected[s].Log}");
            Assert.Equal(expected[s].Sign, (int)signs[s]);
        }
    }

    /// A network whose batch label is summed inside (x[b, i] W[i, j] c[b] -> j) next to one that keeps it.
    static NetworkView SummedBatch()
    {
        var n = new NetBuilder("summed");
        int b = n.Index("b", 3, dynamic: true, hyper: true);
        int i = n.Index("i", 4), j = n.Index("j", 2), k = n.Index("k", 3);
        n.Tensor("x", Role.Input, [b, i]);
        n.Tensor("W", Role.Weight, [i, k], Init.NewNormal(0.0, 2.0));
        n.Tensor("V", Role.Weight, [k, j], Init.NewNormal(0.0, 2.0));
        n.Tensor("c", Role.Input, [b]);
        return n.Build(j);
    }

    static Tensor Randn(long[] shape, ulong seed)
    {
        using var generator = new Generator(seed);
        return randn(shape, ScalarType.Float64, generator: generator);
    }

    [Fact]
    public void Log_scale_execution_equals_plain_execution_where_both_are_finite_including_summed_batch_labels()
    {
        using var temporaries = NewDisposeScope();
        foreach (var (net, feed) in new (NetworkView, Func<Tensor[]>)[]
        {
            (SummedBatch(), () => [ScalarOps.Times(Randn([5, 4], 1), 100L), ScalarOps.Times(Randn([5], 2), 1e-3)]),
            (BornMps(9, 3, 1.5), () =>
            {
                using var generator = new Generator(3);
                return [randint(0, 2, [6, 9], generator: generator)];
            }),
        })
        {
            foreach (var seed in new[] { 1, 2, 3 })
            {
                var path = NetBuilder.RandomPath(net.Tensors.Length, new Random(seed));
                var options = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = seed };
                using var m = NetworkAdapter.ToModule(net, path, options);
                using var logged = NetworkAdapter.ToModule(net, path, options with { LogScale = true });
                var inputs = feed();
                using var y = m.forward(inputs);
                using var z = logged.forward(inputs);
                using var scaled = m.ForwardLog(inputs);
                using var w = scaled.Value * scaled.ExpandedLogScale().exp();
                Assert.True(y.allclose(z, rtol: 1e-10, atol: 0), $"{net.Name}, path {seed}: LogScale forward differs");
                Assert.True(y.allclose(w, rtol: 1e-10, atol: 0), $"{net.Name}, path {seed}: ForwardLog differs");
                // Gradients are the same through the rescaled steps.
                using (var s1 = NewDisposeScope())
                    ScalarOps.Square(m.forward(inputs)).sum().backward();
                using (var s2 = NewDisposeScope())
                    ScalarOps.Square(logged.forward(inputs)).sum().backward();
                foreach (var name in m.ParameterNames)
                    Assert.True(m.get_parameter(name)!.grad!.allclose(logged.get_parameter(name)!.grad!, rtol: 1e-9, atol: 1e-12), $"gradient of {name}");
                foreach (var t in inputs)
                    t.Dispose();
            }
        }
    }

    [Fact]
    public void A_log_scale_training_loop_leaks_no_tensors()
    {
        using var temporaries = NewDisposeScope();
        var net = BornMps(12, 3, 1.0);
        using var m = NetworkAdapter.ToModule(net, Sweep(12), new NetworkModuleOptions { LogScale = true });
        using var opt = new Sgd(m.parameters(), 0.01);
        using var rawGenerator = new Generator(9);
        using var raw = randint(0, 2, [5, 12], generator: rawGenerator);
        LeakCheck.AssertTrainingStepsLeakNothing(opt, () =>
        {
            using var scaled = m.ForwardLog([raw]);
            return ScalarOps.Plus(scaled.LogAbs().sum(), ScalarOps.Square(m.forward([raw])).sum());
        });
    }
}
