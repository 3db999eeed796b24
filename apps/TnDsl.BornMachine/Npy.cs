using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>A file that is not a readable NumPy array of a supported kind; the message says what is wrong.</summary>
public sealed class NpyFormatException(string message) : Exception(message);

/// <summary>A NumPy array read from a <c>.npy</c> file: its shape and its values widened to <c>long</c>, row-major.</summary>
public sealed record NpyArray(string Descr, long[] Shape, long[] Values)
{
    /// <summary>The number of values (the product of the shape).</summary>
    public long Count => Values.LongLength;
}

/// <summary>A NumPy array of one-byte elements (<c>|u1</c>, <c>|b1</c>, <c>|i1</c>) as its raw bytes, row-major.</summary>
public sealed record NpyBytes(string Descr, long[] Shape, byte[] Data);

/// <summary>
/// A small reader for NumPy's <c>.npy</c> format (versions 1–3): the magic <c>\x93NUMPY</c>, two version bytes, a
/// little-endian header length, a Python-dict header (<c>descr</c>, <c>fortran_order</c>, <c>shape</c>), then raw
/// data. Supports the element types data sets here use: <c>|u1</c>, <c>|b1</c>, <c>|i1</c>, <c>&lt;i8</c>.
/// Everything is validated before the values are allocated: the header's length against the file's, each field's
/// syntax, each dimension (a non-negative integer), the element count against overflow and against
/// <see cref="MaxElements"/>, and the data's length against the file's exactly; the values' bytes go through
/// <see cref="MemoryGuard"/>. A failure is an <see cref="NpyFormatException"/> naming the file and the field.
/// </summary>
public static partial class Npy
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The most bytes of data an array may have (its values are read into one array).</summary>
    public static readonly long MaxElements = Array.MaxLength;

    /// <summary>The longest header read (NumPy itself refuses headers over 10,000 bytes unless told otherwise).</summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>Reads a file; throws <see cref="NpyFormatException"/> (naming the file) when it is not a supported array.</summary>
    public static NpyArray Read(string path) => ReadFile(path, Parse);

    /// <summary>Opens a regular file and parses it with <paramref name="parse"/>; a format error names the file.</summary>
    static T ReadFile<T>(string path, Func<Stream, T> parse)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            if (!stream.CanSeek)
                throw new NpyFormatException("not a regular file");
            return parse(stream);
        }
        catch (NpyFormatException e)
        {
            throw new NpyFormatException($"{path}: {e.Message}");
        }
    }

    /// <summary>Parses the bytes of a <c>.npy</c> file.</summary>
    public static NpyArray Parse(byte[] bytes) => Parse(new MemoryStream(bytes, writable: false));

    /// <summary>
    /// Reads a file of one-byte elements (<c>|u1</c>, <c>|b1</c>, <c>|i1</c>) as its bytes, an eighth of
    /// <see cref="Read"/>'s memory; a boolean array's bytes are checked to be 0 or 1. Throws
    /// <see cref="NpyFormatException"/> (naming the file) for anything else.
    /// </summary>
    public static NpyBytes ReadBytes(string path) => ReadFile(path, stream =>
    {
        var (descr, shape, data) = ParseRaw(stream, widened: false);
        if (data.Length != shape.Aggregate(1L, (a, b) => a * b))
            throw new NpyFormatException($"descr: element type '{descr}' is not one byte wide (expected |u1, |b1 or |i1)");
        return new NpyBytes(descr, shape, data);
    });

    /// <summary>Parses a <c>.npy</c> file from a seekable stream positioned at its start.</summary>
    public static NpyArray Parse(Stream stream)
    {
        var (descr, shape, data) = ParseRaw(stream, widened: true);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new long[count];
        switch (descr)
        {
            case "|u1":
            case "|b1":
                for (long i = 0; i < count; i++)
                    values[i] = data[i];
                break;
            case "|i1":
                for (long i = 0; i < count; i++)
                    values[i] = (sbyte)data[i];
                break;
            default:
                Buffer.BlockCopy(data, 0, values, 0, data.Length);
                if (!BitConverter.IsLittleEndian)
                    for (long i = 0; i < count; i++)
                        values[i] = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(values[i]);
                break;
        }
        return new NpyArray(descr, shape, values);
    }

    /// The validated header and the data's bytes (a boolean array's checked to be 0 or 1); <paramref name="widened"/>:
    /// the memory guard is asked for the int64 values as well.
    static (string Descr, long[] Shape, byte[] Data) ParseRaw(Stream stream, bool widened)
    {
        long length = stream.Length - stream.Position;
        var prefix = new byte[12];
        int got = stream.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        if (got < 10 || !prefix.AsSpan(0, 6).SequenceEqual(Magic))
            throw new NpyFormatException("not a .npy file (the magic \\x93NUMPY is missing)");
        int major = prefix[6];
        long headerLength;
        int headerStart;
        if (major == 1)
        {
            headerLength = BitConverter.ToUInt16(prefix, 8);
            headerStart = 10;
        }
        else if (major is 2 or 3)
        {
            if (got < 12)
                throw new NpyFormatException("header length: truncated (the file ends inside it)");
            headerLength = BitConverter.ToUInt32(prefix, 8);
            headerStart = 12;
        }
        else
            throw new NpyFormatException($"version: {major}.{prefix[7]} is not a .npy version this reader knows (1.0, 2.0, 3.0)");
        if (headerLength > length - headerStart)
            throw new NpyFormatException($"header length: {headerLength} bytes, but the file has {Math.Max(0, length - headerStart)} after the prefix");
        if (headerLength > MaxHeaderBytes)
            throw new NpyFormatException($"header length: {headerLength} bytes, over the {MaxHeaderBytes} this reader accepts");
        var headerBytes = new byte[headerLength];
        stream.Position = headerStart;
        stream.ReadExactly(headerBytes);
        string header;
        try
        {
            header = major == 3 ? new UTF8Encoding(false, true).GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw new NpyFormatException("header: not UTF-8 text (a version 3.0 header must be)");
        }
        var trimmed = header.Trim();
        if (!trimmed.StartsWith('{') || !trimmed.EndsWith('}'))
            throw new NpyFormatException($"header: not a Python dict: {Shorten(trimmed)}");
        var descr = DescrPattern().Match(header) is { Success: true } d ? d.Groups[1].Value
            : throw new NpyFormatException($"descr: missing from the header {Shorten(trimmed)}");
        var fortran = FortranPattern().Match(header);
        if (!fortran.Success)
            throw new NpyFormatException($"fortran_order: missing from the header {Shorten(trimmed)}");
        if (fortran.Groups[1].Value == "True")
            throw new NpyFormatException("fortran_order: Fortran-ordered arrays are not supported; save the array in C order");
        var shapeMatch = ShapePattern().Match(header);
        if (!shapeMatch.Success)
            throw new NpyFormatException($"shape: missing from the header {Shorten(trimmed)}");
        var shape = ParseShape(shapeMatch.Groups[1].Value);
        int width = descr switch
        {
            "|u1" or "|b1" or "|i1" => 1,
            "<i8" => 8,
            _ => throw new NpyFormatException($"descr: element type '{Shorten(descr)}' is not supported (supported: |u1, |b1, |i1, <i8)"),
        };
        // The count in BigInteger, so that no product of dimensions can overflow before it is compared.
        var exact = shape.Aggregate(BigInteger.One, (a, b) => a * b);
        if (exact * width > MaxElements)
            throw new NpyFormatException($"shape: ({string.Join(", ", shape)}) of '{descr}' has {exact:N0} elements, over the {MaxElements / width:N0} this reader holds");
        long count = (long)exact;
        long dataStart = headerStart + headerLength;
        long held = length - dataStart;
        if (held != count * width)
            throw new NpyFormatException(held < count * width
                ? $"data: truncated: shape ({string.Join(", ", shape)}) of '{descr}' needs {count * width} bytes, the file holds {held}"
                : $"data: shape ({string.Join(", ", shape)}) of '{descr}' needs {count * width} bytes, but the file holds {held} (trailing bytes)");
        MemoryGuard.Check((widened ? MemoryGuard.Bytes(exact, ScalarType.Int64) : 0) + count * width, $"the .npy array of shape ({string.Join(", ", shape)})");
        var data = new byte[count * width];
        stream.Position = dataStart;
        stream.ReadExactly(data);
        if (descr == "|b1")
            for (long i = 0; i < count; i++)
                if (data[i] > 1)
                    throw new NpyFormatException($"data: element {i} of a boolean array is {data[i]}, not 0 or 1");
        return (descr, shape, data);
    }

    /// The dimensions of a shape tuple's inside (`30, 28` or `784,` or nothing), each a non-negative int64.
    static long[] ParseShape(string inside)
    {
        var parts = inside.Split(',', StringSplitOptions.TrimEntries);
        // A trailing comma (`(784,)`) leaves one empty part at the end; an empty part anywhere else is an error.
        int n = parts.Length > 0 && parts[^1].Length == 0 ? parts.Length - 1 : parts.Length;
        if (n > 32)
            throw new NpyFormatException($"shape: {n} dimensions, over NumPy's 32");
        var shape = new long[n];
        for (int k = 0; k < n; k++)
        {
            var p = parts[k];
            if (p.EndsWith('L'))
                p = p[..^1]; // Python 2 longs
            if (!long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out shape[k]))
                throw new NpyFormatException(p.StartsWith('-') && long.TryParse(p, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)
                    ? $"shape: dimension {k} is negative ({p})"
                    : $"shape: dimension {k} is '{Shorten(p)}', not an integer from 0 to 2^63 - 1");
        }
        return shape;
    }

    static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
