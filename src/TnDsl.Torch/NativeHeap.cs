using System.Runtime.InteropServices;
using TorchSharp;

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
    /// <summary>The default on glibc: libtorch's blocks of 2 MB or more page-aligned (<c>THP_MEM_ALLOC_ENABLE</c>, set
    /// before libtorch's first allocation), glibc's mmap threshold fixed at <see cref="NativeHeap.MmapLimit"/> and its
    /// trim threshold at <see cref="NativeHeap.KeepFree"/>: the hole a freed tensor leaves holds the next tensor of
    /// its size, and freed memory stays for the next call instead of being faulted in again.</summary>
    BlocksReused,
}

/// <summary>
/// The native heap the memory guard's estimate (<see cref="ExecutedBytes"/>) is about. libtorch allocates every CPU
/// tensor with <c>posix_memalign(64, n)</c>. glibc before 2.38 (Debian 12 has 2.36) serves that from a block of
/// n + 96 bytes and gives back a lead sliver of 32 to 80 bytes, which its per-thread cache keeps and never merges; so
/// the hole a freed tensor leaves is n and a few bytes, too small for the next tensor of the same size. Along a chain
/// of equal-sized intermediates the heap then spreads over fresh pages and earlier holes, and resident memory ran 1.0
/// to 2.4 times the tensors alive, varying from run to run (the <c>memory</c> benchmark,
/// <c>bench/results/memory.md</c>). glibc also returns the free top of its heap past a trim threshold it raises with
/// the blocks it has mapped, and a page handed back costs a fault (about 12 us per 4 KiB on the shared machine) when
/// used again.
/// <para>
/// The default (<see cref="HeapPolicy.BlocksReused"/>): before libtorch allocates anything, when TnDsl.Torch loads,
/// <c>THP_MEM_ALLOC_ENABLE=1</c> is put in the C environment, which makes libtorch align blocks of 2 MB or more to
/// the page (slivers then go back to glibc's bins, where holes merge) and ask for transparent huge pages for them; and
/// when a module is planned, glibc's mmap threshold is fixed at <see cref="MmapLimit"/> (its largest) and its trim
/// threshold at <see cref="KeepFree"/>, so that freed memory is reused rather than handed back and faulted in again.
/// On <c>layers/mps.tn</c> at batch 50,000 this made resident memory 0.85 to 1.0 of the guard's figure and the CPU
/// time of a forward call 0.8 times, a training step 0.9 times glibc's default. Where libtorch allocated before
/// TnDsl.Torch loaded (the blocks are not page-aligned), the thresholds are left alone: fixed alone they do not help.
/// </para>
/// <para>
/// <c>TN_HEAP=glibc</c> keeps glibc's heap and libtorch's allocation as they are (<see cref="HeapPolicy.Glibc"/>).
/// <c>TN_HEAP=return</c> fixes the mmap threshold at <see cref="LargeBlock"/> instead (and the trim threshold at twice
/// that): every tensor of 1 MiB or more is mapped and unmapped when freed, resident memory follows the tensors alive,
/// and each such tensor pays its page faults (a <c>layers/mps.tn</c> forward took 4.4 times the CPU time). glibc's
/// own settings of either threshold in the environment win over both (<see cref="Requested"/>).
/// </para>
/// </summary>
public static class NativeHeap
{
    /// <summary>The environment variable that chooses the policy: <c>return</c> for
    /// <see cref="HeapPolicy.LargeBlocksReturned"/>, <c>glibc</c> for <see cref="HeapPolicy.Glibc"/>; anything else
    /// (or nothing) for the default, <see cref="HeapPolicy.BlocksReused"/>.</summary>
    public const string EnvironmentVariable = "TN_HEAP";

    /// <summary>libtorch's switch for page-aligned blocks of 2 MB or more with transparent huge pages (read once, at
    /// its first CPU allocation).</summary>
    public const string LibtorchHugePages = "THP_MEM_ALLOC_ENABLE";

    /// <summary>glibc's mmap threshold under <see cref="HeapPolicy.BlocksReused"/>: 32 MiB, the largest it takes
    /// (its default raises it up to that as mapped blocks are freed).</summary>
    public const int MmapLimit = 32 << 20;

    /// <summary>glibc's trim threshold under <see cref="HeapPolicy.BlocksReused"/>: free memory up to 1 GiB at the
    /// top of the heap is kept for the next call.</summary>
    public const int KeepFree = 1 << 30;

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
        string.Equals(variable(EnvironmentVariable), "return", StringComparison.OrdinalIgnoreCase) && !GlibcSettings(variable);

    /// <summary>
    /// Whether the environment (read through <paramref name="variable"/>) leaves the default policy,
    /// <see cref="HeapPolicy.BlocksReused"/>, in force: <c>TN_HEAP</c> neither <c>return</c> nor <c>glibc</c>, and none
    /// of glibc's own settings of its thresholds, nor <c>THP_MEM_ALLOC_ENABLE</c>, given.
    /// </summary>
    public static bool Default(Func<string, string?> variable)
    {
        var chosen = variable(EnvironmentVariable);
        bool other = chosen is not null && (chosen.Equals("return", StringComparison.OrdinalIgnoreCase) || chosen.Equals("glibc", StringComparison.OrdinalIgnoreCase));
        return !other && !GlibcSettings(variable) && variable(LibtorchHugePages) is null;
    }

    static bool GlibcSettings(Func<string, string?> variable) =>
        variable("MALLOC_MMAP_THRESHOLD_") is not null
        || variable("MALLOC_TRIM_THRESHOLD_") is not null
        || variable("GLIBC_TUNABLES") is { } t && (t.Contains("mmap_threshold", StringComparison.Ordinal) || t.Contains("trim_threshold", StringComparison.Ordinal));

    /// <summary>
    /// Puts <c>THP_MEM_ALLOC_ENABLE=1</c> in the C environment where the default policy is in force (see the type's
    /// summary), before libtorch's first allocation reads it: runs when TnDsl.Torch loads. Nothing where libtorch
    /// allocated before (<see cref="Apply"/> then finds its blocks unaligned and leaves glibc's heap alone).
    /// </summary>
#pragma warning disable CA2255 // Must run before any tensor is allocated, which the library's first type may do.
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void Prepare()
    {
        if (!OperatingSystem.IsLinux() || !Default(Environment.GetEnvironmentVariable))
            return;
        try
        {
            // .NET keeps its own copy of the environment; libtorch reads the C library's.
            SetEnv(LibtorchHugePages, "1", 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    static HeapPolicy Decide()
    {
        if (Default(Environment.GetEnvironmentVariable) && OperatingSystem.IsLinux())
            return Reused();
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

    /// The default policy's thresholds, where libtorch aligns its large blocks to the page (two blocks just over 2 MB
    /// checked: at libtorch's usual 64-byte alignment both fall on a page with chance 1/4096).
    static HeapPolicy Reused()
    {
        try
        {
            using var a = torch.empty([(1 << 19) + 1], torch.ScalarType.Float32);
            using var b = torch.empty([(1 << 19) + 3], torch.ScalarType.Float32);
            if ((long)a.storage<float>().data_ptr() % 4096 != 0 || (long)b.storage<float>().data_ptr() % 4096 != 0)
                return HeapPolicy.Glibc;
            if (Mallopt(MmapThreshold, MmapLimit) != 1 || Mallopt(TrimThreshold, KeepFree) != 1)
                return HeapPolicy.Glibc;
            return HeapPolicy.BlocksReused;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return HeapPolicy.Glibc;
        }
    }

    /// <summary>
    /// Hands back to the system what glibc's heap holds free, so that resident memory shows what is allocated next
    /// (<see cref="PeakMemory"/>): <c>malloc_trim</c>, which releases the free pages in every arena's bins and the main
    /// arena's free top, and the free top of the calling thread's arena, which <c>malloc_trim</c> leaves: under the
    /// thresholds this type fixes it stays resident up to the trim threshold (<see cref="KeepFree"/>, so up to a whole
    /// 64 MiB heap), and a call on this thread would reuse it without any rise. For that the trim threshold is set to
    /// zero for a moment and a block of 96 KiB (over glibc's 64 KiB that makes a free trim the top, under its mmap
    /// threshold) is freed, then the threshold is put back. Under glibc's own thresholds (not fixed here, and not
    /// restorable once set) only <c>malloc_trim</c> runs. False where glibc's heap is not there to trim.
    /// </summary>
    public static bool HandBackFree()
    {
        try
        {
            MallocTrim(0);
            int? threshold = Policy switch
            {
                HeapPolicy.BlocksReused => KeepFree,
                HeapPolicy.LargeBlocksReturned => 2 * LargeBlock,
                _ => null,
            };
            if (threshold is { } keep && Mallopt(TrimThreshold, 0) == 1)
            {
                Marshal.FreeHGlobal(Marshal.AllocHGlobal(96 << 10));
                Mallopt(TrimThreshold, keep);
            }
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);
}
