using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Torch;

/// <summary>The built-in input embeddings: each maps a tensor of raw values x to x's shape plus one feature axis.</summary>
public static class Embeddings
{
    /// <summary>Applies <paramref name="embedding"/> to raw values, appending a last axis of <see cref="EmbeddingSpec.Width"/> features in <paramref name="dtype"/>.</summary>
    public static Tensor Apply(EmbeddingSpec embedding, Tensor raw, ScalarType dtype)
    {
        switch (embedding)
        {
            case EmbeddingSpec.OneHot o:
                {
                    using var k = raw.to_type(ScalarType.Int64);
                    using var h = nn.functional.one_hot(k, o.D);
                    return h.to_type(dtype);
                }
            case EmbeddingSpec.Trig:
                {
                    using var scope = NewDisposeScope();
                    var x = Times(raw.to_type(dtype), Math.PI / 2);
                    return stack([x.cos(), x.sin()], -1).MoveToOuterDisposeScope();
                }
            case EmbeddingSpec.Fourier f:
                {
                    using var scope = NewDisposeScope();
                    var x = Times(raw.to_type(dtype), Math.PI);
                    var features = new List<Tensor> { ones_like(x) };
                    for (int m = 1; features.Count < f.K; m++)
                    {
                        features.Add(Times(x, m).cos());
                        if (features.Count < f.K)
                            features.Add(Times(x, m).sin());
                    }
                    return stack(features.Take(f.K).ToArray(), -1).MoveToOuterDisposeScope();
                }
            case EmbeddingSpec.Legendre l:
                {
                    using var scope = NewDisposeScope();
                    var t = Minus(Times(raw.to_type(dtype), 2), 1);
                    // Bonnet's recursion: (n+1) P_{n+1} = (2n+1) t P_n - n P_{n-1}.
                    var p = new List<Tensor> { ones_like(t), t };
                    for (int n = 1; p.Count < l.K; n++)
                        p.Add(Over(Minus(Times(t, 2 * n + 1) * p[n], Times(p[n - 1], n)), n + 1));
                    return stack(p.Take(l.K).ToArray(), -1).MoveToOuterDisposeScope();
                }
            default:
                throw new NotSupportedException($"embedding {embedding}");
        }
    }
}
