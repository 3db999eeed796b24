using System.Buffers.Binary;
using TnDsl.Torch;

namespace TnDsl.Cluster.Tests;

/// <summary>
/// A test double of a sliced contraction: slice s contributes values spread over 16 decades, so that float64 addition
/// in any other order gives other bits. The job's bytes carry everything (the worker reads nothing else), with a delay
/// per chunk to keep a run going long enough to stop a silo in its middle, and a chunk whose first contraction in the
/// process does not return until <see cref="Release"/> (-1: none), as a batch whose answer is lost would not (or,
/// <see cref="ArmOn"/>, the first chunk contracted on one silo).
/// </summary>
public sealed record FakeJob(long Slices, long ChunkSize, int Elements, ulong Seed, int MillisecondsPerChunk = 0, long StallChunk = -1)
{
    private static readonly ManualResetEventSlim released = new(false);
    private static int stalled;
    private static SiloAddress? stallOn;
    private static TaskCompletionSource stalling = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Arms <see cref="StallChunk"/> for the next run in this process.</summary>
    public static void Arm()
    {
        released.Reset();
        stallOn = null;
        stalling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref stalled, 0);
    }

    /// <summary>Arms a stall of the next chunk contracted on <paramref name="silo"/>, whichever it is.</summary>
    public static void ArmOn(SiloAddress silo)
    {
        Arm();
        stallOn = silo;
    }

    /// <summary>Completes when the armed stall has begun.</summary>
    public static Task Stalled => stalling.Task;

    /// <summary>Lets a stalled contraction return.</summary>
    public static void Release() => released.Set();

    private static readonly ManualResetEventSlim newcomerWorked = new(true);
    private static HashSet<SiloAddress> held = [];

    /// <summary>Holds every chunk contracted on <paramref name="silos"/> until a chunk has been contracted on a silo
    /// not among them: a silo that joins the run then gets work before the others can finish it, however long it
    /// takes to start on a loaded machine (bounded by twice <see cref="TestClusters.StepLimit"/>).</summary>
    public static void HoldUntilAnother(IEnumerable<SiloAddress> silos)
    {
        held = [.. silos];
        newcomerWorked.Reset();
    }

    /// <summary>Ends <see cref="HoldUntilAnother"/>'s hold (a test's cleanup, whether or not a newcomer worked).</summary>
    public static void StopHolding() => newcomerWorked.Set();

    private const ulong Magic = 0x314B414654534554; // "TESTFAK1"

    public byte[] ToBytes()
    {
        var bytes = new byte[48];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), Slices);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), ChunkSize);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(24), Elements);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(28), MillisecondsPerChunk);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(32), Seed);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(40), StallChunk);
        return bytes;
    }

    public static bool IsOne(byte[] bytes) => bytes.Length == 48 && BinaryPrimitives.ReadUInt64LittleEndian(bytes) == Magic;

    public static FakeJob FromBytes(byte[] bytes)
    {
        if (bytes.Length != 48 || BinaryPrimitives.ReadUInt64LittleEndian(bytes) != Magic)
            throw new InvalidDataException("not a test job");
        return new FakeJob(
            BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16)),
            BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(24)), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(32)),
            BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(28)), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(40)));
    }

    /// <summary>Element <paramref name="i"/> of slice <paramref name="s"/>: a SplitMix64 draw scaled by 10^[-8, 8].</summary>
    public double Value(long s, int i)
    {
        var z = Seed + (ulong)s * 0x9E3779B97F4A7C15UL + (ulong)i * 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        var unit = (z >> 11) * (1.0 / (1UL << 53)) - 0.5;
        return unit * Math.Pow(10, (int)(z % 17) - 8);
    }

    /// <summary>The job's work, contracted on <paramref name="silo"/> (where <see cref="ArmOn"/> may stall it).</summary>
    public ISliceWork Open(SiloAddress? silo = null) => new Work(this, silo);

    /// <summary>Chunk results contracted here, one after another: the single-machine reference.</summary>
    public double[][] LocalChunks()
    {
        using var work = Open();
        return Enumerable.Range(0, (int)work.Chunks).Select(c => work.ContractChunk(c)).ToArray();
    }

    private sealed class Work(FakeJob job, SiloAddress? silo) : ISliceWork
    {
        public long Slices => job.Slices;
        public long ChunkSize => job.ChunkSize;
        public long Chunks => (job.Slices + job.ChunkSize - 1) / job.ChunkSize;
        public long[] Shape => job.Elements == 1 ? [] : [job.Elements];

        public double[] ContractChunk(long chunk)
        {
            if (job.MillisecondsPerChunk > 0) Thread.Sleep(job.MillisecondsPerChunk);
            if (silo is not null && !newcomerWorked.IsSet)
            {
                if (held.Contains(silo)) newcomerWorked.Wait(2 * TestClusters.StepLimit);
                else newcomerWorked.Set();
            }
            if ((stallOn is null ? chunk == job.StallChunk : silo is not null && silo.Equals(stallOn)) && Interlocked.Exchange(ref stalled, 1) == 0)
            {
                stalling.TrySetResult();
                released.Wait(2 * TestClusters.StepLimit);
            }
            var sum = new double[job.Elements];
            for (var s = chunk * job.ChunkSize; s < Math.Min((chunk + 1) * job.ChunkSize, job.Slices); s++)
                for (var i = 0; i < sum.Length; i++) sum[i] += job.Value(s, i);
            return sum;
        }

        public void Dispose() { }
    }
}

/// <summary>Opens <see cref="FakeJob"/> bytes on a silo, counting opens per job; any other bytes as a real job.</summary>
public sealed class FakeOpener(SiloAddress? silo = null) : ISliceWorkOpener
{
    private static readonly Dictionary<string, int> opens = new();

    public static int Opens(byte[] job)
    {
        lock (opens) return opens.GetValueOrDefault(JobCache.HashOf(job));
    }

    public void UseThreads(int threads)
    {
        if (threads > 0) new ContractionJobOpener().UseThreads(threads);
    }

    public ISliceWork Open(byte[] job)
    {
        if (!FakeJob.IsOne(job)) return new ContractionJobOpener().Open(job);
        var work = FakeJob.FromBytes(job).Open(silo);
        lock (opens) opens[JobCache.HashOf(job)] = opens.GetValueOrDefault(JobCache.HashOf(job)) + 1;
        return work;
    }
}
