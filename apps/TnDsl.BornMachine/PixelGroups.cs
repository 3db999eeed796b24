using static TorchSharp.torch;

namespace TnDsl.BornMachine;

/// <summary>
/// The images of a batch grouped by their value at one site: <see cref="Order"/> lists image indices sorted (stably)
/// by value, and <see cref="Counts"/>[x] says how many have value x, so the images with value x are the block
/// <c>Order[start_x .. start_x + Counts[x]]</c>. An environment step then needs one (rows × Dl)·(Dl × Dr) product per
/// value instead of computing every value for every image and keeping one.
/// </summary>
public sealed class PixelGroups : IDisposable
{
    /// <summary>Image indices (int64) sorted by their value at the site.</summary>
    public Tensor Order { get; }
    /// <summary>Number of images per value, indexed by value.</summary>
    public long[] Counts { get; }

    PixelGroups(Tensor order, long[] counts) => (Order, Counts) = (order, counts);

    /// <summary>Groups the values (N, int64, each in 0..d-1) of one site.</summary>
    public static PixelGroups Of(Tensor values, long d)
    {
        var (sorted, order) = values.sort(stable: true);
        sorted.Dispose();
        using var counts = bincount(values, minlength: d);
        return new PixelGroups(order, counts.data<long>().ToArray());
    }

    /// <summary>For each value some image has, the value and those images' indices (a narrowed view of <see cref="Order"/>; dispose it).</summary>
    public IEnumerable<(long Value, Tensor Rows)> Blocks()
    {
        long start = 0;
        for (long x = 0; x < Counts.Length; x++)
        {
            if (Counts[x] > 0)
                yield return (x, Order.narrow(0, start, Counts[x]));
            start += Counts[x];
        }
    }

    /// <inheritdoc/>
    public void Dispose() => Order.Dispose();
}
