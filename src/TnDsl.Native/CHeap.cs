using System.Runtime.InteropServices;

namespace TnDsl.Native;

/// <summary>
/// What the C heap holds (glibc's <c>mallinfo2</c>), in bytes: <see cref="Heap"/> obtained from the system for the main
/// heap and arenas, of which <see cref="InUse"/> is allocated and <see cref="Free"/> free (resident or not), and
/// <see cref="Mapped"/> in blocks mapped on their own.
/// </summary>
public readonly record struct CHeapUsage(long Heap, long InUse, long Free, long Mapped);

/// <summary>
/// The C heap that libtorch allocates tensors from. glibc keeps freed memory inside its heap for reuse and returns
/// only a free top to the system, so after a phase with many temporaries (setting up a model, a first pass over the
/// data) tens of megabytes can sit free yet resident; <see cref="Trim"/> hands the free pages back.
/// </summary>
public static class CHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 MallInfo();

    /// <summary>
    /// Returns the free pages of the C heap to the system (glibc's <c>malloc_trim(0)</c>: it costs a pass over the
    /// heap's free lists, and a page used again later is faulted back in); true where something was released. A no-op
    /// returning false where the C library has no such call (not glibc, not Linux).
    /// </summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            return MallocTrim(0) != 0;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>What the C heap holds now (glibc 2.33 or later); null where the C library cannot say.</summary>
    public static CHeapUsage? Usage()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        try
        {
            var info = MallInfo();
            return new CHeapUsage((long)info.Arena, (long)info.Uordblks, (long)info.Fordblks, (long)info.Hblkhd);
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }
}
