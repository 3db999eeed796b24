using TnDsl.Testing.Torch;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MpsSpecTests;

/// <summary>The hand-written MPS contractions checked against examples/mps.tn.</summary>
public class MpsSpecTests(ITestOutputHelper output)
{
    const string Spec = "mps.tn";

    /// <summary>TorchSharp's native library made loadable on Debian 12 (drop this and TnDsl.Native elsewhere).</summary>
    static MpsSpecTests() => TnDsl.Native.NativeLoader.EnsureLoaded();

    /// <summary>Fixed run seeds keep CI deterministic; drop Replay to draw fresh cases on every run.</summary>
    static readonly SpecCheckOptions Options = new() { Replay = 8 };

    [Fact]
    public void The_correct_contraction_matches_the_spec() =>
        SpecCheck.Contraction(Spec, MpsContractions.Correct, Options);

    [Fact]
    public void The_correct_contraction_matches_the_spec_in_float32() =>
        SpecCheck.Contraction(Spec, MpsContractions.Correct, Options with { DType = ScalarType.Float32 });

    [Fact]
    public void The_correct_contraction_matches_over_wider_ranges() =>
        SpecCheck.Contraction(Spec, MpsContractions.Correct,
            Options with { MaxTest = 20, Ranges = new Dictionary<string, (long, long)> { ["n"] = (2, 8), ["chi"] = (1, 3) } });

    [Fact]
    public void A_transposed_bond_is_caught_and_shrunk_to_a_small_case()
    {
        var e = Assert.Throws<SpecCheckFailedException>(() => SpecCheck.Contraction(Spec, MpsContractions.TransposedBond, Options));
        output.WriteLine(e.Message);
        var p = e.Failure.Case.Parameters.Values.ToDictionary(kv => kv.Item1, kv => kv.Item2);
        Assert.Equal("value", e.Failure.Violation.Oracle);
        Assert.True(p["n"] <= 4, e.Message);
        // The smallest MPS with a middle core and a bond that can be transposed: three sites, bonds of 2.
        Assert.Equal((3L, 2L, 1L), (p["n"], p["chi"], p["d"]));
        Assert.Contains("n=3, d=1, chi=2", e.Message);
        Assert.Contains("Replay = 8", e.Message);
    }

    [Fact]
    public void An_off_by_one_site_is_caught_and_shrunk_to_a_small_case()
    {
        var e = Assert.Throws<SpecCheckFailedException>(() => SpecCheck.Contraction(Spec, MpsContractions.OffByOneSite, Options));
        output.WriteLine(e.Message);
        var p = e.Failure.Case.Parameters.Values.ToDictionary(kv => kv.Item1, kv => kv.Item2);
        Assert.True(p["n"] <= 4, e.Message);
        Assert.Equal(3L, p["n"]);
        Assert.Equal("shape", e.Failure.Violation.Oracle);
        Assert.Contains("n=3", e.Message);
    }
}
