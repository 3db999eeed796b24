using TnDsl.Api;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>One input family of a layer: its name, the shape its block of features is reshaped to, and its width.</summary>
/// <param name="Name">The input family's name in the spec.</param>
/// <param name="Shape">The shape of one sample's block (members first when the family has subscripts, then the
/// member's fixed legs in declared order, without an embedded leg).</param>
/// <param name="Features">The block's width: the product of <paramref name="Shape"/>.</param>
/// <param name="Embedded">True when the family declares an embedding (its features are raw values such as pixels).</param>
public sealed record LayerInput(string Name, long[] Shape, long Features, bool Embedded);

/// <summary>
/// A tensor network as an ordinary layer: (batch, features) → (batch, outputs). The feature vector is split into one
/// contiguous block per input family, in the order the families are declared, and each block is reshaped row-major
/// onto the family's legs: for <c>input x: (batch, a[0..3])</c> feature <c>((a0·A1 + a1)·A2 + a2)·A3 + a3</c> feeds
/// <c>x[a0, a1, a2, a3]</c>; for a family <c>px[x, y]</c> of single-leg members, feature <c>x·Y + y</c> feeds
/// member <c>px[x, y]</c> (members in declaration order). Embedded inputs take raw values (e.g. pixels in [0, 1]).
/// The output is the network's output with the batch leg moved first and the other legs flattened row-major in their
/// declared order.
/// </summary>
public sealed class SpecLayer : nn.Module<Tensor, Tensor>
{
    readonly NetworkModule network;
    readonly LayerInput[] inputs;
    readonly int batchAxis;

    /// <summary>Wraps a built network module (see <see cref="Layers.FromSpec(string, object?, LayerOptions?)"/>).</summary>
    /// <param name="flat">The checked network.</param>
    /// <param name="network">The module contracting it.</param>
    /// <param name="scaleFree">Return scale-free outputs (see <see cref="ScaleFree"/>).</param>
    public SpecLayer(NetworkView flat, NetworkModule network, bool scaleFree = false) : base(network.Spec.Name)
    {
        Flat = flat;
        ScaleFree = scaleFree;
        this.network = network;
        var spec = network.Spec;
        inputs = network.InputNames.Select(name => Describe(spec, name)).ToArray();
        if (inputs.Length == 0)
            throw new TnException($"{spec.Name} has no input tensors: a layer needs `input` tensors that carry the batch leg (see examples/layers/)");
        var dynamicOut = spec.Output.Select((leg, k) => (leg, k)).Where(p => spec.Indices[p.leg].IsDynamic).ToArray();
        if (dynamicOut.Length != 1)
            throw new TnException($"{spec.Name}: a layer's output needs exactly one batch (dynamic) leg, it has {dynamicOut.Length}");
        batchAxis = dynamicOut[0].k;
        OutputLegs = spec.Output.Where(l => !spec.Indices[l].IsDynamic).Select(l => spec.Indices[l].Name).ToArray();
        OutputFeatures = spec.Output.Where(l => !spec.Indices[l].IsDynamic).Aggregate(1L, (acc, l) => acc * spec.Indices[l].Size);
        RegisterComponents();
    }

    static LayerInput Describe(NetworkSpec spec, string family)
    {
        var members = spec.Tensors.Where(t => t.Role == TensorRole.Input && t.Family == family).ToArray();
        var first = members[0];
        var dynamicLegs = first.Legs.Count(l => spec.Indices[l].IsDynamic);
        if (dynamicLegs != 1)
            throw new TnException($"input {first.Name} needs exactly one batch (dynamic) leg to be fed by a layer, it has {dynamicLegs}");
        var body = first.Embedding is null ? first.Legs : first.Legs[..^1];
        long[] memberShape = body.Where(l => !spec.Indices[l].IsDynamic).Select(l => spec.Indices[l].Size).ToArray();
        long[] shape = first.Subscripts.Length > 0 ? [members.Length, .. memberShape] : memberShape;
        return new LayerInput(family, shape, shape.Aggregate(1L, (a, b) => a * b), first.Embedding is not null);
    }

    /// <summary>The checked network this layer computes.</summary>
    public NetworkView Flat { get; }
    /// <summary>The network module doing the contraction.</summary>
    public NetworkModule Network => network;
    /// <summary>The input families in feature order.</summary>
    public IReadOnlyList<LayerInput> Inputs => inputs;
    /// <summary>The width of the feature vector: the sum of the input blocks.</summary>
    public long InputFeatures => inputs.Sum(i => i.Features);
    /// <summary>The width of the output: the product of the non-batch output legs.</summary>
    public long OutputFeatures { get; }
    /// <summary>The non-batch output legs, in the order they are flattened.</summary>
    public IReadOnlyList<string> OutputLegs { get; }
    /// <summary>The number of trainable scalars (tied weights counted once).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// When true, <see cref="forward"/> returns the <see cref="ForwardScaled"/> value: each sample's outputs divided
    /// by their largest absolute value, computed in log-scale so that no intermediate underflows or overflows. The
    /// divisor is positive and common to a sample's outputs, so their ratios, signs and argmax are the network's.
    /// </summary>
    public bool ScaleFree { get; }

    /// <summary>Maps (batch, <see cref="InputFeatures"/>) to (batch, <see cref="OutputFeatures"/>).</summary>
    public override Tensor forward(Tensor x)
    {
        if (ScaleFree)
        {
            using var scope = NewDisposeScope();
            return ForwardScaled(x).Value.MoveToOuterDisposeScope();
        }
        using var plain = NewDisposeScope();
        var y = network.forward(Split(x));
        return Flatten(y, x.shape[0]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The output in log-scale (<see cref="NetworkModule.ForwardLog(Tensor[])"/>): a (batch, <see cref="OutputFeatures"/>)
    /// value whose largest absolute entry per sample is 1, and a (batch) log-scale, the output being value · e^scale.
    /// </summary>
    public LogScaled ForwardScaled(Tensor x)
    {
        using var scope = NewDisposeScope();
        var r = network.ForwardLog(Split(x));
        var value = Flatten(r.Value, x.shape[0]);
        var log = r.LogScale.reshape(x.shape[0]);
        return new LogScaled(value.MoveToOuterDisposeScope(), log.MoveToOuterDisposeScope(), [0]);
    }

    Tensor[] Split(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != InputFeatures)
            throw new ArgumentException($"{network.Spec.Name}: expected (batch, {InputFeatures}), got [{string.Join(", ", x.shape)}]");
        long batch = x.shape[0];
        var parts = new Tensor[inputs.Length];
        long offset = 0;
        for (int k = 0; k < inputs.Length; k++)
        {
            parts[k] = x.narrow(1, offset, inputs[k].Features).reshape([batch, .. inputs[k].Shape]);
            offset += inputs[k].Features;
        }
        return parts;
    }

    Tensor Flatten(Tensor y, long batch) =>
        (batchAxis != 0 ? y.movedim([batchAxis], [0L]) : y).reshape(batch, OutputFeatures);
}
