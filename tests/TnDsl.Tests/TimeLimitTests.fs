/// A wall-clock limit (`--time-limit`) with no time left: every search stops after its first tree and the plan is
/// still whole and valid. Deterministic: with 0 ms, no trial past the first starts, on any machine and load. (How
/// close to the limit a plan ends is measured by a command, `dotnet bench/TnDsl.Bench/bin/Release/net10.0/
/// TnDsl.Bench.dll budget`, not by a test.)
module TnDsl.Tests.TimeLimitTests

open System.Numerics
open Xunit
open TnDsl
open TnDsl.Tests.PlanTests

/// No time left, many trials, one thread.
let expired = { PlanOptions.defaults with Trials = 64; TimeLimitMs = Some 0; Parallel = false }

[<Fact>]
let ``a deadline without a limit leaves the options as they are, and one that has passed gives 0 ms`` () =
    let o = { PlanOptions.defaults with Trials = 7 }
    Assert.Equal(o, Deadline(None).Options(o, 0.5, 10.0))
    Assert.Equal(Some 0, Deadline(Some 0).Options(o, 1.0, 0.0).TimeLimitMs)
    Assert.Equal(Some 0, Deadline(Some 1000).Options(o, 1.0, 5000.0).TimeLimitMs)

[<Fact>]
let ``optimal beyond its reach with no time left falls back to greedy's plan, not to every random-greedy trial`` () =
    // 81 tensors: more than the exact search handles. The fallback used to run all its trials whatever the limit.
    let p = lattice 9 9 3
    let r = Plan.run "optimal" expired p
    Assert.True(Plan.succeeded r)
    Assert.Equal((Plan.run "greedy" expired p).Tree, r.Tree)

[<Fact>]
let ``random-greedy and hyper with no time left stop after their first tree and are no dearer than greedy`` () =
    let p = lattice 6 6 3
    let greedy = Plan.run "greedy" expired p
    // random-greedy's first trials are greedy's own runs: with no time left its plan is greedy's.
    let rg = Plan.run "random-greedy" expired p
    Assert.Equal(greedy.Tree, rg.Tree)
    let hyper = Plan.run "hyper" expired p
    Assert.True(Plan.succeeded hyper)
    Assert.True(hyper.Cost.Value.Flops <= greedy.Cost.Value.Flops)
    // The same plan every time: only the first trial ran.
    Assert.Equal(hyper.Tree, (Plan.run "hyper" expired p).Tree)

[<Fact>]
let ``under a memory limit every optimizer with no time left still gives a plan within it`` () =
    let p = lattice 6 6 3
    let largest = (Plan.run "greedy" PlanOptions.defaults p).Cost.Value.LargestIntermediate
    let limit = largest / BigInteger 16
    let o = { expired with MemoryLimit = Some(int64 limit) }
    for name in [ "random-greedy"; "hyper"; "optimal"; "auto" ] do
        let r = Plan.run name o p
        Assert.True(Plan.succeeded r, name)
        let largest = match r.Slicing with Some s -> s.LargestIntermediate | None -> r.Cost.Value.LargestIntermediate
        Assert.True(largest <= limit, sprintf "%s: %O over %O" name largest limit)

[<Fact>]
let ``auto with no time left gives greedy's plan and a note that greedy's plan alone took the limit`` () =
    let p = lattice 7 7 2
    let r = Plan.run "auto" expired p
    Assert.True(Plan.succeeded r)
    Assert.Equal((Plan.run "greedy" expired p).Tree, r.Tree)
    // The note says which phase the clock ended in: greedy's plan, the first, after which no search started.
    let cut = r.Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0314")
    Assert.Equal(1, cut.Length)
    Assert.Contains("greedy's plan", cut.Head.Message)
    // Without a time limit no phase is ended by a clock, and no such note is made.
    let untimed = Plan.run "auto" PlanOptions.defaults (lattice 4 4 2)
    Assert.DoesNotContain(untimed.Diagnostics, fun d -> d.Kind.Code = "TN0314")

/// The codes of a plan's notes under a wall-clock limit: TN0314 (the clock cut the search short), TN0315 (the plan
/// took longer than the limit).
let private clockCodes (r: PlanResult) =
    r.Diagnostics |> List.map (fun d -> d.Kind.Code) |> List.filter (fun c -> c = "TN0314" || c = "TN0315")

[<Fact>]
let ``every searching optimizer with no time left says that the clock cut it short, with the trials it ran of those asked`` () =
    // 49 tensors: past the exact search's exhaustive size, and too many for it in no time.
    let p = lattice 7 7 2
    for name in [ "random-greedy"; "hyper"; "optimal"; "auto" ] do
        let r = Plan.run name expired p
        Assert.True(Plan.succeeded r, name)
        let cut = r.Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0314")
        Assert.True(cut.Length = 1, sprintf "%s: %A" name r.Diagnostics)
        // The figures: the trials run of the 64 asked (auto sizes its own trials and names its phases instead).
        if name <> "auto" then Assert.Contains("of 64 trials", cut.Head.Message)
    // optimal says it in the note, not in the warning it gives where the network is beyond the exact search's reach.
    Assert.DoesNotContain((Plan.run "optimal" expired p).Diagnostics, fun d -> d.Kind.Code = "TN0307")

[<Fact>]
let ``any optimizer that takes longer than its limit says by how much, and none says a word without a limit`` () =
    let p = lattice 7 7 2
    for name in Plan.names do
        // No plan takes 0 ms: each runs past a limit of 0.
        let r = Plan.run name expired p
        Assert.True(List.contains "TN0315" (clockCodes r), sprintf "%s: %A" name r.Diagnostics)
        let untimed = Plan.run name { expired with TimeLimitMs = None; Trials = 4 } p
        Assert.True(List.isEmpty (clockCodes untimed), sprintf "%s: %A" name untimed.Diagnostics)

[<Fact>]
let ``a search that finishes well within its limit carries no note of the clock`` () =
    // A minute for a 3x3 lattice and 4 trials: every trial runs and the plan ends in milliseconds.
    let p = lattice 3 3 2
    for name in Plan.names do
        let r = Plan.run name { PlanOptions.defaults with Trials = 4; TimeLimitMs = Some 60000 } p
        Assert.True(List.isEmpty (clockCodes r), sprintf "%s: %A" name r.Diagnostics)
