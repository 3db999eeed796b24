module TnDsl.Tests.LineageTests

open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// Hyper's slice-aware search in two lineages (`PlanSliceSearch.searchCounted`: the first seeded by the options'
// seed, a second of `secondLineageTrials` trials seeded by `secondLineageSeed`).

[<Property(MaxTest = 25)>]
let ``the two-lineage search is deterministic, fits the limit, reports its executed flops and is no dearer than its first lineage`` () =
    Prop.forAll (arb 8 3) (fun s ->
        let p = indexOf s
        let limit = BigInteger.Max(Problem.elements p p.Output, BigInteger(1 + (s.GetHashCode() &&& 0x7fffffff) % 8))
        let o = { fast with Parallel = false }
        let once () = PlanSliceSearch.searchCounted (PlanHyper.Work()) never p o limit 4
        let first = PlanSliceSearch.searchWith false (PlanHyper.Work()) never p o limit 4
        // Hyper under the same limit: its reported executed flops are those of its tree in its loop order.
        let r = Plan.run "hyper" { o with MemoryLimit = Some(int64 limit) } p
        let reported =
            match r.Tree, r.Slicing with
            | Some t, Some sl -> sl.Flops = PlanSlice.executedFlops p t sl.Indices && sl.LargestIntermediate <= limit
            | _ -> true
        reported
        && match once (), once (), first with
           | None, None, None -> true
           | Some (t, ix), Some (t2, ix2), first ->
               t.Steps = t2.Steps && ix = ix2
               && (ContractionTree.validate t).IsOk
               && Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit
               && (match first with Some (t1, ix1) -> executed p t ix <= executed p t1 ix1 | None -> true)
           | _ -> false)

[<Fact>]
let ``the second lineage runs from four trials, half as many, never fewer as the trials grow`` () =
    Assert.Equal(0, PlanSliceSearch.secondLineageTrials 3)
    Assert.Equal(2, PlanSliceSearch.secondLineageTrials 4)
    Assert.Equal(4, PlanSliceSearch.secondLineageTrials 8)
    for n in 1 .. 64 do
        Assert.True(PlanSliceSearch.secondLineageTrials (n + 1) >= PlanSliceSearch.secondLineageTrials n)

[<Fact>]
let ``on the 6 x 6 lattice with D = 3 at 1/100 hyper's search is no dearer than its first lineage alone and counts both`` () =
    let p = lattice 6 6 3
    let o = { fast with Trials = 8; Parallel = false }
    let limit = (Plan.run "hyper" o p).Cost.Value.LargestIntermediate / BigInteger 100
    let firstWork = PlanHyper.Work()
    let t1, ix1 = (PlanSliceSearch.searchWith false firstWork never p o limit 4).Value
    let work = PlanHyper.Work()
    let t, ix = (PlanSliceSearch.searchCounted work never p o limit 4).Value
    Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
    Assert.True(executed p t ix <= executed p t1 ix1)
    Assert.True(work.Seconds > firstWork.Seconds)
