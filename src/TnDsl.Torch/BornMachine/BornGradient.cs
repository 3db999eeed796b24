using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.BornMachine.ScalarOps;

namespace TnDsl.Torch.BornMachine;

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
/// The sum is computed for the whole batch at once: W = L / ψ (N, Dl), then
/// G[l, c, r] = Σ_v W[v, l] δ(c, c_v) R[v, r] with c_v = v_k·d + v_{k+1}: one masked (Dl, N) × (N, Dr) product per
/// pair value c, O(N·d²·Dl·Dr) in all.
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
        var psi = Psi(merged, left, right, pairs);
        // ψ exactly 0 would make ψ'/ψ infinite; such an image has p = 0 and infinite NLL anyway. Nudge it off zero.
        var safe = where(Less(psi.abs(), 1e-300), FullLike(psi, 1e-300), psi);
        var w = left / safe.unsqueeze(1);
        // One (Dl, N) × (N, Dr) product per pixel pair c, over the images whose pair is c (the others masked to 0).
        var onehot = nn.functional.one_hot(pairs, d1 * d2).to_type(ScalarType.Float64);
        var blocks = new Tensor[d1 * d2];
        for (int c = 0; c < d1 * d2; c++)
            blocks[c] = (w * onehot[.., c..(c + 1)]).t().matmul(right);
        var g = stack(blocks, 1).reshape(dl, d1, d2, dr);
        double z = Square(merged).sum().item<double>();
        var gradient = Minus(Times(merged, 2.0 / z), Times(g, 2.0 / n));
        return (gradient.MoveToOuterDisposeScope(), psi.MoveToOuterDisposeScope());
    }
}
