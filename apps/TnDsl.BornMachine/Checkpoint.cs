using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>The state of a training run besides its tensors: enough to continue it exactly.</summary>
public sealed record CheckpointState
{
    /// <summary>The network the MPS was read from (a .tn file path as given).</summary>
    public string NetworkFile { get; init; } = "";
    /// <summary>The parameter overrides the network was compiled with (<c>name=value</c>).</summary>
    public string[] Overrides { get; init; } = [];
    /// <summary>The network's name.</summary>
    public string Network { get; init; } = "";
    /// <summary>The data directory (or <c>bars-and-stripes</c>).</summary>
    public string Data { get; init; } = "";
    /// <summary>Image width and height, for drawing samples.</summary>
    public int ImageWidth { get; init; }
    /// <summary>Image height.</summary>
    public int ImageHeight { get; init; }
    /// <summary>For each site, the pixel it models (site order → pixel order).</summary>
    public int[] SitePixels { get; init; } = [];
    /// <summary>The hyper-parameters.</summary>
    public BornOptions Options { get; init; } = new();
    /// <summary>The learning rate the next loop uses.</summary>
    public double LearningRate { get; init; }
    /// <summary>The random generator's state.</summary>
    public ulong RngState { get; init; }
    /// <summary>Loop 0 and every finished loop.</summary>
    public LoopRecord[] History { get; init; } = [];
    /// <summary>The TorchSharp CPU threads the run used (parallel reductions make the last bits depend on them, so a
    /// resumed run keeps them); 0 where unknown.</summary>
    public int Threads { get; init; }
}

/// <summary>
/// Checkpoint files in the safetensors format (https://github.com/huggingface/safetensors): a little-endian uint64
/// header length, a JSON header, then the tensors' bytes. Each site is a tensor <c>site.K</c> of dtype <c>F64</c> and
/// shape (Dl, d, Dr); the header's <c>__metadata__</c> carries <c>format</c> (<see cref="Format"/>), <c>version</c>
/// (<see cref="Version"/>), <c>state</c> (the <see cref="CheckpointState"/> as JSON) and <c>sha256</c> (of the state's
/// UTF-8 bytes followed by each site's shape as three int64 and its data), so any safetensors reader (Python's
/// <c>safetensors</c>, for one) opens the weights, and a flipped bit anywhere that matters is detected.
/// <para>
/// Written to a temporary file in the same directory, flushed, then renamed over the target, so an interrupted
/// write leaves the previous checkpoint intact; temporary files left by a killed write are removed by the next
/// <see cref="Save"/> or by <see cref="RemoveStale"/>. <see cref="Load"/> validates every header field, offset and
/// shape against the file's real size and against overflow before it allocates, and refuses with an
/// <see cref="InvalidDataException"/> naming the file and the field.
/// </para>
/// </summary>
public static class Checkpoint
{
    /// <summary>The <c>format</c> entry of the metadata.</summary>
    public const string Format = "tndsl-born-machine-checkpoint";
    /// <summary>The <c>version</c> entry of the metadata this code writes and reads.</summary>
    public const int Version = 2;
    /// <summary>The longest header read (safetensors' own limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        IncludeFields = false,
        // A diverged loop's NaN in the history must not make the checkpoint unwritable.
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes a checkpoint atomically (and removes stale temporary files of earlier killed writes).</summary>
    public static void Save(string path, CheckpointState state, Mps model)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var stateBytes = JsonSerializer.SerializeToUtf8Bytes(state, Json);
        var shapes = new long[model.Length][];
        var values = new double[model.Length][];
        for (int k = 0; k < model.Length; k++)
        {
            using var c = model[k].contiguous();
            shapes[k] = c.shape;
            values[k] = c.data<double>().ToArray();
        }
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(stateBytes);
        var header = new JsonObject();
        long offset = 0;
        for (int k = 0; k < model.Length; k++)
        {
            foreach (var d in shapes[k])
                sha.AppendData(LittleEndian(d));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values[k].AsSpan()));
            long bytes = values[k].LongLength * sizeof(double);
            header[SiteName(k)] = new JsonObject
            {
                ["dtype"] = "F64",
                ["shape"] = new JsonArray(shapes[k].Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        header["__metadata__"] = new JsonObject
        {
            ["format"] = Format,
            ["version"] = Version.ToString(CultureInfo.InvariantCulture),
            ["state"] = Encoding.UTF8.GetString(stateBytes),
            ["sha256"] = Convert.ToHexStringLower(sha.GetHashAndReset()),
        };
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // safetensors pads the header with spaces to a multiple of 8 bytes, so the data is aligned.
        int padded = (headerBytes.Length + 7) / 8 * 8;
        SafeFile.Replace(path, temp =>
        {
            using var stream = new FileStream(temp, FileMode.Create, FileAccess.Write);
            stream.Write(LittleEndian(padded));
            stream.Write(headerBytes);
            for (int k = headerBytes.Length; k < padded; k++)
                stream.WriteByte((byte)' ');
            foreach (var v in values)
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()));
        });
    }

    /// <summary>
    /// Removes the temporary files that writes of <paramref name="path"/> by processes no longer running left behind
    /// (<c>.NAME.PID.tmp</c> next to it); returns their paths (<see cref="SafeFile.RemoveStale"/>).
    /// </summary>
    public static IReadOnlyList<string> RemoveStale(string path) => SafeFile.RemoveStale(path);

    static string SiteName(int k) => $"site.{k}";

    static byte[] LittleEndian(long x)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, x);
        return b;
    }

    /// <summary>
    /// Reads a checkpoint; the MPS comes back left-canonical as saved. Throws <see cref="InvalidDataException"/> with
    /// a message naming the file and the field when the file is not a valid checkpoint, and
    /// <see cref="MemoryLimitException"/> when its tensors would not fit in memory.
    /// </summary>
    public static (CheckpointState State, Mps Model) Load(string path)
    {
        NativeLoader.EnsureLoaded();
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such checkpoint");
        InvalidDataException Bad(string message) => new($"{path}: {message}");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (!stream.CanSeek)
            throw Bad("not a regular file");
        long length = stream.Length;
        var prefix = new byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw Bad($"not a checkpoint: {length} bytes, too short for a safetensors header");
        if (prefix.AsSpan(0, 4).SequenceEqual("TNBM"u8))
            throw Bad("a checkpoint in the format of earlier versions of tn (TNBM, version 1), which this tn no longer reads; start the run again");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(length - 8))
            throw Bad($"header length: {headerLength} bytes, but the file has {length - 8} after it");
        if (headerLength > MaxHeaderBytes)
            throw Bad($"header length: {headerLength} bytes, over the {MaxHeaderBytes} a safetensors header may have");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try
        {
            // Strict UTF-8 first: the JSON reader accepts invalid sequences inside strings until they are read.
            _ = new UTF8Encoding(false, true).GetCharCount(headerBytes);
            header = JsonNode.Parse(headerBytes) as JsonObject ?? throw Bad("header: not a JSON object");
        }
        catch (DecoderFallbackException)
        {
            throw Bad("header: not UTF-8 text");
        }
        catch (JsonException e)
        {
            throw Bad($"header: not valid JSON ({e.Message})");
        }
        long dataStart = 8 + (long)headerLength;
        long dataLength = length - dataStart;

        var meta = header["__metadata__"] as JsonObject ?? throw Bad("__metadata__: missing (not a tn checkpoint)");
        string Meta(string key) => meta[key] is JsonValue v && v.TryGetValue<string>(out var text) ? text
            : throw Bad($"__metadata__.{key}: missing or not a string");
        if (Meta("format") != Format)
            throw Bad($"__metadata__.format: '{Meta("format")}', not a tn Born-machine checkpoint ({Format})");
        if (Meta("version") != Version.ToString(CultureInfo.InvariantCulture))
            throw Bad($"__metadata__.version: checkpoint format version {Meta("version")}, this tn reads version {Version}");
        CheckpointState state;
        var stateText = Meta("state");
        try
        {
            state = JsonSerializer.Deserialize<CheckpointState>(stateText, Json) ?? throw Bad("__metadata__.state: null");
        }
        catch (JsonException e)
        {
            throw Bad($"__metadata__.state: unreadable ({e.Message})");
        }
        var hash = Meta("sha256");

        // The sites: site.0 … site.(n-1), F64, three dimensions, offsets that tile the data exactly.
        int n = header.Count - 1;
        if (n < 2)
            throw Bad($"tensors: {n} site(s); an MPS has at least two");
        var shapes = new long[n][];
        var spans = new (long Begin, long End)[n];
        BigInteger total = 0;
        for (int k = 0; k < n; k++)
        {
            var name = SiteName(k);
            var site = header[name] as JsonObject ?? throw Bad($"{name}: missing (the header's tensors must be site.0 … site.{n - 1})");
            if (site["dtype"] is not JsonValue dt || !dt.TryGetValue<string>(out var dtype) || dtype != "F64")
                throw Bad($"{name}.dtype: must be F64");
            shapes[k] = Longs(site["shape"], 3, $"{name}.shape", Bad);
            var offsets = Longs(site["data_offsets"], 2, $"{name}.data_offsets", Bad);
            var bytes = shapes[k].Aggregate(BigInteger.One, (a, b) => a * b) * sizeof(double);
            if (offsets[0] > offsets[1] || offsets[1] > dataLength)
                throw Bad($"{name}.data_offsets: [{offsets[0]}, {offsets[1]}] lies outside the {dataLength} bytes of data");
            if (offsets[1] - offsets[0] != bytes)
                throw Bad($"{name}.data_offsets: [{offsets[0]}, {offsets[1]}] holds {offsets[1] - offsets[0]} bytes, but shape ({string.Join(", ", shapes[k])}) needs {bytes}");
            if (offsets[0] != (k == 0 ? 0 : spans[k - 1].End))
                throw Bad($"{name}.data_offsets: starts at {offsets[0]}, not where {(k == 0 ? "the data begins (0)" : $"site.{k - 1} ends ({spans[k - 1].End})")}");
            if (shapes[k][1] < 1 || shapes[k][0] < 1 || shapes[k][2] < 1)
                throw Bad($"{name}.shape: ({string.Join(", ", shapes[k])}) has an empty dimension");
            if (k > 0 && shapes[k][0] != shapes[k - 1][2])
                throw Bad($"{name}.shape: left bond {shapes[k][0]} differs from site.{k - 1}'s right bond {shapes[k - 1][2]}");
            spans[k] = (offsets[0], offsets[1]);
            total += bytes;
        }
        if (shapes[0][0] != 1 || shapes[n - 1][2] != 1)
            throw Bad("shape: the end sites must have outer bond dimension 1");
        if (spans[n - 1].End != dataLength)
            throw Bad($"data: the sites end at byte {spans[n - 1].End}, but the file holds {dataLength} bytes of data");
        CheckState(state, n, Bad);
        if (shapes.Any(s => s[0] * s[1] * s[2] > Array.MaxLength))
            throw Bad("shape: a site has more values than one array holds");
        // The values twice: read, then copied into a tensor.
        MemoryGuard.Check(total * 2, $"the checkpoint {path} ({n} sites)");

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(stateText));
        var values = new double[n][];
        for (int k = 0; k < n; k++)
        {
            values[k] = new double[shapes[k][0] * shapes[k][1] * shapes[k][2]];
            var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values[k].AsSpan());
            stream.Position = dataStart + spans[k].Begin;
            stream.ReadExactly(raw);
            foreach (var d in shapes[k])
                sha.AppendData(LittleEndian(d));
            sha.AppendData(raw);
        }
        if (!string.Equals(Convert.ToHexStringLower(sha.GetHashAndReset()), hash, StringComparison.OrdinalIgnoreCase))
            throw Bad("__metadata__.sha256: the checksum does not match the contents (the file is corrupt)");
        foreach (var v in values)
            if (v.Any(x => !double.IsFinite(x)))
                throw Bad("data: a site holds a value that is not finite");
        var sites = values.Select((v, k) => tensor(v, shapes[k], ScalarType.Float64)).ToList();
        return (state, new Mps(sites, n - 1));
    }

    /// A JSON array of exactly `count` non-negative int64 values.
    static long[] Longs(JsonNode? node, int count, string field, Func<string, InvalidDataException> bad)
    {
        if (node is not JsonArray a || a.Count != count)
            throw bad($"{field}: must be an array of {count} integers");
        var result = new long[count];
        for (int k = 0; k < count; k++)
            if (a[k] is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !long.TryParse(v.ToJsonString(), NumberStyles.None, CultureInfo.InvariantCulture, out result[k]))
                throw bad($"{field}[{k}]: {a[k]?.ToJsonString() ?? "null"} is not an integer from 0 to 2^63 - 1");
        return result;
    }

    /// The state must describe n sites and be one a trainer can continue or sample from.
    static void CheckState(CheckpointState s, int n, Func<string, InvalidDataException> bad)
    {
        if (s.SitePixels.Length != n)
            throw bad($"__metadata__.state.SitePixels: {s.SitePixels.Length} entries for {n} sites");
        var seen = new bool[n];
        foreach (var p in s.SitePixels)
        {
            if (p < 0 || p >= n || seen[p])
                throw bad($"__metadata__.state.SitePixels: {p} is not a distinct pixel from 0 to {n - 1}");
            seen[p] = true;
        }
        if (s.ImageWidth < 0 || s.ImageHeight < 0 || (long)s.ImageWidth * s.ImageHeight > n)
            throw bad($"__metadata__.state.ImageWidth/ImageHeight: {s.ImageWidth} × {s.ImageHeight} for {n} pixels");
        if (s.History.Length == 0)
            throw bad("__metadata__.state.History: empty (it holds loop 0 at least)");
        if (s.Options is null)
            throw bad("__metadata__.state.Options: missing");
        if (s.Options.Validate() is { Count: > 0 } problems)
            throw bad($"__metadata__.state.Options: {string.Join("; ", problems)}");
        if (!(s.LearningRate > 0 && double.IsFinite(s.LearningRate)))
            throw bad($"__metadata__.state.LearningRate: {s.LearningRate} is not a positive number");
        if (s.Threads < 0)
            throw bad($"__metadata__.state.Threads: {s.Threads}");
        if (s.Overrides.Any(o => o is null || !o.Contains('=')))
            throw bad("__metadata__.state.Overrides: each must be name=value");
    }
}
