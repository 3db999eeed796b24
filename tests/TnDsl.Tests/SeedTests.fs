module TnDsl.Tests.SeedTests

open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// Hyper's candidate for a sliced set seeded from its free tree's top cuts (`PlanSliceSearch.structureSetCounted`,
// `PlanSliceSearch.seededCounted`).

[<Property(MaxTest = 40)>]
let ``the seeded plan is deterministic, fits the limit and reports its executed flops`` () =
    Prop.forAll (arb 8 3) (fun s ->
        let p = indexOf s
        let tree = (Plan.run "greedy" fast p).Tree.Value
        let limit = BigInteger.Max(Problem.elements p p.Output, BigInteger(1 + (s.GetHashCode() &&& 0x7fffffff) % 8))
        let once () = PlanSliceSearch.seededCounted (PlanHyper.Work()) never p 1 limit tree
        match once (), once () with
        | None, None -> true
        | Some (f, t, ix), Some (f2, t2, ix2) ->
            f = f2 && t.Steps = t2.Steps && ix = ix2
            && (ContractionTree.validate t).IsOk
            && Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit
            && f = executed p t ix
        | _ -> false)

/// The 6 x 6 lattice with D = 3 at 1/100 of hyper's unsliced largest intermediate.
let private lattice () =
    let p = match Problem.index Range.none (peps 6 6 3) with Ok p -> p | Result.Error ds -> failwithf "%A" ds
    let o = { fast with Trials = 8 }
    let free = Plan.run "hyper" o p
    p, o, free.Tree.Value, free.Cost.Value.LargestIntermediate / BigInteger 100

[<Fact>]
let ``the seeded set is drawn from the free tree's top cuts first and hyper's plan is no dearer than it`` () =
    let p, o, free, limit = lattice ()
    let work = PlanHyper.Work()
    match PlanSliceSearch.structureSetCounted work never p limit free, PlanSliceSearch.seededCounted (PlanHyper.Work()) never p o.Seed limit free with
    | Some set, Some (f, t, ix) ->
        Assert.True(work.Steps > 0.0)
        Assert.NotEmpty set
        Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
        let r = Plan.run "hyper" { o with MemoryLimit = Some(int64 limit) } p
        Assert.True(r.Slicing.Value.Flops <= f, sprintf "hyper %O > seeded %O" r.Slicing.Value.Flops f)
        Assert.True(r.Slicing.Value.LargestIntermediate <= limit)
    | a, b -> failwithf "no seeded plan: %A %A" a b
