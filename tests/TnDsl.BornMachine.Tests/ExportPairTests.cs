using TnDsl.BornMachine;
using TnDsl.Torch;
using Xunit;
using static TnDsl.BornMachine.Tests.BornMachineSupport;

namespace TnDsl.BornMachine.Tests;

/// <summary>
/// <c>model.tn</c> and <c>model.weights</c> are written one after the other, so they can part: a crash between the two
/// writes, or a file copied from another run. <see cref="BornExport.Load"/> refuses a pair that does not belong together
/// with the file, the parameter and both shapes, or the recorded and actual SHA-256, never a TorchSharp error.
/// </summary>
public sealed class ExportPairTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tn-born-pair-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    (string Tn, string Weights) Export(string name, int bond, long seed)
    {
        var tn = Path.Combine(dir, name + ".tn");
        var weights = Path.Combine(dir, name + ".weights");
        using var mps = RandomMps(4, 2, bond, seed);
        BornExport.Save(mps, [0, 1, 2, 3], tn, weights);
        return (tn, weights);
    }

    [Fact]
    public void A_pair_written_together_loads_and_records_the_weights_fingerprint()
    {
        var (tn, weights) = Export("model", 3, 1);
        Assert.Contains(BornExport.WeightsLine + StateDictFile.Sha256(weights), File.ReadAllText(tn));
        var entries = StateDictFile.Read(weights);
        using var module = BornExport.Load(tn, weights);
        Assert.Equal(module.ParameterNames, entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.Equal(module.get_parameter(e.Name)!.shape, e.Shape));
    }

    [Fact]
    public void Weights_of_another_shape_are_refused_at_the_line_that_declares_the_parameter_with_both_shapes()
    {
        var (tn, weights) = Export("model", 3, 1);
        var (_, other) = Export("other", 2, 2);
        File.Copy(other, weights, overwrite: true);
        var e = Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
        var line = File.ReadAllLines(tn).ToList().FindIndex(l => l.Contains("weight A[0]:")) + 1;
        Assert.StartsWith($"{tn}({line},3): A[0] is declared [2, 3] but {weights} holds A.0 as [2, 2]", e.Message);
    }

    [Fact]
    public void Weights_of_the_same_shapes_from_another_run_are_refused_by_their_fingerprint()
    {
        var (tn, weights) = Export("model", 3, 1);
        var (_, other) = Export("other", 3, 2);
        File.Copy(other, weights, overwrite: true);
        var e = Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
        Assert.Contains($"{tn}(3,1): the weights' SHA-256 is recorded as", e.Message);
        Assert.Contains("another export", e.Message);
    }

    [Fact]
    public void A_changed_byte_in_the_values_is_refused_by_the_fingerprint()
    {
        var (tn, weights) = Export("model", 3, 1);
        var bytes = File.ReadAllBytes(weights);
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        var e = Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public void A_truncated_or_foreign_weights_file_is_refused_with_the_byte_where_it_fails()
    {
        var (tn, weights) = Export("model", 3, 1);
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..^7]);
        var e = Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
        Assert.StartsWith($"{weights}: not a TorchSharp state dict: A.3 [3, 2] needs 48 bytes of data", e.Message);
        Assert.Contains("truncated", e.Message);
        File.WriteAllText(weights, "{\"not\": \"a state dict\"}");
        e = Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
        Assert.StartsWith($"{weights}: not a TorchSharp state dict", e.Message);
        File.WriteAllBytes(weights, []);
        Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
    }

    [Fact]
    public void Every_truncation_is_refused_and_no_changed_byte_escapes_as_anything_but_a_refusal()
    {
        var (tn, weights) = Export("model", 3, 1);
        var bytes = File.ReadAllBytes(weights);
        for (int length = 0; length < bytes.Length; length++)
        {
            File.WriteAllBytes(weights, bytes[..length]);
            Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, weights));
        }
        // Without the fingerprint only the reader and the shape and type checks stand between a changed byte and
        // libtorch: each change either loads (a value changed) or is refused as invalid data.
        File.WriteAllLines(tn, File.ReadAllLines(tn).Where(l => !l.StartsWith(BornExport.WeightsLine, StringComparison.Ordinal)));
        int refused = 0;
        for (int at = 0; at < bytes.Length; at++)
            foreach (byte flip in new byte[] { 0x01, 0x04, 0x80 })
            {
                var changed = (byte[])bytes.Clone();
                changed[at] ^= flip;
                File.WriteAllBytes(weights, changed);
                try
                {
                    BornExport.Load(tn, weights).Dispose();
                }
                catch (InvalidDataException)
                {
                    refused++;
                }
            }
        Assert.True(refused > 0);
    }

    [Fact]
    public void A_model_tn_without_a_fingerprint_still_loads_with_its_shapes_checked()
    {
        var (tn, weights) = Export("model", 3, 1);
        File.WriteAllLines(tn, File.ReadAllLines(tn).Where(l => !l.StartsWith(BornExport.WeightsLine, StringComparison.Ordinal)));
        using (BornExport.Load(tn, weights)) { }
        var (_, other) = Export("other", 2, 2);
        Assert.Throws<InvalidDataException>(() => BornExport.Load(tn, other));
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var (tn, weights) = Export("model", 3, 1);
        Assert.Contains("no such weights file", Assert.Throws<FileNotFoundException>(() => BornExport.Load(tn, weights + "x")).Message);
        Assert.Contains("no such network file", Assert.Throws<FileNotFoundException>(() => BornExport.Load(tn + "x", weights)).Message);
    }
}
