/// Helpers shared by the front-end tests: compiling text in memory and locating expected ranges.
module TnDsl.Tests.Support

open System
open System.IO
open TnDsl

/// The repository root (the folder holding TnDsl.sln), found from the test binary's folder.
let repoRoot =
    let rec up (d: DirectoryInfo) =
        if isNull d then failwith "TnDsl.sln not found above the test folder"
        elif File.Exists(Path.Combine(d.FullName, "TnDsl.sln")) then d.FullName
        else up d.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// The examples folder.
let examplesDir = Path.Combine(repoRoot, "examples")

/// Compiles in-memory text (files it uses are read from disk relative to `file`).
let compile (text: string) (overrides: (string * string) list) =
    Compiler.compileWith (Compiler.readSource Compiler.maxFileBytes) "test.tn" text { Compiler.defaultOptions with Overrides = overrides }

/// Text with one range marked «like this»: the text without the marks, and the marked range's start and end
/// as (line, col) pairs, 1-based.
let marked (text: string) =
    let s = text.IndexOf '«'
    let e = text.IndexOf '»'
    if s < 0 || e < s then failwith "the test text needs one «marked» range"
    let clean = text.Remove(e, 1).Remove(s, 1)
    let lineCol (offset: int) =
        let before = clean.Substring(0, offset)
        let line = before.Split('\n').Length
        let col = offset - (before.LastIndexOf '\n' + 1) + 1
        line, col
    clean, lineCol s, lineCol (e - 2)

/// The codes of the diagnostics, in order.
let codes (r: Compiler.CompileResult) = r.Diagnostics |> List.map (fun d -> d.Kind.Code)
