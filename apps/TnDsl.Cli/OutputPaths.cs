using TnDsl.Native;

namespace TnDsl.Cli;

/// <summary>
/// The files a verb writes. <see cref="Check"/> runs before the verb does its work: the file must not be one of the
/// files the verb reads (<c>-o</c> naming the <c>.tn</c> file by a slip would replace it), its folder must exist, and
/// it must not be a folder, and it must be writable (<see cref="SafeFile.WriteProblem"/>), so a contraction that cannot
/// write its result stops at once, not after the work is done.
/// <see cref="SafeFile.Replace"/> writes it so that a failure part-way leaves the file that was there.
/// </summary>
public static class OutputPaths
{
    /// <summary>
    /// Throws a <see cref="UsageException"/> when <paramref name="path"/> (given with <paramref name="option"/>) is one
    /// of <paramref name="inputs"/>, and an <see cref="IOException"/> when it cannot be written (its folder missing,
    /// a folder itself, or a file the system will not let be made or opened for writing there). Nothing is checked
    /// when <paramref name="path"/> is null.
    /// </summary>
    public static void Check(string? path, string option, params string?[] inputs)
    {
        if (path is null) return;
        var full = Path.GetFullPath(path);
        foreach (var input in inputs)
            if (input is not null && string.Equals(full, Path.GetFullPath(input), Comparison))
                throw new UsageException($"{option} {path} is a file this command reads ({input}); write to another file");
        if (Directory.Exists(full))
            throw new IOException($"cannot write {path} ({option}): it is a folder; give a file name");
        if (Path.GetDirectoryName(full) is { Length: > 0 } folder && !Directory.Exists(folder))
            throw new IOException($"cannot write {path} ({option}): the folder {folder} does not exist");
        // A folder where no file may be made (/proc, a read-only mount) fails here, not after the contraction.
        if (SafeFile.WriteProblem(full) is { } problem)
            throw new IOException($"cannot write {path} ({option}): {problem}");
    }

    /// <summary>How paths compare: by case where the file system tells case apart (Linux), else without.</summary>
    private static StringComparison Comparison =>
        OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
}
