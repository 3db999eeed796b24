using TnDsl.Api;
using System.CommandLine;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Wcwidth;
using TnDsl;

namespace TnDsl.Cli.Commands;

/// <summary>
/// <c>tn cuts FILE [--cut NAME] [--profile [--plot OUT.png]] [--set k=v] [--network NAME] [--json]</c>: min-cut
/// bounds for the declared cuts of a network, optionally the profile of splits (drawn as bits per split with
/// <c>--plot</c>), and oversized bonds; a table, or JSON with <c>--json</c>.
/// </summary>
public static class CutsCommand
{
    /// <summary>The <c>cuts</c> verb: the table (or JSON) to the invocation's output, diagnostics to its errors.</summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var cut = TnOptions.Text("--cut", "NAME", "only the declared cut of this name [default: every declared cut]");
        var profile = TnOptions.Flag("--profile", "also bound every contiguous split of the output legs and the odd | even split; for a 2-D output family, every row and column split, odd | even rows and columns, and the checkerboard");
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var json = TnOptions.Flag("--json", "print the analysis as JSON: exact bounds (numbers up to 2^53, decimal strings beyond), bits and nats beside them");
        var plot = TnOptions.Text("--plot", "OUT.png", "with --profile: draw the bits of every split (a .png or .svg)");
        var command = new Command("cuts", "min-cut rank bounds for the declared cuts (--profile: every split)")
        {
            file, cut, profile, set, network, json, plot,
        };
        Cli.SetAction(command, parse =>
        {
            var (output, err) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            var plotPath = parse.GetValue(plot);
            if (plotPath is not null && !parse.GetValue(profile)) throw new UsageException("--plot draws the profile: give --profile too");
            if (plotPath is not null && !plotPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase) && !plotPath.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"--plot {plotPath}: the picture is written as .png or .svg");
            PlanCommand.RequireTnFile("cuts", parse.GetRequiredValue(file));
            var net = LoadNetwork(parse.GetRequiredValue(file), parse.Pairs(set), parse.GetValue(network), parse.GetValue(json), output, err);
            if (net is null) return 1;
            int code = Render(net, parse.GetValue(cut), parse.GetValue(profile), parse.GetValue(json), output, err);
            if (plotPath is not null && code == 0)
            {
                var view = MinCutApi.Analyse(net, parse.GetValue(cut), true);
                if (view.Profile.Count == 0)
                {
                    err.WriteLine($"tn cuts: {net.Name} has no splits to plot (it needs at least two output legs)");
                    return 1;
                }
                Drawing.NetworkPicture.Save(ProfilePlot(net, view), plotPath, 1000, 520);
                err.WriteLine($"wrote {plotPath}");
            }
            return code;
        });
        return command;
    }

    /// <summary>
    /// The one place that turns a file into a flat network: the front end checks it, its diagnostics go to
    /// <paramref name="err"/> (with <paramref name="json"/> and errors, as the JSON document to
    /// <paramref name="output"/>), and the network comes back, or null when the file has errors.
    /// </summary>
    internal static NetworkView? LoadNetwork(string path, IReadOnlyList<KeyValuePair<string, string>> overrides, string? network,
                                             bool json, TextWriter output, TextWriter err)
    {
        var result = Shipped.Check(path, overrides, network);
        if (result.Network is null)
            DiagnosticOutput.WriteFailure(json, output, err, result);
        else
            DiagnosticOutput.Write(err, result.Diagnostics);
        return result.Network;
    }

    /// <summary>
    /// Analyses a flat network and writes the table (or JSON) to <paramref name="output"/>, diagnostics to
    /// <paramref name="err"/> (in JSON mode they are part of the document). Returns 1 when there are errors, 2 when
    /// <paramref name="cutName"/> names no declared cut (an argument mistake, as every other one exits 2).
    /// </summary>
    public static int Render(NetworkView net, string? cutName, bool profile, bool json, TextWriter output, TextWriter err)
    {
        var names = MinCutApi.CutNames(net);
        if (cutName is not null && !names.Contains(cutName))
        {
            var valid = names.Length == 0 ? "the network declares no cuts" : "declared cuts: " + string.Join(", ", names);
            err.WriteLine($"tn cuts: no cut named `{cutName}` in `{net.Name}`; {valid}");
            return 2;
        }
        var view = MinCutApi.Analyse(net, cutName, profile);
        var hasErrors = view.Diagnostics.Any(d => d.IsError);
        if (json)
        {
            output.WriteLine(ToJson(net, view));
            return hasErrors ? 1 : 0;
        }
        DiagnosticOutput.Write(err, view.Diagnostics);
        output.Write(Table(net, view));
        return hasErrors ? 1 : 0;
    }

    /// <summary>The min-cut profile as a picture: bits of the rank bound per split position, one series per kind
    /// of split (contiguous, rows, columns) with the trivial bound dashed beside each; an interleaved split, which has
    /// no position, as a labelled horizontal line.</summary>
    public static ScottPlot.Plot ProfilePlot(NetworkView net, CutsView view)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int k = 0;
        double top = 0;
        int last = 1;
        foreach (var group in view.Profile.Where(e => e.Kind != "interleaved").GroupBy(e => e.Kind))
        {
            var xs = group.Select(e => (double)e.Position).ToArray();
            var color = palette.GetColor(k++);
            var bound = plot.Add.Scatter(xs, group.Select(e => e.Cut.Bits).ToArray());
            bound.LegendText = $"{group.Key}: min-cut bound";
            bound.Color = color;
            // Later series are drawn thinner, so that one lying on another (rows and columns of a square grid) shows.
            bound.LineWidth = Math.Max(1, 4 - 1.5f * (k - 1));
            bound.MarkerSize = Math.Max(4, 11 - 3.5f * (k - 1));
            var trivial = plot.Add.Scatter(xs, group.Select(e => e.Cut.TrivialBits).ToArray());
            trivial.LegendText = $"{group.Key}: trivial bound";
            trivial.Color = color.WithAlpha(0.6);
            trivial.LinePattern = ScottPlot.LinePattern.Dashed;
            trivial.MarkerSize = 0;
            top = Math.Max(top, group.Max(e => Math.Max(e.Cut.Bits, e.Cut.TrivialBits)));
            last = Math.Max(last, group.Max(e => e.Position));
        }
        // Interleaved splits with the same bound share one line (their names in one legend entry).
        foreach (var same in view.Profile.Where(e => e.Kind == "interleaved").GroupBy(e => Bits(e.Cut.Bits)))
        {
            var line = plot.Add.HorizontalLine(same.First().Cut.Bits);
            line.LinePattern = ScottPlot.LinePattern.Dotted;
            line.Color = ScottPlot.Colors.Black;
            line.LegendText = same.Count() == 1 ? $"interleaved ({same.First().Cut.Name}): {same.Key} bits" : $"{same.Count()} interleaved splits: {same.Key} bits";
            top = Math.Max(top, same.First().Cut.Bits);
        }
        plot.Title($"{net.Name}: min-cut profile, {view.Profile.Count} splits of {net.Output.Length} open legs\n(trivial bound: the legs on the smaller side)", size: 14);
        plot.XLabel("split position (legs, rows or columns on the A side)");
        plot.YLabel("log2 of the rank bound (bits)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.SetLimits(0.5, last + 0.5, 0, top * 1.08 + 0.5);
        plot.ShowLegend(ScottPlot.Edge.Right);
        return plot;
    }

    static string Bits(double b) => b.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>An exact bound, abbreviated as 2^bits past 20 digits.</summary>
    static string Big(BigInteger b, double bits)
    {
        var s = b.ToString(CultureInfo.InvariantCulture);
        return s.Length <= 20 ? s : $"~2^{Bits(bits)}";
    }

    /// <summary>The human-readable table.</summary>
    public static string Table(NetworkView net, CutsView view)
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
            // --profile splits the output legs: with fewer than two there is nothing to split, asked for or not.
            sb.AppendLine(net.Output.Length < 2
                ? $"{net.Name}: no cuts declared, and {(net.Output.Length == 0 ? "no output legs" : "one output leg")} to split (a cut or --profile splits the output legs in two)"
                : $"{net.Name}: no cuts declared (use --profile for the splits of the output legs)");
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
    /// (the JSON gives every run of consecutively declared tensors).</summary>
    static string Tensors(IReadOnlyList<string> names) =>
        names.Count <= 12
            ? "{" + string.Join(", ", names) + "}"
            : "{" + string.Join(", ", names.Take(4)) + ", …, " + string.Join(", ", names.Skip(names.Count - 2)) + $"}} ({names.Count} tensors)";

    /// <summary>The table, each column as wide as its widest cell on a terminal: a wide character (CJK, most emoji) takes
    /// two columns, a combining mark none (<see cref="Columns"/>).</summary>
    /// <summary>The terminal columns a text takes: each character's width by Unicode (the Wcwidth package), a
    /// control character none.</summary>
    static int Columns(string text)
    {
        int columns = 0;
        foreach (var rune in text.EnumerateRunes())
            columns += Math.Max(0, UnicodeCalculator.GetWidth(rune));
        return columns;
    }

    static void Grid(StringBuilder sb, string[] header, List<string[]> rows)
    {
        var width = header.Select((h, k) => Math.Max(Columns(h), rows.Count == 0 ? 0 : rows.Max(r => Columns(r[k])))).ToArray();
        void Line(string[] cells) => sb.AppendLine(string.Join("  ", cells.Select((c, k) => c + new string(' ', width[k] - Columns(c)))).TrimEnd());
        Line(header);
        Line(width.Select(w => new string('-', w)).ToArray());
        foreach (var r in rows) Line(r);
    }

    /// <summary>The JSON document, in the convention of every <c>--json</c> output (<see cref="JsonCount"/>): bounds exact
    /// (see <see cref="WriteBound"/>), with bits and nats beside them.</summary>
    public static string ToJson(NetworkView net, CutsView view)
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
                JsonCount.Write(w, "dim", o.Dim);
                JsonCount.Write(w, "reducible_to", o.ReducibleTo);
                WriteRange(w, o.Range);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("diagnostics");
            foreach (var d in view.Diagnostics)
                DiagnosticOutput.WriteJson(w, d);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// Writes a cut's bound as the count <paramref name="value"/> (<see cref="JsonCount"/>: a number up to 2^53, a decimal
    /// string beyond) while <paramref name="text"/>, its exact text, is decimal (up to 2^128); past that as the text, a
    /// product of powers of the dimensions (<c>"2^30000"</c>), as a profile of a long chain would otherwise write
    /// thousands of digits per split. <c>tn check --json</c>'s <c>cut_bounds</c> are written here too.
    /// </summary>
    public static void WriteBound(Utf8JsonWriter w, string name, BigInteger value, string text)
    {
        if (text.All(char.IsAsciiDigit))
            JsonCount.Write(w, name, value);
        else
            w.WriteString(name, text);
    }

    static void WriteRange(Utf8JsonWriter w, RangeView r)
    {
        w.WriteString("file", r.File);
        w.WriteNumber("line", r.Line);
        w.WriteNumber("col", r.Column);
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
        WriteBound(w, "bound", c.Bound, c.BoundText);
        w.WriteNumber("bits", c.Bits);
        w.WriteNumber("nats", c.Nats);
        WriteBound(w, "trivial", c.Trivial, c.TrivialText);
        w.WriteNumber("trivial_bits", c.TrivialBits);
        w.WriteString("tighter", c.Tighter);
        w.WriteStartArray("bonds");
        foreach (var b in c.Bonds)
        {
            w.WriteStartObject();
            w.WriteString("name", b.Name);
            JsonCount.Write(w, "dim", b.Dim);
            w.WriteBoolean("hyper", b.Hyper);
            w.WriteBoolean("open", b.Open);
            WriteRange(w, b.Range);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteRuns(w, "left", c.LeftLegRuns);
        WriteRuns(w, "right", c.RightLegRuns);
        WriteRuns(w, "left_tensors", c.LeftTensorRuns);
        WriteRuns(w, "right_tensors", c.RightTensorRuns);
        w.WriteEndObject();
    }

    /// <summary>A side as runs: <c>{"first": "p[0]", "last": "p[7]", "count": 8}</c> for p[0] to p[7] (legs in output
    /// order, tensors in declaration order), so that a split of a long chain is a line, not the chain.</summary>
    static void WriteRuns(Utf8JsonWriter w, string name, IReadOnlyList<RunView> runs)
    {
        w.WriteStartArray(name);
        foreach (var r in runs)
        {
            w.WriteStartObject();
            w.WriteString("first", r.First);
            w.WriteString("last", r.Last);
            w.WriteNumber("count", r.Count);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
