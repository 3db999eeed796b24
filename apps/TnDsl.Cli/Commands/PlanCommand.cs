using System.CommandLine;
using System.Globalization;
using TnDsl;
using TnDsl.Api;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn plan FILE.tn|FILE.json | --einsum "ab,bc->ac" --shapes "2x3,3x4" [--set k=v] [--network NAME]
/// [--optimizer NAME] [--size batch=1000] [--memory-limit N] [--objective NAME] [--seed N] [--trials N]
/// [--time-limit MS] [--no-scaling] [--json]</c>: plans a contraction order and prints
/// its cost report. A FILE named neither <c>.tn</c> nor <c>.json</c> (<c>/dev/stdin</c>) is read once and told by its text.
/// Exit codes: 0 planned, 1 the plan failed, 2 a usage error.
/// </summary>
public static class PlanCommand
{
    /// <summary>The <c>plan</c> verb: the report to the invocation's output, diagnostics and messages to its errors.</summary>
    public static Command Create()
    {
        var file = new Argument<string?>("FILE")
        {
            Description = "the network: a .tn file or a .json network (tn export --json); other names by their text",
            Arity = ArgumentArity.ZeroOrOne,
        }.NotAnOption();
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var optimizer = TnOptions.Optimizer();
        var einsum = TnOptions.Text("--einsum", "EXPR", "plan an einsum expression instead of a file, e.g. \"ab,bc->ac\"");
        var shapes = TnOptions.Text("--shapes", "SHAPES", "the operands' shapes for --einsum, e.g. \"2x3,3x4\"");
        var size = TnOptions.Size();
        var memoryLimit = ElementLimit("--memory-limit",
            "the most elements an intermediate may have; a plan over it is sliced to fit where possible, else refused [default: no limit]");
        var objective = Objective("--objective",
            "what the search minimises: flops, size (largest intermediate), write (elements written), combo (flops + 64 x write) or combo:F [default: flops]");
        var seed = TnOptions.Integer("--seed", 0, "the seed of randomised optimizers (random-greedy, partition, hyper, auto; optimal beyond its exact search)", min: 0, max: int.MaxValue);
        // The planner counts trials in an int: more is refused, not silently cut to 2^31 - 1 (as --seed is refused).
        var trials = TnOptions.OptionalInteger("--trials", "trials of random-greedy and hyper (and optimal beyond its exact search) [default: 128; auto sizes its own]",
            max: int.MaxValue);
        var timeLimit = Milliseconds("--time-limit",
            "a wall-clock limit on the search: milliseconds (500) or a time with its unit (500ms, 2s, 1.5s); the plan then depends on the machine and its load [default: none, plans are reproducible]");
        var noScaling = TnOptions.Flag("--no-scaling", "leave out how the cost scales with each parameter of a .tn file");
        var json = TnOptions.Flag("--json", "print the plan as JSON");
        var command = new Command("plan", "plan a contraction order and report its cost (.tn, JSON or --einsum)")
        {
            file, set, network, optimizer, einsum, shapes, size, memoryLimit, objective, seed, trials, timeLimit, noScaling, json,
        };
        command.Validators.Add(r =>
        {
            var path = r.GetValue(file);
            var isEinsum = r.GetResult(einsum) is not null;
            if (path is null && !isEinsum && r.GetResult(shapes) is not null)
                r.AddError("--shapes needs --einsum: the expression whose operands it shapes");
            else if (path is null && !isEinsum)
                r.AddError("give a network FILE (.tn or .json) or --einsum \"ab,bc->ac\" --shapes \"2x3,3x4\"");
            else if (path is not null && isEinsum)
                r.AddError("give a network FILE or --einsum (not both)");
            else if (isEinsum && r.GetResult(shapes) is null)
                r.AddError("--einsum needs --shapes");
            else if (!isEinsum && r.GetResult(shapes) is not null)
                r.AddError($"--shapes gives the operands' shapes of --einsum, not of {(IsTnName(path!) ? "a .tn file" : IsJsonName(path!) ? "a JSON network" : "a network FILE")}");
            // A file named neither .tn nor .json is told by its text when the plan runs: Run refuses these options then.
            else if (isEinsum || IsJsonName(path!))
            {
                // Scaling is fitted in a .tn file's parameters: einsum text and JSON networks have none to leave out.
                foreach (var o in new Option[] { set, network, noScaling })
                    if (r.GetResult(o) is not null)
                        r.AddError($"{o.Name} applies to a .tn file, not to {(isEinsum ? "--einsum" : "a JSON network")}");
                if (isEinsum && r.GetResult(size) is not null)
                    r.AddError("--size applies to a .tn file or a JSON network, not to --einsum: --shapes gives every size");
            }
        });
        Cli.SetAction(command, parse => Run(parse, parse.GetValue(file), parse.GetValue(einsum), parse.GetValue(shapes),
            parse.GetValue(network), parse.Pairs(set), parse.Sizes(size), parse.GetValue(optimizer)!,
            new PlanSettings(parse.GetValue(memoryLimit) ?? 0, parse.GetValue(objective) ?? "flops", (int)parse.GetValue(seed),
                (int)(parse.GetValue(trials) ?? 0), (int)Math.Min(int.MaxValue, parse.GetValue(timeLimit) ?? 0)),
            parse.GetValue(json), !parse.GetValue(noScaling),
            new Option[] { set, network, noScaling }.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray(),
            UnusedOptionNotes(parse.GetValue(optimizer)!, parse.GetResult(trials) is { Implicit: false }, parse.GetResult(seed) is { Implicit: false })));
        return command;
    }

    /// <summary>
    /// A note (for stderr) for each of <c>--trials</c> and <c>--seed</c> that was given but that
    /// <paramref name="optimizer"/> does not use, naming the optimizers that do (the planner's own lists): the plan
    /// is made as without it, as opt_einsum's and cotengra's optimizers that take no repeats or seed make theirs,
    /// and the exit code is not changed, so that one command line can be run with every optimizer.
    /// </summary>
    public static IEnumerable<string> UnusedOptionNotes(string optimizer, bool trialsGiven, bool seedGiven)
    {
        var name = PlanApi.optimizerName(optimizer);
        if (name is null)
            yield break;
        static string Users(string[] names) =>
            string.Join(", ", names[..^1].Select(User)) + " and " + User(names[^1]);
        static string User(string name) => name == "optimal" ? "optimal beyond its exact search" : name;
        if (trialsGiven && !PlanApi.trialsOptimizers().Contains(name))
            yield return $"tn plan: note: --optimizer {name} does not use --trials ({(name == "auto" ? "auto sizes its own; " : "")}" +
                $"{Users(PlanApi.trialsOptimizers())} take it); the plan is the same without it";
        if (seedGiven && !PlanApi.seededOptimizers().Contains(name))
            yield return $"tn plan: note: --optimizer {name} does not use --seed ({Users(PlanApi.seededOptimizers())} take it); " +
                "the plan is the same without it";
    }

    /// <summary>
    /// Throws a <see cref="UsageException"/> when <paramref name="file"/> names a JSON network: <paramref name="verb"/>
    /// (every verb but <c>plan</c> that reads a network) reads <c>.tn</c> files only, and would otherwise report the
    /// JSON's first brace as a <c>.tn</c> syntax error.
    /// </summary>
    public static void RequireTnFile(string verb, string file)
    {
        if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"{file} is a JSON network; tn {verb} reads .tn files (tn plan reads JSON networks)");
    }

    /// <summary>
    /// The text of a network file named neither <c>.tn</c> nor <c>.json</c> (<c>/dev/stdin</c>, <c>/dev/fd/63</c>),
    /// read once, its format told by its text (<see cref="PlanApi.isJsonText"/>); null, and <paramref name="failure"/>
    /// the run saying why, when it cannot be read; null for a file whose name says its format.
    /// </summary>
    static string? ReadUnnamed(string path, out PlanRun? failure)
    {
        failure = null;
        return IsTnName(path) || IsJsonName(path) ? null : PlanApi.readNetworkText(path, out failure);
    }

    /// <summary>Whether <paramref name="path"/> is named as a <c>.tn</c> file.</summary>
    static bool IsTnName(string path) => path.EndsWith(".tn", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="path"/> is named as a JSON network.</summary>
    static bool IsJsonName(string path) => path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// <c>--objective NAME</c>: a name the planner takes (<see cref="PlanApi.objectiveError"/>), else a usage error
    /// that lists them, as for an unknown <c>--optimizer</c>.
    /// </summary>
    static Option<string> Objective(string name, string description) =>
        new(name)
        {
            Description = description,
            HelpName = "NAME",
            CustomParser = r =>
            {
                var text = r.Tokens.Count == 1 ? r.Tokens[0].Value.Trim() : "";
                if (text.Length == 0)
                    r.AddError($"{name} needs a name: flops, size, write, combo, combo:F");
                else if (PlanApi.objectiveError(text) is { } why)
                    r.AddError($"{name} {text}: {why}");
                else
                    return text;
                return null;
            },
        };

    /// <summary>Throws a <see cref="UsageException"/> listing the valid names when <paramref name="optimizer"/> names none.</summary>
    public static void RequireOptimizer(string optimizer)
    {
        var names = PlanApi.optimizerNames();
        if (PlanApi.optimizerName(optimizer) is null)
            throw new UsageException(optimizer.Length == 0
                ? "--optimizer needs a name: " + string.Join(", ", names)
                : $"--optimizer {optimizer}: no such optimizer; valid optimizers: {string.Join(", ", names)}");
    }

    /// <summary>
    /// <c>--memory-limit N</c> of <c>tn plan</c>: a count of elements, as opt_einsum's <c>memory_limit</c>, written as a
    /// whole number (<c>1000000</c>) or in scientific notation with a whole value (<c>1e6</c>, <c>2.5e3</c>). A byte
    /// count such as <c>1G</c> (what <c>tn contract</c> takes, and <c>TN_MEMORY_LIMIT</c>) is refused with a message saying so.
    /// </summary>
    internal static Option<long?> ElementLimit(string name, string description) =>
        Parsed(name, description, ParseElements, text => text.Length > 0 && char.IsLetter(text[^1]) && char.IsDigit(text[0])
            ? $"{name} counts elements in tn plan, not bytes: give a whole number such as 1000000 or 1e6, got '{text}' (tn contract's --memory-limit takes bytes, 512M or 2G, as TN_MEMORY_LIMIT does for tn run)"
            : double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var d) && d >= long.MaxValue
            ? $"{name} takes at most 2^63 - 1 (9223372036854775807) elements, got '{text}'; leave it out for no limit"
            : $"{name} takes a whole number of elements of at least 1, such as 1000000 or 1e6, got '{text}'");

    /// <summary>An option of one value read by <paramref name="parse"/>; where it gives null, <paramref name="error"/> of the text is the usage error.</summary>
    static Option<long?> Parsed(string name, string description, Func<string, long?> parse, Func<string, string> error) =>
        new(name)
        {
            Description = description,
            HelpName = "N",
            CustomParser = r =>
            {
                var text = r.Tokens.Count == 1 ? r.Tokens[0].Value.Trim() : "";
                if (parse(text) is { } n)
                    return n;
                r.AddError(error(text));
                return null;
            },
        };

    /// <summary>A whole number of at least 1 that fits a long, plain or in scientific notation (<see cref="TnOptions.ReadInteger"/>); null otherwise.</summary>
    public static long? ParseElements(string text) => TnOptions.ReadInteger(text, out _) is { } n && n >= 1 ? n : null;

    /// <summary>
    /// <c>--time-limit</c>: milliseconds as a whole number (<c>500</c>), or a time with its unit (<c>500ms</c>,
    /// <c>2s</c>, <c>1.5s</c>); at least 1 ms, at most int.MaxValue ms (what the planner takes; longer is clamped).
    /// </summary>
    internal static Option<long?> Milliseconds(string name, string description) =>
        Parsed(name, description, ParseMilliseconds,
            text => $"{name} takes milliseconds (500) or a time with its unit (500ms, 2s, 1.5s), at least 1 ms, got '{text}'");

    /// <summary>Milliseconds from <c>500</c>, <c>500ms</c>, <c>2s</c> or <c>1.5s</c> (rounded up to a whole ms); null when not a time of at least 1 ms.</summary>
    public static long? ParseMilliseconds(string text)
    {
        var (number, scale) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 1m)
            : text.EndsWith('s') || text.EndsWith('S') ? (text[..^1], 1000m)
            : (text, 1m);
        if (!decimal.TryParse(number.TrimEnd(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)
            || (scale == 1m && number == text && d != decimal.Truncate(d)))
            return null;
        var ms = Math.Ceiling(Math.Min(d * scale, (decimal)long.MaxValue));
        return ms >= 1 ? (long)ms : null;
    }

    private static int Run(ParseResult parse, string? file, string? einsum, string? shapes, string? network,
        IReadOnlyList<KeyValuePair<string, string>> sets, KeyValuePair<string, long>[] sizes, string optimizer,
        PlanSettings settings, bool json, bool scaling, string[] tnOnlyOptions, IEnumerable<string> notes)
    {
        var (output, err) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        if (optimizer.Length == 0)
            throw new UsageException("--optimizer needs a name: " + string.Join(", ", PlanApi.optimizerNames()));
        foreach (var note in notes)
            err.WriteLine(note);
        // An installed example is looked for before the path is refused.
        if (einsum is null)
            Shipped.Require(file is null ? null : Shipped.Resolve(file));
        try
        {
            PlanRun run;
            string? text = null;
            PlanRun? unreadable = null;
            if (einsum is not null)
                run = PlanApi.planEinsum(einsum, shapes!, optimizer, sizes, settings, json);
            else if ((text = ReadUnnamed(file = Shipped.Resolve(file!), out unreadable)) is null && unreadable is not null)
                run = unreadable;
            else if (IsTnName(file) || (text is not null && !PlanApi.isJsonText(text)))
            {
                // A file named neither (/dev/stdin, a pipe) is read once: its text is checked, not the path again.
                var check = IsTnName(file) ? Shipped.Check(file, sets, network)
                    : Frontend.CheckText(file, text!, sets, network, OverrideOrigin.CommandLine);
                if (check.HasErrors)
                {
                    DiagnosticOutput.WriteFailure(json, output, err, check);
                    return 1;
                }
                DynamicOptions.CheckSizes(check.Network!, sizes);
                // The checker's warnings go to stderr here and into the JSON report's diagnostics.
                DiagnosticOutput.Write(err, check.Diagnostics);
                run = PlanApi.planTnNetwork(check.Network!, file, sets.ToArray(), network, optimizer,
                    sizes, settings, json, scaling, check.Diagnostics);
            }
            else
            {
                if (tnOnlyOptions.Length > 0)
                    throw new UsageException($"{tnOnlyOptions[0]} applies to a .tn file, not to a JSON network ({file} starts with {{)");
                // One read and one parse: the sizes are checked against the network the plan is made of.
                var path = file;
                Action<string[]> checkSizes = indices => DynamicOptions.CheckJsonSizes(path, indices, sizes);
                run = IsJsonName(file) ? PlanApi.planJsonFileChecked(file, optimizer, sizes, settings, json, checkSizes)
                    : PlanApi.planJsonTextChecked(file, text!, optimizer, sizes, settings, json, checkSizes);
            }
            if (json && run.Output.Length == 0 && run.ExitCode != 0 && run.Diagnostics.Length > 0)
            {
                // Nothing planned: the diagnostics are the document (a message that is no diagnostic stays on stderr).
                DiagnosticOutput.WriteJsonDocument(output, einsum is null ? Shipped.Shown(file!) : null, false, run.Diagnostics);
                return run.ExitCode;
            }
            if (run.Output.Length > 0) output.Write(run.Output.EndsWith('\n') ? run.Output : run.Output + "\n");
            foreach (var m in run.Messages) err.WriteLine(m);
            return run.ExitCode;
        }
        catch (Exception e) when (e is not UsageException)
        {
            err.WriteLine($"tn plan: internal error: {e.Message}");
            return 1;
        }
    }
}
