using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.BornMachine;

/// <summary>Which neighbour receives the singular values (and so becomes the orthogonality centre).</summary>
public enum CentreSide
{
    /// <summary>Left = U·S (normalised), right = Vᴴ: the centre moves left (a right-to-left sweep).</summary>
    Left,
    /// <summary>Left = U, right = S·Vᴴ (normalised): the centre moves right (a left-to-right sweep).</summary>
    Right,
}

/// <summary>
/// The result of splitting a merged two-site tensor. <see cref="Left"/> is (Dl, d, D), <see cref="Right"/> is (D, d', Dr)
/// with D = <see cref="Kept"/>. <see cref="DiscardedWeight"/> is the sum of the squares of the dropped singular values,
/// which equals ‖M − U_D S_D V_Dᴴ‖²_F (before normalisation); <see cref="TruncationError"/> is that divided by ‖M‖²_F.
/// </summary>
public sealed record SplitResult(Tensor Left, Tensor Right, int Kept, double DiscardedWeight, double TruncationError, double[] Singular) : IDisposable
{
    /// <inheritdoc/>
    public void Dispose()
    {
        Left.Dispose();
        Right.Dispose();
    }
}

/// <summary>The SVD split of a two-site tensor with a relative cutoff and a maximum bond dimension.</summary>
public static class SvdSplit
{
    /// <summary>
    /// Splits <paramref name="merged"/> (Dl, d, d', Dr) into two site tensors, keeping the singular values greater than
    /// <paramref name="cutoff"/> × the largest, at most <paramref name="dmax"/> and at least one. The side that takes the
    /// singular values is normalised to unit Frobenius norm, so the split MPS has Z = 1 when the rest is canonical.
    /// </summary>
    public static SplitResult Split(Tensor merged, double cutoff, int dmax, CentreSide centre)
    {
        CheckArguments(merged, dmax);
        using var scope = NewDisposeScope();
        long dl = merged.shape[0], d1 = merged.shape[1], d2 = merged.shape[2], dr = merged.shape[3];
        var (u, s, vh) = linalg.svd(merged.reshape(dl * d1, d2 * dr), fullMatrices: false);
        var sv = s.data<double>().ToArray();
        double largest = sv.Length == 0 ? 0 : sv[0];
        int kept = sv.Count(x => x > cutoff * largest);
        kept = Math.Clamp(kept, 1, Math.Min(dmax, sv.Length));
        double total = sv.Sum(x => x * x);
        double discarded = sv.Skip(kept).Sum(x => x * x);
        var uk = u[.., ..kept];
        var sk = s[..kept];
        var vk = vh[..kept, ..];
        double keptNorm = Math.Sqrt(sv.Take(kept).Sum(x => x * x));
        Tensor left, right;
        if (centre == CentreSide.Left)
        {
            left = Over(uk * sk.unsqueeze(0), keptNorm);
            right = vk;
        }
        else
        {
            left = uk;
            right = Over(sk.unsqueeze(1) * vk, keptNorm);
        }
        var l = left.reshape(dl, d1, kept).contiguous().MoveToOuterDisposeScope();
        var r = right.reshape(kept, d2, dr).contiguous().MoveToOuterDisposeScope();
        return new SplitResult(l, r, kept, discarded, total > 0 ? discarded / total : 0, sv);
    }

    /// <summary>
    /// The same split from an eigendecomposition of a Gram matrix instead of an SVD: for <see cref="CentreSide.Right"/>
    /// the eigenvectors U of M·Mᵀ give left = U_D and right = U_Dᵀ·M (normalised); for <see cref="CentreSide.Left"/>
    /// those V of Mᵀ·M give right = V_Dᵀ and left = M·V_D. The orthonormal side comes straight from the
    /// eigensolver and the other is a projection of M, so nothing is divided by a small singular value; the
    /// discarded weight is ‖M‖² − ‖kept side‖², exact whatever the eigensolver's error. Squaring M limits the
    /// singular values it resolves to about √ε ≈ 10⁻⁸ of the largest: below that the count kept by a cutoff is
    /// unreliable, so this is for splits capped by <paramref name="dmax"/>, where it takes 0.5–0.7 of the SVD's time
    /// for large D (TorchBench <c>born-split</c>).
    /// </summary>
    public static SplitResult SplitByGram(Tensor merged, double cutoff, int dmax, CentreSide centre)
    {
        CheckArguments(merged, dmax);
        using var scope = NewDisposeScope();
        long dl = merged.shape[0], d1 = merged.shape[1], d2 = merged.shape[2], dr = merged.shape[3];
        var m = merged.reshape(dl * d1, d2 * dr);
        // The Gram of the side that stays orthonormal: rows of M for a centre moving right, columns for one moving left.
        var gram = centre == CentreSide.Right ? m.matmul(m.t()) : m.t().matmul(m);
        var (values, vectors) = linalg.eigh(gram);
        var ascending = values.data<double>().ToArray();
        long size = ascending.Length;
        // M has rank at most min(rows, columns): a Gram larger than that has exactly-zero eigenvalues that come out
        // as rounding noise and would pass any tiny cutoff, so only the top min(rows, columns) are singular values.
        long rank = Math.Min(dl * d1, d2 * dr);
        var sv = ascending.Reverse().Take((int)rank).Select(l => Math.Sqrt(Math.Max(l, 0))).ToArray();
        double largest = sv.Length == 0 ? 0 : sv[0];
        int kept = sv.Count(x => x > cutoff * largest);
        kept = Math.Clamp(kept, 1, (int)Math.Min(dmax, rank));
        // eigh sorts ascending: the kept vectors are the last ones, largest first.
        using var order = ScalarOps.Arange(size - 1, size - 1 - kept, -1, ScalarType.Int64, merged.device);
        var basis = vectors.index_select(1, order);
        var other = centre == CentreSide.Right ? basis.t().matmul(m) : m.matmul(basis);
        double total = Square(m).sum().item<double>();
        double keptNorm = Math.Sqrt(Square(other).sum().item<double>());
        double discarded = Math.Max(total - keptNorm * keptNorm, 0);
        Tensor left, right;
        if (centre == CentreSide.Right)
        {
            left = basis;
            right = Over(other, keptNorm);
        }
        else
        {
            left = Over(other, keptNorm);
            right = basis.t();
        }
        var l = left.reshape(dl, d1, kept).contiguous().MoveToOuterDisposeScope();
        var r = right.reshape(kept, d2, dr).contiguous().MoveToOuterDisposeScope();
        return new SplitResult(l, r, kept, discarded, total > 0 ? discarded / total : 0, sv);
    }

    static void CheckArguments(Tensor merged, int dmax)
    {
        if (merged.dim() != 4)
            throw new ArgumentException($"expected a two-site tensor (Dl, d, d', Dr), got shape [{string.Join(", ", merged.shape)}]");
        if (dmax < 1)
            throw new ArgumentException($"dmax must be at least 1, got {dmax}");
    }
}
