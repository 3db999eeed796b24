module TnDsl.Tests.SliceScoreTests

open System.Numerics
open Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// Under a memory limit with reuse across slices: the greedy slicers' two scores (executed flops, every step in
// every slice) and the loop orders' work in the ledger of counted work.

let private indexed (p: Problem) = match Problem.index Range.none p with Ok p -> p | Result.Error ds -> failwithf "%A" ds

let private serial = { PlanOptions.defaults with Parallel = false }

/// Executed flops of a slicing interleaved with reconfiguration by the given score, or None.
let private slicedBy (score: PlanSliceSearch.SliceScore) (p: Indexed) (limit: BigInteger) (t: ContractionTree) =
    PlanSliceSearch.sliceReconfigureBy score (PlanHyper.Work()) (fun () -> false) p limit false 1 t
    |> Option.map (fun (t, ix) -> (PlanSlice.figures p t ix).Flops)

[<Fact>]
let ``on a lattice neither slicer score wins everywhere, and auto under a limit is no dearer than either on its free plan`` () =
    // The closed 6x6 lattice with D = 3 at a tenth of the free plan's largest intermediate (72 elements): its free
    // plan sliced interleaved with reconfiguration by executed flops alone executes 1.7e9 flops, by the every-slice
    // score 1.2e8 (14x fewer); auto, which fitted the free plan by executed flops alone, ended at 3.3e8 on the
    // same network in `stakes limits` (bench/results/planner.md, session 10).
    let p = indexed (peps 6 6 3)
    let free = Plan.run "auto" serial p
    let limit = free.Cost.Value.LargestIntermediate / BigInteger 10
    Assert.Equal(BigInteger 72, limit)
    let executed = (slicedBy PlanSliceSearch.Executed p limit free.Tree.Value).Value
    let every = (slicedBy PlanSliceSearch.EverySlice p limit free.Tree.Value).Value
    Assert.Equal(BigInteger 1696515354, executed)
    Assert.Equal(BigInteger 121303818, every)
    let r = Plan.run "auto" { serial with MemoryLimit = Some(int64 limit) } p
    Assert.True(Plan.succeeded r)
    let s = r.Slicing.Value
    Assert.True(s.LargestIntermediate <= limit)
    Assert.True(s.Flops <= BigInteger.Min(executed, every), sprintf "auto %O against %O and %O" s.Flops executed every)
    Assert.Equal(BigInteger 121303818, s.Flops)
    // Counted, not timed: the same plan in parallel.
    let again = Plan.run "auto" { serial with MemoryLimit = Some(int64 limit); Parallel = true } p
    Assert.Equal<int array array>(r.Tree.Value.Steps, again.Tree.Value.Steps)

[<Fact>]
let ``slicing by either score keeps the plan of fewer executed flops`` () =
    let p = indexed (peps 6 6 3)
    let free = Plan.run "auto" serial p
    let limit = free.Cost.Value.LargestIntermediate / BigInteger 10
    let work = PlanHyper.Work()
    let t, ix = (PlanSliceSearch.sliceReconfigureEither work (fun () -> false) p limit false 1 free.Tree.Value).Value
    Assert.Equal(BigInteger 121303818, (PlanSlice.figures p t ix).Flops)
    Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
    // Both slicings counted, and the two figures that compare them.
    let one = PlanHyper.Work()
    PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.Executed one (fun () -> false) p limit false 1 free.Tree.Value |> ignore
    PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.EverySlice one (fun () -> false) p limit false 1 free.Tree.Value |> ignore
    Assert.True(work.Seconds > one.Seconds)

[<Fact>]
let ``the loop order's operations: none for one index, the subset programme up to 12, the greedy order beyond`` () =
    Assert.Equal(0.0, PlanSlice.orderOps 35 1)
    Assert.Equal(35.0 + 2.0 * 8.0 * 256.0, PlanSlice.orderOps 35 8)
    Assert.Equal(35.0 + 2.0 * 12.0 * 4096.0, PlanSlice.orderOps 35 12)
    Assert.Equal(3.0 * (35.0 + 13.0 * 48.0), PlanSlice.orderOps 35 13)

[<Fact>]
let ``a sliced scorer's call raises the counted work by its loop order`` () =
    // The closed 6x6 lattice with D = 3, greedy's tree, sliced over 8 of its bonds: two exact costings of the
    // 35 steps and one loop order of 8 indices (35 + 2 * 8 * 2^8 operations).
    let p = indexed (peps 6 6 3)
    let t = (Plan.run "greedy" serial p).Tree.Value
    let sliced = [| 0 .. 7 |]
    let work = PlanHyper.Work()
    let figures = PlanSliceSearch.figuresCounted work p t sliced
    Assert.Equal((PlanSlice.figures p t sliced).Flops, figures.Flops)
    Assert.Equal(70.0, work.Steps)
    Assert.Equal(4131.0, work.Orders)
    Assert.Equal(70.0 * PlanHyper.Work.Rates[2] + 4131.0 * PlanHyper.Work.Rates[5], work.Seconds, 12)
    // The scorer of hyper's trials under a limit (the greedy slicer, then the figures) counts its orders too.
    let scored = PlanHyper.Work()
    let limit = (Cost.report p t).LargestIntermediate / BigInteger 100
    PlanHyper.scoreCounted scored p { serial with MemoryLimit = Some(int64 limit) } t |> ignore
    Assert.True(scored.Orders > 0.0)
    // (3,230,720 before session 21, when each candidate's order counted whole; now at `PlanSlice.candidateOrderWeight`.)
    Assert.Equal(1619965.0, scored.Orders)
    // And the slicer interleaved with reconfiguration, one order per candidate it scores by executed flops.
    let byExecuted = PlanHyper.Work()
    let byEvery = PlanHyper.Work()
    PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.Executed byExecuted (fun () -> false) p limit false 1 t |> ignore
    PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.EverySlice byEvery (fun () -> false) p limit false 1 t |> ignore
    Assert.True(byExecuted.Orders > byEvery.Orders, sprintf "%g against %g" byExecuted.Orders byEvery.Orders)
