using System.Numerics;

namespace TnDsl.Cli;

/// <summary>
/// Thread defaults that cannot collapse on a busy machine. libtorch's OpenMP threads spin while they wait (the
/// <c>ACTIVE</c> wait policy): on 2 shared cores, two spinning threads made a Born-machine loop take 283 s against 25 s
/// with one thread or two passive ones (<c>bench/results/threads.md</c>, written by <c>scripts/record-figures.sh</c>).
/// So the native loader (<c>TnDsl.Native.NativeLoader</c>) sets <c>OMP_WAIT_POLICY=PASSIVE</c> before libtorch loads
/// (unless the user set it), and <c>tn run</c> uses one thread for networks under <see cref="SmallFlops"/> per call,
/// where more threads only add overhead.
/// </summary>
public static class Threads
{
    /// <summary>Below this many flops per call, <c>tn run</c> uses one thread unless <c>--threads</c> says otherwise.</summary>
    public const double SmallFlops = 1e8;

    /// <summary>The most threads <c>--threads</c> takes: libtorch starts each one, so a count far past the cores only
    /// costs (1,000 took 35 s to start on two cores) and 100,000 would seem to hang.</summary>
    public const int Max = 1024;

    /// <summary>The default thread count of <c>tn run</c> for a plan of <paramref name="flops"/> per call.</summary>
    public static int For(BigInteger flops) => flops < new BigInteger(SmallFlops) ? 1 : Environment.ProcessorCount;
}
