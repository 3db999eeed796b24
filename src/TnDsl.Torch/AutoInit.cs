using TnDsl.Api;
using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Torch;

/// <summary>
/// The <c>auto</c> initialiser: every auto weight t is s_t · B_t, with B_t a base tensor (standard normal entries,
/// or near-identity in long chains) and s_t chosen so that the network's output has unit variance for
/// unit-variance inputs.
/// </summary>
/// <remarks>
/// <para>Derivation. The output entry is y = Σ_a Π_t T_t[a_t], summed over assignments a of the summed indices.
/// Then E[y²] = Σ_{a,a'} Π_t E[T_t[a_t] T_t[a'_t]]. For a tensor of independent zero-mean entries of variance
/// σ_t², E[T[a_t] T[a'_t]] = σ_t² δ(a_t, a'_t); when every summed index touches such a tensor (or a zero-mean
/// input), every term with a ≠ a' vanishes and E[y²] = Σ_a Π_t m_t[a_t], where m_t is the element-wise second
/// moment of tensor t: σ_t² for a Gaussian weight, E[x²] = 1 for a unit-variance input (for an embedded input,
/// the embedding's feature moments for uniform raw values, see <see cref="EmbeddingMoments"/>), T_t² for a fixed tensor
/// (a const, a weight with another initialiser). So E[y²] is the contraction of the "second-moment network", the
/// same network with every tensor replaced by its m_t. For a network of Gaussian tensors alone this is
/// Π_t σ_t² · Π_{summed i} dim(i): the number of terms times the product of the variances.</para>
/// <para>Choice. The second-moment network is multilinear in the m_t, and an auto tensor's m_t is s_t² E[B_t²],
/// so with s_t² = g_t · c, E[y²] = c^K · S(g), K the number of auto tensor occurrences and S(g) the second-moment
/// network with auto tensors set to g_t · E[B_t²]. Each tensor's share is g_t = Π_{summed legs l} dim(l)^(-1/n_l),
/// n_l the number of tensors carrying l (a fan-in rule: for Gaussian networks c = 1 and σ_t² = g_t exactly);
/// c = S(g)^(-1/K) makes the mean of E[y²] over the output entries exactly 1. S is contracted along the module's
/// own plan in float64 and log-scale, with every batch index at size 1 (batch entries are alike), so it cannot
/// overflow for any length of chain. Tied weights take the geometric mean of their occurrences' g_t.</para>
/// <para>Long chains. A product of many independent Gaussian matrices has the right mean square but a spread that
/// grows exponentially with the length (the typical value is exponentially smaller than the mean). So in a network
/// with at least <see cref="LongChain"/> auto tensors whose first and last legs have the same dimension, those
/// tensors start near the identity: B_t = identity + normal(0, 0.01) (identity pairing legs from the outside in, as
/// the <c>identity</c> initialiser does), scaled by the same rule; for them the a ≠ a' terms do not vanish, so the
/// unit variance is then an approximation of the diagonal terms.</para>
/// </remarks>
public static class AutoInit
{
    /// <summary>The number of identity-shaped auto tensors from which a network counts as a long chain.</summary>
    public const int LongChain = 32;

    static readonly InitSpec Gaussian = new InitSpec.Normal(0, 1);
    static readonly InitSpec NearIdentity = new InitSpec.Sum(new InitSpec.Identity(), new InitSpec.Normal(0, 0.01));

    /// <summary>The base initialiser of every auto weight (by parameter id): standard normal, or near-identity in long chains.</summary>
    public static IReadOnlyDictionary<string, InitSpec> Bases(NetworkSpec spec)
    {
        var auto = spec.Tensors.Where(t => t.Role == TensorRole.Weight && t.Init is InitSpec.Auto).ToList();
        bool IdentityShaped(TensorSpec t) => t.Legs.Length >= 2 && spec.Indices[t.Legs[0]].Size == spec.Indices[t.Legs[^1]].Size;
        bool chain = auto.Count(IdentityShaped) >= LongChain;
        return auto.GroupBy(t => t.Param).ToDictionary(g => g.Key, g => chain && g.All(IdentityShaped) ? NearIdentity : Gaussian);
    }

    /// <summary>
    /// E[f_k(x)²] of each feature of an embedding for raw values drawn uniformly (classes 0..d-1, or x in [0, 1]):
    /// what a unit-variance raw input becomes after the embedding. One-hot: 1/d each; trig: 1/2 each;
    /// Fourier: 1 for the constant, 1/2 for each cosine and sine; Legendre: E[P_k(t)²] = 1/(2k+1) for t uniform in [-1, 1].
    /// </summary>
    public static double[] EmbeddingMoments(EmbeddingSpec embedding) =>
        embedding switch
        {
            EmbeddingSpec.OneHot o => Enumerable.Repeat(1.0 / o.D, o.D).ToArray(),
            EmbeddingSpec.Trig => [0.5, 0.5],
            EmbeddingSpec.Fourier f => Enumerable.Range(0, f.K).Select(k => k == 0 ? 1.0 : 0.5).ToArray(),
            EmbeddingSpec.Legendre l => Enumerable.Range(0, l.K).Select(k => 1.0 / (2 * k + 1)).ToArray(),
            _ => Enumerable.Repeat(1.0, embedding.Width).ToArray(),
        };

    /// <summary>Rescales the auto weights of <paramref name="module"/> (made from their bases) as derived above.</summary>
    internal static IReadOnlyDictionary<string, double> Scale(NetworkModule module, PlanView plan, IReadOnlyDictionary<string, InitSpec> bases)
    {
        var spec = module.Spec;
        var carriers = new int[spec.Indices.Length];
        foreach (var t in spec.Tensors)
            foreach (var l in t.Legs.Distinct())
                carriers[l]++;
        var output = spec.Output.ToHashSet();
        double LogShare(TensorSpec t) =>
            t.Legs.Distinct().Where(l => !output.Contains(l) && !spec.Indices[l].IsDynamic)
                .Sum(l => -Math.Log(spec.Indices[l].Size) / carriers[l]);
        var occurrences = spec.Tensors.Where(t => bases.ContainsKey(t.Param) && t.Role == TensorRole.Weight).ToList();
        var logShare = occurrences.GroupBy(t => t.Param).ToDictionary(g => g.Key, g => g.Average(LogShare));

        // The second-moment network: batch indices at size 1, inputs 1, everything else a const filled below.
        var moments = spec with
        {
            Name = spec.Name + ".moments",
            Indices = spec.Indices.Select(i => i.IsDynamic ? i with { Size = 1 } : i).ToArray(),
            Tensors = spec.Tensors.Select(t => t with
            {
                Role = TensorRole.Const,
                Param = t.Role == TensorRole.Input ? "input." + t.Name : t.Param,
                Init = new InitSpec.Constant(1),
                Embedding = null,
            }).ToArray(),
        };
        using var scope = NewDisposeScope();
        using var unused = new Generator(0);
        using var second = new NetworkModule(moments, plan, new NetworkModuleOptions { DType = ScalarType.Float64 });
        using (no_grad())
        {
            foreach (var (name, buffer) in second.named_buffers())
            {
                if (name.StartsWith("input.", StringComparison.Ordinal) && spec.Tensors.All(t => t.Param != name))
                {
                    var input = spec.Tensors.First(t => "input." + t.Name == name);
                    if (input.Embedding is { } e)
                        buffer.mul_(tensor(EmbeddingMoments(e), ScalarType.Float64));
                    continue;
                }
                var source = module.get_parameter(name) ?? module.get_buffer(name)!;
                var square = Square(source.detach().to_type(ScalarType.Float64).cpu());
                if (bases.ContainsKey(name))
                {
                    // E[B²]: 1 for a standard normal base; the identity's square plus the noise variance otherwise.
                    square = bases[name] is InitSpec.Sum
                        ? Plus(Square(Initializers.Make(new InitSpec.Identity(), source.shape, unused)), 1e-4)
                        : ones_like(square);
                    square = Times(square, Math.Exp(logShare[name]));
                }
                buffer.copy_(square);
            }
            var r = second.ForwardLog([]);
            // log of the mean over output entries of E[y²] = logsumexp(log Value + log-scale) − log(count).
            var logs = Plus(r.Value.abs().log(), r.ExpandedLogScale()).flatten();
            double logMean = logs.logsumexp(0).item<double>() - Math.Log(logs.shape[0]);
            double logC = -logMean / occurrences.Count;
            var factors = new Dictionary<string, double>();
            foreach (var (name, _) in bases)
            {
                var p = module.get_parameter(name)!;
                factors[name] = Math.Exp(0.5 * (logShare[name] + logC));
                TimesInPlace(p, factors[name]);
            }
            return factors;
        }
    }
}
