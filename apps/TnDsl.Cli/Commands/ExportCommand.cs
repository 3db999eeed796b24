using TnDsl;
using TnDsl.Api;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn export FILE.tn --json [--set k=v] [--network NAME] [--size batch=N] [-o OUT.json]</c>: writes the network
/// in the JSON form <c>tn plan</c> reads (tensors with their indices, sizes, output).
/// Exit codes: 0 written, 1 the file has errors or cannot be written, 2 a usage error.
/// </summary>
public static class ExportCommand
{
    private static readonly CommandSyntax Syntax = new("export",
        "usage: tn export FILE.tn --json [--set NAME=VALUE]... [--network NAME] [--size NAME=N]... [-o OUT.json]",
        ["--set", "--network", "--size", "--output"], ["--json"],
        new Dictionary<string, string> { ["-o"] = "--output" });

    /// <summary>Runs the command with the arguments after <c>export</c>.</summary>
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>The command with its streams given, so that tests run it in process.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter err) => Syntax.Run(args, output, err, a =>
    {
        var file = a.Single("FILE.tn");
        if (!a.Has("--json")) throw new UsageException("choose the output format: --json (the form tn plan reads)");
        var sets = a.Pairs("--set");
        var sizes = a.Sizes("--size");
        var network = a.Value("--network");
        var outPath = a.Value("--output");
        var check = Frontend.Check(file, sets, network!);
        DiagnosticOutput.Write(err, check.Diagnostics);
        if (check.HasErrors) return 1;
        var run = PlanApi.exportNetwork(check.SummaryOrNull.Network, sizes);
        foreach (var m in run.Messages) err.WriteLine(m);
        var text = run.Output.EndsWith('\n') ? run.Output : run.Output + "\n";
        if (outPath is null)
            output.Write(text);
        else
        {
            try
            {
                File.WriteAllText(outPath, text);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                err.WriteLine($"tn export: cannot write {outPath}: {e.Message}");
                return 1;
            }
        }
        return 0;
    });
}
