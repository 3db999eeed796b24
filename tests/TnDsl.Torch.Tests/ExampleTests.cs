using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class ExampleTests
{
    static ExampleTests() => NativeLoader.EnsureLoaded();

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
        var overrides = Repo.Small(file);
        using var m = NetworkModules.FromFile(Repo.Example(file), overrides, new NetworkBuildOptions { Batch = 3, Module = new() { Seed = 1 } });
        using var generator = new Generator(2);
        var inputs = RandomInputs.Make(m, 3, generator, ScalarType.Float32);
        using var y = m.forward(inputs);
        long expected = m.Spec.Output.Select(l => m.Spec.Indices[l].IsDynamic ? 3 : m.Spec.Indices[l].Size).Aggregate(1L, (a, b) => a * b);
        Assert.Equal(expected, y.numel());
        using (var scope = NewDisposeScope())
            Assert.True(y.isfinite().all().item<bool>(), $"{file}: non-finite output");
        using (var scope = NewDisposeScope())
            ScalarOps.Square(m.forward(inputs)).sum().backward();
        Assert.All(m.parameters(), p => Assert.NotNull(p.grad));
        foreach (var t in inputs)
            t.Dispose();
    }
}
