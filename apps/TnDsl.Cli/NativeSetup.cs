using System.Runtime.CompilerServices;

namespace TnDsl.Cli;

/// <summary>TorchSharp's native library made loadable on Debian 12 for the verbs that use it; the others load nothing.</summary>
static class NativeSetup
{
#pragma warning disable CA2255 // The entry assembly's initializer: runs before any verb, in `tn` and in tests alike.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        NativeLoader.LoadWithTorchSharp();
    }
}
