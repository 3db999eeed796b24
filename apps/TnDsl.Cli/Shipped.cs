namespace TnDsl.Cli;

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
}
