using TnDsl.Studies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies.Tests;

/// <summary>
/// The ConvAC study's earlier long-range task ("band", kept for comparison): its label, as a matrix across left|right,
/// has rank above wide-bottom's min-cut bound and at most wide-top's, yet it is the sign of a rank-3 score. These tests
/// enumerate the task's inputs to compute that rank; the symmetry test applies to every task.
/// </summary>
public class ConvAcTaskTests
{
    static ConvAcTaskTests() => NativeLoader.EnsureLoaded();

    static Func<Tensor, Tensor> Band => ConvAcTasks.BandTask.Label;

    /// <summary>
    /// Labels over every parity pattern of the left half (rows, 2^8) and of the right half (columns, 2^8); each
    /// position's symbol is its parity bit plus 2 · a random bit from <paramref name="seed"/>, so all 4 symbols occur.
    /// </summary>
    static Tensor LabelMatrix(int seed)
    {
        using var scope = NewDisposeScope();
        var rows = Arange(256, ScalarType.Int64).unsqueeze(1).expand(256, 256).reshape(-1, 1);
        var cols = Arange(256, ScalarType.Int64).unsqueeze(0).expand(256, 256).reshape(-1, 1);
        var shifts = Arange(8, ScalarType.Int64).unsqueeze(0);
        var bits = cat([rows.bitwise_right_shift(shifts).bitwise_and(1), cols.bitwise_right_shift(shifts).bitwise_and(1)], 1);
        using var symbolsGenerator = new Generator((ulong)seed);
        var symbols = Plus(bits, Times(randint(0, 2, bits.shape, generator: symbolsGenerator), 2L));
        return Band(symbols).to_type(ScalarType.Float64).reshape(256, 256).MoveToOuterDisposeScope();
    }

    [Fact]
    public void the_task_names_the_command_line_lists_are_the_tasks_names_in_order()
    {
        Assert.Equal(ConvAcTasks.All.Select(t => t.Name), ConvAcTaskNames.All);
    }

    [Fact]
    public void the_band_label_has_left_right_rank_between_the_two_bounds()
    {
        using var temporaries = NewDisposeScope();
        using var m = LabelMatrix(1);
        long rank = linalg.matrix_rank(m).item<long>();
        // Independent oracle: the label only depends on the counts a, b ∈ 0..8 of odd symbols per half, so its rank is
        // that of the 9 × 9 band matrix [|a − b| ≤ Band], built here directly.
        var band = zeros(9, 9, ScalarType.Float64);
        for (int a = 0; a < 9; a++)
            for (int b = 0; b < 9; b++)
                band[a, b] = Math.Abs(a - b) <= ConvAcTasks.Band ? 1.0 : 0.0;
        Assert.Equal(linalg.matrix_rank(band).item<long>(), rank);
        Assert.Equal(8, rank);
        var wideBottom = ConvAcStudy.Bounds(ConvAcStudy.Profiles.Single(p => p.Name == "wide-bottom"));
        var wideTop = ConvAcStudy.Bounds(ConvAcStudy.Profiles.Single(p => p.Name == "wide-top"));
        // Wide-bottom's class scores have rank ≤ its bound across left|right; the output bias adds at most 1 more.
        Assert.True(rank > (long)wideBottom.LeftRight + 1, $"rank {rank} vs wide-bottom bound {wideBottom.LeftRight}");
        Assert.True(rank <= (long)wideTop.LeftRight, $"rank {rank} vs wide-top bound {wideTop.LeftRight}");
    }

    [Fact]
    public void the_band_label_depends_only_on_parities_and_its_balance_matches_the_binomial_law()
    {
        using var temporaries = NewDisposeScope();
        using var a = LabelMatrix(1);
        using var b = LabelMatrix(2);
        Assert.True(a.allclose(b, 0, 0), "label changed with the high bit of the symbols");
        // Exact positive rate over all 2^16 parity patterns: sum over |i − j| ≤ Band of C(8,i) C(8,j) / 2^16.
        double[] choose = [1, 8, 28, 56, 70, 56, 28, 8, 1];
        double expected = 0;
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 9; j++)
                if (Math.Abs(i - j) <= ConvAcTasks.Band)
                    expected += choose[i] * choose[j] / 65536.0;
        Assert.Equal(expected, a.mean().item<double>(), 12);
        Assert.InRange(expected, 0.7, 0.85);
    }

    /// <summary>Output of a ConvAC layer (random weights) on inputs whose positions are permuted by <paramref name="order"/>.</summary>
    static Tensor Permuted(SpecLayer layer, Tensor x, int[] order)
    {
        using var columns = tensor(order.SelectMany(j => Enumerable.Range(4 * j, 4)).Select(c => (long)c).ToArray());
        using var permuted = x.index_select(1, columns);
        return layer.forward(permuted);
    }

    [Fact]
    public void a_convac_is_invariant_under_swapping_the_children_of_a_pooling_node_but_not_under_other_swaps()
    {
        // Why position-specific labels are out of reach of every width profile: shared 1x1 convolutions and the
        // symmetric product pooling make the function invariant under the pooling tree's child swaps.
        var overrides = new Dictionary<string, object> { ["M"] = 4, ["r0"] = 3, ["r1"] = 3, ["r2"] = 3, ["r3"] = 3, ["Y"] = 2 };
        using var layer = Layers.FromSpec(Specs.Example("layers/convac.tn"), overrides, new LayerOptions { DType = ScalarType.Float64, Seed = 3 });
        using var xGenerator = new Generator(4);
        using var x = rand([6, 64], ScalarType.Float64, generator: xGenerator);
        var identity = Enumerable.Range(0, 16).ToArray();
        using var y = Permuted(layer, x, identity);
        int[] swapChildren = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        int[] swapHalves = [.. Enumerable.Range(8, 8), .. Enumerable.Range(0, 8)];
        int[] swapAcross = [0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        using var a = Permuted(layer, x, swapChildren);
        using var b = Permuted(layer, x, swapHalves);
        using var c = Permuted(layer, x, swapAcross);
        Assert.True(a.allclose(y, 1e-9, 1e-12), "swapping positions 0 and 1 changed the output");
        Assert.True(b.allclose(y, 1e-9, 1e-12), "swapping the halves changed the output");
        Assert.False(c.allclose(y, 1e-6, 1e-9), "swapping positions 1 and 2 (different pooling pairs) left the output unchanged");
    }

    [Fact]
    public void the_band_label_is_the_sign_of_a_rank_three_score_within_wide_bottoms_reach()
    {
        using var temporaries = NewDisposeScope();
        // The min-cut bounds the rank of the score, not of its sign: with λ = 1,
        // f(a, b) = e^(a−b) + e^(b−a) − 2 cosh(Band + 1/2) = e^a·e^(−b) + e^(−a)·e^b − const
        // is two products plus a constant (what wide-bottom's 2 top channels and output bias provide, and what product
        // pooling computes per half as Π_i e^(±bit_i)), and f < 0 exactly where |a − b| ≤ Band.
        var f = zeros(9, 9, ScalarType.Float64);
        double threshold = 2 * Math.Cosh(ConvAcTasks.Band + 0.5);
        for (int a = 0; a < 9; a++)
            for (int b = 0; b < 9; b++)
            {
                f[a, b] = Math.Exp(a - b) + Math.Exp(b - a) - threshold;
                Assert.Equal(Math.Abs(a - b) <= ConvAcTasks.Band, Math.Exp(a - b) + Math.Exp(b - a) - threshold < 0);
            }
        Assert.Equal(3, linalg.matrix_rank(f).item<long>());
    }
}
