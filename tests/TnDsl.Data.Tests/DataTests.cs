using TnDsl.Data;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Data.Tests;

public sealed class DataTests : IDisposable
{
    static DataTests() => NativeLoader.EnsureLoaded();

    readonly List<string> made = [];

    /// <summary>A fresh folder under the temporary directory, removed after the test (<see cref="Dispose"/>).</summary>
    string TempDir()
    {
        var dir = Directory.CreateTempSubdirectory("tn-data-").FullName;
        made.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (var dir in made)
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void an_idx_file_reads_back_its_shape_and_bytes_plain_or_gzipped(bool gzip)
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)(i * 7)).ToArray();
        var raw = IdxFiles.Bytes([2, 3, 4], data);
        var path = Path.Combine(TempDir(), "x-idx3-ubyte");
        File.WriteAllBytes(path, gzip ? IdxFiles.Gzip(raw) : raw);
        var read = Idx.Read(path);
        Assert.Equal([2, 3, 4], read.Shape);
        Assert.Equal(data, read.Data);
    }

    [Fact]
    public void a_truncated_or_foreign_file_is_a_format_error()
    {
        var dir = TempDir();
        var truncated = Path.Combine(dir, "t");
        File.WriteAllBytes(truncated, IdxFiles.Bytes([10], [1, 2, 3]));
        Assert.Throws<IdxFormatException>(() => Idx.Read(truncated));
        var floats = Path.Combine(dir, "f");
        File.WriteAllBytes(floats, [0, 0, 0x0d, 1, 0, 0, 0, 0]);
        Assert.Throws<IdxFormatException>(() => Idx.Read(floats));
        var text = Path.Combine(dir, "txt");
        File.WriteAllText(text, "hello");
        Assert.Throws<IdxFormatException>(() => Idx.Read(text));
    }

    [Fact]
    public void a_tiny_installed_dataset_loads_as_scaled_pixels_and_labels()
    {
        var dir = TempDir();
        var folder = Path.Combine(dir, "fashion-mnist");
        Directory.CreateDirectory(folder);
        var pixels = new byte[] { 0, 255, 51, 102, 0, 0, 0, 255 };
        File.WriteAllBytes(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), IdxFiles.Gzip(IdxFiles.Bytes([2, 2, 2], pixels)));
        File.WriteAllBytes(Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"), IdxFiles.Gzip(IdxFiles.Bytes([2], [3, 9])));
        using var set = Datasets.Load(DatasetName.FashionMnist, Split.Test, dir);
        Assert.Equal(new long[] { 2, 2, 2 }, set.Images.shape);
        Assert.Equal(ScalarType.Float32, set.Images.dtype);
        var values = set.Images.data<float>().ToArray();
        for (int i = 0; i < pixels.Length; i++)
            Assert.Equal(pixels[i] / 255.0, values[i], 6);
        Assert.Equal(new long[] { 3, 9 }, set.Labels.data<long>().ToArray());
        Assert.Equal(10, set.Classes);
        using var first = Datasets.Load(DatasetName.FashionMnist, Split.Test, dir, limit: 1);
        Assert.Equal(1, first.Count);
    }

    [Fact]
    public void missing_data_names_the_setup_command()
    {
        var e = Assert.Throws<DataMissingException>(() => Datasets.Load(DatasetName.Mnist, Split.Train, TempDir()));
        Assert.Contains(Datasets.SetupCommand, e.Message);
    }

    [Fact]
    public void images_and_labels_of_different_counts_are_refused()
    {
        var images = new IdxArray([2, 1, 1], [1, 2]);
        var labels = new IdxArray([3], [0, 1, 2]);
        Assert.Throws<IdxFormatException>(() => ImageDataset.FromIdx("bad", images, labels));
    }
}

public class ImageDatasetTests
{
    static ImageDatasetTests() => NativeLoader.EnsureLoaded();

    [Fact]
    public void resizing_averages_blocks_and_keeps_the_labels()
    {
        using var temporaries = NewDisposeScope();
        var pixels = Enumerable.Range(0, 16).Select(i => (byte)(i * 10)).ToArray();
        using var set = ImageDataset.FromIdx("t", new IdxArray([1, 4, 4], pixels), new IdxArray([1], [7]));
        using var small = set.Resize(2);
        Assert.Equal(new long[] { 1, 2, 2 }, small.Images.shape);
        // Top-left 2x2 block of the row-major 4x4 image holds 0, 10, 40, 50.
        Assert.Equal((0 + 10 + 40 + 50) / 4.0 / 255.0, small.Images[0, 0, 0].item<float>(), 5);
        Assert.Equal(7L, small.Labels[0].item<long>());
    }
}
