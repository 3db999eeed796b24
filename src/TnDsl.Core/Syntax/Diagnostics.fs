namespace TnDsl

open System
open System.Text
open System.Text.Json

/// How serious a diagnostic is.
type Level =
    | Error
    | Warning
    | Info

/// One kind of diagnostic: its level, stable code (TN0001…) and a short title. Each phase declares its own.
type DiagnosticKind =
    { Level: Level
      Code: string
      Title: string }

/// A diagnostic: what went wrong, where, and hints the user can act on ("did you mean `b[i+1]`?").
type Diagnostic =
    { Kind: DiagnosticKind
      Range: SourceRange
      Message: string
      Hints: string list }

/// Building, inspecting and printing diagnostics.
module Diagnostic =
    /// Makes a kind; phases call this once per code.
    let kind level code title = { Level = level; Code = code; Title = title }

    /// A diagnostic of the given kind at a range.
    let make kind range message =
        { Kind = kind
          Range = range
          Message = message
          Hints = [] }

    /// The same diagnostic with a hint appended.
    let withHint hint (d: Diagnostic) = { d with Hints = d.Hints @ [ hint ] }

    /// True when the diagnostic is an error.
    let isError (d: Diagnostic) = d.Kind.Level = Error

    /// True when any diagnostic in the sequence is an error.
    let hasErrors (ds: Diagnostic seq) = Seq.exists isError ds

    let private levelWord =
        function
        | Error -> "error"
        | Warning -> "warning"
        | Info -> "info"

    /// The MSBuild canonical first line: `file(line,col): error TN0201: message`.
    let headline (d: Diagnostic) =
        sprintf "%s(%d,%d): %s %s: %s" d.Range.File d.Range.Start.Line d.Range.Start.Col (levelWord d.Kind.Level) d.Kind.Code d.Message

    /// The line that ends a report of a file's diagnostics, the same wherever they are reported:
    /// `grid.tn: 1 error, 2 warnings.`.
    let countLine (file: string) (ds: Diagnostic seq) =
        let count n word = if n = 1 then "1 " + word else sprintf "%d %ss" n word
        let errors = ds |> Seq.filter isError |> Seq.length
        let warnings = ds |> Seq.filter (fun d -> d.Kind.Level = Warning) |> Seq.length
        sprintf "%s: %s, %s." file (count errors "error") (count warnings "warning")

    /// Writes a diagnostic as the JSON object every `--json` output uses: level, code, title, file, range (line,
    /// column, end_line, end_column), message and hints.
    let writeJson (w: Utf8JsonWriter) (d: Diagnostic) =
        w.WriteStartObject()
        w.WriteString("level", levelWord d.Kind.Level)
        w.WriteString("code", d.Kind.Code)
        w.WriteString("title", d.Kind.Title)
        // null for a diagnostic of no source (a command-line value, the plan as a whole), not the "<none>" of its range.
        if d.Range.File = Range.none.File then w.WriteNull "file" else w.WriteString("file", d.Range.File)
        w.WriteStartObject("range")
        w.WriteNumber("line", d.Range.Start.Line)
        w.WriteNumber("column", d.Range.Start.Col)
        w.WriteNumber("end_line", d.Range.End.Line)
        w.WriteNumber("end_column", d.Range.End.Col)
        w.WriteEndObject()
        w.WriteString("message", d.Message)
        w.WriteStartArray("hints")
        for h in d.Hints do
            w.WriteStringValue h
        w.WriteEndArray()
        w.WriteEndObject()

    /// The most columns of a source line a diagnostic shows (a longer line is shown around its range).
    let shownColumns = 160

    /// The headline, then the source line with a caret under the range, then the hints.
    let render (source: string -> SourceText option) (d: Diagnostic) =
        let sb = StringBuilder()
        sb.Append(headline d) |> ignore
        match source d.Range.File |> Option.bind (fun s -> s.Line d.Range.Start.Line) with
        | Some line ->
            let gutter = sprintf "%5d | " d.Range.Start.Line
            let startCol = max 1 d.Range.Start.Col
            let endCol =
                if d.Range.End.Line = d.Range.Start.Line then max (startCol + 1) d.Range.End.Col
                else line.Length + 1
            let width = max 1 (min (endCol - startCol) (line.Length + 2 - startCol))
            // A long line (generated source, a minified file) is shown as a window around the range, with `…` where
            // it is cut: a 100 kB line echoed whole buries the caret.
            let first = if line.Length <= shownColumns then 0 else min (max 0 (startCol - 1 - shownColumns / 3)) (line.Length - shownColumns)
            let last = if line.Length <= shownColumns then line.Length else first + shownColumns
            let before, after = (if first > 0 then "…" else ""), (if last < line.Length then "…" else "")
            let width = max 1 (min width (last + 2 - startCol))
            // Tabs keep their width under the caret so it lines up in a terminal.
            let pad =
                line.Substring(first, max 0 (min last (startCol - 1) - first))
                |> String.map (fun c -> if c = '\t' then '\t' else ' ')
            sb.Append('\n').Append(gutter).Append(before).Append(line, first, last - first).Append(after) |> ignore
            sb.Append('\n').Append(String(' ', gutter.Length - 2)).Append("| ").Append(String(' ', before.Length)).Append(pad).Append(String('^', width)) |> ignore
        | None -> ()
        for h in d.Hints do
            sb.Append("\n      = hint: ").Append(h) |> ignore
        sb.ToString()

    let private rank =
        function
        | Error -> 0
        | Warning -> 1
        | Info -> 2

    /// Orders diagnostics errors first, then warnings, then notes; each in source order (file, then position),
    /// keeping the phase order for equal positions.
    let sort (ds: Diagnostic list) =
        ds |> List.sortBy (fun d -> rank d.Kind.Level, d.Range.File, d.Range.Start.Offset)

    // A message with its member subscripts and numbers, signed ones included, blanked: `b[3]` and `b[4]` say the
    // same thing, and so do "evaluates to -4" and "evaluates to 0".
    let private shape (message: string) =
        RegularExpressions.Regex.Replace(RegularExpressions.Regex.Replace(message, @"\[[^\]]*\]", "[]"), @"-?\d+", "#")

    /// One diagnostic per mistake: diagnostics of one code at one range whose messages differ only in member
    /// subscripts and numbers (one per member of a family declaration) become the first of them, saying how many
    /// members it affects. Exact duplicates are dropped.
    let collapse (ds: Diagnostic list) =
        ds
        |> List.groupBy (fun d -> d.Kind.Code, d.Range, shape d.Message)
        |> List.map (fun (_, group) ->
            let first = List.head group
            let n = group |> List.distinctBy (fun d -> d.Message) |> List.length
            if n = 1 then first
            else { first with Message = first.Message + sprintf " (and %d more member%s of this declaration)" (n - 1) (if n = 2 then "" else "s") })
