module TnDsl.Tests.ReconfigureMemoTests

open System
open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// The slicers' rounds reconfigure the whole tree with one memo of the windows that found nothing better
// (`PlanHyper.ReconfigureMemo`), and the slice-aware search's first trial starts only when it fits what the ledger or
// its floors have left (session 15, s15-cpu; bench/results/planner.md, "Under a memory limit: the rounds' windows
// remembered").

/// A slicer's rounds (`PlanSlice.grow`, the first candidate of each round), each round's tree reconfigured for the
/// sliced sizes by `adapt`: the final tree and set.
let private rounds (p: Indexed) (limit: BigInteger) (adapt: Indexed -> ContractionTree -> ContractionTree) (t: ContractionTree) =
    PlanSlice.grow p limit 64 (fun _ _ candidates -> candidates[0]) (fun t next -> adapt (PlanSlice.sliceProblem p next) t) t

[<Property(MaxTest = 60)>]
let ``rounds reconfigured with one memo give the trees of rounds reconfigured without it, for no more programme work`` () =
    Prop.forAll (arb 12 4) (fun s ->
        let p = indexOf s
        let t = (PlanGreedy.bestGreedy p fast).Tree
        let largest = Cost.largestIntermediate p t
        let limit = BigInteger.Max(Problem.elements p p.Output, largest / BigInteger 16)
        let plain, memoised = PlanHyper.Work(), PlanHyper.Work()
        let memo = PlanHyper.ReconfigureMemo()
        let limit64 = Some(int64 limit)
        let a = rounds p limit (fun q t -> PlanHyper.reconfigureCounted plain never limit64 q Flops 8 2 t) t
        let b = rounds p limit (fun q t -> PlanHyper.reconfigureMemoCounted memo memoised never limit64 q Flops 8 2 t) t
        a = b && memoised.Joins <= plain.Joins)

[<Fact>]
let ``on the 12x12 lattice at 1/100 the memo leaves the fit's tree and set as they were and skips most windows`` () =
    let p = TnDsl.Tests.Support.benchLattice 12 12 2L
    let free = Plan.run "hyper" { PlanOptions.defaults with Trials = 8; Parallel = false } p
    let limit = BigInteger.Max(BigInteger.One, free.Cost.Value.LargestIntermediate / BigInteger 100)
    let plain, memoised = PlanHyper.Work(), PlanHyper.Work()
    let memo = PlanHyper.ReconfigureMemo()
    let limit64 = Some(int64 limit)
    let a = rounds p limit (fun q t -> PlanHyper.reconfigureCounted plain never limit64 q Flops 8 1 t) free.Tree.Value
    let b = rounds p limit (fun q t -> PlanHyper.reconfigureMemoCounted memo memoised never limit64 q Flops 8 1 t) free.Tree.Value
    match a, b with
    | Some (ta, ia), Some (tb, ib) ->
        Assert.Equal<int array>(ia, ib)
        Assert.Equal<int array array>(ta.Steps, tb.Steps)
        // Each round changes the size of one bond: most windows are the last round's.
        Assert.True(memoised.Joins < 0.5 * plain.Joins, sprintf "joins %g with the memo, %g without" memoised.Joins plain.Joins)
    | _ -> failwith "no fit"

[<Property(MaxTest = 40)>]
let ``a tree reconfigured until a pass finds nothing is reconfigured again with the same memo for no programme work`` () =
    Prop.forAll (arb 12 4) (fun s ->
        let p = indexOf s
        let t = (PlanGreedy.bestGreedy p fast).Tree
        let memo = PlanHyper.ReconfigureMemo()
        // Enough passes that the last finds nothing (each improving pass lowers the flops).
        let once = PlanHyper.reconfigureMemoCounted memo (PlanHyper.Work()) never None p Flops 6 100 t
        let again = PlanHyper.Work()
        let twice = PlanHyper.reconfigureMemoCounted memo again never None p Flops 6 100 once
        twice = once && again.Joins = 0.0)

[<Fact>]
let ``the slicers are deterministic with their memo`` () =
    let p = TnDsl.Tests.Support.benchLattice 8 8 4L
    let free = Plan.run "hyper" { PlanOptions.defaults with Trials = 8; Parallel = false } p
    let limit = BigInteger 655
    let run () =
        let work = PlanHyper.Work()
        let fit = PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.Executed work never p limit true 2 free.Tree.Value
        fit, work.Counts
    let (fa, ca), (fb, cb) = run (), run ()
    Assert.Equal(fa, fb)
    Assert.Equal<float array>(ca, cb)

[<Fact>]
let ``auto on the 4x4 lattice with D = 4 at 25 elements keeps its plan and does not start the slice-aware search past the ledger`` () =
    // The fit leaves 2 of the ledger's 20 ms; the slice-aware search's first trial, which runs whole, cost 11 ms
    // more there (29.6 ms in all) for a plan that was not chosen.
    let p = TnDsl.Tests.Support.benchLattice 4 4 4L
    let r, counted = Plan.runAutoWith (Some Plan.floors) { PlanOptions.defaults with Parallel = false; MemoryLimit = Some 25L } p
    Assert.True(Plan.succeeded r)
    Assert.Equal(BigInteger 439296, r.Slicing.Value.Flops)
    Assert.True(counted < 0.0265, sprintf "counted %.4f s" counted)
