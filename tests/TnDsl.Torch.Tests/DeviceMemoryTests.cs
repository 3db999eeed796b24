using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

/// <summary>
/// The guard's limit on a GPU: a share of the device's free memory (DeviceMemory), not the host's. No GPU is lent to
/// these tests, so the device's figures come from a stand-in reader; the runtime's own path is what
/// <see cref="DeviceMemory.LoadedRuntime"/> finds in a process's maps.
/// </summary>
// The reader and the device belong to the test's own flow: these run beside the others.
public class DeviceMemoryTests
{
    static DeviceMemoryTests() => NativeLoader.EnsureLoaded();

    static readonly Device Gpu = new(DeviceType.CUDA, 1);

    /// Runs <paramref name="check"/> with the device reader replaced, and puts it back whatever the check does.
    static void WithReader(Func<int, (long Free, long Total)?> reader, Action check)
    {
        DeviceMemory.Reader = reader;
        try
        {
            check();
        }
        finally
        {
            DeviceMemory.Reader = null;
        }
    }

    [Fact]
    public void On_a_gpu_the_default_limit_is_a_share_of_its_free_memory()
    {
        int? asked = null;
        WithReader(index => { asked = index; return (1L << 30, 80L << 30); }, () =>
        {
            using (MemoryGuard.OnDevice(Gpu))
            {
                var (bytes, source) = MemoryGuard.Current();
                Assert.Equal(1, asked);
                Assert.Equal((long)((1L << 30) * MemoryGuard.DefaultFraction), bytes);
                Assert.Contains("free of 80 GiB", source);
                Assert.Contains("on cuda:1", source);
            }
            // The flow's device is put back: the host's memory again.
            Assert.Null(MemoryGuard.Device);
            Assert.DoesNotContain("cuda", MemoryGuard.Current().Source);
        });
    }

    [Fact]
    public void On_a_gpu_chunks_are_not_capped()
    {
        // The cap on the CPU is the page faults of the host's fresh tensors; a GPU runs the largest batch that fits.
        Assert.Equal(MemoryGuard.DefaultChunkCap, MemoryGuard.ChunkCap);
        using (MemoryGuard.OnDevice(Gpu))
            Assert.Equal(long.MaxValue, MemoryGuard.ChunkCap);
        Assert.Equal(MemoryGuard.DefaultChunkCap, MemoryGuard.ChunkCap);
    }

    [Fact]
    public void Where_the_gpus_memory_cannot_be_read_the_hosts_is_taken_and_the_source_says_so()
    {
        WithReader(_ => null, () =>
        {
            using var on = MemoryGuard.OnDevice(Gpu);
            var (bytes, source) = MemoryGuard.Available();
            Assert.NotNull(bytes); // Linux: MemAvailable is always there
            Assert.Contains("the host's: the free memory of cuda:1 could not be read", source);
        });
    }

    [Fact]
    public void A_module_for_a_gpu_is_fitted_to_the_gpus_memory_before_anything_is_allocated()
    {
        // 1 MiB free on the device, plenty on the host: a training step of the MPS layer at a batch of 65,536 rows
        // is refused by the device's figure, before any tensor is made on a device this machine does not have.
        WithReader(_ => (1L << 20, 80L << 30), () =>
        {
            var e = Assert.Throws<MemoryLimitException>(() => NetworkModules.FromFile(Repo.Example("layers/mps.tn"), null, new NetworkBuildOptions
            {
                Batch = 1 << 16,
                Training = true,
                Module = new NetworkModuleOptions { Device = Gpu, DType = ScalarType.Float32 },
            }));
            Assert.Contains("on cuda:1", e.LimitSource);
        });
    }

    [Fact]
    public void The_cuda_runtime_is_found_by_its_name_in_the_process_maps()
    {
        string[] maps =
        [
            "7f00-7f10 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6",
            "7f20-7f30 r-xp 00000000 08:01 456 /opt/libtorch/lib/libcudart-9335f6a2.so.12",
            "7f40-7f50 rw-p 00000000 00:00 0 [heap]",
        ];
        Assert.Equal("/opt/libtorch/lib/libcudart-9335f6a2.so.12", DeviceMemory.LoadedRuntime(maps));
        Assert.Null(DeviceMemory.LoadedRuntime(maps.Where(l => !l.Contains("cudart"))));
    }
}
