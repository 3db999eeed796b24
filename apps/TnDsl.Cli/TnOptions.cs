using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using TnDsl.Torch;

namespace TnDsl.Cli;

/// <summary>
/// The arguments and options that several verbs share, built once here so that they read, parse, complete and
/// fail the same way everywhere: the <c>.tn</c> file, <c>--set</c>, <c>--network</c>, <c>--optimizer</c>,
/// <c>--size</c>, and typed values (positive integers, numbers, one of a few words). A bad value is a parse error
/// that names the option and quotes the value (exit 2).
/// </summary>
public static class TnOptions
{
    /// <summary>
    /// The <c>FILE</c> argument of a verb that reads a <c>.tn</c> file; <c>examples/…</c> missing here is the copy
    /// shipped with the tool (<see cref="Shipped.Resolve"/>).
    /// </summary>
    public static Argument<string> TnFile(string description = "the .tn file to read") =>
        new TnFileArgument
        {
            Description = description,
            CustomParser = r => r.Tokens.Count == 0 ? "" : Shipped.Resolve(r.Tokens[^1].Value),
        }.NotAnOption();

    /// <summary>The type of <see cref="TnFile"/>'s argument: <see cref="Cli.SetAction"/> checks an <c>examples/…</c>
    /// path in it that exists nowhere (<see cref="Shipped.Require"/>) before the verb runs.</summary>
    internal sealed class TnFileArgument() : Argument<string>("FILE");

    /// <summary>The start of the message for a mistyped option where an argument was expected.</summary>
    internal const string UnknownOption = "unknown option";

    /// <summary>
    /// Refuses a value of <paramref name="argument"/> that looks like an option (<c>-x</c>, <c>--xyz</c>; not a lone
    /// <c>-</c> or a negative number): System.CommandLine would take a mistyped option for the argument, so that
    /// <c>tn cuts --jsno</c> would read a file named <c>--jsno</c>. The error names it, with a suggestion.
    /// </summary>
    public static Argument<T> NotAnOption<T>(this Argument<T> argument)
    {
        argument.Validators.Add(r =>
        {
            foreach (var token in r.Tokens.Select(t => t.Value))
                if (token.Length > 1 && token[0] == '-' && !char.IsDigit(token[1]) && token[1] != '.')
                {
                    var near = r.Parent is CommandResult c ? Cli.Suggest(c.Command, token) : [];
                    r.AddError($"{UnknownOption} '{token}'" + (near.Count > 0 ? $"; did you mean {string.Join(" or ", near)}?" : ""));
                }
        });
        return argument;
    }

    /// <summary>
    /// <c>--set name=value</c>: overrides a parameter of the network; repeatable, and one value may hold several
    /// pairs separated by commas. A name given twice is a usage error that names it.
    /// </summary>
    public static Option<KeyValuePair<string, string>[]> Set() => new("--set")
    {
        Description = "override a parameter of the network; repeatable or comma-separated; each name once",
        HelpName = "name=value",
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseSet,
    };

    /// <summary><c>--network NAME</c>: which network of the file to use.</summary>
    public static Option<string> Network() => new("--network")
    {
        Description = "the network to use when the file declares several [default: the last one]",
        HelpName = "NAME",
    };

    /// <summary>
    /// <c>--optimizer NAME</c> with the registry's names as completions. The name is read in any case, as
    /// <c>--objective</c>'s is (<c>Greedy</c> is <c>greedy</c>); a name that is none is a usage error listing the
    /// valid ones, the same in every verb.
    /// </summary>
    public static Option<string> Optimizer() =>
        WithCompletions(new Option<string>("--optimizer")
        {
            Description = "the contraction-path optimizer: " + string.Join(", ", PlanApi.optimizerNames()),
            HelpName = "NAME",
            DefaultValueFactory = _ => "auto",
            CustomParser = r =>
            {
                var names = PlanApi.optimizerNames();
                var text = r.Tokens.Count == 1 ? r.Tokens[0].Value.Trim() : "";
                if (PlanApi.optimizerName(text) is { } name)
                    return name;
                r.AddError(text.Length == 0
                    ? "--optimizer needs a name: " + string.Join(", ", names)
                    : $"--optimizer {text}: no such optimizer; valid optimizers: {string.Join(", ", names)}");
                return null;
            },
        }, PlanApi.optimizerNames());

    /// <summary>
    /// <c>--size NAME=N</c>: the size of a dynamic index (N a positive integer, <c>1000</c> or <c>1e3</c>: see
    /// <see cref="ReadInteger"/>); repeatable, or several pairs separated by commas. A name given twice is a usage error.
    /// </summary>
    public static Option<KeyValuePair<string, long>[]> Size() => new("--size")
    {
        Description = "the size of a dynamic index such as batch; repeatable or comma-separated",
        HelpName = "name=N",
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseSizes,
    };

    /// <summary>
    /// <c>--batch N</c> or <c>--batch name=N,…</c>: the size of every dynamic index, or of the dynamic index families named
    /// (the others keep the default); repeatable, or several items separated by commas, each name once and one bare
    /// size at most (<c>--batch 64,k=50000</c>: k at 50,000, every other dynamic index at 64). Each mistake is a usage
    /// error of its own that quotes the item; names are checked against the network by
    /// <see cref="DynamicOptions.CheckBatch"/>.
    /// </summary>
    public static Option<BatchSizes?> Batch(string description) => new("--batch")
    {
        Description = description,
        HelpName = "N|name=N",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseBatch,
    };

    /// <summary>A flag (an option without a value).</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>An option that takes a string, with no default.</summary>
    public static Option<string> Text(string name, string helpName, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, HelpName = helpName };

    /// <summary>
    /// An option that takes an integer from <paramref name="min"/> to <paramref name="max"/>, shown with its default.
    /// </summary>
    public static Option<long> Integer(string name, long fallback, string description, long min = 1, long max = long.MaxValue,
        params string[] aliases) =>
        new(name, aliases)
        {
            Description = description,
            HelpName = "N",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => ParseInteger(r, name, min, max),
        };

    /// <summary>An option that takes an integer from <paramref name="min"/> to <paramref name="max"/>, absent when not
    /// given (the default then depends on something else; <paramref name="description"/> says what).</summary>
    public static Option<long?> OptionalInteger(string name, string description, long min = 1, long max = long.MaxValue,
        params string[] aliases) =>
        new(name, aliases)
        {
            Description = description,
            HelpName = "N",
            CustomParser = r => ParseInteger(r, name, min, max),
        };

    /// <summary>
    /// An option that takes an <c>int</c> from <paramref name="min"/> to <paramref name="max"/>, shown with
    /// its default.
    /// </summary>
    public static Option<int> Int(string name, int fallback, string description, int min = 1, int max = int.MaxValue, params string[] aliases) =>
        new(name, aliases)
        {
            Description = description,
            HelpName = "N",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => (int)ParseInteger(r, name, min, max),
        };

    /// <summary>An option that takes an <c>int</c> from <paramref name="min"/> up, absent when not given.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min = 1) =>
        new(name)
        {
            Description = description,
            HelpName = "N",
            CustomParser = r => (int)ParseInteger(r, name, min, int.MaxValue),
        };

    /// <summary>
    /// <c>--threads N</c>, from 1 to <see cref="Threads.Max"/> (libtorch starts every thread asked for: 100,000 would
    /// take hours before the first step), absent when not given.
    /// </summary>
    public static Option<int?> ThreadCount(string description) =>
        new("--threads")
        {
            Description = description,
            HelpName = "N",
            CustomParser = r => (int)ParseInteger(r, "--threads", 1, Threads.Max),
        };

    /// <summary>An option that takes a finite number, positive when <paramref name="positive"/>, shown with its default.</summary>
    public static Option<double> Number(string name, double fallback, string description, bool positive = true) =>
        new(name)
        {
            Description = description,
            HelpName = "X",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => ParseNumber(r, name, positive),
        };

    /// <summary>An option that takes a finite number, absent when not given.</summary>
    public static Option<double?> OptionalNumber(string name, string description, bool positive = true) =>
        new(name)
        {
            Description = description,
            HelpName = "X",
            CustomParser = r => ParseNumber(r, name, positive),
        };

    /// <summary>An option that takes one of <paramref name="choices"/> (the first is the default), completed and checked.</summary>
    public static Option<string> Choice(string name, string description, params string[] choices)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => choices[0] };
        option.AcceptOnlyFromAmong(choices);
        return option;
    }

    /// <summary>The pairs of a <c>name=value</c> option in the order given (empty when it was not given).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Pairs(this ParseResult parse, Option<KeyValuePair<string, string>[]> option) =>
        parse.GetValue(option) ?? [];

    /// <summary>The pairs of a <c>name=N</c> option in the order given (empty when it was not given).</summary>
    public static KeyValuePair<string, long>[] Sizes(this ParseResult parse, Option<KeyValuePair<string, long>[]> option) =>
        parse.GetValue(option) ?? [];

    /// <summary>Adds <paramref name="values"/> as static completions of <paramref name="option"/>.</summary>
    private static Option<string> WithCompletions(Option<string> option, IEnumerable<string> values)
    {
        option.CompletionSources.Add(values.ToArray());
        return option;
    }

    /// <summary>The option's name as typed (<c>-n</c> or <c>--count</c>), for messages.</summary>
    private static string Typed(ArgumentResult r, string name) =>
        (r.Parent as OptionResult)?.IdentifierToken?.Value is { } typed && typed != name ? $"{typed} ({name})" : name;

    private static KeyValuePair<string, string>[] ParseSet(ArgumentResult r)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var token in r.Tokens)
            foreach (var item in token.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = item.IndexOf('=');
                if (eq <= 0 || eq == item.Length - 1)
                {
                    r.AddError($"--set takes name=value, got '{item}'");
                    return [];
                }
                var name = item[..eq].Trim();
                var value = item[(eq + 1)..].Trim();
                if (pairs.FirstOrDefault(p => p.Key == name) is { Key: not null } first)
                {
                    r.AddError($"--set gives '{name}' twice ({name}={first.Value}, {name}={value}); set each parameter once");
                    return [];
                }
                pairs.Add(new(name, value));
            }
        return pairs.ToArray();
    }

    /// <summary>
    /// The one reading of an integer on the command line (<c>--size</c>, <c>--batch</c>, <c>--trials</c>, <c>--seed</c>,
    /// <c>tn plan --memory-limit</c>, …): a whole number written plainly (<c>1000</c>, <c>-3</c>) or in scientific
    /// notation with a whole value (<c>1e3</c>, <c>2.5e3</c>). Null where the text is no such number that fits a long,
    /// and then <paramref name="why"/> is what to add to the option's message: <c>" (not a whole number)"</c> for
    /// <c>1.5</c>, <c>" (over 9,223,372,036,854,775,807)"</c> or <c>" (under …)"</c> past long's range, empty for text
    /// that is no number.
    /// </summary>
    public static long? ReadInteger(string text, out string why)
    {
        why = "";
        text = text.Trim();
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            return n;
        const NumberStyles scientific = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;
        // A double says which side of long's range a number lies beyond decimal's (about 7.9e28), and that a tiny one
        // (1e-30, which decimal reads as 0) is not whole.
        if (!double.TryParse(text, scientific, CultureInfo.InvariantCulture, out var x) || double.IsNaN(x))
            return null;
        if (decimal.TryParse(text, scientific, CultureInfo.InvariantCulture, out var d))
        {
            if (d != decimal.Truncate(d) || (d == 0 && x != 0))
                why = " (not a whole number)";
            else if (d >= long.MinValue && d <= long.MaxValue)
                return (long)d;
        }
        if (why.Length == 0)
            why = x > 0 ? $" (over {long.MaxValue:N0})" : $" (under {long.MinValue:N0})";
        return null;
    }

    /// <summary><paramref name="why"/> of <see cref="ReadInteger"/> for an option that takes
    /// <paramref name="min"/> to <paramref name="max"/>: a number past long's range is said so only on a side whose
    /// bound the option's message does not state.</summary>
    private static string Note(string why, long min, long max) =>
        why.StartsWith(" (over", StringComparison.Ordinal) && max < long.MaxValue
        || why.StartsWith(" (under", StringComparison.Ordinal) && min > long.MinValue ? "" : why;

    private static KeyValuePair<string, long>[] ParseSizes(ArgumentResult r)
    {
        var sizes = new List<KeyValuePair<string, long>>();
        foreach (var token in r.Tokens)
            foreach (var item in token.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = item.IndexOf('=');
                var why = "";
                if (eq <= 0 || ReadInteger(item[(eq + 1)..], out why) is not { } n || n < 1)
                {
                    r.AddError($"--size takes name=N with N a positive integer, got '{item}'{Note(why, 1, long.MaxValue)}");
                    return [];
                }
                var name = item[..eq].Trim();
                if (sizes.Any(s => s.Key == name))
                {
                    r.AddError($"--size gives '{name}' twice; give each size once");
                    return [];
                }
                sizes.Add(new(name, n));
            }
        return sizes.ToArray();
    }

    private static BatchSizes? ParseBatch(ArgumentResult r)
    {
        long? all = null;
        var byIndex = new Dictionary<string, long>(StringComparer.Ordinal);
        int mistakes = 0;
        void Mistake(string message)
        {
            r.AddError(message);
            mistakes++;
        }
        // Why a size is not a positive integer, in words ("" where the value says it), or null for a size.
        static string? Bad(string text) => ReadInteger(text, out var why) is { } n ? n < 1 ? "" : null : Note(why, 1, long.MaxValue);
        foreach (var token in r.Tokens)
        {
            var items = token.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (items.Length == 0)
                Mistake($"--batch takes a positive integer, got '{token.Value}'");
            foreach (var item in items)
            {
                var eq = item.IndexOf('=');
                if (eq < 0)
                {
                    if (Bad(item) is { } why)
                        Mistake($"--batch takes a positive integer, got '{item}'{why}" +
                                (item.Any(char.IsAsciiLetter) ? "; to size one dynamic index give name=N, e.g. q=2000,k=50000" : ""));
                    else if (all is { } first)
                        Mistake($"--batch gives the size of every dynamic index twice ({first}, {item}); give it once");
                    else
                        all = ReadInteger(item, out _);
                    continue;
                }
                var name = item[..eq].Trim();
                var text = item[(eq + 1)..].Trim();
                if (name.Length == 0 || Bad(text) is not null)
                    Mistake($"--batch takes name=N with N a positive integer, got '{item}'{(name.Length == 0 ? "" : Bad(text))}");
                else if (byIndex.TryGetValue(name, out var earlier))
                    Mistake($"--batch gives '{name}' twice ({name}={earlier}, {item}); give each index's size once");
                else
                    byIndex[name] = ReadInteger(text, out _)!.Value;
            }
        }
        return mistakes > 0 ? null : new BatchSizes { All = all, ByIndex = byIndex };
    }

    private static long ParseInteger(ArgumentResult r, string name, long min, long max)
    {
        var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : "";
        var read = ReadInteger(text, out var why);
        if (read is { } v && v >= min && v <= max)
            return v;
        why = Note(why, min, max);
        r.AddError(min switch
        {
            _ when max < long.MaxValue => $"{Typed(r, name)} takes an integer from {min} to {max}, got '{text}'{why}",
            1 => $"{Typed(r, name)} takes a positive integer, got '{text}'{why}",
            long.MinValue => $"{Typed(r, name)} takes an integer, got '{text}'{why}",
            _ => $"{Typed(r, name)} takes an integer ≥ {min}, got '{text}'{why}",
        });
        return 0;
    }

    private static double ParseNumber(ArgumentResult r, string name, bool positive)
    {
        var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : "";
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && (!positive || v > 0))
            return v;
        r.AddError($"{Typed(r, name)} takes a {(positive ? "positive " : "")}number, got '{text}'");
        return 0;
    }
}
