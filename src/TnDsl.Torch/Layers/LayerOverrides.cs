using System.Collections;
using System.Globalization;

namespace TnDsl.Torch;

/// <summary>
/// Turns the ways callers give parameter overrides (a C# anonymous object, a dictionary, F# (name, value) tuples,
/// key-value pairs) into the name → text pairs the front end takes. Values are written in invariant culture.
/// </summary>
public static class LayerOverrides
{
    /// <summary>The overrides in <paramref name="values"/>; null gives none.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> From(object? values)
    {
        switch (values)
        {
            case null:
                return [];
            case string text:
                // Read as an object, a string would give its Length as a parameter.
                throw new ArgumentException(
                    $"overrides are an object (new {{ L = 3 }}), a dictionary or (name, value) pairs, not text ('{text}')", nameof(values));
            case IEnumerable<KeyValuePair<string, string>> texts:
                return texts.ToList();
            case IEnumerable<KeyValuePair<string, object>> pairs:
                return pairs.Select(p => Pair(p.Key, p.Value)).ToList();
            case IDictionary dictionary:
                return dictionary.Keys.Cast<object>().Select(k => Pair(k.ToString()!, dictionary[k])).ToList();
            case IEnumerable sequence when values is not string:
                return sequence.Cast<object>().Select(FromItem).ToList();
            default:
                return values.GetType().GetProperties()
                    .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
                    .Select(p => Pair(p.Name, p.GetValue(values)))
                    .ToList();
        }
    }

    static KeyValuePair<string, string> FromItem(object item)
    {
        var type = item.GetType();
        if (type.IsGenericType && type.FullName!.StartsWith("System.Tuple`2", StringComparison.Ordinal))
            return Pair((string)type.GetProperty("Item1")!.GetValue(item)!, type.GetProperty("Item2")!.GetValue(item));
        if (type.IsGenericType && type.FullName!.StartsWith("System.ValueTuple`2", StringComparison.Ordinal))
            return Pair((string)type.GetField("Item1")!.GetValue(item)!, type.GetField("Item2")!.GetValue(item));
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(KeyValuePair<,>))
            return Pair(type.GetProperty("Key")!.GetValue(item)!.ToString()!, type.GetProperty("Value")!.GetValue(item));
        throw new ArgumentException($"an override must be a (name, value) pair, got {type.Name}");
    }

    static KeyValuePair<string, string> Pair(string name, object? value) =>
        new(name, value switch
        {
            null => throw new ArgumentException($"override {name} has no value"),
            bool b => b ? "true" : "false",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString()!,
        });
}
