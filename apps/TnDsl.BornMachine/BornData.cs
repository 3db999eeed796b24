namespace TnDsl.BornMachine;

/// <summary>A set of images as rows of discrete pixel values, one byte each (row-major, one row per image).</summary>
public sealed record ImageSet(byte[] Pixels, int Count, int Width, int Height)
{
    /// <summary>Pixels per image.</summary>
    public int Size => Width * Height;

    /// <summary>The largest pixel value plus one: the smallest physical dimension that can hold the set.</summary>
    public int Levels => Pixels.Length == 0 ? 0 : Pixels.Max() + 1;

    /// <summary>Image <paramref name="i"/>'s pixel values as a new array.</summary>
    public long[] Image(int i)
    {
        var image = new long[Size];
        for (int p = 0; p < Size; p++)
            image[p] = Pixels[(long)i * Size + p];
        return image;
    }
}

/// <summary>A training set and a test set for the Born machine, with where they came from.</summary>
public sealed record BornDataset(string Source, ImageSet Train, ImageSet Test);

/// <summary>
/// Loads Born-machine data: a directory holding <c>train.npy</c> and <c>test.npy</c> (each (images, pixels) or
/// (images, height, width), unsigned bytes or booleans), or the 30 bars-and-stripes 4×4 images
/// (<c>bars-and-stripes</c>: a directory holding <c>bs4x4.npy</c>; the test set is the training set).
/// </summary>
public static class BornData
{
    /// <summary>The name that selects bars-and-stripes on the command line.</summary>
    public const string BarsAndStripes = "bars-and-stripes";

    /// <summary>Loads a directory (see the type's summary). Throws <see cref="NpyFormatException"/> or <see cref="IOException"/> with a clear message.</summary>
    public static BornDataset Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{directory}: no such data directory");
        var bs = Path.Combine(directory, "bs4x4.npy");
        if (File.Exists(bs))
        {
            var set = ReadImages(bs);
            return new BornDataset(directory, set, set);
        }
        var train = Path.Combine(directory, "train.npy");
        var test = Path.Combine(directory, "test.npy");
        if (!File.Exists(train))
            throw new FileNotFoundException($"{directory}: expected train.npy (and test.npy) or bs4x4.npy");
        var trainSet = ReadImages(train);
        var testSet = File.Exists(test) ? ReadImages(test) : trainSet;
        if (testSet.Size != trainSet.Size)
            throw new NpyFormatException($"{test}: {testSet.Size} pixels per image, but train.npy has {trainSet.Size}");
        return new BornDataset(directory, trainSet, testSet);
    }

    /// <summary>Reads one array of images: (images, pixels) (square images assumed for display) or (images, height, width).</summary>
    public static ImageSet ReadImages(string path)
    {
        // Read as bytes: widened to int64, 1000 MNIST images took 6.3 MB of managed memory.
        var a = Npy.ReadBytes(path);
        if (a.Descr is not ("|u1" or "|b1"))
            throw new NpyFormatException($"{path}: images must be unsigned bytes (|u1) or booleans (|b1), got '{a.Descr}'");
        if (a.Shape.Any(d => d < 1 || d > int.MaxValue))
            throw new NpyFormatException($"{path}: shape ({string.Join(", ", a.Shape)}): images need every dimension from 1 to {int.MaxValue}");
        int count, width, height;
        switch (a.Shape.Length)
        {
            case 2:
                count = (int)a.Shape[0];
                int side = (int)Math.Round(Math.Sqrt(a.Shape[1]));
                (width, height) = side * side == a.Shape[1] ? (side, side) : ((int)a.Shape[1], 1);
                break;
            case 3:
                (count, height, width) = ((int)a.Shape[0], (int)a.Shape[1], (int)a.Shape[2]);
                break;
            default:
                throw new NpyFormatException($"{path}: expected shape (images, pixels) or (images, height, width), got ({string.Join(", ", a.Shape)})");
        }
        if (count == 0 || width * height < 2)
            throw new NpyFormatException($"{path}: needs at least one image of at least two pixels");
        return new ImageSet(a.Data, count, width, height);
    }
}
