using TnDsl.Studies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Studies.Tests;

/// <summary>
/// The ConvAC study's long-range task (a planted rank-4 form across left|right): its label against a scalar
/// re-implementation of the definition, its symmetry under the pooling swaps, an explicit wide-top network that computes
/// it exactly, and the certificates that no network of wide-bottom's bound can (shattering + Cover's count; Forster).
/// </summary>
public class ConvAcPlantedTests
{
    static ConvAcPlantedTests() => NativeLoader.EnsureLoaded();

    /// <summary>The definition, written out by hand: u1..u4 from the four pair products of one half.</summary>
    static long[] Features(IReadOnlyList<int> half)
    {
        var x = new long[4];
        for (int j = 0; j < 4; j++)
            x[j] = (2L * half[2 * j] - 3) * (2L * half[2 * j + 1] - 3);
        long u1 = x.Sum();
        long u2 = x[0] * x[1] + x[2] * x[3];
        long u3 = x[0] * x[2] + x[0] * x[3] + x[1] * x[2] + x[1] * x[3];
        long u4 = 0;
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++)
                for (int c = b + 1; c < 4; c++)
                    u4 += x[a] * x[b] * x[c];
        return [u1, u2, u3, u4];
    }

    /// <summary>The label by hand: 625 u1 u1' + 50 u2 u2' − 25 u3 u3' − u4 u4' &gt; 0.</summary>
    static (long Score, int Label) Oracle(IReadOnlyList<int> sequence)
    {
        var l = Features(sequence.Take(8).ToArray());
        var r = Features(sequence.Skip(8).ToArray());
        long score = 625 * l[0] * r[0] + 50 * l[1] * r[1] - 25 * l[2] * r[2] - l[3] * r[3];
        return (score, score > 0 ? 1 : 0);
    }

    static int[][] RandomSequences(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, 16).Select(_ => random.Next(4)).ToArray()).ToArray();
    }

    static Tensor Symbols(int[][] rows) =>
        torch.tensor(rows.SelectMany(r => r.Select(s => (long)s)).ToArray(), [rows.Length, 16]);

    [Fact]
    public void the_long_range_label_and_score_equal_their_definition()
    {
        using var temporaries = NewDisposeScope();
        var rows = RandomSequences(3000, 5);
        using var symbols = Symbols(rows);
        var labels = ConvAcTasks.Planted(symbols).data<long>().ToArray();
        var scores = ConvAcTasks.PlantedScore(symbols).data<double>().ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            var (score, label) = Oracle(rows[i]);
            Assert.Equal(score, scores[i]);
            Assert.Equal(label, labels[i]);
        }
        double positive = labels.Average();
        Assert.InRange(positive, 0.45, 0.55);
        Assert.Same(ConvAcTasks.LongRange, ConvAcStudy.SelectTasks(["long-range"])[0]);
    }

    [Fact]
    public void the_planted_weights_are_the_signed_inverse_variances_of_uncorrelated_features()
    {
        // Exhaustive over all 4^8 halves: E[u_k u_l] is diagonal and 62 500 / E[u_k²] is |w_k|.
        var moments = new double[4, 4];
        var half = new int[8];
        for (int code = 0; code < 65536; code++)
        {
            for (int k = 0; k < 8; k++)
                half[k] = (code >> (2 * k)) & 3;
            var u = Features(half);
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    moments[a, b] += (double)u[a] * u[b] / 65536;
        }
        int[] signs = [1, 1, -1, -1];
        for (int a = 0; a < 4; a++)
        {
            for (int b = 0; b < 4; b++)
                if (a != b) Assert.Equal(0, moments[a, b], 9);
            Assert.Equal(signs[a] * 62500 / moments[a, a], ConvAcTasks.PlantedWeights[a], 9);
        }
    }

    /// <summary>Positions permuted by swapping the two children (subtrees of 2^level positions) of pooling node (level, j).</summary>
    static int[] Swap(int[] sequence, int level, int j)
    {
        int size = 1 << level;
        var result = (int[])sequence.Clone();
        for (int k = 0; k < size; k++)
        {
            result[2 * j * size + k] = sequence[(2 * j + 1) * size + k];
            result[(2 * j + 1) * size + k] = sequence[2 * j * size + k];
        }
        return result;
    }

    [Fact]
    public void the_long_range_label_is_invariant_under_every_pooling_swap_but_not_under_other_swaps()
    {
        using var temporaries = NewDisposeScope();
        var rows = RandomSequences(400, 6);
        using var symbols = Symbols(rows);
        var labels = ConvAcTasks.Planted(symbols).data<long>().ToArray();
        for (int level = 0; level < 4; level++)
            for (int j = 0; j < 16 >> (level + 1); j++)
            {
                using var swapped = Symbols(rows.Select(r => Swap(r, level, j)).ToArray());
                Assert.Equal(labels, ConvAcTasks.Planted(swapped).data<long>().ToArray());
            }
        // Positions 1 and 2 sit in different pairs: swapping them is no symmetry of the pooling tree, and changes labels.
        using var across = Symbols(rows.Select(r => { var c = (int[])r.Clone(); (c[1], c[2]) = (c[2], c[1]); return c; }).ToArray());
        Assert.NotEqual(labels, ConvAcTasks.Planted(across).data<long>().ToArray());
    }

    static SpecLayer Layer(ConvAcProfile profile) =>
        Layers.FromSpec(Specs.Example("layers/convac.tn"), ConvAcStudy.Overrides(profile), new LayerOptions { DType = ScalarType.Float64, Seed = 2 });

    [Fact]
    public void wide_top_with_the_planted_weights_computes_the_long_range_score_exactly()
    {
        using var temporaries = NewDisposeScope();
        var wideTop = ConvAcStudy.Profiles.Single(p => p.Name == "wide-top");
        using var layer = Layer(wideTop);
        ConvAcCertificates.PlantLongRange(layer);
        var rows = RandomSequences(2000, 7);
        using var symbols = Symbols(rows);
        using var x = ConvAcTasks.OneHot(symbols).to_type(ScalarType.Float64);
        using var y = layer.forward(x);
        var scores = y.data<double>().ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            var (score, label) = Oracle(rows[i]);
            Assert.Equal(0.0, scores[2 * i]);
            Assert.Equal(score, scores[2 * i + 1], 6);
            Assert.Equal(label, scores[2 * i + 1] > scores[2 * i] ? 1 : 0);
        }
        // Wide-bottom's top (r3 = 2) cannot hold the four products the planted head weighs.
        using var narrow = Layer(ConvAcStudy.Profiles.Single(p => p.Name == "wide-bottom"));
        Assert.Throws<ArgumentException>(() => ConvAcCertificates.PlantLongRange(narrow));
    }

    [Fact]
    public void four_shattered_left_halves_put_the_long_range_label_beyond_wide_bottoms_bound_and_within_wide_tops()
    {
        var witness = ConvAcCertificates.FindShattered();
        Assert.NotNull(witness);
        Assert.Equal(4, witness.Left.Length);
        var patterns = new HashSet<int>();
        for (int c = 0; c < witness.Right.Length; c++)
        {
            int pattern = 0;
            for (int i = 0; i < 4; i++)
            {
                var (_, label) = Oracle([.. witness.Left[i], .. witness.Right[c]]);
                Assert.Equal(label, witness.Labels[i, c]);
                pattern |= label << i;
            }
            patterns.Add(pattern);
        }
        Assert.Equal(16, patterns.Count);
        // A network with left|right bound B plus an output bias has prediction sign-rank ≤ B + 1.
        var wideBottom = ConvAcStudy.Bounds(ConvAcStudy.Profiles.Single(p => p.Name == "wide-bottom"));
        var wideTop = ConvAcStudy.Bounds(ConvAcStudy.Profiles.Single(p => p.Name == "wide-top"));
        Assert.True(ConvAcCertificates.CoverRegions(4, (int)wideBottom.LeftRight + 1) < 16);
        Assert.True(wideTop.LeftRight >= ConvAcTasks.PlantedWeights.Length);
    }

    [Fact]
    public void cover_counts_match_counted_regions_of_random_arrangements()
    {
        // Oracle: sign patterns of 4 random vectors of R^d against many random directions, counted directly.
        var random = new Random(9);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        foreach (int d in new[] { 1, 2, 3, 4 })
        {
            var a = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, d).Select(_ => Gauss()).ToArray()).ToArray();
            var seen = new HashSet<int>();
            for (int s = 0; s < 400000; s++)
            {
                var c = Enumerable.Range(0, d).Select(_ => Gauss()).ToArray();
                int pattern = 0;
                for (int i = 0; i < 4; i++)
                    if (a[i].Zip(c, (p, q) => p * q).Sum() > 0) pattern |= 1 << i;
                seen.Add(pattern);
            }
            Assert.Equal(seen.Count, ConvAcCertificates.CoverRegions(4, d));
        }
    }

    static double[,] Sylvester(int n)
    {
        var h = new double[1, 1] { { 1 } };
        while (h.GetLength(0) < n)
        {
            int m = h.GetLength(0);
            var next = new double[2 * m, 2 * m];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++)
                {
                    next[i, j] = next[i, j + m] = next[i + m, j] = h[i, j];
                    next[i + m, j + m] = -h[i, j];
                }
            h = next;
        }
        return h;
    }

    [Fact]
    public void forster_bound_of_a_sylvester_hadamard_matrix_is_its_square_root_size()
    {
        // Closed form: H Hᵀ = N I, so ‖H‖₂ = √N and Forster's bound is N / √N = √N (4 for N = 16).
        foreach (int n in new[] { 4, 16, 64 })
        {
            var h = Sylvester(n);
            Assert.Equal(Math.Sqrt(n), ConvAcCertificates.SpectralNorm(h), 6);
            Assert.Equal(Math.Sqrt(n), ConvAcCertificates.ForsterBound(h), 6);
        }
        // A random ±1 matrix: power iteration against libtorch's SVD-based 2-norm.
        var random = new Random(3);
        var m = new double[20, 30];
        for (int i = 0; i < 20; i++)
            for (int j = 0; j < 30; j++)
                m[i, j] = random.Next(2) == 0 ? -1 : 1;
        using var t = torch.tensor(m.Cast<double>().ToArray(), [20, 30]);
        // The largest singular value (matrix_norm(t, 2) failed once in CI with libtorch's "Unknown scalar type": the
        // order travels as a Scalar TorchSharp makes and may release early).
        using var singular = linalg.svdvals(t);
        using var norm = singular.max();
        Assert.Equal(norm.item<double>(), ConvAcCertificates.SpectralNorm(m, 2000), 6);
    }

    [Fact]
    public void wide_tops_left_right_rank_is_six_below_its_min_cut_of_eight()
    {
        using var temporaries = NewDisposeScope();
        // Weight sharing and symmetric pooling: with r0 = 2 a pair spans 2 functions, a quad the 3 symmetric products,
        // a half the 6 symmetric products of those, so every class score has left|right rank ≤ 6 < min-cut 8.
        var wideTop = ConvAcStudy.Profiles.Single(p => p.Name == "wide-top");
        using var layer = Layer(wideTop);
        var halves = RandomSequences(120, 11).Select(r => r.Take(8).ToArray()).ToArray();
        var rows = halves.SelectMany(l => halves.Select(r => l.Concat(r).ToArray())).ToArray();
        using var symbols = Symbols(rows);
        using var x = ConvAcTasks.OneHot(symbols).to_type(ScalarType.Float64);
        using var y = layer.forward(x);
        using var scores = y[TensorIndex.Colon, 1].reshape(120, 120);
        using var singular = linalg.svdvals(scores);
        var s = singular.data<double>().ToArray();
        long rank = s.Count(v => v > s[0] * 1e-9);
        Assert.Equal(6, rank);
        Assert.True(rank < (long)ConvAcStudy.Bounds(wideTop).LeftRight);
    }
}
