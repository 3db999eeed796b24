module TnDsl.Tests.CandidateCostingTests

open System
open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// The greedy slicers score each round's candidates from one costing of the tree (`PlanSlice.flopsOfEach`), not one
// costing per candidate (`PlanSlice.flopsOf`), and count a candidate as `PlanSlice.candidateCosting` of a
// costing (session 14, s14-cpu; bench/results/planner.md, "Under a memory limit: the slicers' candidates").

/// The slicer's choice among `candidates` by a fresh costing per candidate (the rule before): least executed flops
/// in the best loop order, then the larger index, then the lower id.
let private chosenByFlopsOf (p: Indexed) (t: ContractionTree) (sliced: int array) (candidates: int array) =
    candidates |> Array.minBy (fun i -> PlanSlice.flopsOf p t (Array.append sliced [| i |]), -p.Size[i], i)

[<Property(MaxTest = 60)>]
let ``scoring the candidates from one costing gives each the executed flops of a fresh costing`` () =
    Prop.forAll (arb 10 4) (fun s ->
        let p = indexOf s
        let t = (PlanGreedy.bestGreedy p fast).Tree
        let closed = [| 0 .. p.Size.Length - 1 |] |> Array.filter (fun i -> not p.IsOutput[i] && p.Carriers[i].Length > 0)
        // Every prefix of the closed indices as the sliced set, the rest as candidates.
        [ 0 .. closed.Length - 1 ]
        |> List.forall (fun k ->
            let sliced, candidates = closed[.. k - 1], closed[k ..]
            let fresh = candidates |> Array.map (fun i -> PlanSlice.flopsOf p t (Array.append sliced [| i |]))
            PlanSlice.flopsOfEach p t sliced candidates = fresh))

[<Fact>]
let ``on the 12x12 lattice the candidates' flops match a fresh costing beyond the exact loop order too`` () =
    // Sets of 0 to 16 bonds: the loop order is exact up to `PlanSlice.exactOrderUpTo` (12), greedy beyond.
    let p = TnDsl.Tests.Support.benchLattice 12 12 2L
    let t = (PlanHyper.searchWith None p { PlanOptions.defaults with Trials = 2; Parallel = false }).Tree
    let kept = Cost.steps p t |> Array.sortByDescending (fun st -> st.Size) |> Array.collect (fun st -> st.Kept) |> Array.distinct
    for k in [ 0; 5; 11; 12; 16 ] do
        let sliced, candidates = kept[.. k - 1], kept[k .. k + 11]
        let fresh = candidates |> Array.map (fun i -> PlanSlice.flopsOf p t (Array.append sliced [| i |]))
        Assert.Equal<BigInteger array>(fresh, PlanSlice.flopsOfEach p t sliced candidates)

[<Property(MaxTest = 40)>]
let ``the greedy slicer's sets are those of scoring each candidate by a fresh costing`` () =
    Prop.forAll (arb 10 4) (fun s ->
        let p = indexOf s
        let t = (PlanGreedy.bestGreedy p fast).Tree
        let largest = Cost.largestIntermediate p t
        let limit = BigInteger.Max(Problem.elements p p.Output, largest / BigInteger 8)
        let reference = PlanSlice.grow p limit Int32.MaxValue (chosenByFlopsOf p) (fun t _ -> t) t |> Option.map snd
        // One deterministic pass (`findWith 1`) is the greedy pass without noise.
        PlanSlice.findWith 1 p t limit = reference)

[<Property(MaxTest = 40)>]
let ``the slicer's passes in parallel choose the same set and count the same work as one after another`` () =
    Prop.forAll (arb 10 4) (fun s ->
        let p = indexOf s
        let t = (PlanGreedy.bestGreedy p fast).Tree
        let largest = Cost.largestIntermediate p t
        let limit = BigInteger.Max(Problem.elements p p.Output, largest / BigInteger 8)
        let run inParallel =
            let costings = ref 0.0
            let orders = ref 0.0
            let found = PlanSlice.findCountedOrdersWith inParallel costings orders 8 p t limit
            found, costings.Value, orders.Value
        run true = run false)

[<Fact>]
let ``the executed-flops fit of the 12x12 lattice at 1/100 is the fit of a fresh costing per candidate, for less counted work`` () =
    let p = TnDsl.Tests.Support.benchLattice 12 12 2L
    let free = Plan.run "hyper" { PlanOptions.defaults with Trials = 8; Parallel = false } p
    let limit = BigInteger.Max(BigInteger.One, free.Cost.Value.LargestIntermediate / BigInteger 100)
    let work = PlanHyper.Work()
    let fit = PlanSliceSearch.sliceReconfigureBy PlanSliceSearch.Executed work never p limit false 1 free.Tree.Value
    // The slicer as it was: each candidate scored by a fresh costing, the rounds' reconfiguration and the final
    // polish as in `sliceReconfigureBy`.
    let adapt (t: ContractionTree) (next: int array) =
        PlanHyper.reconfigureCounted (PlanHyper.Work()) never (Some(int64 limit)) (PlanSlice.sliceProblem p next) Flops 8 1 t
    let reference =
        PlanSlice.grow p limit 64 (chosenByFlopsOf p) adapt free.Tree.Value
        |> Option.map (fun (t, ix) -> PlanSliceSearch.polish (PlanHyper.Work()) never p limit t ix, ix)
    match fit, reference with
    | Some (t, ix), Some (rt, rix) ->
        Assert.Equal<int array>(rix, ix)
        Assert.Equal<int array array>(rt.Steps, t.Steps)
        Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
        // Each candidate counted a whole costing before (0.612 s of counted work for this fit's 24 bonds); a quarter
        // now, plus the round's scoring costing (0.327 s).
        Assert.True(work.Seconds < 0.36, sprintf "counted %.3f s" work.Seconds)
    | _ -> failwith "no fit"

[<Fact>]
let ``one pass of the greedy slicer counts a costing for its scorer and little per round and candidate`` () =
    // On the 12x12 lattice with D = 2 at 1/100 of greedy's largest intermediate one deterministic pass has 19 rounds
    // and 489 candidates; each candidate counted a whole costing and each round one more (509 costings of the tree)
    // until the scorer (session 20) made a candidate 0.2-40 us of CPU where a costing of this tree takes 90 us
    // (`cands slicers`): one costing, `PlanSlice.roundCosting` a round, `PlanSlice.candidateCosting` a candidate now.
    let p = TnDsl.Tests.Support.benchLattice 12 12 2L
    let t = (PlanGreedy.bestGreedy p { PlanOptions.defaults with Parallel = false }).Tree
    let limit = Cost.largestIntermediate p t / BigInteger 100
    let count () =
        let costings = ref 0.0
        let orders = ref 0.0
        let found = PlanSlice.findCountedOrders costings orders 1 p t limit
        found, costings.Value, orders.Value
    let found, costings, orders = count ()
    Assert.True(found.IsSome)
    Assert.True(costings < 10.0, sprintf "counted %.2f costings" costings)
    Assert.True(orders > 0.0)
    // Counted, not timed: the same counts again.
    Assert.Equal((found, costings, orders), count ())
