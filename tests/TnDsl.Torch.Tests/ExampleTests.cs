using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class ExampleTests
{
    static ExampleTests() => NativeLoader.EnsureLoaded();

    /// Small parameters for every example, so that each builds and runs in well under a second.
    static readonly Dictionary<string, string> Small = new()
    {
        ["born-machine.tn"] = "n=8,chi=3",
        ["convac.tn"] = "M=2,r0=2,r1=2,r2=2,r3=2,Y=3",
        ["mera-classifier.tn"] = "chi=2,labels=3",
        ["mera.tn"] = "L=2,chi=2",
        ["mpo-linear.tn"] = "k=3,r=2,q=2",
        ["mps.tn"] = "n=4,chi=3",
        ["peps.tn"] = "Lx=2,Ly=2,D=2",
        ["qcnn.tn"] = "S=4,K=2,blocks=4,labels=3",
        ["ttn.tn"] = "L=2,chi=2",
    };

    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Repo.Root, "examples"), "*.tn").Order())
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Every_example_builds_and_runs_a_forward_and_backward_pass_on_the_cpu(string file)
    {
        Assert.True(Small.ContainsKey(file), $"{file} has no small parameters in this test yet");
        var overrides = Small[file].Split(',').Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        using var m = NetworkModules.FromFile(Repo.Example(file), overrides, new NetworkBuildOptions { Batch = 3, Module = new() { Seed = 1 } });
        var inputs = RandomInputs.Make(m, 3, new Generator(2), ScalarType.Float32);
        using var y = m.forward(inputs);
        long expected = m.Spec.Output.Select(l => m.Spec.Indices[l].IsDynamic ? 3 : m.Spec.Indices[l].Size).Aggregate(1L, (a, b) => a * b);
        Assert.Equal(expected, y.numel());
        Assert.True(y.isfinite().all().item<bool>(), $"{file}: non-finite output");
        using (var scope = NewDisposeScope())
            m.forward(inputs).square().sum().backward();
        Assert.All(m.parameters(), p => Assert.NotNull(p.grad));
        foreach (var t in inputs)
            t.Dispose();
    }
}
