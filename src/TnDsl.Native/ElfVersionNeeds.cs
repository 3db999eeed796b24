using System.Buffers.Binary;
using System.Text;

namespace TnDsl.Native;

/// <summary>One version requirement (a <c>Vernaux</c> entry) of an ELF file's <c>.gnu.version_r</c> section.</summary>
/// <param name="File">The library the version is required from, e.g. <c>libstdc++.so.6</c>.</param>
/// <param name="Name">The version name, e.g. <c>GLIBCXX_3.4.32</c>.</param>
/// <param name="Flags">The entry's <c>vna_flags</c> (<see cref="ElfVersionNeeds.WeakFlag"/> marks a weak requirement).</param>
/// <param name="FlagsOffset">The file offset of the two-byte <c>vna_flags</c> field.</param>
public sealed record VersionNeed(string File, string Name, ushort Flags, long FlagsOffset);

/// <summary>
/// Reads and edits the version requirements of a 64-bit ELF shared object, as far as needed to mark a
/// requirement weak. A weak requirement that the system cannot satisfy makes the dynamic loader warn
/// instead of refusing to load the library; symbols bound to that version must then not be used.
/// </summary>
public static class ElfVersionNeeds
{
    /// <summary><c>VER_FLG_WEAK</c>: the requirement is weak.</summary>
    public const ushort WeakFlag = 0x2;

    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtStrtab = 3;

    /// <summary>Lists every version requirement of the ELF image, in file order.</summary>
    /// <exception cref="InvalidDataException">The image is not a well-formed 64-bit ELF file.</exception>
    public static IReadOnlyList<VersionNeed> Read(ReadOnlySpan<byte> elf)
    {
        var result = new List<VersionNeed>();
        var reader = new Reader(elf);
        foreach (var section in reader.Sections())
        {
            if (section.Type != ShtGnuVerneed)
                continue;
            var strings = reader.Section(section.Link);
            if (strings.Type != ShtStrtab)
                throw new InvalidDataException("the version-needs section is not linked to a string table");
            reader.Check(section.Offset, section.Size, null);
            reader.Check(strings.Offset, strings.Size, null);
            long need = section.Offset;
            // sh_info holds the number of Verneed entries; vn_next chains them (0 ends the chain).
            for (uint n = 0; n < section.Info; n++)
            {
                reader.Check(need, 16, section);
                ushort count = reader.U16(need + 2);
                string file = reader.String(strings, reader.U32(need + 4));
                long aux = need + reader.U32(need + 8);
                for (int a = 0; a < count; a++)
                {
                    reader.Check(aux, 16, section);
                    ushort flags = reader.U16(aux + 4);
                    string name = reader.String(strings, reader.U32(aux + 8));
                    result.Add(new VersionNeed(file, name, flags, aux + 4));
                    uint nextAux = reader.U32(aux + 12);
                    if (nextAux == 0)
                        break;
                    aux += nextAux;
                }
                uint next = reader.U32(need + 12);
                if (next == 0)
                    break;
                need += next;
            }
        }
        return result;
    }

    /// <summary>
    /// Sets <see cref="WeakFlag"/> on every requirement named <paramref name="versionName"/> and returns how many
    /// entries changed (entries already weak are left as they are and not counted). Nothing else is written.
    /// </summary>
    /// <exception cref="InvalidDataException">The image is not a well-formed 64-bit ELF file.</exception>
    public static int MarkWeak(Span<byte> elf, string versionName)
    {
        bool bigEndian = new Reader(elf).BigEndian;
        int changed = 0;
        foreach (var need in Read(elf))
        {
            if (need.Name != versionName || (need.Flags & WeakFlag) != 0)
                continue;
            var field = elf.Slice((int)need.FlagsOffset, 2);
            ushort flags = (ushort)(need.Flags | WeakFlag);
            if (bigEndian)
                BinaryPrimitives.WriteUInt16BigEndian(field, flags);
            else
                BinaryPrimitives.WriteUInt16LittleEndian(field, flags);
            changed++;
        }
        return changed;
    }

    readonly record struct SectionHeader(int Index, uint Type, long Offset, long Size, uint Link, uint Info);

    /// Bounds-checked little- or big-endian access to an ELF64 image.
    readonly ref struct Reader
    {
        readonly ReadOnlySpan<byte> data;
        readonly long shoff;
        readonly int shentsize;
        readonly int shnum;

        public bool BigEndian { get; }

        public Reader(ReadOnlySpan<byte> elf)
        {
            data = elf;
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2)
                throw new InvalidDataException("not a 64-bit ELF file");
            BigEndian = elf[5] switch
            {
                1 => false,
                2 => true,
                _ => throw new InvalidDataException("unknown ELF byte order"),
            };
            shoff = (long)U64(0x28);
            shentsize = U16(0x3a);
            shnum = U16(0x3c);
            if (shoff == 0)
            {
                shnum = 0;
                return;
            }
            if (shentsize < 64)
                throw new InvalidDataException("ELF section headers are too small");
            // More than 0xff00 sections: the real count sits in the first section header's sh_size.
            if (shnum == 0)
            {
                Check(shoff, 64, null);
                shnum = checked((int)U64(shoff + 32));
            }
            Check(shoff, (long)shentsize * shnum, null);
        }

        public ushort U16(long at) =>
            BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(data.Slice((int)at, 2)) : BinaryPrimitives.ReadUInt16LittleEndian(data.Slice((int)at, 2));

        public uint U32(long at) =>
            BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(data.Slice((int)at, 4)) : BinaryPrimitives.ReadUInt32LittleEndian(data.Slice((int)at, 4));

        public ulong U64(long at) =>
            BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(data.Slice((int)at, 8)) : BinaryPrimitives.ReadUInt64LittleEndian(data.Slice((int)at, 8));

        public void Check(long at, long length, SectionHeader? within)
        {
            long lo = within?.Offset ?? 0, hi = within is { } s ? s.Offset + s.Size : data.Length;
            if (at < lo || length < 0 || at + length > hi || hi > data.Length)
                throw new InvalidDataException($"ELF structure at offset {at} runs outside its bounds");
        }

        public SectionHeader Section(uint index)
        {
            if (index >= shnum)
                throw new InvalidDataException($"ELF section index {index} out of range");
            long h = shoff + index * (long)shentsize;
            // Bounds are checked where a section's contents are read: SHT_NOBITS sections (.bss) occupy no file space.
            return new SectionHeader((int)index, U32(h + 4), (long)U64(h + 24), (long)U64(h + 32), U32(h + 40), U32(h + 44));
        }

        public List<SectionHeader> Sections()
        {
            var list = new List<SectionHeader>(shnum);
            for (uint i = 0; i < shnum; i++)
                list.Add(Section(i));
            return list;
        }

        public string String(SectionHeader table, uint offset)
        {
            if (offset >= table.Size)
                throw new InvalidDataException("ELF string offset outside its table");
            var rest = data.Slice((int)(table.Offset + offset), (int)(table.Size - offset));
            int end = rest.IndexOf((byte)0);
            if (end < 0)
                throw new InvalidDataException("unterminated ELF string");
            return Encoding.ASCII.GetString(rest[..end]);
        }
    }
}
