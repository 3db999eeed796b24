module TnDsl.Tests.PolishWindowsTests

open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// The found plan's polish with several subtree sizes in turn (`PlanReuse.fitAndPolishWith`, `polishWindows`).

[<Property(MaxTest = 60)>]
let ``polishing with several subtree sizes never raises executed flops and keeps the tree within the limit`` () =
    Prop.forAll (arb 8 3) (fun s ->
        let p = indexOf s
        let tree = (Plan.run "greedy" fast p).Tree.Value
        let limit = BigInteger.Max(Problem.elements p p.Output, BigInteger(1 + (s.GetHashCode() &&& 0x7fffffff) % 8))
        match PlanSlice.find p tree limit with
        | None -> true
        | Some sliced ->
            match PlanReuse.fitAndPolishWith PlanReuse.polishWindows (PlanHyper.Work()) (fun () -> false) p limit 3 sliced tree with
            | None -> false
            | Some polished ->
                (ContractionTree.validate polished).IsOk
                && Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) polished <= limit
                && PlanSlice.flopsOf p polished sliced <= PlanSlice.flopsOf p tree sliced)

[<Fact>]
let ``on a lattice whose cut is sliced the polish is deterministic, counted, and no dearer than its start`` () =
    // The halves of the 6 x 6 lattice (rows 0-2 and 3-5), each swept by columns from both ends, with the six bonds
    // between them sliced: four parts whose dependencies cannot chain (TreeShapeTests).
    let p, tree, cut = TnDsl.Tests.TreeShapeTests.halves 2
    let limit = BigInteger 16
    let polish () =
        let work = PlanHyper.Work()
        let t = (PlanReuse.fitAndPolishWith PlanReuse.polishWindows work (fun () -> false) p limit 3 cut tree).Value
        t, work.Steps
    let t1, steps1 = polish ()
    let t2, steps2 = polish ()
    Assert.Equal<int array array>(t1.Steps, t2.Steps)
    Assert.Equal(steps1, steps2)
    Assert.True(steps1 > 0.0)
    Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p cut) t1 <= limit)
    Assert.True(PlanSlice.flopsOf p t1 cut <= PlanSlice.flopsOf p tree cut)
    // The sizes in turn start with a round of 8, so they end no dearer here than subtrees of 8 alone, and they
    // count more work for it.
    let work8 = PlanHyper.Work()
    let eight = (PlanReuse.fitAndPolish work8 (fun () -> false) p limit 3 cut tree).Value
    Assert.True(PlanSlice.flopsOf p t1 cut <= PlanSlice.flopsOf p eight cut)
    Assert.True(steps1 > work8.Steps)
