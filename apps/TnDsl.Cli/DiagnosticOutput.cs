namespace TnDsl.Cli;

using System.Text.Json;
using TnDsl.Api;

/// <summary>
/// The one place the <c>tn</c> command prints diagnostics: each once, rendered with its source line and caret,
/// to the error stream (results go to standard output), in the order the front end gives them (errors first,
/// each group in source order); with <c>--json</c>, as one JSON document on standard output. A verb that stops on
/// errors in its file ends their report with the file's count line, <c>grid.tn: 1 error, 0 warnings.</c>, the same
/// in every verb (<c>tn check</c> prints it on standard output, as its report; the others on the error stream).
/// </summary>
public static class DiagnosticOutput
{
    /// <summary>
    /// Writes one diagnostic as a JSON object (level, code, title, file, range, message, hints): the one JSON form
    /// of a diagnostic, shared by every verb's <c>--json</c>.
    /// </summary>
    public static void WriteJson(Utf8JsonWriter j, DiagnosticView d) => d.WriteJson(j);

    /// <summary>
    /// Writes the JSON document of diagnostics, <c>{ "file", "ok", "diagnostics": [...] }</c>, the form <c>tn check
    /// --json</c> prints, to <paramref name="w"/>; <paramref name="rest"/> adds a verb's own members after them (check's
    /// summary). Every verb with <c>--json</c> that stops on diagnostics prints this document.
    /// </summary>
    public static void WriteJsonDocument(TextWriter w, string? file, bool ok, IEnumerable<DiagnosticView> diagnostics,
                                         Action<Utf8JsonWriter>? rest = null)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            j.WriteStartObject();
            if (file is null) j.WriteNull("file");
            else j.WriteString("file", file);
            j.WriteBoolean("ok", ok);
            j.WriteStartArray("diagnostics");
            foreach (var d in diagnostics)
                WriteJson(j, d);
            j.WriteEndArray();
            rest?.Invoke(j);
            j.WriteEndObject();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>
    /// Writes the errors in a file that a verb stops on: with <paramref name="json"/> as the JSON document
    /// (<c>"ok": false</c>) to <paramref name="output"/>, else rendered to <paramref name="err"/> and followed by the
    /// file's count line (<see cref="CheckResult.CountLine"/>).
    /// </summary>
    public static void WriteFailure(bool json, TextWriter output, TextWriter err, CheckResult result) =>
        WriteFailure(json, output, err, result.File, result.CountLine, result.Diagnostics);

    /// <summary>The same for the errors a <see cref="TnException"/> of a file carries (its summary is the count line).</summary>
    public static void WriteFailure(bool json, TextWriter output, TextWriter err, TnException e) =>
        WriteFailure(json, output, err, e.File, e.Summary, e.Diagnostics);

    private static void WriteFailure(bool json, TextWriter output, TextWriter err, string? file, string countLine, IEnumerable<DiagnosticView> diagnostics)
    {
        if (json) WriteJsonDocument(output, file, false, diagnostics);
        else
        {
            Write(err, diagnostics);
            err.WriteLine(countLine);
        }
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
