using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using TnDsl.Api;
using TnDsl.Cli.Commands;

namespace TnDsl.Cli;

/// <summary>
/// A mistake in how a command was called that only the command itself can see (a combination of options, an
/// existing checkpoint): reported like a parse error, exit code 2, a line per mistake.
/// </summary>
public sealed class UsageException(IReadOnlyList<string> messages) : Exception(string.Join("\n", messages))
{
    /// <summary>One mistake.</summary>
    public UsageException(string message) : this([message]) { }

    /// <summary>The mistakes, a message each.</summary>
    public IReadOnlyList<string> Messages { get; } = messages;
}

/// <summary>
/// The <c>tn</c> command line on System.CommandLine: one tree of verbs, each with its options, descriptions and
/// defaults (<c>tn VERB --help</c>), typo suggestions, <c>[suggest]</c> completions, and the exit codes
/// 0 (success), 1 (errors in the input) and 2 (usage errors).
/// </summary>
public static class Cli
{
    /// <summary>Exit code of a usage error (unknown verb or option, bad or missing value).</summary>
    public const int UsageExit = 2;

    /// <summary>Width at which help wraps when it is not written to a terminal (files, pipes, tests, the README).</summary>
    private const int RedirectedHelpWidth = 100;

    /// <summary>The whole command tree: every verb with its arguments, options and action.</summary>
    public static RootCommand Create() => Create(RedirectedHelpWidth);

    /// <summary>The command tree with help wrapped at <paramref name="helpWidth"/> characters.</summary>
    private static RootCommand Create(int helpWidth)
    {
        var root = new RootCommand("Check, analyse, plan, run and train tensor networks written in the .tn language.")
        {
            CheckCommand.Create(),
            CutsCommand.Create(),
            DrawCommand.Create(),
            PlanCommand.Create(),
            ExportCommand.Create(),
            RunCommand.Create(),
            ContractCommand.Create(),
            EmitCommand.Create(),
            TrainCommand.Create(),
            SampleCommand.Create(),
            LayerCommand.Create(),
            StudyCommand.Create(),
            DataCommand.Create(),
            WorkerCommand.Create(),
            CompletionCommand.Create(),
        };
        // The usage line says `tn` whatever hosts the assembly (the tool, `dotnet run`, a test runner).
        root.HelpName = "tn";
        foreach (var help in root.Options.OfType<HelpOption>())
            if (help.Action is HelpAction action)
                action.MaxWidth = helpWidth;
        return root;
    }

    /// <summary>How the command line is split: arguments stay literal (no <c>@file</c> response files).</summary>
    public static ParserConfiguration ParserConfiguration { get; } = new() { ResponseFileTokenReplacer = null };

    /// <summary>Parses <paramref name="args"/> against the command tree, without running anything.</summary>
    public static ParseResult Parse(params string[] args) => Create().Parse(args, ParserConfiguration);

    /// <summary>
    /// Parses and runs a command line with the report to <paramref name="output"/> and errors to
    /// <paramref name="err"/> (commands that drive a terminal, such as <c>run</c> and <c>train</c>, write to the
    /// console). A parse error is written as <c>tn VERB: message</c>, with a suggestion for a mistyped option or
    /// verb and the verb's usage, and exits 2. Returns the exit code.
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter err)
    {
        var parse = Create(HelpWidth(output)).Parse(args, ParserConfiguration);
        var configuration = new InvocationConfiguration { Output = output, Error = err, EnableDefaultExceptionHandler = false };
        if (parse.Action is ParseErrorAction)
        {
            // An unknown verb (tn chek a.tn, tn study qcn): one line naming it, not "Required command was not provided"
            // and one line per argument that followed it.
            var command = parse.CommandResult.Command;
            if (command.Action is null && command.Subcommands.Count > 0 && parse.UnmatchedTokens.FirstOrDefault() is { } first && !first.StartsWith('-'))
                return UsageError(parse, err, [$"unknown command '{first}'"], [first]);
            // A mistyped option taken for the argument pushes the real argument out: report the option only.
            var mistyped = parse.Errors.Any(e => e.Message.StartsWith(TnOptions.UnknownOption, StringComparison.Ordinal));
            var messages = parse.Errors
                .Where(e => !(mistyped && e.SymbolResult is CommandResult && parse.UnmatchedTokens.Any(t => !t.StartsWith('-') && e.Message.Contains($"'{t}'"))))
                .Select(e => e.Message).Distinct().ToList();
            return UsageError(parse, err, messages, mistyped ? [] : parse.UnmatchedTokens);
        }
        return parse.Invoke(configuration);
    }

    /// <summary>
    /// Sets <paramref name="body"/> as the action of <paramref name="command"/>, the one place where a verb's failures
    /// become messages and exit codes: a <see cref="UsageException"/> it throws becomes a usage error (exit 2); a
    /// <see cref="TnException"/> (errors in the input) its rendered diagnostics and a summary line; a file that cannot
    /// be read or written, a refusal of the memory guard or an error raised in libtorch one line (all exit 1); with
    /// <c>--json</c> the diagnostics, and a refusal of the memory guard, are also the JSON document on standard output.
    /// </summary>
    public static void SetAction(Command command, Func<ParseResult, int> body) => command.SetAction(parse =>
    {
        var err = parse.InvocationConfiguration.Error;
        var verb = Verb(parse.CommandResult);
        try
        {
            foreach (var file in parse.CommandResult.Command.Arguments.OfType<TnOptions.TnFileArgument>())
                Shipped.Require(parse.GetValue(file));
            return body(parse);
        }
        catch (UsageException e)
        {
            return UsageError(parse, err, e.Messages, []);
        }
        catch (TnException e) when (e.File is not null)
        {
            // Errors in the file: as every verb reports them, the count line last (none with --json: the document is all).
            DiagnosticOutput.WriteFailure(JsonAsked(parse), parse.InvocationConfiguration.Output, err, e);
            return 1;
        }
        catch (TnException e)
        {
            // With --json the diagnostics are the document on standard output; the summary line stays a message.
            if (JsonAsked(parse))
                DiagnosticOutput.WriteJsonDocument(parse.InvocationConfiguration.Output, FileArgument(parse), false, e.Diagnostics);
            else
                foreach (var d in e.Rendered)
                    err.WriteLine(d);
            err.WriteLine($"{verb}: {e.Summary}");
            return 1;
        }
        catch (TnDsl.Torch.MemoryLimitException e) when (JsonAsked(parse))
        {
            // With --json a refusal of the memory guard is the document too (tn plan's TN0301 for a limit no plan
            // meets, of no source); the line stays a message, as the summary of an error outside the file does.
            DiagnosticOutput.WriteJsonDocument(parse.InvocationConfiguration.Output, FileArgument(parse), false, [DiagnosticView.MemoryLimit(e.Message)]);
            err.WriteLine($"{verb}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TnDsl.Torch.MemoryLimitException)
        {
            err.WriteLine($"{verb}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (TnDsl.Torch.MemoryGuard.IsNative(e))
        {
            // libtorch's refusals (an allocation it cannot make, a shape it rejects) as one line, not a C++ stack.
            err.WriteLine($"{verb}: {TnDsl.Torch.MemoryGuard.NativeMessage(e)}");
            return 1;
        }
    });

    /// <summary>True when the verb has a <c>--json</c> flag and it was given.</summary>
    public static bool JsonAsked(ParseResult parse) =>
        parse.CommandResult.Command.Options.OfType<Option<bool>>().FirstOrDefault(o => o.Name == "--json") is { } json && parse.GetValue(json);

    /// <summary>The verb's first argument as given (its FILE), or null.</summary>
    private static string? FileArgument(ParseResult parse) =>
        parse.CommandResult.Command.Arguments.FirstOrDefault() is { } a ? parse.GetResult(a)?.Tokens.FirstOrDefault()?.Value : null;

    /// <summary>The verb as typed after the root: <c>tn</c>, <c>tn cuts</c>, <c>tn study qcnn</c>.</summary>
    public static string Verb(CommandResult result)
    {
        var names = new List<string>();
        for (CommandResult? r = result; r is not null; r = r.Parent as CommandResult)
            names.Add(r.Parent is null ? "tn" : r.Command.Name);
        names.Reverse();
        return string.Join(" ", names);
    }

    /// <summary>
    /// Writes each message as <c>tn VERB: message</c>, suggestions for mistyped tokens, then the verb's usage (its
    /// whole help where it only groups sub-commands) and a pointer to <c>--help</c>. Returns 2.
    /// </summary>
    private static int UsageError(ParseResult parse, TextWriter err, IReadOnlyList<string> messages, IReadOnlyList<string> unmatched)
    {
        var verb = Verb(parse.CommandResult);
        var command = parse.CommandResult.Command;
        foreach (var m in messages)
            err.WriteLine($"{verb}: {m}");
        foreach (var token in unmatched)
            if (Suggest(command, token) is { Count: > 0 } near)
                err.WriteLine($"{verb}: did you mean {string.Join(" or ", near)} (for '{token}')?");
        if (command.Action is null && command.Subcommands.Count > 0)
        {
            // A verb that only groups sub-commands (or tn alone): its whole help lists them.
            var path = verb.Split(' ').Skip(1).Append("--help").ToArray();
            Create(HelpWidth(err)).Parse(path, ParserConfiguration).Invoke(new InvocationConfiguration { Output = err, Error = err });
        }
        else
        {
            err.WriteLine($"usage: {Usage(verb, command)}");
            err.WriteLine($"Run '{verb} --help' for the options.");
        }
        return UsageExit;
    }

    /// <summary>The usage line of a command: <c>tn cuts FILE [options]</c>, optional arguments in brackets.</summary>
    internal static string Usage(string verb, Command command)
    {
        var parts = new List<string> { verb };
        if (command.Subcommands.Count > 0) parts.Add("COMMAND");
        foreach (var a in command.Arguments.Where(a => !a.Hidden))
            parts.Add(a.Arity.MinimumNumberOfValues == 0 ? $"[{a.Name}]" : a.Name);
        if (command.Options.Any(o => !o.Hidden && o is not HelpOption)) parts.Add("[options]");
        return string.Join(" ", parts);
    }

    /// <summary>
    /// The options and sub-commands of <paramref name="command"/> nearest to a mistyped <paramref name="token"/>
    /// (edit distance at most 2, and less than half the token), the nearest ones only.
    /// </summary>
    internal static IReadOnlyList<string> Suggest(Command command, string token)
    {
        var names = command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name))
            .Concat(command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))
            .Where(n => n.Length > 2 || token.StartsWith('-'))
            .Distinct()
            .Select(n => (Name: n, Distance: Distance(token, n)))
            .Where(x => x.Distance <= Math.Min(2, (token.Length - 1) / 2))
            .ToList();
        if (names.Count == 0) return [];
        var best = names.Min(x => x.Distance);
        return names.Where(x => x.Distance == best).Select(x => x.Name).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions) between two short strings.</summary>
    internal static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }

    /// <summary>The terminal's width when <paramref name="writer"/> is a terminal, else a fixed width.</summary>
    private static int HelpWidth(TextWriter writer)
    {
        var terminal = ReferenceEquals(writer, Console.Out) ? !Console.IsOutputRedirected
            : ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal) return RedirectedHelpWidth;
        try
        {
            return Math.Clamp(Console.WindowWidth, 60, 160);
        }
        catch (IOException)
        {
            return RedirectedHelpWidth;
        }
    }
}
