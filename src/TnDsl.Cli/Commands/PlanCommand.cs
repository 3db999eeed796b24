using TnDsl;
using TnDsl.Api;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn plan FILE.tn|FILE.json | --einsum "ab,bc->ac" --shapes "2x3,3x4" [--set k=v] [--network NAME]
/// [--optimizer NAME] [--size batch=1000] [--memory-limit N] [--json]</c>: plans a contraction order and prints
/// its cost report.
/// Exit codes: 0 planned, 1 the plan failed, 2 a usage error.
/// </summary>
public static class PlanCommand
{
    private const string Usage =
        "usage: tn plan FILE.tn|FILE.json [--set NAME=VALUE]... [--network NAME] [--optimizer NAME]\n" +
        "               [--size NAME=N]... [--memory-limit N] [--no-scaling] [--json]\n" +
        "       tn plan --einsum \"ab,bc->ac\" --shapes \"2x3,3x4\" [options]";

    /// <summary>Runs the command with the arguments after <c>plan</c>.</summary>
    public static int Run(string[] args)
    {
        string? file = null, einsum = null, shapes = null, network = null;
        var sets = new List<KeyValuePair<string, string>>();
        var optimizer = "auto";
        var sizes = new List<KeyValuePair<string, long>>();
        long memoryLimit = 0;
        var json = false;
        var scaling = true;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string? Next()
            {
                if (i + 1 < args.Length) return args[++i];
                return null;
            }
            switch (a)
            {
                case "--json":
                    json = true;
                    break;
                case "--no-scaling":
                    scaling = false;
                    break;
                case "--optimizer":
                    optimizer = Next() ?? "";
                    if (optimizer.Length == 0) return Fail("--optimizer needs a name: " + string.Join(", ", PlanApi.optimizerNames()));
                    break;
                case "--einsum":
                    einsum = Next();
                    if (einsum is null) return Fail("--einsum needs a contraction like \"ab,bc->ac\"");
                    break;
                case "--shapes":
                    shapes = Next();
                    if (shapes is null) return Fail("--shapes needs sizes like \"2x3,3x4\"");
                    break;
                case "--size":
                    var kv = Next();
                    var eq = kv?.IndexOf('=') ?? -1;
                    if (kv is null || eq <= 0 || !long.TryParse(kv[(eq + 1)..], out var n) || n < 1)
                        return Fail("--size needs NAME=N with N a positive integer");
                    sizes.Add(new KeyValuePair<string, long>(kv[..eq], n));
                    break;
                case "--set":
                    var sv = Next();
                    var se = sv?.IndexOf('=') ?? -1;
                    if (sv is null || se <= 0) return Fail("--set needs NAME=VALUE");
                    sets.Add(new KeyValuePair<string, string>(sv[..se], sv[(se + 1)..]));
                    break;
                case "--network":
                    network = Next();
                    if (network is null) return Fail("--network needs a name");
                    break;
                case "--memory-limit":
                    if (!long.TryParse(Next(), out memoryLimit) || memoryLimit < 1)
                        return Fail("--memory-limit needs a positive number of elements");
                    break;
                case "-h":
                case "--help":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    if (a.StartsWith('-')) return Fail($"unknown option '{a}'");
                    if (file is not null) return Fail("give one network file");
                    file = a;
                    break;
            }
        }
        if ((file is null) == (einsum is null)) return Fail("give a network FILE or --einsum (not both)");
        if (einsum is not null && shapes is null) return Fail("--einsum needs --shapes");
        try
        {
            PlanRun run;
            if (einsum is not null)
                run = PlanApi.planEinsum(einsum, shapes!, optimizer, sizes.ToArray(), memoryLimit, json);
            else if (file!.EndsWith(".tn", StringComparison.OrdinalIgnoreCase))
            {
                if (!File.Exists(file)) return Fail($"no such file: {file}");
                var check = Frontend.Check(file, sets, network!);
                foreach (var d in check.Diagnostics) Console.Error.WriteLine(d.Rendered);
                if (check.HasErrors) return 1;
                run = PlanApi.planTnNetwork(check.SummaryOrNull.Network, file, sets.ToArray(), network!, optimizer,
                    sizes.ToArray(), memoryLimit, json, scaling);
            }
            else
                run = PlanApi.planJsonFile(file, optimizer, sizes.ToArray(), memoryLimit, json);
            if (run.Output.Length > 0) Console.Write(run.Output.EndsWith('\n') ? run.Output : run.Output + "\n");
            foreach (var m in run.Messages) Console.Error.WriteLine(m);
            return run.ExitCode;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"tn plan: internal error: {e.Message}");
            return 1;
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("tn plan: " + message);
        Console.Error.WriteLine(Usage);
        return 2;
    }
}
