using TnDsl.BornMachine;
using TnDsl.Torch;
using TorchSharp;
using Xunit;
using static TnDsl.BornMachine.Tests.BornMachineSupport;
using static TorchSharp.torch;

namespace TnDsl.BornMachine.Tests;

public class BornMachineTests
{
    static bool IsBarOrStripe(long[] image, int side)
    {
        bool rowsConstant = true, columnsConstant = true;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                rowsConstant &= image[y * side + x] == image[y * side];
                columnsConstant &= image[y * side + x] == image[x];
            }
        return rowsConstant || columnsConstant;
    }

    static (BornTrainer Trainer, MpsLayout Layout, BornDataset Data) BarsAndStripes(BornOptions options)
    {
        var data = BornData.Load(BarsAndStripesDir);
        var layout = BornSetup.LoadLayout(BornMachineTn, [], data.Train.Size);
        var trainer = BornTrainer.Start(layout, BornSetup.Images(data.Train, layout), BornSetup.Images(data.Test, layout), options);
        return (trainer, layout, data);
    }

    [Fact]
    public void Checkpointed_environments_give_the_same_bits_as_keeping_every_one_and_hold_about_four_sqrt_n()
    {
        using var temporaries = NewDisposeScope();
        var options = new BornOptions { Dmax = 6, LearningRate = 0.05, Seed = 3 };
        (double[][] Sites, double[] Nll, int MostHeld) Run(int? block)
        {
            var (trainer, _, _) = BarsAndStripes(options);
            using var _t = trainer;
            if (block is int b)
                trainer.EnvironmentBlock = b;
            int most = 0;
            for (int loop = 0; loop < 3; loop++)
                trainer.RunLoop((_, _, _) => most = Math.Max(most, trainer.HeldEnvironments));
            // Environments are reused buffers, cut a block at a time: never more than the most held, rounded up to a block.
            int chunk = (int)Math.Ceiling(Math.Sqrt(trainer.Model.Length));
            Assert.True(trainer.EnvironmentBuffers <= (most + 1 + chunk) / chunk * chunk + chunk,
                $"{trainer.EnvironmentBuffers} environment buffers for at most {most} held");
            var sites = Enumerable.Range(0, trainer.Model.Length).Select(k => trainer.Model[k].contiguous().data<double>().ToArray()).ToArray();
            return (sites, trainer.History.Select(h => h.TrainNll).ToArray(), most);
        }
        var all = Run(1);
        int n = all.Sites.Length;
        foreach (int? block in new int?[] { null, 2, 3, 5, n })
        {
            var run = Run(block);
            Assert.Equal(all.Nll, run.Nll);
            for (int k = 0; k < n; k++)
                Assert.Equal(all.Sites[k], run.Sites[k]);
            if (block is null)
            {
                int b = (int)Math.Ceiling(Math.Sqrt(n));
                Assert.True(run.MostHeld <= 2 * (n / b) + 2 * b + 2, $"held {run.MostHeld} environments at n = {n}, block {b}");
                Assert.True(run.MostHeld < all.MostHeld, $"checkpointing held {run.MostHeld}, keeping all {all.MostHeld}");
            }
        }
        var (t, _, _) = BarsAndStripes(options);
        using var _u = t;
        Assert.Throws<ArgumentOutOfRangeException>(() => t.EnvironmentBlock = 0);
    }

    [Fact]
    public void Bars_and_stripes_training_reaches_ln30_and_samples_are_all_bars_or_stripes()
    {
        var (trainer, layout, data) = BarsAndStripes(new BornOptions { Dmax = 30, LearningRate = 0.05, Seed = 1 });
        using var _ = trainer;
        Assert.Equal(30, data.Train.Count);
        // The data set itself is all bars or stripes, and distinct: the oracle for the floor ln 30.
        Assert.All(Enumerable.Range(0, 30), i => Assert.True(IsBarOrStripe(data.Train.Image(i), 4)));
        Assert.Equal(30, Enumerable.Range(0, 30).Select(i => string.Join("", data.Train.Image(i))).Distinct().Count());
        double floor = Math.Log(30);
        for (int loop = 0; loop < 40 && trainer.History[^1].TrainNll - floor >= 1e-3; loop++)
            trainer.RunLoop();
        Assert.True(trainer.History[^1].TrainNll < trainer.History[0].TrainNll);
        // The loop's NLL comes from the cached environments; a full contraction of every image must agree.
        Assert.Equal(trainer.Model.Nll(trainer.TrainImages), trainer.History[^1].TrainNll, 9);
        Assert.InRange(trainer.History[^1].TrainNll, floor - 1e-9, floor + 0.01);

        var samples = trainer.Model.Sample(1000, new SplitMix64(7));
        int n = layout.Length;
        for (int s = 0; s < 1000; s++)
        {
            var image = new long[n];
            for (int k = 0; k < n; k++)
                image[layout.Sites[k].Pixel] = samples[s * n + k];
            Assert.True(IsBarOrStripe(image, 4), $"sample {s} is neither bars nor stripes: {string.Join("", image)}");
        }
    }

    [Fact]
    public void Z_from_the_canonical_form_equals_Z_from_a_full_contraction()
    {
        using var temporaries = NewDisposeScope();
        using var mps = RandomMps(n: 7, d: 2, bond: 3, seed: 11);
        double zFull = DensePsi(mps).Sum(p => p * p);
        Assert.Equal(Math.Log(zFull), mps.LogNorm(), 10);
        using var canonical = mps.Clone();
        double logZCanonical = canonical.LeftCanonicalize();
        Assert.Equal(Math.Log(zFull), logZCanonical, 10);
        // The canonical form represents ψ / √Z: same state, unit norm.
        var psi = DensePsi(mps);
        var psiCanonical = DensePsi(canonical);
        for (int c = 0; c < psi.Length; c++)
            Assert.Equal(psi[c] / Math.Sqrt(zFull), psiCanonical[c], 10);
        // Left-orthonormal sites: Σ_{l,p} A[l,p,r] A[l,p,r'] = δ(r, r').
        for (int k = 0; k < canonical.Length - 1; k++)
        {
            var a = canonical[k];
            using var m = a.reshape(-1, a.shape[2]);
            using var gram = m.t().matmul(m);
            using var eye = torch.eye(a.shape[2], dtype: ScalarType.Float64);
            Assert.True(gram.allclose(eye, 1e-10, 1e-10), $"site {k} is not left-orthonormal");
        }
    }

    [Fact]
    public void Exact_sampling_matches_the_probabilities_chi_square()
    {
        using var mps = RandomMps(n: 5, d: 2, bond: 3, seed: 5);
        var psi = DensePsi(mps);
        double z = psi.Sum(p => p * p);
        var expected = psi.Select(p => p * p / z).ToArray();
        mps.LeftCanonicalize();
        const int count = 100_000;
        var samples = mps.Sample(count, new SplitMix64(2024));
        var observed = new long[psi.Length];
        for (int s = 0; s < count; s++)
        {
            int c = 0;
            for (int k = 0; k < mps.Length; k++)
                c = c * 2 + (int)samples[s * mps.Length + k];
            observed[c]++;
        }
        double chi2 = 0;
        for (int c = 0; c < psi.Length; c++)
        {
            double e = expected[c] * count;
            chi2 += (observed[c] - e) * (observed[c] - e) / e;
        }
        // 31 degrees of freedom: the 0.999 quantile of χ²(31) is 61.1.
        Assert.True(chi2 < 61.1, $"χ² = {chi2:F1} over 32 cells");
    }

    /// M = U diag(s) Vᵀ with known singular values s, as a (3, 2, 2, 4) two-site tensor (a 6 × 8 matrix of rank 6).
    static (Tensor M, double[] S) KnownSpectrum()
    {
        NativeLoader.EnsureLoaded();
        double[] s = [2.0, 1.0, 0.3, 1e-4, 1e-9, 0];
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        var (u, _) = linalg.qr(randn([6, 6], ScalarType.Float64, generator: g));
        var (v, _) = linalg.qr(randn([8, 6], ScalarType.Float64, generator: g));
        var sv = tensor(s, ScalarType.Float64);
        return ((u * sv.unsqueeze(0)).matmul(v.t()).reshape(3, 2, 2, 4).MoveToOuterDisposeScope(), s);
    }

    [Fact]
    public void Svd_split_keeps_the_reported_count_and_the_truncation_error_is_the_discarded_weight()
    {
        using var temporaries = NewDisposeScope();
        var (m, s) = KnownSpectrum();
        using var _m = m;
        double total = s.Sum(x => x * x);
        foreach (var (cutoff, dmax) in new[] { (1e-3, 10), (1e-6, 10), (1e-12, 10), (1e-12, 2) })
        {
            int expectKept = Math.Min(dmax, s.Count(x => x > cutoff * s[0]));
            double expectDiscarded = s.Skip(expectKept).Sum(x => x * x);
            foreach (var side in new[] { CentreSide.Left, CentreSide.Right })
            {
                using var split = SvdSplit.Split(m, cutoff, dmax, side);
                Assert.Equal(expectKept, split.Kept);
                Assert.Equal(expectKept, split.Left.shape[2]);
                Assert.Equal(expectKept, split.Right.shape[0]);
                Assert.Equal(expectDiscarded, split.DiscardedWeight, 12);
                Assert.Equal(expectDiscarded / total, split.TruncationError, 12);
                // The kept part, rescaled back from unit norm, differs from M by exactly the discarded weight.
                using var scope = NewDisposeScope();
                var joined = ScalarOps.Times(split.Left.reshape(6, expectKept).matmul(split.Right.reshape(expectKept, 8)), Math.Sqrt(total - expectDiscarded));
                var diff = ScalarOps.Minus(m.reshape(6, 8), joined);
                using var two = 2.ToScalar();
                Assert.Equal(expectDiscarded, diff.pow(two).sum().item<double>(), 12);
            }
        }
    }

    [Fact]
    public void The_gram_split_keeps_what_the_svd_split_keeps()
    {
        using var temporaries = NewDisposeScope();
        // 1e-9 and 0 lie below what the Gram resolves (√ε ≈ 1e-8 of the largest), so the cutoffs stay above them,
        // and the capped case (dmax 2) is the one the Gram split is for.
        var (m, s) = KnownSpectrum();
        using var _m = m;
        foreach (var (cutoff, dmax) in new[] { (1e-3, 10), (1e-6, 10), (0.2, 10), (1e-6, 2) })
            foreach (var side in new[] { CentreSide.Left, CentreSide.Right })
            {
                using var bySvd = SvdSplit.Split(m, cutoff, dmax, side);
                using var byGram = SvdSplit.SplitByGram(m, cutoff, dmax, side);
                int k = bySvd.Kept;
                Assert.Equal(k, byGram.Kept);
                Assert.Equal(bySvd.DiscardedWeight, byGram.DiscardedWeight, 12);
                Assert.Equal(bySvd.TruncationError, byGram.TruncationError, 12);
                for (int i = 0; i < k; i++)
                    Assert.Equal(s[i], byGram.Singular[i], 8);
                // The same kept product, whatever the gauge of the two factors.
                using var p1 = bySvd.Left.reshape(6, k).matmul(bySvd.Right.reshape(k, 8));
                using var p2 = byGram.Left.reshape(6, k).matmul(byGram.Right.reshape(k, 8));
                Assert.True(ScalarOps.Minus(p1, p2).abs().max().item<double>() < 1e-12, $"cutoff {cutoff}, dmax {dmax}, {side}: products differ");
                // The side away from the centre is orthonormal, the centre has unit norm.
                using var orthonormal = side == CentreSide.Right ? byGram.Left.reshape(6, k) : byGram.Right.reshape(k, 8).t();
                using var gram = orthonormal.t().matmul(orthonormal);
                using var eye = torch.eye(k, dtype: ScalarType.Float64);
                Assert.True(ScalarOps.Minus(gram, eye).abs().max().item<double>() < 1e-12);
                using var centre = side == CentreSide.Right ? byGram.Right : byGram.Left;
                Assert.Equal(1.0, centre.norm().item<double>(), 12);
            }
        // A cutoff below the rounding noise: the 8 × 8 Gram of the columns has two exactly-zero eigenvalues, which
        // must not become bonds; the rank of a 6 × 8 matrix bounds what is kept, as in the SVD.
        foreach (var side in new[] { CentreSide.Left, CentreSide.Right })
        {
            using var byGram = SvdSplit.SplitByGram(m, 1e-50, 100, side);
            Assert.True(byGram.Kept <= 6, $"{side}: kept {byGram.Kept} of a rank-6 matrix");
            Assert.Equal(6, byGram.Singular.Length);
        }
    }

    [Fact]
    public void Training_with_the_gram_split_follows_the_svd_split()
    {
        var (bySvd, _, _) = BarsAndStripes(new BornOptions { Dmax = 4, LearningRate = 0.05, Seed = 2 });
        var (byGram, _, _) = BarsAndStripes(new BornOptions { Dmax = 4, LearningRate = 0.05, Seed = 2, Split = SplitMethod.Gram });
        using var _s = bySvd;
        using var _g = byGram;
        for (int i = 0; i < 4; i++)
        {
            var a = bySvd.RunLoop();
            var b = byGram.RunLoop();
            Assert.Equal(a.TrainNll, b.TrainNll, 6);
            Assert.Equal(a.TestNll, b.TestNll, 6);
        }
        Assert.True(bySvd.History[^1].TrainNll < bySvd.History[0].TrainNll - 1, "the runs did not train: the comparison would be empty");
    }

    [Fact]
    public void A_diverging_step_stops_the_loop_with_a_clear_error_instead_of_failing_in_the_svd()
    {
        var (trainer, _, _) = BarsAndStripes(new BornOptions { Dmax = 4, LearningRate = 1e300, Scaling = GradientScaling.Plain });
        using var _t = trainer;
        var e = Assert.Throws<BornDivergedException>(() => trainer.RunLoop());
        Assert.Contains("not finite", e.Message);
        Assert.Equal(0, trainer.Loop);
    }

    [Fact]
    public void Canonicalising_a_state_whose_norm_overflows_float64_gives_its_log_norm()
    {
        // 400 sites of bond 2 with entries ~ normal(0, 1) × 10: Z ≈ 10^1000, far beyond float64 (the authors' random
        // start over 784 pixels is ≈ 10^470).
        using var raw = RandomMps(n: 400, d: 2, bond: 2, seed: 4);
        using var mps = new Mps(Enumerable.Range(0, raw.Length).Select(k => ScalarOps.Times(raw[k], 10L)).ToList());
        double logNorm = mps.LogNorm();
        Assert.True(logNorm > Math.Log(double.MaxValue), $"ln Z = {logNorm}: the state does not overflow, the test would not see the fix");
        double logZ = mps.LeftCanonicalize();
        Assert.Equal(logNorm, logZ, 8);
        Assert.Equal(0.0, mps.LogNorm(), 10);
    }

    [Fact]
    public void The_gradient_matches_finite_differences_of_the_nll()
    {
        NativeLoader.EnsureLoaded();
        using var g = new Generator(9);
        using var merged = randn([2, 2, 2, 3], ScalarType.Float64, generator: g);
        using var left = randn([6, 2], ScalarType.Float64, generator: g);
        using var right = randn([6, 3], ScalarType.Float64, generator: g);
        // Every pixel pair present, then one missing (an empty block in the sorted computation).
        foreach (var pairValues in new[] { new long[] { 0, 1, 2, 3, 1, 2 }, new long[] { 3, 1, 1, 3, 2, 2 } })
            CheckGradient(merged, left, right, tensor(pairValues));
    }

    static void CheckGradient(Tensor merged, Tensor left, Tensor right, Tensor pairs)
    {
        double Nll(Tensor m)
        {
            using var scope = NewDisposeScope();
            var psi = BornGradient.Psi(m, left, right, pairs);
            using var two = 2.ToScalar();
            double z = m.pow(two).sum().item<double>();
            return Math.Log(z) - psi.data<double>().ToArray().Average(p => Math.Log(p * p));
        }
        var (gradient, psiFromCompute) = BornGradient.Compute(merged, left, right, pairs);
        using var _g = gradient;
        using var _p = psiFromCompute;
        using var psiDirect = BornGradient.Psi(merged, left, right, pairs);
        Assert.True(psiFromCompute.allclose(psiDirect, 1e-12, 1e-12), "ψ from the sorted blocks differs from the direct ψ");
        using var flat = merged.reshape(-1);
        double[] analytic;
        using (var g = gradient.reshape(-1))
            analytic = g.data<double>().ToArray();
        const double h = 1e-6;
        for (int i = 0; i < flat.shape[0]; i++)
        {
            using var plus = merged.clone();
            using var minus = merged.clone();
            using var up = plus.view(-1);
            using var down = minus.view(-1);
            double at;
            using (var entry = flat[i])
                at = entry.item<double>();
            ScalarOps.Put(up, at + h, i);
            ScalarOps.Put(down, at - h, i);
            double numeric = (Nll(plus) - Nll(minus)) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-5 * Math.Max(1, Math.Abs(numeric)), $"entry {i}: numeric {numeric}, analytic {analytic[i]}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public void The_learning_rate_falls_after_a_rise_only_once_the_hold_is_over(int hold)
    {
        // A large rate makes the NLL of bars-and-stripes fluctuate, so both branches of the rule are exercised.
        const double lr = 0.3, decay = 0.2;
        var (trainer, _, _) = BarsAndStripes(new BornOptions { Dmax = 4, LearningRate = lr, Seed = 5, HoldLoops = hold, DecayOnIncrease = decay });
        using var _t = trainer;
        for (int i = 0; i < 10; i++)
            trainer.RunLoop();
        var h = trainer.History;
        Assert.Equal(lr, h[1].LearningRate);
        int risesBefore = 0, risesAfter = 0;
        for (int loop = 1; loop + 1 < h.Count; loop++)
        {
            bool rose = h[loop].TrainNll > h[loop - 1].TrainNll;
            bool held = loop <= hold;
            (risesBefore, risesAfter) = rose ? (held ? (risesBefore + 1, risesAfter) : (risesBefore, risesAfter + 1)) : (risesBefore, risesAfter);
            double expected = rose && !held ? h[loop].LearningRate * decay : h[loop].LearningRate;
            Assert.Equal(expected, h[loop + 1].LearningRate, 15);
        }
        if (hold > 0)
            Assert.True(risesBefore > 0, "no rise inside the hold: the test would not see the hold at work");
        else
            Assert.True(risesAfter > 0, "no rise at all: the test would not see the decay at work");
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(2, true)]
    public void Grouped_environment_steps_equal_the_per_image_definition(int d, bool allSame)
    {
        using var scope = NewDisposeScope();
        const int n = 37, dl = 5, dr = 4;
        var gen = new Generator().manual_seed(11);
        var site = randn([dl, d, dr], ScalarType.Float64, generator: gen);
        var left = randn([n, dl], ScalarType.Float64, generator: gen);
        var right = randn([n, dr], ScalarType.Float64, generator: gen);
        var pixels = allSame ? ScalarOps.Full([n], d - 1, ScalarType.Int64) : randint(0, d, [n], ScalarType.Int64, generator: gen);
        using var groups = PixelGroups.Of(pixels, d);
        Assert.Equal(n, groups.Counts.Sum());
        var stepL = Environments.StepLeft(left, site, groups);
        var stepR = Environments.StepRight(right, site, groups);
        var a = site.data<double>().ToArray();
        var l = left.data<double>().ToArray();
        var r = right.data<double>().ToArray();
        var x = pixels.data<long>().ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < dr; c++)
            {
                double want = 0;
                for (int b = 0; b < dl; b++)
                    want += l[i * dl + b] * a[(b * d + x[i]) * dr + c];
                Assert.Equal(want, stepL[i, c].item<double>(), 12);
            }
            for (int b = 0; b < dl; b++)
            {
                double want = 0;
                for (int c = 0; c < dr; c++)
                    want += a[(b * d + x[i]) * dr + c] * r[i * dr + c];
                Assert.Equal(want, stepR[i, b].item<double>(), 12);
            }
        }
    }

    [Fact]
    public void Checkpoint_and_resume_give_the_same_result_as_an_uninterrupted_run()
    {
        var options = new BornOptions { Dmax = 8, LearningRate = 0.05, Seed = 3 };
        var (straight, layout, data) = BarsAndStripes(options);
        using var _s = straight;
        for (int i = 0; i < 3; i++)
            straight.RunLoop();

        var path = Path.Combine(Path.GetTempPath(), $"tn-born-test-{Guid.NewGuid():N}.bin");
        try
        {
            var (first, _, _) = BarsAndStripes(options);
            using (first)
            {
                first.RunLoop();
                first.RunLoop();
                Checkpoint.Save(path, first.State(BornMachineTn, layout, BarsAndStripesDir, 4, 4), first.Model);
            }
            var (state, model) = Checkpoint.Load(path);
            using var resumed = BornTrainer.Resume(state, model, layout, BornSetup.Images(data.Train, layout), BornSetup.Images(data.Test, layout));
            resumed.RunLoop();
            Assert.Equal(straight.History.Select(h => (h.Loop, h.TrainNll, h.TestNll, h.MaxBond, h.LearningRate)),
                         resumed.History.Select(h => (h.Loop, h.TrainNll, h.TestNll, h.MaxBond, h.LearningRate)));
            Assert.Equal(straight.Model.Bonds, resumed.Model.Bonds);
            for (int k = 0; k < layout.Length; k++)
                Assert.Equal(straight.Model[k].data<double>().ToArray(), resumed.Model[k].data<double>().ToArray());
            Assert.Equal(straight.Rng.State, resumed.Rng.State);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_exported_module_computes_the_trainers_psi()
    {
        var (trainer, layout, data) = BarsAndStripes(new BornOptions { Dmax = 6, LearningRate = 0.05, Seed = 2 });
        using var _t = trainer;
        trainer.RunLoop();
        var dir = Directory.CreateTempSubdirectory("tn-born-export-").FullName;
        try
        {
            var tn = Path.Combine(dir, "model.tn");
            var weights = Path.Combine(dir, "model.weights");
            BornExport.Save(trainer.Model, layout.Sites.Select(s => s.Pixel).ToArray(), tn, weights);
            using var module = BornExport.Load(tn, weights);
            Assert.Equal(Enumerable.Range(0, layout.Length).Select(k => $"A.{k}"), module.ParameterNames);
            using var bytes = BornSetup.Images(data.Train, layout);
            using var images = bytes.to_type(ScalarType.Int64);
            using var output = module.forward([images]);
            var fromModule = output.data<double>().ToArray();
            var fromTrainer = trainer.Model.Psi(trainer.TrainImages);
            Assert.Equal(fromTrainer.Length, fromModule.Length);
            for (int i = 0; i < fromTrainer.Length; i++)
                Assert.Equal(fromTrainer[i], fromModule[i], 12);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_authors_curves_end_at_their_final_figures_after_the_loops_their_logs_record()
    {
        // Loops in each log (MNIST/capacity/D{Dmax}.dat): 117, 110, 100 and 36 after the initial state.
        var loops = new Dictionary<int, int> { [10] = 117, [30] = 110, [100] = 100, [500] = 36 };
        Assert.Equal(loops.Keys.Order(), PublishedFigures.MnistTrainCurves.Keys.Order());
        foreach (var (dmax, curve) in PublishedFigures.MnistTrainCurves)
        {
            Assert.Equal(loops[dmax] + 1, curve.Length);
            Assert.Equal(PublishedFigures.MnistTrainNll[dmax], Math.Round(curve[^1], 2));
            // Every log starts from random bond-2 tensors (NLL 840-891) and is below 160 after one loop.
            Assert.InRange(curve[0], 840, 892);
            Assert.True(curve[1] < 160 && curve.Skip(1).All(v => v > PublishedFigures.MnistFloor), $"Dmax {dmax}");
        }
    }

    [Fact]
    public void Born_machine_tn_reads_as_a_784_site_chain_and_other_networks_are_refused()
    {
        var layout = BornSetup.LoadLayout(BornMachineTn, [], 784);
        Assert.Equal(784, layout.Length);
        Assert.Equal(Enumerable.Range(0, 784), layout.Sites.Select(s => s.Pixel));
        Assert.Equal([1, .. Enumerable.Repeat(30, 783), 1], layout.Bonds);
        // The authors' start used for the Dmax 100 and 500 results: bond 2, normal(0, 1) entries.
        var authors = BornSetup.LoadLayout(Path.Combine(RepoRoot(), "examples", "results", "born-machine", "born-machine-authors-start.tn"), [], 784);
        Assert.Equal([1, .. Enumerable.Repeat(2, 783), 1], authors.Bonds);
        foreach (var other in new[] { "peps.tn", "ttn.tn", "mpo-linear.tn" })
        {
            var file = Path.Combine(RepoRoot(), "examples", other);
            Assert.ThrowsAny<Exception>(() => BornSetup.LoadLayout(file, [], 16));
        }
        Assert.Throws<MpsShapeException>(() => BornSetup.LoadLayout(BornMachineTn, [new("n", "8")], 16));
    }

    [Fact]
    public void Environment_buffers_are_reused_and_keep_each_environment_apart()
    {
        using var temporaries = NewDisposeScope();
        using var pool = new EnvironmentBuffers(capacity: 12, chunk: 3);
        var a = pool.Take(3, 4);
        var b = pool.Take(2, 5);
        ScalarOps.Fill(a, 1.0);
        ScalarOps.Fill(b, 2.0);
        Assert.Equal(3, pool.Allocated);
        Assert.Equal(new long[] { 3, 4 }, a.shape);
        Assert.True(a.is_contiguous() && b.is_contiguous());
        Assert.Equal(12.0, a.sum().item<double>());
        Assert.Equal(20.0, b.sum().item<double>());
        pool.Return(a);
        var c = pool.Take(4, 3);
        var d = pool.Take(1, 12);
        ScalarOps.Fill(c, 3.0);
        ScalarOps.Fill(d, 4.0);
        Assert.Equal(3, pool.Allocated);
        Assert.Equal(20.0, b.sum().item<double>());
        Assert.Equal(36.0, c.sum().item<double>());
        // Larger than the capacity: a buffer of its own, and the next chunk is cut at the new size.
        var e = pool.Take(5, 5);
        Assert.Equal(4, pool.Allocated);
        var f = pool.Take(5, 5);
        Assert.Equal(7, pool.Allocated);
        ScalarOps.Fill(e, 5.0);
        ScalarOps.Fill(f, 6.0);
        Assert.Equal(125.0, e.sum().item<double>());
        Assert.Equal(36.0, c.sum().item<double>());
        Assert.Equal(48.0, d.sum().item<double>());
    }

    [Fact]
    public void Environment_buffers_give_vectors_from_the_same_reused_storage()
    {
        using var temporaries = NewDisposeScope();
        using var pool = new EnvironmentBuffers(capacity: 8, chunk: 2);
        var v = pool.Take(8);
        Assert.Equal(new long[] { 8 }, v.shape);
        Assert.Equal(2, pool.Allocated);
        pool.Return(v);
        // Three taken, two buffers: the returned one was reused (a third would have cut a new chunk).
        var m = pool.Take(2, 4);
        var w = pool.Take(5);
        ScalarOps.Fill(w, 7.0);
        ScalarOps.Fill(m, 1.0);
        Assert.Equal(35.0, w.sum().item<double>());
        Assert.Equal(2, pool.Allocated);
    }

    [Fact]
    public void Npy_reads_bytes_and_refuses_what_it_does_not_support()
    {
        static byte[] File(string descr, string shape, byte[] data)
        {
            var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
            header = header.PadRight(118) + "\n";
            return [0x93, .. "NUMPY"u8.ToArray(), 1, 0, (byte)header.Length, 0, .. System.Text.Encoding.ASCII.GetBytes(header), .. data];
        }
        var a = Npy.Parse(File("|u1", "(2, 3)", [0, 1, 2, 3, 4, 255]));
        Assert.Equal([2L, 3L], a.Shape);
        Assert.Equal([0L, 1, 2, 3, 4, 255], a.Values);
        var b = Npy.Parse(File("<i8", "(2,)", [.. BitConverter.GetBytes(-5L), .. BitConverter.GetBytes(1L << 40)]));
        Assert.Equal([-5L, 1L << 40], b.Values);
        Assert.Throws<NpyFormatException>(() => Npy.Parse(File("<f4", "(1,)", [0, 0, 0, 0])));
        Assert.Throws<NpyFormatException>(() => Npy.Parse(File("|u1", "(4,)", [1, 2])));
        Assert.Throws<NpyFormatException>(() => Npy.Parse([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
        var bs = BornData.Load(BarsAndStripesDir);
        Assert.Equal((30, 4, 4), (bs.Train.Count, bs.Train.Width, bs.Train.Height));
    }

    [Fact]
    public void Png_chunks_carry_standard_crcs_and_the_pixels_decompress_back()
    {
        // The IEND chunk of every PNG file ends with the CRC AE 42 60 82.
        Assert.Equal(0xAE426082u, Png.Crc32("IEND"u8));
        byte[] pixels = [0, 50, 100, 150, 200, 250];
        var png = Png.Greyscale(3, 2, pixels);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int idat = png.AsSpan().IndexOf("IDAT"u8);
        int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idat - 4));
        using var z = new System.IO.Compression.ZLibStream(new MemoryStream(png, idat + 4, length), System.IO.Compression.CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        Assert.Equal(new byte[] { 0, 0, 50, 100, 0, 150, 200, 250 }, raw.ToArray());
    }
}
