module TnDsl.Tests.FixedCostTests

open System.Numerics
open Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// `auto` under a memory limit: the cost it pays whatever the stakes (session 13, s13-fixed). The reconfiguring
// slicers' sets are pruned on their final tree (`PlanSlice.prune`, in `Plan.fitFree` and on the slice-aware search's
// plan), and fitLimit's final greedy pass skips the tree of a plan whose set is known once the ledger and its floors
// are spent (bench/results/planner.md, "Under a memory limit: the fixed cost").

/// The closed rows x rows lattice of `stakes limits`.
let private lattice rows dBond = TnDsl.Tests.Support.benchLattice rows rows (int64 dBond)

let private serial = { PlanOptions.defaults with Parallel = false }

/// The free plan of `stakes limits` (hyper, 8 trials, serial) and its largest intermediate / share.
let private freeAndLimit (p: Indexed) (share: int) =
    let free = Plan.run "hyper" { serial with Trials = 8 } p
    free.Tree.Value, BigInteger.Max(BigInteger.One, free.Cost.Value.LargestIntermediate / BigInteger share)

[<Fact>]
let ``the fit's set pruned on its final tree is a subset within the limit and never executes more flops`` () =
    for rows, dBond, share in [ 12, 2, 100; 8, 4, 100; 6, 3, 10 ] do
        let p = lattice rows dBond
        let free, limit = freeAndLimit p share
        match PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.Executed (PlanHyper.Work()) (fun () -> false) p limit false 1 free with
        | None -> failwithf "%dx%d D=%d: no fit" rows rows dBond
        | Some (t, ix) ->
            let pruned = PlanSlice.prune p limit t ix
            Assert.True(pruned |> Array.forall (fun i -> Array.contains i ix))
            let before, after = PlanSlice.figures p t ix, PlanSlice.figures p t pruned
            Assert.True(after.LargestIntermediate <= limit, sprintf "%dx%d D=%d: %O over %O" rows rows dBond after.LargestIntermediate limit)
            Assert.True(after.Flops <= before.Flops, sprintf "%dx%d D=%d: %O against %O" rows rows dBond after.Flops before.Flops)
            // The case that motivated it: the slicer's last polish leaves 7 of its 24 bonds unneeded there, and the
            // set as it stands executes 26x the flops.
            if rows = 12 then Assert.True(after.Flops * BigInteger 10 < before.Flops, sprintf "12x12: %O against %O" after.Flops before.Flops)

[<Fact>]
let ``auto on the 12x12 lattice with D = 2 at 1/100 counts under 1.1 s of work, keeps the limit and plans the same twice`` () =
    let p = lattice 12 2
    let _, limit = freeAndLimit p 100
    let o = { serial with MemoryLimit = Some(int64 limit) }
    let r, spent = Plan.runAutoWith (Some Plan.floors) o p
    let again, spentAgain = Plan.runAutoWith (Some Plan.floors) o p
    Assert.True(Plan.succeeded r)
    let flops, largest = figures r
    Assert.True(largest <= limit, sprintf "largest %O over %O" largest limit)
    // Before (session 12's floors) its ledger counted 1.40 s: the free search 0.10 s, the fit 0.88 s, the final
    // greedy pass on the fitted tree 0.42 s, which now finds its set known and pruned.
    Assert.True(spent < 1.1, sprintf "counted %.3f s" spent)
    // And the plan is no dearer than session 12's, 8.8e8 executed flops.
    Assert.True(flops <= BigInteger 8.8e8, sprintf "%O flops" flops)
    Assert.Equal(spent, spentAgain)
    Assert.Equal<int array array>(r.Tree.Value.Steps, again.Tree.Value.Steps)
    Assert.Equal(flops, fst (figures again))

[<Fact>]
let ``cheap networks under a tight limit plan within their floors plus 0.25 s of counted work, within the limit`` () =
    // The constant is what runs whatever the stakes: greedy, the free search's trials 0 and 1 with their polish,
    // the first fit by the executed-flops slicer (on these networks 0.02 to 0.2 s of counted work).
    for rows, dBond, share in [ 4, 4, 10; 6, 3, 10; 8, 2, 10; 8, 4, 10 ] do
        let p = lattice rows dBond
        let _, limit = freeAndLimit p share
        let r, spent = Plan.runAutoWith (Some Plan.floors) { serial with MemoryLimit = Some(int64 limit) } p
        Assert.True(Plan.succeeded r)
        let flops, largest = figures r
        Assert.True(largest <= limit, sprintf "%dx%d D=%d: largest %O over %O" rows rows dBond largest limit)
        let contraction = float flops / Plan.stakesFlopsPerSecond
        let floor = max Plan.floors.Seconds (Plan.floors.Multiple * contraction)
        Assert.True(spent <= floor + 0.25, sprintf "%dx%d D=%d: counted %.3f s, floor %.3f s" rows rows dBond spent floor)
