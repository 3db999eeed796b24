using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using TorchSharp;

namespace TnDsl.Native;

/// <summary>How TorchSharp's native library was made available.</summary>
public enum NativeLoadOutcome
{
    /// <summary>Nothing to do here: not Linux, or the native library could not be found (TorchSharp reports that itself).</summary>
    Skipped,
    /// <summary>The packaged library loads as it is.</summary>
    Unpatched,
    /// <summary>The packaged library needed a newer libstdc++ than the system has; a patched copy was loaded.</summary>
    Patched,
    /// <summary>The packaged library failed to load for a reason this loader does not handle.</summary>
    Failed,
}

/// <summary>
/// Makes TorchSharp's native library (<c>libLibTorchSharp.so</c>) load on Linux distributions whose libstdc++ is
/// older than the one it was built against. TorchSharp 0.107 requires the symbol version <c>GLIBCXX_3.4.32</c>
/// (GCC 13) while, for instance, Debian 12 stops at 3.4.30. The only symbol behind that version is
/// <c>std::ios_base_library_init</c>, which no relocation uses, so marking the requirement weak is safe.
/// The loader copies the library to a cache directory, marks that one requirement weak, loads the copy and
/// points TorchSharp's P/Invokes at it. Where the library loads as it is, nothing is copied.
/// </summary>
/// <remarks>
/// The backend library does not reference this one: an application (or test) on such a distribution calls
/// <see cref="LoadWithTorchSharp"/> once at start-up, or <see cref="EnsureLoaded"/> before its first TorchSharp call.
/// </remarks>
public static class NativeLoader
{
    /// <summary>The version requirements this loader is allowed to weaken (each known to be unused).</summary>
    public static readonly IReadOnlyList<string> WeakenableVersions = ["GLIBCXX_3.4.32"];

    const string LibraryFile = "libLibTorchSharp.so";
    const string LibraryName = "LibTorchSharp";

    static readonly object Gate = new();
    static NativeLoadOutcome? outcome;
    static IntPtr handle;
    static readonly StringBuilder TraceText = new();

    /// <summary>What <see cref="EnsureLoaded"/> did, or null before it ran.</summary>
    public static NativeLoadOutcome? Outcome
    {
        get { lock (Gate) return outcome; }
    }

    /// <summary>A human-readable account of the steps taken, for error messages.</summary>
    public static string Trace
    {
        get { lock (Gate) return TraceText.ToString(); }
    }

    /// <summary>The path of the library that was loaded (the patched copy, or the original), or null.</summary>
    public static string? LoadedPath { get; private set; }

    /// <summary>
    /// Runs <see cref="EnsureLoaded"/> as soon as the TorchSharp assembly loads (at once if it already has), before
    /// any of its code runs: one call at an application's start-up, and nothing loaded for work that never touches
    /// TorchSharp. A failure is kept in <see cref="Trace"/>; TorchSharp then reports the load error itself.
    /// </summary>
    public static void LoadWithTorchSharp()
    {
        AppDomain.CurrentDomain.AssemblyLoad += (_, e) =>
        {
            if (e.LoadedAssembly.GetName().Name == TorchSharpAssembly)
                LoadQuietly();
        };
        // Subscribed first, then checked: an assembly loaded in between runs this twice, which is harmless.
        if (AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == TorchSharpAssembly))
            LoadQuietly();
    }

    const string TorchSharpAssembly = "TorchSharp";

    static void LoadQuietly()
    {
        try
        {
            EnsureLoaded();
        }
        catch (Exception e)
        {
            lock (Gate)
                TraceText.AppendLine($"native loader failed: {e.Message}");
        }
    }

    /// <summary>
    /// Makes sure TorchSharp's native library is loadable, patching a copy if the system's libstdc++ is too old.
    /// Idempotent and thread-safe; returns what was done.
    /// </summary>
    public static NativeLoadOutcome EnsureLoaded()
    {
        lock (Gate)
        {
            outcome ??= Load();
            return outcome.Value;
        }
    }

    static void Note(string line) => TraceText.AppendLine(line);

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment, where OpenMP reads it when libtorch loads, unless
    /// it is set already (.NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> would not reach it).
    /// libtorch's OpenMP threads otherwise spin while they wait: on 2 shared cores, two spinning threads made a
    /// Born-machine loop take 283 s against 25 s with one thread or two passive ones (<c>bench/results/threads.md</c>).
    /// Done here, before libtorch loads, so every application and test that loads it through this class gets it.
    /// </summary>
    static void PassiveWaitUnlessSet()
    {
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is { Length: > 0 } policy)
        {
            Note($"OMP_WAIT_POLICY={policy} (set by the user)");
            return;
        }
        SetEnv("OMP_WAIT_POLICY", "PASSIVE", 1);
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
        Note("OMP_WAIT_POLICY=PASSIVE");
    }

    static NativeLoadOutcome Load()
    {
        if (!OperatingSystem.IsLinux())
            return NativeLoadOutcome.Skipped;
        PassiveWaitUnlessSet();
        var dirs = CandidateDirectories().ToList();
        var original = dirs.Select(d => Path.Combine(d, LibraryFile)).FirstOrDefault(File.Exists);
        if (original is null)
        {
            Note($"{LibraryFile} not found in: {string.Join(", ", dirs)}");
            return NativeLoadOutcome.Skipped;
        }
        Note($"found {original}");
        // libtorch first, by full path: a patched copy lives elsewhere, so its $ORIGIN run path no longer finds
        // libtorch.so, but the dynamic loader matches its DT_NEEDED entries against sonames already loaded.
        var libtorchDir = new[] { Path.GetDirectoryName(original)! }.Concat(dirs)
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "libtorch.so")));
        if (libtorchDir is not null)
        {
            var libtorch = Path.Combine(libtorchDir, "libtorch.so");
            Note(NativeLibrary.TryLoad(libtorch, out _) ? $"loaded {libtorch}" : $"could not load {libtorch}");
        }

        string error;
        try
        {
            handle = NativeLibrary.Load(original);
            LoadedPath = original;
            Note("the packaged library loads unpatched");
            return NativeLoadOutcome.Unpatched;
        }
        catch (DllNotFoundException e)
        {
            error = e.Message;
            Note($"loading {original} failed: {error}");
        }

        var missing = MissingVersions(error);
        if (missing.Count == 0 || !missing.All(WeakenableVersions.Contains))
            return NativeLoadOutcome.Failed;
        var patched = PatchedCopy(original);
        handle = NativeLibrary.Load(patched);
        LoadedPath = patched;
        Note($"loaded patched copy {patched}");
        Register();
        return NativeLoadOutcome.Patched;
    }

    /// <summary>The version names a dynamic-loader error says are missing (<c>version `X' not found</c>).</summary>
    public static IReadOnlyList<string> MissingVersions(string loaderError) =>
        Regex.Matches(loaderError, @"version `([^']+)' not found").Select(m => m.Groups[1].Value).Distinct().ToList();

    /// Directories where the host or the NuGet layout may have put TorchSharp's native files.
    static IEnumerable<string> CandidateDirectories()
    {
        string rid = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.Arm64 => "linux-arm64",
            _ => "linux-x64",
        };
        var seen = new HashSet<string>();
        IEnumerable<string> All()
        {
            if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
                foreach (var d in searchDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                    yield return d;
            yield return AppContext.BaseDirectory;
            yield return Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native");
            var torchSharpDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
            if (!string.IsNullOrEmpty(torchSharpDir))
            {
                yield return torchSharpDir;
                // The NuGet package layout: lib/net8.0/TorchSharp.dll next to runtimes/<rid>/native.
                yield return Path.Combine(torchSharpDir, "..", "..", "runtimes", rid, "native");
            }
        }
        foreach (var d in All())
        {
            var full = Path.GetFullPath(d);
            if (Directory.Exists(full) && seen.Add(full))
                yield return full;
        }
    }

    /// The patched copy of the library, made once per distinct original (keyed by its SHA-256) and written atomically.
    static string PatchedCopy(string original)
    {
        var bytes = File.ReadAllBytes(original);
        var key = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        try
        {
            return PatchedCopy(bytes, Path.Combine(CacheRoot(), "native", key));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Note($"cache directory not writable ({e.Message}); using the temporary directory");
            return PatchedCopy(bytes, Path.Combine(Path.GetTempPath(), $"tndsl-{Environment.UserName}", "native", key));
        }
    }

    static string PatchedCopy(byte[] bytes, string dir)
    {
        var target = Path.Combine(dir, LibraryFile);
        int changed = 0;
        bytes = (byte[])bytes.Clone();
        foreach (var version in WeakenableVersions)
            changed += ElfVersionNeeds.MarkWeak(bytes, version);
        Note($"marked {changed} version requirement(s) weak");
        // The copy is checked rather than trusted: a truncated or altered file is rewritten.
        if (File.Exists(target) && File.ReadAllBytes(target).AsSpan().SequenceEqual(bytes))
        {
            Note($"reusing {target}");
            return target;
        }
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{LibraryFile}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temp, bytes);
        // A rename within one directory is atomic: concurrent processes see either no file or a complete one.
        try
        {
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
        return target;
    }

    static string CacheRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg))
            return Path.Combine(xdg, "tndsl");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home))
            return Path.Combine(home, ".cache", "tndsl");
        return Path.Combine(Path.GetTempPath(), $"tndsl-{Environment.UserName}");
    }

    /// Routes TorchSharp's own loads and P/Invokes of LibTorchSharp to the loaded copy.
    static void Register()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // Someone else owns the resolver; the soname of the loaded copy still satisfies a load by bare name.
            Note("a DllImport resolver for TorchSharp was already set; relying on the loaded soname");
        }
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name == LibraryName || name == LibraryFile ? handle : IntPtr.Zero;
}
