using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace TnDsl.BornMachine;

/// <summary>A file that is not a readable NumPy array of a supported kind; the message says what is wrong.</summary>
public sealed class NpyFormatException(string message) : Exception(message);

/// <summary>A NumPy array read from a <c>.npy</c> file: its shape and its values widened to <c>long</c>, row-major.</summary>
public sealed record NpyArray(string Descr, long[] Shape, long[] Values)
{
    /// <summary>The number of values (the product of the shape).</summary>
    public long Count => Values.LongLength;
}

/// <summary>
/// A small reader for NumPy's <c>.npy</c> format (versions 1–3): the magic <c>\x93NUMPY</c>, two version bytes, a
/// little-endian header length, a Python-dict header (<c>descr</c>, <c>fortran_order</c>, <c>shape</c>), then raw
/// data. Supports the element types data sets here use: <c>|u1</c>, <c>|b1</c>, <c>|i1</c>, <c>&lt;i8</c>.
/// </summary>
public static partial class Npy
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads a file; throws <see cref="NpyFormatException"/> (naming the file) when it is not a supported array.</summary>
    public static NpyArray Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file");
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (NpyFormatException e)
        {
            throw new NpyFormatException($"{path}: {e.Message}");
        }
    }

    /// <summary>Parses the bytes of a <c>.npy</c> file.</summary>
    public static NpyArray Parse(byte[] bytes)
    {
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw new NpyFormatException("not a .npy file (the magic \\x93NUMPY is missing)");
        int major = bytes[6];
        int headerLength, headerStart;
        if (major == 1)
        {
            headerLength = BitConverter.ToUInt16(bytes, 8);
            headerStart = 10;
        }
        else if (major is 2 or 3)
        {
            if (bytes.Length < 12)
                throw new NpyFormatException("truncated header");
            headerLength = checked((int)BitConverter.ToUInt32(bytes, 8));
            headerStart = 12;
        }
        else
            throw new NpyFormatException($"unsupported .npy version {major}.{bytes[7]}");
        if (headerStart + headerLength > bytes.Length)
            throw new NpyFormatException("truncated header");
        var header = Encoding.Latin1.GetString(bytes, headerStart, headerLength);
        var descr = DescrPattern().Match(header) is { Success: true } d ? d.Groups[1].Value
            : throw new NpyFormatException($"the header has no 'descr': {header.Trim()}");
        if (FortranPattern().Match(header) is { Success: true } f && f.Groups[1].Value == "True")
            throw new NpyFormatException("Fortran-ordered arrays are not supported; save the array in C order");
        var shapeMatch = ShapePattern().Match(header);
        if (!shapeMatch.Success)
            throw new NpyFormatException($"the header has no 'shape': {header.Trim()}");
        var shape = shapeMatch.Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => long.Parse(s, CultureInfo.InvariantCulture))
            .ToArray();
        long count = shape.Aggregate(1L, (a, b) => checked(a * b));
        int width = descr switch
        {
            "|u1" or "|b1" or "|i1" => 1,
            "<i8" => 8,
            _ => throw new NpyFormatException($"element type '{descr}' is not supported (supported: |u1, |b1, |i1, <i8)"),
        };
        int dataStart = headerStart + headerLength;
        if (bytes.LongLength - dataStart < count * width)
            throw new NpyFormatException($"the data is truncated: shape ({string.Join(", ", shape)}) needs {count * width} bytes, the file holds {bytes.LongLength - dataStart}");
        var values = new long[count];
        for (long i = 0; i < count; i++)
            values[i] = descr switch
            {
                "|u1" or "|b1" => bytes[dataStart + i],
                "|i1" => (sbyte)bytes[dataStart + i],
                _ => BitConverter.ToInt64(bytes, (int)(dataStart + i * 8)),
            };
        return new NpyArray(descr, shape, values);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
