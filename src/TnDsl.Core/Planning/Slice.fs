namespace TnDsl

open System
open System.Collections.Generic
open System.Numerics

/// A sliced plan: some summed indices are fixed to each of their values in turn, the tree is contracted once per
/// combination (a slice) with those indices at size 1, and the slices' results are added. Every intermediate of a
/// slice is smaller. The slices run as nested loops over the sliced indices in `Indices`' order (the first
/// outermost, the last fastest), and a step reruns only when a sliced index its subtree carries changes (reuse
/// across slices, `PlanSlice.levels`): the price of slicing is the work that is still repeated.
type Slicing =
    {
        /// The sliced index ids (closed indices only: the slices' results are summed), in loop order, outermost
        /// first: slice number s has the values of s written in mixed radix over these sizes, the last fastest.
        Indices: int array
        /// The number of slices: the product of the sliced indices' sizes.
        Slices: BigInteger
        /// opt_einsum flops of one slice (every step once).
        SliceFlops: BigInteger
        /// Executed flops: each step's flops in one slice times the number of times it runs under reuse
        /// (`PlanSlice.executedFlops`).
        Flops: BigInteger
        /// Flops when every step runs once per slice (no reuse): slices × flops of one slice.
        EverySliceFlops: BigInteger
        /// Executed flops over the unsliced tree's flops.
        Overhead: float
        /// The largest intermediate of one slice, in elements.
        LargestIntermediate: BigInteger
        /// Elements of the step results held for reuse: those whose consumer runs more often than they do
        /// (`PlanSlice.held`).
        Held: BigInteger
        /// The most elements alive at once: within one slice, inputs (as sliced) included, plus the held results
        /// and the result that accumulates the slices.
        Peak: BigInteger
    }

/// Choosing indices to slice so that a tree's intermediates fit a memory limit (cotengra's `SliceFinder` idea:
/// grow the sliced set greedily, each time by an index of the largest intermediate that costs the least extra
/// work, and keep the best of a few randomised passes).
module PlanSlice =
    /// The problem as one slice sees it: the sliced indices at size 1.
    let sliceProblem (p: Indexed) (indices: int array) : Indexed =
        if indices.Length = 0 then p
        else { p with Size = p.Size |> Array.mapi (fun i s -> if Array.contains i indices then 1L else s) }


    let private ratio (a: BigInteger) (b: BigInteger) =
        if b.Sign <= 0 then 1.0 else Math.Exp(BigInteger.Log a - BigInteger.Log b)

    // Reuse across slices. With the sliced indices in loop order o_1 (outermost) ... o_k, a tree node's level is
    // the largest j such that o_j is carried by a leaf of its subtree (0 when none is): the node's value changes
    // exactly when one of o_1..o_level does, so step s runs prod_{j <= level} size(o_j) times.

    /// Per tree node (leaves 0..n-1, then one per step), its level under the loop order `order` (sliced index
    /// ids, outermost first): the largest 1-based position in `order` of a sliced index carried by a leaf of the
    /// node's subtree, 0 when there is none.
    let nodeLevels (p: Indexed) (t: ContractionTree) (order: int array) : int array =
        let pos = Collections.Generic.Dictionary<int, int>()
        order |> Array.iteri (fun j i -> pos[i] <- j + 1)
        let level = Array.zeroCreate (t.Leaves + t.Steps.Length)
        for leaf in 0 .. t.Leaves - 1 do
            for i in p.Inputs[leaf] do
                match pos.TryGetValue i with
                | true, j -> level[leaf] <- max level[leaf] j
                | _ -> ()
        t.Steps |> Array.iteri (fun s children -> level[t.Leaves + s] <- children |> Array.fold (fun m c -> max m level[c]) 0)
        level

    /// Per step, its level under the loop order (`nodeLevels`): 0 when it runs once, else the 1-based position of
    /// the innermost sliced index it depends on.
    let levels (p: Indexed) (t: ContractionTree) (order: int array) : int array =
        (nodeLevels p t order)[t.Leaves ..]

    /// The number of times a step of the given level runs over all slices: the product of the sizes of the first
    /// `level` indices of the loop order (1 at level 0).
    let runs (p: Indexed) (order: int array) (level: int) : BigInteger =
        Problem.elements p order[.. level - 1]

    /// The number of times a step of the given level runs over the slices numbered [first, first + count) (in
    /// loop order, the last index fastest): the first slice of the range runs every step; after it, a step reruns
    /// when one of the first `level` indices changes, that is when the slice number crosses a multiple of the
    /// product of the sizes of the indices after position `level`. 0 when count is 0.
    let runsInRange (p: Indexed) (order: int array) (level: int) (first: BigInteger) (count: BigInteger) : BigInteger =
        if count.Sign <= 0 then BigInteger.Zero
        elif level = 0 then BigInteger.One
        else
            let inner = Problem.elements p order[level..]
            BigInteger.Divide(first + count - BigInteger.One, inner) - BigInteger.Divide(first, inner) + BigInteger.One

    // Executed flops and held elements from a sliced tree's steps (one slice's costs) and its node levels, so that
    // whoever has them computes neither again.
    let private executedOf (p: Indexed) (steps: StepCost array) (nodeLevel: int array) (order: int array) =
        let prefix = Array.scan (fun (a: BigInteger) i -> a * BigInteger p.Size[i]) BigInteger.One order
        steps |> Array.fold (fun acc st -> acc + st.Flops * prefix[nodeLevel[st.Node]]) BigInteger.Zero

    let private heldOf (t: ContractionTree) (steps: StepCost array) (nodeLevel: int array) =
        let mutable total = BigInteger.Zero
        for st in steps do
            for c in st.Children do
                if c >= t.Leaves && nodeLevel[c] < nodeLevel[st.Node] then total <- total + steps[c - t.Leaves].Size
        total

    /// Executed flops of the tree sliced over `order` (loop order, outermost first), each step's flops taken in
    /// one slice (the sliced indices at size 1) times the number of times it runs (`runs`).
    let executedFlops (p: Indexed) (t: ContractionTree) (order: int array) : BigInteger =
        executedOf p (Cost.steps (sliceProblem p order) t) (nodeLevels p t order) order

    /// Elements of the step results held for reuse under the loop order: a step result whose consumer has a
    /// higher level is kept while the consumer's inner loops run. Summed over every such result (a bound: not
    /// all of them are held at once), sizes in one slice.
    let held (p: Indexed) (t: ContractionTree) (order: int array) : BigInteger =
        heldOf t (Cost.steps (sliceProblem p order) t) (nodeLevels p t order)

    /// The largest sliced set whose loop order `bestOrder` chooses exactly (dynamic programming over the subsets
    /// of the sliced indices: 2^k k operations); larger sets get a greedy order, innermost first.
    let exactOrderUpTo = 12

    // The exact loop order (`orderOf`'s subset programme) of k sliced indices at positions 0..k-1 (in increasing id):
    // `mask[s]`, the positions step s depends on as bits; `flops[s]`, its one-slice flops; `sizeOf j`, the size of
    // the index at position j. The positions in loop order, outermost first.
    let private exactOrder (k: int) (mask: int array) (flops: float array) (sizeOf: int -> float) : int array =
        let full = (1 <<< k) - 1
        let g = Array.zeroCreate<float> (full + 1)
        for s in 0 .. flops.Length - 1 do
            g[mask[s]] <- g[mask[s]] + flops[s]
        for b in 0 .. k - 1 do
            for m in 0 .. full do
                if m &&& (1 <<< b) <> 0 then g[m] <- g[m] + g[m ^^^ (1 <<< b)]
        let size = Array.create (full + 1) 1.0
        for m in 1 .. full do
            let low = m &&& -m
            size[m] <- size[m ^^^ low] * sizeOf (Numerics.BitOperations.TrailingZeroCount low)
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
            order[j] <- last[m]
            m <- m ^^^ (1 <<< last[m])
        order

    // The greedy loop order (`orderOf`'s, beyond the exact one) of k sliced indices numbered 0..k-1 in any order:
    // `deps[q][s]`, word q of the bit set of the numbers step s depends on; `stepsOf[x]`, the steps that depend on x,
    // in increasing order; `byId`, the numbers in increasing index id (ties go to the lower id). The numbers in loop
    // order, outermost first. Each weight gets the same additions and subtractions in the same order as with a list
    // of numbers per step, so the same floats and the same order. A step retires when the innermost index it
    // depends on is placed, so `level[s]` gets its level (`nodeLevels`; 0 when it depends on none).
    let private greedyOrder (k: int) (deps: uint64 array array) (flops: float array) (stepsOf: int array array) (byId: int array) (level: int array) : int array =
        let words = (k + 63) / 64
        let weight = Array.zeroCreate<float> k
        // Adds `sign * flops[s]` to the weight of each number step s depends on.
        let one = deps[0]
        let inline spread (s: int) (sign: float) =
            let f = sign * flops[s]
            if words = 1 then
                let mutable w = one[s]
                while w <> 0UL do
                    let j = Numerics.BitOperations.TrailingZeroCount w
                    weight[j] <- weight[j] + f
                    w <- w &&& (w - 1UL)
            else
                for q in 0 .. words - 1 do
                    let mutable w = deps[q][s]
                    while w <> 0UL do
                        let j = q * 64 + Numerics.BitOperations.TrailingZeroCount w
                        weight[j] <- weight[j] + f
                        w <- w &&& (w - 1UL)
        // Each weight summed along its steps in increasing order: the additions a scan of the steps would make.
        for j in 0 .. k - 1 do
            let mutable w = 0.0
            for s in stepsOf[j] do
                w <- w + flops[s]
            weight[j] <- w
        Array.Clear level
        let placed = Array.zeroCreate<bool> k
        let order = Array.zeroCreate k
        for slot in k - 1 .. -1 .. 0 do
            let mutable x = -1
            for j in byId do
                if not placed[j] && (x < 0 || weight[j] < weight[x]) then x <- j
            placed[x] <- true
            order[slot] <- x
            for s in stepsOf[x] do
                if level[s] = 0 then
                    level[s] <- slot + 1
                    spread s -1.0
        order

    /// The loop order of `indices` that minimises the executed flops of the tree (`executedFlops`, compared in
    /// float64). Up to `exactUpTo` indices (at most `exactOrderUpTo`) exactly: placing the indices outermost first, the steps whose
    /// sliced dependencies are all placed once index x joins the placed set S run size(S) times, so
    /// f(S) = min over x in S of f(S - x) + size(S) (g(S) - g(S - x)), g(S) the one-slice flops of the steps whose
    /// dependencies lie within S (a subset-sum transform). Beyond that, greedily from the innermost: with S the
    /// indices not yet placed, every step whose dependencies lie within S and include x runs size(S) times when x is
    /// the innermost of S; the x whose still unplaced dependent steps weigh least goes innermost, its steps are
    /// retired, and so on outwards (exact when the steps' dependencies are nested; linear in the steps' dependency
    /// sets, held as bit sets: a pairwise-swap search here cost the slicers seconds per plan at 50 sliced bonds).
    /// Deterministic (ties: the lower position first). About 1 ms at 12 indices on a 6x6 lattice's tree.
    /// `steps` are the tree's steps sliced over `indices` (one slice's costs).
    let private orderOf (exactUpTo: int) (p: Indexed) (t: ContractionTree) (indices: int array) (steps: StepCost array) : int array =
        let k = indices.Length
        if k <= 1 then Array.copy indices
        else
            let idx = Array.sort indices
            let flops = steps |> Array.map (fun s -> float s.Flops)
            // Per node, the positions (in idx) of the sliced indices its subtree carries, as bit sets.
            let n = t.Leaves
            if k <= min exactUpTo exactOrderUpTo then
                let mask = Array.zeroCreate<int> (n + t.Steps.Length)
                for leaf in 0 .. n - 1 do
                    for i in p.Inputs[leaf] do
                        let j = Array.BinarySearch(idx, i)
                        if j >= 0 then mask[leaf] <- mask[leaf] ||| (1 <<< j)
                t.Steps |> Array.iteri (fun s ch -> mask[n + s] <- ch |> Array.fold (fun m c -> m ||| mask[c]) 0)
                exactOrder k mask[n..] flops (fun j -> float p.Size[idx[j]]) |> Array.map (fun j -> idx[j])
            else
                let words = (k + 63) / 64
                let carried = Array.init words (fun _ -> Array.zeroCreate<uint64> (n + t.Steps.Length))
                for leaf in 0 .. n - 1 do
                    for i in p.Inputs[leaf] do
                        let j = Array.BinarySearch(idx, i)
                        if j >= 0 then carried[j / 64][leaf] <- carried[j / 64][leaf] ||| (1UL <<< (j % 64))
                t.Steps |> Array.iteri (fun s ch ->
                    for q in 0 .. words - 1 do
                        carried[q][n + s] <- ch |> Array.fold (fun w c -> w ||| carried[q][c]) 0UL)
                let deps = carried |> Array.map (fun a -> a[n..])
                let stepsOf = Array.init k (fun _ -> ResizeArray<int>())
                for s in 0 .. t.Steps.Length - 1 do
                    for j in 0 .. k - 1 do
                        if deps[j / 64][s] &&& (1UL <<< (j % 64)) <> 0UL then stepsOf[j].Add s
                greedyOrder k deps flops (stepsOf |> Array.map (fun l -> l.ToArray())) (Array.init k id) (Array.zeroCreate t.Steps.Length)
                |> Array.map (fun j -> idx[j])

    /// The operations `bestOrder` does for `k` sliced indices on a tree of `steps` steps, beyond costing the sliced
    /// tree: the set-up of the steps' dependencies (one per step) and, up to `exactOrderUpTo` indices, the subset
    /// programme's 2 k 2^k (the subset-sum transform and the minimisation over the last index placed), or beyond it
    /// the greedy order's k (k + steps), thrice (its dependency lists are built with allocation: measured 2-6x the
    /// programme's time per operation). None for one index or none. What a search under a budget of counted work
    /// counts as `PlanHyper.Work.Orders` per loop order it chooses.
    let orderOps (steps: int) (k: int) : float =
        if k <= 1 then 0.0
        elif k <= exactOrderUpTo then float steps + 2.0 * float k * Math.Pow(2.0, float k)
        else 3.0 * (float steps + float k * float (k + steps))

    /// The loop order of `indices` that minimises the tree's executed flops: exact up to `exactUpTo` indices (at most
    /// `exactOrderUpTo`), greedy beyond (`orderOf` says how).
    let bestOrderWith (exactUpTo: int) (p: Indexed) (t: ContractionTree) (indices: int array) : int array =
        orderOf exactUpTo p t indices (Cost.steps (sliceProblem p indices) t)

    /// `bestOrderWith exactOrderUpTo`: exact up to 12 indices.
    let bestOrder (p: Indexed) (t: ContractionTree) (indices: int array) : int array =
        bestOrderWith exactOrderUpTo p t indices

    // The figures of a tree sliced over `order` (the loop order), from its steps sliced over the same indices.
    let private figuresOf (p: Indexed) (t: ContractionTree) (order: int array) (steps: StepCost array) : Slicing =
        let q = sliceProblem p order
        let nodeLevel = nodeLevels p t order
        let c = Cost.ofSteps q t steps
        let slices = Problem.elements p order
        let unsliced = Cost.flops p t
        let output = Problem.elements p p.Output
        let executed = executedOf p steps nodeLevel order
        let held = heldOf t steps nodeLevel
        { Indices = Array.copy order
          Slices = slices
          SliceFlops = c.Flops
          Flops = executed
          EverySliceFlops = c.Flops * slices
          Overhead = ratio executed unsliced
          LargestIntermediate = c.LargestIntermediate
          Held = held
          Peak = c.Peak + held + (if order.Length > 0 then output else BigInteger.Zero) }

    /// The figures of a tree sliced over `order`, taken as the loop order (outermost first).
    let figuresInOrder (p: Indexed) (t: ContractionTree) (order: int array) : Slicing =
        figuresOf p t order (Cost.steps (sliceProblem p order) t)

    /// The figures of a tree sliced over `indices`, in the loop order that minimises its executed flops
    /// (`bestOrder`).
    let figures (p: Indexed) (t: ContractionTree) (indices: int array) : Slicing =
        let steps = Cost.steps (sliceProblem p indices) t
        figuresOf p t (orderOf exactOrderUpTo p t indices steps) steps

    /// Executed flops of the tree sliced over `indices` in its best loop order (`bestOrder`): what the greedy
    /// slicers score candidates by. (A cheaper order beyond 10 indices, tried, made auto's plan of the 6x6 lattice
    /// with D = 3 at 72 elements 3.5x dearer for 15% less search.)
    let flopsOf (p: Indexed) (t: ContractionTree) (indices: int array) : BigInteger =
        let steps = Cost.steps (sliceProblem p indices) t
        let order = orderOf exactOrderUpTo p t indices steps
        executedOf p steps (nodeLevels p t order) order

    /// One slice's step costs of a tree sliced over one index more, `i`, from those without it: a step's flops are a
    /// product of its indices' sizes, so those of the steps that involve `i` are divided by its size, exactly.
    let slicedFurther (p: Indexed) (steps: StepCost array) (i: int) =
        let size = BigInteger p.Size[i]
        steps |> Array.map (fun st -> if Array.contains i st.Involved then { st with Flops = st.Flops / size } else st)

    /// One tree as a greedy slicer sees it while its sliced set grows one index at a time: each step's one-slice
    /// flops and result size, updated in place when an index is sliced (a step's figures are products of its
    /// indices' sizes, so slicing one more index divides those of the steps that involve or keep it, exactly), and
    /// per step the sliced indices its subtree carries, as a bit set over the order of slicing. From these,
    /// `Executed i` is `flopsOf p t (sliced @ [i])`, the same value, without costing the tree or building its
    /// steps' dependency lists again per candidate or per round: the tree is costed once, each index's dependent
    /// steps found once (walking up from its carriers), and a candidate's loop order is `orderOf`'s, from the same
    /// floats in the same order. One-slice flops are summed per level in int64 where the tree's unsliced flops fit it
    /// (slicing only divides them), else in BigInteger. Not thread-safe: one per pass.
    type Scorer(p: Indexed, t: ContractionTree) =
        let n = t.Leaves
        let m = t.Steps.Length
        let steps = Cost.steps p t
        let flops = steps |> Array.map (fun st -> st.Flops)
        let flopsF = flops |> Array.map float
        let size = steps |> Array.map (fun st -> st.Size)
        // Where the tree's unsliced flops fit an int64, so does every sum of one-slice flops: the steps' flops are
        // kept as int64 (`flops` is then left as it was), else as BigInteger.
        let narrow = Array.sum flops <= BigInteger Int64.MaxValue
        let flops64 = if narrow then flops |> Array.map int64 else [||]
        // The float of an int64 as the float of its BigInteger (exact below 2^53, as every integer there is).
        let toFloat (f: int64) = if f < (1L <<< 53) then float f else float (BigInteger f)
        let parent = Array.create (n + m) -1
        do t.Steps |> Array.iteri (fun s ch -> for c in ch do parent[c] <- n + s)
        let involvedBy = Array.init p.Size.Length (fun _ -> ResizeArray<int>())
        let keptBy = Array.init p.Size.Length (fun _ -> ResizeArray<int>())
        do
            for st in steps do
                for i in st.Involved do involvedBy[i].Add(st.Node - n)
                for i in st.Kept do keptBy[i].Add(st.Node - n)
        // Per index, the steps whose subtree carries it (the ancestors of its carriers), in increasing order; found
        // when first asked for.
        let dependentsOf = Array.zeroCreate<int array> p.Size.Length
        let mark = Array.create m -1
        let dependents (i: int) =
            if isNull dependentsOf[i] then
                let found = ResizeArray<int>()
                for c in p.Carriers[i] do
                    let mutable v = parent[c]
                    while v >= 0 && mark[v - n] <> i do
                        mark[v - n] <- i
                        found.Add(v - n)
                        v <- parent[v]
                let a = found.ToArray()
                Array.sortInPlace a
                dependentsOf[i] <- a
            dependentsOf[i]
        let sliced = ResizeArray<int>()
        let isSliced = Array.zeroCreate<bool> p.Size.Length
        // deps[q][s]: word q of the bit set of the slots (positions in `sliced`) that step s depends on.
        let deps = ResizeArray<uint64 array>()
        // Per step, its level under the candidate's loop order.
        let level = Array.zeroCreate<int> m
        let setSlot (slot: int) (on: bool) (d: int array) =
            if slot / 64 >= deps.Count then deps.Add(Array.zeroCreate m)
            let word = deps[slot / 64]
            let bit = 1UL <<< (slot % 64)
            for s in d do
                word[s] <- if on then word[s] ||| bit else word[s] &&& ~~~bit
        // Divides the one-slice flops of the steps that involve index i by its size.
        let divide (i: int) =
            if narrow then
                let by = p.Size[i]
                for s in involvedBy[i] do
                    flops64[s] <- flops64[s] / by
                    flopsF[s] <- toFloat flops64[s]
            else
                let by = BigInteger p.Size[i]
                for s in involvedBy[i] do
                    flops[s] <- flops[s] / by
                    flopsF[s] <- float flops[s]

        /// The number of indices sliced.
        member _.Count = sliced.Count

        /// Slices one more index.
        member _.Slice(i: int) =
            setSlot sliced.Count true (dependents i)
            sliced.Add i
            isSliced[i] <- true
            divide i
            let by = BigInteger p.Size[i]
            for s in keptBy[i] do
                size[s] <- size[s] / by

        /// `overLimit` of the tree's steps sliced over the set: the largest intermediate and the closed, not yet
        /// sliced indices a largest intermediate keeps, in id order.
        member _.OverLimit() : BigInteger * int array =
            let largest = size |> Array.fold (fun a b -> BigInteger.Max(a, b)) BigInteger.Zero
            let candidates = HashSet<int>()
            for s in 0 .. m - 1 do
                if size[s] = largest then
                    for i in steps[s].Kept do
                        if not p.IsOutput[i] && not isSliced[i] then candidates.Add i |> ignore
            let a = Seq.toArray candidates
            Array.sortInPlace a
            largest, a

        /// `flopsOf p t (Array.append sliced [| i |])` for an index i not sliced: executed flops in the best loop order.
        member _.Executed(i: int) : BigInteger =
            let k = sliced.Count + 1
            let slot = k - 1
            let idOf j = if j = slot then i else sliced[j]
            let d = dependents i
            setSlot slot true d
            // The candidate's one-slice flops, undone below.
            let inv = involvedBy[i]
            let saved64 = if narrow then Array.init inv.Count (fun j -> flops64[inv[j]]) else [||]
            let saved = if narrow then [||] else Array.init inv.Count (fun j -> flops[inv[j]])
            let savedF = Array.init inv.Count (fun j -> flopsF[inv[j]])
            divide i
            let byId = Array.init k id
            Array.sortInPlaceBy idOf byId
            // The loop order and each step's level (`nodeLevels`).
            let order =
                if k <= exactOrderUpTo then
                    let rank = Array.zeroCreate<int> k
                    byId |> Array.iteri (fun r j -> rank[j] <- r)
                    let word = deps[0]
                    let mask =
                        Array.init m (fun s ->
                            let mutable w = word[s]
                            let mutable mk = 0
                            while w <> 0UL do
                                mk <- mk ||| (1 <<< rank[Numerics.BitOperations.TrailingZeroCount w])
                                w <- w &&& (w - 1UL)
                            mk)
                    let order = exactOrder k mask flopsF (fun r -> float p.Size[idOf byId[r]])
                    // The level of a set of positions: the loop position of its innermost.
                    let pos = Array.zeroCreate<int> k
                    order |> Array.iteri (fun l r -> pos[r] <- l + 1)
                    let ofMask = Array.zeroCreate<int> (1 <<< k)
                    for mk in 1 .. (1 <<< k) - 1 do
                        let low = mk &&& -mk
                        ofMask[mk] <- max ofMask[mk ^^^ low] pos[Numerics.BitOperations.TrailingZeroCount low]
                    for s in 0 .. m - 1 do
                        level[s] <- ofMask[mask[s]]
                    order |> Array.map (fun r -> byId[r])
                else
                    let stepsOf = Array.init k (fun j -> if j = slot then d else dependentsOf[sliced[j]])
                    greedyOrder k (deps.ToArray()) flopsF stepsOf byId level
            // One-slice flops per level; the executed flops are their sum, each times the runs of its level, the
            // product of the sizes of the first `level` indices in loop order (Horner's rule from the innermost).
            let total =
                if narrow then
                    let sums = Array.zeroCreate<int64> (k + 1)
                    for s in 0 .. m - 1 do
                        sums[level[s]] <- sums[level[s]] + flops64[s]
                    // In Int128 while a float estimate of the result stays far below its range (2^127, about 1.7e38),
                    // then in BigInteger.
                    let mutable small = Int128.op_Implicit sums[k]
                    let mutable estimate = float sums[k]
                    let mutable l = k - 1
                    while l >= 0 && estimate * float p.Size[idOf order[l]] + float sums[l] < 1e37 do
                        let size = p.Size[idOf order[l]]
                        small <- small * Int128.op_Implicit size + Int128.op_Implicit sums[l]
                        estimate <- estimate * float size + float sums[l]
                        l <- l - 1
                    let mutable total = BigInteger.op_Implicit small
                    while l >= 0 do
                        total <- total * BigInteger p.Size[idOf order[l]] + BigInteger sums[l]
                        l <- l - 1
                    total
                else
                    let sums = Array.create (k + 1) BigInteger.Zero
                    for s in 0 .. m - 1 do
                        sums[level[s]] <- sums[level[s]] + flops[s]
                    let mutable total = sums[k]
                    for l in k - 1 .. -1 .. 0 do
                        total <- total * BigInteger p.Size[idOf order[l]] + sums[l]
                    total
            // Undo the candidate.
            inv |> Seq.iteri (fun j s ->
                if narrow then flops64[s] <- saved64[j] else flops[s] <- saved[j]
                flopsF[s] <- savedF[j])
            setSlot slot false d
            total

        /// `prune p limit t sliced`, from the sizes at hand: each sliced index (the earliest sliced first) unsliced
        /// when every intermediate stays within the limit without it. What is left sliced.
        member _.Prune(limit: BigInteger) : int array =
            let keeps = Array.zeroCreate<bool> m
            let kept = ResizeArray<int>(sliced)
            for i in sliced do
                for s in keptBy[i] do keeps[s] <- true
                let by = BigInteger p.Size[i]
                let mutable largest = BigInteger.One
                for s in 0 .. m - 1 do
                    largest <- BigInteger.Max(largest, (if keeps[s] then size[s] * by else size[s]))
                if largest <= limit then
                    kept.Remove i |> ignore
                    for s in keptBy[i] do size[s] <- size[s] * by
                for s in keptBy[i] do keeps[s] <- false
            kept.ToArray()

    /// `flopsOf p t (Array.append sliced [| i |])` for each candidate i, the same values from one costing of the tree
    /// (`Scorer`): a step's flops and size are products of its indices' sizes, so slicing one more index divides
    /// those of the steps that involve it by its size (exactly), and the tree's steps need not be costed again per
    /// candidate. Each candidate still gets its own best loop order. What the greedy slicers score their candidates
    /// with, each round.
    let flopsOfEach (p: Indexed) (t: ContractionTree) (sliced: int array) (candidates: int array) : BigInteger array =
        let scorer = Scorer(p, t)
        for i in sliced do
            scorer.Slice i
        candidates |> Array.map scorer.Executed

    /// The largest intermediate of a (sliced) tree's steps, and the indices that could be sliced to shrink it: the
    /// closed, not yet sliced indices that a largest intermediate keeps, in id order.
    let overLimit (p: Indexed) (steps: StepCost array) (sliced: int array) : BigInteger * int array =
        let largest = steps |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.Zero
        let candidates =
            steps
            |> Array.filter (fun s -> s.Size = largest)
            |> Array.collect (fun s -> s.Kept)
            |> Array.distinct
            |> Array.filter (fun i -> not p.IsOutput[i] && not (Array.contains i sliced))
            |> Array.sort
        largest, candidates

    /// The sliced indices that the tree still needs: each index (the earliest sliced first) is unsliced when every
    /// intermediate stays within the limit without it. Unslicing never adds executed flops: in the same loop order
    /// less the index, a step that involves it does the same work in fewer runs, one that depends on it without
    /// involving it (the index was summed below) runs fewer times, the others run as often or fewer times; the
    /// best order does no worse. (A greedy slicer picks an index for
    /// the largest intermediate of its round; a later pick, or a tree adapted to it, can make it unnecessary.)
    let prune (p: Indexed) (limit: BigInteger) (tree: ContractionTree) (sliced: int array) : int array =
        let fits (ix: int array) = Cost.largestIntermediate (sliceProblem p ix) tree <= limit
        sliced |> Array.fold (fun kept i -> let without = kept |> Array.filter ((<>) i) in if fits without then without else kept) sliced

    /// The loop every greedy slicer shares: from nothing sliced, while an intermediate of the tree is over the
    /// limit, slice the index `choose tree sliced candidates` picks among the closed indices of a largest
    /// intermediate, and let `adapt tree sliced` fit the tree to what is now sliced; the indices the final tree
    /// does not need are then unsliced (`prune`). The tree and the sliced indices, or None when an intermediate over
    /// the limit has no closed index left or after `maxRounds` rounds.
    let grow (p: Indexed) (limit: BigInteger) (maxRounds: int) (choose: ContractionTree -> int array -> int array -> int)
             (adapt: ContractionTree -> int array -> ContractionTree) (tree: ContractionTree) =
        let rec go tree sliced round =
            let largest, candidates = overLimit p (Cost.steps (sliceProblem p sliced) tree) sliced
            if largest <= limit then Some(tree, prune p limit tree sliced)
            elif round > maxRounds || candidates.Length = 0 then None
            else
                let next = Array.append sliced [| choose tree sliced candidates |]
                go (adapt tree next) next (round + 1)
        go tree [||] 0

    /// The share of an exact costing of the tree (`PlanHyper.Work.Steps`) that scoring one candidate index of a greedy
    /// slicer's round counts: 0.01. Since session 20 every slicer scores its candidates on a `Scorer` (one costing per
    /// round or pass, then per candidate a division of the steps that involve it and its loop order, counted apart at
    /// `candidateOrderWeight`): one candidate so scored takes 0.5-6 us of CPU with a few indices sliced where a
    /// costing of the same tree takes 3-540 us, and fitted over the greedy slicer's passes on 40 trees (`cands
    /// slicers threads=1`, bench/results/planner.md, session 21) a candidate is 0.004-0.005 of a costing plus its loop
    /// order, on the scale of hyper's trials. Before, the greedy slicer counted a whole costing per candidate and the
    /// reconfiguring slicers a quarter: 10-100x the CPU.
    let candidateCosting = 0.01

    /// The weight of a candidate's loop order (`orderOps` at `PlanHyper.Work.Rates`) in a greedy slicer's count:
    /// 0.5 (fitted 0.39 and 1.13 on the scale of hyper's trials in two runs, at load 6 and 11, `candidateCosting`).
    /// The candidate's order is most of its CPU once several indices are sliced; session 15 weighed it at 3 against
    /// costings, which count 3-5x their own CPU.
    let candidateOrderWeight = 0.5

    /// The share of an exact costing of the tree that one round of a greedy pass on a `Scorer` counts beside its
    /// candidates: 0.05 (the largest intermediate found and one index sliced in place: the rest of a pass took
    /// 0.02-0.14 of its costings counted one a round, `cands slicers`). The pass's own costing, when it builds its
    /// scorer, counts whole.
    let roundCosting = 0.05

    /// One greedy pass: while an intermediate is over the limit, slice the closed index of a largest
    /// intermediate that leaves the least executed flops (log2 flops plus Gumbel noise of the given temperature
    /// when it is positive; ties: the larger index, then the lower id).
    let private greedyPass (costings: float ref) (orders: float ref) (p: Indexed) (t: ContractionTree) (limit: BigInteger) (temperature: float) (rng: Random) =
        let lf (b: BigInteger) = if b.Sign <= 0 then 0.0 else BigInteger.Log(b, 2.0)
        // `grow` with the tree as is, on one `Scorer` for the whole pass: the same rounds and the same set.
        let scorer = Scorer(p, t)
        let rec go () =
            let largest, candidates = scorer.OverLimit()
            if largest <= limit then Some(scorer.Prune limit)
            elif candidates.Length = 0 then None
            else
                // The round on the scorer, then each candidate with its loop order (`roundCosting`,
                // `candidateCosting` and `candidateOrderWeight`: what they take of CPU, in costings of the tree).
                costings.Value <- costings.Value + roundCosting + candidateCosting * float candidates.Length
                orders.Value <- orders.Value + candidateOrderWeight * float candidates.Length * orderOps t.Steps.Length (scorer.Count + 1)
                let flops = candidates |> Array.map scorer.Executed
                let scored =
                    candidates
                    |> Array.mapi (fun c i ->
                        let flops = flops[c]
                        let noise = if temperature > 0.0 then -temperature * Math.Log(-Math.Log(max 1e-300 (rng.NextDouble()))) else 0.0
                        struct (lf flops + noise, -p.Size[i], i))
                let struct (_, _, best) = scored |> Array.min
                scorer.Slice best
                go ()
        go ()

    /// Indices to slice so that every intermediate of the tree has at most `limit` elements, or None when no
    /// choice of closed indices can get there (an intermediate over the limit made of open indices only). The
    /// best (least executed flops, then fewest indices) of a deterministic greedy pass and `repeats` - 1 passes
    /// with noise, each seeded by its number, so the choice is reproducible. Each pass slices, while an
    /// intermediate is over the limit, the closed index of a largest one that leaves the least executed flops.
    /// `costings` counts its work in exact costings of the whole tree (one per pass, which builds its scorer, and
    /// `roundCosting` per round and `candidateCosting` per candidate index scored), the work a search that scores
    /// trees by their sliced flops pays for; `orders` the operations of the loop orders it chooses (`orderOps`: one
    /// per candidate scored, at `candidateOrderWeight`, and one per pass's result).
    /// With `inParallel`, the passes run on the thread pool: each is seeded by its number and counted on its own, so
    /// the choice and the counts are the same as run one after another.
    /// With `stop` (a wall-clock limit), the passes after the first start only while it says go on.
    let findStoppingWith (stop: unit -> bool) (inParallel: bool) (costings: float ref) (orders: float ref) (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        let pass r =
            if r > 0 && stop () then 0.0, 0.0, None
            else
                let passCostings = ref 1.0
                let passOrders = ref 0.0
                let found =
                    greedyPass passCostings passOrders p t limit (if r = 0 then 0.0 else 0.5) (Random(r * 7919 + 1))
                    |> Option.map (fun ix ->
                        passOrders.Value <- passOrders.Value + orderOps t.Steps.Length ix.Length
                        (flopsOf p t ix, ix.Length, r), ix)
                passCostings.Value, passOrders.Value, found
        let runs = [| 0 .. max 1 repeats - 1 |] |> (if inParallel then Array.Parallel.map pass else Array.map pass)
        for c, o, _ in runs do
            costings.Value <- costings.Value + c
            orders.Value <- orders.Value + o
        let passes = runs |> Array.choose (fun (_, _, found) -> found)
        if passes.Length = 0 then None else Some(passes |> Array.minBy fst |> snd)

    /// `findStoppingWith` without a stop.
    let findCountedOrdersWith (inParallel: bool) (costings: float ref) (orders: float ref) (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        findStoppingWith (fun () -> false) inParallel costings orders repeats p t limit

    /// `findCountedOrdersWith` with the passes one after another.
    let findCountedOrders (costings: float ref) (orders: float ref) (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        findCountedOrdersWith false costings orders repeats p t limit

    /// `findCountedOrders` without the counts.
    let findWith (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        findCountedOrders (ref 0.0) (ref 0.0) repeats p t limit

    /// `findWith` with eight passes.
    let find (p: Indexed) (t: ContractionTree) (limit: BigInteger) = findWith 8 p t limit
