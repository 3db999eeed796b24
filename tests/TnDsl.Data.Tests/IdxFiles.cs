using System.IO.Compression;

namespace TnDsl.Data.Tests;

/// IDX files of unsigned bytes, written out by hand from the format description, for the tests that need a data set
/// on disk (linked into TnDsl.Studies.Tests too).
static class IdxFiles
{
    /// The bytes of an IDX file of unsigned bytes: magic 0x0008, the rank, each dimension big-endian, the data.
    public static byte[] Bytes(int[] shape, byte[] data)
    {
        var bytes = new List<byte> { 0, 0, 0x08, (byte)shape.Length };
        foreach (var d in shape)
            bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    /// The bytes gzip-compressed, as the data sets are distributed.
    public static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Fastest))
            gz.Write(bytes);
        return memory.ToArray();
    }
}
