using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using TnDsl.BornMachine;
using Xunit;
using static TnDsl.BornMachine.Tests.BornMachineSupport;

namespace TnDsl.BornMachine.Tests;

/// <summary>
/// Crafted and corrupt data files and checkpoints: every one is refused with an exception of the reader's own type
/// whose message names the file and the field, before anything large is allocated (the commands turn these into one
/// line and exit 1; CliTests runs them end to end).
/// </summary>
public class InputFileTests
{
    /// A .npy file: magic, version, header length (16 or 32 bits), header padded to a multiple of 64, data.
    public static byte[] Npy(string descr, string shape, byte[] data, int major = 1, string? fortran = "False", uint? headerLength = null)
    {
        var dict = $"{{'descr': '{descr}', {(fortran is null ? "" : $"'fortran_order': {fortran}, ")}'shape': {shape}, }}";
        int prefix = major == 1 ? 10 : 12;
        var header = dict.PadRight((prefix + dict.Length + 1 + 63) / 64 * 64 - prefix - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        if (major == 1)
            bytes.AddRange(BitConverter.GetBytes((ushort)(headerLength ?? (uint)header.Length)));
        else
            bytes.AddRange(BitConverter.GetBytes(headerLength ?? (uint)header.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    /// The crafted .npy files of issue 22 and more, with the field each must be refused at.
    public static IEnumerable<object[]> CorruptNpy() =>
        new (string Name, byte[] File, string Field)[]
        {
            ("a shape written (30, x)", Npy("|u1", "(30, x)", new byte[30]), "shape: dimension 1"),
            ("a dimension of 99999999999999999999", Npy("|u1", "(99999999999999999999, 1)", [1]), "shape: dimension 0"),
            ("a negative dimension", Npy("|u1", "(-3, 4)", new byte[12]), "shape: dimension 0 is negative"),
            ("2^40 x 2^40", Npy("|u1", $"({1L << 40}, {1L << 40})", [1]), "shape:"),
            ("<i8 with shape (2^61, 1)", Npy("<i8", $"({1L << 61}, 1)", new byte[8]), "shape:"),
            ("a version-2 header length of 0xFFFFFFF0", Npy("|u1", "(1,)", [1], major: 2, headerLength: 0xFFFFFFF0), "header length"),
            ("a header length past the end", Npy("|u1", "(1,)", [1], headerLength: 60000), "header length"),
            ("truncated data", Npy("|u1", "(4,)", [1, 2]), "data: truncated"),
            ("trailing bytes", Npy("|u1", "(2,)", [1, 2, 3]), "data:"),
            ("an unsupported element type", Npy("<f4", "(1,)", [0, 0, 0, 0]), "descr"),
            ("Fortran order", Npy("|u1", "(1,)", [1], fortran: "True"), "fortran_order"),
            ("no fortran_order", Npy("|u1", "(1,)", [1], fortran: null), "fortran_order"),
            ("no shape", Encoding.Latin1.GetBytes("\x93NUMPY\x01\x00\x30\x00{'descr': '|u1', 'fortran_order': False, }     \n"), "shape: missing"),
            ("a boolean of 2", Npy("|b1", "(2,)", [1, 2]), "data: element 1"),
            ("version 9", Npy("|u1", "(1,)", [1], major: 9), "version"),
            ("a header that is not a dict", Encoding.Latin1.GetBytes("\x93NUMPY\x01\x00\x04\x00abc\n"), "header"),
            ("no magic", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "magic"),
            ("an empty file", [], "magic"),
            ("33 dimensions", Npy("|u1", "(" + string.Join(", ", Enumerable.Repeat("1", 33)) + ")", [1]), "shape: 33 dimensions"),
        }.Select(c => new object[] { c.Name, c.File, c.Field });

    [Theory]
    [MemberData(nameof(CorruptNpy))]
    public void A_corrupt_npy_file_is_refused_naming_the_file_and_the_field(string name, byte[] file, string field) =>
        AssertRefused<NpyFormatException>(name, ".npy", file, field, path => TnDsl.BornMachine.Npy.Read(path));

    [Theory]
    [MemberData(nameof(CorruptNpy))]
    public void A_corrupt_npy_file_is_refused_as_bytes_too(string name, byte[] file, string field) =>
        AssertRefused<NpyFormatException>(name, ".npy", file, field, path => TnDsl.BornMachine.Npy.ReadBytes(path));

    [Fact]
    public void Bytes_are_read_as_they_are_and_wider_elements_refused()
    {
        WithTempFile(".npy", Npy("|u1", "(2, 3)", [0, 1, 2, 3, 4, 255]), path =>
        {
            var a = TnDsl.BornMachine.Npy.ReadBytes(path);
            Assert.Equal([2L, 3], a.Shape);
            Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 255 }, a.Data);
        });
        AssertRefused<NpyFormatException>("int64", ".npy", Npy("<i8", "(1,)", new byte[8]), "descr", path => TnDsl.BornMachine.Npy.ReadBytes(path));
    }

    /// Writes the bytes to a fresh temporary file, hands its path to the check and deletes the file afterwards.
    static void WithTempFile(string extension, byte[] bytes, Action<string> check)
    {
        var path = Path.Combine(Path.GetTempPath(), $"tn-input-{Guid.NewGuid():N}{extension}");
        File.WriteAllBytes(path, bytes);
        try
        {
            check(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// The reader refuses the file with its own exception type, in a message that starts with the path and names the field.
    static void AssertRefused<TException>(string name, string extension, byte[] file, string field, Action<string> read)
        where TException : Exception =>
        WithTempFile(extension, file, path =>
        {
            var e = Assert.Throws<TException>(() => read(path));
            Assert.StartsWith(path + ": ", e.Message);
            Assert.True(e.Message.Contains(field, StringComparison.Ordinal), $"{name}: '{e.Message}' does not name '{field}'");
        });

    [Fact]
    public void Valid_npy_files_of_every_version_read_back()
    {
        foreach (var major in new[] { 1, 2, 3 })
        {
            var a = TnDsl.BornMachine.Npy.Parse(Npy("|u1", "(2, 3)", [0, 1, 2, 3, 4, 255], major));
            Assert.Equal([2L, 3L], a.Shape);
            Assert.Equal([0L, 1, 2, 3, 4, 255], a.Values);
        }
        Assert.Equal([0L], TnDsl.BornMachine.Npy.Parse(Npy("|u1", "(0,)", [])).Shape);
        Assert.Equal([1L], TnDsl.BornMachine.Npy.Parse(Npy("|b1", "()", [1])).Values);
    }

    /// A checkpoint of a short bars-and-stripes run, as bytes.
    static byte[] ValidCheckpoint()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tn-ckpt-{Guid.NewGuid():N}.bin");
        try
        {
            var data = BornData.Load(BarsAndStripesDir);
            var layout = BornSetup.LoadLayout(BornMachineTn, [new("n", "16")], data.Train.Size);
            using var trainer = BornTrainer.Start(layout, BornSetup.Images(data.Train, layout), BornSetup.Images(data.Test, layout),
                new BornOptions { Dmax = 4, LearningRate = 0.05, Seed = 1 });
            trainer.RunLoop();
            Checkpoint.Save(path, trainer.State(BornMachineTn, layout, BarsAndStripesDir, 4, 4) with { Threads = 1 }, trainer.Model);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    static readonly Lazy<byte[]> Valid = new(ValidCheckpoint);

    /// The checkpoint with its JSON header changed by <paramref name="change"/> (the data kept, lengths recomputed).
    static byte[] WithHeader(byte[] file, Action<JsonObject> change)
    {
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        var header = JsonNode.Parse(file.AsSpan(8, length))!.AsObject();
        change(header);
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        var result = new byte[8 + text.Length + file.Length - 8 - length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)text.Length);
        text.CopyTo(result, 8);
        file.AsSpan(8 + length).CopyTo(result.AsSpan(8 + text.Length));
        return result;
    }

    /// Corrupt and crafted checkpoints, with the field each must be refused at.
    public static IEnumerable<object[]> CorruptCheckpoints()
    {
        var valid = Valid.Value;
        byte[] Patch(Action<byte[]> f)
        {
            var copy = (byte[])valid.Clone();
            f(copy);
            return copy;
        }
        return new (string Name, byte[] File, string Field)[]
        {
            ("a header length of 0x7fffffff", Patch(b => BinaryPrimitives.WriteUInt64LittleEndian(b, 0x7fffffff)), "header length"),
            ("a header length of 2^64 - 1", Patch(b => BinaryPrimitives.WriteUInt64LittleEndian(b, ulong.MaxValue)), "header length"),
            ("a site shape of 2^40 x 2^20", WithHeader(valid, h => h["site.1"]!["shape"] = new JsonArray(1L << 40, 1L << 20, 1)), "site.1.data_offsets"),
            ("a negative dimension", WithHeader(valid, h => h["site.1"]!["shape"] = new JsonArray(-2, 2, 2)), "site.1.shape[0]"),
            ("a dimension of 1e30", WithHeader(valid, h => h["site.1"]!["shape"] = JsonNode.Parse("[1e30, 2, 2]")), "site.1.shape[0]"),
            ("offsets past the end", WithHeader(valid, h => h["site.0"]!["data_offsets"] = new JsonArray(0, long.MaxValue)), "site.0.data_offsets"),
            ("overlapping offsets", WithHeader(valid, h => h["site.1"]!["data_offsets"] = new JsonArray(0, (long)h["site.1"]!["data_offsets"]![1]! - (long)h["site.1"]!["data_offsets"]![0]!)), "site.1.data_offsets"),
            ("a float32 site", WithHeader(valid, h => h["site.0"]!["dtype"] = "F32"), "site.0.dtype"),
            ("a missing site", WithHeader(valid, h => h.Remove("site.3")), "site.3"),
            ("a newer version", WithHeader(valid, h => h["__metadata__"]!["version"] = "3"), "__metadata__.version"),
            ("another format", WithHeader(valid, h => h["__metadata__"]!["format"] = "pytorch"), "__metadata__.format"),
            ("no metadata", WithHeader(valid, h => h.Remove("__metadata__")), "__metadata__"),
            ("a state that is not JSON", WithHeader(valid, h => h["__metadata__"]!["state"] = "{"), "__metadata__.state"),
            ("a state for other pixels", WithHeader(valid, h => h["__metadata__"]!["state"] = h["__metadata__"]!["state"]!.GetValue<string>().Replace("\"SitePixels\":[0,", "\"SitePixels\":[99,")), "__metadata__.state.SitePixels"),
            ("a flipped bit in the data", Patch(b => b[^5] ^= 0x10), "__metadata__.sha256"),
            ("a header that is not JSON", Patch(b => b[8] = (byte)'x'), "header"),
            ("invalid UTF-8 in a header string (found by the soak)", Patch(b => b[10] = 0xFF), "header: not UTF-8"),
            ("a truncated file", valid[..(valid.Length - 9)], "data"),
            ("seven bytes", valid[..7], "too short"),
            ("the old TNBM format", [.. "TNBM"u8, 1, 0, 0, 0, 0, 0, 0, 0], "TNBM"),
        }.Select(c => new object[] { c.Name, c.File, c.Field });
    }

    [Theory]
    [MemberData(nameof(CorruptCheckpoints))]
    public void A_corrupt_checkpoint_is_refused_naming_the_file_and_the_field(string name, byte[] file, string field) =>
        AssertRefused<InvalidDataException>(name, ".bin", file, field, path => Checkpoint.Load(path));

    [Fact]
    public void A_checkpoint_is_a_safetensors_file_that_reads_back_with_its_state()
    {
        var valid = Valid.Value;
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        Assert.Equal(0, length % 8);
        var header = JsonNode.Parse(valid.AsSpan(8, length))!.AsObject();
        Assert.Equal(Checkpoint.Format, header["__metadata__"]!["format"]!.GetValue<string>());
        Assert.Equal("F64", header["site.0"]!["dtype"]!.GetValue<string>());
        WithTempFile(".bin", valid, path =>
        {
            var (state, model) = Checkpoint.Load(path);
            using (model)
            {
                Assert.Equal(16, model.Length);
                Assert.Equal(1, state.Threads);
                Assert.Equal(2, state.History.Length);
            }
        });
    }

    [Fact]
    public void Temporary_files_of_killed_writes_are_removed_and_a_live_writers_kept()
    {
        var dir = Directory.CreateTempSubdirectory("tn-stale-").FullName;
        try
        {
            var target = Path.Combine(dir, "checkpoint.bin");
            // A process id that cannot be running (above the kernel's pid_max), and this process's own.
            var dead = Path.Combine(dir, ".checkpoint.bin.4194305.tmp");
            var alive = Path.Combine(dir, $".checkpoint.bin.{Environment.ProcessId}.tmp");
            var other = Path.Combine(dir, ".history.csv.4194305.tmp");
            foreach (var f in new[] { dead, alive, other })
                File.WriteAllText(f, "partial");
            Assert.Equal([dead], Checkpoint.RemoveStale(target));
            Assert.False(File.Exists(dead));
            Assert.True(File.Exists(alive));
            Assert.True(File.Exists(other));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
