using TnDsl.Studies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Studies.Tests;

public class StudyTests
{
    static StudyTests() => NativeLoader.EnsureLoaded();

    static readonly LayerOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    static double EntropyOfSingularValues(Tensor m)
    {
        double[] s;
        using (var values = linalg.svdvals(m))
            s = values.data<double>().ToArray();
        double total = s.Sum(x => x * x);
        return -s.Select(x => x * x / total).Where(p => p > 0).Sum(p => p * Math.Log(p));
    }

    [Fact]
    public void a_product_state_has_zero_entropy_even_in_non_orthonormal_bases()
    {
        using var temporaries = NewDisposeScope();
        var g = new Generator(1);
        using var u = randn([5, 1], ScalarType.Float64, generator: g);
        using var v = randn([1, 4], ScalarType.Float64, generator: g);
        using var a = randn([5, 5], ScalarType.Float64, generator: g);
        using var gramA = Plus(a.matmul(a.T), eye(5, dtype: ScalarType.Float64));
        Assert.Equal(0.0, Entanglement.Entropy(u.matmul(v)), 10);
        Assert.Equal(0.0, Entanglement.Entropy(u.matmul(v), gramA, null), 10);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void a_maximally_entangled_two_site_network_has_entropy_log_of_its_bond(int bond)
    {
        using var temporaries = NewDisposeScope();
        // Two sites A[p, b] and B[b, q] joined by a bond of dimension chi, each an isometry (here random
        // orthogonal matrices), make sum_b |a_b>|b_b>: maximally entangled across the bond.
        var g = new Generator(2);
        var (qa, _) = linalg.qr(randn([bond, bond], ScalarType.Float64, generator: g));
        var (qb, _) = linalg.qr(randn([bond, bond], ScalarType.Float64, generator: g));
        using var state = qa.matmul(qb.T);
        Assert.Equal(Math.Log(bond), Entanglement.Entropy(state), 10);
    }

    [Fact]
    public void schmidt_values_in_a_skewed_basis_are_those_of_the_orthonormal_state()
    {
        using var temporaries = NewDisposeScope();
        // |psi> = sum_k s_k |x_k>|y_k> with orthonormal x, y; written in bases whose Gram matrices are G_A, G_B,
        // the coefficient matrix is G_A^-1/2 X diag(s) Y^T G_B^-1/2.
        var g = new Generator(3);
        double[] s = [0.8, 0.5, 0.3];
        var expected = -s.Select(x => x * x / s.Sum(y => y * y)).Sum(p => p * Math.Log(p));
        var (x, _) = linalg.qr(randn([4, 3], ScalarType.Float64, generator: g));
        var (y, _) = linalg.qr(randn([3, 3], ScalarType.Float64, generator: g));
        var a = randn([4, 4], ScalarType.Float64, generator: g);
        var gramA = Plus(a.matmul(a.T), Times(eye(4, dtype: ScalarType.Float64), 0.5));
        var (values, vectors) = linalg.eigh(gramA);
        var inverseRoot = vectors.matmul(diag(values.rsqrt())).matmul(vectors.T);
        var m = inverseRoot.matmul(x).matmul(diag(tensor(s, ScalarType.Float64))).matmul(y.T);
        Assert.Equal(expected, Entanglement.Entropy(m, gramA, null), 9);
    }

    [Fact]
    public void the_fourier_feature_gram_matches_its_integrals()
    {
        using var temporaries = NewDisposeScope();
        using var g = QcnnEntropy.FeatureGram(3);
        // phi = (1, cos(pi v), sin(pi v)) on [0, 1].
        double[,] exact = { { 1, 0, 2 / Math.PI }, { 0, 0.5, 0 }, { 2 / Math.PI, 0, 0.5 } };
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                Assert.Equal(exact[i, j], g[i, j].item<double>(), 9);
    }

    [Fact]
    public void qcnn_label_entropies_match_the_full_state_of_a_two_by_two_qcnn()
    {
        using var temporaries = NewDisposeScope();
        const int k = 3, labels = 2;
        using var layer = Layers.FromSpec(Repo.Example("qcnn.tn"), new { S = 2, K = k, blocks = 2, labels }, F64);
        var spec = layer.Network.Spec;
        Tensor P(string family, int b) => layer.Network.get_parameter(
            spec.Tensors.First(t => t.Family == family && (b < 0 || t.Subscripts[0] == b)).Param)!.detach();
        var w0 = P("conv", 0);
        var w1 = P("conv", 1);
        var head = P("head", -1);
        // Pixel (x, y) is feature 2x + y. Block 0 pools x pairs, block 1 pools the two columns y.
        var a0 = einsum("pj,qj,je->pqe", w0, w0, w1);   // column y = 0: (i00, i10, e)
        var a1 = a0;                                    // column y = 1: (i01, i11, e), same shared weights
        var full = einsum("el,ace,bde->labcd", head, a0, a1);   // (label, i00, i01, i10, i11)

        // The full state reproduces the layer on random pixels.
        using var vGenerator = new Generator(8);
        var v = rand([4, 4], ScalarType.Float64, generator: vGenerator);
        var phi = stack([ones_like(v), Times(v, Math.PI).cos(), Times(v, Math.PI).sin()], -1);   // (batch, pixel, k)
        var byState = einsum("labcd,na,nb,nc,nd->nl", full, phi[.., 0], phi[.., 1], phi[.., 2], phi[.., 3]);
        Assert.True(allclose(byState, layer.forward(v), 1e-9, 1e-12));

        // Orthonormalise each pixel leg with the exact Gram's square root, then SVD across each split.
        double[,] gram = { { 1, 0, 2 / Math.PI }, { 0, 0.5, 0 }, { 2 / Math.PI, 0, 0.5 } };
        var (values, vectors) = linalg.eigh(tensor(gram.Cast<double>().ToArray(), [3, 3], ScalarType.Float64));
        var root = vectors.matmul(diag(values.sqrt())).matmul(vectors.T);
        var orth = einsum("labcd,ai,bj,ck,dm->lijkm", full, root, root, root, root);
        var computed = QcnnEntropy.Compute(layer);
        for (int l = 0; l < labels; l++)
        {
            var psi = orth[l];
            var leftRight = EntropyOfSingularValues(psi.permute(0, 2, 1, 3).reshape(k * k, k * k));   // (i00 i10 | i01 i11)
            var upDown = EntropyOfSingularValues(psi.reshape(k * k, k * k));                          // (i00 i01 | i10 i11)
            Assert.Equal(leftRight, computed[l].LeftRight, 8);
            Assert.Equal(upDown, computed[l].UpDown, 8);
        }
        Assert.True(computed.Any(c => c.LeftRight > 1e-3), "a random q-CNN should be entangled");
    }

    [Fact]
    public void qcnn_label_entropies_do_not_depend_on_the_weights_scale_even_when_the_grams_would_overflow()
    {
        using var temporaries = NewDisposeScope();
        // A deep q-CNN squares its Gram once per block (8 blocks: scale^256), so weights 30x larger than a trained
        // network's would overflow float64 without the per-block rescaling. The states are the same up to a positive
        // factor per label, so the entropies must be too.
        using var layer = Layers.FromSpec(Repo.Example("qcnn.tn"), new { S = 16, K = 2, blocks = 8, labels = 2 },
            new LayerOptions { DType = ScalarType.Float64, Calibrate = false });
        var before = QcnnEntropy.Compute(layer);
        using (no_grad())
            foreach (var p in layer.parameters())
                TimesInPlace(p, 30.0);
        var after = QcnnEntropy.Compute(layer);
        for (int l = 0; l < before.Length; l++)
        {
            Assert.True(double.IsFinite(after[l].LeftRight), $"label {l}: entropy {after[l].LeftRight}");
            Assert.Equal(before[l].LeftRight, after[l].LeftRight, 8);
        }
    }

    [Fact]
    public void a_tiny_training_run_on_a_few_hundred_images_lowers_the_loss()
    {
        using var temporaries = NewDisposeScope();
        // 300 synthetic 8 x 8 images: class c lights up the c-th horizontal band, plus noise.
        var g = new Generator(4);
        var labels = randint(0, 3, [300], generator: g);
        var images = Times(rand([300, 8, 8], generator: g), 0.3f);
        for (int c = 0; c < 3; c++)
        {
            var mask = Equal(labels, c).unsqueeze(1).unsqueeze(2).to_type(ScalarType.Float32);
            var band = zeros(8, 8);
            Put(band, 1.0f, TensorIndex.Slice(c * 2, c * 2 + 3), TensorIndex.Colon);
            images = Plus(images, Times(mask * band, 0.7f));
        }
        manual_seed(4);
        var layer = Layers.FromSpec(Repo.Example("layers/tt-linear.tn"), new { k = 3, m = 4, q = 2, r = 2 });
        using var model = Blocks.Mlp(new Blocks.WithBias(layer, 8), 8, 3);
        double Loss()
        {
            using var noGrad = no_grad();
            using var logits = model.forward(images);
            return nn.functional.cross_entropy(logits, labels).item<float>();
        }
        double before = Loss();
        var history = Trainer.Fit("tiny", model, images, labels, null, null,
            new TrainSettings { Epochs = 4, BatchSize = 30, LearningRate = 0.02, Progress = false, Seed = 1 });
        double after = Loss();
        Assert.Equal(4, history.Count);
        Assert.True(after < 0.7 * before, $"loss {before:0.000} -> {after:0.000}");
    }
}
