/// Session 25 (s25-plan): `tn plan` says when `--trials` or `--seed` is given to an optimizer that does not use them
/// (one note line on stderr each, naming the optimizers that do; the plan and the exit code as without them), and
/// the report's last step shows the result's axes in the order the network or the einsum asks for.
module TnDsl.Cli.Tests.PlanNotesTests

open System.IO
open System.Text.Json
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

let private grid = Path.Combine(examplesDir, "grid.tn")

/// The note lines of stderr.
let private notes (err: string) =
    err.Split('\n') |> Array.filter (fun l -> l.StartsWith "tn plan: note: ")

let private ok (code: int, out: string, err: string) =
    Assert.True((code = 0), sprintf "exit %d\nstdout: %s\nstderr: %s" code out err)
    out, err

[<Fact>]
let ``--trials and --seed given to greedy each get one note naming the optimizers that use them, and the plan is unchanged`` () =
    let out, err = ok (plan [ grid; "--optimizer"; "greedy"; "--trials"; "50"; "--seed"; "3"; "--no-scaling" ])
    let lines = notes err
    Assert.Equal(2, lines.Length)
    Assert.Contains("--trials", lines[0])
    Assert.Contains("--seed", lines[1])
    for n in TnDsl.PlanApi.trialsOptimizers () do
        Assert.Contains(n, lines[0])
    for n in TnDsl.PlanApi.seededOptimizers () do
        Assert.Contains(n, lines[1])
    // The report is the one made without them (the search time aside).
    let plain, _ = ok (plan [ grid; "--optimizer"; "greedy"; "--no-scaling" ])
    let stable (s: string) = s.Split('\n') |> Array.filter (fun l -> not (l.Contains "search "))
    Assert.Equal<string array>(stable plain, stable out)

[<Fact>]
let ``the notes follow the planner's lists, in any case of the name, and leave --json's stdout a document`` () =
    // auto takes a seed, not a trial count; bond-greedy neither; random-greedy both.
    let _, err = ok (plan [ grid; "--optimizer"; "AUTO"; "--trials"; "5"; "--seed"; "1"; "--no-scaling" ])
    Assert.Equal(1, (notes err).Length)
    Assert.Contains("--optimizer auto does not use --trials", (notes err)[0])
    let out, err = ok (plan [ grid; "--optimizer"; "bond-greedy"; "--seed"; "1"; "--json"; "--no-scaling" ])
    Assert.Equal(1, (notes err).Length)
    use doc = JsonDocument.Parse out
    Assert.True(doc.RootElement.GetProperty("ok").GetBoolean())
    let _, err = ok (plan [ grid; "--optimizer"; "random-greedy"; "--trials"; "5"; "--seed"; "1"; "--no-scaling" ])
    Assert.Empty(notes err)
    // Options left at their defaults are not given: no note.
    let _, err = ok (plan [ grid; "--optimizer"; "greedy"; "--no-scaling" ])
    Assert.Empty(notes err)

[<Fact>]
let ``the last step shows the result's axes in the order the einsum asks for, as the Contraction line does`` () =
    for optimizer in [ "auto"; "greedy"; "optimal" ] do
        let out, _ = ok (plan [ "--einsum"; "ab,bc,cd->da"; "--shapes"; "2x3,3x4,4x5"; "--optimizer"; optimizer ])
        let steps = out.Split('\n') |> Array.filter (fun l -> l.Contains " -> " && l.TrimStart().Length > 0 && System.Char.IsDigit(l.TrimStart()[0]))
        Assert.Equal(2, steps.Length)
        Assert.EndsWith("-> da", steps[1].TrimEnd())
        // The first step's result is shown as the last step shows that operand.
        let first = steps[0].TrimEnd()
        let made = first.Substring(first.LastIndexOf "-> " + 3)
        Assert.Contains(made, steps[1])
    // A single tensor transposed: its one step is the last.
    let out, _ = ok (plan [ "--einsum"; "ab->ba"; "--shapes"; "2x3" ])
    Assert.Contains("ab -> ba", out)

[<Fact>]
let ``auto under a time limit that greedy's plan alone uses up says so in a TN0314 note and plans no dearer than greedy`` () =
    // The 16x16 lattice: greedy's plan alone takes milliseconds, past a limit of 1 ms (the note's wording follows
    // the phase the clock ended, so only its code is asserted; no time is).
    let args = [ grid; "--set"; "L=16"; "--no-scaling"; "--json" ]
    let out, _ = ok (plan (args @ [ "--time-limit"; "1" ]))
    use doc = JsonDocument.Parse out
    let codes = [ for d in doc.RootElement.GetProperty("diagnostics").EnumerateArray() -> d.GetProperty("code").GetString() ]
    Assert.Contains("TN0314", codes)
    let greedy, _ = ok (plan (args @ [ "--optimizer"; "greedy" ]))
    use greedyDoc = JsonDocument.Parse greedy
    let flops (d: JsonDocument) = System.Numerics.BigInteger.Parse(d.RootElement.GetProperty("flops").GetRawText().Trim('"'))
    Assert.True(flops doc <= flops greedyDoc)
    // Without a time limit, no such note.
    let untimed, _ = ok (plan [ grid; "--set"; "L=4"; "--no-scaling"; "--json" ])
    use untimedDoc = JsonDocument.Parse untimed
    Assert.DoesNotContain("TN0314", [ for d in untimedDoc.RootElement.GetProperty("diagnostics").EnumerateArray() -> d.GetProperty("code").GetString() ])

[<Fact>]
let ``every optimizer under a time limit too short for it says so in the report and --json, with its trials and its time`` () =
    // Overrun: the 24x24 lattice at 1 ms, where greedy's plan, which every optimizer makes first, takes tens of
    // milliseconds even in a warm process (the 7x7 lattice's, well under 1 ms once compiled, made this fail once).
    // Cut short: the 7x7 lattice at 1 ms, where the searches make their plans (the exact search does not give up on
    // 49 tensors at once, as on 576) and none runs its 128 trials, nor the exact search its course, in 1 ms.
    let overrun = [ grid; "--set"; "L=24"; "--no-scaling"; "--time-limit"; "1" ]
    let cut = [ grid; "--set"; "L=7"; "--no-scaling"; "--time-limit"; "1" ]
    let codes (out: string) =
        use doc = JsonDocument.Parse out
        [ for d in doc.RootElement.GetProperty("diagnostics").EnumerateArray() -> d.GetProperty("code").GetString() ]
    for optimizer in TnDsl.PlanApi.optimizerNames () do
        let found = codes (fst (ok (plan (overrun @ [ "--optimizer"; optimizer; "--json" ]))))
        Assert.True(List.contains "TN0315" found, sprintf "%s at 1 ms on 24x24: no TN0315 among %A" optimizer found)
        if optimizer = "random-greedy" || optimizer = "hyper" || optimizer = "optimal" || optimizer = "auto" then
            let found = codes (fst (ok (plan (cut @ [ "--optimizer"; optimizer; "--json" ]))))
            Assert.True(List.contains "TN0314" found, sprintf "%s at 1 ms on 7x7: no TN0314 among %A" optimizer found)
        // The report's lines say it too: the TN0315 note gives the search time against the limit.
        let text, _ = ok (plan (overrun @ [ "--optimizer"; optimizer ]))
        Assert.Contains("past the time limit of 1 ms", text)
        // Without a limit, neither note.
        let untimed, _ = ok (plan [ grid; "--set"; "L=4"; "--no-scaling"; "--json"; "--optimizer"; optimizer; "--trials"; "4" ])
        Assert.DoesNotContain("TN0314", codes untimed)
        Assert.DoesNotContain("TN0315", codes untimed)

[<Fact>]
let ``--trials beyond what the planner counts is a usage error giving the range, not cut silently to 2^31 - 1`` () =
    // Before, 99999999999 ran as 2147483647 trials: random-greedy on a 6-tensor ring was still searching after 40 s.
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--optimizer"; "random-greedy"; "--trials"; "2147483648" ]
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.Contains("--trials takes an integer from 1 to 2147483647, got '2147483648'", err)
    let _, err = ok (plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--optimizer"; "greedy"; "--trials"; "2147483647" ])
    Assert.Contains("does not use --trials", err)

