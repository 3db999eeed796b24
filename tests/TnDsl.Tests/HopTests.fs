module TnDsl.Tests.HopTests

open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// The found plan's polish with random frontiers (`PlanReuse.shakeCounted`) and the hops between basins of trees for
// its sliced set (`PlanReuse.hopCounted`), both hyper's only.

/// A random network's greedy tree, a small limit and the greedy slicer's set for it, when the set fits the tree.
let private slicedGreedy (s: Spec) =
    let p = indexOf s
    let tree = (Plan.run "greedy" fast p).Tree.Value
    let limit = BigInteger.Max(Problem.elements p p.Output, BigInteger(1 + (s.GetHashCode() &&& 0x7fffffff) % 8))
    PlanSlice.find p tree limit
    |> Option.filter (fun sliced -> Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) tree <= limit)
    |> Option.map (fun sliced -> p, tree, limit, sliced)

[<Property(MaxTest = 60)>]
let ``random frontiers never raise executed flops and keep one slice within the limit`` () =
    Prop.forAll (arb 8 3) (fun s ->
        match slicedGreedy s with
        | None -> true
        | Some (p, tree, limit, sliced) ->
            let shaken = PlanReuse.shakeCounted PlanReuse.polishWindows 4 (PlanHyper.Work()) (fun () -> false) p 1 limit 0 sliced tree
            (ContractionTree.validate shaken).IsOk
            && Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) shaken <= limit
            && executed p shaken sliced <= executed p tree sliced)

[<Property(MaxTest = 40)>]
let ``a hop is kept only when it lowers the executed flops, within the limit`` () =
    Prop.forAll (arb 8 3) (fun s ->
        match slicedGreedy s with
        | None -> true
        | Some (p, tree, limit, sliced) ->
            let f0 = executed p tree sliced
            match PlanReuse.hopCounted PlanReuse.polishWindows 4 (PlanHyper.Work()) (fun () -> false) p 1 limit 0 (f0, tree, sliced) with
            | None -> true
            | Some (f, t, ix) ->
                (ContractionTree.validate t).IsOk
                && Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit
                && f = executed p t ix
                && f < f0)

/// The 6 x 6 lattice with D = 2, its halves swept by columns from both ends and the six bonds between them sliced
/// (TreeShapeTests.halves 2), at 16 elements per slice.
let private halves () =
    let p, tree, cut = TnDsl.Tests.TreeShapeTests.halves 2
    p, tree, cut, BigInteger 16

[<Fact>]
let ``on a lattice whose cut is sliced the random frontiers and the hops are deterministic and counted`` () =
    let p, tree, cut, limit = halves ()
    let start = (PlanReuse.fitAndPolishWith PlanReuse.polishWindows (PlanHyper.Work()) (fun () -> false) p limit 3 cut tree).Value
    let run () =
        let work = PlanHyper.Work()
        let shaken = PlanReuse.shakeCounted PlanReuse.polishWindows PlanReuse.shakeRounds work (fun () -> false) p 3 limit 1 cut start
        let hopped = PlanReuse.hopCounted PlanReuse.polishWindows 6 work (fun () -> false) p 3 limit 1 (executed p shaken cut, shaken, cut)
        shaken, hopped, work.Steps, work.Joins
    let s1, h1, steps1, joins1 = run ()
    let s2, h2, steps2, joins2 = run ()
    Assert.Equal<int array array>(s1.Steps, s2.Steps)
    Assert.Equal(h1 |> Option.map (fun (f, t, ix) -> f, t.Steps, ix), h2 |> Option.map (fun (f, t, ix) -> f, t.Steps, ix))
    Assert.Equal(steps1, steps2)
    Assert.Equal(joins1, joins2)
    Assert.True(joins1 > 0.0)
    Assert.True(executed p s1 cut <= executed p start cut)
    Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p cut) s1 <= limit)
    match h1 with
    | Some (f, t, ix) ->
        Assert.True(f < executed p s1 cut)
        Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
    | None -> ()

[<Fact>]
let ``hyper's slice-aware search with the hops is deterministic for a trial count and more trials are no dearer`` () =
    let p = match Problem.index Range.none (peps 6 6 2) with Ok p -> p | Result.Error ds -> failwithf "%A" ds
    let limit = BigInteger 16
    let o = { PlanOptions.defaults with Trials = 8; Parallel = false }
    let search trials =
        match PlanSliceSearch.search (fun () -> false) p o limit trials with
        | Some (t, ix) ->
            Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p ix) t <= limit)
            executed p t ix, t.Steps, ix
        | None -> failwith "no plan"
    let f2, t2, ix2 = search 2
    let f2', t2', ix2' = search 2
    Assert.Equal(f2, f2')
    Assert.Equal<int array array>(t2, t2')
    Assert.Equal<int array>(ix2, ix2')
    let f3, _, _ = search 3
    Assert.True(f3 <= f2)
