using System.Runtime.InteropServices;

namespace TnDsl.Torch;

/// <summary>
/// Measures how far the process's resident memory rises while an action runs: the high-water mark (<c>VmHWM</c>,
/// reset through <c>/proc/self/clear_refs</c> just before) less the resident memory before, after freed heap pages
/// were handed back (<c>malloc_trim</c>) so that the action's allocations show rather than reuse earlier pages. What
/// checks <see cref="MemoryGuard.Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/> against reality (the <c>memory</c> benchmark and its test). Linux with
/// glibc only; the whole process is measured, so nothing else should run meanwhile.
/// </summary>
public static class PeakMemory
{
    /// <summary>Whether the peak can be measured here.</summary>
    public static bool Available =>
        OperatingSystem.IsLinux() && File.Exists("/proc/self/clear_refs") && Status("VmHWM:") is not null && Trim();

    /// <summary>The bytes by which the resident memory rose, at its highest, while <paramref name="run"/> ran.</summary>
    public static long Measure(Action run)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Trim();
        long before = Resident();
        File.WriteAllText("/proc/self/clear_refs", "5");
        run();
        long peak = Status("VmHWM:") ?? throw new PlatformNotSupportedException("VmHWM is not readable");
        return Math.Max(0, peak - before);
    }

    /// <summary>The process's resident memory now (<c>VmRSS</c>), in bytes.</summary>
    public static long Resident() => Status("VmRSS:") ?? throw new PlatformNotSupportedException("VmRSS is not readable");

    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    static bool Trim()
    {
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// A /proc/self/status field in bytes (the file gives kB), or null.
    static long? Status(string field)
    {
        if (!File.Exists("/proc/self/status"))
            return null;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return null;
    }
}
