using System.Globalization;

namespace TnDsl.Cli;

/// <summary>A mistake in how a command was called: reported with exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A small, strict option parser shared by the commands: flags, options with values (repeatable ones collect),
/// short aliases (<c>-o</c> for <c>--output</c>) and positional arguments. Unknown options are usage errors,
/// never ignored.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new();
    private readonly HashSet<string> _flags = new();

    /// <summary>Positional arguments in order.</summary>
    public List<string> Positional { get; } = new();

    /// <summary>Parses <paramref name="args"/>, knowing which options take a value and which are flags.</summary>
    public static Args Parse(string[] args, IEnumerable<string> valued, IEnumerable<string> flags) =>
        Parse(args, valued, flags, null);

    /// <summary>
    /// Parses <paramref name="args"/>, knowing which options take a value, which are flags, and which short
    /// aliases stand for which long options (<c>"-o" → "--output"</c>; values are then read by the long name).
    /// An argument that starts with <c>-</c> and is not a known option, an alias, <c>-</c> alone or a negative
    /// number is a usage error that lists the options.
    /// </summary>
    public static Args Parse(string[] args, IEnumerable<string> valued, IEnumerable<string> flags,
        IReadOnlyDictionary<string, string>? aliases)
    {
        var valuedSet = valued.ToHashSet();
        var flagSet = flags.ToHashSet();
        aliases ??= new Dictionary<string, string>();
        var result = new Args();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            var alias = aliases.TryGetValue(a, out var longName);
            if (alias) a = longName!;
            if (a.StartsWith("--") && a.Length > 2)
            {
                var eq = a.IndexOf('=');
                var name = eq > 0 ? a[..eq] : a;
                if (flagSet.Contains(name) && eq < 0)
                    result._flags.Add(name);
                else if (valuedSet.Contains(name))
                {
                    string value;
                    if (eq > 0) value = a[(eq + 1)..];
                    else if (i + 1 < args.Length) value = args[++i];
                    else throw new UsageException($"{(alias ? $"{args[i]} ({name})" : name)} needs a value");
                    if (!result._values.TryGetValue(name, out var list)) result._values[name] = list = new();
                    list.Add(value);
                }
                else throw Unknown(name, valuedSet, flagSet, aliases);
            }
            else if (a.Length > 1 && a[0] == '-' && !char.IsDigit(a[1]) && a[1] != '.')
                throw Unknown(a, valuedSet, flagSet, aliases);
            else result.Positional.Add(a);
        }
        return result;
    }

    /// <summary>The error for an unknown option: it names the option and lists the valid ones with their aliases.</summary>
    private static UsageException Unknown(string name, HashSet<string> valued, HashSet<string> flags,
        IReadOnlyDictionary<string, string> aliases)
    {
        var known = valued.Concat(flags).Order(StringComparer.Ordinal).Select(o =>
        {
            var shorts = aliases.Where(kv => kv.Value == o).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
            return shorts.Count == 0 ? o : $"{o} ({string.Join(", ", shorts)})";
        }).ToList();
        return new UsageException(known.Count == 0
            ? $"unknown option '{name}'; this command takes no options"
            : $"unknown option '{name}'; options are {string.Join(", ", known)}");
    }

    /// <summary>True when any argument asks for help (<c>-h</c> or <c>--help</c>), wherever it stands.</summary>
    public static bool AsksForHelp(IEnumerable<string> args) => args.Any(a => a is "-h" or "--help");

    /// <summary>True when the flag was given.</summary>
    public bool Has(string flag) => _flags.Contains(flag);

    /// <summary>The last value of an option, or null.</summary>
    public string? Value(string name) => _values.TryGetValue(name, out var l) ? l[^1] : null;

    /// <summary>All values of a repeatable option.</summary>
    public IReadOnlyList<string> Values(string name) => _values.TryGetValue(name, out var l) ? l : [];

    /// <summary>Values of the form <c>k=v</c> (each option may hold several, comma-separated), as pairs.</summary>
    public List<KeyValuePair<string, string>> Pairs(string name)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var raw in Values(name))
            foreach (var item in raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = item.IndexOf('=');
                if (eq <= 0 || eq == item.Length - 1)
                    throw new UsageException($"{name} takes name=value, got '{item}'");
                pairs.Add(new(item[..eq].Trim(), item[(eq + 1)..].Trim()));
            }
        return pairs;
    }

    /// <summary>
    /// Values of the form <c>NAME=N</c> with N a positive integer (<c>--size batch=1000</c>; several per option
    /// comma-separated), as pairs in the order given.
    /// </summary>
    public KeyValuePair<string, long>[] Sizes(string name)
    {
        var sizes = new List<KeyValuePair<string, long>>();
        foreach (var raw in Values(name))
            foreach (var item in raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = item.IndexOf('=');
                if (eq <= 0 || !long.TryParse(item[(eq + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
                    throw new UsageException($"{name} takes NAME=N with N a positive integer, got '{item}'");
                sizes.Add(new(item[..eq].Trim(), n));
            }
        return sizes.ToArray();
    }

    /// <summary>The value of an option that takes a positive integer, or null when it was not given.</summary>
    public long? Positive(string name)
    {
        if (Value(name) is not { } text) return null;
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 1
            ? v
            : throw new UsageException($"{name} takes a positive integer, got '{text}'");
    }

    /// <summary>The one positional argument the command needs.</summary>
    public string Single(string what)
    {
        if (Positional.Count == 1) return Positional[0];
        throw new UsageException(Positional.Count == 0 ? $"missing {what}" : TooMany(what));
    }

    /// <summary>The positional argument a command may take once, or null when there is none.</summary>
    public string? Optional(string what) => Positional.Count switch
    {
        0 => null,
        1 => Positional[0],
        _ => throw new UsageException(TooMany(what)),
    };

    private string TooMany(string what) => $"expected one {what}, got {Positional.Count}: {string.Join(" ", Positional)}";
}

/// <summary>
/// How one command is called: its verb, usage text and options. <see cref="Run"/> answers <c>-h</c>/<c>--help</c>
/// with the usage, parses, runs the command's body and turns a <see cref="UsageException"/> into
/// <c>tn VERB: message</c> and the usage on the error stream, exit code 2.
/// </summary>
/// <param name="Verb">The command's name after <c>tn</c>, which prefixes its messages.</param>
/// <param name="Usage">The usage text printed for help and after a usage error.</param>
/// <param name="Valued">Options that take a value.</param>
/// <param name="Flags">Options that take none.</param>
/// <param name="Aliases">Short aliases of long options (<c>-o</c> for <c>--output</c>), or null.</param>
public sealed record CommandSyntax(string Verb, string Usage, string[] Valued, string[] Flags,
    IReadOnlyDictionary<string, string>? Aliases = null)
{
    /// <summary>
    /// Runs <paramref name="body"/> on the parsed arguments: the usage to <paramref name="output"/> and 0 for help,
    /// a usage error (from parsing or from the body) to <paramref name="err"/> and 2, else the body's exit code.
    /// </summary>
    public int Run(string[] argv, TextWriter output, TextWriter err, Func<Args, int> body)
    {
        if (Args.AsksForHelp(argv))
        {
            output.WriteLine(Usage);
            return 0;
        }
        try
        {
            return body(Args.Parse(argv, Valued, Flags, Aliases));
        }
        catch (UsageException e)
        {
            return Fail(err, e.Message);
        }
    }

    /// <summary>Writes <c>tn VERB: message</c> and the usage to <paramref name="err"/>; returns 2.</summary>
    public int Fail(TextWriter err, string message)
    {
        err.WriteLine($"tn {Verb}: {message}");
        err.WriteLine(Usage);
        return 2;
    }
}
