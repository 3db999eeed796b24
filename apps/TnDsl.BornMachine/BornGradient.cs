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
        using var lm = left.matmul(merged.reshape(dl, dd * dr)).reshape(n, dd, dr);
        using var index = pairs.reshape(n, 1, 1).expand(n, 1, dr);
        using var picked = lm.gather(1, index).squeeze(1);
        using var prod = picked * right;
        return prod.sum(1);
    }

    /// <summary>∂NLL/∂M (see the type's remarks), with Z = ‖M‖² (the mixed-canonical form is assumed), and the batch's ψ.</summary>
    public static (Tensor Gradient, Tensor Psi) Compute(Tensor merged, Tensor left, Tensor right, Tensor pairs)
    {
        using var scope = NewDisposeScope();
        long n = left.shape[0], dl = merged.shape[0], d1 = merged.shape[1], d2 = merged.shape[2], dr = merged.shape[3];
        int dd = (int)(d1 * d2);
        // Images sorted by their pixel pair, so each pair value c is a contiguous block of rows: ψ and the gradient
        // then cost one (rows × Dl)·(Dl × Dr) and one (Dl × rows)·(rows × Dr) product per block, N·Dl·Dr each in all.
        var (_, order) = pairs.sort(stable: true);
        var counts = bincount(pairs, minlength: dd).data<long>().ToArray();
        var ls = left.index_select(0, order);
        var rs = right.index_select(0, order);
        var m = merged.reshape(dl, dd, dr);
        var blocks = new Tensor[dd];
        var psis = new List<Tensor>();
        long start = 0;
        for (int c = 0; c < dd; c++)
        {
            if (counts[c] == 0)
            {
                blocks[c] = zeros(dl, dr, ScalarType.Float64);
                continue;
            }
            var lc = ls.narrow(0, start, counts[c]);
            var rc = rs.narrow(0, start, counts[c]);
            var psi = (lc.matmul(m.select(1, c)) * rc).sum(1);
            // ψ exactly 0 would make ψ'/ψ infinite; such an image has p = 0 and infinite NLL anyway. Nudge it off zero.
            var safe = where(Less(psi.abs(), 1e-300), FullLike(psi, 1e-300), psi);
            blocks[c] = (lc / safe.unsqueeze(1)).t().matmul(rc);
            psis.Add(psi);
            start += counts[c];
        }
        var g = stack(blocks, 1).reshape(dl, d1, d2, dr);
        double z = Square(merged).sum().item<double>();
        var gradient = Minus(Times(merged, 2.0 / z), Times(g, 2.0 / n));
        var psiInOrder = zeros(n, ScalarType.Float64).index_copy(0, order, cat(psis, 0));
        return (gradient.MoveToOuterDisposeScope(), psiInOrder.MoveToOuterDisposeScope());
    }
}
