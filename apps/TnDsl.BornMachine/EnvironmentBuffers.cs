using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>
/// Storage for the trainer's per-image environments, reused rather than freed: a dropped environment gives its
/// buffer back and the next environment made takes it, so after the first sweep no environment allocates. Buffers
/// are cut from chunks of several, allocated together. Freeing and reallocating environments (N·D float64 each,
/// hundreds of kilobytes) between the smaller temporaries of every bond, or allocating them one by one among those
/// temporaries, left the C heap fragmented: at Dmax 30 about 30–45 MB of it free but resident.
/// </summary>
public sealed class EnvironmentBuffers : IDisposable
{
    long capacity;
    // The length of the shortest buffer cut so far: a free buffer holds any need up to it.
    long shortest = long.MaxValue;
    readonly int chunk;
    readonly Stack<Tensor> free = new();
    readonly List<Tensor> owned = [];
    // Tensor.Equals compares values; a view is found by reference.
    readonly Dictionary<Tensor, Tensor> bufferOf = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Buffers of <paramref name="capacity"/> float64 elements (N times the largest bond the MPS can have), allocated
    /// <paramref name="chunk"/> at a time. An environment larger than that gets a buffer of its own size, and later
    /// chunks are cut at that size.
    /// </summary>
    public EnvironmentBuffers(long capacity, int chunk)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        (this.capacity, this.chunk) = (capacity, chunk);
    }

    /// <summary>Buffers cut so far (each is reused; the memory is freed by <see cref="Dispose"/>).</summary>
    public int Allocated { get; private set; }

    /// <summary>The bytes of every chunk allocated so far (held until <see cref="Dispose"/>).</summary>
    public long Bytes { get; private set; }

    /// <summary>The elements each buffer holds now (chunks cut later are at least this long).</summary>
    public long Capacity => capacity;

    /// <summary>
    /// The bytes a <see cref="Take(long)"/> of <paramref name="need"/> elements would allocate now: none where a free
    /// buffer holds it, else a chunk (or one buffer of its own size where it is larger than <see cref="Capacity"/>).
    /// </summary>
    public long GrowBytes(long need)
    {
        if (free.Count > 0 && need <= shortest)
            return 0;
        foreach (var buffer in free)
            if (buffer.shape[0] >= need)
                return 0;
        return (need > capacity ? need : chunk * capacity) * sizeof(double);
    }

    /// <summary>A contiguous (<paramref name="rows"/>, <paramref name="width"/>) float64 tensor on a free buffer, outside any dispose scope; give it back with <see cref="Return"/>.</summary>
    public Tensor Take(long rows, long width) => Take([rows, width]);

    /// <summary>A float64 vector of <paramref name="length"/> elements on a free buffer, as <see cref="Take(long, long)"/>.</summary>
    public Tensor Take(long length) => Take([length]);

    Tensor Take(long[] shape)
    {
        long need = shape.Aggregate(1L, (a, b) => a * b);
        while (free.Count > 0 && free.Peek().shape[0] < need)
            free.Pop().Dispose();
        if (free.Count == 0)
            Grow(need);
        var buffer = free.Pop();
        using var head = buffer.narrow(0, 0, need);
        var view = head.view(shape).DetachFromDisposeScope();
        bufferOf[view] = buffer;
        return view;
    }

    void Grow(long need)
    {
        int count = need > capacity ? 1 : chunk;
        capacity = Math.Max(capacity, need);
        shortest = Math.Min(shortest, capacity);
        var storage = empty(count * capacity, ScalarType.Float64).DetachFromDisposeScope();
        owned.Add(storage);
        Bytes += count * capacity * sizeof(double);
        for (int i = count - 1; i >= 0; i--)
            free.Push(storage.narrow(0, i * capacity, capacity).DetachFromDisposeScope());
        Allocated += count;
    }

    /// <summary>Disposes <paramref name="view"/> and, when it came from <see cref="Take(long, long)"/>, frees its buffer for the next one.</summary>
    public void Return(Tensor view)
    {
        if (bufferOf.Remove(view, out var buffer))
            free.Push(buffer);
        view.Dispose();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var (view, buffer) in bufferOf)
        {
            view.Dispose();
            buffer.Dispose();
        }
        bufferOf.Clear();
        while (free.Count > 0)
            free.Pop().Dispose();
        foreach (var storage in owned)
            storage.Dispose();
        owned.Clear();
        Bytes = 0;
    }
}
