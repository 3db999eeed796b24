namespace TnDsl

open System
open System.Collections.Generic
open System.Numerics

/// The block-packing lower bound on the number of sliced bonds of the closed rows × cols lattice under a memory
/// limit that lets every intermediate keep at most m unsliced bonds (bench/results/planner.md, "Session 14
/// (s14-d2)"). Restriction lemma: cut a pairwise contraction tree that meets the limit down to a block W of sites
/// (its nodes R ∩ W) and it is a tree for the block's own grid G[W] whose every intermediate keeps at most m of
/// the block's unsliced bonds (they are among the bonds leaving R). So the sliced bonds inside W make G[W]
/// feasible at m, and for disjoint blocks every plan slices at least the sum of their least such counts
/// (`least`, exact by search on blocks of up to 25 sites, and `leastWide` on blocks of up to 64; `minima` and
/// `wideBounds` tabulate them).
module SliceBlocks =
    /// The bonds of the rows × cols grid (site r * cols + c, at most 32 sites) as bits of one uint64: bit x for the
    /// bond from site x to its right neighbour, bit 32 + x for the bond from site x to the one below.
    let bonds (rows: int) (cols: int) =
        let mutable b = 0UL
        for r in 0 .. rows - 1 do
            for c in 0 .. cols - 1 do
                let x = r * cols + c
                if c < cols - 1 then b <- b ||| (1UL <<< x)
                if r < rows - 1 then b <- b ||| (1UL <<< (32 + x))
        b

    /// The bonds (as in `bonds`) with exactly one end in the site set `sites` (bit x: site x).
    let boundary (rows: int) (cols: int) (sites: uint32) =
        let all = bonds rows cols
        let across = uint64 ((sites ^^^ (sites >>> 1)) &&& uint32 all)
        let down = if rows > 1 then uint64 ((sites ^^^ (sites >>> cols)) &&& uint32 (all >>> 32)) else 0UL
        across ||| (down <<< 32)

    /// Whether the rows × cols grid with the bonds `sliced` (bits as in `bonds`) has a pairwise contraction tree
    /// whose every intermediate (neither one site nor the whole grid) has at most m unsliced bonds leaving it.
    /// A dynamic programme over the site sets that may be intermediates (`candidates`: every set of 2 .. n-1 sites
    /// with at most m + |sliced| bonds leaving it, in order of size): a set is good when it splits into two parts,
    /// each one site or a good candidate within m; the grid is feasible when it splits so. `state` (2^n bytes, zero)
    /// is scratch, left zero.
    let private feasibleIn (n: int) (m: int) (candidates: struct (uint32 * uint64) array) (state: byte array) (sliced: uint64) =
        if n <= 2 then true
        else
            let ok = ResizeArray<uint32>()
            for struct (x, b) in candidates do
                if BitOperations.PopCount(b &&& ~~~sliced) <= m then
                    ok.Add x
                    state[int x] <- 1uy
            let good = ResizeArray<uint32>()
            for x in ok do
                let size = BitOperations.PopCount x
                let mutable found = size = 2
                let mutable rest = x
                while not found && rest <> 0u do
                    let site = rest &&& (0u - rest)
                    if state[int (x ^^^ site)] = 2uy then found <- true
                    rest <- rest &&& (rest - 1u)
                let mutable j = 0
                while not found && j < good.Count && 2 * BitOperations.PopCount good[j] <= size do
                    let a = good[j]
                    if a &&& ~~~x = 0u && state[int (x ^^^ a)] = 2uy then found <- true
                    j <- j + 1
                if found then
                    state[int x] <- 2uy
                    good.Add x
            let full = if n = 32 then UInt32.MaxValue else (1u <<< n) - 1u
            let mutable feasible = false
            for site in 0 .. n - 1 do
                if state[int (full ^^^ (1u <<< site))] = 2uy then feasible <- true
            for a in good do
                if state[int (full ^^^ a)] = 2uy then feasible <- true
            for x in ok do
                state[int x] <- 0uy
            feasible

    /// The site sets of 2 .. n-1 sites with at most `most` bonds leaving them, in order of size, with those bonds.
    let private candidates (rows: int) (cols: int) (most: int) =
        let n = rows * cols
        [| for x in 1u .. (1u <<< n) - 2u do
               let size = BitOperations.PopCount x
               if size >= 2 then
                   let b = boundary rows cols x
                   if BitOperations.PopCount b <= most then yield struct (size, x, b) |]
        |> Array.sortBy (fun struct (size, x, _) -> struct (size, x))
        |> Array.map (fun struct (_, x, b) -> struct (x, b))

    /// `feasibleIn` for one sliced set (grids of up to 25 sites).
    let feasible (rows: int) (cols: int) (m: int) (sliced: uint64) =
        let n = rows * cols
        if n > 25 then invalidArg "rows" "at most 25 sites"
        feasibleIn n m (candidates rows cols (m + BitOperations.PopCount sliced)) (Array.zeroCreate (1 <<< n)) sliced

    /// The least number of bonds whose slicing makes the rows × cols grid feasible at m (`feasible`), searched
    /// over every sliced set of 0, 1, .. `upTo` bonds (feasibility only grows with the set), with a least set;
    /// None when no set of `upTo` bonds or fewer is. Grids of up to 25 sites.
    let least (rows: int) (cols: int) (m: int) (upTo: int) =
        let n = rows * cols
        if n > 25 then invalidArg "rows" "at most 25 sites"
        let all = bonds rows cols
        let bits = [| for k in 0 .. 63 do if (all >>> k) &&& 1UL = 1UL then yield 1UL <<< k |]
        let state = Array.zeroCreate<byte> (1 <<< n)
        let rec search (cands: struct (uint32 * uint64) array) start left (sliced: uint64) =
            if left = 0 then (if feasibleIn n m cands state sliced then Some sliced else None)
            else
                seq { start .. bits.Length - left }
                |> Seq.tryPick (fun k -> search cands (k + 1) (left - 1) (sliced ||| bits[k]))
        seq { 0 .. min upTo bits.Length }
        |> Seq.tryPick (fun k -> search (candidates rows cols (m + k)) 0 k 0UL |> Option.map (fun s -> k, s))

    /// The bonds of the rows × cols grid (at most 64 sites, site r * cols + c) as site pairs, row by row and each
    /// site's bond to its right neighbour before the one below; bond k is bit k of a two-word set (lo: 0 .. 63,
    /// hi: 64 .. 127) in `leastWide`.
    let wideBonds (rows: int) (cols: int) =
        [| for r in 0 .. rows - 1 do
               for c in 0 .. cols - 1 do
                   let x = r * cols + c
                   if c < cols - 1 then yield x, x + 1
                   if r < rows - 1 then yield x, x + cols |]

    /// `feasibleIn` on 64-bit site sets (a set `region` of sites of a grid of up to 64 sites, every candidate a part
    /// of it) with a hash set for the good sets; the bonds as two words.
    let private feasibleWide (region: uint64) (m: int) (candidates: struct (uint64 * uint64 * uint64) array) (slicedLo: uint64) (slicedHi: uint64) =
        if BitOperations.PopCount region <= 2 then true
        else
            let good = HashSet<uint64>()
            let goodList = ResizeArray<uint64>()
            for struct (x, lo, hi) in candidates do
                if BitOperations.PopCount(lo &&& ~~~slicedLo) + BitOperations.PopCount(hi &&& ~~~slicedHi) <= m then
                    let size = BitOperations.PopCount x
                    let mutable found = size = 2
                    let mutable rest = x
                    while not found && rest <> 0UL do
                        let site = rest &&& (0UL - rest)
                        if good.Contains(x ^^^ site) then found <- true
                        rest <- rest &&& (rest - 1UL)
                    let mutable j = 0
                    while not found && j < goodList.Count && 2 * BitOperations.PopCount goodList[j] <= size do
                        let a = goodList[j]
                        if a &&& ~~~x = 0UL && good.Contains(x ^^^ a) then found <- true
                        j <- j + 1
                    if found then
                        good.Add x |> ignore
                        goodList.Add x
            seq { 0 .. 63 } |> Seq.exists (fun site -> (region >>> site) &&& 1UL = 1UL && good.Contains(region ^^^ (1UL <<< site)))
            || goodList |> Seq.exists (fun a -> good.Contains(region ^^^ a))

    /// The bonds of the rows × cols grid (at most 64 sites) with both ends in `region` (bit x: site x), in the order
    /// of `wideBonds`.
    let private regionBonds (rows: int) (cols: int) (region: uint64) =
        wideBonds rows cols |> Array.filter (fun (a, b) -> (region >>> a) &&& (region >>> b) &&& 1UL = 1UL)

    /// The sets of 2 .. |region| - 1 sites of `region` (a set of sites of the rows × cols grid, up to 64 sites) with at
    /// most `most` of its bonds (`regionBonds`) leaving them, in order of size, with those bonds (two words, bit k:
    /// bond k of `regionBonds`): a search over the region's sites in order that drops a partial set once the bonds
    /// to its decided neighbours (left, above) exceed `most`, which only grow.
    let private candidatesWide (rows: int) (cols: int) (region: uint64) (most: int) =
        let bonds = regionBonds rows cols region
        let sites = [| for x in 0 .. rows * cols - 1 do if (region >>> x) &&& 1UL = 1UL then yield x |]
        let inRegion x = (region >>> x) &&& 1UL = 1UL
        let found = ResizeArray<struct (int * uint64 * uint64 * uint64)>()
        let rec go i (x: uint64) leaving =
            if leaving <= most then
                if i = sites.Length then
                    let size = BitOperations.PopCount x
                    if size >= 2 && size <= sites.Length - 1 then
                        let mutable lo, hi = 0UL, 0UL
                        for k in 0 .. bonds.Length - 1 do
                            let a, b = bonds[k]
                            if ((x >>> a) &&& 1UL) <> ((x >>> b) &&& 1UL) then
                                if k < 64 then lo <- lo ||| (1UL <<< k) else hi <- hi ||| (1UL <<< (k - 64))
                        found.Add(struct (size, x, lo, hi))
                else
                    let site = sites[i]
                    let r, c = site / cols, site % cols
                    for v in 0UL .. 1UL do
                        let y = x ||| (v <<< site)
                        let left = if c > 0 && inRegion (site - 1) && ((y >>> (site - 1)) &&& 1UL) <> v then 1 else 0
                        let up = if r > 0 && inRegion (site - cols) && ((y >>> (site - cols)) &&& 1UL) <> v then 1 else 0
                        go (i + 1) y (leaving + left + up)
        go 0 0UL 0
        found.ToArray()
        |> Array.sortBy (fun struct (size, x, _, _) -> struct (size, x))
        |> Array.map (fun struct (_, x, lo, hi) -> struct (x, lo, hi))

    /// `leastWide` for the grid induced on a set of sites: the least number of bonds inside `region` (bit x: site x
    /// of the rows × cols grid, up to 64 sites and 128 bonds inside the region) whose slicing lets the region's own
    /// grid be contracted pairwise with at most m of its unsliced bonds leaving every intermediate, searched over
    /// every set of 0 .. `upTo` of its bonds, with a least set as site pairs; None when none of `upTo` bonds or fewer
    /// is. By the restriction lemma (whose proof holds for any set of sites), the sliced bonds inside the region of
    /// any plan of the grid number at least this count.
    let leastRegion (rows: int) (cols: int) (region: uint64) (m: int) (upTo: int) =
        let bonds = regionBonds rows cols region
        if rows * cols > 64 || bonds.Length > 128 then invalidArg "rows" "at most 64 sites and 128 bonds"
        let rec search cands start left (lo: uint64) (hi: uint64) =
            if left = 0 then (if feasibleWide region m cands lo hi then Some(lo, hi) else None)
            else
                seq { start .. bonds.Length - left }
                |> Seq.tryPick (fun k ->
                    let lo', hi' = if k < 64 then lo ||| (1UL <<< k), hi else lo, hi ||| (1UL <<< (k - 64))
                    search cands (k + 1) (left - 1) lo' hi')
        seq { 0 .. min upTo bonds.Length }
        |> Seq.tryPick (fun k ->
            search (candidatesWide rows cols region (m + k)) 0 k 0UL 0UL
            |> Option.map (fun (lo, hi) ->
                k, [| for j in 0 .. bonds.Length - 1 do
                          if (if j < 64 then (lo >>> j) &&& 1UL else (hi >>> (j - 64)) &&& 1UL) = 1UL then yield bonds[j] |]))

    /// `least` for grids of up to 64 sites (and 128 bonds): the least number of bonds whose slicing makes the
    /// rows × cols grid feasible at m, searched over every sliced set of 0 .. `upTo` bonds, with a least set as
    /// site pairs; None when no set of `upTo` bonds or fewer is (then every plan of the block slices more).
    let leastWide (rows: int) (cols: int) (m: int) (upTo: int) =
        if rows * cols > 64 then invalidArg "rows" "at most 64 sites"
        let all = if rows * cols = 64 then UInt64.MaxValue else (1UL <<< (rows * cols)) - 1UL
        leastRegion rows cols all m upTo

    /// Exact least sliced counts of small blocks, (rows, cols, m, least) with rows <= cols, from `least`
    /// (tests/TnDsl.Tests/SliceBlockTests.fs recomputes every entry). Blocks and limits not listed are taken at 0
    /// or at a listed larger m (a plan feasible at m is feasible at m + 1, so the count only falls with m).
    let minima =
        [ 2, 3, 2, 1; 2, 4, 2, 1; 2, 5, 2, 2; 3, 3, 2, 2; 3, 4, 2, 3; 3, 5, 2, 4; 4, 4, 2, 4
          3, 3, 3, 1; 3, 4, 3, 1; 3, 5, 3, 2; 4, 4, 3, 2; 4, 5, 3, 3; 5, 5, 3, 5
          4, 5, 4, 1
          5, 5, 5, 1 ]

    /// Lower bounds on the least sliced counts of blocks of more than 25 sites, (rows, cols, m, bound) with
    /// rows <= cols, from `leastWide`: no set of bound - 1 bonds or fewer makes the block feasible at m
    /// (tests/TnDsl.Tests/SliceBlockTests.fs recomputes every entry). The 4 × 8 at m = 4 is exact (a set of 2 bonds
    /// is feasible); the 5 × 8 at m = 4 needs 4 (a scratch search, bench/results/planner.md "Session 30"), but only
    /// 3 is recomputed here, in a second where the exact count takes minutes; the 6 × 7 at m = 5 is not searched
    /// beyond 2 bonds.
    let wideBounds = [ 4, 8, 4, 2; 5, 8, 4, 3; 6, 7, 5, 3 ]

    /// The least sliced count of a rows × cols block at m known from `minima` or `wideBounds` (either orientation;
    /// 0 if none).
    let blockLeast (rows: int) (cols: int) (m: int) =
        let r, c = min rows cols, max rows cols
        minima @ wideBounds |> List.fold (fun best (a, b, k, least) -> if a = r && b = c && k >= m then max best least else best) 0

    /// The largest sum of `blockLeast` over a packing of the rows × cols lattice by blocks of up to 8 × 8 sites laid
    /// out as a grid (the rows cut into strips, the columns into strips, one block per pair): a lower bound on the
    /// number of bonds any plan slices when every intermediate keeps at most m unsliced bonds.
    let packing (rows: int) (cols: int) (m: int) =
        let widest = minima @ wideBounds |> List.map (fun (_, b, _, _) -> b) |> List.max
        // Every multiset of row-strip heights summing to rows (parts 1 .. widest), then the best column strips by a
        // dynamic programme over the columns.
        let rec strips left largest : int list list =
            if left = 0 then [ [] ]
            else [ for h in min largest left .. -1 .. 1 do for rest in strips (left - h) h -> h :: rest ]
        strips rows widest
        |> List.map (fun heights ->
            let best = Array.zeroCreate (cols + 1)
            for c in 1 .. cols do
                best[c] <- [ 1 .. min widest c ] |> List.map (fun w -> best[c - w] + (heights |> List.sumBy (fun h -> blockLeast h w m))) |> List.max
            best[cols])
        |> List.max
