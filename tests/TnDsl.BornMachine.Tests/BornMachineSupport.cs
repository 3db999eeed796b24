using TnDsl.BornMachine;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.BornMachine.Tests;

/// Shared helpers of the Born-machine tests: the repository's files, random MPSs and a naive ψ oracle.
static class BornMachineSupport
{
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "examples", "born-machine.tn")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }

    public static string BornMachineTn => Path.Combine(RepoRoot(), "examples", "born-machine.tn");

    public static string BarsAndStripesDir => Path.Combine(RepoRoot(), "examples", "data", "born-machine", "bars-and-stripes");

    /// A random MPS with the given bond dimension (capped at the ends), from a seeded generator.
    public static Mps RandomMps(int n, int d, int bond, long seed)
    {
        NativeLoader.EnsureLoaded();
        using var g = new Generator((ulong)seed);
        var sites = new List<Tensor>();
        for (int k = 0; k < n; k++)
        {
            long dl = k == 0 ? 1 : bond, dr = k == n - 1 ? 1 : bond;
            sites.Add(randn([dl, d, dr], ScalarType.Float64, generator: g));
        }
        return new Mps(sites);
    }

    /// ψ(v) for every configuration v (site order, v_0 most significant), by plain matrix products on doubles.
    public static double[] DensePsi(Mps mps)
    {
        int n = mps.Length;
        var d = mps.Physical;
        var tensors = Enumerable.Range(0, n).Select(k =>
        {
            using var site = mps[k].contiguous();
            return site.data<double>().ToArray();
        }).ToArray();
        var bonds = mps.Bonds;
        int total = d.Aggregate(1, (a, b) => a * b);
        var result = new double[total];
        var v = new int[n];
        for (int c = 0; c < total; c++)
        {
            int r = c;
            for (int k = n - 1; k >= 0; k--)
            {
                v[k] = r % d[k];
                r /= d[k];
            }
            var vec = new double[] { 1 };
            for (int k = 0; k < n; k++)
            {
                int dl = bonds[k], dr = bonds[k + 1];
                var next = new double[dr];
                for (int l = 0; l < dl; l++)
                    for (int j = 0; j < dr; j++)
                        next[j] += vec[l] * tensors[k][(l * d[k] + v[k]) * dr + j];
                vec = next;
            }
            result[c] = vec[0];
        }
        return result;
    }

    /// All configurations as an (d^n, n) int64 tensor in the order of <see cref="DensePsi"/> (binary sites).
    public static Tensor AllBinaryConfigurations(int n)
    {
        var values = new long[(1 << n) * n];
        for (int c = 0; c < 1 << n; c++)
            for (int k = 0; k < n; k++)
                values[c * n + k] = (c >> (n - 1 - k)) & 1;
        return tensor(values, [1L << n, n], ScalarType.Int64);
    }
}
