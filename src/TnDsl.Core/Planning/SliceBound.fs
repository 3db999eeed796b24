namespace TnDsl

open System
open System.Numerics

/// Proved lower bounds for sliced plans of the closed side × side lattice, every bond of size `bond`, under a
/// memory limit in elements (the argument, step by step, is in bench/results/planner.md, "Proved lower bounds").
/// With m the most unsliced bonds an intermediate may keep (bond^m <= limit < bond^(m+1)), n sites and |E| bonds:
/// every plan slices at least `leastSliced` bonds, and a plan slicing s bonds costs at least `leastTotalAt s`
/// flops (opt_einsum's convention), which grows with s.
module SliceBound =
    /// m: the most unsliced bonds an intermediate may keep under the limit (bond^m <= limit < bond^(m+1)).
    let keptBonds (bond: int) (limit: BigInteger) =
        let mutable m = 0
        while BigInteger.Pow(BigInteger bond, m + 1) <= limit do m <- m + 1
        m

    /// The least number of bonds any plan slices by counting: the larger of side - m (a step's result holding
    /// between n/3 and 2n/3 sites has at least `side` bonds leaving it, at most m of them unsliced) and |E| - m n
    /// (a site keeps at most 2m unsliced bonds), or |E| - floor(n/2) when m = 0 (the unsliced bonds form a matching).
    let leastSlicedCounting (side: int) (bond: int) (limit: BigInteger) =
        let n = side * side
        let edges = 2 * side * (side - 1)
        let m = keptBonds bond limit
        let keptAtMost = if m = 0 then n / 2 else m * n
        List.max [ 0; side - m; edges - keptAtMost ] |> min edges

    /// The most bonds leaving the central sets `centralSets` enumerates: side + 3 up to side 8, side + 2 beyond.
    let centralReach (side: int) = if side <= 8 then side + 3 else side + 2

    /// Every set X of sites of the side × side grid (side <= 10) with n/3 < |X| <= 2n/3 and at most
    /// `centralReach side` bonds leaving it, as its rows (bit c of row r: site (r, c)) with the number of bonds
    /// leaving it: enumerated row by row, each next row tried in order of the bonds it adds (those inside it and
    /// those to the row above), a partial set dropped once its bonds exceed the reach (they only grow) or its size
    /// leaves the range. Computed once per side.
    let private centralSetsMemo = Collections.Concurrent.ConcurrentDictionary<int, (int array * int) array>()

    /// `centralSetsMemo`'s sets (bench/results/planner.md, "Session 30 (s30-proof)": 8,436 on the 8 × 8, with 8,
    /// 9, 10 and 11 bonds leaving 12, 144, 1,192 and 7,088 of them; 2,516 on the 10 × 10: 12, 240 and 2,264).
    let centralSets (side: int) =
        if side < 2 || side > 10 then invalidArg "side" "2 .. 10"
        centralSetsMemo.GetOrAdd(side, fun side ->
            let n = side * side
            let most = centralReach side
            let full = (1 <<< side) - 1
            let lo, hi = n / 3 + 1, 2 * n / 3
            let switches = Array.init (full + 1) (fun r -> BitOperations.PopCount(uint32 ((r ^^^ (r >>> 1)) &&& (full >>> 1))))
            // Per row above (full + 1: none), the rows in order of the bonds they add, and those counts.
            let added above r = switches[r] + (if above > full then 0 else BitOperations.PopCount(uint32 (r ^^^ above)))
            let order = Array.init (full + 2) (fun above -> Array.init (full + 1) id |> Array.sortBy (added above))
            let cost = Array.init (full + 2) (fun above -> order[above] |> Array.map (added above))
            let found = ResizeArray<int array * int>()
            let rows = Array.zeroCreate side
            let rec go i bonds size =
                if i = side then (if size >= lo && size <= hi then found.Add(Array.copy rows, bonds))
                elif size <= hi && size + (side - i) * side >= lo then
                    let above = if i = 0 then full + 1 else rows[i - 1]
                    let next, adds = order[above], cost[above]
                    let mutable j = 0
                    while j < next.Length && bonds + adds[j] <= most do
                        rows[i] <- next[j]
                        go (i + 1) (bonds + adds[j]) (size + BitOperations.PopCount(uint32 next[j]))
                        j <- j + 1
            go 0 0 0
            found.ToArray())

    /// The largest block-packing count at m (`SliceBlocks.packing`) of a rectangle of the side × side grid whose
    /// sites all lie in the set given by `rows` (bit c of row r: site (r, c)); `packed` holds the counts by height
    /// and width.
    let private blockInside (side: int) (packed: int[,]) (rows: int array) =
        let mutable best = 0
        for h in 1 .. side do
            for w in 1 .. side do
                if packed[h, w] > best then
                    let mask0 = (1 <<< w) - 1
                    let mutable found = false
                    for r0 in 0 .. side - h do
                        for c0 in 0 .. side - w do
                            let mask = mask0 <<< c0
                            if not found then
                                let mutable all = true
                                for r in r0 .. r0 + h - 1 do
                                    if rows[r] &&& mask <> mask then all <- false
                                if all then found <- true
                    if found then best <- packed[h, w]
        best

    /// Whether the enumeration rules out s sliced bonds on the side × side lattice (side <= 10) at m, for
    /// m + s <= `centralReach side`: every central set N (`centralSets`) with at most m + s bonds leaving it has at least
    /// |dN| - m sliced bonds leaving it, so at most s - (|dN| - m) inside N or inside its complement; and the
    /// sliced bonds inside a rectangle of N (or of the complement) number at least its packing count (the
    /// restriction lemma, `SliceBlocks.packing`), and so do those inside N itself as a region
    /// (`SliceBlocks.leastRegion`). The count is ruled out when, for every N, the best rectangle inside N and the
    /// best inside its complement, or else the two sides as regions, need more than that.
    let private enumeratedRulesOut (side: int) (m: int) (s: int) =
        let full = (1 <<< side) - 1
        let packed = Array2D.init (side + 1) (side + 1) (fun h w -> if h = 0 || w = 0 then 0 else SliceBlocks.packing h w m)
        // Where rectangles do not suffice (lattices of side 8 or less, at most `regionsUpTo` sliced bonds off the
        // boundary, at most `regionsAtMost` such sets): the least counts of the two sides as regions
        // (`SliceBlocks.leastRegion`), each searched only as far as the case needs.
        let regionsUpTo = 3
        let mask (rows: int array) = rows |> Array.indexed |> Array.fold (fun acc (r, x) -> acc ||| (uint64 x <<< (r * side))) 0UL
        let regionLeast (rows: int array) upTo =
            match SliceBlocks.leastRegion side side (mask rows) m upTo with
            | Some(k, _) -> k
            | None -> upTo + 1
        let regionsAtMost = 300
        let left =
            if m + s > centralReach side then None
            else
                centralSets side
                |> Array.filter (fun (rows, bonds) ->
                    bonds <= m + s
                    && blockInside side packed rows + blockInside side packed (Array.map (fun r -> full ^^^ r) rows) <= s - (bonds - m))
                |> Some
        match left with
        | None -> false
        | Some left when left.Length = 0 -> true
        | Some left ->
            // At most `regionsAtMost` sets left for the region search (each takes up to seconds), or none ruled out.
            side <= 8 && left.Length <= regionsAtMost
            && left
               |> Array.forall (fun (rows, bonds) ->
                   let off = s - (bonds - m)
                   off <= regionsUpTo
                   && (let inN = regionLeast rows off
                       inN > off || inN + regionLeast (Array.map (fun r -> full ^^^ r) rows) (off - inN) > off))

    /// `bandLeast`'s counts, by (side, m).
    let private bandMemo = Collections.Concurrent.ConcurrentDictionary<struct (int * int), int>()

    /// The band bound on the number of bonds any pairwise plan of the closed side × side lattice slices when every
    /// intermediate keeps at most m unsliced bonds (bench/results/planner.md, "Session 29 (s29-proof)", Theorem 8).
    /// Every tree has a node N with n/3 < |N| <= 2n/3; with s sliced bonds at most m + s bonds leave it, and at least
    /// `side` do (Lemma 9). If exactly `side` do, N is a band of j full rows or columns: at least side - m sliced
    /// bonds lie on the line that bounds it, and the rest, s - (side - m), lie inside the two bands, each of which
    /// needs its block-packing count (`SliceBlocks.packing`, by the restriction lemma). If side + 1 do, N is a band
    /// with one notch, every sliced bond on its boundary, and the two sides contain k and side - k - 1 full columns
    /// with no sliced bond inside. A count s is ruled out when every such case needs more than s; the first count
    /// not ruled out, at least side - m, is returned (0 when m >= side). Counts with m + s >= side + 2 (other shapes)
    /// are not examined by this argument. Lemma 9's third case (neither side of N holds a full row) needs every set
    /// of the sizes involved to have more bonds leaving it than the case examined: checked here, else that case is
    /// not used. On lattices of side 10 or less a count is also ruled out by enumerating every central set with up
    /// to `centralReach` bonds leaving it (`enumeratedRulesOut`, "Session 30 (s30-proof)", Propositions 10, 11 and
    /// 13: 8 on the 8 × 8 at m = 4, 8 on the 10 × 10 at m = 5).
    let bandLeast (side: int) (m: int) =
        // Computed once per (side, m): on the 8 × 8 the region searches take minutes of CPU.
        bandMemo.GetOrAdd(struct (side, m), fun (struct (side, m)) ->
            let n = side * side
            if side < 2 || m >= side then 0
            else
                let central size = 3 * size > n && 3 * size <= 2 * n
                // The least of min(|N|, n - |N|) over the central sizes, and the fewest bonds leaving a set of that
                // many sites or more with no full row or column: r + c over r rows and c columns holding them.
                let q = [ 1 .. n - 1 ] |> List.filter central |> List.map (fun x -> min x (n - x)) |> List.min
                let spread = [ 1 .. side ] |> List.map (fun r -> r + (q + r - 1) / r) |> List.min
                let ruledOut s =
                    if m + s < side then true
                    elif m + s >= side + 2 then false
                    else
                        // |dN| = side: a band of j rows, the line's sliced bonds and the rest inside the two bands.
                        let band =
                            spread >= side + 1
                            && [ 1 .. side - 1 ]
                               |> List.forall (fun j ->
                                   not (central (j * side))
                                   || SliceBlocks.packing j side m + SliceBlocks.packing (side - j) side m > s - (side - m))
                        // |dN| = side + 1 (only when m + s = side + 1: then every sliced bond leaves N): a notched band,
                        // k full columns on N's side and side - k - 1 on the other, none with a sliced bond inside.
                        let notch =
                            m + s < side + 1
                            || (spread >= side + 2
                                && [ 1 .. side - 2 ]
                                   |> List.forall (fun k ->
                                       not ([ k * side + 1 .. k * side + side - 1 ] |> List.exists central)
                                       || max (SliceBlocks.packing side k m) (SliceBlocks.packing side (side - k - 1) m) >= 1))
                        band && notch
                let ruledOut s = ruledOut s || (side <= 10 && enumeratedRulesOut side m s)
                let mutable s = side - m
                while ruledOut s do s <- s + 1
                s)

    /// The least number of bonds any (pairwise) plan slices: the largest of `leastSlicedCounting`, the block
    /// packing bound (`SliceBlocks.packing`: the sliced bonds inside each block of a packing make the block's own
    /// grid feasible at m, and small blocks' least counts are known exactly; 20 for 10 × 10 at m = 3) and the band
    /// bound (`bandLeast`: 8 for 8 × 8 at m = 4, 8 for 10 × 10 at m = 5).
    let leastSliced (side: int) (bond: int) (limit: BigInteger) =
        let m = keptBonds bond limit
        List.max [ leastSlicedCounting side bond limit; SliceBlocks.packing side side m; bandLeast side m ]

    /// The least total flops of any plan that slices exactly `sliced` bonds: bond^sliced slices, each costing at
    /// least max(n - 1, (n/2) bond^(2 (|E| - sliced) / n)) (every step costs at least 1; the step that takes in a
    /// site at least bond^(its unsliced bonds), a step takes in at most two sites, and by convexity).
    let leastTotalAt (side: int) (bond: int) (sliced: int) =
        let n = side * side
        let edges = 2 * side * (side - 1)
        let perSlice = max (float (n - 1)) (float n / 2.0 * Math.Pow(float bond, 2.0 * float (edges - sliced) / float n))
        BigInteger.Pow(BigInteger bond, sliced) * BigInteger(Math.Floor perSlice)

    /// The least number of slices and the least total flops of any sliced plan under the limit (the total grows
    /// with the sliced count: one bond more multiplies it by `bond` and divides the per-slice bound by at most
    /// bond^(2/n)).
    let lattice (side: int) (bond: int) (limit: BigInteger) =
        let s = leastSliced side bond limit
        BigInteger.Pow(BigInteger bond, s), leastTotalAt side bond s

    /// The least sliced count at which this bound exceeds `flops` (e.g. twice the unsliced flops): a proof that
    /// every plan slices at least that many bonds would show, with the per-slice bound, that no plan costs
    /// `flops` or less. None when the proved least count already does.
    let slicedCountNeeded (side: int) (bond: int) (limit: BigInteger) (flops: BigInteger) =
        let edges = 2 * side * (side - 1)
        let least = leastSliced side bond limit
        if leastTotalAt side bond least > flops then None
        else Some(seq { least .. edges } |> Seq.tryFind (fun s -> leastTotalAt side bond s > flops) |> Option.defaultValue (edges + 1))

    // Under reuse across slices (the slices run as nested loops over the sliced indices in a loop order, outermost
    // first, and a step reruns only when a sliced index its subtree carries changes value; bench/results/planner.md,
    // "Reuse across slices: what is proved"), step v runs N_v = prod of the sizes of the indices up to its level, and
    // its flops in one slice are its unsliced flops F_v divided by the sizes of its sliced involved indices. Every
    // index a step involves is carried by a leaf below it, so N_v >= prod of the sizes of its sliced involved
    // indices, and N_v x (its flops in one slice) >= F_v: a sliced plan never executes fewer flops than the unsliced
    // tree it runs. The root depends on every sliced index, so it runs once per slice.

    /// Per step of the tree sliced over `sliced`, its flops in one slice and the sliced indices its subtree carries.
    let private dependencies (p: Indexed) (t: ContractionTree) (sliced: int array) =
        let steps = Cost.steps (PlanSlice.sliceProblem p sliced) t
        let isSliced = Array.init p.Size.Length (fun i -> Array.contains i sliced)
        let carried = Array.init (t.Leaves + t.Steps.Length) (fun _ -> Set.empty<int>)
        for leaf in 0 .. t.Leaves - 1 do
            carried[leaf] <- p.Inputs[leaf] |> Array.filter (fun i -> isSliced[i]) |> Set.ofArray
        steps
        |> Array.mapi (fun s step ->
            let node = t.Leaves + s
            carried[node] <- t.Steps[s] |> Array.map (fun c -> carried[c]) |> Set.unionMany
            step.Flops, carried[node])

    /// The product of the sizes of `indices`.
    let private sizeOf (p: Indexed) (indices: int seq) = indices |> Seq.fold (fun (f: BigInteger) i -> f * BigInteger p.Size[i]) BigInteger.One

    /// The least executed flops of the tree sliced over `sliced` under ANY loop order: each step runs at least the
    /// product of the sizes of the sliced indices its subtree carries (its level is at least their count), so the
    /// sum over steps of (its flops in one slice) x (that product) is a lower bound, met by an order exactly when
    /// every step's dependencies are a prefix of it (a plan that caches each result for every value of its
    /// dependencies would also pay exactly this). At least the tree's unsliced flops.
    let leastExecuted (p: Indexed) (t: ContractionTree) (sliced: int array) =
        dependencies p t sliced |> Array.sumBy (fun (flops, carried) -> flops * sizeOf p carried)

    /// A lower bound on the executed flops of the tree sliced over `sliced` under ANY loop order, at least
    /// `leastExecuted`, with the sliced index it takes as the innermost loop: whatever the order, its innermost index
    /// o is one of `sliced`, and every step whose subtree carries o reruns whenever o changes, so it runs once per
    /// slice (the product of every sliced size); every other step runs at least as in `leastExecuted`. The least of
    /// that sum over the choices of o (bench/results/planner.md, "Session 28 (s28-proof)"). For no sliced index,
    /// `leastExecuted` and -1.
    let innermostExecuted (p: Indexed) (t: ContractionTree) (sliced: int array) =
        let steps = dependencies p t sliced
        let slices = sizeOf p sliced
        if sliced.Length = 0 then Array.sumBy fst steps, -1
        else
            sliced
            |> Array.map (fun o ->
                steps |> Array.sumBy (fun (flops, carried) -> flops * (if carried.Contains o then slices else sizeOf p carried)), o)
            |> Array.minBy fst

    /// A lower bound on the executed flops of the tree sliced over `sliced` under ANY loop order, at least
    /// `innermostExecuted`: its argument applied again inside every subtree (bench/results/planner.md, "Session 29
    /// (s29-proof)", Lemma 7). For a node W whose subtree carries the sliced indices dep(W), let o' be the last of
    /// them in the order: every step below W whose subtree carries o' runs at least prod_{dep(W)} size times (its
    /// level is at least o''s position, and every index of dep(W) comes at or before it), and the subtrees below W
    /// that do not carry o' (disjoint, and none of those steps) are bounded the same way in turn. So
    /// R(W) = min over o' in dep(W) of [sum over W's steps carrying o' of flops x prod_{dep(W)} size
    /// + sum of R over the largest subtrees of W not carrying o'], R(W) = the flops of W's steps when dep(W) is empty,
    /// is at most the executed flops of W's steps in every order; at the root dep is every sliced index. For no
    /// sliced index, `leastExecuted`.
    let nestedInnermostExecuted (p: Indexed) (t: ContractionTree) (sliced: int array) =
        let steps = dependencies p t sliced
        let memo = Collections.Generic.Dictionary<int, BigInteger>()
        let rec bound (node: int) : BigInteger =
            if node < t.Leaves then BigInteger.Zero
            else
                match memo.TryGetValue node with
                | true, b -> b
                | _ ->
                    let carried = snd steps[node - t.Leaves]
                    let b =
                        if carried.IsEmpty then
                            let rec all v = if v < t.Leaves then BigInteger.Zero else fst steps[v - t.Leaves] + Array.sumBy all t.Steps[v - t.Leaves]
                            all node
                        else
                            let runs = sizeOf p carried
                            // Below W: a step carrying o' at W's count, the largest subtrees without o' by R.
                            let rec split (o: int) (v: int) =
                                if v < t.Leaves then BigInteger.Zero
                                else
                                    let flops, below = steps[v - t.Leaves]
                                    if below.Contains o then flops * runs + Array.sumBy (split o) t.Steps[v - t.Leaves] else bound v
                            carried |> Seq.map (fun o -> split o node) |> Seq.min
                    memo[node] <- b
                    b
        bound (ContractionTree.root t)

    /// The least executed flops under reuse of any plan of the closed lattice that slices `sliced` bonds: the root
    /// runs once per slice (bond^sliced times) and costs at least 2 flops in one slice as the product counts them:
    /// its two operands share at least one bond (the lattice is connected), and a sliced bond stays in the step at
    /// size 1 (`PlanSlice.sliceProblem`), so some index is summed and opt_einsum's factor is 2 even when every bond
    /// of the root's cut is sliced (were sliced bonds dropped from the steps, as opt_einsum and cotengra do, such a
    /// root would cost 1). Unlike `leastTotalAt` nothing more survives: the other steps may run far fewer times
    /// than the slices.
    let reuseLeastTotalAt (bond: int) (sliced: int) = BigInteger 2 * BigInteger.Pow(BigInteger bond, sliced)

    /// The least executed flops under reuse of any plan of the closed rows × cols lattice (rows, cols >= 2, at
    /// least 3 sites) that slices `sliced` >= 1 bonds, in any loop order: 4 bond^sliced, twice
    /// `reuseLeastTotalAt`. Every step whose subtree holds an end x or y of the innermost loop's bond runs once per
    /// slice (`innermostExecuted`), and two of them cost 2 flops a slice, or one 2 and two 1: the root, and the
    /// step that joins x and y (they share that bond) when it is not the root; when it is, a child of the root
    /// with two sites or more, and the other child too, or when that is a single site x, the step forming the
    /// rest of the lattice, whose operands share a bond because a grid without one site is connected
    /// (bench/results/planner.md, "Session 28 (s28-proof)").
    let reuseLeastTotalInnermost (bond: int) (sliced: int) = BigInteger 4 * BigInteger.Pow(BigInteger bond, sliced)

    /// The least sliced count from which every plan of a lattice executes more than `flops` in every loop order
    /// by `reuseLeastTotalInnermost`.
    let reuseSlicedCountAbove (bond: int) (flops: BigInteger) =
        Seq.initInfinite ((+) 1) |> Seq.find (fun s -> reuseLeastTotalInnermost bond s > flops)

    /// `lattice` under reuse: the least number of slices (unchanged: memory does not depend on the execution) and
    /// the least executed flops of any sliced plan, `reuseLeastTotalAt` at the least sliced count (it grows with
    /// the count). Also a lower bound on each plan's order-free cost (b) (`leastExecuted`).
    let reuseLattice (side: int) (bond: int) (limit: BigInteger) =
        let s = leastSliced side bond limit
        BigInteger.Pow(BigInteger bond, s), reuseLeastTotalAt bond s

    /// `reuseLattice` for plans run in a loop order (side >= 2): the least executed flops is
    /// `reuseLeastTotalInnermost` at the least sliced count, twice `reuseLattice`'s.
    let reuseLatticeAnyOrder (side: int) (bond: int) (limit: BigInteger) =
        let s = leastSliced side bond limit
        BigInteger.Pow(BigInteger bond, s), reuseLeastTotalInnermost bond s

    /// `slicedCountNeeded` under reuse: the least sliced count at which `reuseLeastTotalInnermost` exceeds `flops`
    /// (a proof that every plan slices at least that many bonds would show that no plan, reusing results across
    /// slices or not, executes `flops` or less in any loop order), or None when the proved least count already does.
    let reuseSlicedCountNeeded (side: int) (bond: int) (limit: BigInteger) (flops: BigInteger) =
        let least = leastSliced side bond limit
        if reuseLeastTotalInnermost bond least > flops then None
        else Some(max least (reuseSlicedCountAbove bond flops))
