namespace TnDsl

open System
open System.Collections.Generic
open System.Numerics

/// Lower bounds on the order-free cost (b) of sliced plans of the closed rows × cols lattice (every bond of size
/// `bond`), read through the exponent of each step (bench/results/planner.md, "Session 12 (s12-bound)"). With S
/// the sliced bonds and a step v that joins the site sets A and B into R, its term in
/// `SliceBound.leastExecuted` is c_v · bond^e_v with c_v = 1 + [some index is summed] and
/// e_v = |∂R| + d(R) + w(R): the bonds leaving R, the sliced bonds with both ends in R (dead at or below v) and the
/// unsliced bonds between A and B. Equivalently |dep(v)| + |I_v \ S|. On connected sweeps (one site at a time, each
/// next to those taken) the least (b) over every sliced set is computed exactly (`sweepLeastExact`) or bounded from
/// below by a faster relaxation (`sweepLeast`).
module SliceLower =
    /// One step's exponent, split into its parts (counts of bonds of size > 1).
    type StepExponent =
        { /// The step's node in the tree.
          Node: int
          /// |∂R|: bonds with one end in the step's sites R and one outside (or open).
          Boundary: int
          /// d(R): sliced bonds with both ends in R (at this step or below).
          Dead: int
          /// w(R): unsliced bonds summed at this step (between its two operands).
          OpenCut: int
          /// Whether some index is summed at the step (opt_einsum's second factor).
          Summed: bool }

        /// e_v = Boundary + Dead + OpenCut: the step's term in (b) is (1 or 2) × bond^e_v.
        member s.Exponent = s.Boundary + s.Dead + s.OpenCut

    /// The exponent of every step of `t` with `sliced` (index ids) sliced, in step order. Counts only indices of
    /// size > 1, so on a lattice whose bonds all have one size D the step's term in `SliceBound.leastExecuted` is
    /// (if Summed then 2 else 1) × D^Exponent (tests/TnDsl.Tests/SliceLowerTests.fs checks it).
    let exponents (p: Indexed) (t: ContractionTree) (sliced: int array) =
        let isSliced = Array.init p.Size.Length (fun i -> Array.contains i sliced)
        let counted i = p.Size[i] > 1L
        let leaves = Array.init (t.Leaves + t.Steps.Length) (fun v -> if v < t.Leaves then Set.singleton v else Set.empty)
        let steps = Cost.steps p t
        steps
        |> Array.mapi (fun s step ->
            let node = t.Leaves + s
            leaves[node] <- step.Children |> Array.fold (fun a c -> Set.union a leaves[c]) Set.empty
            let inside = leaves[node]
            // Indices carried by R's leaves: each is on the boundary (a carrier outside R, or open) or inside.
            let carried = inside |> Seq.collect (fun leaf -> p.Inputs[leaf]) |> Seq.distinct |> Seq.filter counted |> Seq.toArray
            let boundary i = p.IsOutput[i] || p.Carriers[i] |> Array.exists (fun leaf -> not (inside.Contains leaf))
            { Node = node
              Boundary = carried |> Array.filter boundary |> Array.length
              Dead = carried |> Array.filter (fun i -> isSliced[i] && not (boundary i)) |> Array.length
              OpenCut = step.Summed |> Array.filter (fun i -> counted i && not isSliced[i]) |> Array.length
              Summed = step.Summed.Length > 0 })

    /// The sites of the rows × cols grid (site r * cols + c) as neighbour bit masks (UInt128: up to 128 sites).
    let private neighbours (rows: int) (cols: int) =
        Array.init (rows * cols) (fun x ->
            let r, c = x / cols, x % cols
            [ if r > 0 then yield x - cols
              if r < rows - 1 then yield x + cols
              if c > 0 then yield x - 1
              if c < cols - 1 then yield x + 1 ]
            |> List.fold (fun (m: UInt128) y -> m ||| (UInt128.One <<< y)) UInt128.Zero)

    let private count (m: UInt128) = int (UInt128.PopCount m)

    /// A lower bound on the least order-free cost (b) of the plans of the lattice whose tree is a connected sweep
    /// (each step joins the sites taken so far with one site next to them; the first step joins two neighbours),
    /// over every sliced set S under which every intermediate keeps at most `keep` unsliced bonds (m: bond^m <=
    /// limit < bond^(m+1)); None when every such plan costs more than `ceiling` (at most Int64.MaxValue / 4). The
    /// dynamic programme runs over (R, t, d) with R the sites taken, t = |S ∩ ∂R| and d = |S ∩ E(R)|, and chooses
    /// only how many of the bonds at the new site are sliced, not which: a relaxation (every real plan is one of
    /// its paths with the same cost; planner.md proves it), far cheaper than `sweepLeastExact`. `regions` receives
    /// the number of states kept.
    let sweepLeast (rows: int) (cols: int) (bond: int) (keep: int) (ceiling: int64) (regions: int64 ref) =
        let n = rows * cols
        if n > 128 || n < 2 then invalidArg "rows" "the sweep bound takes 2 to 128 sites"
        let nb = neighbours rows cols
        let all = if n = 128 then UInt128.MaxValue else (UInt128.One <<< n) - UInt128.One
        let degree = nb |> Array.map count
        // Costs stay below Int64.MaxValue / 4 (so that three of them add without overflow); bond^k saturated above
        // the ceiling (every cost above it is pruned anyway).
        let ceiling = min ceiling (Int64.MaxValue / 4L)
        let pow = Array.init 200 (fun k -> let v = BigInteger.Pow(BigInteger bond, k) in if v > BigInteger ceiling then Int64.MaxValue else int64 v)
        let step e = if e >= pow.Length || pow[e] = Int64.MaxValue then Int64.MaxValue else 2L * pow[e]
        let boundaryOf (x: UInt128) =
            let mutable b = 0
            let mutable rest = x
            while rest <> UInt128.Zero do
                let y = int (UInt128.TrailingZeroCount rest)
                b <- b + count (nb[y] &&& (UInt128.MaxValue ^^^ x))
                rest <- rest &&& (rest - UInt128.One)
            b
        // Layer k: states (R, t * 256 + d) of k sites, each with the least cost so far.
        let mutable layer = Dictionary<struct (UInt128 * int), int64>()
        let mutable best = Int64.MaxValue
        for x in 0 .. n - 1 do
            for t in 0 .. degree[x] do
                layer[struct (UInt128.One <<< x, t * 256)] <- 0L
        let add (next: Dictionary<struct (UInt128 * int), int64>) key cost =
            match next.TryGetValue key with
            | true, c when c <= cost -> ()
            | _ -> next[key] <- cost
        for _ in 1 .. n - 1 do
            let next = Dictionary<struct (UInt128 * int), int64>()
            for KeyValue(struct (r, td), cost) in layer do
                let t, d = td / 256, td % 256
                let b = boundaryOf r
                let mutable frontier = UInt128.Zero
                let mutable rest = r
                while rest <> UInt128.Zero do
                    let y = int (UInt128.TrailingZeroCount rest)
                    frontier <- frontier ||| nb[y]
                    rest <- rest &&& (rest - UInt128.One)
                frontier <- frontier &&& (UInt128.MaxValue ^^^ r)
                while frontier <> UInt128.Zero do
                    let x = int (UInt128.TrailingZeroCount frontier)
                    frontier <- frontier &&& (frontier - UInt128.One)
                    let a = count (nb[x] &&& r)
                    let outward = degree[x] - a
                    let here = step (b + outward + d)
                    if here <> Int64.MaxValue && cost + here <= ceiling then
                        let r' = r ||| (UInt128.One <<< x)
                        let b' = b - a + outward
                        // s: sliced bonds between R and x (among R's t sliced boundary bonds, and the a - s unsliced
                        // among its b - t unsliced ones); o: sliced bonds from x to the sites not yet taken.
                        for s in max 0 (a - (b - t)) .. min a t do
                            for o in 0 .. outward do
                                let t', d' = t - s + o, d + s
                                if r' = all then
                                    if t' = 0 then best <- min best (cost + here)
                                elif b' - t' <= keep then
                                    let following = step (b' + d')
                                    if following <> Int64.MaxValue && cost + here + following <= ceiling then
                                        add next (struct (r', t' * 256 + d')) (cost + here)
            regions.Value <- regions.Value + int64 next.Count
            layer <- next
        if best = Int64.MaxValue then None else Some(BigInteger best)

    /// The bonds of the rows × cols grid, (site, site) with the smaller first, numbered row by row.
    let private gridBonds (rows: int) (cols: int) =
        [| for r in 0 .. rows - 1 do
               for c in 0 .. cols - 1 do
                   if c < cols - 1 then yield r * cols + c, r * cols + c + 1
                   if r < rows - 1 then yield r * cols + c, (r + 1) * cols + c |]

    /// A set of bonds (up to 256) as two UInt128 words, and its operations.
    type private BondSet = (struct (UInt128 * UInt128))

    let private contains (struct (low: UInt128, high: UInt128): BondSet) (k: int) =
        let word, bit = (if k < 128 then low, k else high, k - 128)
        (word >>> bit) &&& UInt128.One = UInt128.One

    let private flip (struct (low: UInt128, high: UInt128): BondSet) (k: int) : BondSet =
        if k < 128 then struct (low ^^^ (UInt128.One <<< k), high) else struct (low, high ^^^ (UInt128.One <<< (k - 128)))

    let private size (struct (low: UInt128, high: UInt128): BondSet) = int (UInt128.PopCount low) + int (UInt128.PopCount high)

    /// `sweepLeast` without the relaxation: the dynamic programme keeps which of the taken sites' boundary bonds are
    /// sliced (states (R, S ∩ ∂R, d)) and tries every subset of the new site's outward bonds, so its least cost is
    /// exactly the least order-free cost, over every sliced set, of the connected sweeps of the lattice (their
    /// executed cost in the best loop order); None when every one costs more than `ceiling`.
    let sweepLeastExact (rows: int) (cols: int) (bond: int) (keep: int) (ceiling: int64) (regions: int64 ref) =
        let n = rows * cols
        let bonds = gridBonds rows cols
        if n > 128 || n < 2 || bonds.Length > 256 then invalidArg "rows" "the sweep bound takes 2 to 128 sites"
        let nb = neighbours rows cols
        let all = if n = 128 then UInt128.MaxValue else (UInt128.One <<< n) - UInt128.One
        // Per site: (neighbour, bond number).
        let around = Array.init n (fun x -> bonds |> Array.indexed |> Array.choose (fun (k, (a, b)) -> if a = x then Some(b, k) elif b = x then Some(a, k) else None))
        let ceiling = min ceiling (Int64.MaxValue / 4L)
        let pow = Array.init 200 (fun k -> let v = BigInteger.Pow(BigInteger bond, k) in if v > BigInteger ceiling then Int64.MaxValue else int64 v)
        let step e = if e >= pow.Length || pow[e] = Int64.MaxValue then Int64.MaxValue else 2L * pow[e]
        let taken (r: UInt128) y = (r >>> y) &&& UInt128.One = UInt128.One
        let boundaryOf (r: UInt128) = bonds |> Array.sumBy (fun (a, b) -> if taken r a <> taken r b then 1 else 0)
        let mutable layer = Dictionary<struct (UInt128 * BondSet * int), int64>()
        for x in 0 .. n - 1 do
            for subset in 0 .. (1 <<< around[x].Length) - 1 do
                let mutable s : BondSet = struct (UInt128.Zero, UInt128.Zero)
                around[x] |> Array.iteri (fun j (_, k) -> if subset &&& (1 <<< j) <> 0 then s <- flip s k)
                layer[struct (UInt128.One <<< x, s, 0)] <- 0L
        let mutable best = Int64.MaxValue
        for _ in 1 .. n - 1 do
            let next = Dictionary<struct (UInt128 * BondSet * int), int64>()
            for KeyValue(struct (r, sliced, d), cost) in layer do
                let b = boundaryOf r
                let mutable frontier = UInt128.Zero
                for y in 0 .. n - 1 do
                    if taken r y then frontier <- frontier ||| nb[y]
                frontier <- frontier &&& (UInt128.MaxValue ^^^ r)
                while frontier <> UInt128.Zero do
                    let x = int (UInt128.TrailingZeroCount frontier)
                    frontier <- frontier &&& (frontier - UInt128.One)
                    let inward = around[x] |> Array.filter (fun (y, _) -> taken r y)
                    let outward = around[x] |> Array.filter (fun (y, _) -> not (taken r y))
                    let here = step (b + outward.Length + d)
                    if here <> Int64.MaxValue && cost + here <= ceiling then
                        let r' = r ||| (UInt128.One <<< x)
                        let b' = b - inward.Length + outward.Length
                        // The bonds between x and the taken sites leave the boundary; the sliced ones die.
                        let mutable kept = sliced
                        let mutable d' = d
                        for (_, k) in inward do
                            if contains sliced k then
                                kept <- flip kept k
                                d' <- d' + 1
                        for subset in 0 .. (1 <<< outward.Length) - 1 do
                            let mutable s = kept
                            outward |> Array.iteri (fun j (_, k) -> if subset &&& (1 <<< j) <> 0 then s <- flip s k)
                            if r' = all then best <- min best (cost + here)
                            elif b' - size s <= keep then
                                let following = step (b' + d')
                                if following <> Int64.MaxValue && cost + here + following <= ceiling then
                                    let key = struct (r', s, d')
                                    match next.TryGetValue key with
                                    | true, c when c <= cost + here -> ()
                                    | _ -> next[key] <- cost + here
            regions.Value <- regions.Value + int64 next.Count
            layer <- next
        if best = Int64.MaxValue then None else Some(BigInteger best)
