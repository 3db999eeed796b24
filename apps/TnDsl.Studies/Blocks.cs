using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies;

/// <summary>Small modules the studies assemble models from.</summary>
public static class Blocks
{
    /// <summary>A layer followed by a trainable bias (spec layers have none of their own).</summary>
    public sealed class WithBias : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> inner;
        readonly Parameter bias;

        /// <summary>Adds a zero-initialised bias of <paramref name="outputs"/> entries after <paramref name="layer"/>.</summary>
        public WithBias(nn.Module<Tensor, Tensor> layer, long outputs) : base("with_bias")
        {
            inner = layer;
            bias = new Parameter(zeros(outputs));
            RegisterComponents();
        }

        /// <inheritdoc/>
        public override Tensor forward(Tensor x)
        {
            using var y = inner.forward(x);
            return Plus(y, bias);
        }
    }

    /// <summary>Flatten, then <paramref name="hidden"/> (features → width) with a bias, ReLU, and a dense classifier.</summary>
    public static nn.Module<Tensor, Tensor> Mlp(nn.Module<Tensor, Tensor> hidden, long width, int classes) =>
        nn.Sequential(
            ("flatten", nn.Flatten()),
            ("hidden", hidden),
            ("relu", nn.ReLU()),
            ("classifier", nn.Linear(width, classes)));

    /// <summary>
    /// The small CNN front of the head study: two 3×3 convolutions (1→8→16 channels) with ReLU and 2×2 max pooling,
    /// then adaptive average pooling to 4×4: 28×28 images → 256 features.
    /// </summary>
    public static nn.Module<Tensor, Tensor> CnnFront() =>
        nn.Sequential(
            ("unsqueeze", new Unsqueeze()),
            ("conv1", nn.Conv2d(1, 8, 3, padding: 1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(8, 16, 3, padding: 1)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("avg", nn.AdaptiveAvgPool2d(4)),
            ("flatten", nn.Flatten()));

    /// <summary>Adds the channel axis: (batch, rows, cols) → (batch, 1, rows, cols).</summary>
    public sealed class Unsqueeze() : nn.Module<Tensor, Tensor>("unsqueeze")
    {
        /// <inheritdoc/>
        public override Tensor forward(Tensor x) => x.unsqueeze(1);
    }
}
