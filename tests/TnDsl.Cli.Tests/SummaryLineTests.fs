/// Session 23's diagnostics probe: every verb that stops on errors in a `.tn` file reports them alike, ending with
/// the file's count line (`FILE: 1 error, 0 warnings.`), and names an installed example as its user wrote it.
module TnDsl.Cli.Tests.SummaryLineTests

open System
open System.IO
open Xunit
open TnDsl.Cli.Tests.CliTests

/// Every verb that checks a `.tn` file, with the options it needs to get that far (draw its picture, emit its target).
let private verbs (file: string) (dir: string) =
    [ [ "check"; file ]
      [ "plan"; file ]
      [ "cuts"; file ]
      [ "draw"; file; "-o"; Path.Combine(dir, "x.svg") ]
      [ "run"; file ]
      [ "emit"; file; "--cs" ]
      [ "layer"; file ]
      [ "contract"; file ] ]

/// The non-blank lines of a text.
let private lines (text: string) = text.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.map (fun l -> l.TrimEnd '\r')

[<Fact>]
let ``every verb ends a file's errors with the same count line, once, and exits 1`` () =
    withTempFiles "tndsl-summary-" (fun write ->
        // A bond on one tensor (TN0200): the probe's file.
        let file = write "h.tn" "network m {\n  index a: 2\n  index b: 2\n  weight A: (a, b)\n  weight B: (a)\n  output ()\n}\n"
        for args in verbs file (Path.GetDirectoryName file) do
            let code, out, err = tn args
            Assert.True((code = 1), sprintf "%A: exit %d\n%s%s" args code out err)
            Assert.Equal(1, (lines err |> Array.filter (fun l -> l.Contains "error TN0200")).Length)
            // tn check's report is its standard output; the other verbs' is the error stream.
            let report = if args.Head = "check" then out else err
            Assert.Equal(file + ": 1 error, 0 warnings.", Array.last (lines report))
            Assert.Equal(1, ((out + err).Split(": 1 error").Length - 1)))

[<Fact>]
let ``with --json a file's errors are the document alone, no count line`` () =
    withTempFiles "tndsl-summary-" (fun write ->
        let file = write "h.tn" "network m {\n  index a: 2\n  index b: 2\n  weight A: (a, b)\n  weight B: (a)\n  output ()\n}\n"
        for verb in [ "check"; "plan"; "cuts"; "contract" ] do
            let code, out, err = tn [ verb; file; "--json" ]
            Assert.True((code = 1), sprintf "%s: exit %d\n%s" verb code err)
            Assert.Contains("TN0200", out)
            Assert.DoesNotContain("error", err))

[<Fact>]
let ``an installed example's diagnostics name it as written, in every verb and in JSON`` () =
    inScratch "tndsl-shown-" (fun dir ->
        let tnExe = Path.Combine(AppContext.BaseDirectory, "tn")
        let installed = Path.Combine(AppContext.BaseDirectory, "examples")
        for args in verbs "examples/grid.tn" dir do
            let code, out, err = run tnExe (args @ [ "--set"; "L=0" ]) dir []
            Assert.True((code = 1), sprintf "%A: exit %d\n%s%s" args code out err)
            Assert.StartsWith("examples/grid.tn(", err)
            Assert.DoesNotContain(installed, out + err)
            Assert.EndsWith("examples/grid.tn: 1 error, 0 warnings.", (if args.Head = "check" then out else err).TrimEnd())
        let code, out, err = run tnExe [ "check"; "./examples/grid.tn"; "--set"; "L=0"; "--json" ] dir []
        Assert.Equal(1, code)
        use doc = Text.Json.JsonDocument.Parse out
        Assert.Equal("examples/grid.tn", doc.RootElement.GetProperty("file").GetString())
        for d in doc.RootElement.GetProperty("diagnostics").EnumerateArray() do
            Assert.Equal("examples/grid.tn", d.GetProperty("file").GetString()))

[<Fact>]
let ``tn train names its shipped network as written and ends with the count line, as the other verbs do`` () =
    inScratch "tndsl-shown-train-" (fun dir ->
        let tnExe = Path.Combine(AppContext.BaseDirectory, "tn")
        let code, out, err = run tnExe [ "train"; "born-machine"; "--set"; "chi=0"; "--out"; Path.Combine(dir, "bm") ] dir []
        Assert.True((code = 1), sprintf "exit %d\n%s%s" code out err)
        Assert.StartsWith("examples/born-machine.tn(", err)
        Assert.DoesNotContain(Path.Combine(AppContext.BaseDirectory, "examples"), out + err)
        Assert.Equal("examples/born-machine.tn: 1 error, 0 warnings.", Array.last (lines err)))

[<Fact>]
let ``tn train --file on a folder says it is a folder`` () =
    inScratch "tndsl-train-folder-" (fun dir ->
        let code, out, err = tn [ "train"; "born-machine"; "--file"; dir; "--out"; Path.Combine(dir, "bm") ]
        Assert.Equal(1, code)
        Assert.Contains(dir + ": it is a folder, not a .tn file", err)
        Assert.DoesNotContain("no such", out + err))
