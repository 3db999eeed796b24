using System.IO.Compression;

namespace TnDsl.Data;

/// <summary>An IDX array (the MNIST file format): unsigned bytes with their shape.</summary>
/// <param name="Shape">The dimensions, outermost first (images: count, rows, columns; labels: count).</param>
/// <param name="Data">The values in row-major order.</param>
public sealed record IdxArray(int[] Shape, byte[] Data)
{
    /// <summary>The number of items along the first dimension.</summary>
    public int Count => Shape.Length == 0 ? 1 : Shape[0];
}

/// <summary>A file that is not a readable IDX file of unsigned bytes.</summary>
public sealed class IdxFormatException(string message) : Exception(message);

/// <summary>
/// Reads IDX files: a big-endian header (two zero bytes, a type code, the number of dimensions, one 32-bit size per
/// dimension) followed by the data. Only the unsigned-byte type (0x08) that MNIST-style data sets use is read.
/// Gzip-compressed files (.gz, recognised by their magic bytes, not their name) are decompressed on the fly.
/// </summary>
public static class Idx
{
    const byte UnsignedByte = 0x08;

    /// <summary>Reads an IDX file, compressed or not.</summary>
    public static IdxArray Read(string path)
    {
        using var file = File.OpenRead(path);
        return Read(file, path);
    }

    /// <summary>Reads an IDX stream, compressed or not; <paramref name="name"/> names it in error messages.</summary>
    public static IdxArray Read(Stream stream, string name)
    {
        var buffered = new BufferedStream(stream);
        int first = buffered.ReadByte(), second = buffered.ReadByte();
        if (first < 0 || second < 0)
            throw new IdxFormatException($"{name}: empty file");
        Stream body = first == 0x1f && second == 0x8b
            ? new GZipStream(new PrefixedStream([(byte)first, (byte)second], buffered), CompressionMode.Decompress)
            : new PrefixedStream([(byte)first, (byte)second], buffered);
        using (body)
            return ReadRaw(body, name);
    }

    static IdxArray ReadRaw(Stream s, string name)
    {
        var header = ReadExactly(s, 4, name, "header");
        if (header[0] != 0 || header[1] != 0)
            throw new IdxFormatException($"{name}: not an IDX file (the magic number must start with two zero bytes)");
        if (header[2] != UnsignedByte)
            throw new IdxFormatException($"{name}: IDX type 0x{header[2]:x2} is not supported (only unsigned bytes, 0x08)");
        int rank = header[3];
        var dims = ReadExactly(s, 4 * rank, name, "dimensions");
        var shape = new int[rank];
        long total = 1;
        for (int k = 0; k < rank; k++)
        {
            shape[k] = (dims[4 * k] << 24) | (dims[4 * k + 1] << 16) | (dims[4 * k + 2] << 8) | dims[4 * k + 3];
            if (shape[k] < 0)
                throw new IdxFormatException($"{name}: dimension {k} is negative");
            total *= shape[k];
        }
        if (total > int.MaxValue)
            throw new IdxFormatException($"{name}: {total} values are too many to hold in one array");
        var data = ReadExactly(s, (int)total, name, "data");
        return new IdxArray(shape, data);
    }

    static byte[] ReadExactly(Stream s, int count, string name, string part)
    {
        var buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = s.Read(buffer, read, count - read);
            if (n == 0)
                throw new IdxFormatException($"{name}: the file ends inside its {part} ({read} of {count} bytes)");
            read += n;
        }
        return buffer;
    }

    /// <summary>Writes an uncompressed IDX file of unsigned bytes (tests and tools make tiny data sets with it).</summary>
    public static void Write(string path, IdxArray array, bool gzip = false)
    {
        using var file = File.Create(path);
        using Stream target = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        target.Write([0, 0, UnsignedByte, (byte)array.Shape.Length]);
        foreach (var d in array.Shape)
            target.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        target.Write(array.Data);
    }

    /// Replays bytes already consumed (to sniff the gzip magic) before the rest of a stream.
    sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
    {
        int position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (position < prefix.Length)
            {
                int n = Math.Min(count, prefix.Length - position);
                Array.Copy(prefix, position, buffer, offset, n);
                position += n;
                return n;
            }
            return rest.Read(buffer, offset, count);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing)
                rest.Dispose();
            base.Dispose(disposing);
        }
    }
}
