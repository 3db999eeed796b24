using System.CommandLine;
using TnDsl;
using TnDsl.Api;
using TnDsl.Native;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn export FILE.tn --json [--set k=v] [--network NAME] [--size batch=N] [-o OUT.json]</c>: writes the network
/// in the JSON form <c>tn plan</c> reads (tensors with their indices, sizes, output).
/// Exit codes: 0 written, 1 the file has errors or cannot be written, 2 a usage error.
/// </summary>
public static class ExportCommand
{
    /// <summary>The <c>export</c> verb: the JSON to the invocation's output (or <c>-o</c>), diagnostics to its errors.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var json = TnOptions.Flag("--json", "write the JSON network that tn plan reads (the one format there is; required)");
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var size = TnOptions.Size();
        var outputPath = TnOptions.Text("--output", "OUT.json", "write to this file [default: standard output]", "-o");
        var command = new Command("export", "write a .tn network as the JSON network tn plan reads (--json)")
        {
            file, json, set, network, size, outputPath,
        };
        Cli.SetAction(command, parse =>
        {
            if (!parse.GetValue(json)) throw new UsageException("choose the output format: --json (the form tn plan reads)");
            PlanCommand.RequireTnFile("export", parse.GetRequiredValue(file));
            return Run(parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network), parse.Sizes(size),
                parse.GetValue(outputPath), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    private static int Run(string file, IReadOnlyList<KeyValuePair<string, string>> sets, string? network,
        KeyValuePair<string, long>[] sizes, string? outPath, TextWriter output, TextWriter err)
    {
        OutputPaths.Check(outPath, "-o", file);
        var check = Shipped.Check(file, sets, network);
        if (check.HasErrors)
        {
            // --json is the output format, and so the form of the errors too: their document on standard output.
            DiagnosticOutput.WriteFailure(true, output, err, check);
            return 1;
        }
        DynamicOptions.CheckSizes(check.Network!, sizes);
        DiagnosticOutput.Write(err, check.Diagnostics);
        var run = PlanApi.exportNetwork(check.Network!, sizes);
        foreach (var m in run.Messages) err.WriteLine(m);
        var text = run.Output.EndsWith('\n') ? run.Output : run.Output + "\n";
        if (outPath is null)
            output.Write(text);
        else
        {
            SafeFile.ReplaceText(outPath, text);
            // As emit, draw and sample do: a file written says so on the error stream (standard output stays empty).
            err.WriteLine($"tn export: wrote {outPath} (network {check.Network!.Name}, {check.Network!.Tensors.Length} tensors)");
        }
        return 0;
    }
}
