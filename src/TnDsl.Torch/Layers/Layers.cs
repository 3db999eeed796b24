using TnDsl.Api;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>Choices for building a layer from a spec.</summary>
public sealed record LayerOptions
{
    /// <summary>The network to use when the file defines several (null: the last).</summary>
    public string? NetworkName { get; init; }
    /// <summary>The planner's optimizer for the contraction order (<c>auto</c> also tries the bond-greedy sweep).</summary>
    public string Optimizer { get; init; } = "auto";
    /// <summary>The size of the batch while planning (<see cref="BatchSizes"/>); null plans at the nominal size declared in
    /// the file (as <c>tn plan</c> does).</summary>
    public BatchSizes? Batch { get; init; }
    /// <summary>Seed of the weight initialisation (and of the calibration batch of <c>auto</c> weights).</summary>
    public long Seed { get; init; }
    /// <summary>The dtype of parameters and results.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
    /// <summary>Where the layer lives (null: CPU).</summary>
    public Device? Device { get; init; }
    /// <summary>
    /// Run in log-scale and return each sample's outputs divided by their largest absolute value (see
    /// <see cref="SpecLayer.ScaleFree"/>): for product-pooling networks (q-CNN, ConvAC) whose plain output underflows
    /// or overflows. Every output of a sample is divided by the same positive number, so the argmax is unchanged.
    /// </summary>
    public bool ScaleFree { get; init; }
    /// <summary>
    /// Scale the <c>auto</c> weights so that the output has unit RMS on a calibration batch (the default; see
    /// <see cref="LayerAutoInit"/>). Off: they stay normal(0, 1/√fan), e.g. when the caller re-initialises them.
    /// </summary>
    public bool Calibrate { get; init; } = true;
}

/// <summary>
/// Layers from <c>.tn</c> specs: <c>Layers.FromSpec("examples/layers/mera.tn", new { L = 3, chi = 4 })</c> in C#,
/// <c>Layers.FromSpec("examples/layers/mera.tn", [ "L", box 3; "chi", box 4 ])</c> in F#. The result is a
/// <see cref="SpecLayer"/>, a <c>Module&lt;Tensor, Tensor&gt;</c> mapping (batch, features) → (batch, outputs) that
/// composes with ordinary TorchSharp modules (see <see cref="SpecLayer"/> for how features meet the input legs).
/// </summary>
public static class Layers
{
    /// <summary>
    /// Builds a layer from a spec file with parameter overrides given as an anonymous object, a dictionary or
    /// (name, value) pairs. Throws <see cref="TnException"/> with the rendered diagnostics when the file has errors.
    /// </summary>
    public static SpecLayer FromSpec(string path, object? overrides = null, LayerOptions? options = null) =>
        FromNetwork(Check(path, LayerOverrides.From(overrides), options?.NetworkName), options);

    /// <summary>The F#-friendly overload: overrides as a list of (name, value) tuples.</summary>
    public static SpecLayer FromSpec(string path, IEnumerable<Tuple<string, object>> overrides, LayerOptions? options = null) =>
        FromSpec(path, (object)overrides, options);

    /// <summary>
    /// Checks a spec file and returns its network; throws <see cref="TnException"/> on errors. A mistake in the
    /// overrides is named as <paramref name="origin"/> gives them (null: the API's, <c>overrides(1,1): … override L=x: …</c>;
    /// <c>tn layer</c> passes <see cref="OverrideOrigin.CommandLine"/>).
    /// </summary>
    public static NetworkView Check(string path, IReadOnlyList<KeyValuePair<string, string>> overrides, string? networkName = null,
                                    OverrideOrigin? origin = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Frontend.Load(path, overrides, networkName, origin ?? OverrideOrigin.Api);
    }

    /// <summary>Builds a layer from a checked flat network: plans it, initialises weights (<c>auto</c> by calibration).</summary>
    public static SpecLayer FromNetwork(NetworkView net, LayerOptions? options = null)
    {
        options ??= new LayerOptions();
        BatchSizes.Validate(options.Batch, "LayerOptions.Batch");
        var declared = NetworkAdapter.FromFlat(net);
        var spec = LayerAutoInit.Prepare(declared);
        // A layer is trained: its plan must fit with the kept activations and gradients, sliced where that helps.
        var plan = MemoryGuard.Fit(limit => NetworkAdapter.Plan(net, options.Optimizer, options.Batch, 0, limit), null, options.DType, training: true,
            $"layer {net.Name} ({options.DType.ToString().ToLowerInvariant()}{(options.Batch is not null ? $", batch {BatchSizes.Describe(spec, BatchSizes.Extents(spec, options.Batch))}" : "")})",
            spec, options.Batch);
        var built = new NetworkModule(spec, plan, new NetworkModuleOptions { DType = ScalarType.Float64, Seed = options.Seed });
        var layer = new SpecLayer(net, built);
        if (options.Calibrate)
            LayerAutoInit.Calibrate(layer, declared, options.Seed);
        if (options.ScaleFree)
            layer = new SpecLayer(net, built, scaleFree: true);
        layer.to(options.DType);
        if (options.Device is { } device)
            layer.to(device);
        // The plan was fitted for training in this dtype.
        built.FittedForTraining();
        return layer;
    }
}
