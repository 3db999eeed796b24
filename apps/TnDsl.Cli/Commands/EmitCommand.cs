namespace TnDsl.Cli.Commands;

using TnDsl.Api;
using System.CommandLine;
using TnDsl.Torch;
using TnDsl.Native;

/// <summary>
/// <c>tn emit FILE --cs [--class Name] [--namespace N] [-o Out.cs] [--set k=v] [--network NAME] [--batch N|name=N,…]
/// [--optimizer NAME]</c>: writes the network's module as standalone C# TorchSharp source (to stdout without -o).
/// Exit codes: 0 written, 1 the network has errors, 2 a usage error.
/// </summary>
public static class EmitCommand
{
    /// <summary>The <c>emit</c> verb: the source to standard output, or to <c>-o</c>.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var cs = TnOptions.Flag("--cs", "emit C# TorchSharp source (the one target there is; required)");
        var className = TnOptions.Text("--class", "NAME", "the module's class name [default: the network's name in PascalCase]");
        var ns = new Option<string>("--namespace")
        {
            Description = "the generated code's namespace",
            HelpName = "NAME",
            DefaultValueFactory = _ => "TnDsl.Generated",
        };
        var outputPath = TnOptions.Text("--output", "OUT.cs", "write to this file [default: standard output]", "-o");
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var batch = TnOptions.Batch("the batch size the path is planned for: N for every dynamic index, or name=N for the " +
                                    "one named; repeatable or comma-separated [default: the size the file gives each]");
        var optimizer = TnOptions.Optimizer();
        var command = new Command("emit", "write the network's module as standalone C# TorchSharp source (--cs)")
        {
            file, cs, className, ns, outputPath, set, network, batch, optimizer,
        };
        Cli.SetAction(command, parse =>
        {
            if (!parse.GetValue(cs))
                throw new UsageException("choose the target language: --cs (C# TorchSharp) is the one there is");
            PlanCommand.RequireTnFile("emit", parse.GetRequiredValue(file));
            return Run(parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network), parse.GetValue(batch),
                parse.GetValue(optimizer)!, parse.GetValue(className), parse.GetValue(ns)!, parse.GetValue(outputPath),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    private static int Run(string file, IReadOnlyList<KeyValuePair<string, string>> overrides, string? networkName,
        BatchSizes? batch, string optimizer, string? className, string ns, string? output, TextWriter stdout, TextWriter stderr)
    {
        PlanCommand.RequireOptimizer(optimizer);
        OutputPaths.Check(output, "-o", file);
        try
        {
            // The file is checked first: an option that sizes nothing is refused before the planner runs.
            var net = Shipped.Load(file, overrides, networkName);
            // A refusal by the memory guard names this verb's options that apply to this network.
            using var advice = MemoryGuard.Advise(DynamicOptions.Remedies(net));
            DynamicOptions.CheckBatch(net, batch);
            DynamicOptions.CheckBatchBytes(net, batch, new NetworkModuleOptions().DType);
            using var module = NetworkModules.FromNetwork(net, new NetworkBuildOptions
            {
                NetworkName = networkName,
                Batch = batch,
                Optimizer = optimizer,
            });
            className ??= Pascal(module.Spec.Name);
            var source = CSharpEmitter.Emit(module, className, ns);
            if (output is not null)
            {
                SafeFile.ReplaceText(output, source);
                // The planner's steps, as tn plan and tn run count them.
                int steps = module.ExecutionPlan.TreeSteps.Count;
                stderr.WriteLine($"tn emit: wrote {output} (class {className}, {steps} step{(steps == 1 ? "" : "s")})");
            }
            else
                stdout.Write(source);
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"tn emit: {e.Message}");
            return e is ArgumentException ? 2 : 1;
        }
    }

    private static string Pascal(string name) =>
        string.Concat(name.Split(['_', '-', '.'], StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
}
