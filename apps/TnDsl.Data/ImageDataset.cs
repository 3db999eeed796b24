using static TorchSharp.torch;
using static TnDsl.Torch.ScalarOps;

namespace TnDsl.Data;

/// <summary>
/// Labelled grey-scale images as tensors: <see cref="Images"/> is float32 (count, rows, columns) with pixels scaled
/// to [0, 1], <see cref="Labels"/> is int64 (count). The dataset owns both tensors.
/// </summary>
public sealed class ImageDataset : IDisposable
{
    /// <summary>Makes a dataset from tensors it takes ownership of.</summary>
    public ImageDataset(string name, Tensor images, Tensor labels, int classes)
    {
        if (images.dim() != 3 || labels.dim() != 1 || images.shape[0] != labels.shape[0])
            throw new ArgumentException($"{name}: expected images (n, rows, cols) and labels (n), got [{string.Join(", ", images.shape)}] and [{string.Join(", ", labels.shape)}]");
        Name = name;
        Images = images;
        Labels = labels;
        Classes = classes;
    }

    /// <summary>What the data is, e.g. "fashion-mnist/train".</summary>
    public string Name { get; }
    /// <summary>float32 (count, rows, columns), pixels in [0, 1].</summary>
    public Tensor Images { get; }
    /// <summary>int64 (count), values in 0..Classes-1.</summary>
    public Tensor Labels { get; }
    /// <summary>The number of classes.</summary>
    public int Classes { get; }
    /// <summary>The number of images.</summary>
    public long Count => Labels.shape[0];
    /// <summary>Pixels per image.</summary>
    public long Features => Images.shape[1] * Images.shape[2];

    /// <summary>Builds a dataset from IDX arrays of images (n, rows, cols) and labels (n).</summary>
    public static ImageDataset FromIdx(string name, IdxArray images, IdxArray labels)
    {
        NativeLoader.EnsureLoaded();
        if (images.Shape.Length != 3)
            throw new IdxFormatException($"{name}: images need 3 dimensions (count, rows, columns), the file has {images.Shape.Length}");
        if (labels.Shape.Length != 1)
            throw new IdxFormatException($"{name}: labels need 1 dimension, the file has {labels.Shape.Length}");
        if (images.Shape[0] != labels.Shape[0])
            throw new IdxFormatException($"{name}: {images.Shape[0]} images but {labels.Shape[0]} labels");
        using var raw = tensor(images.Data, [images.Shape[0], images.Shape[1], images.Shape[2]], ScalarType.Byte);
        var pixels = OverInPlace(raw.to_type(ScalarType.Float32), 255.0);
        using var rawLabels = tensor(labels.Data, [labels.Shape[0]], ScalarType.Byte);
        var y = rawLabels.to_type(ScalarType.Int64);
        int classes = labels.Data.Length == 0 ? 0 : labels.Data.Max() + 1;
        return new ImageDataset(name, pixels, y, classes);
    }

    /// <summary>The first <paramref name="count"/> images (all when the dataset is smaller), as a new dataset.</summary>
    public ImageDataset Take(long count)
    {
        long n = Math.Min(count, Count);
        using var images = Images.narrow(0, 0, n);
        using var labels = Labels.narrow(0, 0, n);
        return new ImageDataset(Name, images.clone(), labels.clone(), Classes);
    }

    /// <summary>The images resized to size × size by area averaging (adaptive average pooling).</summary>
    public ImageDataset Resize(int size)
    {
        Tensor pooled;
        using (NewDisposeScope())
            pooled = nn.functional.adaptive_avg_pool2d(Images.unsqueeze(1), [size, size]).squeeze(1).MoveToOuterDisposeScope();
        return new ImageDataset(Name, pooled, Labels.clone(), Classes);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
