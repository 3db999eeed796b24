using TorchSharp;
using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.BornMachine;

/// <summary>
/// One step of the per-image environments of an MPS: contracting an image's pixel at one site into the running
/// left vector L (N, Dl) → (N, Dr) or right vector R (N, Dr) → (N, Dl). Each step is one matrix product over the
/// whole batch followed by a gather of the image's pixel: O(N·d·Dl·Dr); or, given the images grouped by pixel value
/// (<see cref="PixelGroups"/>), one product per value over that value's images: O(N·Dl·Dr).
/// </summary>
public static class Environments
{
    /// <summary>L'[n, r] = Σ_l L[n, l] A[l, x_n, r]; the pixels x (N) are int64 or bytes.</summary>
    public static Tensor StepLeft(Tensor left, Tensor site, Tensor pixels)
    {
        long n = left.shape[0], dl = site.shape[0], d = site.shape[1], dr = site.shape[2];
        using var matrix = site.reshape(dl, d * dr);
        using var product = left.matmul(matrix);
        using var all = product.reshape(n, d, dr);
        using var wide = pixels.to_type(ScalarType.Int64);
        using var column = wide.reshape(n, 1, 1);
        using var index = column.expand(n, 1, dr);
        using var picked = all.gather(1, index);
        return picked.squeeze(1);
    }

    /// <summary>R'[n, l] = Σ_r A[l, x_n, r] R[n, r]; the pixels x (N) are int64 or bytes.</summary>
    public static Tensor StepRight(Tensor right, Tensor site, Tensor pixels)
    {
        long n = right.shape[0], dl = site.shape[0], d = site.shape[1], dr = site.shape[2];
        using var permuted = site.permute(2, 1, 0);
        using var t = permuted.reshape(dr, d * dl);
        using var product = right.matmul(t);
        using var all = product.reshape(n, d, dl);
        using var wide = pixels.to_type(ScalarType.Int64);
        using var column = wide.reshape(n, 1, 1);
        using var index = column.expand(n, 1, dl);
        using var picked = all.gather(1, index);
        return picked.squeeze(1);
    }

    /// <summary>L'[n, r] = Σ_l L[n, l] A[l, x_n, r], one product per pixel value over the images that have it.</summary>
    public static Tensor StepLeft(Tensor left, Tensor site, PixelGroups groups) =>
        Grouped(left, groups, x => site.select(1, x), site.shape[2]);

    /// <summary>R'[n, l] = Σ_r A[l, x_n, r] R[n, r], one product per pixel value over the images that have it.</summary>
    public static Tensor StepRight(Tensor right, Tensor site, PixelGroups groups) =>
        Grouped(right, groups, x =>
        {
            using var column = site.select(1, x);
            return column.t();
        }, site.shape[0]);

    static Tensor Grouped(Tensor rows, PixelGroups groups, Func<long, Tensor> matrix, long width)
    {
        long n = rows.shape[0];
        if (groups.Order.shape[0] != n)
            throw new ArgumentException($"the groups cover {groups.Order.shape[0]} images, the environments {n}");
        var result = empty(n, width, rows.dtype, rows.device);
        foreach (var (x, index) in groups.Blocks())
        {
            using var m = matrix(x);
            if (index.shape[0] == n)
            {
                // Every image has this value (a border pixel): one plain product, no gather or scatter.
                index.Dispose();
                result.Dispose();
                return rows.matmul(m);
            }
            using var picked = rows.index_select(0, index);
            using var product = picked.matmul(m);
            result.index_copy_(0, index, product);
            index.Dispose();
        }
        return result;
    }

    /// <summary>Each row divided by its Euclidean norm, and the natural log of that norm per row (rows of zeros stay zero, log −690).</summary>
    public static (Tensor Rows, Tensor LogNorm) NormalizeWithLog(Tensor rows)
    {
        using var norms = rows.norm(1, keepdim: true);
        using var n = ClampMin(norms, 1e-300);
        using var squeezed = n.squeeze(1);
        return (rows / n, squeezed.log());
    }

    /// <summary>Each row divided by its Euclidean norm (rows of zeros stay zero): ψ'/ψ does not depend on these scales.</summary>
    public static Tensor Normalize(Tensor rows)
    {
        using var norms = rows.norm(1, keepdim: true);
        using var n = ClampMin(norms, 1e-300);
        return rows / n;
    }

    /// <summary>
    /// <see cref="NormalizeWithLog"/> written into <paramref name="into"/> (same shape as <paramref name="rows"/>; the
    /// same values): returns the log of the norms.
    /// </summary>
    public static Tensor NormalizeWithLogInto(Tensor rows, Tensor into)
    {
        using var norms = rows.norm(1, keepdim: true);
        using var n = ClampMin(norms, 1e-300);
        into.copy_(rows).div_(n);
        using var squeezed = n.squeeze(1);
        return squeezed.log();
    }

    /// <summary><see cref="Normalize"/> written into <paramref name="into"/> (same shape as <paramref name="rows"/>; the same values).</summary>
    public static void NormalizeInto(Tensor rows, Tensor into)
    {
        using var norms = rows.norm(1, keepdim: true);
        using var n = ClampMin(norms, 1e-300);
        into.copy_(rows).div_(n);
    }
}
