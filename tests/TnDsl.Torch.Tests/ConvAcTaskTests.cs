using TnDsl.Studies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>
/// The ConvAC study's long-range task is only informative if its label, as a matrix across left|right, has rank above
/// wide-bottom's min-cut bound and at most wide-top's. These tests enumerate the task's inputs to compute that rank.
/// </summary>
public class ConvAcTaskTests
{
    static ConvAcTaskTests() => NativeLoader.EnsureLoaded();

    /// <summary>
    /// Labels of the long-range task over all 4^3 × 4^3 symbol choices at its left and right positions (rows: left
    /// symbols, columns: right symbols), the other 10 positions filled from <paramref name="seed"/>.
    /// </summary>
    static Tensor LabelMatrix(int seed)
    {
        var left = ConvAcStudy.LongRangePairs.Select(p => p.Item1).ToArray();
        var right = ConvAcStudy.LongRangePairs.Select(p => p.Item2).ToArray();
        int n = 64 * 64;
        var symbols = randint(0, 4, [n, 16], generator: new Generator((ulong)seed));
        for (int row = 0; row < 64; row++)
            for (int col = 0; col < 64; col++)
                for (int k = 0; k < 3; k++)
                {
                    symbols[row * 64 + col, left[k]] = (row >> (2 * k)) & 3;
                    symbols[row * 64 + col, right[k]] = (col >> (2 * k)) & 3;
                }
        var label = ConvAcStudy.Tasks.Single(t => t.Name == "long-range").Label;
        return label(symbols).to_type(ScalarType.Float64).reshape(64, 64);
    }

    [Fact]
    public void the_long_range_label_has_left_right_rank_seven_between_the_two_bounds()
    {
        using var m = LabelMatrix(1);
        long rank = linalg.matrix_rank(m).item<long>();
        // Independent oracle: the label is OR_k (x_k AND y_k) of the 3 left and 3 right parity bits. Its 8 × 8 matrix
        // is J − D, D = [[1,1],[1,0]]^⊗3 invertible, 1ᵀD⁻¹1 = (1ᵀ[[0,1],[1,−1]]1)^3 = 1, so J − D is singular with
        // rank 7; the symbol matrix only repeats those rows and columns (4 symbols per bit).
        var bits = zeros(8, 8, ScalarType.Float64);
        for (int x = 0; x < 8; x++)
            for (int y = 0; y < 8; y++)
                bits[x, y] = (x & y) != 0 ? 1.0 : 0.0;
        Assert.Equal(7, linalg.matrix_rank(bits).item<long>());
        Assert.Equal(7, rank);
        var wideBottom = ConvAcStudy.Bounds(ConvAcStudy.Profiles.Single(p => p.Name == "wide-bottom"));
        var wideTop = ConvAcStudy.Bounds(ConvAcStudy.Profiles.Single(p => p.Name == "wide-top"));
        // Wide-bottom's score has rank ≤ its bound; the output bias adds at most 1 more.
        Assert.True(rank > (long)wideBottom.LeftRight + 1, $"rank {rank} vs wide-bottom bound {wideBottom.LeftRight}");
        Assert.True(rank <= (long)wideTop.LeftRight, $"rank {rank} vs wide-top bound {wideTop.LeftRight}");
    }

    [Fact]
    public void the_long_range_label_depends_only_on_its_six_positions_and_is_balanced()
    {
        using var a = LabelMatrix(1);
        using var b = LabelMatrix(2);
        Assert.True(a.equal(b), "label changed with the 10 other positions");
        // P(some pair has both parity bits set) = 1 − (1 − 1/4)^3 = 37/64, exactly, over the full enumeration.
        Assert.Equal(37.0 / 64.0, a.mean().item<double>(), 12);
    }
}
