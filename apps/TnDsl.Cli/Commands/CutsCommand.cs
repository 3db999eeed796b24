using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using TnDsl;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn cuts FILE [--cut NAME] [--profile] [--set k=v] [--json]</c>: min-cut bounds for the declared cuts of a
/// network, optionally the profile of splits, and oversized bonds; a table, or JSON with <c>--json</c>.
/// </summary>
public static class CutsCommand
{
    private static readonly CommandSyntax Syntax = new("cuts",
        "usage: tn cuts FILE [--cut NAME] [--profile] [--set k=v] [--json]",
        ["--cut", "--set"], ["--profile", "--json"]);

    /// <summary>Parses the arguments, compiles the file and prints the analysis. Returns the exit code.</summary>
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// The command with its output streams given (the report to <paramref name="output"/>, diagnostics and usage
    /// errors to <paramref name="err"/>), so that tests run it in process. Returns the exit code.
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter err) => Syntax.Run(args, output, err, a =>
    {
        var file = a.Single("FILE");
        var net = LoadNetwork(file, a.Pairs("--set"), err);
        return net is null ? 1 : Render(net, a.Value("--cut"), a.Has("--profile"), a.Has("--json"), output, err);
    });

    /// <summary>
    /// The one place that turns a file into a flat network: the front end checks it, its diagnostics go to
    /// <paramref name="err"/>, and the network comes back, or null when the file has errors.
    /// </summary>
    internal static FlatNetwork? LoadNetwork(string path, IReadOnlyList<KeyValuePair<string, string>> overrides, TextWriter err)
    {
        var result = TnDsl.Api.Frontend.Check(path, overrides, null!);
        DiagnosticOutput.Write(err, result.Diagnostics);
        return result.SummaryOrNull?.Network;
    }

    /// <summary>
    /// Analyses a flat network and writes the table (or JSON) to <paramref name="output"/>, diagnostics to
    /// <paramref name="err"/> (in JSON mode they are part of the document). Returns 1 when there are errors.
    /// </summary>
    public static int Render(FlatNetwork net, string? cutName, bool profile, bool json, TextWriter output, TextWriter err)
    {
        var names = MinCutApi.CutNames(net);
        if (cutName is not null && !names.Contains(cutName))
        {
            var valid = names.Length == 0 ? "the network declares no cuts" : "declared cuts: " + string.Join(", ", names);
            err.WriteLine($"tn cuts: no cut named `{cutName}` in `{net.Name}`; {valid}");
            return 1;
        }
        var view = MinCutApi.Analyse(net, cutName, profile);
        var hasErrors = view.Diagnostics.Any(d => d.Kind.Level.IsError);
        if (json)
        {
            output.WriteLine(ToJson(net, view));
            return hasErrors ? 1 : 0;
        }
        DiagnosticOutput.Write(err, view.Diagnostics);
        output.Write(Table(net, view));
        return hasErrors ? 1 : 0;
    }

    static string Bits(double b) => b.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>An exact bound, abbreviated as 2^bits past 20 digits.</summary>
    static string Big(BigInteger b, double bits)
    {
        var s = b.ToString(CultureInfo.InvariantCulture);
        return s.Length <= 20 ? s : $"~2^{Bits(bits)}";
    }

    /// <summary>The human-readable table.</summary>
    public static string Table(FlatNetwork net, CutsView view)
    {
        var sb = new StringBuilder();
        if (view.Cuts.Count > 0)
        {
            var rows = view.Cuts.Select(c => new[]
            {
                c.Name, Big(c.Bound, c.Bits), Bits(c.Bits), Big(c.Trivial, c.TrivialBits), c.Tighter,
                string.Join(" ", c.Bonds.Select(b => $"{b.Name}({b.Dim})")),
            }).ToList();
            Grid(sb, new[] { "cut", "bound", "bits", "trivial", "tighter", "severed bonds" }, rows);
            foreach (var c in view.Cuts)
                sb.AppendLine($"  {c.Name}: A = {Tensors(c.LeftTensors)}  B = {Tensors(c.RightTensors)}");
        }
        else if (view.Profile.Count == 0)
        {
            sb.AppendLine($"{net.Name}: no cuts declared (use --profile for the splits of the output legs)");
        }
        if (view.Profile.Count > 0)
        {
            if (view.Cuts.Count > 0) sb.AppendLine();
            var rows = view.Profile.Select(e => new[]
            {
                e.Kind, e.Position == 0 ? "" : e.Position.ToString(CultureInfo.InvariantCulture), e.Cut.Name,
                Big(e.Cut.Bound, e.Cut.Bits), Bits(e.Cut.Bits), Bits(e.Cut.TrivialBits), e.Cut.Tighter,
            }).ToList();
            Grid(sb, new[] { "split", "at", "A | B", "bound", "bits", "trivial bits", "tighter" }, rows);
        }
        return sb.ToString();
    }

    /// <summary>A tensor set for the table: in full up to 12 names, else the first and last few and the count
    /// (the JSON lists every tensor).</summary>
    static string Tensors(IReadOnlyList<string> names) =>
        names.Count <= 12
            ? "{" + string.Join(", ", names) + "}"
            : "{" + string.Join(", ", names.Take(4)) + ", …, " + string.Join(", ", names.Skip(names.Count - 2)) + $"}} ({names.Count} tensors)";

    static void Grid(StringBuilder sb, string[] header, List<string[]> rows)
    {
        var width = header.Select((h, k) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[k].Length))).ToArray();
        void Line(string[] cells) => sb.AppendLine(string.Join("  ", cells.Select((c, k) => c.PadRight(width[k]))).TrimEnd());
        Line(header);
        Line(width.Select(w => new string('-', w)).ToArray());
        foreach (var r in rows) Line(r);
    }

    /// <summary>The JSON document: bounds are exact decimal strings, with bits and nats beside them.</summary>
    public static string ToJson(FlatNetwork net, CutsView view)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("network", net.Name);
            w.WriteStartArray("cuts");
            foreach (var c in view.Cuts) WriteCut(w, c, null);
            w.WriteEndArray();
            w.WriteStartArray("profile");
            foreach (var e in view.Profile) WriteCut(w, e.Cut, e);
            w.WriteEndArray();
            w.WriteStartArray("oversized");
            foreach (var o in view.Oversized)
            {
                w.WriteStartObject();
                w.WriteString("bond", o.Name);
                w.WriteNumber("dim", o.Dim);
                w.WriteString("reducibleTo", o.ReducibleTo.ToString(CultureInfo.InvariantCulture));
                WriteRange(w, o.Range);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("diagnostics");
            foreach (var d in view.Diagnostics)
            {
                w.WriteStartObject();
                w.WriteString("code", d.Kind.Code);
                w.WriteString("level", d.Kind.Level.IsError ? "error" : d.Kind.Level.IsWarning ? "warning" : "info");
                w.WriteString("message", d.Message);
                WriteRange(w, d.Range);
                w.WriteStartArray("hints");
                foreach (var h in d.Hints) w.WriteStringValue(h);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    static void WriteRange(Utf8JsonWriter w, SourceRange r)
    {
        w.WriteString("file", r.File);
        w.WriteNumber("line", r.Start.Line);
        w.WriteNumber("col", r.Start.Col);
    }

    static void WriteCut(Utf8JsonWriter w, CutView c, ProfileEntryView? e)
    {
        w.WriteStartObject();
        w.WriteString("name", c.Name);
        if (e is not null)
        {
            w.WriteString("kind", e.Kind);
            w.WriteNumber("position", e.Position);
        }
        w.WriteString("bound", c.Bound.ToString(CultureInfo.InvariantCulture));
        w.WriteNumber("bits", c.Bits);
        w.WriteNumber("nats", c.Nats);
        w.WriteString("trivial", c.Trivial.ToString(CultureInfo.InvariantCulture));
        w.WriteNumber("trivialBits", c.TrivialBits);
        w.WriteString("tighter", c.Tighter);
        w.WriteStartArray("bonds");
        foreach (var b in c.Bonds)
        {
            w.WriteStartObject();
            w.WriteString("name", b.Name);
            w.WriteNumber("dim", b.Dim);
            w.WriteBoolean("hyper", b.Hyper);
            w.WriteBoolean("open", b.Open);
            WriteRange(w, b.Range);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteList(w, "left", c.LeftLegs);
        WriteList(w, "right", c.RightLegs);
        WriteList(w, "leftTensors", c.LeftTensors);
        WriteList(w, "rightTensors", c.RightTensors);
        w.WriteEndObject();
    }

    static void WriteList(Utf8JsonWriter w, string name, IReadOnlyList<string> items)
    {
        w.WriteStartArray(name);
        foreach (var s in items) w.WriteStringValue(s);
        w.WriteEndArray();
    }
}
