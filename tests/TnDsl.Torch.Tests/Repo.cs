using Xunit;

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

    /// Small parameters for every example (paths under examples/), so that each plans, builds and runs a forward and
    /// backward pass in well under a second.
    static readonly Dictionary<string, string> SmallParameters = new()
    {
        ["born-machine.tn"] = "n=24,chi=3",
        ["grid.tn"] = "L=3,D=2",
        ["convac.tn"] = "M=2,r0=2,r1=2,r2=2,r3=2,Y=3",
        ["mera-classifier.tn"] = "chi=2,labels=3",
        ["mera.tn"] = "L=2,chi=2",
        ["mpo-kernel.tn"] = "n=4,D=2",
        ["mpo-linear.tn"] = "k=3,r=2,q=2",
        ["mps.tn"] = "n=20,chi=3",
        ["peps.tn"] = "Lx=2,Ly=3,D=2",
        ["qcnn.tn"] = "S=4,K=2,blocks=4,labels=3",
        ["ttn.tn"] = "L=3,chi=2",
        ["layers/convac.tn"] = "",
        ["layers/mera.tn"] = "",
        ["layers/mps.tn"] = "",
        ["layers/peps.tn"] = "",
        ["layers/tt-linear.tn"] = "",
        ["layers/ttn.tn"] = "",
    };

    /// The small parameters of an example as overrides; an example without any fails the test that asks.
    public static KeyValuePair<string, string>[] Small(string example)
    {
        Assert.True(SmallParameters.ContainsKey(example), $"{example} has no small parameters in the tests yet (Repo.SmallParameters)");
        return Overrides(SmallParameters[example]);
    }

    /// Overrides written as on the command line, "n=5,chi=3"; the empty text is none.
    public static KeyValuePair<string, string>[] Overrides(string sets) =>
        sets.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
}
