using System.Xml.Linq;
using Xunit;

namespace TnDsl.Torch.Tests;

/// Libraries apart from applications, read from the project files: what each project pulls in through its
/// project references, transitively.
public class ProjectReferenceTests
{
    /// The packages a project references, directly or through its project references.
    static SortedSet<string> Packages(string project)
    {
        var packages = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        var seen = new HashSet<string>();
        void Visit(string path)
        {
            path = Path.GetFullPath(path);
            if (!seen.Add(path))
                return;
            var xml = XDocument.Load(path);
            foreach (var p in xml.Descendants("PackageReference"))
                packages.Add((string)p.Attribute("Include")!);
            foreach (var r in xml.Descendants("ProjectReference"))
                Visit(Path.Combine(Path.GetDirectoryName(path)!, ((string)r.Attribute("Include")!).Replace('\\', '/')));
        }
        Visit(Path.Combine(Repo.Root, project));
        return packages;
    }

    [Theory]
    [InlineData("src/TnDsl.Torch/TnDsl.Torch.csproj")]
    [InlineData("src/TnDsl.Native/TnDsl.Native.csproj")]
    [InlineData("src/TnDsl.Testing.Torch/TnDsl.Testing.Torch.csproj")]
    public void A_library_references_TorchSharp_and_leaves_the_libtorch_build_to_its_user(string project)
    {
        var packages = Packages(project);
        Assert.Contains("TorchSharp", packages);
        Assert.DoesNotContain(packages, p => p.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData("src/TnDsl.Core/TnDsl.Core.fsproj")]
    [InlineData("src/TnDsl.Testing/TnDsl.Testing.fsproj")]
    [InlineData("tests/TnDsl.Tests/TnDsl.Tests.fsproj")]
    [InlineData("tests/TnDsl.Testing.Tests/TnDsl.Testing.Tests.fsproj")]
    public void The_compiler_and_its_tests_pull_in_neither_TorchSharp_nor_the_command_line(string project)
    {
        var packages = Packages(project);
        Assert.DoesNotContain(packages, p => p.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase)
            || p is "TorchSharp" or "ScottPlot" or "Spectre.Console");
    }

    [Fact]
    public void The_console_example_uses_the_backend_library_alone()
    {
        var xml = XDocument.Load(Path.Combine(Repo.Root, "examples", "console", "ConsoleExample.csproj"));
        var references = xml.Descendants("ProjectReference").Select(r => Path.GetFileName((string)r.Attribute("Include")!)).Order();
        Assert.Equal(["TnDsl.Native.csproj", "TnDsl.Torch.csproj"], references);
        Assert.Equal(["libtorch-cpu-linux-x64"], xml.Descendants("PackageReference").Select(p => (string)p.Attribute("Include")!));
    }
}
