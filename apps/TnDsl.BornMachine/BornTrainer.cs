using System.Diagnostics;
using System.Numerics;
using TnDsl.Torch;
using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.BornMachine;

/// <summary>Which half of a loop a bond update belongs to.</summary>
public enum Sweep
{
    /// <summary>From the last bond to the first: the centre moves left.</summary>
    RightToLeft,
    /// <summary>From the first bond to the last: the centre moves right.</summary>
    LeftToRight,
}

/// <summary>
/// Trains an MPS Born machine with the two-site, DMRG-like sweeps of Han et al. (PRX 8, 031012, 2018). A loop starts
/// from the left-canonical form (centre at the last site) and computes every image's left environment once; it sweeps
/// right to left over bonds n-2 … 1, then left to right over bonds 0 … n-2, and so ends in the form it started from.
/// At each bond it merges the two site tensors, takes gradient steps on the NLL (<see cref="BornGradient"/>), splits
/// by SVD (<see cref="SvdSplit"/>) moving the centre in the sweep direction, and updates the one environment that
/// changed: O(N·D²) per bond. Training is deterministic (full batch); a loop's outcome depends only on the state
/// saved in a checkpoint, which is what makes <c>--resume</c> reproduce an uninterrupted run.
/// </summary>
public sealed class BornTrainer : IDisposable
{
    readonly Tensor train;
    readonly Tensor test;
    readonly Tensor columns;
    readonly Tensor[] left;
    readonly Tensor[] leftLog;
    readonly Tensor[] right;
    EnvironmentBuffers buffers;
    readonly EnvironmentBuffers logBuffers;
    readonly List<LoopRecord> history;

    /// <summary>The model being trained (owned).</summary>
    public Mps Model { get; }
    /// <summary>The hyper-parameters.</summary>
    public BornOptions Options { get; }
    /// <summary>The learning rate the next loop uses.</summary>
    public double LearningRate { get; private set; }
    /// <summary>Loops finished so far.</summary>
    public int Loop => history.Count - 1;
    /// <summary>Loop 0 (the initial state) and one record per finished loop.</summary>
    public IReadOnlyList<LoopRecord> History => history;
    /// <summary>The generator used for anything random after initialisation (sampling); its state is checkpointed.</summary>
    public SplitMix64 Rng { get; }
    /// <summary>
    /// A sweep keeps every this-many-th environment it makes and recomputes the others a block at a time when the
    /// other sweep needs them (default ⌈√n⌉: about 4√n environments held, one more environment step per bond).
    /// 1 keeps every one (no recomputation, n·N·D numbers held, as the authors' code). The results are the same bits
    /// whatever the value.
    /// </summary>
    public int EnvironmentBlock
    {
        get => block;
        set => block = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"the environment block must be at least 1, got {value}");
    }
    int block;

    /// <summary>How many per-image environments (left and right) are held now.</summary>
    public int HeldEnvironments => left.Count(t => t is not null) + right.Count(t => t is not null);

    /// <summary>Environment buffers allocated so far: each is reused when its environment is dropped, so this stays at the most held at once.</summary>
    public int EnvironmentBuffers => buffers.Allocated;

    /// <summary>Where the time of the last loop went.</summary>
    public LoopProfile? LastProfile { get; private set; }

    /// <summary>
    /// The bytes the trainer's state may hold: the memory guard's limit (<see cref="MemoryGuard.Current"/>) when the
    /// trainer was made (read once: a share of the memory available then, as the state allocated since is no longer
    /// available), with <see cref="MemoryLimitSource"/> saying where it came from. Before every bond update and every
    /// new environment buffer, the state it will hold (<see cref="RunLoop"/>) is checked against it.
    /// </summary>
    public long MemoryLimit { get; set; }
    /// <summary>Where <see cref="MemoryLimit"/> came from, in the words a refusal shows.</summary>
    public string MemoryLimitSource { get; set; }

    /// <summary>The largest number of bytes a check has found the state would hold (see <see cref="MemoryLimit"/>).</summary>
    public BigInteger MostBytesChecked { get; private set; }

    // A loop stopped part-way (a refusal or a failure) leaves the model between canonical forms.
    bool broken;

    /// <summary>
    /// Resumes (or starts) training: <paramref name="model"/> must be left-canonical; images are (N, n) bytes or int64 in site
    /// order. <paramref name="history"/> holds at least loop 0. Takes over the model and the image tensors.
    /// </summary>
    public BornTrainer(Mps model, Tensor trainImages, Tensor testImages, BornOptions options, double learningRate,
                       IEnumerable<LoopRecord> history, ulong rngState)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new ArgumentException(string.Join("; ", problems));
        if (model.Centre != model.Length - 1)
            throw new ArgumentException("the model must be left-canonical (centre at the last site)");
        Model = model;
        train = Compact(trainImages);
        test = ReferenceEquals(testImages, trainImages) ? train : Compact(testImages);
        // The images site by site (bytes), grouped by pixel value when a step needs it (PixelGroups): kept for every
        // site and bond, the groups' int64 image indices took 16 bytes per image and site.
        using (var transposed = train.t())
            columns = transposed.contiguous();
        EnvironmentBlock = Math.Max(2, (int)Math.Ceiling(Math.Sqrt(model.Length)));
        Options = options;
        LearningRate = learningRate;
        this.history = history.ToList();
        if (this.history.Count == 0)
            throw new ArgumentException("the history needs loop 0");
        Rng = new SplitMix64(rngState);
        left = new Tensor[model.Length + 1];
        leftLog = new Tensor[model.Length + 1];
        right = new Tensor[model.Length + 1];
        buffers = new EnvironmentBuffers(train.shape[0] * ReachableBond(model, options.Dmax), block);
        // The left environments' log-scales (N each) likewise: allocated one by one among a bond's temporaries, they
        // too kept the heap's freed memory apart.
        logBuffers = new EnvironmentBuffers(train.shape[0], block);
        (MemoryLimit, MemoryLimitSource) = MemoryGuard.Current();
        // Setting up (the model's start, the images, their groups) leaves its temporaries' memory free inside the C
        // heap, where training would keep it resident to the end: give it back now, and the managed garbage of loading
        // and compiling with it (a blocking collection, once per trainer).
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        CHeap.Trim();
    }

    /// <summary>
    /// A fresh trainer: the layout's initial tensors (seeded), left-canonicalised, and loop 0's NLL.
    /// Images are (N, n) bytes or int64 in pixel order; they are reordered into the layout's site order here.
    /// </summary>
    public static BornTrainer Start(MpsLayout layout, Tensor trainImages, Tensor testImages, BornOptions options)
    {
        NativeLoader.EnsureLoaded();
        var mps = Mps.Initial(layout, options.Seed);
        mps.LeftCanonicalize();
        var tr = ToSiteOrder(layout, trainImages);
        var te = ToSiteOrder(layout, testImages);
        var sw = Stopwatch.StartNew();
        var record = new LoopRecord(0, mps.Nll(tr), mps.Nll(te), mps.MaxBond, options.LearningRate, sw.Elapsed.TotalSeconds);
        return new BornTrainer(mps, tr, te, options, options.LearningRate, [record], (ulong)options.Seed ^ 0x5DEECE66DUL);
    }

    /// <summary>
    /// Continues a run from a checkpoint: its state and (left-canonical) model, the layout the run was made with and
    /// the images (N, n) bytes or int64 in pixel order. Takes over the model.
    /// </summary>
    public static BornTrainer Resume(CheckpointState state, Mps model, MpsLayout layout, Tensor trainImages, Tensor testImages)
    {
        if (!layout.Sites.Select(s => s.Pixel).SequenceEqual(state.SitePixels) || model.Length != layout.Length)
            throw new ArgumentException($"the checkpoint was made for a different network ({state.Network}, {state.SitePixels.Length} sites)");
        return new BornTrainer(model, ToSiteOrder(layout, trainImages), ToSiteOrder(layout, testImages), state.Options,
            state.LearningRate, state.History, state.RngState);
    }

    /// <summary>The checkpoint state of this run (for <see cref="Checkpoint.Save"/>), given what the trainer does not know.</summary>
    public CheckpointState State(string networkFile, MpsLayout layout, string data, int imageWidth, int imageHeight) => new()
    {
        NetworkFile = networkFile,
        Network = layout.Network,
        Data = data,
        ImageWidth = imageWidth,
        ImageHeight = imageHeight,
        SitePixels = layout.Sites.Select(s => s.Pixel).ToArray(),
        Options = Options,
        LearningRate = LearningRate,
        RngState = Rng.State,
        History = history.ToArray(),
    };

    /// <summary>Images (N, n) in pixel order (bytes or int64), reordered into the layout's site order (a new tensor).</summary>
    public static Tensor ToSiteOrder(MpsLayout layout, Tensor images)
    {
        if (images.shape.Length != 2 || images.shape[1] != layout.Length)
            throw new ArgumentException($"images have {(images.shape.Length == 2 ? images.shape[1] : 0)} pixels but the MPS {layout.Network} has {layout.Length} sites");
        using var order = tensor(layout.Sites.Select(s => (long)s.Pixel).ToArray());
        return images.index_select(1, order);
    }

    /// The largest bond the model can reach in its next loop: a right-to-left split makes bond k at most d times bond
    /// k-1 as it was, the left-to-right split after it at most d times bond k+1 as that sweep left it, so d² times the
    /// largest bond (d the largest physical dimension), and no more than <see cref="LargestBond"/>.
    static long ReachableBond(Mps model, int dmax)
    {
        long d = model.Physical.Max();
        return (long)Math.Min(LargestBond(model, dmax), (double)d * d * model.MaxBond);
    }

    /// The largest bond the model can have while training: Dmax (or a larger bond it starts with), but no more than
    /// the product of the physical dimensions on the smaller side of any cut.
    static long LargestBond(Mps model, int dmax)
    {
        long most = Math.Max(dmax, model.MaxBond);
        var physical = model.Physical;
        double leftProduct = 1, largest = 1;
        double rightProduct = physical.Aggregate(1.0, (p, d) => p * d);
        for (int k = 0; k + 1 < physical.Length; k++)
        {
            leftProduct *= physical[k];
            rightProduct /= physical[k];
            largest = Math.Max(largest, Math.Min(leftProduct, rightProduct));
        }
        return largest < most ? (long)largest : most;
    }

    /// Pixel values in bytes where they all fit (MNIST's 0/1: an eighth of int64's memory); takes over the tensor.
    static Tensor Compact(Tensor images)
    {
        if (images.dtype == ScalarType.Byte || images.numel() == 0)
            return images;
        using (var lo = images.min())
        using (var hi = images.max())
            if (lo.item<long>() < 0 || hi.item<long>() > byte.MaxValue)
                return images;
        var bytes = images.to_type(ScalarType.Byte);
        images.Dispose();
        return bytes;
    }

    /// <summary>Below this many floating-point operations per bond update, more threads only add overhead.</summary>
    public const double SmallBondFlops = 1e8;

    /// <summary>
    /// The thread count to train with when <paramref name="requested"/> were asked for: one when a bond update at
    /// <paramref name="dmax"/> over <paramref name="images"/> images is under <see cref="SmallBondFlops"/> (its
    /// products are N·D² and its SVD (dD)³, too small to split: two threads were never faster there and, on a busy
    /// machine, slower), otherwise the request.
    /// </summary>
    public static int ThreadsFor(int requested, int dmax, long images, int physical = 2)
    {
        double d = dmax, pd = physical * d;
        double flops = 8 * images * d * d + 20 * pd * pd * pd;
        return flops < SmallBondFlops ? Math.Min(requested, 1) : requested;
    }

    /// <summary>Bond updates in one loop: (n-2) right to left, (n-1) left to right.</summary>
    public int BondsPerLoop => 2 * Model.Length - 3;

    /// <summary>
    /// Runs one loop and returns its record. <paramref name="progress"/> is told (sweep, bonds done in it, bonds in it)
    /// after each bond. Bonds grow as the splits keep more singular values (up to Dmax): before each bond update, and
    /// before each chunk of environment buffers, the bytes the state will hold afterwards (the images, every site with
    /// the bond at the most the split can keep and a checkpoint's copy of them, the environment buffers, the update's
    /// temporaries, in float64) are
    /// checked against <see cref="MemoryLimit"/>; past it the loop stops with a <see cref="MemoryLimitException"/>
    /// naming the figures, the loop, the bond and its sizes, before anything of that step is allocated. A loop that
    /// throws leaves the model part-way between canonical forms, and the trainer refuses further loops: the last
    /// finished loop is the one the caller saved (a checkpoint, with <see cref="Resume"/>).
    /// </summary>
    public LoopRecord RunLoop(Action<Sweep, int, int>? progress = null)
    {
        if (broken)
            throw new InvalidOperationException("a loop of this trainer stopped part-way: resume from the last checkpoint");
        var total = Stopwatch.StartNew();
        var clock = new Stopwatch();
        double tGrad = 0, tSvd = 0, tEnv = 0, tSetup, tNll;
        int n = Model.Length;
        double lr = LearningRate;
        double trainNll, testNll;
        try
        {
            clock.Restart();
            siteElements = null;
            FitBuffers();
            InitLeftEnvironments();
            tSetup = clock.Elapsed.TotalSeconds;

            int leftCount = n - 2, rightCount = n - 1;
            // The left environment of the last site is the previous loop's (for its NLL): the first bond changes site n-2.
            DropLeft(n - 1);
            for (int k = n - 2; k >= 1; k--)
            {
                var (g, s, e) = UpdateBond(k, Sweep.RightToLeft, lr);
                (tGrad, tSvd, tEnv) = (tGrad + g, tSvd + s, tEnv + e);
                progress?.Invoke(Sweep.RightToLeft, n - 1 - k, leftCount);
            }
            for (int k = 0; k <= n - 2; k++)
            {
                var (g, s, e) = UpdateBond(k, Sweep.LeftToRight, lr);
                (tGrad, tSvd, tEnv) = (tGrad + g, tSvd + s, tEnv + e);
                progress?.Invoke(Sweep.LeftToRight, k + 1, rightCount);
            }
            Model.Centre = n - 1;

            clock.Restart();
            trainNll = TrainNllFromEnvironments();
            testNll = Model.Nll(test);
            // The test set's pass leaves its temporaries free in the C heap: resident until the next loop needs them.
            CHeap.Trim();
            tNll = clock.Elapsed.TotalSeconds;
        }
        catch
        {
            // The environments no longer match the model, and the model is between canonical forms.
            DisposeEnvironments();
            broken = true;
            throw;
        }
        var record = new LoopRecord(Loop + 1, trainNll, testNll, Model.MaxBond, lr, total.Elapsed.TotalSeconds);
        if (trainNll > history[^1].TrainNll && record.Loop > Options.HoldLoops)
            LearningRate = lr * Options.DecayOnIncrease;
        history.Add(record);
        LastProfile = new LoopProfile(BondsPerLoop, tGrad, tSvd, tEnv, tSetup, tNll);
        return record;
    }

    // Environment cache. A loop needs, at bond k, every image's left environment of sites < k and right environment
    // of sites > k+1. Keeping all of them (as the authors' "cumulants" do) costs n·N·D float64 numbers; here a sweep
    // keeps only every block-th environment it makes (block = ⌈√n⌉) plus the block it will need first, and the
    // other sweep recomputes a block from the checkpoint below (left) or above (right) it just before it needs it:
    // about 4√n environments held instead of n, for one more environment step per bond. The recomputed values are
    // the same bits: the sites they are made from have not changed since (a sweep only changes the sites behind it).
    // The left environments left by one loop's left-to-right sweep serve the next loop, so only the first loop (or
    // one after a failure) builds them from scratch.

    bool KeepLeft(int j) => j == 0 || j % block == 0 || j >= LastCheckpoint(Model.Length - 2);
    bool KeepRight(int j) => j == Model.Length || j % block == 0 || j < block;
    int LastCheckpoint(int j) => j - j % block;

    /// Environment buffers are cut to N × the bond this loop can reach (<see cref="ReachableBond"/>), not Dmax: where the
    /// bonds have grown past them, the environments are dropped and the buffers made again at the new size (the left
    /// environments are then rebuilt, the same bits), so their memory follows the bonds and the guard sees it grow.
    void FitBuffers()
    {
        long need = train.shape[0] * ReachableBond(Model, Options.Dmax);
        if (need <= buffers.Capacity)
            return;
        DisposeEnvironments();
        buffers.Dispose();
        buffers = new EnvironmentBuffers(need, block);
    }

    void InitLeftEnvironments()
    {
        if (left[0] is not null)
            return;
        DisposeEnvironments();
        using var scope = NewDisposeScope();
        long count = train.shape[0];
        left[0] = ones(count, 1, ScalarType.Float64).DetachFromDisposeScope();
        leftLog[0] = logBuffers.Take(count);
        leftLog[0].zero_();
        right[Model.Length] = ones(count, 1, ScalarType.Float64).DetachFromDisposeScope();
        for (int k = 0; k < Model.Length - 2; k++)
        {
            StepLeftEnvironment(k);
            if (!KeepLeft(k))
                DropLeft(k);
        }
    }

    /// The left environment of sites &lt; k, recomputed from the nearest checkpoint below when it was dropped.
    Tensor Left(int k)
    {
        if (left[k] is null)
        {
            int j = k - 1;
            while (left[j] is null)
                j--;
            for (; j < k; j++)
                StepLeftEnvironment(j);
        }
        return left[k];
    }

    /// The right environment of sites &gt;= k, recomputed from the nearest checkpoint above when it was dropped.
    Tensor Right(int k)
    {
        if (right[k] is null)
        {
            int j = k + 1;
            while (right[j] is null)
                j++;
            for (j--; j >= k; j--)
                StepRightEnvironment(j);
        }
        return right[k];
    }

    void DropLeft(int k)
    {
        if (left[k] is not null)
            buffers.Return(left[k]);
        if (leftLog[k] is not null)
            logBuffers.Return(leftLog[k]);
        left[k] = null!;
        leftLog[k] = null!;
    }

    void DropRight(int k)
    {
        if (right[k] is not null)
            buffers.Return(right[k]);
        right[k] = null!;
    }

    /// Computes right[k] (normalised) from right[k+1] and site k.
    void StepRightEnvironment(int k)
    {
        CheckEnvironment(k, Model[k].shape[0], $"the right environment of sites >= {k}");
        using var scope = NewDisposeScope();
        var raw = Environments.StepRight(right[k + 1], Model[k], Groups(k));
        DropRight(k);
        right[k] = buffers.Take(raw.shape[0], raw.shape[1]);
        Environments.NormalizeInto(raw, right[k]);
    }

    /// Computes left[k+1] (normalised) and its accumulated log-scale from left[k] and site k.
    void StepLeftEnvironment(int k)
    {
        CheckEnvironment(k, Model[k].shape[2], $"the left environment of sites < {k + 1}");
        using var scope = NewDisposeScope();
        var raw = Environments.StepLeft(left[k], Model[k], Groups(k));
        DropLeft(k + 1);
        left[k + 1] = buffers.Take(raw.shape[0], raw.shape[1]);
        var log = Environments.NormalizeWithLogInto(raw, left[k + 1]);
        leftLog[k + 1] = logBuffers.Take(log.shape[0]);
        leftLog[k + 1].copy_(Plus(leftLog[k], log));
    }

    /// <summary>
    /// The training NLL at the end of a loop from the cached left environments: after the left-to-right sweep every
    /// site but the last is left-orthonormal, so Z = ‖A_{n-1}‖², and ln|ψ(v)| is the accumulated log-scale of
    /// L_{n-1}(v) plus ln|L_{n-1}(v) · A_{n-1}[:, v_{n-1}]|: O(N·D) instead of a full O(n·N·D²) contraction.
    /// </summary>
    double TrainNllFromEnvironments()
    {
        using var scope = NewDisposeScope();
        int last = Model.Length - 1;
        var psi = Environments.StepLeft(left[last], Model[last], Groups(last)).squeeze(1);
        var logAbs = Plus(leftLog[last], psi.abs().log());
        double z = Square(Model[last]).sum().item<double>();
        return Math.Log(z) - 2 * logAbs.mean().item<double>();
    }

    void DisposeEnvironments()
    {
        for (int i = 0; i < left.Length; i++)
        {
            DropLeft(i);
            DropRight(i);
        }
    }

    /// One bond update; returns the seconds spent in (gradient steps, SVD, environment update).
    (double, double, double) UpdateBond(int k, Sweep sweep, double lr)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var a = Model[k];
        var b = Model[k + 1];
        long dl = a.shape[0], d1 = a.shape[1], dm = a.shape[2], d2 = b.shape[1], dr = b.shape[2];
        CheckUpdate(k, sweep);
        var merged = a.reshape(dl * d1, dm).matmul(b.reshape(dm, d2 * dr)).reshape(dl, d1, d2, dr);
        var l = Left(k);
        var r = Right(k + 2);
        using var pairs = PairGroups(k);
        for (int step = 0; step < Options.Steps; step++)
        {
            if (step > 0)
                merged = merged / merged.norm();
            var gradient = BornGradient.Gradient(merged, l, r, pairs);
            merged = Minus(merged, Times(Scaled(gradient), lr));
        }
        if (!double.IsFinite(merged.norm().item<double>()))
            throw new BornDivergedException($"loop {Loop + 1}, bond {k}: the merged tensor is not finite after the gradient step (learning rate {lr:g3})");
        double tGrad = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var centre = sweep == Sweep.RightToLeft ? CentreSide.Left : CentreSide.Right;
        var split = Options.Split == SplitMethod.Gram
            ? SvdSplit.SplitByGram(merged, Options.Cutoff, Options.Dmax, centre)
            : SvdSplit.Split(merged, Options.Cutoff, Options.Dmax, centre);
        Store(k, split.Left);
        Store(k + 1, split.Right);
        double tSvd = clock.Elapsed.TotalSeconds;

        clock.Restart();
        if (sweep == Sweep.RightToLeft)
        {
            StepRightEnvironment(k + 1);
            // The left-to-right sweep rebuilds every left environment from left[0]; it needs the right ones kept here.
            DropLeft(k);
            if (!KeepRight(k + 2))
                DropRight(k + 2);
        }
        else
        {
            StepLeftEnvironment(k);
            // The next right-to-left sweep rebuilds every right environment from right[n].
            if (!KeepLeft(k))
                DropLeft(k);
            if (k + 2 < Model.Length)
                DropRight(k + 2);
        }
        Model.Centre = sweep == Sweep.RightToLeft ? k : k + 1;
        return (tGrad, tSvd, clock.Elapsed.TotalSeconds);
    }

    /// Puts a split's site tensor (in the bond's dispose scope) into the model: copied into the site's own storage when
    /// the shape is unchanged, so that nothing long-lived is allocated among the bond's temporaries (new site tensors
    /// placed between them kept the C heap's freed memory from merging: megabytes more resident each loop).
    void Store(int k, Tensor site)
    {
        if (Model[k].shape.SequenceEqual(site.shape))
            Model[k].copy_(site);
        else
        {
            if (siteElements is not null)
                siteElements += site.numel() - Model[k].numel();
            Model.Set(k, site.DetachFromDisposeScope());
        }
    }

    // The memory guard as bonds grow. The state the trainer holds is the images, the sites, the environment buffers
    // (N × the largest bond the run can reach each, allocated a chunk at a time and reused) and, during a bond update,
    // its temporaries; a bond update can grow the bond it splits to min(Dmax, Dl·d, d'·Dr). Each check adds these up
    // (float64; the temporaries a safe upper estimate, counted from the sizes the step will produce) and compares
    // them with MemoryLimit: at most 2n element counts per check, no allocation. The sites count twice: a checkpoint
    // (Checkpoint.Save, after every loop of `tn train`) copies them while the environments are still held.

    /// Refuses the update of bond k when the state after it, with the bond as large as the split can make it, and the
    /// update's temporaries would pass the limit.
    void CheckUpdate(int k, Sweep sweep)
    {
        var a = Model[k];
        var b = Model[k + 1];
        long n = train.shape[0], dl = a.shape[0], d1 = a.shape[1], dm = a.shape[2], d2 = b.shape[1], dr = b.shape[2];
        long rows = dl * d1, cols = d2 * dr, rank = Math.Min(rows, cols);
        long bond = Math.Min(Options.Dmax, rank);
        BigInteger sites = SiteElements(k) + (BigInteger)rows * bond + (BigInteger)bond * cols;
        BigInteger merged = (BigInteger)rows * cols;
        // Merged tensor, gradient and step results kept in the bond's scope per step, the gradient's own (its permuted
        // copy, sums and products) and the images' rows; the SVD's factors (or the Gram and its eigenvectors), LAPACK's
        // work space and the split's products; the environment the update makes and its normalisation.
        long gram = Options.Split == SplitMethod.Gram ? (sweep == Sweep.LeftToRight ? rows : cols) : rank;
        BigInteger temporaries = (4 * Options.Steps + 7) * merged + (BigInteger)n * (2 * dl + 4 * dr + 8)
            + (BigInteger)(rows + cols) * rank + 8 * (BigInteger)gram * gram + 4 * (BigInteger)(rows + cols)
            + 3 * (BigInteger)bond * (rows + cols) + 3 * (BigInteger)n * bond;
        BigInteger environments = EnvironmentBytes(n * bond);
        // Checkpoint.Save copies every site into managed arrays after the loop, while the environments are held.
        var bytes = FixedBytes() + (2 * sites + temporaries) * sizeof(double) + environments;
        string growth = bond > dm ? $"growing it from {dm} to at most {bond}" : $"keeping it at most {bond}";
        Check(bytes,
            $"loop {Loop + 1}, bond {k} (sites {k} and {k + 1}, sweep {(sweep == Sweep.RightToLeft ? "←" : "→")}): its update, {growth} (Dl {dl}, Dr {dr}, Dmax {Options.Dmax})",
            sites * sizeof(double), bond, environments, temporaries * sizeof(double));
    }

    /// Refuses an environment step that would allocate a chunk of environment buffers the limit has no room for.
    void CheckEnvironment(int k, long width, string what)
    {
        long n = train.shape[0];
        if (buffers.GrowBytes(n * width) == 0 && logBuffers.GrowBytes(n) == 0)
            return;
        BigInteger environments = EnvironmentBytes(n * width);
        BigInteger temporaries = 3 * (BigInteger)n * width * sizeof(double);
        var sites = SiteElements(-1) * sizeof(double);
        Check(FixedBytes() + 2 * sites + environments + temporaries,
            $"loop {Loop + 1}, {what} (bond {width}): a new chunk of environment buffers",
            sites, width, environments, temporaries);
    }

    /// Refuses <paramref name="bytes"/> over the limit, naming the parts; <paramref name="bond"/> is the bond the step makes.
    void Check(BigInteger bytes, string what, BigInteger sites, long bond, BigInteger environments, BigInteger temporaries)
    {
        if (bytes > MostBytesChecked)
            MostBytesChecked = bytes;
        if (bytes <= MemoryLimit)
            return;
        // Only here: the largest bond reads every site's shape.
        long largestBond = Math.Max(Model.MaxBond, bond);
        long n = train.shape[0];
        string message = $"{what} needs {MemoryGuard.Format(bytes)}, over the memory limit of {MemoryGuard.Format(MemoryLimit)} ({MemoryLimitSource}): " +
            $"the MPS {MemoryGuard.Format(sites)} (largest bond {largestBond}) and a checkpoint's copy of it, the environments {MemoryGuard.Format(environments)} " +
            $"({buffers.Allocated} buffers held of {n:N0} images × bond {buffers.Capacity / Math.Max(n, 1):N0}), " +
            $"the step's temporaries {MemoryGuard.Format(temporaries)}, the images {MemoryGuard.Format(FixedBytes())}; " +
            (MemoryGuard.Remedies ?? "use a smaller Dmax, or raise the limit");
        throw new MemoryLimitException(what, bytes, MemoryLimit, MemoryLimitSource, message);
    }

    /// <summary>The bytes the trainer's state holds now (images, sites, environment buffers), as the checks count them.</summary>
    public BigInteger HeldBytes => FixedBytes() + SiteElements(-1) * sizeof(double) + buffers.Bytes + logBuffers.Bytes;

    /// The elements of every site but <paramref name="skip"/> and the one after it (-1: all), from the running total
    /// (<see cref="siteElements"/>): counting every site at every bond took a third of a Dmax-30 loop.
    BigInteger SiteElements(int skip)
    {
        siteElements ??= Enumerable.Range(0, Model.Length).Aggregate(BigInteger.Zero, (t, i) => t + Model[i].numel());
        return skip < 0 ? siteElements.Value : siteElements.Value - Model[skip].numel() - Model[skip + 1].numel();
    }

    // The elements of all sites, kept up to date by Store; null: not counted yet.
    BigInteger? siteElements;

    /// The environment buffers held, with what taking one of <paramref name="need"/> elements (and a log-scale) adds.
    BigInteger EnvironmentBytes(long need) =>
        (BigInteger)buffers.Bytes + buffers.GrowBytes(need) + logBuffers.Bytes + logBuffers.GrowBytes(train.shape[0])
        + 2 * train.shape[0] * sizeof(double);

    /// The images, as bytes or int64, and their columns.
    BigInteger FixedBytes() =>
        (BigInteger)train.numel() * train.element_size() + columns.numel() * columns.element_size()
        + (ReferenceEquals(test, train) ? 0 : test.numel() * test.element_size());

    /// The training images grouped by their pixel at site k (in the caller's dispose scope).
    PixelGroups Groups(int k)
    {
        using var column = Column(k);
        return PixelGroups.Of(column, Model[k].shape[1]);
    }

    /// The training images grouped by their pixel pair c = x_k·d' + x_{k+1} at bond (k, k+1) (in the caller's dispose scope).
    PixelGroups PairGroups(int k)
    {
        using var column = Column(k);
        using var next = Column(k + 1);
        long d2 = Model[k + 1].shape[1];
        using var scaled = Times(column, d2);
        using var pairs = Plus(scaled, next);
        return PixelGroups.Of(pairs, Model[k].shape[1] * d2);
    }

    Tensor Column(int k)
    {
        using var bytes = columns[k];
        return bytes.to_type(ScalarType.Int64);
    }

    Tensor Scaled(Tensor gradient)
    {
        if (Options.Scaling == GradientScaling.Plain)
            return gradient;
        using var norm = gradient.norm();
        double factor = norm.item<double>() / 2 / Math.Pow(gradient.numel(), 0.25);
        return factor < 1 && factor > 0 ? Over(gradient, factor) : gradient;
    }

    /// <summary>The training images (N, n) in site order: bytes where every value fits one, else int64.</summary>
    public Tensor TrainImages => train;
    /// <summary>The test images (N, n) in site order: bytes where every value fits one, else int64.</summary>
    public Tensor TestImages => test;

    /// <inheritdoc/>
    public void Dispose()
    {
        DisposeEnvironments();
        Model.Dispose();
        train.Dispose();
        test.Dispose();
        buffers.Dispose();
        logBuffers.Dispose();
        columns.Dispose();
    }
}
