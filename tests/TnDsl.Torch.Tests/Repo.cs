namespace TnDsl.Torch.Tests;

/// Locates files of the repository from the test's output directory.
static class Repo
{
    /// The repository root: the nearest ancestor holding examples/.
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "examples")) && File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props")))
                return dir.FullName;
        throw new DirectoryNotFoundException("no examples/ above " + AppContext.BaseDirectory);
    }

    /// The path of an example file.
    public static string Example(string name) => Path.Combine(Root, "examples", name);

    /// Overrides in the form the builders take.
    public static KeyValuePair<string, string>[] Set(params (string Key, object Value)[] values) =>
        values.Select(v => new KeyValuePair<string, string>(v.Key, Convert.ToString(v.Value, System.Globalization.CultureInfo.InvariantCulture)!)).ToArray();
}
