using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace TnDsl.BornMachine;

/// <summary>
/// A minimal PNG encoder for 8-bit greyscale images (colour type 0): signature, IHDR, one zlib-compressed IDAT
/// (every scanline with filter 0), IEND; chunk checksums are CRC-32 (ISO 3309, polynomial 0xEDB88320).
/// </summary>
public static class Png
{
    static readonly uint[] CrcTable = MakeCrcTable();

    static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    /// <summary>The CRC-32 of <paramref name="data"/> (as PNG chunks and zip files use it).</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data)
            c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>Encodes a greyscale image: <paramref name="pixels"/> holds height rows of width bytes (0 black, 255 white).</summary>
    public static byte[] Greyscale(int width, int height, byte[] pixels)
    {
        if (width < 1 || height < 1 || pixels.Length != width * height)
            throw new ArgumentException($"expected {width}×{height} = {width * height} pixels, got {pixels.Length}");
        using var output = new MemoryStream();
        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(0), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)height);
        header[8] = 8;  // bit depth
        header[9] = 0;  // greyscale
        // compression 0, filter 0, no interlace
        WriteChunk(output, "IHDR", header);
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                z.WriteByte(0);
                z.Write(pixels, y * width, width);
            }
        }
        WriteChunk(output, "IDAT", raw.ToArray());
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    static void WriteChunk(Stream s, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)data.Length);
        s.Write(length);
        var typed = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(type).CopyTo(typed, 0);
        data.CopyTo(typed, 4);
        s.Write(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        s.Write(crc);
    }

    /// <summary>
    /// A grid of binary (or small-valued) images, <paramref name="columns"/> per row, each pixel drawn as a
    /// <paramref name="scale"/>×<paramref name="scale"/> block (value 0 white, the largest value black), with a
    /// one-block grey gap between images. Returns the PNG bytes.
    /// </summary>
    public static byte[] ImageGrid(long[] images, int count, int width, int height, int columns, int scale, int levels = 2)
    {
        columns = Math.Max(1, Math.Min(columns, count));
        int rows = (count + columns - 1) / columns;
        int gap = scale;
        int cellW = width * scale + gap, cellH = height * scale + gap;
        int w = columns * cellW + gap, h = rows * cellH + gap;
        var px = new byte[w * h];
        Array.Fill(px, (byte)160);
        for (int i = 0; i < count; i++)
        {
            int ox = gap + (i % columns) * cellW, oy = gap + (i / columns) * cellH;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    long v = images[(long)i * width * height + y * width + x];
                    byte shade = (byte)(255 - 255 * Math.Clamp(v, 0, levels - 1) / Math.Max(1, levels - 1));
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            px[(oy + y * scale + dy) * w + ox + x * scale + dx] = shade;
                }
        }
        return Greyscale(w, h, px);
    }
}
