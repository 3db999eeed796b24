/// `--json` when the input has errors (session 13): every verb that has the flag prints the diagnostics on standard
/// output as the document `tn check --json` prints ("ok": false, a "diagnostics" array with level, code, title, file,
/// range, message, hints), and keeps its exit code. Asserted by fields, codes and ranges.
module TnDsl.Cli.Tests.JsonErrorTests

open System.IO
open System.Text.Json
open Xunit
open TnDsl.Cli
open TnDsl.Cli.Tests.CliTests

/// A network with one error: TN0109 (unknown index) at line 3, columns 17-21.
let private small = "network s() {\n  index a: 2\n  weight T: (a, nope)\n  weight U: (a)\n  output ()\n}\n"

/// Writes `text` to a scratch file named `name`, runs `f` on its path, and removes it.
let private withFile (name: string) (text: string) (f: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("tndsl-json-").FullName
    try
        let path = Path.Combine(dir, name)
        File.WriteAllText(path, text)
        f path
    finally
        Directory.Delete(dir, true)

/// The verbs of the command tree that have a `--json` flag.
let private jsonVerbs () =
    Cli.Create().Subcommands
    |> Seq.filter (fun c -> c.Options |> Seq.exists (fun o -> o.Name = "--json"))
    |> Seq.map (fun c -> c.Name)
    |> List.ofSeq

/// Parses a verb's standard output as the document of diagnostics, checking its shape; its diagnostics.
let private document (verb: string) (out: string) =
    let doc = JsonDocument.Parse(out: string)
    let root = doc.RootElement
    Assert.False(root.GetProperty("ok").GetBoolean(), $"{verb}: ok")
    let ds = root.GetProperty("diagnostics").EnumerateArray() |> List.ofSeq
    for d in ds do
        for field in [ "level"; "code"; "title"; "file"; "message" ] do
            Assert.Equal(JsonValueKind.String, d.GetProperty(field).ValueKind)
        for field in [ "line"; "column"; "end_line"; "end_column" ] do
            Assert.Equal(JsonValueKind.Number, d.GetProperty("range").GetProperty(field).ValueKind)
        Assert.Equal(JsonValueKind.Array, d.GetProperty("hints").ValueKind)
    root, ds

[<Fact>]
let ``the verbs with --json are check, cuts, plan, export and contract`` () =
    Assert.Equal<string list>([ "check"; "contract"; "cuts"; "export"; "plan" ], jsonVerbs () |> List.sort)

[<Fact>]
let ``every verb with --json prints a file's errors on standard output as tn check's document, and exits 1`` () =
    withFile "small.tn" small (fun path ->
        let _, checkOut, _ = tn [ "check"; path; "--json" ]
        let checkRoot, _ = document "check" checkOut
        for verb in jsonVerbs () do
            let code, out, err = tn [ verb; path; "--json" ]
            Assert.True((code = 1), $"tn {verb}: exit {code}\n{err}")
            let root, ds = document verb out
            Assert.Equal(path, root.GetProperty("file").GetString())
            let d = Assert.Single ds
            Assert.Equal("TN0109", d.GetProperty("code").GetString())
            Assert.Equal("error", d.GetProperty("level").GetString())
            Assert.Equal(path, d.GetProperty("file").GetString())
            let r = d.GetProperty "range"
            Assert.Equal((3, 17, 3, 21), (r.GetProperty("line").GetInt32(), r.GetProperty("column").GetInt32(),
                                          r.GetProperty("end_line").GetInt32(), r.GetProperty("end_column").GetInt32()))
            // The very diagnostic tn check prints, field for field.
            Assert.Equal((checkRoot.GetProperty("diagnostics")[0]).GetRawText(), d.GetRawText())
            // Not printed a second time as text.
            Assert.DoesNotContain("error TN0109", err))

[<Fact>]
let ``every verb with --json writes a diagnostic's text as it reads, not escaped as for a web page`` () =
    // TN0109 for a tensor named as a leg: its hint names "`T`'s legs"; the default JSON encoder wrote \u0060T\u0060\u0027s.
    withFile "tensor-leg.tn" "network s() {\n  index a: 2\n  weight T: (a)\n  weight U: (a, T)\n  output ()\n}\n" (fun path ->
        for verb in jsonVerbs () do
            let code, out, err = tn [ verb; path; "--json" ]
            Assert.True((code = 1), $"tn {verb}: exit {code}\n{err}")
            let _, ds = document verb out
            Assert.Equal("TN0109", (Assert.Single ds).GetProperty("code").GetString())
            Assert.Contains("`T`'s legs", out)
            Assert.DoesNotContain("\\u00", out))

[<Fact>]
let ``tn plan --json prints a JSON network's and an einsum's errors as the document too (a missing one TN0007), exit 1`` () =
    withFile "bad.json" "{\"tensors\": [{\"indices\": [\"a\"]}], \"sizes\": {\"a\": \"x\"}}" (fun path ->
        let code, out, err = tn [ "plan"; path; "--json" ]
        Assert.True((code = 1), err)
        let root, ds = document "plan" out
        Assert.Equal(path, root.GetProperty("file").GetString())
        Assert.Contains(ds, fun d -> d.GetProperty("code").GetString() = "TN0306" && d.GetProperty("range").GetProperty("line").GetInt32() = 1))
    // A JSON network that is not there: TN0007, as for a .tn file.
    let missing = Path.Combine(Path.GetTempPath(), "tndsl-no-such-network.json")
    let code, out, err = tn [ "plan"; missing; "--json" ]
    Assert.True((code = 1), err)
    let _, ds = document "plan" out
    Assert.Equal("TN0007", (Assert.Single ds).GetProperty("code").GetString())
    let code, out, err = tn [ "plan"; "--einsum"; "ab,bc->a-c"; "--shapes"; "2x3,3x4"; "--json" ]
    Assert.True((code = 1), err)
    let _, ds = document "plan" out
    let d = Assert.Single ds
    Assert.Equal("TN0306", d.GetProperty("code").GetString())
    Assert.Equal(9, d.GetProperty("range").GetProperty("column").GetInt32())

[<Fact>]
let ``without --json the errors stay text on the error stream, and standard output is empty`` () =
    withFile "small.tn" small (fun path ->
        for verb in [ "plan"; "cuts"; "contract" ] do
            let code, out, err = tn [ verb; path ]
            Assert.Equal(1, code)
            Assert.Equal("", out)
            Assert.Contains("error TN0109", err))
