namespace TnDsl.Cli.Commands;

using System.CommandLine;
using System.Text.Json;
using TnDsl.Api;

/// <summary><c>tn check FILE [--set k=v] [--network NAME] [--json]</c>: diagnostics, then the network's summary.</summary>
public static class CheckCommand
{
    /// <summary>
    /// The <c>check</c> verb: the report to the invocation's output; exit 0 when clean (warnings allowed), 1 on
    /// errors in the file.
    /// </summary>
    public static Command Create()
    {
        var file = TnOptions.TnFile();
        var set = TnOptions.Set();
        var network = TnOptions.Network();
        var json = TnOptions.Flag("--json", "print the diagnostics (code, level, range, message, hints) and the summary as JSON");
        var command = new Command("check", "check a .tn file and print its summary") { file, set, network, json };
        Cli.SetAction(command, parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var path = parse.GetRequiredValue(file);
            PlanCommand.RequireTnFile("check", path);
            var result = Shipped.Check(path, parse.Pairs(set), parse.GetValue(network));
            if (parse.GetValue(json))
                WriteJson(output, result.File, result);
            else
            {
                DiagnosticOutput.Write(parse.InvocationConfiguration.Error, result.Diagnostics);
                WriteText(output, result);
            }
            return result.HasErrors ? 1 : 0;
        });
        return command;
    }

    /// <summary>The summary, or the file's count line (the diagnostics themselves go to the error stream).</summary>
    public static void WriteText(TextWriter w, CheckResult result)
    {
        var s = result.SummaryOrNull;
        if (s is null)
        {
            w.WriteLine(result.CountLine);
            return;
        }
        var pars = s.Parameters.Length == 0 ? "" : " (" + string.Join(", ", s.Parameters.Select(p => $"{p.Key}={p.Value}")) + ")";
        w.WriteLine($"network {s.Name}{pars}: ok, {Plural(result.WarningCount, "warning")}");
        w.WriteLine($"  tensors     {s.Tensors} ({s.Weights} weight, {s.Inputs} input, {s.Constants} const)");
        w.WriteLine($"  indices     {s.Indices} ({s.Bonds} bonds, {s.OpenLegs} open; {s.Hyperindices} hyper)");
        w.WriteLine($"  parameters  {s.TrainableScalars:N0} trainable scalar{(s.TrainableScalars == 1 ? "" : "s")} in {Plural(s.TrainableTensors, "tensor")}");
        w.WriteLine($"  open legs   {FormatLegs(s)}");
        if (s.Cuts.Length > 0)
            w.WriteLine($"  cuts        {string.Join(", ", s.Cuts)}");
        foreach (var c in CutBounds(s))
            w.WriteLine($"  cut {c.Name}: {CutLine(c)}");
    }

    /// <summary>The declared cuts' min-cut bounds (one exact max-flow each; empty without cuts).</summary>
    private static TnDsl.CutView[] CutBounds(NetworkSummary s) =>
        s.Cuts.Length == 0 ? [] : TnDsl.MinCutApi.Declared(s.Network);

    /// <summary>One cut's summary: <c>bound 8 (3 bits), trivial 256 (8 bits): min-cut tighter</c>.</summary>
    public static string CutLine(TnDsl.CutView c)
    {
        var verdict = c.Tighter switch
        {
            "min-cut" => "min-cut tighter",
            "trivial" => "trivial tighter",
            _ => "equal to the trivial bound",
        };
        return $"bound {Exact(c.Bound, c.Bits)} ({Bits(c.Bits)} bits), trivial {Exact(c.Trivial, c.TrivialBits)} ({Bits(c.TrivialBits)} bits): {verdict}";
    }

    private static string Bits(double b) => b.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>An exact integer, or <c>2^bits</c> past 40 digits (the JSON form is always exact).</summary>
    private static string Exact(System.Numerics.BigInteger b, double bits)
    {
        // Past 140 bits the number has more than 40 digits: not written out (a 60,000-site chain's trivial bound
        // has 9,000 digits, and formatting it took longer than checking the chain).
        if (bits > 140) return $"~2^{Bits(bits)}";
        var text = b.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return text.Length <= 40 ? text : $"~2^{Bits(bits)}";
    }

    /// <summary>Up to eight open legs by name, else the first four, the last and the count (only those are named:
    /// a million-leg output is not written out); "none" for a closed network.</summary>
    private static string FormatLegs(NetworkSummary s)
    {
        var n = s.OpenLegs;
        if (n == 0) return "none (closed: its value is a scalar)";
        if (n <= 8) return string.Join(", ", Enumerable.Range(0, n).Select(s.OpenLegName));
        return string.Join(", ", Enumerable.Range(0, 4).Select(s.OpenLegName)) + $", … {s.OpenLegName(n - 1)} ({n})";
    }

    private static string Plural(int n, string word) => n == 1 ? $"1 {word}" : $"{n} {word}s";

    /// <summary>The same as JSON: the document of diagnostics (see <see cref="DiagnosticOutput.WriteJsonDocument"/>),
    /// then the summary.</summary>
    public static void WriteJson(TextWriter w, string file, CheckResult result) =>
        DiagnosticOutput.WriteJsonDocument(w, file, !result.HasErrors, result.Diagnostics, j =>
        {
            var s = result.SummaryOrNull;
            if (s is null) j.WriteNull("summary");
            else
            {
                j.WriteStartObject("summary");
                j.WriteString("network", s.Name);
                j.WriteStartObject("parameters");
                foreach (var p in s.Parameters) j.WriteString(p.Key, p.Value);
                j.WriteEndObject();
                j.WriteNumber("tensors", s.Tensors);
                j.WriteNumber("weights", s.Weights);
                j.WriteNumber("inputs", s.Inputs);
                j.WriteNumber("constants", s.Constants);
                j.WriteNumber("indices", s.Indices);
                j.WriteNumber("bonds", s.Bonds);
                j.WriteNumber("hyperindices", s.Hyperindices);
                j.WriteNumber("open_legs", s.OpenLegs);
                j.WriteNumber("trainable_tensors", s.TrainableTensors);
                JsonCount.Write(j, "trainable_scalars", s.TrainableScalars);
                j.WriteStartArray("output");
                foreach (var o in s.OpenLegNames) j.WriteStringValue(o);
                j.WriteEndArray();
                j.WriteStartArray("cuts");
                foreach (var c in s.Cuts) j.WriteStringValue(c);
                j.WriteEndArray();
                // One object per declared cut: the exact bounds as tn cuts --json writes them, bits beside them.
                j.WriteStartArray("cut_bounds");
                foreach (var c in CutBounds(s))
                {
                    j.WriteStartObject();
                    j.WriteString("name", c.Name);
                    CutsCommand.WriteBound(j, "bound", c.Bound, c.BoundText);
                    j.WriteNumber("bits", c.Bits);
                    CutsCommand.WriteBound(j, "trivial", c.Trivial, c.TrivialText);
                    j.WriteNumber("trivial_bits", c.TrivialBits);
                    j.WriteString("tighter", c.Tighter);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
        });
}
