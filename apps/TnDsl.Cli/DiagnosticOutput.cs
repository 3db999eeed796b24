namespace TnDsl.Cli;

using System.Text.Json;
using TnDsl.Api;

/// <summary>
/// The one place the <c>tn</c> command prints diagnostics: each once, rendered with its source line and caret,
/// to the error stream (results go to standard output), in the order the front end gives them (errors first,
/// each group in source order).
/// </summary>
public static class DiagnosticOutput
{
    /// <summary>
    /// Writes one diagnostic as a JSON object (level, code, title, file, range, message, hints): the one JSON form
    /// of a diagnostic, shared by every verb's <c>--json</c>.
    /// </summary>
    public static void WriteJson(Utf8JsonWriter j, DiagnosticView d)
    {
        j.WriteStartObject();
        j.WriteString("level", d.Level);
        j.WriteString("code", d.Code);
        j.WriteString("title", d.Title);
        j.WriteString("file", d.File);
        j.WriteStartObject("range");
        j.WriteNumber("line", d.Line);
        j.WriteNumber("column", d.Column);
        j.WriteNumber("endLine", d.EndLine);
        j.WriteNumber("endColumn", d.EndColumn);
        j.WriteEndObject();
        j.WriteString("message", d.Message);
        j.WriteStartArray("hints");
        foreach (var h in d.Hints) j.WriteStringValue(h);
        j.WriteEndArray();
        j.WriteEndObject();
    }

    /// <summary>Writes front-end diagnostics to <paramref name="err"/>.</summary>
    public static void Write(TextWriter err, IEnumerable<DiagnosticView> diagnostics)
    {
        foreach (var d in diagnostics)
        {
            err.WriteLine(d.Rendered);
            err.WriteLine();
        }
    }
}
