namespace TnDsl.Cli;

/// <summary>A mistake in how a command was called: reported with exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A small, strict option parser shared by the commands: flags, options with values (repeatable ones collect),
/// and positional arguments. Unknown options are usage errors, never ignored.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new();
    private readonly HashSet<string> _flags = new();

    /// <summary>Positional arguments in order.</summary>
    public List<string> Positional { get; } = new();

    /// <summary>Parses <paramref name="args"/>, knowing which options take a value and which are flags.</summary>
    public static Args Parse(string[] args, IEnumerable<string> valued, IEnumerable<string> flags)
    {
        var valuedSet = valued.ToHashSet();
        var flagSet = flags.ToHashSet();
        var result = new Args();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
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
                    else throw new UsageException($"{name} needs a value");
                    if (!result._values.TryGetValue(name, out var list)) result._values[name] = list = new();
                    list.Add(value);
                }
                else
                {
                    var known = valuedSet.Concat(flagSet).OrderBy(s => s);
                    throw new UsageException($"unknown option '{name}'; options are {string.Join(", ", known)}");
                }
            }
            else result.Positional.Add(a);
        }
        return result;
    }

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

    /// <summary>The one positional argument the command needs.</summary>
    public string Single(string what)
    {
        if (Positional.Count == 1) return Positional[0];
        throw new UsageException(Positional.Count == 0 ? $"missing {what}" : $"expected one {what}, got {Positional.Count}: {string.Join(" ", Positional)}");
    }
}
