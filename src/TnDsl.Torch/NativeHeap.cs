using System.Runtime.InteropServices;

namespace TnDsl.Torch;

/// <summary>What <see cref="NativeHeap.ReturnLargeBlocks"/> found or did.</summary>
public enum HeapPolicy
{
    /// <summary>Not tried yet.</summary>
    Untouched,
    /// <summary>glibc's mmap threshold is fixed at <see cref="NativeHeap.LargeBlock"/> (its trim threshold at twice
    /// that): freed large blocks are returned.</summary>
    LargeBlocksReturned,
    /// <summary>Left as it was on request: <c>TN_HEAP=glibc</c>, or glibc's own settings given in the environment.</summary>
    LeftToEnvironment,
    /// <summary>Not glibc (or not Linux): nothing to set.</summary>
    Unavailable,
}

/// <summary>
/// The heap policy under which the memory guard's estimate (<see cref="ExecutedBytes"/>) holds. libtorch allocates
/// CPU tensors with <c>malloc</c>; by default glibc maps a block of 128 KiB or more on its own and unmaps it when freed,
/// but after each such free it raises that threshold to the block's size (up to 32 MiB) and serves smaller blocks
/// from its heap from then on. A heap keeps the pages of freed blocks, and where autograd's kept tensors sit between
/// short-lived ones the heap outgrows the tensors alive: training steps measured 1.5-1.8 times the tensors they hold
/// (the <c>memory</c> benchmark, <c>bench/results/memory.md</c>). Fixing the threshold at
/// <see cref="LargeBlock"/> (<c>mallopt(M_MMAP_THRESHOLD)</c>, which also stops the raising) maps every tensor of
/// 1 MiB or more and unmaps it when freed, so resident memory follows the tensors alive (0.99-1.04 of the estimate
/// on those rows); smaller blocks still reuse the heap's pages. Each mapped block costs its page faults when first
/// written: 128 KiB made the Born machine's trainer 3.4 times slower, 1 MiB 1.2 times, so the trainer, which does not
/// build modules, keeps glibc's default.
/// <para>
/// Applied once per process by <see cref="MemoryGuard.Fit"/>, when a module or layer is planned. Set
/// <c>TN_HEAP=glibc</c> to keep glibc's default; glibc's own settings of either threshold in the environment are left
/// as given (<see cref="LeftToEnvironment"/>).
/// </para>
/// </summary>
public static class NativeHeap
{
    /// <summary>The environment variable that keeps glibc's default heap (<c>TN_HEAP=glibc</c>).</summary>
    public const string EnvironmentVariable = "TN_HEAP";

    /// <summary>The smallest block glibc maps on its own under the policy: 1 MiB.</summary>
    public const int LargeBlock = 1 << 20;

    const int TrimThreshold = -1, MmapThreshold = -3; // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD in malloc.h

    static readonly object Gate = new();

    /// <summary>The policy in force in this process (<see cref="HeapPolicy.Untouched"/> before the first call of
    /// <see cref="ReturnLargeBlocks"/>).</summary>
    public static HeapPolicy Policy { get; private set; }

    /// <summary>
    /// Fixes glibc's mmap threshold at <see cref="LargeBlock"/> unless the environment says otherwise (see the type's
    /// summary). Once per process; later calls return the first one's outcome.
    /// </summary>
    public static HeapPolicy ReturnLargeBlocks()
    {
        lock (Gate)
        {
            if (Policy != HeapPolicy.Untouched)
                return Policy;
            Policy = Decide();
            return Policy;
        }
    }

    /// <summary>
    /// Whether the environment (read through <paramref name="variable"/>) asks to keep glibc's heap as it is:
    /// <c>TN_HEAP=glibc</c>, or glibc's own <c>MALLOC_MMAP_THRESHOLD_</c>, <c>MALLOC_TRIM_THRESHOLD_</c> or a
    /// <c>GLIBC_TUNABLES</c> setting of either threshold.
    /// </summary>
    public static bool LeftToEnvironment(Func<string, string?> variable) =>
        string.Equals(variable(EnvironmentVariable), "glibc", StringComparison.OrdinalIgnoreCase)
        || variable("MALLOC_MMAP_THRESHOLD_") is not null
        || variable("MALLOC_TRIM_THRESHOLD_") is not null
        || variable("GLIBC_TUNABLES") is { } t && (t.Contains("mmap_threshold", StringComparison.Ordinal) || t.Contains("trim_threshold", StringComparison.Ordinal));

    static HeapPolicy Decide()
    {
        if (!OperatingSystem.IsLinux())
            return HeapPolicy.Unavailable;
        if (LeftToEnvironment(Environment.GetEnvironmentVariable))
            return HeapPolicy.LeftToEnvironment;
        try
        {
            // glibc's own rule keeps the top of the heap until it exceeds twice the mmap threshold; fixed here, as the
            // threshold is (a process that raised both before keeps them raised otherwise), and what the heap kept
            // before is handed back once.
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
