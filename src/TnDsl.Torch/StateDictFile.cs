using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>One tensor of a state-dict file: its name, element type, shape, and where its data starts in the file.</summary>
public sealed record StateDictEntry(string Name, ScalarType DType, long[] Shape, long Offset);

/// <summary>
/// The table of contents of a TorchSharp state-dict file (what <c>Module.save</c> writes: a LEB128 count, then per
/// tensor its UTF-8 name, element type, rank and sizes as LEB128 numbers, and its data), read without loading it, so
/// that a weights file that does not fit a network is refused with the parameter and both shapes instead of failing
/// inside <c>Module.load</c>; and the SHA-256 that ties a weights file to the <c>.tn</c> written beside it.
/// </summary>
public static class StateDictFile
{
    /// <summary>
    /// The entries of <paramref name="path"/>, in file order. Throws <see cref="InvalidDataException"/> naming the
    /// file, the byte offset and what is wrong where it is not such a file (a bad number, an unknown element type, a
    /// tensor whose data runs past the end: a truncated file) or where bytes follow the last tensor.
    /// </summary>
    public static IReadOnlyList<StateDictEntry> Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>The entries of a state dict held in <paramref name="stream"/> (seekable), named <paramref name="path"/> in messages.</summary>
    public static IReadOnlyList<StateDictEntry> Read(Stream stream, string path)
    {
        long length = stream.Length;
        var reader = new BinaryReader(stream, Encoding.UTF8);
        InvalidDataException Bad(string what) => new($"{path}: not a TorchSharp state dict: {what} (byte {stream.Position} of {length})");
        long Number(string what)
        {
            ulong value = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (stream.Position >= length)
                    throw Bad($"the file ends inside {what}");
                if (shift > 56)
                    throw Bad($"{what} is not a number");
                int b = stream.ReadByte();
                value |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                    break;
            }
            return value > long.MaxValue ? throw Bad($"{what} is too large") : (long)value;
        }
        var entries = new List<StateDictEntry>();
        long count = Number("the tensor count");
        for (long k = 0; k < count; k++)
        {
            long nameLength = Number($"the name length of tensor {k}");
            if (nameLength > length - stream.Position)
                throw Bad($"the name of tensor {k} runs past the end of the file");
            var name = Encoding.UTF8.GetString(reader.ReadBytes((int)nameLength));
            if (entries.Any(e => e.Name == name))
                throw Bad($"tensor {k} is named {name}, as an earlier one is");
            long code = Number($"the element type of {name}");
            var dtype = (ScalarType)code;
            if (code > 64 || !Enum.IsDefined(dtype))
                throw Bad($"{name} has element type {code}, which is none of libtorch's");
            long rank = Number($"the rank of {name}");
            if (rank > 64)
                throw Bad($"{name} has rank {rank}");
            var shape = new long[rank];
            for (int d = 0; d < rank; d++)
                shape[d] = Number($"size {d} of {name}");
            var bytes = shape.Aggregate(BigInteger.One, (n, s) => n * s) * MemoryGuard.ElementSize(dtype);
            long offset = stream.Position;
            if (bytes > length - offset)
                throw Bad($"{name} [{string.Join(", ", shape)}] needs {bytes:N0} bytes of data from byte {offset}, the file has {length - offset:N0} left (truncated?)");
            stream.Seek((long)bytes, SeekOrigin.Current);
            entries.Add(new StateDictEntry(name, dtype, shape, offset));
        }
        if (stream.Position != length)
            throw Bad($"{length - stream.Position:N0} bytes follow the last of its {count} tensors");
        return entries;
    }

    /// <summary>
    /// Where <paramref name="entries"/> do not fit a module whose state dict holds <paramref name="expected"/> (name,
    /// shape, element type), the first difference in words (a tensor missing, of another shape or type, or not the
    /// module's); else null.
    /// </summary>
    public static string? Mismatch(IEnumerable<(string Name, long[] Shape, ScalarType DType)> expected, IReadOnlyList<StateDictEntry> entries)
    {
        string Shape(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
        var held = entries.ToDictionary(e => e.Name);
        foreach (var (name, shape, dtype) in expected)
        {
            if (!held.Remove(name, out var entry))
                return $"the network's {name} {Shape(shape)} is not in the weights (they hold {string.Join(", ", entries.Take(4).Select(e => e.Name))}{(entries.Count > 4 ? ", …" : "")})";
            if (!entry.Shape.SequenceEqual(shape))
                return $"{name} is {Shape(shape)} in the network but {Shape(entry.Shape)} in the weights";
            if (entry.DType != dtype)
                return $"{name} is {dtype.ToString().ToLowerInvariant()} in the network but {entry.DType.ToString().ToLowerInvariant()} in the weights";
        }
        return held.Count == 0 ? null : $"the weights hold {string.Join(", ", held.Keys.Take(4))}{(held.Count > 4 ? ", …" : "")}, which the network does not";
    }

    /// <summary>The SHA-256 of the file at <paramref name="path"/>, as 64 lower-case hexadecimal digits.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
