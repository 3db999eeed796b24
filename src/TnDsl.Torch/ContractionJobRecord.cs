using System.Text.Json;
using System.Text.Json.Serialization;

namespace TnDsl.Torch;

/// <summary>
/// The chunks of a job finished so far and their results, added in chunk order whoever finished them and in whatever
/// order: the chunks <c>[0, Folded)</c> are held as their running sum (added one after another, chunk order), and
/// chunks finished beyond that as their own results until the gap before them is filled. So the total is the same
/// float64 bits however the chunks were spread, and an interrupted run saved with <see cref="Save"/> continues from
/// <see cref="Load"/> with nothing lost. The record names its job by <see cref="ContractionJob.Hash"/> and keeps the
/// job's plan, so a resumed run replays the very same slices.
/// </summary>
public sealed class ContractionJobRecord
{
    /// <summary>The version of the file written by <see cref="Save"/>.</summary>
    public const int FormatVersion = 1;

    readonly SortedDictionary<long, double[]> ahead = [];
    double[]? folded;

    /// <summary>An empty record of <paramref name="job"/>, whose results have <paramref name="length"/> values.</summary>
    public ContractionJobRecord(ContractionJob job, long chunks, long length)
    {
        if (chunks < 1 || length < 0)
            throw new ArgumentOutOfRangeException(nameof(chunks), "a job has at least one chunk and a result of at least no value");
        JobHash = job.Hash;
        Path = job.Path.ToArray();
        Sliced = job.Sliced.ToArray();
        ChunkSize = job.ChunkSize;
        Chunks = chunks;
        Length = length;
    }

    ContractionJobRecord(string hash, (int, int)[] path, int[] sliced, long chunkSize, long chunks, long length)
    {
        JobHash = hash;
        Path = path;
        Sliced = sliced;
        ChunkSize = chunkSize;
        Chunks = chunks;
        Length = length;
    }

    /// <summary>The <see cref="ContractionJob.Hash"/> of the job this records.</summary>
    public string JobHash { get; }
    /// <summary>The job's plan: its path.</summary>
    public IReadOnlyList<(int Left, int Right)> Path { get; }
    /// <summary>The job's plan: its sliced indices.</summary>
    public IReadOnlyList<int> Sliced { get; }
    /// <summary>The job's slices per chunk.</summary>
    public long ChunkSize { get; }
    /// <summary>The job's number of chunks.</summary>
    public long Chunks { get; }
    /// <summary>The number of values of each chunk's result.</summary>
    public long Length { get; }
    /// <summary>How many leading chunks are added into the running sum.</summary>
    public long Folded { get; private set; }
    /// <summary>The number of chunks finished.</summary>
    public long Finished => Folded + ahead.Count;
    /// <summary>True when every chunk is finished.</summary>
    public bool IsComplete => Folded == Chunks;

    /// <summary>Whether chunk <paramref name="chunk"/> is finished.</summary>
    public bool IsFinished(long chunk) => chunk < Folded || ahead.ContainsKey(chunk);

    /// <summary>The chunks not finished yet, in order.</summary>
    public IEnumerable<long> Unfinished()
    {
        for (long c = Folded; c < Chunks; c++)
            if (!ahead.ContainsKey(c))
                yield return c;
    }

    /// <summary>Records chunk <paramref name="chunk"/>'s result (a chunk recorded twice must give the same values; the
    /// first is kept), and adds every chunk that is now next in order into the running sum.</summary>
    public void Add(long chunk, double[] values)
    {
        if (chunk < 0 || chunk >= Chunks)
            throw new ArgumentOutOfRangeException(nameof(chunk), $"chunk {chunk} is not one of the {Chunks} chunks");
        if (values.LongLength != Length)
            throw new ArgumentException($"chunk {chunk} has {values.LongLength} values, the job's result {Length}");
        if (IsFinished(chunk))
            return;
        ahead[chunk] = (double[])values.Clone();
        while (ahead.Remove(Folded, out var next))
        {
            if (folded is null)
                folded = next;
            else
                for (long i = 0; i < folded.LongLength; i++)
                    folded[i] += next[i];
            Folded++;
        }
    }

    /// <summary>The value: every chunk's result added in chunk order. Throws when chunks are missing.</summary>
    public double[] Total() =>
        IsComplete ? (double[])folded!.Clone() : throw new InvalidOperationException($"{Chunks - Finished} of {Chunks} chunks are not finished");

    /// <summary>Writes the record to <paramref name="path"/> atomically: to a temporary file beside it, then renamed
    /// over it, so an interruption leaves the old record or the new one, never half of one.</summary>
    public void Save(string path)
    {
        var file = new RecordFile
        {
            Version = FormatVersion,
            Job = JobHash,
            Path = Path.Select(p => new[] { p.Left, p.Right }).ToArray(),
            Sliced = Sliced.ToArray(),
            ChunkSize = ChunkSize,
            Chunks = Chunks,
            Length = Length,
            Folded = Folded,
            Sum = folded,
            Ahead = ahead.Select(kv => new RecordChunk { Chunk = kv.Key, Values = kv.Value }).ToArray(),
        };
        var full = System.IO.Path.GetFullPath(path);
        var temporary = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(stream, file, Json);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }

    /// <summary>
    /// Reads a record written by <see cref="Save"/>. Throws <see cref="InvalidDataException"/> naming the file when it
    /// is not one (not JSON, another version, counts that do not agree, a chunk out of range or of the wrong length).
    /// </summary>
    public static ContractionJobRecord Load(string path)
    {
        RecordFile? file;
        try
        {
            using var stream = File.OpenRead(path);
            file = JsonSerializer.Deserialize<RecordFile>(stream, Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a contraction record ({e.Message})");
        }
        InvalidDataException Bad(string why) => new($"{path}: not a valid contraction record: {why}");
        if (file is null || file.Version != FormatVersion)
            throw Bad($"version {file?.Version}, this build reads version {FormatVersion}");
        if (file.Job is not { Length: 64 } || file.Path is null || file.Sliced is null || file.Ahead is null)
            throw Bad("a field is missing");
        if (file.ChunkSize < 1 || file.Chunks < 1 || file.Length < 0 || file.Folded < 0 || file.Folded > file.Chunks)
            throw Bad("its counts do not agree");
        if (file.Path.Any(p => p is not { Length: 2 }))
            throw Bad("its path is not a list of pairs");
        if ((file.Folded > 0) != (file.Sum is not null) || (file.Sum is { } s && s.LongLength != file.Length))
            throw Bad("its running sum does not agree with its count of chunks");
        var record = new ContractionJobRecord(file.Job, file.Path.Select(p => (p[0], p[1])).ToArray(), file.Sliced, file.ChunkSize, file.Chunks, file.Length)
        {
            folded = file.Sum,
            Folded = file.Folded,
        };
        foreach (var c in file.Ahead)
        {
            if (c.Values is null || c.Values.LongLength != file.Length || c.Chunk <= file.Folded || c.Chunk >= file.Chunks || record.ahead.ContainsKey(c.Chunk))
                throw Bad($"chunk {c.Chunk} is out of range, repeated or of the wrong length");
            record.ahead[c.Chunk] = c.Values;
        }
        return record;
    }

    static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    sealed class RecordFile
    {
        public int Version { get; set; }
        public string? Job { get; set; }
        public int[][]? Path { get; set; }
        public int[]? Sliced { get; set; }
        public long ChunkSize { get; set; }
        public long Chunks { get; set; }
        public long Length { get; set; }
        public long Folded { get; set; }
        public double[]? Sum { get; set; }
        public RecordChunk[]? Ahead { get; set; }
    }

    sealed class RecordChunk
    {
        public long Chunk { get; set; }
        public double[]? Values { get; set; }
    }
}
