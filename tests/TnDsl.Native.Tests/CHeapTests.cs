using System.Runtime.InteropServices;
using Xunit;

namespace TnDsl.Native.Tests;

/// Alone: other tests allocating on other threads at the same time move the resident set as much as the trim does.
[CollectionDefinition(nameof(CHeapTests), DisableParallelization = true)]
public class CHeapCollection;

[Collection(nameof(CHeapTests))]
public class CHeapTests
{
    static long RssAnonKb() =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith("RssAnon:", StringComparison.Ordinal))
            .Select(l => long.Parse(l["RssAnon:".Length..].Trim().Split(' ')[0])).Single();

    [Fact]
    public void Trim_returns_the_free_pages_inside_the_c_heap()
    {
        if (!OperatingSystem.IsLinux())
            return;
        // 48 MiB in 16 KiB blocks (below any mmap threshold: they come from the heap), every page written, then all
        // but the last block freed: the last one pins the heap's top, so only trimming can return the rest.
        const int block = 16 << 10, count = 3072;
        var blocks = new IntPtr[count];
        for (int i = 0; i < count; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(block);
            for (int page = 0; page < block; page += 4096)
                Marshal.WriteByte(blocks[i], page, 1);
        }
        for (int i = 0; i < count - 1; i++)
            Marshal.FreeHGlobal(blocks[i]);
        long before = RssAnonKb();
        Assert.True(CHeap.Trim());
        long after = RssAnonKb();
        Marshal.FreeHGlobal(blocks[^1]);
        Assert.True(before - after > 16 << 10, $"RssAnon {before} kB before the trim, {after} kB after");
    }

    [Fact]
    public void Usage_counts_what_is_allocated_and_freed()
    {
        if (!OperatingSystem.IsLinux())
            return;
        // 16 MiB in 16 KiB blocks (from the heap, below any mmap threshold).
        const int block = 16 << 10, count = 1024;
        var before = CHeap.Usage()!.Value;
        var blocks = new IntPtr[count];
        for (int i = 0; i < count; i++)
            blocks[i] = Marshal.AllocHGlobal(block);
        var held = CHeap.Usage()!.Value;
        foreach (var b in blocks)
            Marshal.FreeHGlobal(b);
        var after = CHeap.Usage()!.Value;
        // 1 MiB either way: the runtime's own threads allocate and free in the same heap meanwhile (CI once saw the
        // blocks counted 112 bytes short of 16 MiB).
        Assert.InRange(held.InUse - before.InUse, (long)count * block - (1 << 20), (long)count * block + (1 << 20));
        Assert.InRange(held.InUse - after.InUse, (long)count * block - (1 << 20), (long)count * block + (1 << 20));
        Assert.True(held.Heap >= held.InUse && held.Free >= 0 && held.Mapped >= 0, $"{held}");
    }
}
