using System.Text;
using System.Text.Json;
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
}

/// <summary>
/// Checkpoint files: the magic <c>TNBM</c>, a format version (int32), a UTF-8 JSON <see cref="CheckpointState"/>
/// (length-prefixed), the number of sites, then per site its shape (three int64) and its float64 values
/// (little-endian, row-major). Written to a temporary file in the same directory, flushed, then renamed over the
/// target, so an interrupted write leaves the previous checkpoint intact.
/// </summary>
public static class Checkpoint
{
    const string Magic = "TNBM";
    const int Version = 1;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        IncludeFields = false,
        // A diverged loop's NaN in the history must not make the checkpoint unwritable.
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes a checkpoint atomically.</summary>
    public static void Save(string path, CheckpointState state, Mps model)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Encoding.ASCII.GetBytes(Magic));
                w.Write(Version);
                var json = JsonSerializer.SerializeToUtf8Bytes(state, Json);
                w.Write(json.Length);
                w.Write(json);
                w.Write(model.Length);
                for (int k = 0; k < model.Length; k++)
                {
                    var t = model[k];
                    foreach (var s in t.shape)
                        w.Write(s);
                    using var c = t.contiguous();
                    var values = c.data<double>().ToArray();
                    var bytes = new byte[values.Length * sizeof(double)];
                    Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
                    w.Write(bytes);
                }
            }
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads a checkpoint; the MPS comes back left-canonical as saved. Throws <see cref="InvalidDataException"/> with a clear message when the file is not one.</summary>
    public static (CheckpointState State, Mps Model) Load(string path)
    {
        NativeLoader.EnsureLoaded();
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such checkpoint");
        using var stream = File.OpenRead(path);
        using var r = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            var magic = Encoding.ASCII.GetString(r.ReadBytes(4));
            if (magic != Magic)
                throw new InvalidDataException($"{path}: not a Born-machine checkpoint (no {Magic} header)");
            int version = r.ReadInt32();
            if (version != Version)
                throw new InvalidDataException($"{path}: checkpoint format version {version}, this tn reads version {Version}");
            int jsonLength = r.ReadInt32();
            var state = JsonSerializer.Deserialize<CheckpointState>(r.ReadBytes(jsonLength), Json)
                        ?? throw new InvalidDataException($"{path}: empty state");
            int n = r.ReadInt32();
            var sites = new List<Tensor>();
            for (int k = 0; k < n; k++)
            {
                long[] shape = [r.ReadInt64(), r.ReadInt64(), r.ReadInt64()];
                long count = shape[0] * shape[1] * shape[2];
                var bytes = r.ReadBytes(checked((int)(count * sizeof(double))));
                if (bytes.Length != count * sizeof(double))
                    throw new EndOfStreamException();
                var values = new double[count];
                Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
                sites.Add(tensor(values, shape, ScalarType.Float64));
            }
            return (state, new Mps(sites, n - 1));
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path}: the checkpoint is truncated");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: the checkpoint's state is unreadable ({e.Message})");
        }
    }
}
