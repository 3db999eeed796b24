using System.Runtime.InteropServices;

namespace TnDsl.Native;

/// <summary>
/// The C heap that libtorch allocates tensors from. glibc keeps freed memory inside its heap for reuse and returns
/// only a free top to the system, so after a phase with many temporaries (setting up a model, a first pass over the
/// data) tens of megabytes can sit free yet resident; <see cref="Trim"/> hands the free pages back.
/// </summary>
public static class CHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

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
}
