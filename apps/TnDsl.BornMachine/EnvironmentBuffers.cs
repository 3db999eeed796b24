using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>
/// Storage for the trainer's per-image environments, reused rather than freed: a dropped environment gives its
/// buffer back and the next environment made takes it, so after the first sweeps no environment allocates. Freeing
/// and reallocating them (N·D float64 each, hundreds of kilobytes) between the smaller temporaries of every bond left
/// the C heap fragmented: at Dmax 30 about 45 MB of it was free but not returned to the system.
/// </summary>
public sealed class EnvironmentBuffers : IDisposable
{
    long capacity;
    readonly Stack<Tensor> free = new();
    readonly List<Tensor> buffers = [];
    // Tensor.Equals compares values; a view is found by reference.
    readonly Dictionary<Tensor, Tensor> bufferOf = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Buffers of <paramref name="capacity"/> elements (N times the largest bond now); one asked for larger (a bond
    /// that grew) replaces a smaller free buffer, and later buffers have the larger size.
    /// </summary>
    public EnvironmentBuffers(long capacity) => this.capacity = capacity;

    /// <summary>Buffers allocated and not yet replaced (each is reused, and freed only by <see cref="Dispose"/>).</summary>
    public int Allocated => buffers.Count;

    /// <summary>A contiguous (<paramref name="rows"/>, <paramref name="width"/>) float64 tensor on a free buffer, outside any dispose scope; give it back with <see cref="Return"/>.</summary>
    public Tensor Take(long rows, long width)
    {
        long need = rows * width;
        capacity = Math.Max(capacity, need);
        Tensor? buffer = free.Count > 0 ? free.Pop() : null;
        if (buffer is not null && buffer.shape[0] < need)
        {
            buffers.Remove(buffer);
            buffer.Dispose();
            buffer = null;
        }
        if (buffer is null)
        {
            buffer = empty(capacity, ScalarType.Float64).DetachFromDisposeScope();
            buffers.Add(buffer);
        }
        using var head = buffer.narrow(0, 0, need);
        var view = head.view(rows, width).DetachFromDisposeScope();
        bufferOf[view] = buffer;
        return view;
    }

    /// <summary>Disposes <paramref name="view"/> and, when it came from <see cref="Take"/>, frees its buffer for the next one.</summary>
    public void Return(Tensor view)
    {
        if (bufferOf.Remove(view, out var buffer))
            free.Push(buffer);
        view.Dispose();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var view in bufferOf.Keys)
            view.Dispose();
        bufferOf.Clear();
        free.Clear();
        foreach (var b in buffers)
            b.Dispose();
        buffers.Clear();
    }
}
