namespace TnDsl

/// A point in a source text: 1-based line and column (columns count UTF-16 code units), 0-based offset.
[<Struct; CustomEquality; CustomComparison>]
type Pos =
    { Line: int
      Col: int
      Offset: int64 }

    override p.Equals(o) =
        match o with
        | :? Pos as q -> p.Offset = q.Offset && p.Line = q.Line && p.Col = q.Col
        | _ -> false

    override p.GetHashCode() = hash p.Offset

    interface System.IComparable with
        member p.CompareTo(o) =
            match o with
            | :? Pos as q -> compare p.Offset q.Offset
            | _ -> invalidArg "o" "not a Pos"

    override p.ToString() = sprintf "%d:%d" p.Line p.Col

/// A half-open stretch of a named source: from Start up to (not including) End.
type SourceRange =
    { File: string
      Start: Pos
      End: Pos }

    override r.ToString() = sprintf "%s(%d,%d)" r.File r.Start.Line r.Start.Col

/// Helpers for positions and ranges.
module Range =
    /// The position at the very start of a text.
    let startPos = { Line = 1; Col = 1; Offset = 0L }

    /// A zero-width range at the start of a file, for diagnostics that belong to a file as a whole.
    let ofFile file = { File = file; Start = startPos; End = startPos }

    /// A range with no source, for values that come from the command line or from code.
    let none = ofFile "<none>"

    /// The smallest range that covers both ranges (same file assumed).
    let union (a: SourceRange) (b: SourceRange) =
        { a with
            Start = (if a.Start.Offset <= b.Start.Offset then a.Start else b.Start)
            End = (if a.End.Offset >= b.End.Offset then a.End else b.End) }

/// A source file's text with fast access to its lines, for showing a diagnostic's line and caret.
type SourceText(file: string, text: string) =
    let lines = text.Replace("\r\n", "\n").Split('\n')

    /// The file name the text came from.
    member _.File = file

    /// The whole text.
    member _.Text = text

    /// Line n (1-based), without its line break; None past the end.
    member _.Line(n: int) =
        if n >= 1 && n <= lines.Length then Some lines[n - 1] else None
