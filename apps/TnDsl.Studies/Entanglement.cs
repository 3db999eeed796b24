using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>
/// Entanglement entropy of a bipartite state given by a coefficient matrix in non-orthonormal bases.
/// A state |ψ⟩ = Σ_ab M_ab |a⟩|b⟩ whose A-side vectors have Gram matrix G_A (G_A[a,a'] = ⟨a|a'⟩) and B-side vectors
/// G_B has Schmidt coefficients equal to the singular values σ of G_A^½ M G_B^½; the reduced density matrix of A
/// (normalised) has eigenvalues p = σ² / Σσ², and the entropy is −Σ p ln p, in nats.
/// </summary>
public static class Entanglement
{
    /// <summary>The symmetric square root of a symmetric positive semi-definite matrix (negative rounding clipped).</summary>
    public static Tensor SqrtPsd(Tensor gram)
    {
        using var scope = NewDisposeScope();
        var sym = Over(Plus(gram, gram.T), 2);
        var (values, vectors) = linalg.eigh(sym);
        var root = ClampMin(values, 0.0).sqrt();
        return vectors.matmul(diag(root)).matmul(vectors.T).MoveToOuterDisposeScope();
    }

    /// <summary>The Schmidt probabilities p (descending, summing to 1) of M with Grams G_A, G_B (null: identity).</summary>
    public static double[] SchmidtProbabilities(Tensor coefficients, Tensor? gramA = null, Tensor? gramB = null)
    {
        using var scope = NewDisposeScope();
        var m = coefficients.to_type(ScalarType.Float64);
        if (gramA is not null)
            m = SqrtPsd(gramA.to_type(ScalarType.Float64)).matmul(m);
        if (gramB is not null)
            m = m.matmul(SqrtPsd(gramB.to_type(ScalarType.Float64)));
        return ProbabilitiesOfWeighted(m);
    }

    /// <summary>The entropy (nats) of M with Grams G_A, G_B (null: identity); NaN for the zero state.</summary>
    public static double Entropy(Tensor coefficients, Tensor? gramA = null, Tensor? gramB = null) =>
        EntropyOf(SchmidtProbabilities(coefficients, gramA, gramB));

    /// <summary>The entropy (nats) of a matrix already written in orthonormal bases.</summary>
    public static double EntropyOfOrthonormal(Tensor coefficients)
    {
        using var m = coefficients.to_type(ScalarType.Float64);
        return EntropyOf(ProbabilitiesOfWeighted(m));
    }

    static double[] ProbabilitiesOfWeighted(Tensor m)
    {
        using var scope = NewDisposeScope();
        var s = linalg.svdvals(m);
        var s2 = Square(s);
        double total = s2.sum().item<double>();
        if (total <= 0 || !double.IsFinite(total))
            return [];
        return Over(s2, total).data<double>().ToArray();
    }

    /// <summary>−Σ p ln p over the positive p; NaN for an empty list (the zero state).</summary>
    public static double EntropyOf(IReadOnlyList<double> p) =>
        p.Count == 0 ? double.NaN : -p.Where(x => x > 0).Sum(x => x * Math.Log(x));
}
