using TnDsl.Torch;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>
/// Initialisation for networks with product pooling (ConvAC, q-CNN). A product of many random factors is
/// log-normal — almost every output near zero, a few huge — whatever the overall scale, and training stalls. Here
/// channel 0 carries a constant 1 through every level instead: the 1×1 convolutions map channel 0 to channel 0 with
/// weight 1 (and, for a first layer fed one-hot inputs, every input channel to channel 0, since one-hot vectors sum to
/// 1), so each pooled channel 0 is 1 · 1; every other weight, the head included, is normal(0, noise).
/// </summary>
public static class ProductInit
{
    /// <summary>
    /// A random start for networks whose pooled vectors are normalised (<see cref="QcnnScaling.SiteNorm"/>): every
    /// weight normal(0, 1/√fan-in) (fan-in: the first leg), so a 1×1 convolution maps a unit vector to one of unit
    /// expected norm, and the head gives unit-variance scores on unit-norm features when its fan-in is 1 per channel
    /// — the head is normal(0, 1). Without normalisation the products of such factors still drift log-normally.
    /// </summary>
    public static void UnitVariance(SpecLayer layer, long seed)
    {
        using var generator = new Generator((ulong)seed + 13);
        ForEachWeight(layer, (t, p) =>
        {
            double std = IsConv(t) ? 1 / Math.Sqrt(p.shape[0]) : 1.0;
            using var values = Times(randn(p.shape, p.dtype, generator: generator), std);
            p.copy_(values);
        });
    }

    /// <summary>
    /// A start in which every channel carries 1 plus a small signal and keeps it: the first convolution maps the
    /// constant feature (input channel 0, φ₀ = 1) to every output channel with weight 1, and every later convolution
    /// copies input channel i mod r_in to output channel i; on top, every weight gets normal(0, noise). A pooled
    /// channel is then (1 + ε_left)(1 + ε_right) ≈ 1 + ε_left + ε_right, each channel sums its own local signals over
    /// the image, and since channels differ (their first-layer noise differs), the deviations from the mean survive a
    /// per-site normalisation at first order. The head is normal(0, 1).
    /// </summary>
    public static void Copy(SpecLayer layer, long seed, double noise)
    {
        using var generator = new Generator((ulong)seed + 17);
        ForEachWeight(layer, (t, p) =>
        {
            bool isConv = IsConv(t);
            using var values = Times(randn(p.shape, p.dtype, generator: generator), isConv ? noise : 1.0);
            p.copy_(values);
            if (!isConv)
                return;
            long rows = p.shape[0], cols = p.shape[1];
            if (t.Subscripts.Length > 0 && t.Subscripts[0] == 0)
            {
                using var row = p[0];
                using var first = Plus(row, 1.0);
                row.copy_(first);
            }
            else
                for (long i = 0; i < cols; i++)
                {
                    using var cell = p[i % rows, i];
                    using var entry = Plus(cell, 1.0);
                    cell.copy_(entry);
                }
        });
    }

    /// <summary>
    /// The alternative start: every channel carries 1 plus a small signal. First-layer (one-hot) weights are
    /// 1 + normal(0, noise); later convolutions average their inputs (1/r_in + normal(0, noise/r_in)), so a pooled
    /// channel is (1 + ε_left)(1 + ε_right) ≈ 1 + ε_left + ε_right: signals from every position reach the top at first
    /// order and their interactions at second order, instead of only through small channels.
    /// </summary>
    public static void AllOnes(SpecLayer layer, long seed, double noise)
    {
        using var generator = new Generator((ulong)seed + 11);
        ForEachWeight(layer, (t, p) =>
        {
            using var values = Times(randn(p.shape, p.dtype, generator: generator), noise);
            if (!IsConv(t))
                p.copy_(values);
            else if (t.Subscripts.Length > 0 && t.Subscripts[0] == 0)
            {
                using var shifted = Plus(values, 1.0);
                p.copy_(shifted);
            }
            else
            {
                using var shifted = Plus(values, 1.0);
                using var averaged = Over(shifted, p.shape[0]);
                p.copy_(averaged);
            }
        });
    }

    /// <summary>Re-initialises the layer's weights as described on the type.</summary>
    /// <param name="layer">A layer built from a spec with families <c>conv</c> (1×1 convolutions, input channel first) and <c>head</c>.</param>
    /// <param name="seed">Seeds the noise.</param>
    /// <param name="noise">Standard deviation off the constant path.</param>
    /// <param name="oneHotFirstLayer">True when the first convolution reads one-hot inputs (every input maps to channel 0).</param>
    public static void NearConstant(SpecLayer layer, long seed, double noise, bool oneHotFirstLayer)
    {
        using var generator = new Generator((ulong)seed + 7);
        ForEachWeight(layer, (t, p) =>
        {
            using var values = Times(randn(p.shape, p.dtype, generator: generator), noise);
            p.copy_(values);
            if (!IsConv(t))
                return;
            if (oneHotFirstLayer && t.Subscripts.Length > 0 && t.Subscripts[0] == 0)
                Put(p, 1.0, TensorIndex.Colon, 0);
            else
                Put(p, 1.0, 0, 0);
        });
    }

    static bool IsConv(TensorSpec t) => t.Family.EndsWith("conv", StringComparison.Ordinal);

    /// Calls <paramref name="set"/> once per distinct weight parameter (shared weights once), without gradient tracking,
    /// in the spec's tensor order (so seeded draws are reproducible).
    static void ForEachWeight(SpecLayer layer, Action<TensorSpec, TorchSharp.Modules.Parameter> set)
    {
        using var noGrad = no_grad();
        foreach (var t in layer.Network.Spec.Tensors.Where(t => t.Role == TensorRole.Weight).GroupBy(t => t.Param).Select(g => g.First()))
            set(t, layer.Network.get_parameter(t.Param)!);
    }
}
