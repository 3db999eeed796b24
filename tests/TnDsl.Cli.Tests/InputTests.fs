/// Session 30: what every verb says of its input. An integer option reads `1e3` and `2.5e3` as `tn plan
/// --memory-limit` did (one reader, `TnOptions.ReadInteger`), and refuses `1.5` or a number past a long's range with
/// one usage error that says which. A verb given a folder, a missing file or one that cannot be read as its FILE
/// reports it in the same words as every other verb, `tn plan` included (`Compiler.whyNoFile`, `cannotReadFile`).
/// `tn contract` of a piped network carries the text it read once to a resumed run and to a cluster's workers.
module TnDsl.Cli.Tests.InputTests

open System
open System.Collections.Generic
open System.IO
open System.Net
open System.Text.Json
open System.Threading
open Xunit
open TnDsl.Torch
open TnDsl.Native
open TnDsl.Tests.Support
open TnDsl.Cli
open TnDsl.Cli.Tests.CliTests

let private kernel = Path.Combine(examplesDir, "mpo-kernel.tn")

/// The parse of a command line, which must have no errors.
let private parsed (args: string list) =
    let result = Cli.Parse(Array.ofList args)
    Assert.True((result.Errors.Count = 0), String.concat "; " (result.Errors |> Seq.map (fun e -> e.Message)))
    result

/// The one usage error of a command line, which must have exactly one.
let private usageError (args: string list) =
    let result = Cli.Parse(Array.ofList args)
    (Assert.Single result.Errors).Message

[<Fact>]
let ``an integer option takes a whole number in scientific notation`` () =
    Assert.Equal(Nullable 1000L, (parsed [ "run"; kernel; "--batch"; "1e3" ]).GetValue<BatchSizes>("--batch").All)
    Assert.Equal(2500L, (parsed [ "run"; kernel; "--batch"; "q=2.5e3" ]).GetValue<BatchSizes>("--batch").ByIndex["q"])
    for verb in [ "plan"; "export" ] do
        let sizes = (parsed [ verb; kernel; "--size"; "q=1e3,k=2.5E3" ]).GetValue<KeyValuePair<string, int64>[]>("--size")
        Assert.Equal<(string * int64) list>([ "q", 1000L; "k", 2500L ], sizes |> Seq.map (fun p -> p.Key, p.Value) |> List.ofSeq)
    let plan = parsed [ "plan"; kernel; "--trials"; "1e2"; "--seed"; "4.2e1"; "--memory-limit"; "1e6" ]
    Assert.Equal(Nullable 100L, plan.GetValue<Nullable<int64>>("--trials"))
    Assert.Equal(42L, plan.GetValue<int64>("--seed"))
    Assert.Equal(Nullable 1000000L, plan.GetValue<Nullable<int64>>("--memory-limit"))
    Assert.Equal(-1000L, (parsed [ "run"; kernel; "--seed"; "-1e3" ]).GetValue<int64>("--seed"))
    Assert.Equal(5, (parsed [ "run"; kernel; "--repeat"; "5e0" ]).GetValue<int>("--repeat"))
    // The largest long, written out, and the plain forms as before.
    Assert.Equal(Nullable Int64.MaxValue, fst (TnOptions.ReadInteger "9223372036854775807"))
    Assert.Equal(Nullable 7L, fst (TnOptions.ReadInteger " 7 "))

[<Theory>]
[<InlineData("1.5", " (not a whole number)")>]
[<InlineData("2.55e1", " (not a whole number)")>]
[<InlineData("1e-30", " (not a whole number)")>]
[<InlineData("9223372036854775808", " (over 9,223,372,036,854,775,807)")>]
[<InlineData("1e19", " (over 9,223,372,036,854,775,807)")>]
[<InlineData("1e400", " (over 9,223,372,036,854,775,807)")>]
[<InlineData("-1e30", " (under -9,223,372,036,854,775,808)")>]
[<InlineData("ten", "")>]
[<InlineData("1e", "")>]
let ``a number that is not whole or not a long is refused, saying which`` (text: string, why: string) =
    let value, said = TnOptions.ReadInteger text
    Assert.Equal(Nullable(), value)
    Assert.Equal(why, said)
    // Each option that takes an integer gives one usage error that quotes the value and says why, past long's range
    // only where the message states no bound on that side.
    let positive = if why.StartsWith " (under" then "" else why
    let bounded = if why.StartsWith " (not" then why else ""
    Assert.Equal($"--size takes name=N with N a positive integer, got 'q={text}'{positive}", usageError [ "plan"; kernel; "--size"; $"q={text}" ])
    Assert.Equal($"--batch takes name=N with N a positive integer, got 'q={text}'{positive}", usageError [ "run"; kernel; "--batch"; $"q={text}" ])
    Assert.Equal($"--trials takes an integer from 1 to 2147483647, got '{text}'{bounded}", usageError [ "plan"; kernel; "--trials"; text ])
    Assert.Equal($"--seed takes an integer, got '{text}'{why}", usageError [ "run"; kernel; "--seed"; text ])

/// The verbs that read a network FILE, with what each needs besides (an output for `tn draw`).
let private verbs (dir: string) =
    [ [ "check" ]; [ "cuts" ]; [ "plan" ]; [ "run"; "--repeat"; "1" ]; [ "emit"; "--cs" ]; [ "layer" ]
      [ "draw"; "-o"; Path.Combine(dir, "net.svg") ]; [ "contract" ] ]

[<Fact>]
let ``every verb says the same of a folder, a missing file and one that cannot be read`` () =
    inScratch "tndsl-s30-input-" (fun dir ->
        let folder = Path.Combine(dir, "nets")
        Directory.CreateDirectory folder |> ignore
        let missing = Path.Combine(dir, "none.tn")
        // A name that says no format: `tn plan` reads it as it reads /dev/stdin, the other verbs as a .tn file.
        let unnamed = Path.Combine(dir, "none")
        let cases =
            [ folder, sprintf "it is a folder, not a file (%s)" folder
              missing, sprintf "no such file (looked for %s)" missing
              unnamed, sprintf "no such file (looked for %s)" unnamed
              // Reading a process's own memory at offset 0 fails (EIO): a file there that cannot be read.
              "/proc/self/mem", "Input/output error" ]
        for path, why in cases do
            for verb in verbs dir do
                let code, out, err = tn (verb.Head :: path :: verb.Tail)
                let args = String.Join(" ", verb.Head :: path :: verb.Tail)
                Assert.True((code = 1), $"tn {args}: exit {code}\n{err}")
                // `tn check` prints its summary, the count line here, on stdout; every other verb prints nothing there.
                Assert.Equal((if verb.Head = "check" then $"{path}: 1 error, 0 warnings.\n" else ""), out.Replace("\r", ""))
                let lines = (err + out).Replace("\r", "").Split('\n') |> Array.filter (fun l -> l <> "")
                Assert.Equal(2, lines.Length)
                Assert.StartsWith($"{path}(1,1): error TN0007: cannot read `{path}`: {why}", lines[0])
                Assert.Equal($"{path}: 1 error, 0 warnings.", lines[1])
        // A JSON network's name (which the other verbs refuse as a usage error) is read by `tn plan` in the same words.
        let json = Path.Combine(dir, "none.json")
        let code, out, err = tn [ "plan"; json ]
        Assert.Equal((1, ""), (code, out))
        Assert.Equal($"{json}(1,1): error TN0007: cannot read `{json}`: no such file (looked for {json})\n\n{json}: 1 error, 0 warnings.\n", err.Replace("\r", "")))

[<Fact>]
let ``tn contract of a piped network resumes from its record and runs on a cluster, reading the pipe once`` () =
    inScratch "tndsl-s30-piped-" (fun dir ->
        let grid = Path.Combine(dir, "grid.tn")
        File.WriteAllText(grid, ContractTests.gridText)
        let common = [ "--set"; "L=6"; "--threads"; "1"; "--memory-limit"; "100K"; "--optimizer"; "greedy"; "--json" ]
        let value (out: string) = BitConverter.DoubleToInt64Bits(JsonDocument.Parse(out).RootElement.GetProperty("value").GetDouble())
        let property (name: string) (out: string) = JsonDocument.Parse(out).RootElement.GetProperty(name).GetInt64()
        let code, here, err = tn ("contract" :: grid :: common)
        Assert.True((code = 0), err)
        // `cat grid.tn | tn contract /dev/stdin --resume run.json`, twice: the second run finds every chunk in the
        // record, which holds the job of the text piped in (a record of another job is refused).
        let record = Path.Combine(dir, "run.json")
        let piped = "contract" :: "/dev/stdin" :: common @ [ "--resume"; record ]
        let code, first, err = tnPiped ContractTests.gridText piped
        Assert.True((code = 0), err)
        Assert.Equal(value here, value first)
        Assert.Equal(0L, property "resumed_chunks" first)
        let code, again, err = tnPiped ContractTests.gridText piped
        Assert.True((code = 0), err)
        Assert.Equal(property "chunks" first, property "resumed_chunks" again)
        Assert.Equal(value here, value again)
        // On a cluster: the worker contracts the job's text, never its own standard input.
        withClusterWorker dir (fun gateway secretFile ->
            let code, out, err =
                tnPiped ContractTests.gridText ("contract" :: "/dev/stdin" :: common @ [ "--cluster"; gateway; "--secret-file"; secretFile ])
            Assert.True((code = 0), err)
            let w = Assert.Single(JsonDocument.Parse(out).RootElement.GetProperty("workers").EnumerateArray())
            Assert.Equal(property "slices" out, w.GetProperty("slices").GetInt64())
            Assert.Equal(value here, value out)))
