using System.Diagnostics;
using System.Text;
using Xunit;

namespace TnDsl.Native.Tests;

/// Builds a minimal 64-bit little-endian ELF image with a .dynstr and a .gnu.version_r section.
static class TinyElf
{
    public sealed record Built(byte[] Image, Dictionary<string, long> FlagOffsets);

    /// needs: (file, [version names]) in order.
    public static Built Build((string File, string[] Versions)[] needs)
    {
        var dynstr = new MemoryStream();
        dynstr.WriteByte(0);
        var strOffset = new Dictionary<string, uint>();
        uint Str(string s)
        {
            if (strOffset.TryGetValue(s, out var o))
                return o;
            o = (uint)dynstr.Length;
            dynstr.Write(Encoding.ASCII.GetBytes(s));
            dynstr.WriteByte(0);
            strOffset[s] = o;
            return o;
        }
        foreach (var (file, versions) in needs)
        {
            Str(file);
            foreach (var v in versions)
                Str(v);
        }
        var dynstrBytes = dynstr.ToArray();

        const int headerSize = 64;
        long dynstrOff = headerSize;
        long verneedOff = Align(dynstrOff + dynstrBytes.Length, 8);
        var verneed = new MemoryStream();
        var w = new BinaryWriter(verneed);
        var flagOffsets = new Dictionary<string, long>();
        for (int n = 0; n < needs.Length; n++)
        {
            var (file, versions) = needs[n];
            w.Write((ushort)1);
            w.Write((ushort)versions.Length);
            w.Write(Str(file));
            w.Write(16u); // aux entries follow the Verneed directly
            w.Write(n == needs.Length - 1 ? 0u : (uint)(16 + 16 * versions.Length));
            for (int a = 0; a < versions.Length; a++)
            {
                w.Write(0x1234u + (uint)a); // vna_hash: not checked by the patcher
                flagOffsets[file + "/" + versions[a]] = verneedOff + verneed.Position;
                w.Write((ushort)0);
                w.Write((ushort)(2 + a));
                w.Write(Str(versions[a]));
                w.Write(a == versions.Length - 1 ? 0u : 16u);
            }
        }
        var verneedBytes = verneed.ToArray();
        var shstr = Encoding.ASCII.GetBytes("\0.dynstr\0.gnu.version_r\0.shstrtab\0");
        long shstrOff = verneedOff + verneedBytes.Length;
        long shoff = Align(shstrOff + shstr.Length, 8);

        var image = new MemoryStream();
        var o = new BinaryWriter(image);
        o.Write(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0 });
        o.Write(new byte[8]);
        o.Write((ushort)3); // ET_DYN
        o.Write((ushort)62); // x86-64
        o.Write(1u);
        o.Write(0ul); // entry
        o.Write(0ul); // phoff
        o.Write((ulong)shoff);
        o.Write(0u); // flags
        o.Write((ushort)headerSize);
        o.Write((ushort)56);
        o.Write((ushort)0);
        o.Write((ushort)64);
        o.Write((ushort)4);
        o.Write((ushort)3);
        image.Position = dynstrOff;
        o.Write(dynstrBytes);
        image.Position = verneedOff;
        o.Write(verneedBytes);
        image.Position = shstrOff;
        o.Write(shstr);
        image.Position = shoff;
        void Section(uint name, uint type, long off, long size, uint link, uint info)
        {
            o.Write(name);
            o.Write(type);
            o.Write(0ul);
            o.Write(0ul);
            o.Write((ulong)off);
            o.Write((ulong)size);
            o.Write(link);
            o.Write(info);
            o.Write(8ul);
            o.Write(0ul);
        }
        Section(0, 0, 0, 0, 0, 0);
        Section(1, 3, dynstrOff, dynstrBytes.Length, 0, 0);
        Section(9, 0x6ffffffe, verneedOff, verneedBytes.Length, 1, (uint)needs.Length);
        Section(24, 3, shstrOff, shstr.Length, 0, 0);
        return new Built(image.ToArray(), flagOffsets);
    }

    static long Align(long x, long a) => (x + a - 1) / a * a;
}

public class ElfVersionNeedsTests
{
    static readonly (string, string[])[] Needs =
    [
        ("libc.so.6", ["GLIBC_2.34", "GLIBC_2.2.5"]),
        ("libstdc++.so.6", ["GLIBCXX_3.4.30", "GLIBCXX_3.4.32", "CXXABI_1.3"]),
        ("libm.so.6", ["GLIBC_2.2.5"]),
    ];

    [Fact]
    public void Read_lists_every_requirement_with_its_library()
    {
        var elf = TinyElf.Build(Needs);
        var read = ElfVersionNeeds.Read(elf.Image);
        var expected = Needs.SelectMany(n => n.Item2.Select(v => (n.Item1, v))).ToList();
        Assert.Equal(expected, read.Select(r => (r.File, r.Name)).ToList());
        Assert.All(read, r => Assert.Equal(0, r.Flags));
        Assert.All(read, r => Assert.Equal(elf.FlagOffsets[r.File + "/" + r.Name], r.FlagsOffset));
    }

    [Fact]
    public void MarkWeak_sets_exactly_one_bit_of_the_named_requirement()
    {
        var elf = TinyElf.Build(Needs);
        var patched = (byte[])elf.Image.Clone();
        Assert.Equal(1, ElfVersionNeeds.MarkWeak(patched, "GLIBCXX_3.4.32"));
        var diffs = Enumerable.Range(0, patched.Length).Where(i => patched[i] != elf.Image[i]).ToList();
        var at = Assert.Single(diffs);
        Assert.Equal(elf.FlagOffsets["libstdc++.so.6/GLIBCXX_3.4.32"], at);
        Assert.Equal(ElfVersionNeeds.WeakFlag, patched[at] ^ elf.Image[at]);
        var weak = ElfVersionNeeds.Read(patched).Where(r => (r.Flags & ElfVersionNeeds.WeakFlag) != 0);
        Assert.Equal("GLIBCXX_3.4.32", Assert.Single(weak).Name);
    }

    [Fact]
    public void MarkWeak_is_idempotent_and_ignores_absent_names()
    {
        var elf = TinyElf.Build(Needs);
        var once = (byte[])elf.Image.Clone();
        ElfVersionNeeds.MarkWeak(once, "GLIBCXX_3.4.32");
        var twice = (byte[])once.Clone();
        Assert.Equal(0, ElfVersionNeeds.MarkWeak(twice, "GLIBCXX_3.4.32"));
        Assert.Equal(once, twice);
        var untouched = (byte[])elf.Image.Clone();
        Assert.Equal(0, ElfVersionNeeds.MarkWeak(untouched, "GLIBCXX_9.9"));
        Assert.Equal(elf.Image, untouched);
    }

    [Fact]
    public void A_version_shared_by_two_libraries_is_marked_in_both()
    {
        var elf = TinyElf.Build(Needs);
        var patched = (byte[])elf.Image.Clone();
        Assert.Equal(2, ElfVersionNeeds.MarkWeak(patched, "GLIBC_2.2.5"));
        var weak = ElfVersionNeeds.Read(patched).Where(r => r.Flags == ElfVersionNeeds.WeakFlag).Select(r => r.File);
        Assert.Equal(["libc.so.6", "libm.so.6"], weak);
    }

    [Fact]
    public void Malformed_images_are_rejected()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Read(Encoding.ASCII.GetBytes("not an elf file at all, just some text to be long enough for a header")));
        var elf = TinyElf.Build(Needs).Image;
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Read(elf.AsSpan(0, elf.Length - 100)));
        var elf32 = (byte[])elf.Clone();
        elf32[4] = 1;
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Read(elf32));
    }

    [Fact]
    public void On_a_copy_of_the_real_library_only_the_GLIBCXX_3_4_32_flag_changes()
    {
        var original = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(original), $"{original} should be copied to the test output");
        var bytes = File.ReadAllBytes(original);
        var before = ElfVersionNeeds.Read(bytes);
        var patched = (byte[])bytes.Clone();
        Assert.Equal(1, ElfVersionNeeds.MarkWeak(patched, "GLIBCXX_3.4.32"));
        var diff = Assert.Single(Enumerable.Range(0, bytes.Length), i => bytes[i] != patched[i]);
        Assert.Equal(ElfVersionNeeds.WeakFlag, bytes[diff] ^ patched[diff]);
        var after = ElfVersionNeeds.Read(patched);
        Assert.Equal(before.Select(b => (b.File, b.Name, b.Name == "GLIBCXX_3.4.32" ? (ushort)(b.Flags | 2) : b.Flags)),
                     after.Select(a => (a.File, a.Name, a.Flags)));

        // binutils, where installed, is an independent reader of the same structure.
        var readelf = new[] { "/usr/bin/readelf", "/bin/readelf" }.FirstOrDefault(File.Exists);
        if (readelf is null)
            return;
        var tmp = Path.Combine(Path.GetTempPath(), $"tndsl-elftest-{Guid.NewGuid():N}.so");
        try
        {
            File.WriteAllBytes(tmp, patched);
            var psi = new ProcessStartInfo(readelf, ["-V", tmp]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.Contains("Flags: WEAK", Assert.Single(text.Split('\n'), l => l.Contains("Name: GLIBCXX_3.4.32")));
            Assert.Single(text.Split('\n'), l => l.Contains("Flags: WEAK"));
        }
        finally
        {
            File.Delete(tmp);
        }
    }
}
