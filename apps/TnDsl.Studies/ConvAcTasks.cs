using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>A synthetic task of the ConvAC study: its name, the partition its correlations straddle, and its label.</summary>
/// <param name="Name">Short name used on the command line and in tables.</param>
/// <param name="Partition">The partition of the 16 positions its label needs correlations across.</param>
/// <param name="Label">Symbols (n, 16) in 0..3 → labels (n) in {0, 1}.</param>
public sealed record ConvAcTask(string Name, string Partition, Func<Tensor, Tensor> Label);

/// <summary>
/// The synthetic tasks of the ConvAC study over sequences of 16 symbols in {0..3}. Every label here depends on the
/// sequence only through quantities that are invariant under swapping the two children of any pooling node (pairs
/// (2j, 2j + 1), quads, halves): shared 1×1 convolutions and symmetric product pooling make every ConvAC of
/// <c>examples/convac.tn</c> invariant under those swaps, so a label that is not is out of reach of every width profile.
/// </summary>
public static class ConvAcTasks
{
    /// <summary>Sequence length (positions 0..7 form the left half, 8..15 the right half).</summary>
    public const int Positions = 16;
    /// <summary>Alphabet size (one-hot features per position).</summary>
    public const int Symbols = 4;

    /// <summary>
    /// Weights of the planted form, 62 500 / E[u_k²] with the sign ε_k (ε = +, +, −, −), so that
    /// score = Σ_k w_k u_k(left) u_k(right) is an integer: 62 500 · Σ_k ε_k ψ_k(left) ψ_k(right) with ψ_k = u_k / sd(u_k).
    /// (Under uniform symbols the pair products are independent with mean 0 and E[x²] = 25, so E[u1²] = 100,
    /// E[u2²] = 1250, E[u3²] = 2500, E[u4²] = 62 500, and the four features are uncorrelated.)
    /// </summary>
    public static readonly long[] PlantedWeights = [625, 50, -25, -1];

    /// <summary>Largest difference between the halves' odd-symbol counts that the earlier band task labels 1.</summary>
    public const int Band = 2;

    /// <summary>
    /// Long-range (default): the planted 4-dimensional form across left|right, see <see cref="PlantedScore"/>; label 1
    /// where the score is positive (≈ 49.9 % of sequences).
    /// </summary>
    public static readonly ConvAcTask LongRange = new("long-range", "left|right", Planted);

    /// <summary>
    /// Local: label 1 when at least 3 of the 8 neighbour pairs (2j, 2j + 1) hold equal symbols (≈ 32 % positive). Every
    /// pair straddles odd|even, none left|right.
    /// </summary>
    public static readonly ConvAcTask Local = new("local", "odd|even",
        symbols => Matches(symbols, Enumerable.Range(0, 8).Select(j => (2 * j, 2 * j + 1)).ToArray(), 3));

    /// <summary>
    /// The earlier long-range task, kept for comparison: a = odd symbols among positions 0..7, b = among 8..15, label 1
    /// when |a − b| ≤ <see cref="Band"/>. Its left|right matrix has rank 8 but it is the sign of a rank-3 score
    /// (e^(a−b) + e^(b−a) − const), which wide-bottom reaches.
    /// </summary>
    public static readonly ConvAcTask BandTask = new("band", "left|right",
        symbols =>
        {
            using var odd = Remainder(symbols, 2);
            return HalvesWithin(odd, Band);
        });

    /// <summary>All tasks by name, the default pair first.</summary>
    public static readonly ConvAcTask[] All = [LongRange, Local, BandTask];

    /// <summary>The symbol's centred value y(s) = 2s − 3 ∈ {−3, −1, 1, 3}, as float64.</summary>
    public static Tensor Values(Tensor symbols)
    {
        using var scope = NewDisposeScope();
        return Minus(Times(symbols.to_type(ScalarType.Float64), 2.0), 3.0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The four features of one half (<paramref name="half"/> 0: positions 0..7, 1: 8..15), as (n, 4) float64 holding
    /// integers. With pair products x_j = y(s_{2j}) y(s_{2j+1}) of the half's 4 pairs (quads: pairs 0, 1 and 2, 3):
    /// u1 = x0 + x1 + x2 + x3, u2 = x0 x1 + x2 x3 (within quads), u3 = (x0 + x1)(x2 + x3) (across quads),
    /// u4 = e3(x) = x0 x1 x2 + x0 x1 x3 + x0 x2 x3 + x1 x2 x3. Each is unchanged by swapping the two positions of a pair,
    /// the two pairs of a quad or the two quads of the half.
    /// </summary>
    public static Tensor HalfFeatures(Tensor symbols, int half)
    {
        using var scope = NewDisposeScope();
        var y = Values(symbols[TensorIndex.Colon, TensorIndex.Slice(8 * half, 8 * half + 8)]);
        var x = y[TensorIndex.Colon, TensorIndex.Slice(0, null, 2)].mul(y[TensorIndex.Colon, TensorIndex.Slice(1, null, 2)]);
        Tensor X(int j) => x[TensorIndex.Colon, j];
        var a = Plus(X(0), X(1));
        var b = Plus(X(2), X(3));
        var p = X(0).mul(X(1));
        var q = X(2).mul(X(3));
        var u1 = Plus(a, b);
        var u2 = Plus(p, q);
        var u3 = a.mul(b);
        var u4 = Plus(p.mul(b), q.mul(a));
        return stack([u1, u2, u3, u4], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The planted long-range score Σ_k w_k u_k(left) u_k(right) (see <see cref="PlantedWeights"/>), float64 holding
    /// integers. Across left|right it is a bilinear form of rank 4 in per-half features, so its sign matrix has sign-rank
    /// ≤ 4 (within wide-top's reach), and <see cref="ConvAcCertificates"/> shows sign-rank ≥ 4 (beyond wide-bottom's).
    /// </summary>
    public static Tensor PlantedScore(Tensor symbols)
    {
        using var scope = NewDisposeScope();
        var left = HalfFeatures(symbols, 0);
        var right = HalfFeatures(symbols, 1);
        var w = tensor(PlantedWeights.Select(v => (double)v).ToArray(), ScalarType.Float64);
        return left.mul(right).mul(w).sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>1 where <see cref="PlantedScore"/> is positive, else 0 (the score is 0 on ≈ 1.5 % of sequences).</summary>
    public static Tensor Planted(Tensor symbols)
    {
        using var scope = NewDisposeScope();
        return Less(PlantedScore(symbols).neg(), 0.0).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>1 where the sums of the 0/1 bits in the left and right halves of the columns differ by at most <paramref name="band"/>.</summary>
    public static Tensor HalvesWithin(Tensor bits, int band)
    {
        using var scope = NewDisposeScope();
        long half = bits.shape[1] / 2;
        var left = bits[TensorIndex.Colon, TensorIndex.Slice(0, half)].sum(1);
        var right = bits[TensorIndex.Colon, TensorIndex.Slice(half, null)].sum(1);
        // Integer counts: |a − b| ≤ band exactly when |a − b| < band + ½.
        return Less(Minus(left, right).abs(), band + 0.5).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>1 where at least <paramref name="threshold"/> of the pairs of columns hold equal values, else 0.</summary>
    public static Tensor Matches(Tensor values, (int, int)[] pairs, int threshold)
    {
        using var scope = NewDisposeScope();
        var matches = zeros(values.shape[0], ScalarType.Int64);
        foreach (var (a, b) in pairs)
            matches = Plus(matches, values[TensorIndex.Colon, a].eq(values[TensorIndex.Colon, b]).to_type(ScalarType.Int64));
        return GreaterEqual(matches, threshold).to_type(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>Uniform random symbols (n, 16) with the labels of a task.</summary>
    public static (Tensor Symbols, Tensor Labels) Sample(ConvAcTask task, long n, Generator generator)
    {
        var symbols = randint(0, Symbols, [n, Positions], generator: generator);
        return (symbols, task.Label(symbols));
    }

    /// <summary>One-hot features (n, 16 · 4), position-major, as the ConvAC layer reads them.</summary>
    public static Tensor OneHot(Tensor symbols)
    {
        using var hot = nn.functional.one_hot(symbols, Symbols);
        using var features = hot.to_type(ScalarType.Float32);
        return features.reshape(symbols.shape[0], Positions * Symbols);
    }
}

/// <summary>The ConvAC tasks' names apart from the tasks themselves: a command line that lists them in its help must
/// not load TorchSharp (and libtorch) for verbs that never use it. A test checks them against
/// <see cref="ConvAcTasks.All"/>.</summary>
public static class ConvAcTaskNames
{
    /// <summary>The names, in the order of <see cref="ConvAcTasks.All"/>.</summary>
    public static readonly string[] All = ["long-range", "local", "band"];
}
