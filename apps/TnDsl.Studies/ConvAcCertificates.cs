using TnDsl.Torch;
using static TorchSharp.torch;

namespace TnDsl.Studies;

/// <summary>
/// A witness that a task's left|right sign matrix has sign-rank ≥ 4: four left halves and sixteen right halves such that
/// the sixteen columns of labels on those four rows are the sixteen distinct 0/1 patterns.
/// </summary>
/// <param name="Left">Four left halves (8 symbols each).</param>
/// <param name="Right">Sixteen right halves; <c>Right[c]</c> gives pattern bit i = label(Left[i], Right[c]).</param>
/// <param name="Labels">Labels[i, c] = label of the sequence Left[i] ++ Right[c].</param>
public sealed record ShatterWitness(int[][] Left, int[][] Right, int[,] Labels);

/// <summary>
/// Certificates about the ConvAC study's long-range task, tying its left|right label matrix to the networks' min-cut
/// bounds. A network whose class-score difference across left|right is a symmetric form of rank ≤ B in per-half
/// features plus an output bias computes F(L, R) = a(L) · c(R) with a, c ∈ R^(B+1), so its predictions [F &gt; 0] have
/// sign-rank ≤ B + 1. Lower bounds on the label's sign-rank: <see cref="ForsterBound"/> (Forster 2002: sign-rank ≥
/// √(mn) / ‖M‖₂ for an m × n ±1 matrix) and shattering (<see cref="FindShattered"/>): if four rows see all 16 patterns,
/// no score of sign-rank 3 fits, since four hyperplanes through the origin of R³ cut it into at most
/// <see cref="CoverRegions"/>(4, 3) = 14 regions (Cover 1965); shifting the bias down by less than the smallest positive
/// entry turns [F &gt; 0] into strict signs without changing the rank, so ties do not help.
/// </summary>
public static class ConvAcCertificates
{
    /// <summary>
    /// The number of regions n hyperplanes through the origin of R^d in general position cut it into,
    /// 2 Σ_{k&lt;d} C(n − 1, k) — an upper bound for any n hyperplanes through the origin (Cover 1965).
    /// </summary>
    public static long CoverRegions(int n, int d)
    {
        long total = 0, binomial = 1;
        for (int k = 0; k < d && k <= n - 1; k++)
        {
            total += binomial;
            binomial = binomial * (n - 1 - k) / (k + 1);
        }
        return 2 * total;
    }

    /// <summary>The largest singular value of <paramref name="m"/>, by power iteration on MᵀM (float64).</summary>
    public static double SpectralNorm(double[,] m, int iterations = 500)
    {
        int rows = m.GetLength(0), cols = m.GetLength(1);
        var v = new double[cols];
        for (int j = 0; j < cols; j++)
            v[j] = 1.0 + 0.01 * ((j * 7919) % 13); // not orthogonal to the top singular vector of a sign matrix in practice
        double sigma = 0;
        for (int it = 0; it < iterations; it++)
        {
            var u = new double[rows];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    u[i] += m[i, j] * v[j];
            var w = new double[cols];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    w[j] += m[i, j] * u[i];
            double norm = Math.Sqrt(w.Sum(x => x * x));
            if (norm == 0) return 0;
            for (int j = 0; j < cols; j++)
                v[j] = w[j] / norm;
            sigma = Math.Sqrt(norm);
        }
        return sigma;
    }

    /// <summary>Forster's lower bound on the sign-rank of an m × n ±1 matrix: √(mn) / ‖M‖₂.</summary>
    public static double ForsterBound(double[,] signs) =>
        Math.Sqrt((double)signs.GetLength(0) * signs.GetLength(1)) / SpectralNorm(signs);

    /// <summary>Every half (8 symbols in 0..3), 4^8 rows, symbol of position k in column k.</summary>
    public static Tensor AllHalves()
    {
        using var scope = NewDisposeScope();
        var codes = ScalarOps.Arange(65536, ScalarType.Int64).unsqueeze(1);
        var shifts = TorchSharp.torch.tensor(Enumerable.Range(0, 8).Select(k => (long)(2 * (7 - k))).ToArray()).unsqueeze(0);
        return codes.bitwise_right_shift(shifts).bitwise_and(3).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The distinct feature vectors (u1..u4) of <see cref="ConvAcTasks.HalfFeatures"/> over all 4^8 halves, each with one
    /// half that has it; the long-range label depends on a sequence only through the types of its two halves.
    /// </summary>
    public static (double[][] Features, int[][] Representative) HalfTypes()
    {
        using var scope = NewDisposeScope();
        var halves = AllHalves();
        var padded = cat([halves, halves], 1); // HalfFeatures(·, 0) reads positions 0..7
        var features = ConvAcTasks.HalfFeatures(padded, 0);
        var f = features.data<double>().ToArray();
        var h = halves.data<long>().ToArray();
        var seen = new Dictionary<string, int>();
        var types = new List<double[]>();
        var reps = new List<int[]>();
        for (int r = 0; r < 65536; r++)
        {
            var row = f.AsSpan(4 * r, 4).ToArray();
            var key = string.Join(",", row);
            if (seen.ContainsKey(key)) continue;
            seen[key] = types.Count;
            types.Add(row);
            reps.Add(h.AsSpan(8 * r, 8).ToArray().Select(x => (int)x).ToArray());
        }
        return (types.ToArray(), reps.ToArray());
    }

    /// <summary>The long-range label of every (left type, right type) pair as a ±1 matrix (+1 where the label is 1).</summary>
    public static double[,] TypeSigns(double[][] types)
    {
        int n = types.Length;
        var m = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double score = 0;
                for (int k = 0; k < 4; k++)
                    score += ConvAcTasks.PlantedWeights[k] * types[i][k] * types[j][k];
                m[i, j] = score > 0 ? 1 : -1;
            }
        return m;
    }

    /// <summary>
    /// Searches (seeded, reproducible) for four half types whose rows of the type sign matrix are shattered by the
    /// columns, and returns them as sequences with the label table computed by the task's own label function; null if
    /// none is found in <paramref name="tries"/> draws.
    /// </summary>
    public static ShatterWitness? FindShattered(int seed = 1, int tries = 200000)
    {
        var (types, reps) = HalfTypes();
        var signs = TypeSigns(types);
        int n = types.Length;
        var random = new Random(seed);
        for (int t = 0; t < tries; t++)
        {
            var rows = Enumerable.Range(0, 4).Select(_ => random.Next(n)).Distinct().ToArray();
            if (rows.Length < 4) continue;
            var byPattern = new int[16];
            Array.Fill(byPattern, -1);
            for (int c = 0; c < n; c++)
            {
                int pattern = 0;
                for (int i = 0; i < 4; i++)
                    if (signs[rows[i], c] > 0) pattern |= 1 << i;
                if (byPattern[pattern] < 0) byPattern[pattern] = c;
            }
            if (byPattern.Any(c => c < 0)) continue;
            var left = rows.Select(r => reps[r]).ToArray();
            var right = byPattern.Select(c => reps[c]).ToArray();
            return new ShatterWitness(left, right, LabelTable(left, right));
        }
        return null;
    }

    /// <summary>Labels of every sequence left[i] ++ right[c] by <see cref="ConvAcTasks.Planted"/>.</summary>
    public static int[,] LabelTable(int[][] left, int[][] right)
    {
        using var scope = NewDisposeScope();
        var rows = left.SelectMany(l => right.Select(r => l.Concat(r).Select(s => (long)s).ToArray())).ToArray();
        var symbols = TorchSharp.torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, 16]);
        var labels = ConvAcTasks.Planted(symbols).data<long>().ToArray();
        var table = new int[left.Length, right.Length];
        for (int i = 0; i < left.Length; i++)
            for (int c = 0; c < right.Length; c++)
                table[i, c] = (int)labels[i * right.Length + c];
        return table;
    }

    /// <summary>
    /// Sets the weights of a ConvAC layer (examples/layers/convac.tn, M = 4, Y = 2, widths at least 2-3-6-4) so that its
    /// class-1 score is exactly <see cref="ConvAcTasks.PlantedScore"/> and its class-0 score is 0: the explicit proof
    /// that wide-top (2-4-8-12) reaches the long-range label. Per position (1, y(s)); per pair (1, x, 1 + x); per quad
    /// (1, s, p, 1 + s, 1 + p, s + p) with s = x_a + x_b, p = x_a x_b; the half's pooled products of those give
    /// u1..u4 by differences; the head weighs u_k(left) u_k(right) by <see cref="ConvAcTasks.PlantedWeights"/>.
    /// </summary>
    public static void PlantLongRange(SpecLayer layer)
    {
        double[,] w0 = new double[4, 2];
        for (int s = 0; s < 4; s++)
        {
            w0[s, 0] = 1;
            w0[s, 1] = 2 * s - 3;
        }
        double[,] w1 = { { 1, 0, 1 }, { 0, 1, 1 } };
        // Rows: pooled quad channels (1, p, 1 + s + p); columns: 1, s, p, 1 + s, 1 + p, s + p.
        double[,] w2 = { { 1, -1, 0, 0, 1, -1 }, { 0, -1, 1, -1, 1, 0 }, { 0, 1, 0, 1, 0, 1 } };
        // Rows: pooled half channels (1, s1 s2, p1 p2, (1+s1)(1+s2), (1+p1)(1+p2), (s1+p1)(s2+p2)); columns u1..u4.
        double[,] w3 =
        {
            { -1, -1, 0, 0 }, { -1, 0, 1, -1 }, { 0, -1, 0, -1 }, { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 0, 1 },
        };
        var head = new double[4, 2];
        for (int k = 0; k < 4; k++)
            head[k, 1] = ConvAcTasks.PlantedWeights[k];
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var spec = layer.Network.Spec;
        foreach (var t in spec.Tensors.Where(t => t.Role == TensorRole.Weight).GroupBy(t => t.Param).Select(g => g.First()))
        {
            var values = t.Family.EndsWith("head", StringComparison.Ordinal) ? head : t.Subscripts[0] switch { 0 => w0, 1 => w1, 2 => w2, _ => w3 };
            var p = layer.Network.get_parameter(t.Param)!;
            if (p.shape[0] < values.GetLength(0) || p.shape[1] < values.GetLength(1))
                throw new ArgumentException($"{t.Param} is {p.shape[0]}×{p.shape[1]}; the planted solution needs at least {values.GetLength(0)}×{values.GetLength(1)}");
            p.zero_();
            for (int i = 0; i < values.GetLength(0); i++)
                for (int j = 0; j < values.GetLength(1); j++)
                    if (values[i, j] != 0)
                        p[i, j] = TorchSharp.torch.tensor(values[i, j], p.dtype);
        }
    }
}
