using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.BornMachine;

/// <summary>
/// The gradient of the NLL with respect to a merged two-site tensor M (Dl, d, d, Dr) at bond (k, k+1).
/// </summary>
/// <remarks>
/// For image v, ψ(v) = Σ L_v[l] M[l, v_k, v_{k+1}, r] R_v[r], with L_v the contraction of sites &lt; k and R_v that of
/// sites &gt; k+1. So ψ is linear in M and ψ'(v) := ∂ψ(v)/∂M = L_v ⊗ e_{v_k} ⊗ e_{v_{k+1}} ⊗ R_v.
/// NLL = ln Z − (1/N) Σ_v ln ψ(v)², with Z = Σ_v ψ(v)². When the other sites are in mixed-canonical form around
/// the bond (left of it left-orthonormal, right of it right-orthonormal), Z = ‖M‖²_F, so ∂ ln Z/∂M = 2M/Z, and
/// ∂ ln ψ(v)²/∂M = 2ψ'(v)/ψ(v). Hence
/// <code>∂NLL/∂M = 2M/Z − (2/N) Σ_v ψ'(v)/ψ(v).</code>
/// ψ'(v)/ψ(v) does not change when L_v or R_v is rescaled, so the cached environments may be normalised per image.
/// The sum is computed for the whole batch at once: with c_v = v_k·d + v_{k+1} the pixel pair of image v,
/// G[l, c, r] = Σ_{v: c_v = c} (L_v[l] / ψ(v)) R_v[r], one (Dl × N_c)·(N_c × Dr) product per pair value over the
/// images sorted by pair: O(N·Dl·Dr) in all (ψ likewise), not O(N·d²·Dl·Dr).
/// </remarks>
public static class BornGradient
{
    /// <summary>ψ(v) for every image from its environments (N, Dl), (N, Dr) and its pixel pair index c_v (N).</summary>
    public static Tensor Psi(Tensor merged, Tensor left, Tensor right, Tensor pairs)
    {
        long n = left.shape[0], dl = merged.shape[0], dd = merged.shape[1] * merged.shape[2], dr = merged.shape[3];
        using var matrix = merged.reshape(dl, dd * dr);
        using var product = left.matmul(matrix);
        using var lm = product.reshape(n, dd, dr);
        using var column = pairs.reshape(n, 1, 1);
        using var index = column.expand(n, 1, dr);
        using var gathered = lm.gather(1, index);
        using var picked = gathered.squeeze(1);
        using var prod = picked * right;
        return prod.sum(1);
    }

    /// <summary>∂NLL/∂M (see the type's remarks), with Z = ‖M‖² (the mixed-canonical form is assumed), and the batch's ψ.</summary>
    public static (Tensor Gradient, Tensor Psi) Compute(Tensor merged, Tensor left, Tensor right, Tensor pairs)
    {
        using var groups = PixelGroups.Of(pairs, merged.shape[1] * merged.shape[2]);
        var (gradient, psi) = Core(merged, left, right, groups, wantPsi: true);
        return (gradient, psi!);
    }

    /// <summary>
    /// ∂NLL/∂M alone, given the images grouped by their pixel pair c_v (<see cref="PixelGroups"/> over d·d' values,
    /// made once per bond by the trainer): the bond update's path, with no ψ in image order.
    /// </summary>
    public static Tensor Gradient(Tensor merged, Tensor left, Tensor right, PixelGroups pairs) =>
        Core(merged, left, right, pairs, wantPsi: false).Gradient;

    static (Tensor Gradient, Tensor? Psi) Core(Tensor merged, Tensor left, Tensor right, PixelGroups groups, bool wantPsi)
    {
        using var scope = NewDisposeScope();
        long n = left.shape[0], dl = merged.shape[0], d1 = merged.shape[1], d2 = merged.shape[2], dr = merged.shape[3];
        int dd = (int)(d1 * d2);
        if (groups.Counts.Length != dd || groups.Order.shape[0] != n)
            throw new ArgumentException($"the pair groups cover {groups.Counts.Length} values and {groups.Order.shape[0]} images; the bond has {dd} and {n}");
        // Images sorted by their pixel pair, so each pair value c is a contiguous block of rows: ψ and the gradient
        // then cost one (rows × Dl)·(Dl × Dr) and one (Dl × rows)·(rows × Dr) product per block, N·Dl·Dr each in all.
        var counts = groups.Counts;
        var ls = left.index_select(0, groups.Order);
        var rs = right.index_select(0, groups.Order);
        var m = merged.reshape(dl, dd, dr).permute(1, 0, 2).contiguous();
        var psis = new List<Tensor>(dd);
        long start = 0;
        for (int c = 0; c < dd; c++)
        {
            if (counts[c] == 0)
                continue;
            psis.Add(ls.narrow(0, start, counts[c]).matmul(m[c]).mul_(rs.narrow(0, start, counts[c])).sum(1));
            start += counts[c];
        }
        var psi = psis.Count == 1 ? psis[0] : cat(psis, 0);
        // ψ exactly 0 would make ψ'/ψ infinite; such an image has p = 0 and infinite NLL anyway. Nudge it off zero.
        var safe = where(Less(psi.abs(), 1e-300), FullLike(psi, 1e-300), psi);
        var weighted = rs / safe.unsqueeze(1);
        // G[l, c, r] = Σ_{v in block c} L_v[l] R_v[r] / ψ(v), built as (dd, Dl, Dr) and laid out as (Dl, d, d', Dr).
        var g = zeros(dd, dl, dr, ScalarType.Float64);
        start = 0;
        for (int c = 0; c < dd; c++)
        {
            if (counts[c] == 0)
                continue;
            g[c].addmm_(ls.narrow(0, start, counts[c]).t(), weighted.narrow(0, start, counts[c]), beta: 0);
            start += counts[c];
        }
        double z = Square(merged).sum().item<double>();
        var gradient = Minus(Times(merged, 2.0 / z), Times(g.permute(1, 0, 2).reshape(dl, d1, d2, dr), 2.0 / n));
        var psiInOrder = wantPsi ? zeros(n, ScalarType.Float64).index_copy(0, groups.Order, psi).MoveToOuterDisposeScope() : null;
        return (gradient.MoveToOuterDisposeScope(), psiInOrder);
    }
}
