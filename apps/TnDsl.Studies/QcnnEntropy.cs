using TnDsl.Torch;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>The exact entanglement entropies (nats) of one label state of a q-CNN across its two half-splits.</summary>
/// <param name="Label">The label ℓ.</param>
/// <param name="LeftRight">Across left | right image halves (columns y &lt; S/2 vs y ≥ S/2).</param>
/// <param name="UpDown">Across up | down halves (rows x &lt; S/2 vs x ≥ S/2); NaN when not computed.</param>
public sealed record LabelEntropy(int Label, double LeftRight, double UpDown);

/// <summary>
/// Entanglement of the label states of a q-CNN built from <c>examples/qcnn.tn</c> (feature r·S + c of the image,
/// row r and column c, feeds <c>px[x = r, y = c]</c>). The label state ψ_ℓ(v) is the network's score for label ℓ
/// as a function of the S² pixel values v ∈ [0, 1]; as a vector of L²([0, 1]^(S²)) normalised to one, its reduced
/// density matrix on half A is ρ_A(v_A, v_A') = ∫ dv_B ψ(v_A, v_B) ψ(v_A', v_B) — the inputs of B integrated out —
/// and the entropy is −Tr ρ_A ln ρ_A. It is computed exactly from the weights: the per-pixel feature Gram
/// G₀ = ∫₀¹ φ(v) φ(v)ᵀ dv (Simpson's rule, 4096 intervals), then per block the channel Gram of a subtree,
/// H_b = W_bᵀ G_b W_b after the 1×1 convolution and G_{b+1} = H_b ∘ H_b after product pooling (disjoint pixels
/// integrate independently). The last pooling joins the two column halves: ψ = Σ_e h_e L_e R_e with Gram H_{B−1}
/// on both sides; the one before joins row halves inside each column half, so the up|down split of the whole image
/// cuts through both of them: ψ = Σ_jk M_jk (U_j U'_k)(D_j D'_k) with M_jk = Σ_e h_e V_je V_ke and Gram H_{B−2} ⊗ H_{B−2}
/// (dimension c_{B−2}², hence the limit <see cref="DefaultMaxUpDownDimension"/>).
/// </summary>
public static class QcnnEntropy
{
    /// <summary>The default largest c² for which the up|down entropy is computed (a c² × c² SVD per label, about a
    /// second at 1024 on one core, minutes at 4096); beyond it, NaN.</summary>
    public const int DefaultMaxUpDownDimension = 1024;

    /// <summary>The Gram matrix of the Fourier(K) embedding over [0, 1] (float64, K × K).</summary>
    public static Tensor FeatureGram(int k)
    {
        using var scope = NewDisposeScope();
        const int intervals = 4096;
        var x = linspace(0, 1, intervals + 1, ScalarType.Float64);
        var w = Full([intervals + 1], 2.0, ScalarType.Float64);
        Put(w, 4.0, TensorIndex.Slice(1, intervals, 2));
        Put(w, 1.0, 0);
        Put(w, 1.0, intervals);
        w = Over(w, 3.0 * intervals);
        var phi = Embeddings.Apply(new EmbeddingSpec.Fourier(k), x, ScalarType.Float64);
        return (phi.T * w).matmul(phi).MoveToOuterDisposeScope();
    }

    /// <summary>Computes the entropies of every label state of a q-CNN layer built from qcnn.tn.</summary>
    /// <param name="layer">The layer (its weights are the label states).</param>
    /// <param name="maxUpDownDimension">The largest c² for which the up|down entropy is computed (else NaN).</param>
    public static LabelEntropy[] Compute(SpecLayer layer, int maxUpDownDimension = DefaultMaxUpDownDimension)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var spec = layer.Network.Spec;
        Tensor Param(string family, int block) =>
            layer.Network.get_parameter(spec.Tensors.First(t => t.Family == family && (block < 0 || t.Subscripts[0] == block)).Param)!
                .detach().to_type(ScalarType.Float64);
        int blocks = spec.Tensors.Where(t => t.Family == "conv").Max(t => t.Subscripts[0]) + 1;
        if (blocks < 2)
            throw new StudyException("the entropy study needs a q-CNN with at least two blocks");
        var conv = Enumerable.Range(0, blocks).Select(b => Param("conv", b)).ToArray();
        var head = Param("head", -1);
        var g = FeatureGram((int)conv[0].shape[0]);
        var h = new Tensor[blocks];
        for (int b = 0; b < blocks; b++)
        {
            // Each block squares the Gram (g = h ∘ h), so its scale goes as s^(2^blocks) and leaves float64 after a
            // few blocks once training grows the weights. The entropies are those of normalised states, which a
            // positive factor on a Gram does not change: divide each h by its largest entry.
            var raw = conv[b].T.matmul(g).matmul(conv[b]);
            h[b] = raw / raw.abs().max();
            g = h[b] * h[b];
        }
        var last = h[blocks - 1];
        var before = h[blocks - 2];
        var v = conv[blocks - 1];
        long c = before.shape[0];
        var sBefore = c * c <= maxUpDownDimension ? Entanglement.SqrtPsd(before) : null;
        int labels = (int)head.shape[1];
        var result = new LabelEntropy[labels];
        for (int l = 0; l < labels; l++)
        {
            var hl = head[TensorIndex.Colon, l];
            double leftRight = Entanglement.Entropy(diag(hl), last, last);
            double upDown = double.NaN;
            if (sBefore is not null)
            {
                var m = (v * hl).matmul(v.T);
                var coefficients = einsum("aj,bk,jk,jc,kd->abcd", sBefore, sBefore, m, sBefore, sBefore).reshape(c * c, c * c);
                upDown = Entanglement.EntropyOfOrthonormal(coefficients);
            }
            result[l] = new LabelEntropy(l, leftRight, upDown);
        }
        return result;
    }
}
