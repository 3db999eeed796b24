using TnDsl.Studies;
using Xunit;

namespace TnDsl.Studies.Tests;

/// <summary>
/// A study's tables and plots are replaced through <see cref="TnDsl.Native.SafeFile"/>: a new file renamed over the
/// old one (a reader holding the old one still reads it whole), a killed write's temporary file removed.
/// </summary>
public sealed class SafeWriteTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tn-study-safe-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static string ReadAll(FileStream stream) => new StreamReader(stream).ReadToEnd();

    [Fact]
    public void Saving_a_table_over_earlier_results_replaces_the_markdown_and_the_csv_whole()
    {
        var table = new ResultTable("runs", "seed", "accuracy");
        table.Add(1, 0.5);
        table.Save(dir, "runs");
        var md = Path.Combine(dir, "runs.md");
        var csv = Path.Combine(dir, "runs.csv");
        var oldMd = File.ReadAllText(md);
        var oldCsv = File.ReadAllText(csv);
        // What a killed study would have left (4194305 is above the kernel's pid_max: no process has it).
        File.WriteAllText(Path.Combine(dir, ".runs.csv.4194305.tmp"), "partial");
        using var heldMd = new FileStream(md, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var heldCsv = new FileStream(csv, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

        table.Add(2, 0.75);
        table.Save(dir, "runs");

        Assert.Equal(oldMd, ReadAll(heldMd));
        Assert.Equal(oldCsv, ReadAll(heldCsv));
        Assert.Equal(2, ResultTable.Load(csv).Rows.Count);
        Assert.Equal(["runs.csv", "runs.md"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order().ToArray());
    }

    [Fact]
    public void A_plot_drawn_over_an_earlier_one_replaces_it_whole()
    {
        var png = Path.Combine(dir, "accuracy.png");
        File.WriteAllText(png, "old picture");
        using var held = new FileStream(png, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var failure = Plots.TrySave(png, "accuracy", "epoch", "accuracy", [new Series("a", [0, 1], [0.5, 0.75])]);
        Assert.Null(failure);
        Assert.Equal("old picture", ReadAll(held));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png).Take(4).ToArray());
        Assert.Equal(["accuracy.png"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).ToArray());
    }
}
