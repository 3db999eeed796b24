module TnDsl.Tests.SliceBlockTests

// The block-packing bound on the number of sliced bonds (`SliceBlocks`, argued in bench/results/planner.md,
// "Session 14 (s14-d2)"): the search's least counts against a brute force written from the definition (every
// sliced set, every pairwise tree), the tabulated minima recomputed, the whole-lattice bound against exact least
// counts of small lattices, and the restriction lemma on random trees and sliced sets.

open System
open System.Numerics
open Xunit
open TnDsl

/// The bonds of the rows × cols grid as site pairs, with their bits in `SliceBlocks.bonds`' encoding.
let private gridBonds rows cols =
    [| for r in 0 .. rows - 1 do
           for c in 0 .. cols - 1 do
               let x = r * cols + c
               if c < cols - 1 then yield x, x + 1, 1UL <<< x
               if r < rows - 1 then yield x, x + cols, 1UL <<< (32 + x) |]

/// From the definition: for the graph on sites 0 .. n-1 with `bonds` and the sliced set (a bit per bond), the least
/// over every pairwise tree of the most unsliced bonds leaving one of its intermediates (single sites and the whole
/// graph exempt), by a recursion over every split of every site set.
let private leastWidthOf n (bonds: (int * int * uint64) array) (sliced: int) =
    let full = (1 <<< n) - 1
    let unsliced x =
        bonds |> Array.indexed |> Array.sumBy (fun (k, (a, b, _)) ->
            if sliced &&& (1 <<< k) = 0 && ((x >>> a) &&& 1) <> ((x >>> b) &&& 1) then 1 else 0)
    let width = Array.init (full + 1) unsliced
    let best = Array.create (full + 1) Int32.MaxValue
    for x in 1 .. full do
        if BitOperations.PopCount(uint32 x) = 1 then best[x] <- 0
        else
            let low = x &&& -x
            // Every split {a, x - a}, a holding x's lowest site.
            let mutable a = (x - 1) &&& x
            while a > 0 do
                if a &&& low <> 0 then
                    let b = x - a
                    let cost part = if BitOperations.PopCount(uint32 part) = 1 then best[part] else max best[part] width[part]
                    best[x] <- min best[x] (max (cost a) (cost b))
                a <- (a - 1) &&& x
    best[full]

/// `leastWidthOf` for the rows × cols grid (a bit per bond of `gridBonds`).
let private leastWidth rows cols (sliced: int) = leastWidthOf (rows * cols) (gridBonds rows cols) sliced

/// The least number of sliced bonds that brings `leastWidth` to m or below, over every sliced set.
let private bruteLeast rows cols =
    let count = (gridBonds rows cols).Length
    let least = Array.create 8 Int32.MaxValue
    for sliced in 0 .. (1 <<< count) - 1 do
        let w = leastWidth rows cols sliced
        for m in w .. least.Length - 1 do
            least[m] <- min least[m] (BitOperations.PopCount(uint32 sliced))
    least

[<Fact>]
let ``the search's least sliced count equals the brute force over every sliced set and every tree`` () =
    for rows, cols in [ 2, 2; 2, 3; 3, 3 ] do
        let brute = bruteLeast rows cols
        for m in 0 .. 3 do
            let found = SliceBlocks.least rows cols m 20 |> Option.map fst
            Assert.Equal(Some brute[m], found)

[<Fact>]
let ``a least sliced set the search returns is feasible by the brute force`` () =
    for rows, cols in [ 2, 3; 3, 3 ] do
        let bonds = gridBonds rows cols
        for m in 0 .. 3 do
            let _, set = (SliceBlocks.least rows cols m 20).Value
            let sliced = bonds |> Array.indexed |> Array.sumBy (fun (k, (_, _, bit)) -> if set &&& bit <> 0UL then 1 <<< k else 0)
            Assert.True(leastWidth rows cols sliced <= m)

[<Fact>]
let ``every tabulated block minimum is recomputed by the search`` () =
    for rows, cols, m, least in SliceBlocks.minima do
        Assert.Equal(Some least, SliceBlocks.least rows cols m least |> Option.map fst)

[<Fact>]
let ``the 64-bit search agrees with the search on small blocks, and its least sets are feasible`` () =
    // `SliceBlocks.leastWide` (site sets of up to 64 sites, for `wideBounds`) against `least` (checked against the
    // brute force above) on every tabulated block of up to 20 sites.
    for rows, cols, m, least in SliceBlocks.minima do
        if rows * cols <= 20 then
            Assert.Equal(None, SliceBlocks.leastWide rows cols m (least - 1) |> Option.map fst)
            let k, pairs = (SliceBlocks.leastWide rows cols m least).Value
            Assert.Equal(least, k)
            let sliced =
                gridBonds rows cols |> Array.sumBy (fun (a, b, bit) -> if Array.contains (a, b) pairs then bit else 0UL)
            Assert.Equal(least, BitOperations.PopCount sliced)
            Assert.True(SliceBlocks.feasible rows cols m sliced, sprintf "%dx%d m=%d: %A" rows cols m pairs)

[<Fact>]
let ``the region search's least count equals the brute force on sets of sites of the 3x4 grid`` () =
    // `SliceBlocks.leastRegion` on the grid induced on a set of sites (as Proposition 13 uses it on the sides of a
    // central set), against the brute force over every sliced set of the region's bonds and every tree.
    let rows, cols = 3, 4
    let rng = Random 30
    let mutable checkedRegions = 0
    for _ in 1 .. 40 do
        let region = [ 0 .. rows * cols - 1 ] |> List.filter (fun _ -> rng.NextDouble() < 0.55)
        let index = region |> List.indexed |> List.map (fun (i, x) -> x, i) |> dict
        let bonds =
            [| for a, b, _ in gridBonds rows cols do
                   if index.ContainsKey a && index.ContainsKey b then yield index[a], index[b], 0UL |]
        if region.Length >= 3 && region.Length <= 7 then
            let mask = region |> List.fold (fun acc x -> acc ||| (1UL <<< x)) 0UL
            for m in 0 .. 2 do
                let brute =
                    [ 0 .. (1 <<< bonds.Length) - 1 ]
                    |> List.filter (fun sliced -> leastWidthOf region.Length bonds sliced <= m)
                    |> List.map (fun sliced -> BitOperations.PopCount(uint32 sliced))
                    |> List.min
                Assert.Equal(Some brute, SliceBlocks.leastRegion rows cols mask m 20 |> Option.map fst)
                if brute > 0 then Assert.Equal(None, SliceBlocks.leastRegion rows cols mask m (brute - 1) |> Option.map fst)
            checkedRegions <- checkedRegions + 1
    Assert.True(checkedRegions >= 10, sprintf "%d regions" checkedRegions)

[<Fact>]
let ``every bound on a block of more than 25 sites is recomputed by the 64-bit search`` () =
    for rows, cols, m, bound in SliceBlocks.wideBounds do
        Assert.Equal(None, SliceBlocks.leastWide rows cols m (bound - 1) |> Option.map fst)
    // The 4 × 8 at m = 4 is exact: two bonds suffice.
    Assert.Equal(Some 2, SliceBlocks.leastWide 4 8 4 2 |> Option.map fst)
    // Two 4 × 8 strips: every plan of the 8 × 8 keeping at most 4 unsliced bonds slices at least 4 by packing
    // (2 with blocks of up to 5 × 5).
    Assert.Equal(4, SliceBlocks.packing 8 8 4)

[<Fact>]
let ``the whole-lattice bound is at most the exact least sliced count of small lattices`` () =
    for rows, cols in [ 3, 3; 3, 4; 4, 4 ] do
        for m in 0 .. 3 do
            // 4 × 4 at m = 0 needs more than 12 bonds sliced; the search is not run that far.
            if not (rows = 4 && m = 0) then
                let exact = (SliceBlocks.least rows cols m 20).Value |> fst
                Assert.True(SliceBlocks.packing rows cols m <= exact, sprintf "%dx%d m=%d" rows cols m)
                if rows = cols then
                    Assert.True(SliceBound.leastSliced rows 2 (BigInteger.Pow(BigInteger 2, m)) <= exact, sprintf "%dx%d m=%d" rows cols m)
                    // The band bound (Session 29) on its own, which `leastSliced` takes the largest of.
                    Assert.True(SliceBound.bandLeast rows m <= exact, sprintf "%dx%d m=%d: band %d" rows cols m (SliceBound.bandLeast rows m))

[<Fact>]
let ``four 5x5 quadrants: every plan of the 10x10 lattice keeping at most 3 unsliced bonds slices at least 20`` () =
    Assert.Equal(20, SliceBlocks.packing 10 10 3)
    // D = 2 at the slicing table's limit of 10 elements (m = 3): 4 x 2^20 executed flops exceed twice hyper's
    // unsliced 357,024, and so would 1 x 2^20.
    Assert.Equal(20, SliceBound.leastSliced 10 2 (BigInteger 10))
    Assert.Equal(None, SliceBound.reuseSlicedCountNeeded 10 2 (BigInteger 10) (BigInteger 714048))
    Assert.True(BigInteger.Pow(BigInteger 2, 20) > BigInteger 714048)

[<Fact>]
let ``the restriction lemma holds on random trees and sliced sets of the 6x6 lattice`` () =
    let side = 6
    let bonds = gridBonds side side
    let rng = Random 17
    for trial in 1 .. 60 do
        let sliced = bonds |> Array.map (fun _ -> rng.NextDouble() < 0.35)
        // A random pairwise tree: join two random live nodes until one is left (site sets as bit masks).
        let live = ResizeArray<uint64>([ for x in 0 .. side * side - 1 -> 1UL <<< x ])
        let nodes = ResizeArray<uint64 * uint64 * uint64>()
        while live.Count > 1 do
            let i = rng.Next live.Count
            let a = live[i]
            live.RemoveAt i
            let j = rng.Next live.Count
            let b = live[j]
            live.RemoveAt j
            nodes.Add((a ||| b, a, b))
            live.Add(a ||| b)
        let all = live[0]
        let unslicedLeaving (inside: uint64 -> bool) (x: uint64) =
            bonds |> Array.indexed |> Array.sumBy (fun (k, (a, b, _)) ->
                let ia, ib = (x >>> a) &&& 1UL = 1UL, (x >>> b) &&& 1UL = 1UL
                if not sliced[k] && inside (1UL <<< a) && inside (1UL <<< b) && ia <> ib then 1 else 0)
        let m = nodes |> Seq.filter (fun (r, _, _) -> r <> all) |> Seq.map (fun (r, _, _) -> unslicedLeaving (fun _ -> true) r) |> Seq.max
        for _ in 1 .. 4 do
            let p, q = rng.Next(2, 5), rng.Next(2, 5)
            let r0, c0 = rng.Next(side - p + 1), rng.Next(side - q + 1)
            let w = Seq.fold (fun acc (r, c) -> acc ||| (1UL <<< (r * side + c))) 0UL (seq { for r in r0 .. r0 + p - 1 do for c in c0 .. c0 + q - 1 -> r, c })
            let inW (x: uint64) = x &&& w <> 0UL
            // The restricted tree's intermediates: R ∩ W for every node whose two children both meet W, but W itself.
            for r, a, b in nodes do
                if inW a && inW b && r &&& w <> w then
                    Assert.True(unslicedLeaving inW (r &&& w) <= unslicedLeaving (fun _ -> true) r)
            // So the sliced bonds inside W make W's grid feasible at m.
            let blockSliced =
                bonds |> Array.indexed |> Array.fold (fun acc (k, (x, y, _)) ->
                    if sliced[k] && inW (1UL <<< x) && inW (1UL <<< y) then
                        let bx = (x / side - r0) * q + (x % side - c0)
                        acc ||| (if y = x + 1 then 1UL <<< bx else 1UL <<< (32 + bx))
                    else acc) 0UL
            Assert.True(SliceBlocks.feasible p q m blockSliced, sprintf "trial %d: %dx%d at (%d,%d), m=%d" trial p q r0 c0 m)
            Assert.True(BitOperations.PopCount blockSliced >= SliceBlocks.blockLeast p q m)
