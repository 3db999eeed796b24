namespace TnDsl.Cli;

using TnDsl.Api;

/// <summary>
/// The files that travel with the tool: the <c>examples/</c> networks and the Born machine's sample data (1000 + 1000
/// MNIST images, the 30 bars-and-stripes), copied next to <c>tn.dll</c> when it is built or installed. A path under
/// <c>examples/</c> that does not exist where the user is falls back to the shipped copy, so the README's commands
/// work from any folder after <c>dotnet tool install</c>; a path that exists is always taken as given.
/// </summary>
public static class Shipped
{
    /// <summary>The folder the shipped examples are in.</summary>
    public static string Examples => Path.Combine(AppContext.BaseDirectory, "examples");

    /// <summary>
    /// <paramref name="path"/> itself when it exists (file or folder) or does not start with <c>examples/</c>;
    /// otherwise the shipped copy when there is one, else <paramref name="path"/> unchanged (so the error names what
    /// the user typed).
    /// </summary>
    public static string Resolve(string path)
    {
        if (File.Exists(path) || Directory.Exists(path) || Path.IsPathRooted(path))
            return path;
        var relative = path.Replace('\\', '/');
        while (relative.StartsWith("./", StringComparison.Ordinal))
            relative = relative[2..];
        if (!relative.StartsWith("examples/", StringComparison.Ordinal))
            return path;
        var shipped = Path.Combine(AppContext.BaseDirectory, relative);
        return File.Exists(shipped) || Directory.Exists(shipped) ? shipped : path;
    }

    /// <summary>
    /// The name <paramref name="path"/> has in diagnostics: a file among the shipped examples as <c>examples/…</c> (the
    /// path that reached it, and its name in the repository and the docs), any other path as given.
    /// </summary>
    public static string Shown(string path)
    {
        if (!Path.IsPathRooted(path))
            return path;
        var relative = Path.GetRelativePath(Examples, path);
        return relative == "." || relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative)
            ? path
            : "examples/" + relative.Replace('\\', '/');
    }

    /// <summary>
    /// Checks a <c>.tn</c> file given on the command line (its <c>--set</c> values as the overrides), naming it in every
    /// diagnostic as <see cref="Shown"/> does.
    /// </summary>
    public static CheckResult Check(string path, IReadOnlyList<KeyValuePair<string, string>> overrides, string? network) =>
        ReadStream(path) is { } text ? Frontend.CheckText(path, text, overrides, network, OverrideOrigin.CommandLine)
            : Frontend.CheckAs(path, Shown(path), overrides, network, OverrideOrigin.CommandLine);

    /// <summary>
    /// The text of a FILE given as a stream of the shell (<c>/dev/stdin</c>, <c>/dev/fd/N</c> of a process
    /// substitution, <c>/proc/self/fd/N</c>), read once, here, to its end (at most the compiler's limit on a file):
    /// the front end refuses a file that is not regular, so that a FIFO named by mistake never blocks it, but a
    /// pipe the user gives is what <c>cat net.tn | tn check /dev/stdin</c> means. Null for any other path; a usage
    /// error when the text is a JSON network (see <see cref="PlanApi.isJsonText"/>).
    /// </summary>
    public static string? ReadStream(string path)
    {
        if (!(path == "/dev/stdin" || path.StartsWith("/dev/fd/", StringComparison.Ordinal)
                || path.StartsWith("/proc/self/fd/", StringComparison.Ordinal)) || !File.Exists(path))
            return null;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        var limit = Frontend.MaxFileBytes;
        using var kept = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0 && kept.Length <= limit)
            kept.Write(buffer, 0, n);
        if (kept.Length > limit)
            throw new IOException($"cannot read {path}: it gives more than the limit of {limit} bytes of a .tn file");
        kept.Position = 0;
        using var reader = new StreamReader(kept, System.Text.Encoding.UTF8, true);
        var text = reader.ReadToEnd();
        // As PlanCommand.RequireTnFile refuses a file named *.json: the brace would be a .tn syntax error.
        if (PlanApi.isJsonText(text))
            throw new UsageException($"{path} is a JSON network (it starts with {{); this verb reads .tn files (tn plan reads JSON networks)");
        return text;
    }

    /// <summary>
    /// The checked network of a <c>.tn</c> file given on the command line (see <see cref="Check"/>); throws
    /// <see cref="TnException"/> when it has errors.
    /// </summary>
    public static NetworkView Load(string path, IReadOnlyList<KeyValuePair<string, string>> overrides, string? network) =>
        Check(path, overrides, network).OrThrow();

    /// <summary>
    /// Throws a <see cref="FileNotFoundException"/> (one line, exit 1) when <paramref name="path"/> is an
    /// <c>examples/…</c> path that is neither here nor among the shipped examples and there is no such folder here
    /// (outside the repository): the message names the folder that holds the shipped examples and the ones nearest
    /// to the name. Inside the repository, and for any other path, the front end's own message stands.
    /// </summary>
    public static void Require(string? path)
    {
        if (path is null || File.Exists(path) || Directory.Exists(path) || Path.IsPathRooted(path))
            return;
        var relative = path.Replace('\\', '/');
        while (relative.StartsWith("./", StringComparison.Ordinal))
            relative = relative[2..];
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!relative.StartsWith("examples/", StringComparison.Ordinal) || (folder is not null && Directory.Exists(folder)) || !Directory.Exists(Examples))
            return;
        var wanted = relative["examples/".Length..];
        var near = Directory.EnumerateFiles(Examples, "*.tn", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Examples, f).Replace('\\', '/'))
            .Select(n => (Name: n, Distance: Cli.Distance(wanted, n)))
            .Where(x => x.Distance <= Math.Max(2, wanted.Length / 2))
            .ToList();
        // The nearest ones only (a slip of one letter names one file, not three).
        var names = near.Where(x => x.Distance == near.Min(y => y.Distance))
            .Select(x => "examples/" + x.Name).Order(StringComparer.Ordinal).Take(3).ToList();
        throw new FileNotFoundException(
            $"cannot read {path}: no such file here, nor among the examples installed with tn (in {Examples})" +
            (names.Count > 0 ? $"; did you mean {string.Join(" or ", names)}?" : ""));
    }
}
