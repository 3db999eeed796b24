/// Session 25 (s25-plan): an optimizer named in any case through the API (`Plan.tryFind`, `Plan.run`, the C#
/// `PlanApi`), the planner's own lists of the optimizers that take a trial count or a seed (what `tn plan` notes
/// when one is given to an optimizer that does not), the exact search's bound counted within its time limit, and
/// (session 30) the planner's hints naming the settings as the front end that planned calls them.
module TnDsl.Tests.OptimizerOptionTests

open System.Numerics
open System.Threading
open Xunit
open TnDsl
open TnDsl.Api
open TnDsl.Tests.PlanTests

[<Fact>]
let ``an optimizer is found by its name in any case, and the plan reports the registered name`` () =
    for name in Plan.names do
        for spelled in [ name; name.ToUpperInvariant(); " " + string (System.Char.ToUpperInvariant name[0]) + name.Substring 1 + " " ] do
            Assert.True((Plan.tryFind spelled).IsOk, spelled)
            Assert.Equal(Some name, Plan.canonicalName spelled)
            Assert.Equal(name, PlanApi.optimizerName spelled)
    let p = lattice 3 3 2
    let r = Plan.run "Greedy" fast p
    Assert.True(Plan.succeeded r)
    Assert.Equal("greedy", r.Optimizer)
    Assert.Equal((Plan.run "greedy" fast p).Tree, r.Tree)
    // `auto`'s own path (its budget) is taken whatever the case.
    Assert.Equal((Plan.run "auto" fast p).Chosen, (Plan.run "AUTO" fast p).Chosen)

[<Fact>]
let ``a name that spells no optimizer in any case is still TN0300 listing the valid names`` () =
    for bad in [ "greedy2"; ""; "random greedy" ] do
        match Plan.tryFind bad with
        | Ok _ -> failwithf "%s found" bad
        | Result.Error d -> Assert.Equal("TN0300", d.Kind.Code)
        Assert.Null(PlanApi.optimizerName bad)
    Assert.Equal("TN0300", (Plan.run "Greedy2" fast (lattice 2 2 2)).Diagnostics.Head.Kind.Code)

[<Fact>]
let ``the lists of optimizers that take trials and a seed name registered optimizers, and the others ignore them`` () =
    Assert.All(Plan.trialsUsedBy @ Plan.seedUsedBy, fun n -> Assert.Contains(n, Plan.names))
    // Networks where the randomised optimizers do depend on the seed and the trials, with and without a memory limit.
    let p = lattice 4 5 3
    let limit = (Plan.run "greedy" fast p).Cost.Value.LargestIntermediate / BigInteger 8
    for memory in [ None; Some(int64 limit) ] do
        let o = { fast with MemoryLimit = memory }
        let plan name o = let r = Plan.run name o p in r.Tree, r.Slicing |> Option.map (fun s -> s.Indices)
        for name in Plan.names do
            if not (List.contains name Plan.trialsUsedBy) then
                Assert.True((plan name { o with Trials = 2 } = plan name { o with Trials = 64 }), sprintf "%s depends on --trials (%A)" name memory)
            if not (List.contains name Plan.seedUsedBy) then
                Assert.True((plan name { o with Seed = 0 } = plan name { o with Seed = 7 }), sprintf "%s depends on --seed (%A)" name memory)
    // And a listed one does use them (random-greedy on the 4x5 lattice with bonds of 3).
    let rg trials seed = (Plan.run "random-greedy" { fast with Trials = trials; Seed = seed } p).Tree
    Assert.True(rg 2 0 <> rg 64 0 || rg 64 0 <> rg 64 5)

[<Fact>]
let ``the exact search's bound is polished within its share of the time limit, not the whole of it`` () =
    // 16 tensors: past the exhaustive size, so the pruned search makes a bound and polishes it.
    let p = lattice 4 4 2
    let given = ResizeArray<int option>()
    let polish: PlanOptimal.Polish = fun _ o t -> lock given (fun () -> given.Add o.TimeLimitMs); t
    PlanOptimal.solvePolished polish p { fast with TimeLimitMs = Some 1000 } |> ignore
    Assert.NotEmpty given
    Assert.All(given, fun ms -> Assert.True(ms.IsSome && ms.Value <= int (PlanOptimal.boundShare * 1000.0), sprintf "%A" ms))
    // Without a limit the polish runs whole, as before: the same bound on any machine.
    given.Clear()
    PlanOptimal.solvePolished polish p fast |> ignore
    Assert.All(given, fun ms -> Assert.Equal(None, ms))

[<Fact>]
let ``the exact search's time limit counts the bound: a bound that takes the whole limit leaves no search`` () =
    let p = lattice 4 4 2
    // A polish that takes longer than the whole limit: the search after it must not start its own clock.
    let slow: PlanOptimal.Polish = fun _ _ t -> Thread.Sleep 300; t
    match PlanOptimal.solvePolished slow p { fast with TimeLimitMs = Some 100 } with
    | Result.Error why -> Assert.Equal(PlanOptimal.RanPast 100L, why)
    | Ok _ -> failwith "the exact search ran after its bound had spent the limit"
    // Without a limit the same search finishes.
    Assert.True(match PlanOptimal.solvePolished slow p fast with Ok (Some _) -> true | _ -> false)

/// A chain of four matrices with both ends open: a result of 36 elements, intermediates of up to 36.
let private openChain =
    "network open4 {\n  index a: 6\n  index b: 5\n  index c: 5\n  index d: 5\n  index e: 6\n"
    + "  weight A: (a, b)\n  weight B: (b, c)\n  weight C: (c, d)\n  weight D: (d, e)\n  output (a, e)\n}\n"

[<Fact>]
let ``the planner's hints name tn's flags through tn and no flag through the API`` () =
    let net = Frontend.LoadText("open4.tn", openChain, null, null)
    let hintsOf (e: TnException) = e.Diagnostics |> Seq.filter (fun d -> d.IsError) |> Seq.collect (fun d -> d.Hints) |> List.ofSeq
    let refused (code: string) (plan: unit -> PlanView) =
        let e = Assert.Throws<TnException>(fun () -> plan () |> ignore)
        Assert.Contains(e.Diagnostics, fun d -> d.Code = code)
        // The message carries the rendered diagnostics, hints included.
        Assert.DoesNotContain("--", e.Message)
        hintsOf e
    // An unknown optimizer, and a limit under the result (36 elements) or under what slicing reaches: through the API
    // the hints say what to change without a flag of `tn`.
    Assert.Equal<string list>([ "choose one of them" ], refused "TN0300" (fun () -> Planner.Plan(net, "nope", System.Nullable(), 0)))
    Assert.Equal<string list>([ "choose one of them" ], refused "TN0300" (fun () -> Planner.PlanLabels([| [| 0; 1 |]; [| 1; 2 |] |], [| 2L; 3L; 4L |], [| 0; 2 |], "nope")))
    let under = refused "TN0301" (fun () -> Planner.Plan(net, "greedy", System.Nullable(), 0, System.Nullable 8L))
    Assert.Equal<string list>([ "raise the memory limit to at least 36: open indices are not sliced, so no plan keeps the result smaller" ], under)
    // Through `tn plan` (PlanApi) the same refusals name its flags.
    let cli optimizer limit =
        let run = PlanApi.planTnNetwork net "open4.tn" [||] null optimizer [||] (PlanSettings.withMemoryLimit limit) false false [||]
        Assert.NotEqual(0, run.ExitCode)
        run.Diagnostics |> Seq.filter (fun d -> d.IsError) |> Seq.collect (fun d -> d.Hints) |> List.ofSeq
    Assert.Equal<string list>([ "choose one of them (--optimizer NAME)" ], cli "nope" 0L)
    Assert.Equal<string list>([ "raise the memory limit (--memory-limit) to at least 36: open indices are not sliced, so no plan keeps the result smaller" ], cli "greedy" 8L)
    // An optimizer that throws (TN0313): the same words, from the options the planner was given.
    let boom (_: Indexed) (_: PlanOptions) : string * Found = failwith "boom"
    let failedHints words =
        let r = Plan.runWith "boom" boom { fast with Words = words } (lattice 2 2 2)
        Assert.Equal("TN0313", (List.exactlyOne r.Diagnostics).Kind.Code)
        (List.exactlyOne r.Diagnostics).Hints
    Assert.Equal<string list>([ "this is a bug in the planner; meanwhile, try another optimizer" ], failedHints PlanWords.neutral)
    Assert.Equal<string list>([ "this is a bug in the planner; meanwhile, try another optimizer (--optimizer NAME)" ], failedHints PlanWords.commandLine)
