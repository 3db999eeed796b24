namespace TnDsl.Torch;

/// <summary>
/// Measures how far the process's resident memory rises while an action runs: the high-water mark (<c>VmHWM</c>,
/// reset through <c>/proc/self/clear_refs</c> just before) less the resident memory before, after the free memory of
/// glibc's heap was handed back (<see cref="NativeHeap.HandBackFree"/>: <c>malloc_trim</c>, and the free top of the
/// calling thread's arena, which it leaves) so that the action's allocations show rather than reuse pages that
/// earlier work freed. What
/// checks <see cref="MemoryGuard.Needed(NetworkSpec, PlanView, NetworkModuleOptions, bool)"/> against reality (the <c>memory</c> benchmark and its test). Linux with
/// glibc only; the whole process is measured, so nothing else should run meanwhile.
/// </summary>
public static class PeakMemory
{
    /// <summary>Whether the peak can be measured here.</summary>
    public static bool Available =>
        OperatingSystem.IsLinux() && File.Exists("/proc/self/clear_refs") && Status("VmHWM:") is not null && NativeHeap.HandBackFree();

    /// <summary>The bytes by which the resident memory rose, at its highest, while <paramref name="run"/> ran on the
    /// calling thread.</summary>
    public static long Measure(Action run)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        NativeHeap.HandBackFree();
        long before = Resident();
        File.WriteAllText("/proc/self/clear_refs", "5");
        run();
        long peak = Status("VmHWM:") ?? throw new PlatformNotSupportedException("VmHWM is not readable");
        return Math.Max(0, peak - before);
    }

    /// <summary>The process's resident memory now (<c>VmRSS</c>), in bytes.</summary>
    public static long Resident() => Status("VmRSS:") ?? throw new PlatformNotSupportedException("VmRSS is not readable");

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
