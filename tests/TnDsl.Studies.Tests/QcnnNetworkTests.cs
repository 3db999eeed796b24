using TnDsl.Studies;
using Xunit;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies.Tests;

public class QcnnNetworkTests
{
    static QcnnNetworkTests() => NativeLoader.EnsureLoaded();

    static SpecLayer Qcnn(int size, int k, int labels, ScalarType dtype, bool scaleFree = false) =>
        Layers.FromSpec(Repo.Example("qcnn.tn"), new { S = size, K = k, blocks = (int)Math.Round(Math.Log2(size * size)), labels },
            new LayerOptions { DType = dtype, Seed = 9, ScaleFree = scaleFree });

    static void ScaleConvolutions(SpecLayer layer, double factor)
    {
        using var noGrad = no_grad();
        foreach (var name in layer.Network.Spec.Tensors.Where(t => t.Family == "conv").Select(t => t.Param).Distinct())
            TimesInPlace(layer.Network.get_parameter(name)!, factor);
    }

    [Fact]
    public void the_block_executor_computes_the_spec_layer_with_and_without_site_normalisation()
    {
        using var temporaries = NewDisposeScope();
        using var layer = Qcnn(4, 3, 5, ScalarType.Float64);
        using var xGenerator = new Generator(2);
        using var x = rand([7, 16], ScalarType.Float64, generator: xGenerator);
        using var expected = layer.forward(x);   // the generic pairwise contraction of qcnn.tn
        using var plain = new QcnnNetwork(layer, QcnnScaling.None);
        Assert.True(allclose(plain.forward(x), expected, 1e-9, 1e-12));

        using var normalised = new QcnnNetwork(layer, QcnnScaling.SiteNorm, initialTemperature: 2.5);
        var (value, logScale) = normalised.Scores(x);
        Assert.True(allclose(value * logScale.exp().unsqueeze(1), expected, 1e-9, 1e-12));
        // Logits are T · ψ / N(v): the same positive factor for every label of a sample.
        var ratio = normalised.forward(x) / expected;
        Assert.True(ratio.min().item<double>() > 0);
        Assert.True(allclose(ratio, ratio[.., 0..1].expand_as(ratio), 1e-9, 1e-12));
        Assert.True(allclose(ratio[.., 0], Times((-logScale).exp(), 2.5), 1e-9, 1e-12));
    }

    [Fact]
    public void a_scale_free_layer_divides_each_sample_by_its_largest_output()
    {
        using var temporaries = NewDisposeScope();
        using var plain = Qcnn(4, 3, 5, ScalarType.Float64);
        using var scaleFree = Qcnn(4, 3, 5, ScalarType.Float64, scaleFree: true);
        using var xGenerator = new Generator(3);
        using var x = rand([6, 16], ScalarType.Float64, generator: xGenerator);
        using var y = plain.forward(x);
        using var expected = y / y.abs().amax([1L], keepdim: true);
        Assert.True(allclose(scaleFree.forward(x), expected, 1e-9, 1e-12));
    }

    [Fact]
    public void a_deep_product_network_underflows_in_float32_but_its_normalised_runs_keep_the_float64_argmax()
    {
        using var temporaries = NewDisposeScope();
        // An 8 x 8 q-CNN: 126 convolution tensors on every path product, each scaled by 0.3, puts the scores
        // near 1e-66: zero in float32 (smallest subnormal 1.4e-45), fine in float64 log-space.
        const int labels = 10;
        using var reference = Qcnn(8, 4, labels, ScalarType.Float64);
        using var single = Qcnn(8, 4, labels, ScalarType.Float32);
        using var singleScaleFree = Qcnn(8, 4, labels, ScalarType.Float32, scaleFree: true);
        foreach (var layer in new[] { reference, single, singleScaleFree })
            ScaleConvolutions(layer, 0.3);
        using var x64Generator = new Generator(4);
        using var x64 = rand([32, 64], ScalarType.Float64, generator: x64Generator);
        using var x32 = x64.to_type(ScalarType.Float32);

        using var exact = reference.ForwardScaled(x64);   // the generic contraction in float64 log-scale
        var expectedLabel = exact.Value.argmax(1);
        Assert.True(exact.LogScale.max().item<double>() < Math.Log(1e-45), "the reference scores should be below float32's range");

        using var plain = new QcnnNetwork(single, QcnnScaling.None);
        Assert.Equal(0.0, plain.forward(x32).abs().max().item<float>());
        Assert.Equal(0.0, single.forward(x32).abs().max().item<float>());

        using var normalised = new QcnnNetwork(single, QcnnScaling.SiteNorm);
        var expectedLabels = expectedLabel.data<long>().ToArray();
        Assert.Equal(expectedLabels, normalised.forward(x32).argmax(1).data<long>().ToArray());
        Assert.Equal(expectedLabels, singleScaleFree.forward(x32).argmax(1).data<long>().ToArray());

        // The normalised run also recovers log|ψ| of the winning label to float32 precision.
        var (value, logScale) = normalised.Scores(x32);
        var logAbs = Plus(value.abs().log().gather(1, expectedLabel.unsqueeze(1)).squeeze(1), logScale);
        var expectedLogAbs = exact.LogAbs().gather(1, expectedLabel.unsqueeze(1)).squeeze(1);
        Assert.True(allclose(logAbs.to_type(ScalarType.Float64), expectedLogAbs, 1e-4, 1e-3));
    }

    [Fact]
    public void a_tiny_normalised_qcnn_learns_a_synthetic_task_far_above_chance()
    {
        using var temporaries = NewDisposeScope();
        // 8 x 8 images, 3 classes: horizontal stripes, vertical stripes (random phase), plain noise; chance 1/3.
        // Stripes of either direction have the same pixel histogram, so only pair structure separates them. (A
        // q-CNN cannot tell a left quadrant from a right one: swapping the two children of any pooling leaves it
        // unchanged, so tasks that need that are not learnable by it.)
        var g = new Generator(6);
        (Tensor X, Tensor Y) Data(long n)
        {
            var labels = randint(0, 3, [n], generator: g);
            var phase = randint(0, 2, [n, 1, 1], generator: g).to_type(ScalarType.Float32);
            var rows = Arange(8, ScalarType.Float32).reshape(1, 8, 1);
            var cols = Arange(8, ScalarType.Float32).reshape(1, 1, 8);
            var horizontal = Remainder(Plus(rows, phase), 2).expand(n, 8, 8);
            var vertical = Remainder(Plus(cols, phase), 2).expand(n, 8, 8);
            var noise = rand([n, 8, 8], generator: g);
            var pattern = where(Equal(labels, 0).reshape(n, 1, 1), horizontal, where(Equal(labels, 1).reshape(n, 1, 1), vertical, rand([n, 8, 8], generator: g)));
            return (Plus(Times(pattern, 0.7f), Times(noise, 0.3f)).reshape(n, 64), labels);
        }
        var (trainX, trainY) = Data(600);
        var (testX, testY) = Data(300);
        using var layer = Qcnn(8, 4, 3, ScalarType.Float32);
        ProductInit.Copy(layer, seed: 1, noise: 0.2);
        using var model = new QcnnNetwork(layer, QcnnScaling.SiteNorm);
        var history = Trainer.Fit("tiny q-CNN", model, trainX, trainY, testX, testY,
            new TrainSettings { Epochs = 6, BatchSize = 50, LearningRate = 0.01, Progress = false, Seed = 1 });
        Assert.True(history[^1].TestAccuracy > 0.8, $"test accuracy {history[^1].TestAccuracy:0.000}");
    }
}
