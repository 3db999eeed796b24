using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>Tests that force collections on another thread run alone: the pressure would slow every other test.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FinaliserPressureCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "finaliser pressure";
}

/// <summary>
/// The code that runs outside any dispose scope (initialisers, module and layer construction, auto initialisation,
/// embeddings) gives the same values while finalisers run in a tight loop on another thread. Before the fix of stop
/// 29's CI crash a temporary tensor could be finalised in the middle of a native call here (a SIGSEGV in libtorch).
/// </summary>
[Collection(FinaliserPressureCollection.Name)]
public class FinaliserRaceTests(ITestOutputHelper output)
{
    static FinaliserRaceTests() => NativeLoader.EnsureLoaded();

    /// Seconds under pressure: long enough for the hot methods to be compiled optimised (tiered compilation keeps an
    /// unoptimised method's locals alive to its end), short enough for CI.
    static readonly TimeSpan Duration = TimeSpan.FromSeconds(4);

    /// Large enough (8 MiB of float64) that libtorch maps the storage on its own pages: a tensor freed mid-call is then
    /// unmapped and the call faults, rather than reading memory that happens to be still there.
    static readonly long[] Shape = [128, 128, 64];

    const string Chain = """
        network chain(n: int = 8, chi: int = 4) {
          index batch: dynamic(16)
          index p[i]: 3   for i in 0..n-1
          index b[i]: chi for i in 1..n-1
          input x[i]: (batch, p[i]) for i in 0..n-1  embed onehot(3)
          weight A[0]:   (p[0], b[1])          init auto
          weight A[i]:   (b[i], p[i], b[i+1])  for i in 1..n-2  init auto
          weight A[n-1]: (b[n-1], p[n-1])      init uniform(-1, 1)
          output (batch)
        }
        """;

    /// A tensor's values, read with the tensor kept alive until they are copied out.
    static double[] Values(Tensor t)
    {
        using var d = t.detach();
        using var f = d.to_type(ScalarType.Float64);
        using var c = f.contiguous();
        var values = c.data<double>().ToArray();
        GC.KeepAlive(t);
        return values;
    }

    static double[] Made(InitSpec init, long[] shape, ulong seed)
    {
        using var g = new Generator(seed);
        using var t = Initializers.Make(init, shape, g);
        return Values(t);
    }

    static double[] Parameters(NetworkModule m) =>
        m.named_parameters().OrderBy(p => p.name, StringComparer.Ordinal).SelectMany(p => Values(p.parameter)).ToArray();

    /// Each case runs outside a dispose scope, as module construction does; the slower module and layer cases run
    /// every fourth round only, so that most of the time goes to the native calls on large tensors.
    static IReadOnlyList<(string Name, bool Slow, Func<double[]> Run)> Cases(Tensor raw, Tensor classes) =>
    [
        ("normal", false, () => Made(new InitSpec.Normal(0.5, 2), Shape, 1)),
        ("uniform", false, () => Made(new InitSpec.Uniform(-1, 3), Shape, 2)),
        ("constant", false, () => Made(new InitSpec.Constant(0.25), Shape, 3)),
        ("identity + normal", false, () => Made(new InitSpec.Sum(new InitSpec.Identity(), new InitSpec.Normal(0, 0.01)), [16, 16, 16], 4)),
        ("orthogonal", false, () => Made(new InitSpec.Orthogonal(), [512, 64], 5)),
        ("trig", false, () => { using var e = Embeddings.Apply(new EmbeddingSpec.Trig(), raw, ScalarType.Float64); return Values(e); }),
        ("fourier", false, () => { using var e = Embeddings.Apply(new EmbeddingSpec.Fourier(5), raw, ScalarType.Float64); return Values(e); }),
        ("legendre", false, () => { using var e = Embeddings.Apply(new EmbeddingSpec.Legendre(4), raw, ScalarType.Float64); return Values(e); }),
        ("onehot", false, () => { using var e = Embeddings.Apply(new EmbeddingSpec.OneHot(3), classes, ScalarType.Float32); return Values(e); }),
        ("auto-initialised module", true, () =>
        {
            using var m = NetworkModules.FromText("chain.tn", Chain, null,
                new NetworkBuildOptions { Optimizer = "greedy", Module = new() { DType = ScalarType.Float64, Seed = 7 } });
            return Parameters(m);
        }),
        ("auto-calibrated layer", true, () =>
        {
            using var layer = Layers.FromSpec(Path.Combine(Repo.Root, "examples", "layers", "mps.tn"), new { n = 6, chi = 4, @out = 4 },
                new LayerOptions { Optimizer = "greedy", DType = ScalarType.Float64, Seed = 8 });
            return Parameters(layer.Network);
        }),
    ];

    [Fact]
    public void Construction_and_initialisation_give_the_same_values_while_finalisers_run_on_another_thread()
    {
        using var g = new Generator(11);
        using var raw = rand([512, 32], ScalarType.Float64, generator: g);
        using var classes = randint(0, 3, [512, 32], generator: g);
        var cases = Cases(raw, classes);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var expected = cases.Select(c => c.Run()).ToArray();
        output.WriteLine($"reference values in {clock.ElapsedMilliseconds} ms");
        int round = 0;
        var (rounds, collections) = FinaliserPressure.Run(Duration, () =>
        {
            for (int k = 0; k < cases.Count; k++)
                if (!cases[k].Slow || round % 4 == 0)
                    Assert.True(expected[k].SequenceEqual(cases[k].Run()), $"{cases[k].Name} changed under finaliser pressure");
            round++;
        });
        output.WriteLine($"{rounds} rounds, {collections} forced collections");
        Assert.True(collections > rounds, "the pressure thread must collect several times a round");
    }
}
