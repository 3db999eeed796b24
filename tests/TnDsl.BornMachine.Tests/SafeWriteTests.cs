using TnDsl.BornMachine;
using Xunit;
using static TnDsl.BornMachine.Tests.BornMachineSupport;

namespace TnDsl.BornMachine.Tests;

/// <summary>
/// The Born machine's exports are replaced through <see cref="TnDsl.Native.SafeFile"/>: a new file renamed over the old one (a
/// reader holding the old one still reads it whole), a killed write's temporary file removed, nothing left beside it.
/// </summary>
public sealed class SafeWriteTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tn-born-safe-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Exporting_over_an_earlier_export_replaces_both_files_whole()
    {
        var tn = Path.Combine(dir, "model.tn");
        var weights = Path.Combine(dir, "model.weights");
        using (var first = RandomMps(4, 2, 2, seed: 1))
            BornExport.Save(first, [0, 1, 2, 3], tn, weights);
        var oldTn = File.ReadAllBytes(tn);
        var oldWeights = File.ReadAllBytes(weights);
        // What a killed export would have left (4194305 is above the kernel's pid_max: no process has it).
        var stale = Path.Combine(dir, ".model.weights.4194305.tmp");
        File.WriteAllText(stale, "partial");
        using var heldTn = new FileStream(tn, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var heldWeights = new FileStream(weights, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

        using (var second = RandomMps(4, 2, 3, seed: 2))
            BornExport.Save(second, [0, 1, 2, 3], tn, weights);

        // Written in place, the open handles would read the new bytes (or a truncated file).
        Assert.Equal(oldTn, ReadAll(heldTn));
        Assert.Equal(oldWeights, ReadAll(heldWeights));
        Assert.NotEqual(oldTn, File.ReadAllBytes(tn));
        Assert.Contains("index b[2]: 3", File.ReadAllText(tn));
        using (var module = BornExport.Load(tn, weights))
            Assert.Equal(["A.0", "A.1", "A.2", "A.3"], module.ParameterNames);
        Assert.Equal(["model.tn", "model.weights"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order().ToArray());
    }

    static byte[] ReadAll(FileStream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
