using System.Runtime.InteropServices;

namespace TnDsl.Torch;

/// <summary>The heap policy in force (<see cref="NativeHeap.Apply"/>).</summary>
public enum HeapPolicy
{
    /// <summary>Not decided yet (no module planned in this process).</summary>
    Undecided,
    /// <summary>glibc's heap as it is: its default, or what its own settings in the environment say.</summary>
    Glibc,
    /// <summary>glibc's mmap threshold fixed at <see cref="NativeHeap.LargeBlock"/> and its trim threshold at twice
    /// that (<c>TN_HEAP=return</c>): freed blocks of 1 MiB or more go back to the system at once.</summary>
    LargeBlocksReturned,
    /// <summary>Asked for, but not glibc (or not Linux): nothing to set.</summary>
    Unavailable,
}

/// <summary>
/// The native heap the memory guard's estimate (<see cref="ExecutedBytes"/>) is about. libtorch allocates CPU tensors
/// with <c>malloc</c>. By default glibc maps a block of 128 KiB or more on its own and unmaps it when freed, but after
/// each such free it raises that threshold to the block's size (up to 32 MiB) and serves smaller blocks from its heap
/// from then on. A heap keeps the pages of freed blocks, and where autograd's kept tensors sit between short-lived
/// ones it outgrows the tensors alive: resident memory measured 0.98 to 1.83 times the tensors the estimate counts,
/// once 2.37 (the <c>memory</c> benchmark, <c>bench/results/memory.md</c>), so the guard adds
/// <see cref="MemoryGuard.HeapAllowance"/> to what a call allocates.
/// <para>
/// <c>TN_HEAP=return</c> fixes the threshold at <see cref="LargeBlock"/> instead (<c>mallopt(M_MMAP_THRESHOLD)</c>,
/// which also stops the raising, and <c>M_TRIM_THRESHOLD</c> at twice that, glibc's own ratio): every tensor of 1 MiB
/// or more is mapped and unmapped when freed, resident memory follows the tensors alive (0.98 to 1.31 of the estimate
/// on every row), and the guard counts no allowance. Each mapped block costs its page faults when written first: on
/// the shared 2-core machine a <c>layers/mps.tn</c> forward took 4.4 times the CPU time (the <c>heap</c> benchmark)
/// and a loop of the Born machine's trainer 1.2 times (3.4 times at glibc's 128 KiB), so it is not the default.
/// Applied once per process by <see cref="MemoryGuard.Fit"/>, when a module or layer is planned; glibc's own
/// settings of either threshold in the environment win (<see cref="Requested"/>).
/// </para>
/// </summary>
public static class NativeHeap
{
    /// <summary>The environment variable that chooses the policy: <c>return</c> for
    /// <see cref="HeapPolicy.LargeBlocksReturned"/>; anything else (or nothing) keeps glibc's heap.</summary>
    public const string EnvironmentVariable = "TN_HEAP";

    /// <summary>The smallest block glibc maps on its own under <see cref="HeapPolicy.LargeBlocksReturned"/>: 1 MiB.</summary>
    public const int LargeBlock = 1 << 20;

    const int TrimThreshold = -1, MmapThreshold = -3; // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD in malloc.h

    static readonly object Gate = new();

    /// <summary>The policy in force in this process (<see cref="HeapPolicy.Undecided"/> before the first call of
    /// <see cref="Apply"/>).</summary>
    public static HeapPolicy Policy { get; private set; }

    /// <summary>
    /// Puts the policy the environment asks for in force (see the type's summary), once per process; later calls
    /// return the first one's outcome.
    /// </summary>
    public static HeapPolicy Apply()
    {
        lock (Gate)
        {
            if (Policy == HeapPolicy.Undecided)
                Policy = Decide();
            return Policy;
        }
    }

    /// <summary>
    /// Whether the environment (read through <paramref name="variable"/>) asks for freed large blocks to be returned:
    /// <c>TN_HEAP=return</c>, and none of glibc's own settings of its thresholds (<c>MALLOC_MMAP_THRESHOLD_</c>,
    /// <c>MALLOC_TRIM_THRESHOLD_</c>, or either in <c>GLIBC_TUNABLES</c>), which win.
    /// </summary>
    public static bool Requested(Func<string, string?> variable) =>
        string.Equals(variable(EnvironmentVariable), "return", StringComparison.OrdinalIgnoreCase)
        && variable("MALLOC_MMAP_THRESHOLD_") is null
        && variable("MALLOC_TRIM_THRESHOLD_") is null
        && !(variable("GLIBC_TUNABLES") is { } t && (t.Contains("mmap_threshold", StringComparison.Ordinal) || t.Contains("trim_threshold", StringComparison.Ordinal)));

    static HeapPolicy Decide()
    {
        if (!Requested(Environment.GetEnvironmentVariable))
            return HeapPolicy.Glibc;
        if (!OperatingSystem.IsLinux())
            return HeapPolicy.Unavailable;
        try
        {
            // Both thresholds fixed (a process that raised them before keeps them raised otherwise), and what the
            // heap kept before handed back once.
            if (Mallopt(MmapThreshold, LargeBlock) != 1 || Mallopt(TrimThreshold, 2 * LargeBlock) != 1)
                return HeapPolicy.Unavailable;
            MallocTrim(0);
            return HeapPolicy.LargeBlocksReturned;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return HeapPolicy.Unavailable;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);
}
