namespace TnDsl.Cli.Commands;

using TnDsl.Torch;

/// <summary>
/// <c>tn emit FILE --cs [--class Name] [--namespace N] [-o Out.cs] [--set k=v] [--network NAME] [--batch N]
/// [--optimizer NAME]</c>: writes the network's module as standalone C# TorchSharp source (to stdout without -o).
/// Exit codes: 0 written, 1 the network has errors, 2 a usage error.
/// </summary>
public static class EmitCommand
{
    private const string Usage =
        "usage: tn emit FILE --cs [--class NAME] [--namespace NAME] [-o OUT.cs] [--set NAME=VALUE]... [--network NAME]\n" +
        "               [--batch N] [--optimizer NAME]";

    /// <summary>Runs the command with the arguments after <c>emit</c>.</summary>
    public static int Run(string[] argv)
    {
        if (argv.Contains("--help") || argv.Contains("-h"))
        {
            Console.WriteLine(Usage);
            return 0;
        }
        // -o is the one short option; accept it as --output.
        argv = argv.Select(a => a == "-o" ? "--output" : a).ToArray();
        var args = Args.Parse(argv, ["--class", "--namespace", "--output", "--set", "--network", "--batch", "--optimizer"], ["--cs"]);
        var file = args.Single("FILE (a .tn file)");
        if (!args.Has("--cs"))
            throw new UsageException("choose the target language: --cs (C# TorchSharp) is the one there is");
        long? batch = null;
        if (args.Value("--batch") is { } b)
            batch = long.TryParse(b, out var n) && n >= 1 ? n : throw new UsageException($"--batch takes a positive integer, got '{b}'");
        if (!File.Exists(file))
        {
            Console.Error.WriteLine($"tn emit: {file}: no such file");
            return 1;
        }
        try
        {
            using var module = NetworkModules.FromFile(file, args.Pairs("--set"), new NetworkBuildOptions
            {
                NetworkName = args.Value("--network"),
                Batch = batch,
                Optimizer = args.Value("--optimizer") ?? "auto",
                Module = new NetworkModuleOptions { MeasureKernels = false },
            });
            var className = args.Value("--class") ?? Pascal(module.Spec.Name);
            var source = CSharpEmitter.Emit(module, className, args.Value("--namespace") ?? "TnDsl.Generated");
            if (args.Value("--output") is { } output)
            {
                File.WriteAllText(output, source);
                Console.Error.WriteLine($"tn emit: wrote {output} (class {className}, {module.Plan.Count} steps)");
            }
            else
                Console.Write(source);
            return 0;
        }
        catch (NetworkBuildException e)
        {
            foreach (var d in e.Diagnostics)
                Console.Error.WriteLine(d);
            Console.Error.WriteLine($"tn emit: {e.Message.Split(Environment.NewLine)[0]}");
            return 1;
        }
        catch (MemoryLimitException e)
        {
            Console.Error.WriteLine($"tn emit: {e.Message}");
            return 1;
        }
        catch (Exception e) when (MemoryGuard.IsNative(e))
        {
            Console.Error.WriteLine($"tn emit: {file}: {MemoryGuard.NativeMessage(e)}");
            return 1;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"tn emit: {e.Message}");
            return e is ArgumentException ? 2 : 1;
        }
    }

    private static string Pascal(string name) =>
        string.Concat(name.Split(['_', '-', '.'], StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
}
