using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace TnDsl.Torch.Tests;

public class EmitTests
{
    static EmitTests() => NativeLoader.EnsureLoaded();

    /// Compiles C# source against the running framework and TorchSharp, and loads it.
    static Assembly Compile(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Append(typeof(torch).Assembly.Location)
            .Distinct()
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create(
            "Emitted" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
                .WithUsings("System", "System.Linq", "System.Collections.Generic"));
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        Assert.True(result.Success, "the emitted source does not compile:\n" + string.Join("\n", errors) + "\n" + source);
        return Assembly.Load(stream.ToArray());
    }

    [Theory]
    [InlineData("mps.tn", "n=5,chi=3")]
    [InlineData("mera.tn", "L=2,chi=3")]
    [InlineData("peps.tn", "Lx=2,Ly=3,D=2")]
    [InlineData("mera-classifier.tn", "chi=3")]
    [InlineData("mpo-linear.tn", "k=3,r=3,q=2")]
    public void Emitted_source_compiles_and_computes_what_the_runtime_module_computes(string file, string sets)
    {
        var overrides = sets.Split(',').Select(kv => new KeyValuePair<string, string>(kv.Split('=')[0], kv.Split('=')[1])).ToArray();
        using var runtime = NetworkModules.FromFile(Repo.Example(file), overrides,
            new NetworkBuildOptions { Batch = 4, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        // Every step is commented with where its tensors come from.
        Assert.Contains($"// step {runtime.Plan.Count}:", source);
        Assert.Contains(Path.GetFileName(file) + ":", source);
        var type = Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type)!;
        emitted.to(ScalarType.Float64);
        var names = (IReadOnlyDictionary<string, string>)type.GetField("TnNames")!.GetValue(null)!;
        Assert.Equal(runtime.ParameterNames.Count, emitted.parameters().Count());
        using (no_grad())
            foreach (var (field, param) in names)
            {
                var target = emitted.get_parameter(field) ?? emitted.get_buffer(field)!;
                target.copy_(runtime.get_parameter(param) ?? runtime.get_buffer(param)!);
            }
        var inputs = RandomInputs.Make(runtime, 4, new Generator(1), ScalarType.Float64);
        using var expected = runtime.forward(inputs);
        using var actual = emitted.forward(inputs);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.allclose(actual, rtol: 1e-10, atol: 1e-12), "emitted and runtime outputs differ");
        foreach (var t in inputs)
            t.Dispose();
    }
}
