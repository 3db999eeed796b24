using System.Runtime.InteropServices;

namespace TnDsl.Torch;

/// <summary>
/// The free memory of a CUDA device, read as PyTorch's <c>torch.cuda.mem_get_info</c> reads it: CUDA's runtime call
/// <c>cudaMemGetInfo</c> on that device. TorchSharp 0.107 has no such call, so the runtime is taken from where libtorch
/// loaded it (the <c>libcudart</c> in <c>/proc/self/maps</c>): the same library, so its device numbering is
/// libtorch's, <c>CUDA_VISIBLE_DEVICES</c> and <c>CUDA_DEVICE_ORDER</c> included. Where no CUDA runtime is loaded (a
/// CPU-only libtorch, not Linux) the figure is null and the guard falls back to the host's memory, saying so.
/// <para>
/// The free figure is the device's, not libtorch's: blocks libtorch's caching allocator holds but has not handed
/// out count as used, so the figure errs low (a refusal or a slice too many, never an out-of-memory error).
/// </para>
/// </summary>
static class DeviceMemory
{
    /// <summary>The free and total bytes of CUDA device <paramref name="index"/>; null where they cannot be read.</summary>
    public static (long Free, long Total)? Cuda(int index)
    {
        if (Reader is { } reader)
            return reader(index);
        var runtime = Runtime.Value;
        if (runtime is null || index < 0)
            return null;
        lock (runtime)
        {
            // The calling thread's current device is libtorch's business: it is put back after the query.
            if (runtime.GetDevice(out int current) != 0)
                return null;
            try
            {
                if (runtime.SetDevice(index) != 0 || runtime.MemGetInfo(out var free, out var total) != 0)
                    return null;
                return ((long)free, (long)total);
            }
            finally
            {
                runtime.SetDevice(current);
            }
        }
    }

    /// <summary>
    /// A stand-in for the runtime (tests, where no GPU is lent): the free and total bytes of a device. Belongs to the
    /// logical flow that sets it, as <see cref="MemoryGuard.Device"/> does.
    /// </summary>
    internal static Func<int, (long Free, long Total)?>? Reader
    {
        get => reader.Value;
        set => reader.Value = value;
    }

    static readonly AsyncLocal<Func<int, (long Free, long Total)?>?> reader = new();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int MemGetInfoFn(out nuint free, out nuint total);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int GetDeviceFn(out int device);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int SetDeviceFn(int device);

    sealed record CudaRuntime(MemGetInfoFn MemGetInfo, GetDeviceFn GetDevice, SetDeviceFn SetDevice);

    static readonly Lazy<CudaRuntime?> Runtime = new(Load);

    static CudaRuntime? Load()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/maps"))
                return null;
            var path = LoadedRuntime(File.ReadLines("/proc/self/maps"));
            if (path is null || !NativeLibrary.TryLoad(path, out var handle))
                return null;
            T? Export<T>(string name) where T : Delegate =>
                NativeLibrary.TryGetExport(handle, name, out var f) ? Marshal.GetDelegateForFunctionPointer<T>(f) : null;
            return Export<MemGetInfoFn>("cudaMemGetInfo") is { } info && Export<GetDeviceFn>("cudaGetDevice") is { } get &&
                   Export<SetDeviceFn>("cudaSetDevice") is { } set
                ? new CudaRuntime(info, get, set)
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or BadImageFormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// The path of the CUDA runtime a process has loaded, from the lines of its <c>/proc/self/maps</c>
    /// (<c>libcudart.so.12</c>, or a wheel's <c>libcudart-1a2b3c4d.so.12</c>); null where there is none.
    /// </summary>
    internal static string? LoadedRuntime(IEnumerable<string> maps)
    {
        foreach (var line in maps)
        {
            int slash = line.IndexOf('/');
            if (slash < 0)
                continue;
            var path = line[slash..].Trim();
            var name = Path.GetFileName(path);
            if (name.StartsWith("libcudart", StringComparison.Ordinal) && name.Contains(".so", StringComparison.Ordinal))
                return path;
        }
        return null;
    }
}
