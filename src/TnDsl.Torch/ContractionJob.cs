using System.Security.Cryptography;
using System.Text;
using TnDsl.Api;
using static TorchSharp.torch;

namespace TnDsl.Torch;

/// <summary>
/// Everything needed to contract a network, as one value that travels as bytes (<see cref="ToBytes"/>): the network's
/// source text and the text of every file it <c>use</c>s (whoever runs the job compiles from this bundle and never
/// reads a file), the parameter overrides, the network's name, the plan made once by the client (its path and
/// sliced indices, replayed as they are, so every runner executes the very same steps and slices), the dtype, the
/// weights (a TorchSharp state dict, or none for weights drawn from <see cref="Seed"/>) and the chunk size (see
/// <see cref="ISliceWork"/>). Open it with <see cref="ContractionJobs.Open"/>.
/// </summary>
public sealed record ContractionJob
{
    /// <summary>The version of the byte format written by <see cref="ToBytes"/>; others are refused.</summary>
    public const ushort FormatVersion = 1;

    /// <summary>The name of the main file (as the client named it; used in diagnostics and to resolve <c>use</c>).</summary>
    public required string File { get; init; }
    /// <summary>The main file's text.</summary>
    public required string Text { get; init; }
    /// <summary>Every file the main file uses, directly or not: (name as the compiler asks for it, text).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Uses { get; init; } = [];
    /// <summary>Parameter overrides (name, value text), as <c>--set</c> or <see cref="ContractionJobs.Options.Overrides"/> gave them.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Overrides { get; init; } = [];
    /// <summary>
    /// How a mistake in a job's overrides is named when the job is opened (<c>job overrides(1,1): … override L=x: …</c>):
    /// they were checked when the job was made, so only a job made by another build, or by hand, can have one, and
    /// whoever opens it knows them as the job's.
    /// </summary>
    public static OverrideOrigin OverridesOrigin { get; } =
        new("job overrides", "override ", "give `{0}` a value in the job's overrides");
    /// <summary>The network of the file to contract; null for the last one declared.</summary>
    public string? Network { get; init; }
    /// <summary>The plan's pairwise steps (<see cref="PlanView.Pairs"/>).</summary>
    public required IReadOnlyList<(int Left, int Right)> Path { get; init; }
    /// <summary>The network index ids the plan slices (<see cref="PlanView.SlicedLabels"/>); empty for none.</summary>
    public IReadOnlyList<int> Sliced { get; init; } = [];
    /// <summary>The dtype the contraction runs in (float64 or float32).</summary>
    public ScalarType DType { get; init; } = ScalarType.Float64;
    /// <summary>The weights and consts as a TorchSharp state dict (<c>Module.save</c>'s format), keyed by parameter
    /// name; null draws them from <see cref="Seed"/> with the file's initialisers.</summary>
    public byte[]? Weights { get; init; }
    /// <summary>The seed of the initialisers (weights not in <see cref="Weights"/>, random consts).</summary>
    public long Seed { get; init; }
    /// <summary>Slices per chunk (at least 1), chosen by the client.</summary>
    public long ChunkSize { get; init; } = 1;

    /// <summary>The job as bytes: a magic and <see cref="FormatVersion"/>, the fields, and a SHA-256 of all before it.</summary>
    public byte[] ToBytes()
    {
        if (ChunkSize < 1)
            throw new ArgumentException($"the chunk size must be at least 1, not {ChunkSize}");
        if (DType is not (ScalarType.Float64 or ScalarType.Float32))
            throw new ArgumentException($"a job runs in float64 or float32, not {DType}");
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(File);
            w.Write(Text);
            WritePairs(w, Uses);
            WritePairs(w, Overrides);
            w.Write(Network is not null);
            if (Network is not null)
                w.Write(Network);
            w.Write(Path.Count);
            foreach (var (a, b) in Path)
            {
                w.Write(a);
                w.Write(b);
            }
            w.Write(Sliced.Count);
            foreach (var s in Sliced)
                w.Write(s);
            w.Write((byte)DType);
            w.Write(Weights is null ? -1 : Weights.Length);
            if (Weights is not null)
                w.Write(Weights);
            w.Write(Seed);
            w.Write(ChunkSize);
        }
        var body = stream.ToArray();
        return [.. body, .. SHA256.HashData(body)];
    }

    /// <summary>
    /// Reads bytes written by <see cref="ToBytes"/>. Throws <see cref="InvalidDataException"/> for anything else: a
    /// wrong magic or version, a checksum that does not match, a length that runs past the buffer (checked before
    /// anything is allocated), bytes left over, or a field out of range.
    /// </summary>
    public static ContractionJob FromBytes(byte[] bytes)
    {
        const int hash = 32;
        if (bytes.Length < Magic.Length + sizeof(ushort) + hash || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw Corrupt("it does not start as a TnDsl contraction job");
        var version = BitConverter.ToUInt16(bytes, Magic.Length);
        if (version != FormatVersion)
            throw Corrupt($"format version {version}, this build reads version {FormatVersion}");
        var body = bytes.AsSpan(0, bytes.Length - hash);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - hash)))
            throw Corrupt("its checksum does not match its contents");
        var r = new Reader(bytes, Magic.Length + sizeof(ushort), bytes.Length - hash);
        var job = new ContractionJob
        {
            File = r.String(),
            Text = r.String(),
            Uses = r.Pairs(),
            Overrides = r.Pairs(),
            Network = r.Bool() ? r.String() : null,
            Path = r.Array(8, () => (r.Int(), r.Int())),
            Sliced = r.Array(4, r.Int),
            DType = (ScalarType)r.Byte(),
            Weights = r.Bytes(),
            Seed = r.Long(),
            ChunkSize = r.Long(),
        };
        r.End();
        if (job.ChunkSize < 1)
            throw Corrupt($"chunk size {job.ChunkSize}");
        if (job.DType is not (ScalarType.Float64 or ScalarType.Float32))
            throw Corrupt($"dtype {(int)job.DType}");
        if (job.Path.Any(p => p.Left < 0 || p.Right < 0) || job.Sliced.Any(s => s < 0))
            throw Corrupt("a negative position in its plan");
        return job;
    }

    /// <summary>The SHA-256 of the job's bytes, in hex: the same job gives the same hash (a resume record and a worker's
    /// cache are keyed by it).</summary>
    public string Hash => Convert.ToHexString(SHA256.HashData(ToBytes()));

    /// <summary>Slices per chunk when the client does not choose: aligned with the plan's loop order so that reuse
    /// across slices survives chunking (see <see cref="SliceChunking.DefaultChunkSize"/>), the labels' sizes taken
    /// from the network. 1 for a plan of more slices than can be run (opening it refuses it).</summary>
    public static long DefaultChunkSize(PlanView plan, NetworkView network) =>
        plan.Slices > long.MaxValue ? 1 : SliceChunking.Of(plan, l => network.Indices[l].Size).DefaultChunkSize();

    /// <summary>The default before chunks were aligned with the loop order, kept to compare with: one slice per chunk
    /// up to 4096 slices, then chunks of equal size so that there are at most 4096.</summary>
    public static long UnalignedChunkSize(long slices) => Math.Max(1, (slices + SliceChunking.MaxChunks - 1) / SliceChunking.MaxChunks);

    static readonly byte[] Magic = "TNJOB\n"u8.ToArray();

    static InvalidDataException Corrupt(string why) => new($"not a valid contraction job: {why}");

    static void WritePairs(BinaryWriter w, IReadOnlyList<KeyValuePair<string, string>> pairs)
    {
        w.Write(pairs.Count);
        foreach (var (k, v) in pairs)
        {
            w.Write(k);
            w.Write(v);
        }
    }

    /// Reads the body, checking every length against what is left before allocating.
    sealed class Reader(byte[] bytes, int position, int end)
    {
        int at = position;

        ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > end - at)
                throw Corrupt($"a field of {n} bytes at offset {at} runs past its end");
            var span = bytes.AsSpan(at, n);
            at += n;
            return span;
        }

        public byte Byte() => Take(1)[0];
        public bool Bool() => Byte() switch { 0 => false, 1 => true, var b => throw Corrupt($"a flag of value {b} at offset {at - 1}") };
        public int Int() => BitConverter.ToInt32(Take(4));
        public long Long() => BitConverter.ToInt64(Take(8));

        /// A string as BinaryWriter writes it: its UTF-8 length as a 7-bit encoded integer, then the bytes.
        public string String()
        {
            int length = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (shift > 28)
                    throw Corrupt($"a string length at offset {at} is malformed");
                var b = Byte();
                length |= (b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                    break;
            }
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(length));
            }
            catch (DecoderFallbackException)
            {
                throw Corrupt($"a string before offset {at} is not UTF-8");
            }
        }

        public T[] Array<T>(int minBytes, Func<T> read)
        {
            int count = Int();
            if (count < 0 || count > (end - at) / minBytes)
                throw Corrupt($"a count of {count} at offset {at - 4} is more than the bytes left");
            var items = new T[count];
            for (int k = 0; k < count; k++)
                items[k] = read();
            return items;
        }

        public KeyValuePair<string, string>[] Pairs() => Array(2, () => new KeyValuePair<string, string>(String(), String()));

        public byte[]? Bytes()
        {
            int length = Int();
            return length == -1 ? null : Take(length).ToArray();
        }

        public void End()
        {
            if (at != end)
                throw Corrupt($"{end - at} bytes left over after its last field");
        }
    }
}

/// <summary>Making contraction jobs from <c>.tn</c> files, and opening them for sliced execution.</summary>
public static class ContractionJobs
{
    /// <summary>What <see cref="Create"/> plans with; the defaults suit <c>tn contract</c>.</summary>
    public sealed record Options
    {
        /// <summary>The network of the file (null: the last one declared).</summary>
        public string? Network { get; init; }
        /// <summary>The name the file has in diagnostics and in the job (null: its path): <c>tn contract</c> shows an
        /// installed example as the path its user wrote (see <see cref="Frontend.CheckAs"/>).</summary>
        public string? ShownAs { get; init; }
        /// <summary>The file's text when it is already read (a pipe, which cannot be read again); null reads <c>path</c>.</summary>
        public string? Text { get; init; }
        /// <summary>Parameter overrides (name, value text).</summary>
        public IReadOnlyList<KeyValuePair<string, string>> Overrides { get; init; } = [];
        /// <summary>How a mistake in <see cref="Overrides"/> is named: the API's by default (<c>overrides(1,1): …
        /// override L=x: …</c>); <c>tn contract</c> gives <see cref="OverrideOrigin.CommandLine"/>.</summary>
        public OverrideOrigin OverrideOrigin { get; init; } = OverrideOrigin.Api;
        /// <summary>The dtype of the contraction (float64 by default).</summary>
        public ScalarType DType { get; init; } = ScalarType.Float64;
        /// <summary>The planner's optimizer.</summary>
        public string Optimizer { get; init; } = "auto";
        /// <summary>Seed of the planner's random choices.</summary>
        public int PlanSeed { get; init; }
        /// <summary>The weights as a TorchSharp state dict, or null for random ones from <see cref="Seed"/>.</summary>
        public byte[]? Weights { get; init; }
        /// <summary>Seed of the initialisers.</summary>
        public long Seed { get; init; }
        /// <summary>Slices per chunk; null for <see cref="ContractionJob.DefaultChunkSize"/>.</summary>
        public long? ChunkSize { get; init; }
        /// <summary>A plan to replay instead of planning (a resumed run takes its record's, see
        /// <see cref="ContractionJobRecord"/>), with its chunk size; null plans afresh.</summary>
        public ContractionJobRecord? Replay { get; init; }
    }

    /// <summary>
    /// The job of a <c>.tn</c> file: the file and every file it uses read once, here, and the network planned once,
    /// sliced so that the planner's estimate of one slice fits <see cref="MemoryGuard.Limit"/> (see
    /// <see cref="MemoryGuard.Fit"/>). Throws <see cref="TnException"/> for errors in the input and
    /// <see cref="MemoryLimitException"/> when no plan fits.
    /// </summary>
    public static (ContractionJob Job, PlanView Plan, NetworkView Network) Create(string path, Options options)
    {
        var name = options.ShownAs ?? path;
        var check = options.Text is { } text ? Frontend.CheckText(name, text, options.Overrides, options.Network, options.OverrideOrigin)
            : Frontend.CheckAs(path, name, options.Overrides, options.Network, options.OverrideOrigin);
        var network = check.OrThrow();
        Closed(network);
        var what = $"{network.Name} ({options.DType.ToString().ToLowerInvariant()})";
        PlanView plan;
        if (options.Replay is { } replay)
        {
            plan = Planner.Replay(network, replay.Path.ToArray(), replay.Sliced);
            MemoryGuard.Check(MemoryGuard.Needed(plan, options.DType, false), $"{what}, one slice of the recorded plan");
        }
        else
        {
            // What no plan goes under (the weights and consts, and the result) is checked before the planner runs: a
            // 16x16 lattice with D = 1000 was refused for its weights after 44 s of search.
            MemoryGuard.CheckFloor(NetworkAdapter.FromFlat(network), null, options.DType, false, what);
            plan = MemoryGuard.Fit(limit => NetworkAdapter.Plan(network, options.Optimizer, null, options.PlanSeed, limit),
                null, options.DType, false, what);
        }
        var job = new ContractionJob
        {
            File = name,
            Text = check.Texts[name],
            Uses = check.Texts.Where(s => s.Key != name).OrderBy(s => s.Key, StringComparer.Ordinal).ToArray(),
            Overrides = options.Overrides.ToArray(),
            Network = options.Network,
            Path = plan.Pairs.Select(p => (p.Item1, p.Item2)).ToArray(),
            Sliced = plan.SlicedLabels.ToArray(),
            DType = options.DType,
            Weights = options.Weights,
            Seed = options.Seed,
            ChunkSize = options.Replay?.ChunkSize ?? options.ChunkSize ?? ContractionJob.DefaultChunkSize(plan, network),
        };
        return (job, plan, network);
    }

    /// <summary>
    /// Opens a job for sliced execution in this process: compiles its bundle (no file is read), replays its plan
    /// (refused if the replay differs), builds the module in the job's dtype, and loads its weights. Throws
    /// <see cref="TnException"/> for errors in the bundle, <see cref="InvalidDataException"/> for a plan or weights
    /// that do not fit the network, and <see cref="MemoryLimitException"/> when one slice is over this process's
    /// memory limit.
    /// </summary>
    public static ISliceWork Open(ContractionJob job)
    {
        var network = Frontend.LoadBundle(job.File, job.Text, job.Uses.ToDictionary(), job.Overrides, job.Network, ContractionJob.OverridesOrigin);
        Closed(network);
        var plan = Planner.Replay(network, job.Path.ToArray(), job.Sliced);
        if (!plan.Pairs.Select(p => (p.Item1, p.Item2)).SequenceEqual(job.Path) || !plan.SlicedLabels.SequenceEqual(job.Sliced))
            throw new InvalidDataException($"{network.Name}: the job's plan does not replay on its network (a different build made it?)");
        MemoryGuard.Check(MemoryGuard.Needed(plan, job.DType, false), $"{network.Name}: one slice of the job");
        NetworkSpec spec;
        try
        {
            spec = NetworkAdapter.FromFlat(network);
        }
        catch (NotSupportedException e)
        {
            throw new TnException($"{network.Name}: {e.Message} is not supported by the TorchSharp backend");
        }
        NetworkModule module;
        try
        {
            module = new NetworkModule(spec, plan, new NetworkModuleOptions { DType = job.DType, Seed = job.Seed });
        }
        catch (ArgumentException e)
        {
            throw new TnException($"{network.Name}: {e.Message}");
        }
        if (job.Weights is { } weights)
        {
            try
            {
                // Checked first, so that a truncated file or a tensor of another shape is named (libtorch says only
                // "mismatched tensor shape").
                var entries = StateDictFile.Read(new MemoryStream(weights, writable: false), "the weights");
                if (StateDictFile.Mismatch(module.state_dict().Select(p => (p.Key, p.Value.shape, p.Value.dtype)), entries) is { } mismatch)
                    throw new InvalidDataException($"{network.Name}: the weights do not fit the network: {mismatch}");
                using var reader = new BinaryReader(new MemoryStream(weights, writable: false));
                module.load(reader, strict: true);
            }
            catch (InvalidDataException)
            {
                module.Dispose();
                throw;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or IOException)
            {
                module.Dispose();
                throw new InvalidDataException($"{network.Name}: the weights do not fit the network: {e.Message}");
            }
        }
        return new ModuleSliceWork(module, job.ChunkSize);
    }

    /// Refuses a network that needs inputs or has dynamic (batch) indices: a job contracts weights and consts alone.
    static void Closed(NetworkView network)
    {
        var inputs = network.Tensors.Where(t => t.IsInput).Select(t => t.Name).ToArray();
        if (inputs.Length > 0)
            throw new TnException($"{network.Name}: a contraction takes weights and consts only; it has input(s) {string.Join(", ", inputs.Take(3))}{(inputs.Length > 3 ? ", …" : "")} (feed inputs with tn run, or declare them as weights)");
        var dynamic = network.Indices.Where(i => i.IsDynamic).Select(i => i.Name).ToArray();
        if (dynamic.Length > 0)
            throw new TnException($"{network.Name}: a contraction takes fixed sizes only; {string.Join(", ", dynamic)} is dynamic");
    }
}

/// <summary>A <see cref="NetworkModule"/>'s sliced plan as <see cref="ISliceWork"/>: chunk <c>c</c> is
/// <see cref="NetworkModule.ForwardSlices"/> over its slices, in float64. One chunk at a time (calls are serialised).
/// It counts the steps each call ran (<see cref="NetworkModule.StepRuns"/>) and their flops.</summary>
sealed class ModuleSliceWork : ISliceWork
{
    readonly NetworkModule module;
    readonly object gate = new();
    readonly double[] stepFlops;
    ExecutedWork executed;

    public ModuleSliceWork(NetworkModule module, long chunkSize)
    {
        if (chunkSize < 1)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), "the chunk size must be at least 1");
        this.module = module;
        Slices = (long)module.ExecutionPlan.Slices;
        ChunkSize = chunkSize;
        Chunks = (Slices + chunkSize - 1) / chunkSize;
        Shape = module.Spec.Output.Select(l => module.Spec.Indices[l].Size).ToArray();
        // Each step's flops in one slice, by the plan's pairwise steps (the module runs them in the same order); a
        // module that completed a partial plan with steps of its own has its runs counted, not their flops.
        var flops = SliceChunking.Of(module.ExecutionPlan, l => module.Spec.Indices[l].Size).StepFlops;
        stepFlops = flops.Count == module.Plan.Count ? flops.Select(f => (double)f).ToArray() : new double[module.Plan.Count];
    }

    public long Slices { get; }
    public long ChunkSize { get; }
    public long Chunks { get; }
    public long[] Shape { get; }

    public ExecutedWork Executed
    {
        get
        {
            lock (gate)
                return executed;
        }
    }

    /// Adds the steps the module ran in its last call (under the gate).
    void Count()
    {
        var runs = module.StepRuns;
        double flops = 0;
        for (int s = 0; s < runs.Count; s++)
            flops += runs[s] * stepFlops[s];
        executed += new ExecutedWork(runs.Sum(), flops);
    }

    public double[] ContractChunk(long chunk)
    {
        if (chunk < 0 || chunk >= Chunks)
            throw new ArgumentOutOfRangeException(nameof(chunk), $"chunk {chunk} is not one of the {Chunks} chunks");
        long first = chunk * ChunkSize;
        lock (gate)
        {
            using var scope = NewDisposeScope();
            var value = module.ForwardSlices([], first, Math.Min(ChunkSize, Slices - first));
            Count();
            return value.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        }
    }

    /// Runs of consecutive chunks in one pass of their slices (see NetworkModule.ForwardSliceRanges): a step is run
    /// again only where a sliced value it depends on changed, across the chunks' boundaries too.
    public double[][] ContractChunks(IReadOnlyList<long> chunks)
    {
        foreach (var chunk in chunks)
            if (chunk < 0 || chunk >= Chunks)
                throw new ArgumentOutOfRangeException(nameof(chunks), $"chunk {chunk} is not one of the {Chunks} chunks");
        var values = new double[chunks.Count][];
        lock (gate)
        {
            for (int start = 0, end; start < chunks.Count; start = end)
            {
                for (end = start + 1; end < chunks.Count && chunks[end] == chunks[end - 1] + 1; end++)
                {
                }
                long first = chunks[start] * ChunkSize;
                var counts = Enumerable.Range(start, end - start).Select(i => Math.Min(ChunkSize, Slices - chunks[i] * ChunkSize)).ToArray();
                using var scope = NewDisposeScope();
                var sums = module.ForwardSliceRanges([], first, counts);
                Count();
                for (int i = start; i < end; i++)
                    values[i] = sums[i - start].to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
            }
        }
        return values;
    }

    public void Dispose() => module.Dispose();
}
