using System.Numerics;
using System.Runtime.InteropServices;

namespace TnDsl.Cli;

/// <summary>
/// Thread defaults that cannot collapse on a busy machine. libtorch's OpenMP threads spin while they wait (the
/// <c>ACTIVE</c> wait policy): on 2 shared cores, two spinning threads made a Born-machine loop take 283 s against 25 s
/// with one thread or two passive ones (<c>bench/results/threads.md</c>, written by <c>scripts/record-figures.sh</c>).
/// So <c>tn</c> sets <c>OMP_WAIT_POLICY=PASSIVE</c> before libtorch loads (unless the user set it), and <c>tn run</c>
/// uses one thread for networks under <see cref="SmallFlops"/> per call, where more threads only add overhead.
/// </summary>
public static class Threads
{
    /// <summary>Below this many flops per call, <c>tn run</c> uses one thread unless <c>--threads</c> says otherwise.</summary>
    public const double SmallFlops = 1e8;

    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment, where OpenMP reads it when libtorch loads, unless
    /// it is set already; .NET's own <see cref="Environment.SetEnvironmentVariable(string, string)"/> would not reach it.
    /// </summary>
    public static void PassiveWaitUnlessSet()
    {
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { Length: > 0 } || !OperatingSystem.IsLinux())
            return;
        SetEnv("OMP_WAIT_POLICY", "PASSIVE", 1);
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
    }

    /// <summary>The default thread count of <c>tn run</c> for a plan of <paramref name="flops"/> per call.</summary>
    public static int For(BigInteger flops) => flops < new BigInteger(SmallFlops) ? 1 : Environment.ProcessorCount;
}
