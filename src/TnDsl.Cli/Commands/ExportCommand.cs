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
    private const string Usage =
        "usage: tn export FILE.tn --json [--set NAME=VALUE]... [--network NAME] [--size NAME=N]... [-o OUT.json]";

    /// <summary>Runs the command with the arguments after <c>export</c>.</summary>
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>The command with its streams given, so that tests run it in process.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter err)
    {
        string? file = null, network = null, outPath = null;
        var json = false;
        var sets = new List<KeyValuePair<string, string>>();
        var sizes = new List<KeyValuePair<string, long>>();
        int Fail(string message)
        {
            err.WriteLine("tn export: " + message);
            err.WriteLine(Usage);
            return 2;
        }
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (a)
            {
                case "--json":
                    json = true;
                    break;
                case "--set":
                    var sv = Next();
                    var se = sv?.IndexOf('=') ?? -1;
                    if (sv is null || se <= 0) return Fail("--set needs NAME=VALUE");
                    sets.Add(new(sv[..se], sv[(se + 1)..]));
                    break;
                case "--size":
                    var kv = Next();
                    var eq = kv?.IndexOf('=') ?? -1;
                    if (kv is null || eq <= 0 || !long.TryParse(kv[(eq + 1)..], out var n) || n < 1)
                        return Fail("--size needs NAME=N with N a positive integer");
                    sizes.Add(new(kv[..eq], n));
                    break;
                case "--network":
                    network = Next();
                    if (network is null) return Fail("--network needs a name");
                    break;
                case "-o":
                case "--output":
                    outPath = Next();
                    if (outPath is null) return Fail("-o needs a file name");
                    break;
                case "-h":
                case "--help":
                    output.WriteLine(Usage);
                    return 0;
                default:
                    if (a.StartsWith('-')) return Fail($"unknown option '{a}'");
                    if (file is not null) return Fail("give one .tn file");
                    file = a;
                    break;
            }
        }
        if (file is null) return Fail("missing FILE.tn");
        if (!json) return Fail("choose the output format: --json (the form tn plan reads)");
        var check = Frontend.Check(file, sets, network!);
        foreach (var d in check.Diagnostics) err.WriteLine(d.Rendered);
        if (check.HasErrors) return 1;
        var run = PlanApi.exportNetwork(check.SummaryOrNull.Network, sizes.ToArray());
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
    }
}
