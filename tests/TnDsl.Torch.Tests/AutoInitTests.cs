using TnDsl.Api;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class AutoInitTests(ITestOutputHelper output)
{
    static AutoInitTests() => NativeLoader.EnsureLoaded();

    const string Mps = """
        network mps(n: int = 6, chi: int = 4) {
          index p[i]: 2   for i in 0..n-1
          index b[i]: chi for i in 1..n-1
          weight A[0]:   (p[0], b[1])          init auto
          weight A[i]:   (b[i], p[i], b[i+1])  for i in 1..n-2  init auto
          weight A[n-1]: (b[n-1], p[n-1])      init auto
          output (p[0..n-1])
        }
        """;

    const string MpsWithInputs = """
        network mps_in(n: int = 5, chi: int = 3) {
          index batch: dynamic(16)
          index p[i]: 3   for i in 0..n-1
          index b[i]: chi for i in 1..n-1
          input x[i]: (batch, p[i]) for i in 0..n-1
          weight A[0]:   (p[0], b[1])          init auto
          weight A[i]:   (b[i], p[i], b[i+1])  for i in 1..n-2  init auto
          weight A[n-1]: (b[n-1], p[n-1])      init auto
          output (batch)
        }
        """;

    const string Ttn = """
        network ttn(L: int = 3, chi: int = 3) {
          index p[i]: 2 for i in 0..2^L-1
          index e[l, j]: chi for l in 1..L-1, j in 0..2^(L-l)-1
          weight T[1, j]: (p[2*j], p[2*j+1], e[1, j])            for j in 0..2^(L-1)-1       init auto
          weight T[l, j]: (e[l-1, 2*j], e[l-1, 2*j+1], e[l, j])  for l in 2..L-1, j in 0..2^(L-l)-1  init auto
          weight T[L, 0]: (e[L-1, 0], e[L-1, 1])                 init auto
          output (p[0..2^L-1])
        }
        """;

    const string Peps = """
        network peps(Lx: int = 2, Ly: int = 3, D: int = 2) {
          index p[x, y]: 2 for x in 0..Lx-1, y in 0..Ly-1
          index h[x, y]: D for x in 0..Lx-2, y in 0..Ly-1
          index v[x, y]: D for x in 0..Lx-1, y in 0..Ly-2
          weight T[x, y]: (p[x, y], h[x-1, y] if x > 0, h[x, y] if x < Lx-1, v[x, y-1] if y > 0, v[x, y] if y < Ly-1)
            for x in 0..Lx-1, y in 0..Ly-1  init auto
          output (p[0..Lx-1, 0..Ly-1])
        }
        """;

    [Theory]
    [InlineData("mps", Mps)]
    [InlineData("mps-inputs", MpsWithInputs)]
    [InlineData("ttn", Ttn)]
    [InlineData("peps", Peps)]
    public void Auto_gives_outputs_of_unit_variance_for_unit_variance_inputs(string name, string source)
    {
        const int seeds = 300;
        double sum = 0;
        var net = Frontend.LoadText(name + ".tn", source, null, null);
        var plan = NetworkAdapter.Plan(net, "auto", null);
        for (int seed = 0; seed < seeds; seed++)
        {
            using var scope = NewDisposeScope();
            var m = new NetworkModule(NetworkAdapter.FromFlat(net), plan, new() { DType = ScalarType.Float64, Seed = seed });
            using var inputsGenerator = new Generator((ulong)seed + 1000);
            var inputs = RandomInputs.Make(m, 64, inputsGenerator, ScalarType.Float64);
            sum += ScalarOps.Square(m.forward(inputs)).mean().item<double>();
            m.Dispose();
        }
        double variance = sum / seeds;
        output.WriteLine($"{name}: mean square output over {seeds} seeds = {variance:F3}");
        Assert.InRange(variance, 0.8, 1.2);
    }

    [Fact]
    public void Long_chains_start_near_the_identity_and_keep_unit_scale()
    {
        using var temporaries = NewDisposeScope();
        var chain = MpsWithInputs.Replace("input x[i]: (batch, p[i]) for i in 0..n-1", "input x[i]: (batch, p[i]) for i in 0..n-1  embed onehot(3)");
        var bases = AutoInit.Bases(NetworkAdapter.FromFlat(Frontend.LoadText("mps.tn", chain, Repo.Set(("n", 40), ("chi", 4)), null)));
        Assert.Equal(40, bases.Count);
        // The 38 bulk cores (b, p, b') are identity-shaped; the two ends (p, b) and (b, p) are not (3 ≠ 4).
        Assert.Equal(38, bases.Values.Count(b => b is InitSpec.Sum));
        var few = AutoInit.Bases(NetworkAdapter.FromFlat(Frontend.LoadText("mps.tn", chain, Repo.Set(("n", 20), ("chi", 4)), null)));
        Assert.DoesNotContain(few.Values, b => b is InitSpec.Sum);
        using var m = NetworkModules.FromText("mps.tn", chain, Repo.Set(("n", 40), ("chi", 4)),
            new NetworkBuildOptions { Module = new() { DType = ScalarType.Float64, Seed = 1 } });
        // A bulk core is a multiple of the identity plus small noise: its diagonal dominates.
        using var core = m.get_parameter("A.5")!.detach();
        using var diag = core.select(1, 0).diagonal().abs().mean();
        using var off = ScalarOps.Minus(core.select(1, 0), core.select(1, 0).diagonal().diag()).abs().max();
        Assert.True(off.item<double>() < 0.1 * diag.item<double>());
        // With near-identity cores the 40-site chain of one-hot inputs neither explodes nor vanishes.
        using var inputsGenerator = new Generator(3);
        using var inputs = randint(0, 3, [4096, 40], generator: inputsGenerator);
        using var y = m.forward([inputs]);
        double meanSquare = ScalarOps.Square(y).mean().item<double>();
        output.WriteLine($"40-site near-identity chain: mean square output {meanSquare:g4}");

        Assert.InRange(meanSquare, 0.1, 10);
    }
}
