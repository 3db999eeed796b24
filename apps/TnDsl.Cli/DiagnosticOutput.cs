namespace TnDsl.Cli;

using TnDsl.Api;

/// <summary>
/// The one place the <c>tn</c> command prints diagnostics: each once, rendered with its source line and caret,
/// to the error stream (results go to standard output), in the order the front end gives them (errors first,
/// each group in source order).
/// </summary>
public static class DiagnosticOutput
{
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
