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
    private static readonly CommandSyntax Syntax = new("plan",
        "usage: tn plan FILE.tn|FILE.json [--set NAME=VALUE]... [--network NAME] [--optimizer NAME]\n" +
        "               [--size NAME=N]... [--memory-limit N] [--no-scaling] [--json]\n" +
        "       tn plan --einsum \"ab,bc->ac\" --shapes \"2x3,3x4\" [options]",
        ["--set", "--network", "--optimizer", "--einsum", "--shapes", "--size", "--memory-limit"],
        ["--json", "--no-scaling"]);

    /// <summary>Runs the command with the arguments after <c>plan</c>.</summary>
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// The command with its streams given (the report to <paramref name="output"/>, diagnostics, messages and usage
    /// errors to <paramref name="err"/>), so that tests run it in process. Returns the exit code.
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter err) => Syntax.Run(args, output, err, a =>
    {
        var file = a.Optional("network file");
        var einsum = a.Value("--einsum");
        var shapes = a.Value("--shapes");
        var network = a.Value("--network");
        var sets = a.Pairs("--set");
        var sizes = a.Sizes("--size");
        var optimizer = a.Value("--optimizer") ?? "auto";
        if (optimizer.Length == 0)
            throw new UsageException("--optimizer needs a name: " + string.Join(", ", PlanApi.optimizerNames()));
        var memoryLimit = a.Positive("--memory-limit") ?? 0;
        var json = a.Has("--json");
        var scaling = !a.Has("--no-scaling");
        if ((file is null) == (einsum is null)) throw new UsageException("give a network FILE or --einsum (not both)");
        if (einsum is not null && shapes is null) throw new UsageException("--einsum needs --shapes");
        try
        {
            PlanRun run;
            if (einsum is not null)
                run = PlanApi.planEinsum(einsum, shapes!, optimizer, sizes, memoryLimit, json);
            else if (file!.EndsWith(".tn", StringComparison.OrdinalIgnoreCase))
            {
                if (!File.Exists(file)) throw new UsageException($"no such file: {file}");
                var check = Frontend.Check(file, sets, network!);
                DiagnosticOutput.Write(err, check.Diagnostics);
                if (check.HasErrors) return 1;
                run = PlanApi.planTnNetwork(check.SummaryOrNull.Network, file, sets.ToArray(), network!, optimizer,
                    sizes, memoryLimit, json, scaling);
            }
            else
                run = PlanApi.planJsonFile(file, optimizer, sizes, memoryLimit, json);
            if (run.Output.Length > 0) output.Write(run.Output.EndsWith('\n') ? run.Output : run.Output + "\n");
            foreach (var m in run.Messages) err.WriteLine(m);
            return run.ExitCode;
        }
        catch (Exception e) when (e is not UsageException)
        {
            err.WriteLine($"tn plan: internal error: {e.Message}");
            return 1;
        }
    });
}
