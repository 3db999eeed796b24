// A console application on the TnDsl backend alone: builds the TorchSharp module of a .tn file (checked, planned,
// parameters initialised as the file says), runs it forward and backward on random inputs and prints what it got.
//   dotnet run --project examples/console -- examples/mera-classifier.tn
//   dotnet run --project examples/console -- examples/mps.tn n=8 chi=4
using TnDsl.Torch;
using static TorchSharp.torch;

// TorchSharp 0.107's native library asks for a newer libstdc++ than Debian 12 has; this loads a patched copy.
// On a system with GCC 13's libstdc++ or later, drop this line and the TnDsl.Native reference.
TnDsl.Native.NativeLoader.EnsureLoaded();

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ConsoleExample FILE.tn [name=value ...]");
    return 2;
}
var overrides = new List<KeyValuePair<string, string>>();
foreach (var arg in args[1..])
{
    int eq = arg.IndexOf('=');
    if (eq <= 0)
    {
        Console.Error.WriteLine($"expected name=value, got '{arg}'");
        return 2;
    }
    overrides.Add(new(arg[..eq], arg[(eq + 1)..]));
}

const long batch = 4;
NetworkModule module;
try
{
    module = NetworkModules.FromFile(args[0], overrides,
        new NetworkBuildOptions { Batch = batch, Module = new() { DType = ScalarType.Float64, Seed = 1 } });
}
catch (Exception e) when (e is TnDsl.Api.TnException or MemoryLimitException)
{
    // A bad file: the message carries the compiler's diagnostics (file(line,col): error TN0109: ...). A network too
    // large for memory: the memory guard's figures, before anything was allocated.
    Console.Error.WriteLine(e.Message);
    return 1;
}

using (module)
{
    using var generator = new Generator(2);
    var inputs = RandomInputs.Make(module, batch, generator, ScalarType.Float64);
    using var output = module.forward(inputs);
    using var loss = output.square().sum();
    loss.backward();
    // A parameter's grad is a fresh tensor on every read: the scope holds it (and its square) until the sum is read.
    double gradNorm;
    using (NewDisposeScope())
        gradNorm = Math.Sqrt(module.parameters().Sum(p => p.grad is { } g ? g.square().sum().item<double>() : 0));

    Console.WriteLine($"network    {module.Spec.Name}: {module.Spec.Tensors.Length} tensors, {module.ParameterCount:N0} trainable scalars");
    for (int k = 0; k < inputs.Length; k++)
        Console.WriteLine($"input      {module.Inputs[k].Name} [{string.Join(", ", inputs[k].shape)}]");
    Console.WriteLine($"output     [{string.Join(", ", output.shape)}] ({string.Join(", ", module.OutputLegs)})");
    Console.WriteLine($"loss       {loss.item<double>():G6} (sum of squares); gradient norm {gradNorm:G6}");
    foreach (var t in inputs)
        t.Dispose();
}
return 0;
