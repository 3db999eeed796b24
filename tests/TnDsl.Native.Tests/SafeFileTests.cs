using Xunit;

namespace TnDsl.Native.Tests;

/// <summary><see cref="SafeFile"/>: a replaced file is whole or the old one, and nothing is left beside it.</summary>
public sealed class SafeFileTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tn-safefile-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string[] Names() => Directory.GetFiles(dir).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void A_write_that_throws_part_way_leaves_the_old_file_and_no_temporary_file()
    {
        var target = Path.Combine(dir, "results.csv");
        File.WriteAllText(target, "good\n");
        var thrown = Assert.Throws<InvalidOperationException>(() => SafeFile.Replace(target, temp =>
        {
            Assert.Equal(SafeFile.TempPath(target), temp);
            File.WriteAllText(temp, "half");
            throw new InvalidOperationException("stopped part-way");
        }));
        Assert.Equal("stopped part-way", thrown.Message);
        Assert.Equal("good\n", File.ReadAllText(target));
        Assert.Equal(["results.csv"], Names());
    }

    [Fact]
    public void A_new_file_whose_write_throws_part_way_is_not_left_half_written()
    {
        var target = Path.Combine(dir, "checkpoint.bin");
        Assert.Throws<InvalidOperationException>(() => SafeFile.Replace(target, temp =>
        {
            Assert.NotEqual(target, temp);
            File.WriteAllText(temp, "half");
            throw new InvalidOperationException("stopped part-way");
        }));
        Assert.Empty(Names());
    }

    [Fact]
    public void A_replaced_file_is_a_new_file_so_a_reader_of_the_old_one_still_reads_it_whole()
    {
        var target = Path.Combine(dir, "model.tn");
        File.WriteAllText(target, "old\n");
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(target, mode);
        using var held = new FileStream(target, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        SafeFile.ReplaceText(target, "new\n");
        Assert.Equal("new\n", File.ReadAllText(target));
        // Written in place, the open handle would read the new text (or a truncated file).
        Assert.Equal("old\n", new StreamReader(held).ReadToEnd());
        if (!OperatingSystem.IsWindows())
            Assert.Equal(mode, File.GetUnixFileMode(target));
        Assert.Equal(["model.tn"], Names());
    }

    [Fact]
    public void Stale_temporary_files_of_dead_processes_go_and_other_names_stay()
    {
        var target = Path.Combine(dir, "plot.png");
        // 4194305 is above the kernel's pid_max, so no process has it.
        var dead = Path.Combine(dir, ".plot.png.4194305.tmp");
        var notOurs = Path.Combine(dir, ".plot.png.backup.tmp");
        var otherFile = Path.Combine(dir, ".runs.csv.4194305.tmp");
        foreach (var f in new[] { dead, notOurs, otherFile })
            File.WriteAllText(f, "partial");
        SafeFile.ReplaceBytes(target, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(target));
        Assert.Equal([".plot.png.backup.tmp", ".runs.csv.4194305.tmp", "plot.png"], Names());
    }

    [Fact]
    public void A_failed_write_is_an_io_exception_naming_the_path_not_the_temporary_file()
    {
        var target = Path.Combine(dir, "out.json");
        File.WriteAllText(target, "good\n");
        var e = Assert.Throws<IOException>(() => SafeFile.Replace(target, temp => throw new IOException($"No space left on device : '{temp}'")));
        Assert.Equal($"cannot write {target}: No space left on device", e.Message);
        Assert.Equal("good\n", File.ReadAllText(target));
        Assert.Equal(["out.json"], Names());
    }

    [Fact]
    public void A_reason_that_names_the_file_within_a_sentence_names_the_path_and_stays_a_sentence()
    {
        // It said "Could not find file the file" (tn contract -o /proc/x.npy, after the contraction).
        var target = Path.Combine(dir, "out.npy");
        var e = Assert.Throws<IOException>(() => SafeFile.Replace(target, temp => throw new FileNotFoundException($"Could not find file '{temp}'.")));
        Assert.Equal($"cannot write {target}: Could not find file '{target}'", e.Message);
        if (!OperatingSystem.IsLinux()) return;
        var proc = "/proc/tn-no-such-file.npy";
        var real = Assert.Throws<IOException>(() => SafeFile.ReplaceBytes(proc, [1]));
        Assert.StartsWith($"cannot write {proc}: ", real.Message);
        Assert.DoesNotContain("the file", real.Message);
        Assert.Contains($"'{proc}'", real.Message);
    }

    [Fact]
    public void WriteProblem_finds_a_folder_that_takes_no_new_file_and_leaves_nothing_behind()
    {
        var existing = Path.Combine(dir, "old.npy");
        File.WriteAllText(existing, "kept");
        Assert.Null(SafeFile.WriteProblem(existing));
        // A read-only file in a writable folder is replaced by Replace (its mode kept), so it is no problem either.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(existing, UnixFileMode.UserRead);
            Assert.Null(SafeFile.WriteProblem(existing));
            SafeFile.ReplaceText(existing, "kept");
            Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(existing));
        }
        Assert.Null(SafeFile.WriteProblem(Path.Combine(dir, "new.npy")));
        Assert.Equal("kept", File.ReadAllText(existing));
        Assert.Equal(["old.npy"], Names());
        if (!OperatingSystem.IsLinux()) return;
        Assert.Null(SafeFile.WriteProblem("/dev/null"));
        var problem = SafeFile.WriteProblem("/proc/tn-no-such-file.npy");
        Assert.NotNull(problem);
        Assert.Contains("'/proc/tn-no-such-file.npy'", problem);
    }
}
