using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Torch;

/// <summary>
/// Makes initial (weights) or fixed (const) tensor values from an <see cref="InitSpec"/>. Values are made on the CPU
/// in float64 from one seeded generator, in a fixed order, and converted afterwards: the same seed gives the same
/// numbers on every device and in every dtype.
/// </summary>
public static class Initializers
{
    /// <summary>The initialiser of a weight that declares none: normal(0, 0.1).</summary>
    public static readonly InitSpec DefaultWeight = new InitSpec.Normal(0, 0.1);

    /// <summary>The value of a const tensor that declares none: the copy (δ) tensor.</summary>
    public static readonly InitSpec DefaultConst = new InitSpec.Copy();

    /// <summary>A CPU float64 tensor of the given shape made by <paramref name="init"/>.</summary>
    public static Tensor Make(InitSpec init, long[] shape, Generator generator)
    {
        switch (init)
        {
            case InitSpec.Normal n:
                {
                    using var r = randn(shape, ScalarType.Float64, CPU, generator: generator);
                    using var scaled = Times(r, n.Std);
                    return Plus(scaled, n.Mean);
                }
            case InitSpec.Uniform u:
                {
                    using var r = rand(shape, ScalarType.Float64, CPU, generator: generator);
                    using var scaled = Times(r, u.Hi - u.Lo);
                    return Plus(scaled, u.Lo);
                }
            case InitSpec.Constant c:
                return Full(shape, c.Value, ScalarType.Float64, CPU);
            case InitSpec.Copy:
                return FromFunction(shape, idx => idx.All(i => i == idx[0]) ? 1.0 : 0.0);
            case InitSpec.Identity:
                // Legs pair up from the outside in (first with last, …); an unpaired middle leg is broadcast.
                // For an MPS core (b, p, b') this is δ(b, b') for every p; for an MPO (l, i, o, r) δ(l, r) δ(i, o).
                return FromFunction(shape, idx =>
                {
                    for (int a = 0, b = idx.Length - 1; a < b; a++, b--)
                        if (idx[a] != idx[b])
                            return 0.0;
                    return 1.0;
                });
            case InitSpec.Orthogonal:
                return Orthogonal(shape, generator);
            case InitSpec.Sum s:
                {
                    using var a = Make(s.A, shape, generator);
                    using var b = Make(s.B, shape, generator);
                    return Plus(a, b);
                }
            case InitSpec.Auto:
                throw new NotSupportedException("`auto` depends on the whole network: NetworkModule resolves it (AutoInit), and it cannot be part of a sum");
            default:
                throw new NotSupportedException($"initialiser {init}");
        }
    }

    /// A tensor whose entry at each multi-index (row-major) is f(index).
    static Tensor FromFunction(long[] shape, Func<long[], double> f)
    {
        long total = shape.Aggregate(1L, (x, y) => x * y);
        var data = new double[total];
        var idx = new long[shape.Length];
        for (long flat = 0; flat < total; flat++)
        {
            long r = flat;
            for (int k = shape.Length - 1; k >= 0; k--)
            {
                idx[k] = r % shape[k];
                r /= shape[k];
            }
            data[flat] = f(idx);
        }
        return tensor(data, shape, ScalarType.Float64);
    }

    /// An isometry: reshaped to (all legs but the last) × (last leg), its columns are orthonormal if there are at
    /// least as many rows as columns, and its rows otherwise. Haar-distributed via QR with the sign of R's diagonal.
    static Tensor Orthogonal(long[] shape, Generator generator)
    {
        if (shape.Length == 0)
            return ones(shape, ScalarType.Float64);
        long cols = shape[^1];
        long rows = shape.Aggregate(1L, (x, y) => x * y) / Math.Max(cols, 1);
        bool tall = rows >= cols;
        using var scope = NewDisposeScope();
        var g = randn(tall ? [rows, cols] : [cols, rows], ScalarType.Float64, CPU, generator: generator);
        var (q, r) = linalg.qr(g);
        var signs = r.diagonal().sign();
        // sign(0) = 0 would zero a column; that has probability zero but is cheap to rule out.
        signs = where(Equal(signs, 0.0), ones_like(signs), signs);
        var m = q * signs.unsqueeze(0);
        var result = (tall ? m : m.t()).reshape(shape).contiguous();
        return result.MoveToOuterDisposeScope();
    }
}
