using System.Numerics;
using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.BornMachine;

/// <summary>
/// A matrix product state ψ(v) = A₀[v₀] A₁[v₁] … A_{n-1}[v_{n-1}] with site tensors of shape (Dl, d, Dr), float64 on
/// the CPU (D = 1 at both ends). The trainer owns it and replaces site tensors as bond dimensions change.
/// <see cref="Centre"/> records the orthogonality centre when the state is in mixed-canonical form (sites left of it
/// left-orthonormal, right of it right-orthonormal), or -1 when unknown.
/// </summary>
public sealed class Mps : IDisposable
{
    readonly Tensor[] sites;

    /// <summary>Wraps site tensors (taken over: the MPS disposes them).</summary>
    public Mps(IEnumerable<Tensor> siteTensors, int centre = -1)
    {
        sites = siteTensors.ToArray();
        if (sites.Length < 2)
            throw new ArgumentException("an MPS needs at least two sites");
        for (int k = 0; k < sites.Length; k++)
        {
            if (sites[k].dim() != 3)
                throw new ArgumentException($"site {k}: expected (Dl, d, Dr), got [{string.Join(", ", sites[k].shape)}]");
            if (k > 0 && sites[k].shape[0] != sites[k - 1].shape[2])
                throw new ArgumentException($"sites {k - 1} and {k}: bond dimensions {sites[k - 1].shape[2]} and {sites[k].shape[0]} differ");
        }
        if (sites[0].shape[0] != 1 || sites[^1].shape[2] != 1)
            throw new ArgumentException("the end sites must have outer bond dimension 1");
        Centre = centre;
    }

    /// <summary>The number of sites.</summary>
    public int Length => sites.Length;

    /// <summary>The orthogonality centre, or -1 when the form is unknown.</summary>
    public int Centre { get; set; }

    /// <summary>Site tensor k, (Dl, d, Dr). Owned by the MPS.</summary>
    public Tensor this[int k] => sites[k];

    /// <summary>Replaces site tensor k (the old one is disposed, the new one taken over).</summary>
    public void Set(int k, Tensor value)
    {
        if (!ReferenceEquals(sites[k], value))
            sites[k].Dispose();
        sites[k] = value;
    }

    /// <summary>Bond dimensions: entry k joins sites k-1 and k (entries 0 and n are 1).</summary>
    public int[] Bonds => [.. sites.Select(s => (int)s.shape[0]), 1];

    /// <summary>The largest bond dimension.</summary>
    public int MaxBond => Bonds.Max();

    /// <summary>Physical dimensions per site.</summary>
    public int[] Physical => sites.Select(s => (int)s.shape[1]).ToArray();

    /// <summary>A layout's MPS initialised from its declared initialisers (float64, from one seeded generator), legs ordered (left, physical, right).</summary>
    public static Mps Initial(MpsLayout layout, long seed)
    {
        // Before anything is allocated: every site in float64, and what the largest site's initialiser makes (a sum holds
        // its two parts and the result), over the memory limit or one array's length, is refused (a bond of 100,000
        // ended in an OverflowException allocating the values).
        var sizes = Enumerable.Range(0, layout.Length).Select(k => (BigInteger)layout.Bonds[k] * layout.Sites[k].Physical * layout.Bonds[k + 1]).ToArray();
        string what = $"{layout.Network}: the initial MPS ({layout.Length} sites, bonds up to {layout.Bonds.Max():N0}, float64)";
        MemoryGuard.Check(MemoryGuard.Bytes(sizes.Aggregate(BigInteger.Zero, (a, b) => a + b) + 3 * sizes.Max(), ScalarType.Float64), what);
        if (sizes.Max() > Array.MaxLength)
            throw new ArgumentException($"{what}: a site of {sizes.Max():N0} values is more than one array holds; use smaller bonds (--set)");
        NativeLoader.EnsureLoaded();
        using var generator = new Generator((ulong)seed);
        var result = new List<Tensor>();
        for (int k = 0; k < layout.Length; k++)
        {
            // One scope per site: the views made on the way hold the initial values until they are disposed.
            using var scope = NewDisposeScope();
            var site = layout.Sites[k];
            var order = site.LegOrder.Where(p => p >= 0).ToArray();
            long[] declared = new long[order.Length];
            long[] byRole = [layout.Bonds[k], site.Physical, layout.Bonds[k + 1]];
            for (int role = 0; role < 3; role++)
                if (site.LegOrder[role] >= 0)
                    declared[site.LegOrder[role]] = byRole[role];
            var values = Initializers.Make(site.Init ?? Initializers.DefaultWeight, declared, generator);
            // Permute the declared legs into (left, physical, right) order, then add the missing end legs.
            var perm = Enumerable.Range(0, 3).Where(r => site.LegOrder[r] >= 0).Select(r => (long)site.LegOrder[r]).ToArray();
            result.Add(values.permute(perm).reshape(byRole).contiguous().clone().DetachFromDisposeScope());
        }
        return new Mps(result);
    }

    /// <summary>
    /// Brings the MPS into left-canonical form (centre at the last site, normalised so Z = 1) by QR decompositions
    /// from left to right; bond dimensions shrink to min(Dl·d, Dr) where that is smaller (exact, nothing dropped).
    /// Returns ln Z, Z = Σ_v ψ(v)² before the normalisation. Each R factor is divided by its norm as it is carried
    /// right, and the logs of the divisors are summed, so Z may lie far outside float64 (a random bond-2 start over
    /// 784 sites has Z ≈ 10⁴⁷⁰).
    /// </summary>
    public double LeftCanonicalize()
    {
        double logZ = 0;
        for (int k = 0; k < Length - 1; k++)
        {
            using var scope = NewDisposeScope();
            var a = sites[k];
            long dl = a.shape[0], d = a.shape[1], dr = a.shape[2];
            var (q, r) = linalg.qr(a.reshape(dl * d, dr), linalg.QRMode.Reduced);
            long m = q.shape[1];
            var left = q.reshape(dl, d, m).contiguous();
            var next = sites[k + 1];
            double rNorm = r.norm().item<double>();
            logZ += 2 * Math.Log(rNorm);
            var merged = Over(r, rNorm).matmul(next.reshape(next.shape[0], -1)).reshape(m, next.shape[1], next.shape[2]).contiguous();
            Set(k, left.DetachFromDisposeScope());
            Set(k + 1, merged.DetachFromDisposeScope());
        }
        using (var n = sites[^1].norm())
        {
            logZ += 2 * Math.Log(n.item<double>());
            var scaled = sites[^1] / n;
            Set(Length - 1, scaled);
        }
        Centre = Length - 1;
        return logZ;
    }

    /// <summary>
    /// ψ(v) with its sign for each image (N, n) bytes or int64 in site order, contracted from the left without rescaling: fine
    /// for short chains and normalised states; use <see cref="LogAbsPsi"/> where values may underflow.
    /// </summary>
    public double[] Psi(Tensor images)
    {
        var env = ones(images.shape[0], 1, ScalarType.Float64).DetachFromDisposeScope();
        try
        {
            for (int k = 0; k < Length; k++)
            {
                // One scope per site: the temporaries of a step die with it, not at the end of the chain.
                using var scope = NewDisposeScope();
                using var column = images[.., k];
                var next = Environments.StepLeft(env, sites[k], column).DetachFromDisposeScope();
                env.Dispose();
                env = next;
            }
            using var values = env.squeeze(1);
            return values.data<double>().ToArray();
        }
        finally
        {
            env.Dispose();
        }
    }

    /// <summary>ln Z = ln Σ_v ψ(v)², by transfer matrices from the left with rescaling (O(n·d·D³)), for any form.</summary>
    public double LogNorm()
    {
        var e = ones(1, 1, ScalarType.Float64).DetachFromDisposeScope();
        double log = 0;
        try
        {
            foreach (var a in sites)
            {
                // One scope per site: 784 sites' temporaries held to the end made tens of megabytes.
                using var scope = NewDisposeScope();
                // E'[r, r'] = Σ_{l, l', p} E[l, l'] A[l, p, r] A[l', p, r'].
                var t = e.matmul(a.reshape(a.shape[0], -1)).reshape(a.shape[0], a.shape[1], a.shape[2]);
                var next = einsum("lpr,lps->rs", a, t);
                double tr = next.trace().item<double>();
                log += Math.Log(tr);
                next = Over(next, tr).DetachFromDisposeScope();
                e.Dispose();
                e = next;
            }
            return log;
        }
        finally
        {
            e.Dispose();
        }
    }

    /// <summary>
    /// ln |ψ(v)| for each image (rows of <paramref name="images"/>, (N, n) bytes or int64 in site order), by contracting from
    /// the left and rescaling every row at every site so nothing underflows.
    /// </summary>
    public double[] LogAbsPsi(Tensor images)
    {
        long count = images.shape[0];
        var env = ones(count, 1, ScalarType.Float64).DetachFromDisposeScope();
        var log = zeros(count, ScalarType.Float64).DetachFromDisposeScope();
        try
        {
            for (int k = 0; k < Length; k++)
            {
                // One scope per site: the temporaries of a step die with it, not at the end of all 784 steps.
                using var scope = NewDisposeScope();
                var raw = Environments.StepLeft(env, sites[k], images[.., k]);
                var (rows, logNorm) = Environments.NormalizeWithLog(raw);
                var nextLog = Plus(log, logNorm).DetachFromDisposeScope();
                var nextEnv = rows.DetachFromDisposeScope();
                env.Dispose();
                log.Dispose();
                (env, log) = (nextEnv, nextLog);
            }
            using var final = NewDisposeScope();
            // env is (N, 1): ±1 after the last rescale, or 0 where ψ vanishes.
            return Plus(log, env.squeeze(1).abs().log()).data<double>().ToArray();
        }
        finally
        {
            env.Dispose();
            log.Dispose();
        }
    }

    /// <summary>The negative log-likelihood −mean ln(ψ(v)²/Z) over images (N, n), in nats.</summary>
    public double Nll(Tensor images) => LogNorm() - 2 * LogAbsPsi(images).Average();

    /// <summary>
    /// Exact independent samples from p(v) = ψ(v)²/Z: requires the left-canonical form (centre at the last site).
    /// Pixels are drawn from the last site to the first, each from its exact conditional given those already drawn.
    /// Returns (count, n) values in site order. Uses <paramref name="rng"/> for one uniform per sample and site.
    /// </summary>
    public long[] Sample(int count, SplitMix64 rng)
    {
        if (Centre != Length - 1)
            throw new InvalidOperationException("sampling needs the left-canonical form (centre at the last site); call LeftCanonicalize first");
        var result = new long[count * (long)Length];
        var vec = ones(count, 1, ScalarType.Float64).DetachFromDisposeScope();
        try
        {
            for (int k = Length - 1; k >= 0; k--)
            {
                // One scope per site: 784 sites' temporaries held to the end made over 100 MB (tn train's 64 samples).
                using var scope = NewDisposeScope();
                var a = sites[k];
                long dl = a.shape[0], d = a.shape[1], dr = a.shape[2];
                // cand[s, p, l] = Σ_r A[l, p, r] vec[s, r]: the left vector for each choice of pixel p.
                var cand = vec.matmul(a.permute(2, 1, 0).reshape(dr, d * dl)).reshape(count, d, dl);
                var prob = Square(cand).sum(2);
                prob = prob / prob.sum(1, keepdim: true);
                var cum = prob.cumsum(1);
                var u = tensor(Enumerable.Range(0, count).Select(_ => rng.NextDouble()).ToArray(), ScalarType.Float64);
                var choice = ClampMax((cum < u.unsqueeze(1)).sum(1), d - 1);
                var picked = cand.gather(1, choice.view(count, 1, 1).expand(count, 1, dl)).squeeze(1);
                var next = (picked / ClampMin(picked.norm(1, keepdim: true), 1e-300)).DetachFromDisposeScope();
                vec.Dispose();
                vec = next;
                var values = choice.data<long>().ToArray();
                for (int s = 0; s < count; s++)
                    result[s * (long)Length + k] = values[s];
            }
        }
        finally
        {
            vec.Dispose();
        }
        return result;
    }

    /// <summary>A deep copy (same centre).</summary>
    public Mps Clone() => new(sites.Select(s => s.clone()), Centre);

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var s in sites)
            s.Dispose();
    }
}
