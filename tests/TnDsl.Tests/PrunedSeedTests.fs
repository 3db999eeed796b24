module TnDsl.Tests.PrunedSeedTests

// The structure-seeded candidate's second round (`PlanSliceSearch.seededCounted`): the reuse-aware greedy again for
// the set its first plan was pruned to (bench/results/planner.md, "Session 17 (s17-rows)").

open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

/// The first round alone, written from its description: the reuse-aware greedy's trials 0 to `seedTrials` - 1 for
/// the structure-seeded set, the cheapest (then the fewer sliced indices, then the earlier).
let private firstRound (p: Indexed) (seed: int) (limit: BigInteger) (tree: ContractionTree) =
    match PlanSliceSearch.structureSetCounted (PlanHyper.Work()) never p limit tree with
    | Some set when set.Length > 0 ->
        [ for t in 0 .. PlanSliceSearch.seedTrials - 1 do
              match PlanReuse.rebuildCounted (PlanHyper.Work()) never p seed limit set t with
              | Some plan -> yield plan
              | None -> () ]
        |> List.sortBy (fun (f, _, ix: int array) -> f, ix.Length)
        |> List.tryHead
    | _ -> None

[<Property(MaxTest = 40)>]
let ``the seeded plan is never dearer than its first round and fits the limit`` () =
    Prop.forAll (arb 8 3) (fun s ->
        let p = indexOf s
        let tree = (Plan.run "greedy" fast p).Tree.Value
        let limit = BigInteger.Max(Problem.elements p p.Output, BigInteger(1 + (s.GetHashCode() &&& 0x7fffffff) % 8))
        match firstRound p 1 limit tree, PlanSliceSearch.seededCounted (PlanHyper.Work()) never p 1 limit tree with
        | None, None -> true
        | Some (f1, _, _), Some (f, t, ix) ->
            f <= f1 && f = executed p t ix && Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit
        | _ -> false)

[<Fact>]
let ``on the 8x8 lattice with D = 4 at 1/100 the second round is cheaper than the first, with the cross's 8 bonds`` () =
    let p = TnDsl.Tests.Support.benchLattice 8 8 4L
    let free = Plan.run "hyper" { PlanOptions.defaults with Trials = 32; Parallel = false } p
    let limit = free.Cost.Value.LargestIntermediate / BigInteger 100
    match firstRound p 0 limit free.Tree.Value, PlanSliceSearch.seededCounted (PlanHyper.Work()) never p 0 limit free.Tree.Value with
    | Some (f1, _, _), Some (f, t, ix) ->
        Assert.True(f < f1, sprintf "second round %O, first %O" f f1)
        Assert.Equal<string>(
            set [ "h0_3"; "h1_3"; "h6_3"; "h7_3"; "v3_0"; "v3_1"; "v3_6"; "v3_7" ],
            ix |> Array.map (fun i -> p.IndexNames[i]) |> Set.ofArray)
        Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
    | a, b -> failwithf "no plan: %A %A" a b
