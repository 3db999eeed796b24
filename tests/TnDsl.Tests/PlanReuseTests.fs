module TnDsl.Tests.PlanReuseTests

open System
open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// The reuse-aware tree builder (`PlanReuse`): trees built for executed flops under reuse across slices, for a given
// sliced set, and the slice-aware search that offers them.

/// A lattice, a limit (the greedy tree's largest intermediate / share) and the sliced set the greedy slicer finds
/// for the greedy tree under it.
let private slicedLattice rows dBond (share: int) =
    let p = lattice rows rows dBond
    let free = (Plan.run "greedy" fast p).Tree.Value
    let limit = BigInteger.Max(BigInteger.One, Cost.largestIntermediate p free / BigInteger share)
    p, limit, (PlanSlice.find p free limit).Value

[<Fact>]
let ``the reuse-aware builder's plans are valid trees that fit the limit with their sliced set at size 1`` () =
    for rows, dBond, share in [ 4, 3, 32; 5, 2, 16; 4, 4, 100 ] do
        let p, limit, sliced = slicedLattice rows dBond share
        let plans = [ for t in 0 .. 5 do match PlanReuse.rebuild p 0 limit sliced t with Some plan -> yield plan | None -> () ]
        Assert.NotEmpty plans
        for f, tree, ix in plans do
            Assert.True((ContractionTree.validate tree).IsOk)
            Assert.Equal(p.Inputs.Length, tree.Leaves)
            Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) tree <= limit)
            Assert.True(ix |> Array.forall (fun i -> Array.contains i sliced))
            // The figure returned is the model's: executed flops in the best loop order, at least the order-free
            // bound, which is at least the tree's unsliced flops (Theorem 1).
            Assert.Equal(PlanSlice.executedFlops p tree (PlanSlice.bestOrder p tree ix), f)
            Assert.True(f >= SliceBound.leastExecuted p tree ix)
            Assert.True(SliceBound.leastExecuted p tree ix >= Cost.flops p tree)

[<Fact>]
let ``the reuse-aware builder gives the same plan for the same trial`` () =
    let p, limit, sliced = slicedLattice 4 3 32
    for t in 0 .. 3 do
        match PlanReuse.rebuild p 0 limit sliced t, PlanReuse.rebuild p 0 limit sliced t with
        | Some (f, tree, ix), Some (f', tree', ix') ->
            Assert.Equal(f, f')
            Assert.Equal<int array array>(tree.Steps, tree'.Steps)
            Assert.Equal<int array>(ix, ix')
        | a, b -> Assert.Equal(a.IsSome, b.IsSome)

[<Property(MaxTest = 100)>]
let ``the reuse-aware greedy builds a valid tree for any sliced set and loop order`` () =
    Prop.forAll (arb 7 3) (fun s ->
        let p = indexOf s
        let rng = Random(s.GetHashCode())
        let sliced =
            Array.init p.Size.Length id
            |> Array.filter (fun i -> not p.IsOutput[i] && rng.Next 2 = 0)
            |> Array.sortBy (fun _ -> rng.Next())
        let limit = BigInteger(1 + rng.Next 16)
        [ PlanReuse.OrderFree; PlanReuse.InOrder sliced ]
        |> List.forall (fun runs ->
            match PlanReuse.greedy p sliced runs limit (rng.NextDouble() * 2.0) (rng.NextDouble()) (rng.Next 2 = 0) (Random 1) with
            | Some tree -> (ContractionTree.validate tree).IsOk && tree.Leaves = p.Inputs.Length
            | None -> p.Inputs.Length < 2))

[<Property(MaxTest = 60)>]
let ``fitting and polishing a tree that fits never raises its executed flops`` () =
    Prop.forAll (arb 8 3) (fun s ->
        let p = indexOf s
        let tree = (Plan.run "greedy" fast p).Tree.Value
        let limit = BigInteger.Max(Problem.elements p p.Output, BigInteger(1 + (s.GetHashCode() &&& 0x7fffffff) % 8))
        match PlanSlice.find p tree limit with
        | None -> true
        | Some sliced ->
            match PlanReuse.fitAndPolish (PlanHyper.Work()) (fun () -> false) p limit 3 sliced tree with
            | None -> false
            | Some polished ->
                (ContractionTree.validate polished).IsOk
                && Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) polished <= limit
                && PlanSlice.flopsOf p polished sliced <= PlanSlice.flopsOf p tree sliced)

[<Fact>]
let ``the reuse-aware greedy weighs a node by its one-slice size times its runs in the loop order`` () =
    // The chain A(a) - B(a, b) - C(b), both bonds sliced (every one-slice size is 1). B and every join run
    // size(a) x size(b) = 15 times. In the order a, b (a outermost) A runs 3 times and C 15: joining B with C removes
    // 15 + 15 weighed elements for 15, A with B 3 + 15, so B joins C first; in the order b, a, A runs 15 times and C 5,
    // so B joins A first; order-free A weighs 3 and C 5, so B joins C first. Each tree fits one element per slice.
    let pr = Problem.create None [| [| "a" |]; [| "a"; "b" |]; [| "b" |] |] (Map.ofList [ "a", 3L; "b", 5L ]) [||]
    let p = match Problem.index Range.none pr with Ok p -> p | Result.Error ds -> failwithf "%A" ds
    let sliced = [| 0; 1 |]
    for runs, first in [ PlanReuse.InOrder [| 0; 1 |], [| 1; 2 |]; PlanReuse.InOrder [| 1; 0 |], [| 0; 1 |]; PlanReuse.OrderFree, [| 1; 2 |] ] do
        let tree = (PlanReuse.greedy p sliced runs BigInteger.One 1.0 0.0 false (Random 0)).Value
        Assert.True((ContractionTree.validate tree).IsOk)
        Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) tree <= BigInteger.One)
        Assert.Equal<int array>(first, Array.sort tree.Steps[0])

[<Fact>]
let ``the slice-aware search with the reuse-aware candidates is no dearer than before them for the same trials`` () =
    // Main at 8ca3c10 (before PlanReuse): PlanSliceSearch.search, 4 trials, `fast` options, limit the greedy
    // tree's largest intermediate / share. The candidates only ever replace the best plan, never the local
    // search's start, so the search cannot end dearer; the figures pin it.
    for rows, dBond, share, before in [ 5, 3, 100, 3325542156L; 6, 2, 32, 4823968L; 4, 4, 100, 33040896L ] do
        let p = lattice rows rows dBond
        let limit = BigInteger.Max(BigInteger.One, (Plan.run "greedy" fast p).Cost.Value.LargestIntermediate / BigInteger share)
        let o = { fast with MemoryLimit = Some(int64 limit) }
        let run () = (PlanSliceSearch.search (fun () -> false) p o limit 4).Value
        let tree, sliced = run ()
        let tree', sliced' = run ()
        Assert.Equal<int array array>(tree.Steps, tree'.Steps)
        Assert.Equal<int array>(sliced, sliced')
        Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) tree <= limit)
        let executed = (PlanSlice.figures p tree sliced).Flops
        Assert.True(executed <= BigInteger before, sprintf "%dx%d D=%d: %A > %d" rows rows dBond executed before)
