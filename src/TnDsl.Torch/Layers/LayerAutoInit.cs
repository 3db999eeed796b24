using TnDsl.Api;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Torch;

/// <summary>
/// The layers' reading of the <c>auto</c> initialiser: every weight declared <c>init auto</c> starts as
/// normal(0, 1/√fan) (fan: the product of its legs but the last), then all of them are scaled by one common factor so
/// that the layer's output has unit root-mean-square on a calibration batch (uniform [0, 1) raw values for embedded
/// inputs, standard normal features otherwise). A network is multilinear in its tensors, so scaling each of the m
/// uses of auto weights by c scales the output by c^m and one step is exact; a second step absorbs rounding.
/// </summary>
public static class LayerAutoInit
{
    const int CalibrationBatch = 256;

    /// <summary>The spec with every pure <c>auto</c> initialiser replaced by normal(0, 1/√fan).</summary>
    public static NetworkSpec Prepare(NetworkSpec spec)
    {
        var tensors = spec.Tensors.Select(t =>
        {
            if (t.Init is not InitSpec.Auto)
                return t;
            double fan = t.Legs.Length <= 1 ? 1 : t.Legs[..^1].Aggregate(1.0, (acc, l) => acc * spec.Indices[l].Size);
            return t with { Init = new InitSpec.Normal(0, 1 / Math.Sqrt(fan)) };
        }).ToArray();
        return spec with { Tensors = tensors };
    }

    /// <summary>Scales the <c>auto</c> weights of a freshly built layer (see the type's summary).</summary>
    /// <param name="layer">The layer built from the prepared spec.</param>
    /// <param name="declared">The spec as declared (before <see cref="Prepare"/>), which says which weights are auto.</param>
    /// <param name="seed">Seeds the calibration batch.</param>
    public static void Calibrate(SpecLayer layer, NetworkSpec declared, long seed)
    {
        var spec = declared;
        var auto = spec.Tensors.Where(t => t.Role == TensorRole.Weight && t.Init is InitSpec.Auto).ToArray();
        if (auto.Length == 0)
            return;
        var names = auto.Select(t => t.Param).Distinct().ToArray();
        int uses = auto.Length;
        using var generator = new Generator((ulong)(seed + 1));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var parts = layer.Inputs.Select(i => i.Embedded
            ? rand([CalibrationBatch, i.Features], ScalarType.Float64, generator: generator)
            : randn([CalibrationBatch, i.Features], ScalarType.Float64, generator: generator)).ToArray();
        var x = cat(parts, 1);
        for (int step = 0; step < 2; step++)
        {
            var y = layer.forward(x);
            double rms = Math.Sqrt(Square(y).mean().item<double>());
            if (!double.IsFinite(rms) || rms == 0)
                throw new TnException($"{spec.Name}: the auto initialisation gives a {(rms == 0 ? "zero" : "non-finite")} output; give the weights an explicit init");
            double factor = Math.Pow(rms, -1.0 / uses);
            foreach (var name in names)
                TimesInPlace(layer.Network.get_parameter(name)!, factor);
        }
    }
}
