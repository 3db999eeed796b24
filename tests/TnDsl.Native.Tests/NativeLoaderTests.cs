using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Native.Tests;

public class NativeLoaderTests
{
    [Fact]
    public void The_native_library_loads_and_says_how()
    {
        var outcome = NativeLoader.EnsureLoaded();
        Assert.True(outcome is NativeLoadOutcome.Patched or NativeLoadOutcome.Unpatched, NativeLoader.Trace);
        Assert.NotNull(NativeLoader.LoadedPath);
        var needs = ElfVersionNeeds.Read(File.ReadAllBytes(NativeLoader.LoadedPath!));
        var glibcxx = needs.Where(n => n.Name == "GLIBCXX_3.4.32").ToList();
        // A patched copy carries the weak flag; an unpatched load means the system needs none.
        if (outcome == NativeLoadOutcome.Patched)
            Assert.All(glibcxx, n => Assert.Equal(ElfVersionNeeds.WeakFlag, n.Flags & ElfVersionNeeds.WeakFlag));
        Assert.Equal(outcome, NativeLoader.EnsureLoaded());
    }

    [Fact]
    public void Loading_sets_a_passive_OpenMP_wait_policy_unless_one_was_set()
    {
        var before = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY");
        NativeLoader.EnsureLoaded();
        // Loaded once per process: the policy is what the user gave, or PASSIVE, and the trace says which.
        var policy = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY");
        Assert.Equal(string.IsNullOrEmpty(before) ? "PASSIVE" : before, policy);
        Assert.Contains($"OMP_WAIT_POLICY={policy}", NativeLoader.Trace);
    }

    [Fact]
    public void Loader_errors_are_parsed_for_missing_versions()
    {
        var msg = "/x/libLibTorchSharp.so: /lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by /x/libLibTorchSharp.so)";
        Assert.Equal(["GLIBCXX_3.4.32"], NativeLoader.MissingVersions(msg));
        Assert.Empty(NativeLoader.MissingVersions("libfoo.so: cannot open shared object file"));
    }

    [Fact]
    public void Matmul_and_einsum_compute_what_loops_compute()
    {
        NativeLoader.EnsureLoaded();
        var a = new double[3, 4];
        var b = new double[4, 2];
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++)
                a[i, k] = i - 2.0 * k + 0.5;
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 2; j++)
                b[k, j] = 1.0 + k * j - 0.25 * j;
        using var ta = tensor(a);
        using var tb = tensor(b);
        using var mm = ta.matmul(tb);
        using var es = einsum("ik,kj->ji", ta, tb);
        var mmv = mm.data<double>().ToArray();
        var esv = es.data<double>().ToArray();
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
            {
                double s = 0;
                for (int k = 0; k < 4; k++)
                    s += a[i, k] * b[k, j];
                Assert.Equal(s, mmv[i * 2 + j], 12);
                Assert.Equal(s, esv[j * 3 + i], 12);
            }
    }
}
