namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using TnDsl.Api;
using TnDsl.Native;
using TnDsl.Torch;
using static TorchSharp.torch;

/// <summary>
/// <c>tn contract FILE [--set k=v] [--network NAME] [--weights FILE] [--seed S] [--dtype float64|float32]
/// [--memory-limit BYTES] [--optimizer NAME] [--chunk N] [--threads N] [--json] [-o OUT.npy] [--resume RECORD]</c>:
/// the value of a network of weights and consts. The network is planned once and sliced so that one slice fits the
/// memory limit, made into a <see cref="ContractionJob"/> and contracted chunk by chunk (<see cref="ISliceWork"/>),
/// the chunks added in chunk order: the reference a cluster of workers reproduces bit for bit. A closed network's
/// value is printed; open legs go to a <c>.npy</c> file. With <c>--resume</c> the finished chunks and their running
/// sum are saved as the run goes, and a run started again with the same record continues where it stopped.
/// Exit codes: 0 contracted, 1 errors in the input or a run that could not finish, 2 a usage error.
/// </summary>
public static class ContractCommand
{
    /// <summary>How often the resume record is rewritten while chunks finish (and always at the end or on Ctrl-C).</summary>
    static readonly TimeSpan SaveEvery = TimeSpan.FromSeconds(2);

    /// <summary>The <c>contract</c> verb.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var weights = TnOptions.Text("--weights", "FILE",
            "the weights and consts as a TorchSharp state dict keyed by parameter name (a trained Born machine's model.weights) [default: random from --seed]");
        var seed = TnOptions.Integer("--seed", 0, "seed of the random weights (and of random consts)", min: long.MinValue);
        var dtype = TnOptions.Choice("--dtype", "the floating-point type of the contraction", "float64", "float32");
        // The forms TN_MEMORY_LIMIT takes, read by the same parser; a percentage is of the memory available now.
        var memoryLimit = new Option<(long Bytes, string Source)?>("--memory-limit")
        {
            Description = "bytes one slice may take (512M, 2G, …, or 50% of the available memory); the plan is sliced to fit [default: the memory guard's limit, TN_MEMORY_LIMIT or 80% of the available memory]",
            HelpName = "BYTES",
            CustomParser = r =>
            {
                var text = r.Tokens.Count == 1 ? r.Tokens[0].Value.Trim() : "";
                if (MemoryGuard.ParseLimit(text, $"--memory-limit {text}") is { } limit)
                    return limit;
                r.AddError($"--memory-limit takes {MemoryGuard.LimitForms}, got '{text}'");
                return null;
            },
        };
        var optimizer = TnOptions.Optimizer();
        var chunk = TnOptions.OptionalInteger("--chunk", "slices per chunk [default: aligned with the slice loops, a product of the innermost loops' sizes: the coarsest that gives 64 chunks (or one per slice), finer while the flops grow under 1% and there are at most 4096]");
        var threads = TnOptions.ThreadCount("TorchSharp CPU threads [default: 1 under 1e8 flops, else the core count]");
        var json = TnOptions.Flag("--json", "print the result as JSON");
        var output = TnOptions.Text("--output", "OUT", "write the value to OUT as a NumPy .npy array (float64); needed when the network has open legs", "-o");
        var resume = TnOptions.Text("--resume", "RECORD",
            "keep the finished chunks in RECORD (JSON, rewritten atomically) and continue from it when it exists");
        var cluster = ContractCluster.Cluster();
        var secretFile = ContractCluster.SecretFile();
        var command = new Command("contract", "contract a network of weights and consts, sliced to a memory limit")
        {
            file, set, network, weights, seed, dtype, memoryLimit, optimizer, chunk, threads, json, output, resume, cluster, secretFile,
        };
        Cli.SetAction(command, parse => Run(new Settings(
            parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network), parse.GetValue(weights), parse.GetValue(seed),
            parse.GetValue(dtype) == "float32" ? ScalarType.Float32 : ScalarType.Float64, parse.GetValue(memoryLimit)?.Bytes,
            parse.GetValue(optimizer)!, parse.GetValue(chunk), parse.GetValue(threads), parse.GetValue(json),
            parse.GetValue(output), parse.GetValue(resume), ContractCluster.From(parse, cluster, secretFile),
            parse.GetValue(memoryLimit)?.Source),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    sealed record Settings(string File, IReadOnlyList<KeyValuePair<string, string>> Overrides, string? Network, string? Weights,
        long Seed, ScalarType DType, long? MemoryLimit, string Optimizer, long? Chunk, int? Threads, bool Json, string? Output, string? Resume,
        ContractCluster.Target? Cluster, string? MemoryLimitSource = null);

    static int Run(Settings s, TextWriter w, TextWriter err)
    {
        PlanCommand.RequireTnFile("contract", s.File);
        PlanCommand.RequireOptimizer(s.Optimizer);
        // Before any work: a result that cannot be written would be lost when the contraction ends.
        OutputPaths.Check(s.Output, "-o", s.File, s.Weights, s.Resume);
        OutputPaths.Check(s.Resume, "--resume", s.File, s.Weights);
        ContractionJobRecord? record;
        try
        {
            record = s.Resume is not null && File.Exists(s.Resume) ? ContractionJobRecord.Load(s.Resume) : null;
        }
        catch (InvalidDataException e)
        {
            err.WriteLine($"tn contract: {e.Message}; remove it to start afresh");
            return 1;
        }
        // The same command run again (its --chunk included) continues; another chunk size would not match the record.
        if (record is not null && s.Chunk is { } chunk && chunk != record.ChunkSize)
            throw new UsageException($"--chunk {chunk} with --resume {s.Resume}: the record's chunks are of {record.ChunkSize} slices, and a resumed run keeps them; leave --chunk out");
        var weights = s.Weights is null ? null : ReadInput(s.Weights, "--weights");
        // A refusal names this verb's options: the limit it was given and what else makes a slice smaller.
        using var advice = MemoryGuard.Advise(
            (s.MemoryLimit is null ? "raise the limit with --memory-limit" : "give a higher --memory-limit") +
            (s.DType == ScalarType.Float64 ? ", contract in --dtype float32 (half the bytes)" : "") + " or use smaller parameters (--set)",
            s.MemoryLimit, s.MemoryLimitSource ?? $"--memory-limit {s.MemoryLimit}");
        // Checked and planned before libtorch loads: errors in the input come first, and cheaply.
        var (job, plan, net) = ContractionJobs.Create(s.File, new ContractionJobs.Options
        {
            ShownAs = Shipped.Shown(s.File),
            Text = Shipped.ReadStream(s.File),
            Network = s.Network,
            Overrides = s.Overrides,
            OverrideOrigin = OverrideOrigin.CommandLine,
            DType = s.DType,
            Optimizer = s.Optimizer,
            Weights = weights,
            Seed = s.Seed,
            ChunkSize = s.Chunk,
            Replay = record,
        });
        if (record is not null && record.JobHash != job.Hash)
        {
            err.WriteLine($"tn contract: {s.Resume} records another job (the file, a file it uses, --set, --network, --weights, --seed or --dtype differ); " +
                          "remove it to start afresh");
            return 1;
        }
        var shape = net.Output.Select(l => net.Indices[l].Size).ToArray();
        if (shape.Length > 0 && s.Output is null)
            throw new UsageException($"{net.Name} has open legs (shape [{string.Join(", ", shape)}]): write its value with -o OUT.npy");
        NativeLoader.EnsureLoaded();
        set_num_threads(s.Threads ?? Threads.For(plan.SlicedFlops));
        ISliceWork work;
        try
        {
            work = ContractionJobs.Open(job);
        }
        catch (InvalidDataException e)
        {
            err.WriteLine($"tn contract: {(s.Weights is null ? "" : $"{s.Weights}: ")}{e.Message}");
            return 1;
        }
        using (work)
            return Contract(s, w, err, job, plan, net, work, record ?? new ContractionJobRecord(job, work.Chunks, shape.Aggregate(1L, (a, b) => a * b)));
    }

    /// <summary>The bytes of a file the verb reads, or an <see cref="IOException"/> naming it and its option.</summary>
    static byte[] ReadInput(string path, string option)
    {
        if (Directory.Exists(path))
            throw new IOException($"cannot read {path} ({option}): it is a folder, not a file");
        if (!File.Exists(path))
            throw new IOException($"cannot read {path} ({option}): no such file");
        return File.ReadAllBytes(path);
    }

    static int Contract(Settings s, TextWriter w, TextWriter err, ContractionJob job, PlanView plan, NetworkView net, ISliceWork work, ContractionJobRecord record)
    {
        long resumed = record.Finished;
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        bool interrupted = false;
        IReadOnlyList<TnDsl.Cluster.WorkerReport>? workers = null;
        ConsoleCancelEventHandler stop = (_, e) =>
        {
            e.Cancel = true;
            interrupted = true;
        };
        Console.CancelKeyPress += stop;
        // SIGTERM (kill, timeout, a service manager) stops the run as Ctrl-C does: the record is saved, exit 1. Without
        // it a --cluster client ignored SIGTERM: the client host's console lifetime took the signal and stopped the
        // connection under the scheduler, which waited on for workers it could no longer reach.
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            interrupted = true;
        });
        try
        {
            var saved = Stopwatch.StartNew();
            void RunChunks(Action<long> progress)
            {
                if (s.Cluster is { } target)
                {
                    // --cluster: the workers contract the chunks, into the same record.
                    workers = ContractCluster.Run(target, job, record, get_num_threads(), s.Resume, SaveEvery, progress, () => interrupted);
                    return;
                }
                // Consecutive chunks in batches, run in one pass of their slices so that reuse across slices carries
                // across the chunks' boundaries; a batch grows while it takes under a second (interrupts and saves
                // come between batches). The unfinished chunks are read as they are needed, never listed: a plan of
                // 4.4e12 slices has 67 million chunks of 65,536 (a list of 0.5 GB), 10^9 of 4,096.
                int size = 1;
                using var todo = record.Unfinished().GetEnumerator();
                for (bool more = todo.MoveNext(); more && !interrupted;)
                {
                    var batch = new List<long> { todo.Current };
                    while ((more = todo.MoveNext()) && batch.Count < size && todo.Current == batch[^1] + 1)
                        batch.Add(todo.Current);
                    var took = Stopwatch.StartNew();
                    var values = work.ContractChunks(batch);
                    for (int i = 0; i < batch.Count; i++)
                        record.Add(batch[i], values[i]);
                    if (took.Elapsed.TotalSeconds < 1 && size < 4096)
                        size *= 2;
                    progress(record.Finished);
                    if (s.Resume is not null && saved.Elapsed >= SaveEvery)
                    {
                        record.Save(s.Resume);
                        saved.Restart();
                    }
                }
            }
            if (ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected && record.Chunks - record.Finished > 1)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
                console.Progress()
                    .AutoClear(true)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"{net.Name}: {work.Chunks} chunks", maxValue: work.Chunks);
                        task.Value = resumed;
                        RunChunks(done => task.Value = done);
                    });
            }
            else
            {
                // Plain lines where there is no terminal: one at each tenth of the chunks.
                long shown = resumed * 10 / work.Chunks;
                RunChunks(done =>
                {
                    if (work.Chunks > 1 && done * 10 / work.Chunks > shown)
                    {
                        shown = done * 10 / work.Chunks;
                        err.WriteLine($"tn contract: {done} of {work.Chunks} chunks ({clock.Elapsed.TotalSeconds:F1} s)");
                    }
                });
            }
        }
        finally
        {
            Console.CancelKeyPress -= stop;
            if (s.Resume is not null)
                record.Save(s.Resume);
        }
        if (!record.IsComplete)
        {
            err.WriteLine($"tn contract: interrupted after {record.Finished} of {work.Chunks} chunks" +
                          (s.Resume is not null ? $"; run the same command again to continue from {s.Resume}" : "; give --resume RECORD to keep finished chunks"));
            return 1;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var value = record.Total();
        if (s.Output is not null)
            WriteNpy(s.Output, work.Shape, value);
        long ran = Math.Min(work.Slices, (work.Chunks - resumed) * work.ChunkSize);
        // The steps run here, or on the workers: a sliced plan's reuse across slices counted.
        var executed = workers is null ? work.Executed
            : new ExecutedWork(workers.Sum(r => r.StepRuns), workers.Sum(r => r.Flops));
        var sliced = plan.SlicedLabels.Select(l => net.Indices[l].Name).ToArray();
        if (s.Json)
            WriteJson(w, s, job, plan, net, work, value, sliced, resumed, executed, seconds, cpuSeconds, workers);
        else
        {
            w.WriteLine($"network {net.Name}: {net.Tensors.Length} tensor{(net.Tensors.Length == 1 ? "" : "s")}, {s.DType.ToString().ToLowerInvariant()}, {get_num_threads()} thread{(get_num_threads() == 1 ? "" : "s")}");
            if (work.Shape.Length == 0)
                w.WriteLine($"  value       {Number(value[0])}");
            else
                w.WriteLine($"  value       shape [{string.Join(", ", work.Shape)}] written to {s.Output}");
            if (s.Output is not null && work.Shape.Length == 0)
                w.WriteLine($"  written     {s.Output}");
            w.WriteLine($"  weights     {(s.Weights is null ? $"random (seed {s.Seed})" : s.Weights)}");
            w.WriteLine($"  plan        {plan.Optimizer}{(plan.Chosen == plan.Optimizer ? "" : $" (chose {plan.Chosen})")}: {Counted(plan.Flops, "flop")}, " +
                        $"largest intermediate {Counted(plan.LargestIntermediate, "element")}");
            if (plan.IsSliced)
                w.WriteLine($"  sliced      {work.Slices} slices over {string.Join(", ", sliced)}: {Counted(plan.SlicedFlops, "flop")} ({plan.SliceOverhead:0.##}x), " +
                            $"largest intermediate {Counted(plan.SliceLargestIntermediate, "element")} per slice");
            w.WriteLine($"  chunks      {work.Chunks} of {work.ChunkSize} slice{(work.ChunkSize == 1 ? "" : "s")}, added in chunk order" +
                        (resumed > 0 ? $"; {resumed} taken from {s.Resume}" : ""));
            if (plan.IsSliced)
                w.WriteLine($"  executed    {executed.StepRuns:N0} step runs, {Figure(new BigInteger(executed.Flops))} flops (reuse across slices)");
            w.WriteLine($"  memory      {MemoryGuard.Format(MemoryGuard.Needed(plan, s.DType, training: false))} by the planner's estimate (limit {MemoryGuard.Format(MemoryGuard.Limit)})");
            w.WriteLine($"  time        {seconds:F2} s wall, {cpuSeconds:F2} s CPU, {(seconds > 0 ? ran / seconds : 0):G4} slices/s");
            if (workers is not null)
                ContractCluster.Report(w, workers);
            w.WriteLine($"  job         {job.Hash[..16]}");
        }
        return 0;
    }

    /// <summary>The result as JSON, in the convention of every <c>--json</c> output (<see cref="JsonCount"/>): snake_case
    /// keys, counts as numbers up to 2^53 and decimal strings beyond (the flops with their log10), <c>null</c> where there is
    /// nothing (no <c>-o</c>, random weights, <c>workers</c> without <c>--cluster</c>).</summary>
    static void WriteJson(TextWriter w, Settings s, ContractionJob job, PlanView plan, NetworkView net, ISliceWork work, double[] value,
                          string[] sliced, long resumed, ExecutedWork executed, double seconds, double cpuSeconds,
                          IReadOnlyList<TnDsl.Cluster.WorkerReport>? workers)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            j.WriteStartObject();
            j.WriteString("network", net.Name);
            j.WriteString("dtype", s.DType.ToString().ToLowerInvariant());
            j.WriteStartArray("shape");
            foreach (var d in work.Shape)
                JsonCount.WriteValue(j, d);
            j.WriteEndArray();
            j.WritePropertyName("value");
            if (work.Shape.Length > 0)
                j.WriteNullValue();
            else if (double.IsFinite(value[0]))
                j.WriteNumberValue(value[0]);
            else
                j.WriteStringValue(Number(value[0]));
            if (s.Output is null)
                j.WriteNull("output");
            else
                j.WriteString("output", s.Output);
            if (s.Weights is null)
                j.WriteNull("weights");
            else
                j.WriteString("weights", s.Weights);
            // Not a count, but an integer that must read back exactly.
            JsonCount.Write(j, "seed", s.Seed);
            j.WriteString("optimizer", plan.Chosen);
            JsonCount.Write(j, "flops", plan.Flops);
            JsonCount.WriteLog10(j, "flops", plan.Flops);
            JsonCount.Write(j, "sliced_flops", plan.SlicedFlops);
            JsonCount.WriteLog10(j, "sliced_flops", plan.SlicedFlops);
            JsonCount.Write(j, "slices", work.Slices);
            j.WriteStartArray("sliced");
            foreach (var name in sliced)
                j.WriteStringValue(name);
            j.WriteEndArray();
            JsonCount.Write(j, "chunks", work.Chunks);
            JsonCount.Write(j, "chunk_size", work.ChunkSize);
            JsonCount.Write(j, "resumed_chunks", resumed);
            JsonCount.Write(j, "step_runs", executed.StepRuns);
            var executedFlops = new BigInteger(executed.Flops);
            JsonCount.Write(j, "executed_flops", executedFlops);
            JsonCount.WriteLog10(j, "executed_flops", executedFlops);
            j.WriteNumber("seconds", seconds);
            j.WriteNumber("cpu_seconds", cpuSeconds);
            if (workers is null)
                j.WriteNull("workers");
            else
            {
                // What each worker of the cluster did, as the text report's worker lines.
                j.WriteStartArray("workers");
                foreach (var r in workers.OrderBy(r => r.Worker, StringComparer.Ordinal))
                {
                    j.WriteStartObject();
                    j.WriteString("worker", r.Worker);
                    JsonCount.Write(j, "chunks", r.Chunks);
                    JsonCount.Write(j, "slices", r.Slices);
                    JsonCount.Write(j, "step_runs", r.StepRuns);
                    JsonCount.Write(j, "flops", new BigInteger(r.Flops));
                    j.WriteNumber("seconds", r.Seconds);
                    j.WriteNumber("slices_per_second", r.SlicesPerSecond);
                    j.WriteBoolean("lost", r.Lost);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
            }
            j.WriteString("job", job.Hash);
            j.WriteEndObject();
        }
        w.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>A float64 as it round-trips (the shortest text that reads back as the same bits).</summary>
    static string Number(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    static string Figure(BigInteger x) => PlanView.Scientific(x);

    /// <summary>A figure with its noun, singular for exactly one (<c>1 element</c>, <c>12 elements</c>).</summary>
    static string Counted(BigInteger x, string noun) => $"{Figure(x)} {noun}{(x.IsOne ? "" : "s")}";

    /// <summary>Writes <paramref name="values"/> (row-major) as a NumPy version 1.0 <c>.npy</c> array of <c>&lt;f8</c>,
    /// its header padded so that the data starts at a multiple of 64 bytes.</summary>
    static void WriteNpy(string path, long[] shape, double[] values)
    {
        var dims = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var header = $"{{'descr': '<f8', 'fortran_order': False, 'shape': {dims}, }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        SafeFile.Replace(path, file =>
        {
            using var stream = new FileStream(file, FileMode.Create, FileAccess.Write);
            using var b = new BinaryWriter(stream);
            b.Write((byte)0x93);
            b.Write("NUMPY"u8);
            b.Write((byte)1);
            b.Write((byte)0);
            b.Write((ushort)header.Length);
            b.Write(Encoding.ASCII.GetBytes(header));
            foreach (var v in values)
                b.Write(v);
        });
    }
}
