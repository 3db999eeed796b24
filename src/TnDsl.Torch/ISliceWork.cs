namespace TnDsl.Torch;

/// <summary>
/// A contraction opened for sliced execution, wherever it runs (this process, or a worker that was sent the job as
/// bytes): the slices of its plan grouped into fixed chunks, each contracted on its own. The chunking belongs to the
/// job, never to who runs it, and the value is the sum of the chunks' results added in chunk order (each chunk being
/// the sum of its slices in slice order), so one machine and any cluster give the same bits in float64.
/// </summary>
public interface ISliceWork : IDisposable
{
    /// <summary>The number of slices of the plan (1 when nothing is sliced).</summary>
    long Slices { get; }

    /// <summary>Slices per chunk; chunk <c>c</c> covers slices <c>[c·ChunkSize, min((c+1)·ChunkSize, Slices))</c>.</summary>
    long ChunkSize { get; }

    /// <summary>The number of chunks, <c>⌈Slices / ChunkSize⌉</c>.</summary>
    long Chunks { get; }

    /// <summary>The shape of the result (the open legs in output order; empty for a closed network).</summary>
    long[] Shape { get; }

    /// <summary>The sum of one chunk's slices, in slice order, in float64, flattened row-major.</summary>
    double[] ContractChunk(long chunk);

    /// <summary>Several chunks' sums, each exactly as <see cref="ContractChunk"/> gives it, in the order given. A
    /// runner may contract consecutive chunks in one pass, so that a sliced plan's reuse across slices carries across
    /// their boundaries; by default they are contracted one by one.</summary>
    double[][] ContractChunks(IReadOnlyList<long> chunks) => chunks.Select(ContractChunk).ToArray();

    /// <summary>The steps run and their flops over every chunk contracted so far, a sliced plan's reuse across slices
    /// counted (a step skipped because nothing it depends on changed is not run); zero where the runner does not count.</summary>
    ExecutedWork Executed => default;
}

/// <summary>Work done by contracting chunks: pairwise steps run, and their flops (opt_einsum's convention, each step's
/// flops in one slice; a double, exact up to 2^53 and a figure to report beyond).</summary>
public readonly record struct ExecutedWork(long StepRuns, double Flops)
{
    /// <summary>The work of both.</summary>
    public static ExecutedWork operator +(ExecutedWork a, ExecutedWork b) => new(a.StepRuns + b.StepRuns, a.Flops + b.Flops);

    /// <summary>The work of <paramref name="a"/> less that of <paramref name="b"/> (what was done between two readings).</summary>
    public static ExecutedWork operator -(ExecutedWork a, ExecutedWork b) => new(a.StepRuns - b.StepRuns, a.Flops - b.Flops);
}
