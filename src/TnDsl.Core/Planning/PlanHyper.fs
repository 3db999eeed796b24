namespace TnDsl

open System
open System.Collections.Generic
open System.Diagnostics
open System.Numerics
open System.Threading
open System.Threading.Tasks

/// `hyper`: a search over the hyperparameters of the tree builders (cotengra's hyper-optimiser, in its simplest
/// honest form). Each trial samples a builder and its settings, greedy (cost weight alpha, Boltzmann temperature,
/// memory-removed or flops-first cost) or recursive min-cut partitioning (piece size, balance, greedy or exact
/// pieces), builds a tree, reconfigures it (`reconfigure`, subtrees of 8) and scores it by the objective (sliced
/// when a memory limit is set and slicing is allowed); the best two are then polished over subtrees of 10.
/// Trial t draws from its own generator seeded by (seed, t) and the best is chosen by (score, trial), so with a
/// trial count and no time limit the result is the same on any machine and any number of cores.
module PlanHyper =
    /// A sampled way of building a tree.
    type Builder =
        /// Greedy with the memory-removed cost `size(out) - alpha (size(a) + size(b))` (or flops first), with
        /// Gumbel noise of the given temperature.
        | Greedy of alpha: float * temperature: float * flopsFirst: bool
        /// Recursive min-cut bisection down to pieces of `leafTensors` tensors (exact inside when `exact`).
        | Partition of leafTensors: int * balance: float * exact: bool

    /// The builder of trial t: the first trials are the deterministic greedy variants, then settings are sampled.
    let sample (p: Indexed) (rng: Random) (t: int) =
        let n = p.Inputs.Length
        let wide = p.Carriers |> Array.exists (fun c -> c.Length > PlanGreedy.hyperFanout)
        match t with
        | 0 -> Greedy(1.0, 0.0, false)
        | 1 -> Greedy(1.0, 0.0, true)
        | _ ->
            // Partition trees win on large loopy networks (circuits, random graphs) once reconfigured; greedy
            // keeps a share for structured ones (trees, MERA), where its first two trials usually win anyway.
            if n >= 12 && not wide && rng.NextDouble() < (if n >= 64 then 0.7 else 0.5) then
                let leafTensors = 2 + rng.Next(min 12 (n / 2))
                // Exact pieces only where they are small: subtree reconfiguration polishes the pieces anyway.
                Partition(leafTensors, 0.1 + 0.4 * rng.NextDouble(), rng.NextDouble() < 0.5 && leafTensors <= 8)
            else
                let alpha = rng.NextDouble() * 2.0
                let temperature = Math.Exp(Math.Log 0.001 + (Math.Log 1.0 - Math.Log 0.001) * rng.NextDouble())
                Greedy(alpha, temperature, rng.NextDouble() < 0.1)

    /// Builds the tree of a builder; exact pieces of a partition turn greedy once `stop` says so.
    let buildUntil (stop: unit -> bool) (p: Indexed) (o: PlanOptions) (rng: Random) (b: Builder) =
        match b with
        | Greedy (alpha, temperature, flopsFirst) ->
            let limit = match o.MemoryLimit with Some l when not o.Slice -> float l | _ -> Double.PositiveInfinity
            (PlanGreedy.runKeyed flopsFirst [||] p limit alpha temperature rng).Tree
        | Partition (leafTensors, balance, exact) ->
            let o' = if o.Slice then { o with MemoryLimit = None } else o
            PlanPartition.treeUntil stop leafTensors exact p o' (rng.Next()) balance

    /// Builds the tree of a builder (no budget).
    let build (p: Indexed) (o: PlanOptions) (rng: Random) (b: Builder) = buildUntil (fun () -> false) p o rng b

    /// Work done by a search, counted in units that do not depend on the machine or its load, so that a budget
    /// of work gives the same plan anywhere: `Joins`, pairs of subsets costed by the flops programme of subtree
    /// reconfiguration; `Solved`, subsets of the sub-problems it hands to the general exact search; `Steps`, steps
    /// of a tree costed exactly (`Cost.steps`, BigInteger figures); `Greedy`, tensors placed by a greedy builder;
    /// `Cuts`, bonds cut times the tensors of the piece cut, summed over a recursive bisection. `Seconds` prices them at `Rates`.
    type Work() =
        /// Pairs of subsets costed by the flops programme.
        member val Joins = 0.0 with get, set
        /// Subsets of sub-problems solved by the general exact search.
        member val Solved = 0.0 with get, set
        /// Tree steps costed exactly.
        member val Steps = 0.0 with get, set
        /// Tensors placed by a greedy builder.
        member val Greedy = 0.0 with get, set
        /// Bonds cut times the tensors of the piece, over a recursive bisection.
        member val Cuts = 0.0 with get, set
        /// Operations of the loop orders chosen for sliced trees (`PlanSlice.orderOps`).
        member val Orders = 0.0 with get, set
        /// The counts as a vector, in the order of `Rates`.
        member this.Counts = [| this.Joins; this.Solved; this.Steps; this.Greedy; this.Cuts; this.Orders |]
        /// Seconds of one core per unit of each count, fitted to process CPU time over the networks of
        /// `bench/TnDsl.Bench -- stakes rates` (threads 1; see bench/results/planner.md; the loop orders' rate
        /// from its own table there).
        static member Rates = [| 8e-9; 2e-6; 3e-6; 8e-6; 3e-6; 3e-9 |]
        /// The counted work in seconds of one core at `Rates`.
        member this.Seconds = Array.fold2 (fun acc c r -> acc + c * r) 0.0 this.Counts Work.Rates
        /// Adds another count to this one.
        member this.Add(other: Work) =
            this.Joins <- this.Joins + other.Joins
            this.Solved <- this.Solved + other.Solved
            this.Steps <- this.Steps + other.Steps
            this.Greedy <- this.Greedy + other.Greedy
            this.Cuts <- this.Cuts + other.Cuts
            this.Orders <- this.Orders + other.Orders

    /// `score`, adding its work to `work`: two exact costings of the tree, and under a memory limit one more,
    /// and when it is sliced those the slicer did (each of its rounds costs the tree once per candidate index:
    /// counted, not estimated; an estimate of seven per sliced index under-counted a lattice at a limit of 1000
    /// elements about tenfold, and auto planned 86 s for a 31 s contraction) and two for the figures; the loop orders
    /// the slicer and the figures choose as `Orders`.
    let scoreCounted (work: Work) (p: Indexed) (o: PlanOptions) (t: ContractionTree) =
        let steps = float t.Steps.Length
        work.Steps <- work.Steps + 2.0 * steps
        let struct (a, b) = Cost.score o.Objective p t
        match o.MemoryLimit with
        | None -> struct (a, b)
        | Some l ->
            let limit = BigInteger l
            work.Steps <- work.Steps + steps
            if Cost.largestIntermediate p t <= limit then struct (a, b)
            elif not o.Slice then struct (Double.PositiveInfinity, b)
            else
                let costings = ref 0.0
                let orders = ref 0.0
                let found = PlanSlice.findCountedOrders costings orders 1 p t limit
                work.Steps <- work.Steps + steps * costings.Value
                work.Orders <- work.Orders + orders.Value
                match found with
                | Some ix ->
                    work.Steps <- work.Steps + steps * 2.0
                    work.Orders <- work.Orders + PlanSlice.orderOps t.Steps.Length ix.Length
                    let s = PlanSlice.figures p t ix
                    struct (Cost.log2 s.Flops, Cost.log2 s.LargestIntermediate)
                | None -> struct (Double.PositiveInfinity, b)

    /// The score of a tree (lower is better, compared as a pair): the objective's figures in log2, the total
    /// flops of the sliced tree when a memory limit is set, slicing is allowed and the tree exceeds the limit;
    /// a tree that cannot meet the limit scores +infinity.
    let score (p: Indexed) (o: PlanOptions) (t: ContractionTree) = scoreCounted (Work()) p o t

    /// The flops of joins over the subsets of a frontier of at most 16 nodes, on bit masks of their (at most 64)
    /// indices: the cost model of subtree reconfiguration's dynamic programme. `legs[j]` holds the indices of
    /// frontier node j, `out` those of the frontier's result, `sizes[b]` the size of index b. A join costs what
    /// `Cost.steps` charges: the product of the sizes of every index on its two operands (a node's own indices,
    /// held by no other node and not open, included: they are summed at its first join), doubled when the join
    /// sums an index.
    type MaskFlops(legs: uint64 array, out: uint64, sizes: float array) =
        let m = legs.Length
        let full = (1 <<< m) - 1
        // The product of the sizes in a mask, from one table per byte of it.
        let bytes = (sizes.Length + 7) / 8
        let table =
            Array.init bytes (fun k ->
                Array.init 256 (fun x ->
                    let mutable acc = 1.0
                    for b in 0 .. 7 do
                        if x &&& (1 <<< b) <> 0 && 8 * k + b < sizes.Length then acc <- acc * sizes[8 * k + b]
                    acc))
        // union[S]: the indices on S's nodes; kept[S]: those also on a node outside S or open.
        let union = Array.zeroCreate<uint64> (full + 1)
        do
            for s in 1 .. full do
                let low = BitOperations.TrailingZeroCount s
                union[s] <- union[s &&& (s - 1)] ||| legs[low]
        let kept = Array.init (full + 1) (fun s -> union[s] &&& (out ||| union[full &&& ~~~s]))
        // The indices of the node that stands for S: a frontier node's own legs, or what a join of S keeps.
        let holds = Array.init (full + 1) (fun s -> if s = 0 then 0UL elif s &&& (s - 1) = 0 then legs[BitOperations.TrailingZeroCount s] else kept[s])
        /// The product of the sizes of the indices in a mask.
        member _.SizeOf(mask: uint64) =
            let mutable acc = 1.0
            for k in 0 .. bytes - 1 do
                acc <- acc * table[k][int ((mask >>> (8 * k)) &&& 0xFFUL)]
            acc
        /// Per subset of the frontier (a bit mask of nodes), the indices its joined result keeps.
        member _.Kept = kept
        /// The flops of joining the results of two disjoint subsets a and b.
        member this.Join(a: int, b: int) =
            let involved = holds[a] ||| holds[b]
            this.SizeOf involved * (if involved <> kept[a ||| b] then 2.0 else 1.0)

    /// The flops of a pairwise tree as subtree reconfiguration's programme counts them (`MaskFlops`, the whole
    /// tree as one frontier of its leaves), for checking that count against `Cost.flops`; None when the tree has
    /// a step that is not a pair, more than 16 leaves or more than 64 indices.
    let maskFlops (p: Indexed) (t: ContractionTree) : float option =
        let used = p.Inputs |> Array.concat |> Array.distinct
        if t.Leaves > 16 || used.Length > 64 || t.Steps |> Array.exists (fun s -> s.Length <> 2) then None
        else
            let local = Dictionary<int, int>()
            used |> Array.iteri (fun b i -> local[i] <- b)
            let bits (ix: int array) = ix |> Array.fold (fun acc i -> acc ||| (1UL <<< local[i])) 0UL
            let mf = MaskFlops(p.Inputs |> Array.map bits, bits (p.Output |> Array.filter local.ContainsKey), used |> Array.map (fun i -> float p.Size[i]))
            let mask = Array.zeroCreate<int> (t.Leaves + t.Steps.Length)
            for l in 0 .. t.Leaves - 1 do
                mask[l] <- 1 <<< l
            let mutable total = 0.0
            t.Steps |> Array.iteri (fun s kids ->
                total <- total + mf.Join(mask[kids[0]], mask[kids[1]])
                mask[t.Leaves + s] <- mask[kids[0]] ||| mask[kids[1]])
            Some total

    /// A tree as mutable nodes for local rewriting: children and indices per node id; leaves keep their ids.
    type private Nodes =
        { Kids: Dictionary<int, int array>
          Kept: Dictionary<int, int array>
          mutable Next: int }

    let private toNodes (p: Indexed) (t: ContractionTree) =
        let kids = Dictionary<int, int array>()
        let kept = Dictionary<int, int array>()
        for l in 0 .. t.Leaves - 1 do
            kept[l] <- p.Inputs[l]
        for s in Cost.steps p t do
            kids[s.Node] <- s.Children
            kept[s.Node] <- s.Kept
        { Kids = kids; Kept = kept; Next = t.Leaves + t.Steps.Length }

    /// The SSA tree of the nodes below `root`, children before parents.
    let private toTree (leaves: int) (nodes: Nodes) (root: int) =
        let steps = ResizeArray<int array>()
        let rec emit v =
            match nodes.Kids.TryGetValue v with
            | true, kids ->
                let ids = kids |> Array.map emit
                steps.Add ids
                leaves + steps.Count - 1
            | _ -> v
        emit root |> ignore
        { Leaves = leaves; Steps = steps.ToArray() }

    /// The windows of subtree reconfiguration (`reconfigureMemoCounted`) in which the flops programme found no better
    /// subtree, each by everything that decides the programme's outcome: the current subtree's shape over its
    /// frontier, the frontier's and the window's result's indices in order, with their sizes, and the memory limit.
    /// The same window met again, in a later pass or a later call on the same network (a slicer's next round, where
    /// only the newly sliced index changed size), has the same outcome, so it is skipped: the tree is the same as
    /// without the memo, and the programme's work is neither done nor counted.
    type ReconfigureMemo() =
        member val internal Unimproved = HashSet<string>()

    /// Subtree reconfiguration (cotengra's `subtree_reconfigure`): for each internal node, most expensive step
    /// first, the subtree below it is cut at a frontier of at most `k` nodes (grown by opening the largest
    /// intermediate) and replaced by the exact best tree over that frontier when the objective improves. The
    /// result of the node is unchanged, so every other step keeps its cost. Repeats until a pass finds nothing
    /// (at most `passes` passes).
    /// With `limit`, a replacement must keep its intermediates within it.
    /// `stop` is asked before each node; when it says so the tree as rewritten so far is returned (a wall-clock
    /// budget; deterministic callers pass a function that never stops).
    /// The work done is added to `work`.
    /// With `reuse` = Some(full, order), `p` is `full` sliced over `order` (the loop order, outermost first) and
    /// the objective is the executed flops under reuse across slices (`PlanSlice.executedFlops`): a join counts its
    /// flops in one slice times the number of times it runs, set by the innermost sliced index its subtree carries.
    /// With `memo`, a window whose flops programme found nothing better is remembered by everything that decides
    /// the programme's outcome (`ReconfigureMemo`), and the same window met again is skipped, uncounted.
    let private reconfigureCore (memo: ReconfigureMemo option) (frontiers: Random option) (reuse: (Indexed * int array) option) (work: Work) (stop: unit -> bool) (limit: int64 option) (p: Indexed) (objective: Objective) (k: int) (passes: int) (t: ContractionTree) : ContractionTree =
        // Per loop level, the number of runs of a step at that level; per leaf, its level (0 without reuse).
        let prefix, leafLevel =
            match reuse with
            | Some (full, order) ->
                Array.scan (fun (a: float) i -> a * float full.Size[i]) 1.0 order, (PlanSlice.nodeLevels full t order)[.. t.Leaves - 1]
            | None -> [| 1.0 |], Array.zeroCreate t.Leaves
        let score (tree: ContractionTree) =
            match reuse with
            | Some (full, order) -> struct (Cost.log2 (PlanSlice.executedFlops full tree order), 0.0)
            | None -> Cost.score objective p tree
        let ids = Dictionary<string, int>()
        p.IndexNames |> Array.iteri (fun i n -> ids[n] <- i)
        let sizeOf (ix: int array) = ix |> Array.fold (fun acc i -> acc * BigInteger(p.Size[i])) BigInteger.One
        let mutable tree = t
        let mutable treeScore = None
        let mutable improved = true
        let mutable pass = 0
        while improved && pass < passes && tree.Steps.Length > 1 && not (stop ()) do
            improved <- false
            pass <- pass + 1
            // Two exact costings of the tree (its nodes and its order), one or two scores at the end of the pass.
            work.Steps <- work.Steps + (if pass = 1 then 4.0 else 3.0) * float tree.Steps.Length
            let nodes = toNodes p tree
            let root = ContractionTree.root tree
            // A node's level: the largest of its leaves' (a node's leaves never change as its subtree is rewritten).
            let levels = Dictionary<int, int>()
            let rec levelOf u =
                if u < tree.Leaves then leafLevel[u]
                else
                    match levels.TryGetValue u with
                    | true, l -> l
                    | _ ->
                        let l = nodes.Kids[u] |> Array.fold (fun m c -> max m (levelOf c)) 0
                        levels[u] <- l
                        l
            let order =
                Cost.steps p tree
                |> Array.sortBy (fun s -> BigInteger.Negate s.Flops * BigInteger(prefix[levelOf s.Node]), s.Node)
                |> Array.map (fun s -> s.Node)
            let removed = HashSet<int>()
            // Replaces the subtree of v over the frontier `fr` by the exact best one when it is cheaper: the
            // general exact search on a sub-problem (any objective).
            let replaceExact (fr: int array) (v: int) (inner: List<int>) =
              // Under reuse only the flops programme below counts runs; a subtree it cannot take is kept.
              if reuse.IsSome then false
              else
                let problem =
                    Problem.create None
                        (fr |> Array.map (fun u -> nodes.Kept[u] |> Array.map (fun i -> p.IndexNames[i])))
                        (fr |> Array.collect (fun u -> nodes.Kept[u]) |> Array.distinct |> Array.map (fun i -> p.IndexNames[i], p.Size[i]) |> Map.ofArray)
                        (nodes.Kept[v] |> Array.map (fun i -> p.IndexNames[i]))
                match Problem.index Range.none problem with
                | Result.Error _ -> false
                | Ok sub ->
                    // The current subtree over the frontier, as a tree of the sub-problem.
                    let local = Dictionary<int, int>()
                    fr |> Array.iteri (fun j u -> local[u] <- j)
                    let currentSteps = ResizeArray<int array>()
                    let rec emit u =
                        match local.TryGetValue u with
                        | true, j -> j
                        | _ ->
                            let c = nodes.Kids[u] |> Array.map emit
                            currentSteps.Add c
                            fr.Length + currentSteps.Count - 1
                    emit v |> ignore
                    let current = { Leaves = fr.Length; Steps = currentSteps.ToArray() }
                    let o = { PlanOptions.defaults with Objective = objective; MemoryLimit = limit }
                    work.Solved <- work.Solved + Math.Pow(2.0, float fr.Length)
                    match PlanOptimal.solveWith PlanOptimal.exhaustiveUpTo sub o with
                    | Ok (Some better) when Cost.score objective sub better < Cost.score objective sub current ->
                        for u in inner do
                            if u <> v then nodes.Kids.Remove u |> ignore
                        // Splice: new nodes for the inner steps, v for the last.
                        let bSteps = Cost.steps sub better
                        let mapped = Array.zeroCreate (fr.Length + better.Steps.Length)
                        fr.CopyTo(mapped, 0)
                        bSteps
                        |> Array.iteri (fun s st ->
                            let kids = st.Children |> Array.map (fun c -> mapped[c])
                            let id =
                                if s = bSteps.Length - 1 then v
                                else
                                    nodes.Next <- nodes.Next + 1
                                    nodes.Next - 1
                            nodes.Kids[id] <- kids
                            nodes.Kept[id] <- st.Kept |> Array.map (fun i -> ids[sub.IndexNames[i]])
                            mapped[fr.Length + s] <- id)
                        true
                    | _ -> false
            // The same for flops (the common case), by a dynamic programme over the frontier's subsets on bit
            // masks of its indices (`MaskFlops`), with no sub-problem built.
            let replaceFast (fr: int array) (v: int) (inner: List<int>) =
                let local = Dictionary<int, int>()
                let globalOf = List<int>()
                for u in fr do
                    for i in nodes.Kept[u] do
                        if not (local.ContainsKey i) then
                            local[i] <- globalOf.Count
                            globalOf.Add i
                if globalOf.Count > 64 || fr.Length > 16 || inner |> Seq.exists (fun u -> nodes.Kids[u].Length <> 2) then replaceExact fr v inner
                else
                    let position = Dictionary<int, int>()
                    fr |> Array.iteri (fun j u -> position[u] <- j)
                    // The window as `ReconfigureMemo` keys it (under reuse the runs of its joins would be needed too:
                    // not memoised).
                    let key =
                        match memo with
                        | Some _ when reuse.IsNone ->
                            let sb = Text.StringBuilder()
                            let rec shape u =
                                match position.TryGetValue u with
                                | true, j -> sb.Append(j) |> ignore
                                | _ ->
                                    sb.Append('(') |> ignore
                                    let kids = nodes.Kids[u]
                                    shape kids[0]
                                    sb.Append(',') |> ignore
                                    shape kids[1]
                                    sb.Append(')') |> ignore
                            shape v
                            for u in fr do
                                sb.Append('|') |> ignore
                                for i in nodes.Kept[u] do sb.Append(i).Append(':').Append(p.Size[i]).Append(' ') |> ignore
                            sb.Append('|') |> ignore
                            for i in nodes.Kept[v] do sb.Append(i).Append(' ') |> ignore
                            sb.Append('|').Append(defaultArg limit -1L) |> ignore
                            Some(sb.ToString())
                        | _ -> None
                    match memo, key with
                    | Some m, Some key when m.Unimproved.Contains key -> false
                    | _ ->
                    let bits (ix: int array) = ix |> Array.fold (fun acc i -> acc ||| (1UL <<< local[i])) 0UL
                    let mf = MaskFlops(fr |> Array.map (fun u -> bits nodes.Kept[u]), bits nodes.Kept[v], globalOf.ToArray() |> Array.map (fun i -> float p.Size[i]))
                    let m = fr.Length
                    let full = (1 <<< m) - 1
                    // The tables over 2^m subsets and about 3^m (subset, sub-subset) pairs.
                    work.Joins <- work.Joins + Math.Pow(2.0, float m) + Math.Pow(3.0, float m)
                    let kept = mf.Kept
                    // Per subset of the frontier, the number of runs of the join that makes it (1 without reuse).
                    let runs = Array.create (full + 1) 1.0
                    if reuse.IsSome then
                        let level = Array.zeroCreate<int> (full + 1)
                        for s in 1 .. full do
                            let low = BitOperations.TrailingZeroCount s
                            level[s] <- max level[s &&& (s - 1)] (levelOf fr[low])
                            runs[s] <- prefix[level[s]]
                    let joinCost a b = mf.Join(a, b) * runs[a ||| b]
                    let sizeOf (x: uint64) = mf.SizeOf x
                    let cap = match limit with Some l -> float l | None -> Double.PositiveInfinity
                    let best = Array.create (full + 1) Double.PositiveInfinity
                    let split = Array.zeroCreate<int> (full + 1)
                    for j in 0 .. m - 1 do
                        best[1 <<< j] <- 0.0
                    for s in 1 .. full do
                        if s &&& (s - 1) <> 0 && (s = full || sizeOf kept[s] <= cap) then
                            let low = s &&& -s
                            // Sub-masks a of s holding s's lowest node, b the rest.
                            let mutable a = (s - 1) &&& s
                            while a > 0 do
                                if a &&& low <> 0 then
                                    let b = s ^^^ a
                                    if not (Double.IsPositiveInfinity best[a]) && not (Double.IsPositiveInfinity best[b]) then
                                        let c = best[a] + best[b] + joinCost a b
                                        if c < best[s] then
                                            best[s] <- c
                                            split[s] <- a
                                a <- (a - 1) &&& s
                    // The current subtree's cost in the same terms.
                    let rec currentCost u =
                        match position.TryGetValue u with
                        | true, j -> struct (1 <<< j, 0.0)
                        | _ ->
                            let kids = nodes.Kids[u]
                            let struct (a, ca) = currentCost kids[0]
                            let struct (b, cb) = currentCost kids[1]
                            struct (a ||| b, ca + cb + joinCost a b)
                    let struct (_, current) = currentCost v
                    if best[full] < current * (1.0 - 1e-9) then
                        for u in inner do
                            if u <> v then nodes.Kids.Remove u |> ignore
                        let toGlobal (mask: uint64) =
                            [| for b in 0 .. globalOf.Count - 1 do if mask &&& (1UL <<< b) <> 0UL then globalOf[b] |] |> Array.sort
                        let rec emit s =
                            if s &&& (s - 1) = 0 then fr[System.Numerics.BitOperations.TrailingZeroCount s]
                            else
                                let a = emit split[s]
                                let b = emit (s ^^^ split[s])
                                let id =
                                    if s = full then v
                                    else
                                        nodes.Next <- nodes.Next + 1
                                        nodes.Next - 1
                                nodes.Kids[id] <- [| a; b |]
                                if s <> full then nodes.Kept[id] <- toGlobal kept[s]
                                id
                        emit full |> ignore
                        true
                    else
                        match memo, key with
                        | Some m, Some key -> m.Unimproved.Add key |> ignore
                        | _ -> ()
                        false
            for v in order do
                if not (removed.Contains v) && not (stop ()) then
                    work.Steps <- work.Steps + 1.0
                    // Grow the frontier from v's children by opening the largest internal node.
                    let frontier = List<int>(nodes.Kids[v])
                    let inner = List<int>([ v ])
                    let mutable grow = true
                    while grow do
                        let openable =
                            frontier |> Seq.filter (fun u -> nodes.Kids.ContainsKey u && frontier.Count - 1 + nodes.Kids[u].Length <= k)
                        if Seq.isEmpty openable then grow <- false
                        else
                            let u =
                                match frontiers with
                                | None -> openable |> Seq.maxBy (fun u -> sizeOf nodes.Kept[u], u)
                                | Some rng -> let a = Seq.toArray openable in a[rng.Next a.Length]
                            frontier.Remove u |> ignore
                            frontier.AddRange nodes.Kids[u]
                            inner.Add u
                    if inner.Count > 1 && frontier.Count >= 3 then
                        let fr = frontier.ToArray()
                        let replaced =
                            match objective with
                            | Flops -> replaceFast fr v inner
                            | _ -> replaceExact fr v inner
                        if replaced then
                            for u in inner do
                                removed.Add u |> ignore
                            improved <- true
            if improved then
                // A pass is kept only when the whole tree scores no worse by the objective (a guard: the flops
                // programme counts as `Cost` does, see `maskFlops`, and the exact one solves sub-problems).
                let candidate = toTree tree.Leaves nodes root
                let candidateScore = score candidate
                let current = match treeScore with Some s -> s | None -> score tree
                if candidateScore <= current then
                    tree <- candidate
                    treeScore <- Some candidateScore
                else improved <- false
        tree

    /// Subtree reconfiguration for an objective (see `reconfigureCore`), the work added to `work`.
    let reconfigureCounted (work: Work) (stop: unit -> bool) (limit: int64 option) (p: Indexed) (objective: Objective) (k: int) (passes: int) (t: ContractionTree) : ContractionTree =
        reconfigureCore None None None work stop limit p objective k passes t

    /// `reconfigureCounted` with the windows in which the flops programme found nothing better remembered in `memo`
    /// and skipped when met again (`ReconfigureMemo`): the same tree, less work. A slicer that reconfigures the whole
    /// tree after each index it slices passes one memo to every round.
    let reconfigureMemoCounted (memo: ReconfigureMemo) (work: Work) (stop: unit -> bool) (limit: int64 option) (p: Indexed) (objective: Objective) (k: int) (passes: int) (t: ContractionTree) : ContractionTree =
        reconfigureCore (Some memo) None None work stop limit p objective k passes t

    /// Subtree reconfiguration of a sliced tree for its executed flops under reuse across slices
    /// (`PlanSlice.executedFlops`) in the loop order `order` (outermost first, kept fixed): as `reconfigureCounted`
    /// on `full` sliced over `order` for flops, each join's flops in one slice weighted by the number of times it
    /// runs. Reconfiguring a sliced tree for one slice's flops alone can merge a step that runs once into one that
    /// runs in every slice. With `limit`, every intermediate of a slice stays within it. The work is added to `work`.
    let reconfigureReuseCounted (work: Work) (stop: unit -> bool) (limit: int64 option) (full: Indexed) (order: int array) (k: int) (passes: int) (t: ContractionTree) : ContractionTree =
        if order.Length = 0 then reconfigureCore None None None work stop limit full Flops k passes t
        else reconfigureCore None None (Some(full, order)) work stop limit (PlanSlice.sliceProblem full order) Flops k passes t

    /// `reconfigureReuseCounted` with other frontiers: each subtree is cut by opening, at each growth, an openable
    /// node drawn by `rng` instead of the largest (cotengra's random subtree selection). The frontiers that a
    /// window of k cuts a tree into decide which rewrites it can reach; random ones reach others. Deterministic
    /// for a seeded `rng`. The work is added to `work`.
    let reconfigureReuseRandomCounted (rng: Random) (work: Work) (stop: unit -> bool) (limit: int64 option) (full: Indexed) (order: int array) (k: int) (passes: int) (t: ContractionTree) : ContractionTree =
        if order.Length = 0 then reconfigureCore None (Some rng) None work stop limit full Flops k passes t
        else reconfigureCore None (Some rng) (Some(full, order)) work stop limit (PlanSlice.sliceProblem full order) Flops k passes t

    /// `reconfigureCounted` without counting the work.
    let reconfigureUntil (stop: unit -> bool) (limit: int64 option) (p: Indexed) (objective: Objective) (k: int) (passes: int) (t: ContractionTree) : ContractionTree =
        reconfigureCounted (Work()) stop limit p objective k passes t

    /// `reconfigureUntil` without a stop, within an optional memory limit.
    let reconfigureWithin (limit: int64 option) (p: Indexed) (objective: Objective) (k: int) (passes: int) (t: ContractionTree) =
        reconfigureUntil (fun () -> false) limit p objective k passes t

    /// `reconfigureUntil` without a stop or a memory limit.
    let reconfigure (p: Indexed) (objective: Objective) (k: int) (passes: int) (t: ContractionTree) =
        reconfigureWithin None p objective k passes t

    /// Subtree reconfiguration (subtrees of 8, two passes) as the polish of an exact search's upper bound, stopped
    /// once the options' wall-clock limit (what is left of the search's) has passed.
    let private exactPolish: PlanOptimal.Polish =
        fun sub o t ->
            let deadline = Deadline o.TimeLimitMs
            reconfigureUntil (fun () -> deadline.Reached 1.0) o.MemoryLimit sub o.Objective 8 2 t

    /// The exact search within `seconds` of counted work (`PlanOptimal.ExactWork`, added to `work`), its upper
    /// bound polished by subtree reconfiguration (see `PlanOptimal.solveWithinPolished`), the polish counted too.
    let exactWithin (work: PlanOptimal.ExactWork) (seconds: float) (p: Indexed) (o: PlanOptions) =
        let polish: PlanOptimal.Polish =
            fun sub o t ->
                let w = Work()
                let deadline = Deadline o.TimeLimitMs
                let t' = reconfigureCounted w (fun () -> deadline.Reached 1.0) o.MemoryLimit sub o.Objective 8 2 t
                work.Polish <- work.Polish + w.Seconds
                t'
        PlanOptimal.solveWithinPolished polish work seconds p o

    /// `optimal`: the exact search, its upper bound polished by subtree reconfiguration; random-greedy (with a
    /// warning) beyond its reach.
    let optimal: Optimizer = PlanOptimal.optimalPolished exactPolish

    /// Networks up to this many tensors get every trial's tree reconfigured and the best two polished over
    /// subtrees of 10; larger ones (each pass visits every step) only get the best two polished over subtrees of 8.
    let reconfigureTrialsUpTo = 500

    /// A budget that follows the stakes: trials keep starting, in trial order, while the work of the trials
    /// before them (`Work.Seconds`) is below `Share` × the contraction time of the best tree so far at
    /// `FlopsPerSecond` (sliced when it must be) and below `CapSeconds`; at least `Floor` trials run, at most the
    /// options' `Trials`. The work is counted, not timed, so the trials run and the plan are the same on any
    /// machine and load.
    type Stakes = { FlopsPerSecond: float; Share: float; Floor: int; CapSeconds: float }

    /// What the floors of a ledger may spend: the phases that run past its allowance (the free search's least
    /// trials, fitting the free plan to a memory limit, the slice-aware search's first trial) run only while the
    /// ledger's work in all is below `Multiple` × the best plan's contraction time at the stakes' rate, or below
    /// `Seconds` (whatever the stakes). Search beyond the contraction time itself can never pay for itself: no plan
    /// is cheaper than nothing.
    type Floors = { Seconds: float; Multiple: float }

    /// One budget of counted work shared by the phases of a plan (`auto` under a memory limit: the search without
    /// the limit, slicing its tree, the search under the limit, the slice-aware search): each phase adds its work
    /// (`Work`, and `Exact` for exact searches) and offers the flops of the best plan it found (sliced when it
    /// must be); the allowance is `Share` × the best plan's contraction time at `FlopsPerSecond`, at least
    /// `floorSeconds` (what a first slice-aware trial needs on a small network, whatever the stakes; with `floors`,
    /// no more than their allowance) and at most `CapSeconds`. With `floors`, the phases that run past the
    /// allowance ask `FloorsAllow` (see `Floors`); without, they run whatever the stakes. Counted, not timed: the
    /// same plan on any machine and load.
    type Ledger(stakes: Stakes, floorSeconds: float, floors: Floors option) =
        let work = Work()
        let exact = PlanOptimal.ExactWork()
        let mutable bestLog2 = Double.PositiveInfinity
        /// A ledger without a floor: the allowance follows the stakes alone.
        new(stakes: Stakes) = Ledger(stakes, 0.0, None)
        /// A ledger whose floors run whatever the stakes.
        new(stakes: Stakes, floorSeconds: float) = Ledger(stakes, floorSeconds, None)
        /// The stakes rule.
        member _.Stakes = stakes
        /// The least allowance, in seconds of counted work.
        member _.FloorSeconds = floorSeconds
        /// The work of everything but exact searches.
        member _.Work = work
        /// The work of exact searches.
        member _.Exact = exact
        /// log2 of the flops of the best plan offered so far (+infinity before any).
        member _.BestLog2 = bestLog2
        /// Offers a plan's flops, in log2.
        member _.Offer(log2Flops: float) = bestLog2 <- min bestLog2 log2Flops
        /// The seconds of counted work spent so far.
        member _.Spent = work.Seconds + exact.Seconds
        /// The seconds of counted work the floors may spend in all (see `Floors`) with a plan of `log2Flops` (or the
        /// best so far, if better): +infinity without floors, at most `CapSeconds`.
        member _.FloorsAllowanceAt(log2Flops: float) =
            match floors with
            | None -> Double.PositiveInfinity
            | Some f -> min stakes.CapSeconds (max f.Seconds (f.Multiple * Math.Pow(2.0, min bestLog2 log2Flops) / stakes.FlopsPerSecond))
        /// The seconds of counted work the floors may spend in all with the best plan so far.
        member this.FloorsAllowance = this.FloorsAllowanceAt Double.PositiveInfinity
        /// True while the work spent is below the floors' allowance: a phase that runs past the ledger's allowance
        /// may start.
        member this.FloorsAllow = this.Spent < this.FloorsAllowance
        /// The seconds of counted work a plan of `log2Flops` (or the best so far, if better) allows in all.
        member this.AllowanceAt(log2Flops: float) =
            let floor = min floorSeconds (this.FloorsAllowanceAt log2Flops)
            min stakes.CapSeconds (max floor (stakes.Share * Math.Pow(2.0, min bestLog2 log2Flops) / stakes.FlopsPerSecond))
        /// The seconds of counted work the best plan so far allows in all.
        member this.Allowance = this.AllowanceAt Double.PositiveInfinity
        /// The seconds still allowed (negative once overspent).
        member this.Left = this.Allowance - this.Spent
        /// True once the work spent reaches the allowance.
        member this.Exhausted = this.Left <= 0.0

    /// What `searchWith` found: the tree, the trials it ran and their counted work (polish included), the trees of
    /// the trials that ran, before the polish, best score first (ties: the earlier trial), and whether a wall-clock
    /// limit stopped a trial's building or rewriting or the polish before its end (`PolishCut`; the trials it kept
    /// from starting show in `Trials`).
    type Searched = { Tree: ContractionTree; Trials: int; Work: Work; Ranked: ContractionTree array; PolishCut: bool }

    /// `searchWith`, with `spent0` seconds of counted work already spent and a plan of `best0` log2 flops already
    /// known (under `stakes`); `allowance` gives the seconds that the stakes allow for the best plan's log2 flops.
    let private searchFrom (stakes: Stakes option) (allowance: Stakes -> float -> float) (floorSeconds: ContractionTree -> float -> float) (spent0: float) (best0: float) (p: Indexed) (o: PlanOptions) : Searched =
        let n = p.Inputs.Length
        if n <= 2 then
            let t = (PlanGreedy.bestGreedy p o).Tree
            { Tree = t; Trials = 0; Work = Work(); Ranked = [| t |]; PolishCut = false }
        else
            let trials = max 2 o.Trials
            let clock = Stopwatch.StartNew()
            // Per trial: its score, tree, log2 of its (sliced) flops and its work.
            // (By trial number, not an array of `Trials` slots: a large trial count under a time limit would
            // allocate and scan it for nothing.)
            let results = Collections.Concurrent.ConcurrentDictionary<int, struct (float * float) * ContractionTree * float * Work>()
            // Under a wall-clock budget, trials stop starting at three quarters of it (the rest is for polishing)
            // and exact pieces of a partition turn greedy at the budget, so one long trial cannot overrun it.
            let past (share: float) () =
                match o.TimeLimitMs with
                | Some ms -> float clock.ElapsedMilliseconds >= share * float ms
                | None -> false
            // Set where the clock stopped a trial's building or rewriting or the polish (`Searched.PolishCut`).
            let mutable clockCut = false
            // A trial stops cutting and rewriting at three quarters too: polishing, scoring and the plan's figures
            // follow.
            let trialSpent () =
                let spent = past 0.75 ()
                if spent then clockCut <- true
                spent
            // Reconfiguration keeps intermediates within the limit only where the tree may not be sliced to fit.
            let keep = if o.Slice then None else o.MemoryLimit
            // The stakes are settled over the finished prefix of trials, in trial order, so that the cut-off is the
            // same however the trials are scheduled: `cutoff` is the first trial that may not count.
            let gate = obj ()
            let mutable settled = 0
            let mutable cutoff = trials
            let mutable spentSeconds = spent0
            let mutable bestLog2 = best0
            let mutable bestTree = None
            let settle () =
                lock gate (fun () ->
                    while settled < cutoff && results.ContainsKey settled do
                        let _, tree, lf, w = results[settled]
                        spentSeconds <- spentSeconds + w.Seconds
                        if lf < bestLog2 || bestTree.IsNone then bestTree <- Some tree
                        bestLog2 <- min bestLog2 lf
                        settled <- settled + 1
                        // The floor of trials holds while their work is within what `floorSeconds` allows (trials 0
                        // and 1 count whatever it says: both run).
                        let floored = settled < 2 || spentSeconds < floorSeconds bestTree.Value bestLog2
                        match stakes with
                        | Some s when (settled >= s.Floor || not floored) && spentSeconds >= allowance s bestLog2 -> cutoff <- settled
                        | _ -> ())
            let admitted t = lock gate (fun () -> t < cutoff)
            let mutable finished = 0
            // The longest wall time a trial's scoring took: the unit of what follows the polish.
            let mutable scoreMs = 0.0
            let trial t =
                let work = Work()
                let rng = Random(o.Seed * 1000003 + t * 7919 + 17)
                let b = sample p rng t
                // Every trial's tree is reconfigured before it is scored (as cotengra does): a builder's raw tree
                // says little about what reconfiguration makes of it (a partition tree 100x worse than greedy's
                // can end below it).
                let built = buildUntil trialSpent p o rng b
                match b with
                | Greedy _ -> work.Greedy <- work.Greedy + float n
                | Partition _ ->
                    // A max-flow bisection costs about its cut's bonds times the piece's tensors (one augmenting
                    // path per bond, each a search over the piece); the built tree's steps give both.
                    let steps = Cost.steps p built
                    let leaves = Array.zeroCreate<int> (n + steps.Length)
                    for l in 0 .. n - 1 do
                        leaves[l] <- 1
                    for st in steps do
                        leaves[st.Node] <- st.Children |> Array.sumBy (fun c -> leaves[c])
                        work.Cuts <- work.Cuts + float st.Summed.Length * float leaves[st.Node]
                    work.Steps <- work.Steps + float steps.Length
                let tree = if n <= reconfigureTrialsUpTo then reconfigureCounted work trialSpent keep p o.Objective 8 4 built else built
                // Reconfiguration for the objective alone can make a tree harder to slice: under a memory limit
                // with slicing, the built tree competes too.
                let scoring = Stopwatch.StartNew()
                let scored =
                    if o.MemoryLimit.IsSome && o.Slice && not (obj.ReferenceEquals(tree, built)) then
                        [ scoreCounted work p o tree, tree; scoreCounted work p o built, built ] |> List.minBy fst
                    else scoreCounted work p o tree, tree
                scoreMs <- max scoreMs scoring.Elapsed.TotalMilliseconds
                let (struct (a, _) as sc), best = scored
                // The stakes: the best tree's flops (sliced when it is: the score's primary figure under Flops).
                let lf =
                    if o.Objective = Flops && not (Double.IsPositiveInfinity a) then a
                    else
                        work.Steps <- work.Steps + float best.Steps.Length
                        Cost.log2 (Cost.flops p best)
                results[t] <- (sc, best, lf, work)
                Interlocked.Increment(&finished) |> ignore
                settle ()
            // Nor is a trial started when the mean trial so far would end past that point.
            let past share () =
                let elapsed = float clock.ElapsedMilliseconds
                past share () || (finished > 0 && o.TimeLimitMs.IsSome && elapsed + elapsed / float finished >= share * float o.TimeLimitMs.Value)
            if o.Parallel then
                Parallel.For(0, (if o.TimeLimitMs.IsSome then 1 else 2), Action<int>(trial)) |> ignore
                if o.TimeLimitMs.IsSome && not (past 0.75 ()) then trial 1
                Parallel.For(2, trials, Action<int, ParallelLoopState>(fun t state ->
                    // Break (not Stop) at the stakes' cut-off: every trial before it still runs.
                    if state.LowestBreakIteration.HasValue || state.IsStopped then ()
                    elif not (admitted t) then state.Break()
                    elif past 0.75 () then state.Stop()
                    else trial t)) |> ignore
            else
                let mutable t = 0
                // Trial 0 always runs (a tree is needed); trial 1 too without a time limit.
                while t < trials && (t < 1 || (t < 2 && o.TimeLimitMs.IsNone) || (admitted t && not (past 0.75 ()))) do
                    trial t
                    t <- t + 1
            settle ()
            // The best two (by score, then trial number) are polished over larger subtrees (10 leaves); the best
            // tree wins. (A loop, not a pipeline: with a time limit most of the trial slots are empty.)
            let total = Work()
            let ran = ResizeArray()
            for KeyValue (t, (s, tree, _, w)) in results |> Seq.sortBy (fun kv -> kv.Key) do
                if t < cutoff then
                    total.Add w
                    ran.Add((s, t, tree))
            let ranked = ran.ToArray() |> Array.sortBy (fun (s, t, _) -> s, t)
            // Under a wall-clock budget the polish stops with room for what follows it: the end of a pass, scoring
            // the polished trees and the plan's figures, about four scorings (each an exact costing of the tree).
            let polishSpent () =
                match o.TimeLimitMs with
                | Some ms when clock.Elapsed.TotalMilliseconds + 4.0 * scoreMs >= 0.95 * float ms ->
                    clockCut <- true
                    true
                | _ -> false
            let polished =
                ranked
                |> Array.truncate 2
                |> Array.map (fun (scored, t, tree) ->
                    let better =
                        if n <= reconfigureTrialsUpTo then reconfigureCounted total polishSpent keep p o.Objective 10 2 tree
                        else reconfigureCounted total polishSpent keep p o.Objective 8 4 tree
                    let sc = if obj.ReferenceEquals(better, tree) then scored else scoreCounted total p o better
                    sc, t, better)
            let _, _, best = Array.append polished ranked |> Array.minBy (fun (s, t, _) -> s, t)
            { Tree = best; Trials = ran.Count; Work = total; Ranked = ranked |> Array.map (fun (_, _, t) -> t); PolishCut = clockCut }

    /// The best tree of `Trials` trials (or fewer: under `stakes`, or when a time limit is set and spent), polished.
    let searchWith (stakes: Stakes option) (p: Indexed) (o: PlanOptions) : Searched =
        let allowance (s: Stakes) (bestLog2: float) = min s.CapSeconds (s.Share * Math.Pow(2.0, bestLog2) / s.FlopsPerSecond)
        searchFrom stakes allowance (fun _ _ -> Double.PositiveInfinity) 0.0 Double.PositiveInfinity p o

    /// `searchWith` under `stakes` whose floor of trials holds only while the trials' counted work is below
    /// `floorSeconds best log2` (seconds, given the best tree so far and log2 of its flops): `auto`'s search without
    /// a memory limit under one, whose floor follows an estimate of the sliced plan's contraction time.
    let searchFloored (stakes: Stakes) (floorSeconds: ContractionTree -> float -> float) (p: Indexed) (o: PlanOptions) : Searched =
        let allowance (s: Stakes) (bestLog2: float) = min s.CapSeconds (s.Share * Math.Pow(2.0, bestLog2) / s.FlopsPerSecond)
        searchFrom (Some stakes) allowance floorSeconds 0.0 Double.PositiveInfinity p o

    /// `searchWith` under a ledger's stakes, with its work so far and its best plan, at least `floor` trials
    /// (trials 0 and 1 always run), leaving `keep` seconds of the ledger's allowance unspent (for a later phase);
    /// the search's work is added to the ledger.
    let searchIn (ledger: Ledger) (floor: int) (keep: float) (p: Indexed) (o: PlanOptions) : Searched =
        let allowance _ (bestLog2: float) = ledger.AllowanceAt bestLog2 - keep
        let searched = searchFrom (Some { ledger.Stakes with Floor = floor }) allowance (fun _ _ -> Double.PositiveInfinity) ledger.Spent ledger.BestLog2 p o
        ledger.Work.Add searched.Work
        searched

    /// The best tree of `trials` trials (or fewer, when a time limit is set and spent), polished.
    let search (p: Indexed) (o: PlanOptions) : ContractionTree = (searchWith None p o).Tree

    /// `hyper`: see the module. Without a memory limit the searched tree gives way to `greedy`'s where that is
    /// strictly better after the single-operand reductions (`PlanGreedy.noDearerThanGreedy`: its trials start
    /// from `bestGreedy`'s variants on the problem itself, never from its broadcast view nor opt_einsum's greedy
    /// tree, and compare trees before the reductions), so hyper is never dearer than greedy. Under a limit the
    /// searched tree stands: trees are scored there by their sliced flops, which `standing` does not see. Under a
    /// wall-clock limit without a memory limit, greedy's plan comes first (`PlanGreedy.noDearerWithin`).
    let hyper: Optimizer =
        fun p o ->
            // The last search's figures, for the TN0314 note where a wall-clock limit cut it short.
            let searched = ref None
            let search p o =
                let s = searchWith None p o
                searched.Value <- Some s
                s.Tree
            let t =
                match o.MemoryLimit, o.TimeLimitMs with
                | Some _, _ -> search p o
                | None, None -> PlanGreedy.noDearerThanGreedy p o (PlanGreedy.bestGreedy p o) (PlanGreedy.evaluate p (search p o))
                | None, Some _ -> PlanGreedy.noDearerWithin (Deadline o.TimeLimitMs) p o (fun _ o -> PlanGreedy.evaluate p (search p o))
            let asked = max 2 o.Trials
            let notes =
                match searched.Value with
                | Some s when o.TimeLimitMs.IsSome && p.Inputs.Length > 2 && (s.Trials < asked || s.PolishCut) ->
                    let what =
                        if s.Trials < asked then String.Format("hyper after {0} of {1} trials{2}", s.Trials, asked, (if s.PolishCut then " and the rewriting of its trees" else ""))
                        else String.Format("the rewriting of hyper's trees (all {0} trials ran)", asked)
                    [ PlanDiagnostics.timeCutShort what ]
                | _ -> []
            { Tree = Some t; Notes = notes }
