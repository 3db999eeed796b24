using System.Security.Cryptography;
using TnDsl.Torch;

namespace TnDsl.Cluster;

/// <summary>
/// Opens a job's bytes as sliced work. The worker's only way to a contraction: it never reads a file a client names,
/// everything the work needs travels in the bytes.
/// </summary>
public interface ISliceWorkOpener
{
    /// <summary>Validates and opens a job; throws <see cref="InvalidDataException"/> on bytes that are not a job.</summary>
    ISliceWork Open(byte[] job);

    /// <summary>
    /// Sets, on the calling thread, the thread count the work's kernels use (0: the process's own setting, applied to
    /// this thread); called before each batch, on the thread that contracts it.
    /// </summary>
    void UseThreads(int threads);
}

/// <summary>A job a silo holds: its opened work and what it reports of it.</summary>
public sealed record HeldJob(JobInfo Info, ISliceWork Work);

/// <summary>
/// The jobs one silo holds, by the SHA-256 of their bytes (upper-case hex, as <c>ContractionJob.Hash</c>). A few are kept (the oldest is released
/// when a new one arrives past <see cref="Capacity"/>), so a client that sends the same job twice opens it once.
/// </summary>
public sealed class JobCache(ISliceWorkOpener opener) : IDisposable
{
    /// <summary>How many jobs a silo keeps open at once.</summary>
    public const int Capacity = 2;

    private readonly object gate = new();
    private readonly LinkedList<HeldJob> held = new();

    /// <summary>The hash a job is known by: SHA-256 of its bytes, upper-case hex (a real job's <c>ContractionJob.Hash</c>).</summary>
    public static string HashOf(byte[] job) => Convert.ToHexString(SHA256.HashData(job));

    /// <summary>The held job with this hash, if any.</summary>
    public bool TryGet(string hash, out HeldJob job)
    {
        lock (gate)
        {
            var found = held.FirstOrDefault(j => j.Info.Hash == hash);
            job = found!;
            return found is not null;
        }
    }

    /// <summary>Opens a job (or returns the one already held with the same bytes).</summary>
    public HeldJob Load(byte[] job)
    {
        var hash = HashOf(job);
        if (TryGet(hash, out var existing)) return existing;
        var work = opener.Open(job);
        var opened = new HeldJob(new JobInfo(hash, work.Slices, work.ChunkSize, work.Chunks, work.Shape), work);
        if (work.ChunkSize < 1 || work.Chunks != (work.Slices + work.ChunkSize - 1) / work.ChunkSize)
        {
            work.Dispose();
            throw new InvalidDataException($"the job's chunking is inconsistent: {work.Slices} slices, {work.ChunkSize} per chunk, {work.Chunks} chunks");
        }
        lock (gate)
        {
            if (held.FirstOrDefault(j => j.Info.Hash == hash) is { } raced)
            {
                work.Dispose();
                return raced;
            }
            held.AddLast(opened);
            while (held.Count > Capacity)
            {
                held.First!.Value.Work.Dispose();
                held.RemoveFirst();
            }
        }
        return opened;
    }

    /// <summary>Releases the job with this hash, if held.</summary>
    public void Forget(string hash)
    {
        lock (gate)
        {
            var node = held.First;
            while (node is not null && node.Value.Info.Hash != hash) node = node.Next;
            if (node is null) return;
            node.Value.Work.Dispose();
            held.Remove(node);
        }
    }

    /// <summary>Releases every held job.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            foreach (var job in held) job.Work.Dispose();
            held.Clear();
        }
    }
}
