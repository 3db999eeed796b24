using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace TnDsl.Native;

/// <summary>
/// Replaces files so that a failure part-way (a full disk, the process killed) cannot leave a half-written file in
/// place of a good one: the one place where the <c>tn</c> command, the Born machine and the studies write their results.
/// </summary>
public static class SafeFile
{
    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/>, which is given the path to write. A regular
    /// file, or a name that does not exist yet, is written as a temporary file in the same folder
    /// (<c>.NAME.PID.tmp</c>; those that processes no longer running left are removed first), flushed to disk and
    /// renamed over it, keeping its permissions; a symbolic link is followed, so the file it names is replaced and the
    /// link kept. Anything else (<c>/dev/stdout</c>, <c>/dev/full</c>, <c>/dev/null</c>, a FIFO, whatever lies under
    /// /dev or /proc) is written directly, since a rename would replace the node instead of writing to it; so is a file
    /// in a folder where no new file may be made. A failure is an <see cref="IOException"/> that names
    /// <paramref name="path"/>; whatever else <paramref name="write"/> throws passes through, the old file kept.
    /// </summary>
    public static void Replace(string path, Action<string> write)
    {
        var target = Replaceable(path);
        if (target is null)
        {
            Direct(path, write);
            return;
        }
        RemoveStale(target);
        var temp = TempPath(target);
        try
        {
            write(temp);
            using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Write))
                stream.Flush(flushToDisk: true);
            if (!OperatingSystem.IsWindows() && File.Exists(target))
                File.SetUnixFileMode(temp, File.GetUnixFileMode(target));
            File.Move(temp, target, overwrite: true);
        }
        catch (UnauthorizedAccessException) when (!File.Exists(temp))
        {
            // No new file may be made in the folder: the file itself may still be writable.
            Direct(path, write);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write {path}: {Reason(e, temp, path)}", e);
        }
        finally
        {
            try
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left for the next write's RemoveStale.
            }
        }
    }

    /// <summary>
    /// Why a <see cref="Replace"/> of <paramref name="path"/> would fail, found as it would write but without writing,
    /// or null where it may succeed: the temporary file it would make next to the file (or the file it names) is made
    /// and removed; where no new file may be made there, the file itself is opened for writing and closed unchanged, as
    /// <see cref="Replace"/> then writes it in place. A file written in place (under /dev or /proc) that does not exist
    /// yet is made and removed; one that exists is left alone: opening a FIFO would wait for its reader, and closing
    /// it would end that reader's input.
    /// </summary>
    public static string? WriteProblem(string path)
    {
        var full = Path.GetFullPath(path);
        var target = Replaceable(full);
        var written = target ?? full;
        try
        {
            if (target is null)
            {
                if (File.Exists(full) || Directory.Exists(full)) return null;
                Probe(full);
                return null;
            }
            written = TempPath(target);
            try
            {
                Probe(written);
            }
            catch (UnauthorizedAccessException) when (File.Exists(target))
            {
                written = target;
                using (new FileStream(target, FileMode.Open, FileAccess.Write)) { }
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Reason(e, written, path);
        }
    }

    /// <summary>Makes <paramref name="file"/>, which must not exist, and removes it.</summary>
    private static void Probe(string file)
    {
        using (new FileStream(file, FileMode.CreateNew, FileAccess.Write)) { }
        File.Delete(file);
    }

    /// <summary><see cref="Replace"/> with <paramref name="text"/> as UTF-8 (no byte-order mark).</summary>
    public static void ReplaceText(string path, string text) => Replace(path, p => File.WriteAllText(p, text, new UTF8Encoding(false)));

    /// <summary><see cref="Replace"/> with <paramref name="bytes"/>.</summary>
    public static void ReplaceBytes(string path, byte[] bytes) => Replace(path, p => File.WriteAllBytes(p, bytes));

    /// <summary>The temporary file this process writes in place of <paramref name="path"/>: <c>.NAME.PID.tmp</c> next to it.</summary>
    public static string TempPath(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
    }

    /// <summary>
    /// Removes the temporary files that writes of <paramref name="path"/> by processes no longer running left behind
    /// (<c>.NAME.PID.tmp</c> next to it, PID a number: a process killed part-way leaves one); returns their paths.
    /// A file that cannot be removed is left as it is: the write itself reports what matters.
    /// </summary>
    public static IReadOnlyList<string> RemoveStale(string path)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        var removed = new List<string>();
        var prefix = $".{Path.GetFileName(full)}.";
        try
        {
            if (!Directory.Exists(folder)) return removed;
            foreach (var file in Directory.EnumerateFiles(folder, prefix + "*.tmp"))
            {
                if (!int.TryParse(Path.GetFileName(file)[prefix.Length..^".tmp".Length], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    || pid == Environment.ProcessId || Running(pid))
                    continue;
                try
                {
                    File.Delete(file);
                    removed.Add(file);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return removed;
    }

    private static bool Running(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Writes <paramref name="path"/> in place; a failure is an <see cref="IOException"/> that names it.</summary>
    private static void Direct(string path, Action<string> write)
    {
        try
        {
            write(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write {path}: {Reason(e, path, path)}", e);
        }
    }

    /// <summary>
    /// The file a write of <paramref name="path"/> may replace by a rename (the final target of a symbolic link), or
    /// null when it must be written in place: it exists and is no regular file, or it lies under /dev or /proc
    /// (<c>/dev/stdout</c> names the file the shell redirected to; replacing that would lose what is written).
    /// </summary>
    private static string? Replaceable(string path)
    {
        var full = Path.GetFullPath(path);
        if (UnderSystemFolder(full)) return null;
        var target = full;
        try
        {
            if (new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } linked)
                target = linked.FullName;
        }
        catch (FileNotFoundException)
        {
            // A name that does not exist yet: written as a temporary file and renamed, like a regular file.
        }
        catch (IOException)
        {
            return null;  // a loop of links, a missing folder: written directly, so the error is the system's
        }
        if (UnderSystemFolder(target)) return null;
        return !File.Exists(target) && !Directory.Exists(target) || IsRegularFile(target) != false ? target : null;
    }

    private static bool UnderSystemFolder(string full) =>
        OperatingSystem.IsLinux() && (full.StartsWith("/dev/", StringComparison.Ordinal) || full.StartsWith("/proc/", StringComparison.Ordinal));

    /// <summary>Whether <paramref name="path"/> (followed through links) is a regular file: from statx on Linux, where
    /// devices and FIFOs exist; null where that cannot be told.</summary>
    private static bool? IsRegularFile(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        // struct statx is the same on every architecture: stx_mode is the 16 bits at byte 28; S_IFMT 0xF000, S_IFREG 0x8000.
        var buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0) return null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
        return (BitConverter.ToUInt16(buffer, 28) & 0xF000) == 0x8000;
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 1;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);

    /// <summary>
    /// The system's reason for a failed write of <paramref name="path"/>: a trailing repeat of the file written is
    /// taken out, and where the reason names it within a sentence (<c>Could not find file '…'</c>, <c>Access to the
    /// path '…' is denied</c>) it names <paramref name="path"/> instead of the temporary file.
    /// </summary>
    private static string Reason(Exception e, string written, string path)
    {
        var reason = e.Message.Replace($" : '{written}'", "").Replace($"'{written}'", $"'{path}'").Trim();
        return reason.TrimEnd('.');
    }
}
