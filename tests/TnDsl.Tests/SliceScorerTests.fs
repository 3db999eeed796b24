module TnDsl.Tests.SliceScorerTests

open System
open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// The greedy slicer scores its candidates on one `PlanSlice.Scorer` per pass (session 20, s20-slicer): the tree is
// costed once, one-slice flops and sizes are divided in place as indices are sliced, dependencies are bit sets and
// the greedy loop order runs over them. Checked against the straightforward computation: a fresh costing of the
// tree sliced over the set, the loop order from per-step dependency lists (the code before), and `executedFlops`.

/// The loop order as it was computed before the scorer, from a fresh costing of the sliced tree and per-step
/// dependency lists: exact up to `PlanSlice.exactOrderUpTo` indices (the subset programme), greedy beyond.
let private straightOrder (p: Indexed) (t: ContractionTree) (indices: int array) : int array =
    let k = indices.Length
    if k <= 1 then Array.copy indices
    else
        let steps = Cost.steps (PlanSlice.sliceProblem p indices) t
        let idx = Array.sort indices
        let flops = steps |> Array.map (fun s -> float s.Flops)
        let n = t.Leaves
        if k <= PlanSlice.exactOrderUpTo then
            let mask = Array.zeroCreate<int> (n + t.Steps.Length)
            for leaf in 0 .. n - 1 do
                for i in p.Inputs[leaf] do
                    let j = Array.BinarySearch(idx, i)
                    if j >= 0 then mask[leaf] <- mask[leaf] ||| (1 <<< j)
            t.Steps |> Array.iteri (fun s ch -> mask[n + s] <- ch |> Array.fold (fun m c -> m ||| mask[c]) 0)
            let full = (1 <<< k) - 1
            let g = Array.zeroCreate<float> (full + 1)
            steps |> Array.iteri (fun s _ -> g[mask[n + s]] <- g[mask[n + s]] + flops[s])
            for b in 0 .. k - 1 do
                for m in 0 .. full do
                    if m &&& (1 <<< b) <> 0 then g[m] <- g[m] + g[m ^^^ (1 <<< b)]
            let size = Array.create (full + 1) 1.0
            for m in 1 .. full do
                let low = m &&& -m
                size[m] <- size[m ^^^ low] * float p.Size[idx[Numerics.BitOperations.TrailingZeroCount low]]
            let f = Array.create (full + 1) Double.PositiveInfinity
            let last = Array.zeroCreate<int> (full + 1)
            f[0] <- g[0]
            for m in 1 .. full do
                for b in 0 .. k - 1 do
                    if m &&& (1 <<< b) <> 0 then
                        let rest = m ^^^ (1 <<< b)
                        let c = f[rest] + size[m] * (g[m] - g[rest])
                        if c < f[m] then
                            f[m] <- c
                            last[m] <- b
            let order = Array.zeroCreate k
            let mutable m = full
            for j in k - 1 .. -1 .. 0 do
                order[j] <- idx[last[m]]
                m <- m ^^^ (1 <<< last[m])
            order
        else
            let deps = Array.zeroCreate<int array> t.Steps.Length
            let carried = Array.zeroCreate<int array> (n + t.Steps.Length)
            for leaf in 0 .. n - 1 do
                carried[leaf] <- p.Inputs[leaf] |> Array.choose (fun i -> let j = Array.BinarySearch(idx, i) in if j >= 0 then Some j else None)
            t.Steps |> Array.iteri (fun s ch ->
                carried[n + s] <- ch |> Array.collect (fun c -> carried[c]) |> Array.distinct
                deps[s] <- carried[n + s])
            let weight = Array.zeroCreate<float> k
            let stepsOf = Array.init k (fun _ -> ResizeArray<int>())
            deps |> Array.iteri (fun s d -> for j in d do weight[j] <- weight[j] + flops[s]; stepsOf[j].Add s)
            let retired = Array.zeroCreate<bool> t.Steps.Length
            let placed = Array.zeroCreate<bool> k
            let order = Array.zeroCreate k
            for slot in k - 1 .. -1 .. 0 do
                let mutable x = -1
                for j in 0 .. k - 1 do
                    if not placed[j] && (x < 0 || weight[j] < weight[x]) then x <- j
                placed[x] <- true
                order[slot] <- idx[x]
                for s in stepsOf[x] do
                    if not retired[s] then
                        retired[s] <- true
                        for j in deps[s] do weight[j] <- weight[j] - flops[s]
            order

/// Executed flops of the tree sliced over `indices` in the straightforward loop order.
let private straightFlops (p: Indexed) (t: ContractionTree) (indices: int array) =
    PlanSlice.executedFlops p t (straightOrder p t indices)

/// A network as plain data: tensor b + 1 shares bond b with an earlier tensor (`parents`), extra bonds close loops,
/// each bond has its size, one tensor may carry an open leg.
type Net =
    { Parents: int list
      Extra: (int * int) list
      Sizes: int list
      Open: int }

/// Connected networks of 8 to 30 tensors with loops (up to about 45 bonds, so that sliced sets pass the exact loop
/// order's 12 indices), bonds of 2 to 5, 20 to 40 (executed flops past Int128's range with many sliced) or 300 to
/// 3,000 (unsliced flops past int64's), at most one open leg.
let netGen =
    Gen.sized (fun size ->
        gen {
            let! n = Gen.choose (8, max 8 (min 30 (8 + size / 3)))
            let! parents = listOfLength (n - 1) (Gen.choose (0, 1000))
            let! extra = listOfLength (n / 2) (Gen.zip (Gen.choose (0, n - 1)) (Gen.choose (0, n - 1)))
            let! range = Gen.elements [ (2, 5); (20, 40); (300, 3000) ]
            let! sizes = listOfLength (n - 1 + n / 2 + 1) (Gen.choose range)
            let! openAt = Gen.choose (-4, n - 1)
            return { Parents = parents; Extra = extra; Sizes = sizes; Open = openAt }
        })

let netOf (s: Net) : Indexed =
    let n = s.Parents.Length + 1
    let bonds =
        (s.Parents |> List.mapi (fun k r -> r % (k + 1), k + 1))
        @ (s.Extra |> List.filter (fun (a, b) -> a <> b))
    let tensors =
        [| for t in 0 .. n - 1 do
               [| for b in 0 .. bonds.Length - 1 do
                      let (x, y) = bonds[b]
                      if x = t || y = t then sprintf "b%d" b
                  if s.Open = t then "o" |] |]
    let sizes = Map.ofList (("o", 2L) :: [ for b in 0 .. bonds.Length - 1 -> sprintf "b%d" b, int64 s.Sizes[b] ])
    match Problem.index Range.none (Problem.create None tensors sizes (if s.Open >= 0 then [| "o" |] else [||])) with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds

let private nets = Arb.fromGen netGen

/// The closed indices of a network in a shuffled order (seeded), and greedy's tree of it.
let private setUp (p: Indexed) (seed: int) =
    let closed = [| 0 .. p.Size.Length - 1 |] |> Array.filter (fun i -> not p.IsOutput[i] && p.Carriers[i].Length > 0)
    let rng = Random(seed)
    let shuffled = closed |> Array.sortBy (fun _ -> rng.Next())
    shuffled, (PlanGreedy.bestGreedy p fast).Tree

[<Property(MaxTest = 60)>]
let ``the scorer gives each candidate the executed flops of a fresh costing and the straightforward loop order`` () =
    Prop.forAll nets (fun s ->
        let p = netOf s
        let closed, t = setUp p s.Parents.Length
        // Sliced sets of every size (one index added at a time, as the slicers grow them), the rest as candidates.
        [ 0 .. 3 .. closed.Length - 1 ]
        |> List.forall (fun k ->
            let sliced, candidates = closed[.. k - 1], closed[k ..]
            let straight = candidates |> Array.map (fun i -> straightFlops p t (Array.append sliced [| i |]))
            PlanSlice.flopsOfEach p t sliced candidates = straight))

[<Property(MaxTest = 60)>]
let ``the loop order and executed flops of a sliced set are the straightforward ones`` () =
    Prop.forAll nets (fun s ->
        let p = netOf s
        let closed, t = setUp p s.Parents.Length
        [ 0 .. 2 .. closed.Length ]
        |> List.forall (fun k ->
            let ix = closed[.. k - 1]
            PlanSlice.bestOrder p t ix = straightOrder p t ix && PlanSlice.flopsOf p t ix = straightFlops p t ix))

/// The greedy slicer as it was (`PlanSlice.findCountedOrders`' passes before the scorer): each pass `grow`s the set
/// with candidates scored by a fresh costing and the straightforward loop order, log2 flops plus Gumbel noise of
/// temperature 0.5 drawn per candidate in order (none in pass 0), ties to the larger index, then the lower id; the
/// passes' best by executed flops, then fewer indices, then the earlier pass.
let private straightFind (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) =
    let pass r =
        let rng = Random(r * 7919 + 1)
        let temperature = if r = 0 then 0.0 else 0.5
        let choose (t: ContractionTree) (sliced: int array) (candidates: int array) =
            let flops = candidates |> Array.map (fun i -> straightFlops p t (Array.append sliced [| i |]))
            let scored =
                candidates
                |> Array.mapi (fun c i ->
                    let noise = if temperature > 0.0 then -temperature * Math.Log(-Math.Log(max 1e-300 (rng.NextDouble()))) else 0.0
                    struct ((if flops[c].Sign <= 0 then 0.0 else BigInteger.Log(flops[c], 2.0)) + noise, -p.Size[i], i))
            let struct (_, _, best) = Array.min scored
            best
        PlanSlice.grow p limit Int32.MaxValue choose (fun t _ -> t) t
        |> Option.map (fun (_, ix) -> (straightFlops p t ix, ix.Length, r), ix)
    let passes = [| 0 .. repeats - 1 |] |> Array.choose pass
    if passes.Length = 0 then None else Some(passes |> Array.minBy fst |> snd)

[<Property(MaxTest = 40)>]
let ``the greedy slicer's eight passes choose the sets of the straightforward slicer`` () =
    Prop.forAll nets (fun s ->
        Prop.forAll (Arb.fromGen (Gen.elements [ 2; 10; 100; 10000 ])) (fun fraction ->
            let p = netOf s
            let t = (PlanGreedy.bestGreedy p fast).Tree
            let limit = BigInteger.Max(Problem.elements p p.Output, Cost.largestIntermediate p t / BigInteger fraction)
            PlanSlice.findWith 8 p t limit = straightFind 8 p t limit))

[<Fact>]
let ``on the 16x16 lattice at 1/100 the greedy slicer's passes choose the straightforward slicer's sets`` () =
    // Up to 40-odd sliced bonds per pass: the greedy loop order over more than 12 indices, the largest step's
    // result a few thousand times the limit.
    let p = TnDsl.Tests.Support.benchLattice 16 16 2L
    let t = (PlanGreedy.bestGreedy p fast).Tree
    let limit = Cost.largestIntermediate p t / BigInteger 100
    Assert.Equal(straightFind 2 p t limit, PlanSlice.findWith 2 p t limit)

[<Fact>]
let ``the scorer's sums past int64 and past Int128 are the straightforward ones`` () =
    // The 6x6 lattice with bonds of 1,000: unsliced flops past int64 (2.0e30; the BigInteger sums). The 8x8 lattice
    // with bonds of 8: unsliced flops of 1.1e13 (int64 sums), executed flops of 1.3e31 with 31 bonds sliced, 4.5e38
    // with 41 (past Int128's 1.7e38: Horner's rule goes on in BigInteger).
    for p, most in [ TnDsl.Tests.Support.benchLattice 6 6 1000L, 20; TnDsl.Tests.Support.benchLattice 8 8 8L, 60 ] do
        let t = (PlanGreedy.bestGreedy p fast).Tree
        let bonds = Cost.steps p t |> Array.sortByDescending (fun st -> st.Size) |> Array.collect (fun st -> st.Kept) |> Array.distinct
        for k in [ 0; 1; 11; 12; 13; 20; 30; 40; most ] |> List.filter (fun k -> k <= most && k < bonds.Length) do
            let sliced, candidates = bonds[.. k - 1], bonds[k .. k + 7]
            let straight = candidates |> Array.map (fun i -> straightFlops p t (Array.append sliced [| i |]))
            Assert.Equal<BigInteger array>(straight, PlanSlice.flopsOfEach p t sliced candidates)
