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
    internal static Assembly Compile(string source)
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
        // Errors, and the warnings that would break a project with warnings as errors (a field hiding an inherited member).
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error || d.Id is "CS0108" or "CS0114")
            .Select(d => d.ToString()).ToList();
        Assert.True(result.Success && errors.Count == 0, "the emitted source does not compile:\n" + string.Join("\n", errors) + "\n" + source);
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
        using var runtime = NetworkModules.FromFile(Repo.Example(file), Repo.Overrides(sets),
            new NetworkBuildOptions { Batch = 4, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        // Every step is commented with where its tensors come from.
        Assert.Contains($"// step {runtime.Plan.Count}:", source);
        Assert.Contains(Path.GetFileName(file) + ":", source);
        AssertComputesTheSame(runtime, source);
    }

    [Theory]
    [InlineData("mps.tn", "n=6,chi=16")]
    [InlineData("mera-classifier.tn", "chi=3")]
    [InlineData("mpo-linear.tn", "k=3,r=3,q=2")]
    [InlineData("peps.tn", "Lx=2,Ly=3,D=3")]
    public void Emitted_source_of_a_sliced_plan_loops_over_the_slices_and_computes_what_the_runtime_module_computes(string file, string sets)
    {
        var net = TnDsl.Api.Frontend.Load(Repo.Example(file), Repo.Overrides(sets), null);
        // The tightest limit there is, the result's size: every larger intermediate is sliced away.
        long output = net.Output.Aggregate(1L, (a, l) => a * (net.Indices[l].IsDynamic ? 4 : net.Indices[l].Size));
        var plan = TnDsl.Planner.Plan(net, "greedy", 4, 0, output);
        Assert.True(plan.IsSliced);
        using var runtime = new NetworkModule(NetworkAdapter.FromFlat(net), plan, new() { DType = ScalarType.Float64, Seed = 9 });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        Assert.Contains("for (long v0 = 0; v0 < n0; v0++)", source);
        Assert.Contains(".narrow(", source);
        AssertComputesTheSame(runtime, source);
    }

    /// Compiles the emitted source, copies the runtime module's values into it and compares both on random inputs.
    static void AssertComputesTheSame(NetworkModule runtime, string source)
    {
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
        using var inputsGenerator = new Generator(1);
        var inputs = RandomInputs.Make(runtime, 4, inputsGenerator, ScalarType.Float64);
        using var expected = runtime.forward(inputs);
        using var actual = emitted.forward(inputs);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.allclose(actual, rtol: 1e-10, atol: 1e-12), "emitted and runtime outputs differ");
        foreach (var t in inputs)
            t.Dispose();
    }

    [Theory]
    [InlineData("mps.tn", "n=5,chi=3")]
    [InlineData("mera.tn", "L=2,chi=3")]
    [InlineData("mera-classifier.tn", "chi=3")]
    [InlineData("mpo-linear.tn", "k=3,r=3,q=2")]
    [InlineData("ttn.tn", "")]
    public void Emitted_source_keeps_the_initialisers_same_seed_same_values(string file, string sets)
    {
        using var runtime = NetworkModules.FromFile(Repo.Example(file), Repo.Overrides(sets),
            new NetworkBuildOptions { Batch = 3, Module = new() { DType = ScalarType.Float64, Seed = 7 } });
        AssertSameValues(runtime, CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted"), 7);
    }

    /// Builds the emitted class with the seed and float64, and checks every parameter and buffer equals the runtime
    /// module's exactly, and so does the output on random inputs.
    static void AssertSameValues(NetworkModule runtime, string source, long seed)
    {
        var type = Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, seed, ScalarType.Float64)!;
        var names = (IReadOnlyDictionary<string, string>)type.GetField("TnNames")!.GetValue(null)!;
        Assert.Equal(runtime.ParameterNames.Count + runtime.BufferNames.Count, names.Count);
        foreach (var (field, param) in names)
        {
            var mine = emitted.get_parameter(field) ?? emitted.get_buffer(field);
            var theirs = runtime.get_parameter(param) ?? runtime.get_buffer(param);
            Assert.NotNull(mine);
            Assert.Equal(theirs!.shape, mine!.shape);
            using (NewDisposeScope())
                Assert.True(theirs.eq(mine).all().item<bool>(), $"{param} (field {field}) differs from the runtime module's");
        }
        using var inputsGenerator = new Generator(2);
        var inputs = RandomInputs.Make(runtime, 3, inputsGenerator, ScalarType.Float64);
        using (no_grad())
        {
            using var expected = runtime.forward(inputs);
            using var actual = emitted.forward(inputs);
            Assert.True(expected.allclose(actual, rtol: 1e-10, atol: 1e-12), "emitted and runtime outputs differ");
        }
        foreach (var t in inputs)
            t.Dispose();
    }

    /// Every C# keyword (reserved and contextual, as Roslyn lists them) and names that collide with what the emitter
    /// writes itself: locals, helpers, inherited members, the class, and two names that sanitise alike.
    static readonly string[] HostileNames =
    [
        .. Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetKeywordKinds().Select(Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetText),
        .. Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetContextualKeywordKinds().Select(Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetText),
        "t0", "t1", "t7", "in_x", "dtype", "scope", "inputs", "forward", "TnNames", "TnInit", "Emitted", "train", "parameters",
        "Dispose", "ToString", "generator", "shape", "values", "seed", "A.3", "A_3", "_", "3", "é",
    ];

    [Fact]
    public void Emitted_source_compiles_for_generated_networks_named_with_every_CSharp_keyword()
    {
        var names = HostileNames.Where(n => n.Length > 0).Distinct().ToArray();
        Assert.Contains("new", names);
        Assert.Contains("record", names);
        var rng = new Random(22);
        const int perNetwork = 12;
        for (int start = 0; start < names.Length; start += perNetwork)
        {
            var chunk = names.Skip(start).Take(perNetwork).ToArray();
            // A chain: tensor k has legs (b[k], p[k], b[k+1]) with the end bonds left out, each a weight, a const or an
            // input (a batch leg added), with a random initialiser.
            var net = new NetBuilder(chunk[0]);
            var batch = net.Index("batch", 2, dynamic: true);
            var bonds = Enumerable.Range(0, chunk.Length + 1).Select(k => net.Index($"b{k}", 2)).ToArray();
            var open = new List<int> { batch };
            for (int k = 0; k < chunk.Length; k++)
            {
                var p = net.Index($"p{k}", 2);
                var legs = new List<int>();
                if (k > 0) legs.Add(bonds[k]);
                legs.Add(p);
                if (k < chunk.Length - 1) legs.Add(bonds[k + 1]);
                Init init = rng.Next(7) switch
                {
                    0 => Init.NewNormal(0.5, 0.2),
                    1 => Init.NewUniform(-1, 1),
                    2 => Init.Identity,
                    3 => Init.Orthogonal,
                    4 => Init.NewSum(Init.Identity, Init.NewNormal(0, 0.01)),
                    5 => Init.NewConstant(0.25),
                    _ => Init.Copy,
                };
                switch (k % 3)
                {
                    case 0:
                        net.Tensor(chunk[k], Role.Weight, [.. legs], init);
                        break;
                    case 1:
                        net.Tensor(chunk[k], Role.Const, [.. legs], init);
                        break;
                    default:
                        net.Tensor(chunk[k], Role.Input, [batch, .. legs]);
                        break;
                }
                if (k % 4 == 0)
                    open.Add(p);
            }
            var spec = NetworkAdapter.FromFlat(net.Build([.. open]));
            // Contracted right to left, not in declaration order.
            var operands = spec.Tensors.Length;
            var path = Enumerable.Range(0, operands - 1).Select(k => (operands - 2 - k, operands - 1 - k)).ToArray();
            using var runtime = new NetworkModule(spec, path, new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 5 });
            var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
            AssertSameValues(runtime, source, 5);
        }
    }

    [Fact]
    public void Class_and_namespace_names_that_are_not_CSharp_identifiers_are_refused()
    {
        using var runtime = NetworkModules.FromFile(Repo.Example("mps.tn"), [new("n", "3")]);
        Assert.Throws<ArgumentException>(() => CSharpEmitter.Emit(runtime, "class", "TnDsl.Emitted"));
        Assert.Throws<ArgumentException>(() => CSharpEmitter.Emit(runtime, "Mps", "TnDsl.new"));
        Assert.Throws<ArgumentException>(() => CSharpEmitter.Emit(runtime, "Mps", "TnDsl..X"));
    }
}

/// The emitted class's memory guard (issue 22). It reads TN_MEMORY_LIMIT, which is process-wide: these run alone.
[Collection("peak memory")]
public class EmittedGuardTests
{
    static EmittedGuardTests() => NativeLoader.EnsureLoaded();

    [Fact]
    public void Emitted_code_checks_its_sizes_before_allocating()
    {
        using var runtime = NetworkModules.FromFile(Repo.Example("mpo-linear.tn"), Repo.Set(("k", 3)),
            new NetworkBuildOptions { Batch = 4, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        Assert.Contains("TnGuard.Check(", source);
        var type = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        var forward = (double)MemoryGuard.Needed(runtime.ExecutionPlan, ScalarType.Float64, false);
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            // Weights over the limit: refused by the constructor, before it makes them.
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, "1K");
            var e = Assert.Throws<System.Reflection.TargetInvocationException>(() => Activator.CreateInstance(type, 9L, ScalarType.Float64));
            Assert.IsType<InvalidOperationException>(e.InnerException);
            Assert.Contains("memory limit", e.InnerException!.Message);
            Assert.Contains("(TN_MEMORY_LIMIT=1K)", e.InnerException!.Message);
            // Room for the planned batch of 4 but not for 16 times it: the forward pass checks the batch it is fed.
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, ((long)(2 * forward)).ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 9L, ScalarType.Float64)!;
            using var smallGenerator = new Generator(1);
            var small = RandomInputs.Make(runtime, 4, smallGenerator, ScalarType.Float64);
            using var largeGenerator = new Generator(1);
            var large = RandomInputs.Make(runtime, 64, largeGenerator, ScalarType.Float64);
            using (var y = emitted.forward(small))
                Assert.Equal(4, y.shape[0]);
            var refused = Assert.Throws<InvalidOperationException>(() => emitted.forward(large));
            Assert.Contains("forward", refused.Message);
            foreach (var t in small.Concat(large))
                t.Dispose();
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
        }
    }

    [Theory]
    [InlineData("mera-classifier.tn", "chi=3")]
    [InlineData("mpo-kernel.tn", "n=3")]
    public void Emitted_forward_refuses_inputs_of_the_wrong_number_or_shape_as_the_runtime_module_does(string file, string sets)
    {
        // Unchecked, a missing input failed on an array index, and a row wider than the family (mera-classifier's x of
        // [7, 9] for [batch, 8]) was contracted on its first entries and returned an output.
        using var runtime = NetworkModules.FromFile(Repo.Example(file), Repo.Overrides(sets),
            new NetworkBuildOptions { Batch = 4, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var type = EmitTests.Compile(CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted")).GetType("TnDsl.Emitted.Emitted")!;
        using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 9L, ScalarType.Float64)!;
        using var generator = new Generator(1);
        var good = RandomInputs.Make(runtime, 7, generator, ScalarType.Float64);
        using var wider = zeros([.. good[0].shape[..^1], good[0].shape[^1] + 1], ScalarType.Float64);
        using var flat = zeros([good[0].shape[^1]], ScalarType.Float64);
        Tensor[][] bad = [good[..^1], [.. good, good[0]], [wider, .. good[1..]], [flat, .. good[1..]]];
        foreach (var inputs in bad)
        {
            var expected = Assert.ThrowsAny<ArgumentException>(() => runtime.forward(inputs));
            var actual = Assert.ThrowsAny<ArgumentException>(() => emitted.forward(inputs));
            Assert.Equal(expected.Message, actual.Message);
        }
        using (var y = emitted.forward(good))
            Assert.Equal(7, y.shape[0]);
        foreach (var t in good)
            t.Dispose();
    }

    [Fact]
    public void Emitted_code_reads_TN_MEMORY_LIMIT_as_the_backend_does_and_refuses_what_is_no_limit()
    {
        // TN_MEMORY_LIMIT=50% or 16GB was ignored by the emitted guard (80% of the available memory instead), and
        // TN_MEMORY_LIMIT=abc or 0 was taken silently, where the backend (MemoryGuard) reads or refuses them.
        using var runtime = NetworkModules.FromFile(Repo.Example("mps.tn"), Repo.Set(("n", 3)));
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        var guard = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted+TnGuard")!;
        double Limit() => EmittedLimit(guard, CPU).Bytes;
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            // 2^63 - 1 read exactly (through a double it was 2^63, refused), as the backend reads it.
            foreach (var text in new[] { "16GB", "16GiB", "1.5K", "123456789", "2t", "9223372036854775807" })
            {
                Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, text);
                Assert.Equal((double)MemoryGuard.ParseBytes(text)!.Value, Limit());
            }
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, "50%");
            var (backend, _) = MemoryGuard.Current();
            var emitted = Limit();
            Assert.True(Math.Abs(emitted - backend) <= 0.1 * backend, $"50%: emitted {emitted:N0}, backend {backend:N0}");
            foreach (var text in new[] { "abc", "0", "0.5", "-1", "200%", "GB", "9223372036854775808", "7E" })
            {
                Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, text);
                Assert.Throws<MemoryLimitException>(() => MemoryGuard.Current());
                var e = Assert.Throws<InvalidOperationException>(() => Limit());
                Assert.Contains("is not a memory limit", e.Message);
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
        }
    }

    /// The emitted TnGuard of mps.tn (n = 3), with its device reader (TnGuard.DeviceMemory) replaced by
    /// <paramref name="reader"/> where given; TN_MEMORY_LIMIT unset. Put back whatever <paramref name="check"/> does.
    static void WithEmittedGuard(Func<int, (long Free, long Total)?>? reader, Action<Type, string> check)
    {
        using var runtime = NetworkModules.FromFile(Repo.Example("mps.tn"), Repo.Set(("n", 3)));
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        var guard = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted+TnGuard")!;
        if (reader is not null)
            guard.GetProperty("DeviceMemory")!.SetValue(null, reader);
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, null);
            check(guard, source);
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
        }
    }

    [Fact]
    public void On_a_gpu_the_emitted_limit_is_a_share_of_its_free_memory_as_the_modules_is()
    {
        // The emitted guard took the host's memory on a GPU too. No GPU is lent to these tests: a stand-in reads the
        // device (as DeviceMemoryTests do for the module), 1 GiB free of 80 on cuda:1.
        int? asked = null;
        WithEmittedGuard(index => { asked = index; return (1L << 30, 80L << 30); }, (guard, source) =>
        {
            Assert.Contains("TnGuard.Limit(device)", source);
            var gpu = new Device(DeviceType.CUDA, 1);
            var (bytes, from) = EmittedLimit(guard, gpu);
            Assert.Equal(1, asked);
            Assert.Equal(0.8 * (1L << 30), bytes);
            Assert.Contains("80% of the 1,073,741,824 bytes free of 85,899,345,920 on cuda:1", from);
            // The module's rule, with the same reader.
            DeviceMemory.Reader = _ => (1L << 30, 80L << 30);
            try
            {
                using (MemoryGuard.OnDevice(gpu))
                {
                    Assert.Equal(MemoryGuard.Current().Bytes, (long)bytes);
                    Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, "50%");
                    Assert.Equal(MemoryGuard.Current().Bytes, (long)EmittedLimit(guard, gpu).Bytes);
                    Assert.Contains("TN_MEMORY_LIMIT=50% of the 1,073,741,824 bytes free", EmittedLimit(guard, gpu).Source);
                    // A size is a size on any device.
                    Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, "16G");
                    Assert.Equal((16.0 * (1L << 30), "TN_MEMORY_LIMIT=16G"), EmittedLimit(guard, gpu));
                }
            }
            finally
            {
                DeviceMemory.Reader = null;
            }
            // On the CPU the host's memory, the reader not asked.
            asked = null;
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, null);
            var host = EmittedLimit(guard, CPU);
            Assert.Null(asked);
            Assert.Equal("80% of the available memory", host.Source);
            var (backend, _) = MemoryGuard.Current();
            Assert.True(Math.Abs(host.Bytes - backend) <= 0.1 * backend, $"emitted {host.Bytes:N0}, backend {backend:N0}");
            // No chunk cap on a GPU, the CPU's on the CPU.
            Assert.Equal(double.PositiveInfinity, (double)guard.GetMethod("Cap")!.Invoke(null, [gpu])!);
            Assert.Equal((double)MemoryGuard.DefaultChunkCap, (double)guard.GetMethod("Cap")!.Invoke(null, [CPU])!);
        });
    }

    [Fact]
    public void Where_the_gpus_memory_cannot_be_read_the_emitted_guard_takes_the_hosts_and_says_so()
    {
        WithEmittedGuard(_ => null, (guard, _) =>
        {
            var (bytes, from) = EmittedLimit(guard, new Device(DeviceType.CUDA, 1));
            Assert.Equal("80% of the host's available memory: the free memory of cuda:1 could not be read", from);
            var host = EmittedLimit(guard, CPU).Bytes;
            Assert.True(Math.Abs(host - bytes) <= 0.1 * host, $"cuda:1 {bytes:N0}, the host {host:N0}");
            // A refusal names where the limit came from.
            var check = guard.GetMethod("Check", [typeof(double), typeof(string), typeof((double, string))])!;
            var e = Assert.Throws<TargetInvocationException>(() => check.Invoke(null, [2 * bytes, "the forward pass", (bytes, from)]));
            Assert.Contains("(80% of the host's available memory: the free memory of cuda:1 could not be read)", e.InnerException!.Message);
        });
        // The emitted reader itself: where no CUDA runtime is loaded (a CPU-only libtorch, as here) it reads nothing.
        if (OperatingSystem.IsLinux() && DeviceMemory.LoadedRuntime(File.ReadLines("/proc/self/maps")) is null)
            WithEmittedGuard(null, (guard, _) =>
            {
                var reader = (Func<int, (long Free, long Total)?>)guard.GetProperty("DeviceMemory")!.GetValue(null)!;
                Assert.Null(reader(0));
                Assert.EndsWith("the free memory of cuda:0 could not be read", EmittedLimit(guard, new Device(DeviceType.CUDA, 0)).Source);
            });
    }

    [Fact]
    public void Emitted_code_checks_a_training_step_against_the_planners_training_estimate()
    {
        // The emitted forward checked the forward estimate alone: layers/mps.tn at chi = 64, sliced under 100M at
        // 50,000 rows, ran a training step of 1.5 GB under that limit.
        using var runtime = NetworkModules.FromFile(Repo.Example("layers/mps.tn"), null,
            new NetworkBuildOptions { Batch = 4, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        var type = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        var forward = MemoryGuard.Needed(runtime.ExecutionPlan, ScalarType.Float64, false);
        var training = MemoryGuard.Needed(runtime.ExecutionPlan, ScalarType.Float64, true);
        Assert.True(training > 2 * forward);
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, ((forward + training) / 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 9L, ScalarType.Float64)!;
            using var generator = new Generator(1);
            var inputs = RandomInputs.Make(runtime, 4, generator, ScalarType.Float64);
            // The planned batch: its forward pass fits, a training step at it does not.
            using (no_grad())
            using (var y = emitted.forward(inputs))
                Assert.Equal(4, y.shape[0]);
            var refused = Assert.Throws<InvalidOperationException>(() => emitted.forward(inputs));
            Assert.Contains("the forward pass with autograd (a training step)", refused.Message);
            // At the planned batch its figure is the planner's training estimate in float64, as the runtime module's
            // planner computes it (it was the float32 estimate doubled, autograd's fixed bytes per step doubled too).
            var needs = double.Parse(System.Text.RegularExpressions.Regex.Match(refused.Message, @"needs ([\d,]+) bytes").Groups[1].Value.Replace(",", ""),
                                     System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(needs - (double)training) <= 1e-9 * (double)training + 1, $"the emitted guard needs {needs:N0} bytes, the planner {training:N0}");
            foreach (var t in inputs)
                t.Dispose();
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
        }
    }

    [Fact]
    public void Emitted_code_runs_a_batch_over_the_limit_in_chunks_of_rows_where_nothing_records_autograd() =>
        // Room for about twice the planned batch of 4: 64 rows run in chunks of about 8 where nothing records
        // autograd, with the values of the runtime module (same seed), and are refused where autograd records.
        EmittedRunsInChunks("mpo-linear.tn", Repo.Set(("k", 3)), 2.0, (_, _, _) => { }, "TnChunks(");

    [Theory]
    [InlineData(32.0)]
    [InlineData(2.0)]
    public void Emitted_code_runs_a_network_of_two_open_batch_indices_in_chunks_along_one_or_both_nested(double room) =>
        // mpo-kernel.tn planned at 4 rows of x (q) and of y (k), fed 64 of each: its scaled estimate is 256 times the
        // planned one. With room for 32 times it, 8 rows of q a chunk (k whole) fit; with room for twice it, not even
        // one row of q beside every row of k: one row of q at a time by 8 of k.
        EmittedRunsInChunks("mpo-kernel.tn", null, room, (type, large, forward) =>
        {
            var chunking = type.GetMethod("TnChunking", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
            var levels = ((int Index, long Rows, long Chunk)[])chunking.Invoke(null, [large, 256 * forward, room * forward, (double)MemoryGuard.DefaultChunkCap])!;
            Assert.Equal(room > 16 ? new[] { (0, 64L, 8L) } : new[] { (0, 64L, 1L), (1, 64L, 8L) }, levels);
        }, "TnChunking(", "static readonly int[] TnChunkOutput = new[] { 0, 1 };");

    [Fact]
    public void Emitted_chunks_take_no_more_rows_than_the_cap_lets_through_under_a_higher_limit() =>
        // mpo-kernel.tn fed 64 rows of q and k, 16 times the planned 4 along each: with an estimate of 16 times the cap
        // and a limit far above it, a chunk of 4 rows of q is the cap's (the limit alone would let through 63).
        EmittedRunsInChunks("mpo-kernel.tn", null, 32.0, (type, large, _) =>
        {
            var chunking = type.GetMethod("TnChunking", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
            var levels = ((int Index, long Rows, long Chunk)[])chunking.Invoke(null, [large, 16.0 * MemoryGuard.DefaultChunkCap, 1e18, TnCap(type, large)])!;
            Assert.Equal(new[] { (0, 64L, 4L) }, levels);
            // No cap (a GPU's): the limit alone, 63 rows of q.
            // No cap (a GPU's): the limit alone, 63 rows of q, which make 2 chunks: 32 rows each, not 63 and 1.
            levels = ((int Index, long Rows, long Chunk)[])chunking.Invoke(null, [large, 16.0 * MemoryGuard.DefaultChunkCap, 1e18, double.PositiveInfinity])!;
            Assert.Equal(new[] { (0, 64L, 32L) }, levels);
            Assert.Equal(double.PositiveInfinity, (double)Guard(type).GetMethod("Cap")!.Invoke(null, [new Device(DeviceType.CUDA, 0)])!);
        }, $"public const double ChunkCap = {MemoryGuard.DefaultChunkCap}d;");

    [Fact]
    public void Emitted_chunks_share_the_rows_out_evenly() =>
        // mpo-linear.tn planned at 4 rows, fed 64: room for 3 times the planned estimate lets through 12 rows a chunk,
        // which make 6 chunks: of 11 or 10 rows (12, 12, 12, 12, 12 and 4 before), with the runtime module's values.
        EmittedRunsInChunks("mpo-linear.tn", Repo.Set(("k", 3)), 3.0, (type, large, forward) =>
        {
            var chunking = type.GetMethod("TnChunking", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
            var levels = ((int Index, long Rows, long Chunk)[])chunking.Invoke(null, [large, 16 * forward, 3 * forward, double.PositiveInfinity])!;
            Assert.Equal(new[] { (0, 64L, 11L) }, levels);
        });

    [Fact]
    public void Emitted_code_checks_a_batch_smaller_than_planned_at_what_it_needs_and_chunks_below_the_planned_rows()
    {
        // The emitted guard scaled the planned estimate up only: a class planned at 4,096 rows under a limit of a
        // quarter of that estimate refused 64 rows, forward and training, as if they needed the planned batch's
        // figure, and refused 8,192 rows where chunks smaller than the planned batch fit.
        using var runtime = NetworkModules.FromFile(Repo.Example("mpo-linear.tn"), Repo.Set(("k", 3)),
            new NetworkBuildOptions { Batch = 4096, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        Assert.Contains("TnGuard.Scale(inputs[0], 0, 4096, ", source);
        var type = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        var forward = MemoryGuard.Needed(runtime.ExecutionPlan, ScalarType.Float64, false);
        using var generator = new Generator(1);
        var small = RandomInputs.Make(runtime, 64, generator, ScalarType.Float64);
        var large = RandomInputs.Make(runtime, 8192, generator, ScalarType.Float64);
        Tensor expectedSmall, expectedLarge;
        using (no_grad())
        {
            expectedSmall = runtime.forward(small);
            expectedLarge = runtime.forward(large);
        }
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, (forward / 4).ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 9L, ScalarType.Float64)!;
            using (no_grad())
            using (var y = emitted.forward(small))
                Assert.True(expectedSmall.allclose(y, rtol: 1e-10, atol: 1e-12), "emitted and runtime outputs differ at 64 rows");
            using (var scope = NewDisposeScope())
            {
                var y = emitted.forward(small);
                y.square().sum().backward();
                Assert.All(emitted.parameters(), p => Assert.NotNull(p.grad));
            }
            using (no_grad())
            using (var y = emitted.forward(large))
                Assert.True(expectedLarge.allclose(y, rtol: 1e-10, atol: 1e-12), "chunked emitted and runtime outputs differ at 8,192 rows");
            var chunking = type.GetMethod("TnChunking", BindingFlags.NonPublic | BindingFlags.Static)!;
            var levels = ((int Index, long Rows, long Chunk)[])chunking.Invoke(null, [large, 2 * (double)forward, (double)forward / 4, double.PositiveInfinity])!;
            var level = Assert.Single(levels);
            Assert.InRange(level.Chunk, 2, 4095);
            // Where autograd records, the planned batch's training step is over the limit: refused.
            var refused = Assert.Throws<InvalidOperationException>(() => emitted.forward(large));
            Assert.Contains("a training step", refused.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
            expectedSmall.Dispose();
            expectedLarge.Dispose();
            foreach (var t in small.Concat(large))
                t.Dispose();
        }
    }

    /// The emitted guard's chunk cap for these inputs (TnGuard.Cap on their device: the CPU's here).
    static double TnCap(Type type, Tensor[] inputs) => (double)Guard(type).GetMethod("Cap")!.Invoke(null, [inputs[0].device])!;

    /// The nested TnGuard class of an emitted class.
    static Type Guard(Type type) => type.Assembly.GetTypes().Single(t => t.Name == "TnGuard");

    /// The emitted guard's limit for work on <paramref name="device"/> (TnGuard.Limit) and its source.
    internal static (double Bytes, string Source) EmittedLimit(Type guard, Device device)
    {
        try
        {
            return ((double, string))guard.GetMethod("Limit")!.Invoke(null, [device])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            // The guard's own exception, as a caller of the emitted class sees it.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// The class emitted for <paramref name="example"/> (planned at a batch of 4, float64, seed 9), fed 64 rows under a
    /// memory limit of <paramref name="room"/> times the planned forward estimate: where nothing records autograd its
    /// output equals the runtime module's (same seed), and where autograd records it is refused. The source holds
    /// each of <paramref name="shown"/>; <paramref name="check"/> looks further at the compiled type, the inputs and the
    /// planned estimate while the limit is set.
    static void EmittedRunsInChunks(string example, IReadOnlyList<KeyValuePair<string, string>>? set, double room,
        Action<Type, Tensor[], double> check, params string[] shown)
    {
        using var runtime = NetworkModules.FromFile(Repo.Example(example), set,
            new NetworkBuildOptions { Batch = 4, Module = new() { DType = ScalarType.Float64, Seed = 9 } });
        var source = CSharpEmitter.Emit(runtime, "Emitted", "TnDsl.Emitted");
        foreach (var text in shown)
            Assert.Contains(text, source);
        var type = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        var forward = (double)MemoryGuard.Needed(runtime.ExecutionPlan, ScalarType.Float64, false);
        using var generator = new Generator(1);
        var large = RandomInputs.Make(runtime, 64, generator, ScalarType.Float64);
        Tensor expected;
        using (no_grad())
            expected = runtime.forward(large);
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, ((long)(room * forward)).ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 9L, ScalarType.Float64)!;
            using (no_grad())
            using (var actual = emitted.forward(large))
            {
                Assert.Equal(expected.shape, actual.shape);
                Assert.True(expected.allclose(actual, rtol: 1e-10, atol: 1e-12), "chunked emitted and runtime outputs differ");
            }
            check(type, large, forward);
            var refused = Assert.Throws<InvalidOperationException>(() => emitted.forward(large));
            Assert.Contains("forward", refused.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
            expected.Dispose();
            foreach (var t in large)
                t.Dispose();
        }
    }
}

/// The emitted class of a sliced plan checkpoints its training step as the runtime module does (SliceCheckpointing,
/// its <c>CheckpointSlices</c> and <c>CheckpointGroup</c> properties): the slices run without autograd, the backward pass
/// runs them again in groups, and the gradients are the unsliced module's.
public class EmittedCheckpointTests
{
    static EmittedCheckpointTests() => NativeLoader.EnsureLoaded();

    static readonly NetworkModuleOptions F64 = new() { DType = ScalarType.Float64, Seed = 5 };

    /// The class emitted for <paramref name="sliced"/>, built and given <paramref name="values"/>'s parameters and buffers.
    internal static (Type Type, nn.Module<Tensor[], Tensor> Module) Emitted(NetworkModule sliced, NetworkModule values)
    {
        var source = CSharpEmitter.Emit(sliced, "Emitted", "TnDsl.Emitted");
        var type = EmitTests.Compile(source).GetType("TnDsl.Emitted.Emitted")!;
        var emitted = (nn.Module<Tensor[], Tensor>)Activator.CreateInstance(type, 5L, ScalarType.Float64)!;
        var names = (IReadOnlyDictionary<string, string>)type.GetField("TnNames")!.GetValue(null)!;
        using (no_grad())
            foreach (var (field, param) in names)
                (emitted.get_parameter(field) ?? emitted.get_buffer(field)!).copy_(values.get_parameter(param) ?? values.get_buffer(param)!);
        return (type, emitted);
    }

    /// Sets how the emitted class runs a training step: its <c>CheckpointSlices</c> (Auto, Always, Never) and
    /// <c>CheckpointGroup</c>.
    internal static void Checkpoint(Type type, object emitted, string how, long? group = null)
    {
        type.GetProperty("CheckpointSlices")!.SetValue(emitted, Enum.Parse(type.GetNestedType("SliceCheckpointing")!, how));
        type.GetProperty("CheckpointGroup")!.SetValue(emitted, group);
    }

    /// The slices per group the emitted class's last call checkpointed in (0: none).
    internal static long CheckpointedGroup(Type type, object emitted) => (long)type.GetProperty("CheckpointedGroup")!.GetValue(emitted)!;

    /// The value and the gradients (by `.tn` parameter, and of the floating-point inputs) of one training step of the
    /// emitted class, as SlicedExecutionTests.Run takes them from a runtime module.
    internal static (double[] Value, Dictionary<string, double[]> Grads) Run(Type type, nn.Module<Tensor[], Tensor> m, IReadOnlyList<string> inputNames, Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        inputs = inputs.Select(t => t.is_floating_point() ? t.detach().clone().requires_grad_(true) : t).ToArray();
        m.zero_grad();
        var y = m.forward(inputs);
        using var probeGenerator = new Generator(11);
        var probe = randn(y.shape, ScalarType.Float64, generator: probeGenerator);
        (y * probe).sum().backward();
        var names = (IReadOnlyDictionary<string, string>)type.GetField("TnNames")!.GetValue(null)!;
        var grads = m.named_parameters().ToDictionary(p => names[p.name], p => SlicedExecutionTests.GradValues(p.parameter));
        for (int k = 0; k < inputs.Length; k++)
            if (inputs[k].requires_grad)
                grads[$"input {inputNames[k]}"] = SlicedExecutionTests.GradValues(inputs[k]);
        return (y.contiguous().data<double>().ToArray(), grads);
    }

    /// The emitted class of <paramref name="plan"/>, checkpointed in groups of <paramref name="group"/> slices, has the
    /// value and the gradients of the runtime module of <paramref name="free"/> (unsliced), in float64.
    static void AssertSame(NetworkSpec spec, PlanView free, PlanView plan, long group, Tensor[] inputs)
    {
        using var unsliced = new NetworkModule(spec, free, F64);
        using var sliced = new NetworkModule(spec, plan, F64);
        var (type, emitted) = Emitted(sliced, unsliced);
        using (emitted)
        {
            Checkpoint(type, emitted, "Always", group);
            var (v0, g0) = SlicedExecutionTests.Run(unsliced, inputs, inputGrads: true);
            var (v1, g1) = Run(type, emitted, unsliced.InputNames, inputs);
            Assert.Equal(Math.Min(group, (long)plan.Slices), CheckpointedGroup(type, emitted));
            SlicedExecutionTests.AssertClose(v0, v1, "value", 1e-12);
            Assert.Equal(g0.Keys.Order(), g1.Keys.Order());
            foreach (var (name, g) in g0)
                SlicedExecutionTests.AssertClose(g, g1[name], $"gradient of {name}", 1e-12);
        }
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(7L)]   // groups that start mid-way through loops
    [InlineData(64L)]
    public void An_emitted_checkpointed_lattice_has_the_unsliced_gradients(long group)
    {
        var net = TnDsl.Api.Frontend.Load(Repo.Example("grid.tn"), Repo.Set(("L", 4), ("D", 2)), null);
        var free = TnDsl.Planner.Plan(net, "greedy", null, 0);
        var plan = TnDsl.Planner.Plan(net, "greedy", null, 0, 2L);
        Assert.True(plan.Slices > 4 * group, $"{plan.Slices} slices");
        AssertSame(NetworkAdapter.FromFlat(net), free, plan, group, []);
    }

    [Theory]
    [InlineData("mps.tn", "n=6,chi=16")]
    [InlineData("mpo-linear.tn", "k=3")]
    [InlineData("mera-classifier.tn", "")]
    public void Emitted_checkpointed_examples_have_the_unsliced_gradients_for_parameters_and_inputs(string file, string sets)
    {
        var net = TnDsl.Api.Frontend.Load(Repo.Example(file), Repo.Overrides(sets), null);
        var free = TnDsl.Planner.Plan(net, "greedy", 4, 0);
        var plan = TnDsl.Planner.Plan(net, "greedy", 4, 0, OutputLimit.Of(net, 4));
        Assert.True(plan.Slices >= 4, $"{file}: {plan.Slices} slices");
        var spec = NetworkAdapter.FromFlat(net);
        using var shapes = new NetworkModule(spec, free, F64);
        using var inputsGenerator = new Generator(3);
        var inputs = RandomInputs.Make(shapes, 4, inputsGenerator, ScalarType.Float64);
        try
        {
            AssertSame(spec, free, plan, 3, inputs);
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }
}

/// The emitted guard of a checkpointed training step: it compares the checkpointed estimate with the limit, so it lets
/// through a step that recording every slice does not fit, which then allocates less, and still refuses one whose
/// smallest group does not fit. It sets TN_MEMORY_LIMIT and measures the process's peak: these run alone.
[Collection("peak memory")]
public class EmittedCheckpointGuardTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static EmittedCheckpointGuardTests() => NativeLoader.EnsureLoaded();

    /// One training step of the emitted class (the value squared, summed, backward) and the sum of its gradients' squares.
    static double Step(nn.Module<Tensor[], Tensor> m)
    {
        using var scope = NewDisposeScope();
        m.zero_grad();
        ScalarOps.Square(m.forward([])).sum().backward();
        return m.parameters().Sum(p => ScalarOps.Square(p.grad!).sum().item<double>());
    }

    [Fact]
    public void The_emitted_guard_passes_a_checkpointed_training_step_that_recording_every_slice_does_not_fit_and_refuses_one_that_cannot()
    {
        var net = TnDsl.Api.Frontend.Load(Repo.Example("grid.tn"), Repo.Set(("L", 5), ("D", 2)), null);
        var plan = TnDsl.Planner.Plan(net, "greedy", null, 0, 4L);
        var spec = NetworkAdapter.FromFlat(net);
        var options = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 5 };
        using var runtime = new NetworkModule(spec, plan, options);
        // The emitted guard's figures, the planner's estimates in float64: recording every slice, and checkpointed one
        // slice a group. (Before session 30 it took the float32 estimates doubled, autograd's fixed bytes per step run
        // too: 2x over for these tiny slices.)
        var recorded = MemoryGuard.Needed(plan, ScalarType.Float64, true);
        var order = runtime.SliceOrder.ToArray();
        var one = plan.CheckpointedBytesAt(8, new Dictionary<int, long>(), order, order.Length - 1, 1);
        var oneSlice = MemoryGuard.WithHeap(one.Inputs, one.Training);
        var doubled = plan.CheckpointedBytesAt(4, new Dictionary<int, long>(), order, order.Length - 1, 1);
        Assert.True((double)(MemoryGuard.WithHeap(doubled.Inputs, doubled.Training) * 2) > 1.2 * (double)oneSlice,
            "the float32 estimate doubled is well over the float64 one here");
        Assert.True(oneSlice * 3 < recorded, $"{plan.Slices} slices: {oneSlice} bytes checkpointed one slice a group, {recorded} recording every slice");
        var (type, auto) = EmittedCheckpointTests.Emitted(runtime, runtime);
        var (recordingType, recording) = EmittedCheckpointTests.Emitted(runtime, runtime);
        EmittedCheckpointTests.Checkpoint(recordingType, recording, "Never");
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            // Without a limit of its own, Auto records every slice.
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, null);
            double expected = Step(recording);
            Step(auto);
            Assert.Equal(0, EmittedCheckpointTests.CheckpointedGroup(type, auto));
            long recordedPeak = PeakMemory.Available ? PeakMemory.Measure(() => Step(recording)) : 0;
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, (oneSlice * 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
            // Recording every slice is refused before anything is computed (what every training step of the class was).
            var e = Assert.Throws<InvalidOperationException>(() => Step(recording));
            Assert.Contains("the forward pass with autograd (a training step) needs", e.Message);
            // Auto checkpoints in groups that fit, to the same gradients, and allocates less.
            double got = 0;
            long checkpointedPeak = PeakMemory.Available ? PeakMemory.Measure(() => got = Step(auto)) : 0;
            long group = EmittedCheckpointTests.CheckpointedGroup(type, auto);
            Assert.InRange(group, 1, (long)plan.Slices - 1);
            Assert.True(Math.Abs(got - expected) <= 1e-12 * expected, $"checkpointed {got}, recorded {expected}");
            output.WriteLine($"grid L=5 D=2, {plan.Slices} slices, float64: recording every slice peak {recordedPeak:N0} bytes (estimate {recorded:N0}); " +
                             $"checkpointed in groups of {group} under TN_MEMORY_LIMIT={oneSlice * 2}: peak {checkpointedPeak:N0} bytes");
            if (PeakMemory.Available)
                Assert.True(checkpointedPeak * 2 < recordedPeak, $"peak {checkpointedPeak} bytes checkpointed in groups of {group}, {recordedPeak} recording every slice");
            // Under the smallest group's estimate nothing fits: refused, naming the checkpointed step's figure.
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, (oneSlice / 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
            var refused = Assert.Throws<InvalidOperationException>(() => Step(auto));
            Assert.Contains("its slices checkpointed in groups of 1)", refused.Message);
            // Its figure is the one-slice estimate.
            var needs = double.Parse(System.Text.RegularExpressions.Regex.Match(refused.Message, @"needs ([\d,]+) bytes").Groups[1].Value.Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(needs - (double)oneSlice) <= 1e-6 * (double)oneSlice, $"refused at {needs:N0} bytes, the one-slice estimate {oneSlice:N0}");
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
            auto.Dispose();
            recording.Dispose();
        }
    }

    [Fact]
    public void The_emitted_class_records_the_planned_rows_and_checkpoints_four_times_as_many_with_the_unsliced_gradients()
    {
        // mpo-linear.tn sliced to its result at 4 rows, under a limit of twice what recording every slice needs there:
        // at 4 rows Auto records every slice; fed 16, the estimates scale with the rows, recording does not fit and
        // Auto checkpoints, to the unsliced module's gradients.
        var net = TnDsl.Api.Frontend.Load(Repo.Example("mpo-linear.tn"), Repo.Set(("k", 3)), null);
        var free = TnDsl.Planner.Plan(net, "greedy", 4, 0);
        var plan = TnDsl.Planner.Plan(net, "greedy", 4, 0, OutputLimit.Of(net, 4));
        Assert.True(plan.Slices >= 4, $"{plan.Slices} slices");
        var spec = NetworkAdapter.FromFlat(net);
        var options = new NetworkModuleOptions { DType = ScalarType.Float64, Seed = 5 };
        using var unsliced = new NetworkModule(spec, free, options);
        using var sliced = new NetworkModule(spec, plan, options);
        var (type, emitted) = EmittedCheckpointTests.Emitted(sliced, unsliced);
        using var inputsGenerator = new Generator(3);
        var planned = RandomInputs.Make(unsliced, 4, inputsGenerator, ScalarType.Float64);
        var four = RandomInputs.Make(unsliced, 16, inputsGenerator, ScalarType.Float64);
        var groupBytes = type.GetMethod("TnGroupBytes", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        double smallest = (double)groupBytes.Invoke(null, [four, ScalarType.Float64, 0])!;
        double recorded = (double)MemoryGuard.Needed(plan, ScalarType.Float32, true) * 2;
        Assert.True(smallest < 2 * recorded, $"one slice a group at 16 rows {smallest}, recording at 4 rows {recorded}");
        var before = Environment.GetEnvironmentVariable(MemoryGuard.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, ((long)(2 * recorded)).ToString(System.Globalization.CultureInfo.InvariantCulture));
            EmittedCheckpointTests.Run(type, emitted, unsliced.InputNames, planned);
            Assert.Equal(0, EmittedCheckpointTests.CheckpointedGroup(type, emitted));
            var (v0, g0) = SlicedExecutionTests.Run(unsliced, four, inputGrads: true);
            var (v1, g1) = EmittedCheckpointTests.Run(type, emitted, unsliced.InputNames, four);
            Assert.InRange(EmittedCheckpointTests.CheckpointedGroup(type, emitted), 1, (long)plan.Slices - 1);
            SlicedExecutionTests.AssertClose(v0, v1, "value", 1e-12);
            Assert.Equal(g0.Keys.Order(), g1.Keys.Order());
            foreach (var (name, g) in g0)
                SlicedExecutionTests.AssertClose(g, g1[name], $"gradient of {name}", 1e-12);
        }
        finally
        {
            Environment.SetEnvironmentVariable(MemoryGuard.EnvironmentVariable, before);
            emitted.Dispose();
            foreach (var t in planned.Concat(four))
                t.Dispose();
        }
    }
}
