using TnDsl.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>How <see cref="QcnnNetwork"/> keeps the numbers of a deep product network in range.</summary>
public enum QcnnScaling
{
    /// <summary>None: the network's plain output ψ_ℓ(v), a product of about S² factors that underflows or overflows.</summary>
    None,
    /// <summary>
    /// After every product pooling each site's channel vector is divided by its L2 norm (a positive number per
    /// sample and site); the logarithms of the divisors are summed into a per-sample log-scale.
    /// </summary>
    SiteNorm,
}

/// <summary>
/// The q-CNN of <c>examples/qcnn.tn</c> executed block by block on whole grids (one batched matrix product per
/// shared 1×1 convolution, one elementwise product per pooling) instead of pair by pair, with the weights of the
/// <see cref="SpecLayer"/> built from the spec (the same parameters: the layer is a submodule, and
/// <see cref="QcnnEntropy"/> still reads its label states from it). Feature r·S + c of the input is pixel (row r,
/// column c), as in the layer.
/// <para>
/// With <see cref="QcnnScaling.SiteNorm"/> the network is multilinear in each site's channel vector, so dividing a
/// site's vector by a positive n divides every label score of that sample by n: the result is
/// ψ_ℓ(v) / N(v) with N(v) &gt; 0 the product of all divisors, the same for every label. The classifier
/// argmax_ℓ ψ_ℓ(v) — the hypothesis class — is unchanged; only the softmax temperature per sample changes, and a
/// learnable temperature T (a positive scalar, kept as its logarithm) scales the logits: T · ψ_ℓ(v) / N(v).
/// </para>
/// </summary>
public sealed class QcnnNetwork : nn.Module<Tensor, Tensor>
{
    readonly SpecLayer layer;
    readonly Parameter logTemperature;
    readonly string[] conv;
    readonly string head;
    readonly int size;

    /// <summary>Wraps a layer built from <c>examples/qcnn.tn</c>.</summary>
    /// <param name="layer">The q-CNN layer (families <c>px</c>, <c>conv</c>, <c>head</c>).</param>
    /// <param name="scaling">How intermediates are kept in range.</param>
    /// <param name="initialTemperature">The starting temperature T (used with <see cref="QcnnScaling.SiteNorm"/>; a
    /// plain network keeps T = 1 fixed so that its output is the layer's).</param>
    public QcnnNetwork(SpecLayer layer, QcnnScaling scaling, double initialTemperature = 1.0) : base("qcnn")
    {
        if (initialTemperature <= 0 || !double.IsFinite(initialTemperature))
            throw new ArgumentOutOfRangeException(nameof(initialTemperature), "the temperature must be positive");
        this.layer = layer;
        Scaling = scaling;
        var spec = layer.Network.Spec;
        var convs = spec.Tensors.Where(t => t.Family == "conv").ToArray();
        if (convs.Length == 0 || !spec.Tensors.Any(t => t.Family == "head"))
            throw new StudyException($"{spec.Name}: a q-CNN layer needs weight families conv and head (examples/qcnn.tn)");
        int blocks = convs.Max(t => t.Subscripts[0]) + 1;
        conv = Enumerable.Range(0, blocks).Select(b => convs.First(t => t.Subscripts[0] == b).Param).ToArray();
        head = spec.Tensors.First(t => t.Family == "head").Param;
        size = (int)Math.Round(Math.Sqrt(layer.InputFeatures));
        if ((long)size * size != layer.InputFeatures || 1 << blocks != layer.InputFeatures)
            throw new StudyException($"{spec.Name}: expected S × S pixels and log2(S²) blocks, got {layer.InputFeatures} inputs and {blocks} blocks");
        var dtype = layer.Network.get_parameter(head)!.dtype;
        logTemperature = new Parameter(ScalarOps.Full([1], Math.Log(initialTemperature), dtype), requires_grad: scaling != QcnnScaling.None);
        RegisterComponents();
    }

    /// <summary>How intermediates are kept in range.</summary>
    public QcnnScaling Scaling { get; }
    /// <summary>The spec layer whose weights this network uses.</summary>
    public SpecLayer Layer => layer;
    /// <summary>The current temperature T.</summary>
    public double Temperature
    {
        get
        {
            using var value = logTemperature.detach();
            using var t = value.exp();
            return t.item<double>();
        }
    }
    /// <summary>Fourier features per pixel (K).</summary>
    public long Features => layer.Network.get_parameter(conv[0])!.shape[0];

    /// <summary>The logits: ψ_ℓ(v) without scaling; T · ψ_ℓ(v) / N(v) with <see cref="QcnnScaling.SiteNorm"/>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (value, _) = Scores(x);
        return (Scaling == QcnnScaling.None ? value : value * logTemperature.exp()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The label scores in log-scale, without the temperature: (value, log N) with ψ_ℓ(v) = value · e^(log N) per
    /// sample (log N = 0 without scaling). Shapes (batch, labels) and (batch).
    /// </summary>
    public (Tensor Value, Tensor LogScale) Scores(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != (long)size * size)
            throw new ArgumentException($"q-CNN: expected (batch, {size * size}), got [{string.Join(", ", x.shape)}]");
        using var scope = NewDisposeScope();
        long batch = x.shape[0];
        var first = layer.Network.get_parameter(conv[0])!;
        var h = Embeddings.Apply(new EmbeddingSpec.Fourier((int)first.shape[0]), x.reshape(batch, size, size), first.dtype);
        var logScale = zeros(batch, first.dtype, first.device);
        for (int b = 0; b < conv.Length; b++)
        {
            var c = h.matmul(layer.Network.get_parameter(conv[b])!);   // (batch, X, Y, channels)
            long rows = c.shape[1], cols = c.shape[2], channels = c.shape[3];
            // Even blocks pool x (row) neighbours, odd ones y (column) neighbours, as qcnn.tn's pool tensors.
            var pairs = b % 2 == 0 ? c.reshape(batch, rows / 2, 2, cols, channels) : c.reshape(batch, rows, cols / 2, 2, channels);
            int axis = b % 2 == 0 ? 2 : 3;
            h = pairs.select(axis, 0) * pairs.select(axis, 1);
            if (Scaling == QcnnScaling.SiteNorm)
            {
                var norm = ClampMin(h.norm(-1, keepdim: true), 1e-30);
                h = h / norm;
                logScale = Plus(logScale, norm.log().sum([1L, 2L, 3L]));
            }
        }
        var value = h.reshape(batch, -1).matmul(layer.Network.get_parameter(head)!);
        return (value.MoveToOuterDisposeScope(), logScale.MoveToOuterDisposeScope());
    }
}
