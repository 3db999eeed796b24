namespace TnDsl

open System
open System.Collections.Generic
open System.Diagnostics
open System.Threading.Tasks

/// Greedy planning: contract the cheapest pair first, and its randomised, repeated form.
module PlanGreedy =
    /// An index on more live tensors than this does not make its carriers candidate pairs on its own (a batch
    /// hyperindex would otherwise make every pair of inputs a candidate); such tensors still meet at the end.
    let hyperFanout = 32

    /// One greedy run: its tree and its figures as log2 values (never overflow) for comparing runs.
    type Run =
        { Tree: ContractionTree
          /// log2 of the opt_einsum flops.
          Flops: float
          /// log2 of the largest intermediate.
          Largest: float
          /// log2 of the elements written.
          Write: float }

    /// log2(2^a + 2^b) without overflow.
    let logAdd (a: float) (b: float) =
        if Double.IsNegativeInfinity a then b
        elif Double.IsNegativeInfinity b then a
        else
            let m = max a b
            m + Math.Log2(Math.Pow(2.0, a - m) + Math.Pow(2.0, b - m))

    /// The (primary, tie-break) score of a run under an objective, lower is better (log2 values).
    let score objective (r: Run) =
        match objective with
        | Flops -> struct (r.Flops, r.Largest)
        | Size -> struct (r.Largest, r.Flops)
        | Write -> struct (r.Write, r.Flops)
        | Combo f -> struct (logAdd r.Flops (Math.Log2 f + r.Write), r.Largest)

    /// sign(c) log2(1 + |c|) for c = 2^lo - alpha (2^la + 2^lb), computed from log2 sizes so it never overflows;
    /// a monotone image of the memory-removed cost.
    let private key (lo: float) (la: float) (lb: float) (alpha: float) =
        let m = max lo (max la lb)
        let c = Math.Pow(2.0, lo - m) - alpha * (Math.Pow(2.0, la - m) + Math.Pow(2.0, lb - m))
        if c = 0.0 then 0.0
        else float (sign c) * (m + Math.Log2(Math.Pow(2.0, -m) + abs c))

    /// How greedy weighs a node by its runs over the slices of a sliced plan (`PlanReuse`, reuse across slices): per
    /// index id, its bit in a node's dependency mask (the sliced indices carried by a leaf below it; -1 for an index
    /// not sliced, at most 64 sliced), and log2 of the runs of a node with a given mask.
    type RunWeight = { Bit: int array; RunsLog: uint64 -> float }

    /// Greedy with the memory-removed heuristic `size(out) - alpha (size(a) + size(b))`; with temperature > 0 each
    /// candidate's (log-compressed) cost gets Gumbel noise, which samples pairs with Boltzmann weights.
    /// Candidates whose result exceeds 2^logLimit elements are skipped; what is left joins smallest first.
    /// Sizes are handled as log2 values throughout, so no network is too large.
    /// With `flopsFirst`, the pair whose step costs the fewest flops goes first instead (memory-removed cost breaks
    /// ties): poor on its own in general, but it finds the boundary sweeps of chains (vector times matrix before
    /// matrix times matrix), so it is one of the variants `bestGreedy` and random-greedy try.
    /// Indices in `unlinked` never make their carriers candidate pairs (the batch in the broadcast view, which sits
    /// on every live tensor, so that the last few tensors are not joined by cheap outer products over it).
    /// With a `weight`, every size and flop count is multiplied by the node's runs (a node's size is then what it
    /// writes over all slices), and so are the run's figures; the limit (`logLimit`, log2 elements) stays on one
    /// node's size.
    let runWeighted (weight: RunWeight option) (flopsFirst: bool) (unlinked: int array) (p: Indexed) (logLimit: float) (alpha: float) (temperature: float) (rng: Random) : Run =
        let n = p.Inputs.Length
        let lsz = p.Size |> Array.map (fun s -> Math.Log2(float s))
        if n = 1 then
            let sz = p.Inputs[0] |> Array.sumBy (fun i -> lsz[i])
            let outSz = p.Output |> Array.sumBy (fun i -> lsz[i])
            let summed = p.Inputs[0].Length > p.Output.Length
            { Tree = { Leaves = 1; Steps = [| [| 0 |] |] }
              Flops = sz + (if summed then 1.0 else 0.0)
              Largest = outSz
              Write = outSz }
        else
            let cap = 2 * n
            let idx = Array.zeroCreate<int array> cap
            let size = Array.zeroCreate<float> cap
            // log2 of the node's size times its runs, and its dependency mask (only with a weight).
            let weighed = Array.zeroCreate<float> cap
            let dep = Array.zeroCreate<uint64> cap
            let runsLog (mask: uint64) = match weight with Some w -> w.RunsLog mask | None -> 0.0
            let live = Array.zeroCreate<bool> cap
            let carriers = p.Carriers |> Array.map (fun c -> HashSet<int>(c))
            for t in 0 .. n - 1 do
                idx[t] <- p.Inputs[t]
                size[t] <- p.Inputs[t] |> Array.sumBy (fun i -> lsz[i])
                match weight with
                | Some w -> dep[t] <- p.Inputs[t] |> Array.fold (fun m i -> if w.Bit[i] >= 0 then m ||| (1UL <<< w.Bit[i]) else m) 0UL
                | None -> ()
                weighed[t] <- size[t] + runsLog dep[t]
                live[t] <- true
            let steps = ResizeArray<int array>(n)
            let mutable next = n
            let mutable flops = Double.NegativeInfinity
            let mutable largest = 0.0
            let mutable write = Double.NegativeInfinity
            let kept = ResizeArray<int>()
            // Walks the union of two sorted index lists; returns log2 (result size, involved size) and whether
            // an index is summed, and leaves the result's indices in `kept`.
            let merge (a: int) (b: int) =
                let ia = idx[a]
                let ib = idx[b]
                kept.Clear()
                let mutable outSize = 0.0
                let mutable involved = 0.0
                let mutable summed = false
                let mutable x = 0
                let mutable y = 0
                while x < ia.Length || y < ib.Length do
                    let i, c =
                        if y >= ib.Length || (x < ia.Length && ia[x] < ib[y]) then
                            x <- x + 1
                            ia[x - 1], 1
                        elif x >= ia.Length || ib[y] < ia[x] then
                            y <- y + 1
                            ib[y - 1], 1
                        else
                            x <- x + 1
                            y <- y + 1
                            ia[x - 1], 2
                    involved <- involved + lsz[i]
                    if p.IsOutput[i] || carriers[i].Count > c then
                        kept.Add i
                        outSize <- outSize + lsz[i]
                    else
                        summed <- true
                struct (outSize, involved, summed)
            let pq = PriorityQueue<struct (int * int), struct (float * float * int)>()
            let mutable counter = 0
            let push a b =
                let struct (outSize, involved, summed) = merge a b
                if outSize <= logLimit then
                    let r = if weight.IsSome then runsLog (dep[a] ||| dep[b]) else 0.0
                    let stepFlops = involved + (if summed then 1.0 else 0.0) + r
                    let memory = key (outSize + r) weighed[a] weighed[b] alpha
                    let g, second = if flopsFirst then stepFlops, memory else memory, stepFlops
                    let c =
                        if temperature > 0.0 then
                            let u = max 1e-300 (rng.NextDouble())
                            g + temperature * Math.Log(-Math.Log u)
                        else
                            g
                    // Keys equal up to rounding (a vector-matrix and a matrix-matrix product often free the same
                    // memory) fall in one bucket of width 2^-20, and the step with fewer flops goes first.
                    let bucket = Math.Round(c * 1048576.0) / 1048576.0
                    counter <- counter + 1
                    pq.Enqueue(struct (a, b), struct (bucket, second, counter))
            let contract a b =
                let struct (outSize, involved, summed) = merge a b
                let v = next
                next <- next + 1
                idx[v] <- kept.ToArray()
                size[v] <- outSize
                dep[v] <- dep[a] ||| dep[b]
                let r = runsLog dep[v]
                weighed[v] <- outSize + r
                live[v] <- true
                live[a] <- false
                live[b] <- false
                for i in idx[a] do
                    carriers[i].Remove a |> ignore
                for i in idx[b] do
                    carriers[i].Remove b |> ignore
                for i in idx[v] do
                    carriers[i].Add v |> ignore
                steps.Add [| a; b |]
                flops <- logAdd flops (involved + (if summed then 1.0 else 0.0) + r)
                largest <- max largest outSize
                write <- logAdd write (outSize + r)
                v
            let seen = HashSet<int>()
            let nbrs = ResizeArray<int>()
            let neighbours v =
                seen.Clear()
                nbrs.Clear()
                for i in idx[v] do
                    if carriers[i].Count <= hyperFanout && not (Array.contains i unlinked) then
                        for u in carriers[i] do
                            if u <> v && seen.Add u then nbrs.Add u
                nbrs.Sort()
                nbrs.ToArray()
            for t in 0 .. n - 1 do
                for u in neighbours t do
                    if u > t then push t u
            while pq.Count > 0 do
                let struct (a, b) = pq.Dequeue()
                if live[a] && live[b] then
                    let v = contract a b
                    for u in neighbours v do
                        push u v
            // Whatever is left (disconnected parts, hyperindex-only links, pairs over the limit) joins smallest first.
            let rest = PriorityQueue<int, struct (float * int)>()
            for v in 0 .. next - 1 do
                if live[v] then rest.Enqueue(v, struct (weighed[v], v))
            while rest.Count > 1 do
                let a = rest.Dequeue()
                let b = rest.Dequeue()
                let v = contract a b
                rest.Enqueue(v, struct (weighed[v], v))
            { Tree = { Leaves = n; Steps = steps.ToArray() }
              Flops = flops
              Largest = largest
              Write = write }

    /// Greedy without a weight (`runWeighted`), under a limit in elements.
    let runKeyed (flopsFirst: bool) (unlinked: int array) (p: Indexed) (limit: float) (alpha: float) (temperature: float) (rng: Random) : Run =
        runWeighted None flopsFirst unlinked p (Math.Log2 limit) alpha temperature rng

    /// One greedy run with the memory-removed cost (see `runKeyed`).
    let run (p: Indexed) (limit: float) (alpha: float) (temperature: float) (rng: Random) : Run =
        runKeyed false [||] p limit alpha temperature rng

    let private limitOf (o: PlanOptions) =
        match o.MemoryLimit with
        | Some l -> float l
        | None -> Double.PositiveInfinity

    /// The figures of a tree on a problem, as log2 values, from the exact cost model.
    let evaluate (p: Indexed) (t: ContractionTree) : Run =
        let st = Cost.steps p t
        let lg (b: Numerics.BigInteger) = if b.Sign <= 0 then Double.NegativeInfinity else Numerics.BigInteger.Log(b, 2.0)
        { Tree = t
          Flops = st |> Array.sumBy (fun s -> s.Flops) |> lg
          Largest = st |> Array.fold (fun m s -> max m (lg s.Size)) 0.0
          Write = st |> Array.sumBy (fun s -> s.Size) |> lg }

    /// The batch-like indices of a problem: output indices on three or more tensors but not on all of them.
    let batchIndices (p: Indexed) =
        let n = p.Inputs.Length
        [| for i in 0 .. p.Size.Length - 1 do if p.IsOutput[i] && p.Carriers[i].Length >= 3 && p.Carriers[i].Length < n then i |]

    /// The problem with every batch-like index (an output index on three or more tensors) placed on every
    /// tensor, or None when there is no such index. A contraction with a batch is, for every batch entry, a
    /// contraction without it; this view makes greedy cost each pair as it will be paid once the batch has spread,
    /// which stops it from building large batch-free blocks (MPS chains with many open physical legs) that must
    /// later meet the batched inputs. Trees have the same leaves in both views.
    let broadcast (p: Indexed) : Indexed option =
        let n = p.Inputs.Length
        let wide = batchIndices p
        if wide.Length = 0 then None
        else
            let inputs = p.Inputs |> Array.map (fun ix -> Array.append ix wide |> Array.distinct |> Array.sort)
            let carriers = Array.copy p.Carriers
            for i in wide do
                carriers[i] <- Array.init n id
            Some { p with Inputs = inputs; Carriers = carriers }

    /// A way to run greedy: the view of the problem searched (the problem itself or its broadcast view) and
    /// whether the cheapest step goes first instead of the memory-removed cost.
    type private Variant = { View: Indexed; FlopsFirst: bool; Unlinked: int array }

    /// The deterministic variants tried on a problem: memory-removed and flops-first on the problem, and on its
    /// broadcast view when it has a batch-like index.
    let private variants (p: Indexed) =
        [| yield { View = p; FlopsFirst = false; Unlinked = [||] }
           match broadcast p with
           | Some b ->
               yield { View = b; FlopsFirst = false; Unlinked = batchIndices p }
               yield { View = b; FlopsFirst = true; Unlinked = batchIndices p }
           | None -> ()
           yield { View = p; FlopsFirst = true; Unlinked = [||] } |]

    /// One greedy run of a variant, with its figures taken on the real problem.
    let private runVariant (p: Indexed) (v: Variant) limit alpha temperature rng =
        let r = runKeyed v.FlopsFirst v.Unlinked v.View limit alpha temperature rng
        if obj.ReferenceEquals(v.View, p) then r else evaluate p r.Tree

    /// The better of two runs: one within the memory limit first, then by the objective.
    let private better (o: PlanOptions) (limit: float) (a: Run) (b: Run) =
        let within (r: Run) = r.Largest <= Math.Log2 limit + 1e-9
        if within b && (not (within a) || score o.Objective b < score o.Objective a) then b else a

    /// Every deterministic greedy variant (memory-removed and flops-first, on the problem and, with a batch-like
    /// index, on its broadcast view), the best kept.
    let bestGreedy (p: Indexed) (o: PlanOptions) : Run =
        let limit = limitOf o
        variants p |> Array.map (fun v -> runVariant p v limit 1.0 0.0 (Random 0)) |> Array.reduce (better o limit)

    /// Greedy as opt_einsum's documentation describes its `greedy` (facts, not its code): tensors with the same index
    /// set are multiplied first (Hadamard products); then, among pairs sharing an index that can be summed, the pair
    /// with the least `size(result) - size(a) - size(b)` goes first, ties to the pair whose larger id is lower, then
    /// whose smaller id is; what is left joins by outer products, smallest first. An index on every tensor counts
    /// as open. A tensor's index set is kept as it was predicted when its pair was chosen (opt_einsum does so too),
    /// and a pair is taken when tensors with its two index sets are still live. The tree it builds is opt_einsum's,
    /// so `greedy`, which takes the better of this and `bestGreedy`, is never dearer than opt_einsum's greedy.
    /// Sizes are float64 (exact below 2^53; beyond, only the order of choices can differ). It gives up (None) at the
    /// first step whose indices (the operands' true ones, not the predicted) span more than 2^bound elements: that
    /// step alone costs more than 2^bound flops. Without a bound its pair search can grow quadratic in a step's
    /// indices (seconds on the Born machine's 1568 tensors, where it builds steps of hundreds of indices).
    let einsumStyleWithin (bound: float) (p: Indexed) : ContractionTree option =
        let n = p.Inputs.Length
        if n = 1 then Some { Leaves = 1; Steps = [| [| 0 |] |] }
        else
        let isOpen = Array.init p.Size.Length (fun i -> p.IsOutput[i] || p.Carriers[i].Length = n)
        let sizeOf (ix: int array) = ix |> Array.fold (fun s i -> s * float p.Size[i]) 1.0
        let keyOf (ix: int array) = String.Join(",", ix)
        // Live tensors by index-set key (one per key), their index sets, and per summable index its live carriers.
        let live = Dictionary<string, int>()
        let indices = Dictionary<int, int array>()
        let carriers = Dictionary<int, SortedSet<int>>()
        let steps = ResizeArray<int array>()
        // Each node's true indices and each index's live carriers, as the cost model sees them, for the bound.
        let lsz = p.Size |> Array.map (fun s -> Math.Log2(float s))
        let truth = Dictionary<int, int array>()
        for t in 0 .. n - 1 do
            truth[t] <- p.Inputs[t]
        let trueCount = p.Carriers |> Array.map Array.length
        let mutable over = false
        let join (a: int) (b: int) =
            let ta = truth[a]
            let tb = truth[b]
            let kept = ResizeArray<int>(ta.Length + tb.Length)
            let mutable involved = 0.0
            let mutable x = 0
            let mutable y = 0
            while x < ta.Length || y < tb.Length do
                let i, c =
                    if y >= tb.Length || (x < ta.Length && ta[x] < tb[y]) then
                        x <- x + 1
                        ta[x - 1], 1
                    elif x >= ta.Length || tb[y] < ta[x] then
                        y <- y + 1
                        tb[y - 1], 1
                    else
                        x <- x + 1
                        y <- y + 1
                        ta[x - 1], 2
                involved <- involved + lsz[i]
                trueCount[i] <- trueCount[i] - c + 1
                if p.IsOutput[i] || trueCount[i] > 1 then kept.Add i else trueCount[i] <- 0
            if involved > bound then over <- true
            truth.Remove a |> ignore
            truth.Remove b |> ignore
            steps.Add [| min a b; max a b |]
            truth[n + steps.Count - 1] <- kept.ToArray()
            n + steps.Count - 1
        let attach v (ix: int array) =
            indices[v] <- ix
            live[keyOf ix] <- v
            for i in ix do
                if not isOpen[i] then
                    match carriers.TryGetValue i with
                    | true, c -> c.Add v |> ignore
                    | _ -> carriers[i] <- SortedSet<int>([ v ])
        let detach v =
            for i in indices[v] do
                if not isOpen[i] then carriers[i].Remove v |> ignore
            live.Remove(keyOf indices[v]) |> ignore
            indices.Remove v |> ignore
        // A tensor whose index set is already live is multiplied into it at once.
        let place v (ix: int array) =
            match live.TryGetValue(keyOf ix) with
            | true, u ->
                detach u
                let w = join u v
                attach w ix
                w
            | _ ->
                attach v ix
                v
        for t in 0 .. n - 1 do
            place t p.Inputs[t] |> ignore
        let count i = match carriers.TryGetValue i with | true, c -> c.Count | _ -> 0
        // A pair's predicted index set and its cost, ordered as opt_einsum orders its queue.
        let candidate a b =
            let ia = indices[a]
            let ib = indices[b]
            let shared = HashSet<int>(ia)
            shared.IntersectWith ib
            let result =
                Array.append ia ib
                |> Array.distinct
                |> Array.filter (fun i -> isOpen[i] || count i >= (if shared.Contains i then 3 else 2))
                |> Array.sort
            struct (sizeOf result - sizeOf ia - sizeOf ib, max a b, min a b), result
        let queue = PriorityQueue<struct (string * string * int array), struct (float * int * int)>()
        let pushBest a (others: int seq) =
            let (struct (_, hi, lo) as cost), result = others |> Seq.map (candidate a) |> Seq.minBy fst
            queue.Enqueue(struct (keyOf indices[lo], keyOf indices[hi], result), cost)
        for KeyValue (_, c) in carriers |> Seq.sortBy (fun kv -> kv.Key) |> Seq.toArray do
            let ids = Seq.toArray c
            for k in 0 .. ids.Length - 2 do
                pushBest ids[k] ids[k + 1 ..]
        while queue.Count > 0 && not over do
            let struct (ka, kb, result) = queue.Dequeue()
            match live.TryGetValue ka, live.TryGetValue kb with
            | (true, a), (true, b) when a <> b ->
                detach a
                detach b
                let v = place (join a b) result
                let others = SortedSet<int>()
                for i in result do
                    if not isOpen[i] then others.UnionWith carriers[i]
                others.Remove v |> ignore
                if others.Count > 0 then pushBest v others
            | _ -> ()
        // Outer products, smallest (by open indices) first.
        let openOf (ix: int array) = ix |> Array.filter (fun i -> isOpen[i])
        let rest = PriorityQueue<struct (int * int array), struct (float * int)>()
        for KeyValue (v, ix) in indices do
            let o = openOf ix
            rest.Enqueue(struct (v, o), struct (sizeOf o, v))
        let mutable struct (a, ia) = rest.Dequeue()
        while rest.Count > 0 && not over do
            let struct (b, ib) = rest.Dequeue()
            let o = Array.append ia ib |> Array.distinct |> Array.sort
            let v = join a b
            let struct (c, ic) = rest.EnqueueDequeue(struct (v, o), struct (sizeOf o, v))
            a <- c
            ia <- ic
        if over then None else Some { Leaves = n; Steps = steps.ToArray() }

    /// opt_einsum's greedy tree (see `einsumStyleWithin`), whatever it costs.
    let einsumStyle (p: Indexed) : ContractionTree = (einsumStyleWithin Double.PositiveInfinity p).Value

    /// A tree's standing under the options, exact, lower is better: over the memory limit last, then by the
    /// objective (its tie-break second), after the single-operand reductions that every plan gets (so in the
    /// figures `tn plan` reports). Trees are compared by it wherever one optimizer must be no dearer than another.
    let standing (p: Indexed) (o: PlanOptions) (t: ContractionTree) =
        let limit = o.MemoryLimit |> Option.map Numerics.BigInteger
        let r = Cost.report p (PlanReduce.leaves p o.Objective limit t)
        let over = limit |> Option.exists (fun l -> r.LargestIntermediate > l)
        match o.Objective with
        | Flops -> over, r.Flops, r.LargestIntermediate
        | Size -> over, r.LargestIntermediate, r.Flops
        | Write -> over, r.Write, r.Flops
        | Combo f -> over, r.Flops + Numerics.BigInteger(f * 1048576.0) * r.Write / Numerics.BigInteger 1048576, r.LargestIntermediate

    /// log2 of a tree's flops in float64, in one pass over its steps (linear in the indices they involve): a quick
    /// figure for trees whose exact costing (`Cost.steps`, quadratic in a step's indices) would be slow.
    let private log2Flops (p: Indexed) (t: ContractionTree) =
        let lsz = p.Size |> Array.map (fun s -> Math.Log2(float s))
        let indices = Array.zeroCreate<int array> (t.Leaves + t.Steps.Length)
        for i in 0 .. t.Leaves - 1 do
            indices[i] <- p.Inputs[i]
        let remaining = p.Carriers |> Array.map Array.length
        let counts = Dictionary<int, int>()
        let mutable flops = Double.NegativeInfinity
        t.Steps
        |> Array.iteri (fun s children ->
            counts.Clear()
            for c in children do
                for i in indices[c] do
                    counts[i] <- (match counts.TryGetValue i with | true, k -> k + 1 | _ -> 1)
            let kept = ResizeArray<int>()
            let mutable involved = 0.0
            for KeyValue (i, k) in counts do
                involved <- involved + lsz[i]
                remaining[i] <- remaining[i] - k + 1
                if p.IsOutput[i] || remaining[i] > 1 then kept.Add i else remaining[i] <- 0
            let summed = kept.Count < counts.Count
            indices[t.Leaves + s] <- kept.ToArray()
            flops <- logAdd flops (involved + Math.Log2(float (max 1 (children.Length - 1) + (if summed then 1 else 0)))))
        flops

    /// Whether opt_einsum's tree may be dropped early (the flops objective, no memory limit), and the slack: how
    /// much cheaper (log2) the single-operand reductions can make a tree.
    let private einsumSlack (p: Indexed) (o: PlanOptions) =
        let flopsOnly = o.Objective = Flops && o.MemoryLimit.IsNone
        // Both figures are before the single-operand reductions, and the trees are compared after them: summing
        // first the indices that one tensor holds divides a step's cost by at most their sizes' product, and by 2
        // more where that leaves the step nothing to sum (opt_einsum's factor; a reduced index of size 1 saves only
        // that), so a tree is dropped early only when it is dearer by more than that (2^slack).
        let singles =
            Array.init p.Size.Length id |> Array.filter (fun i -> p.Carriers[i].Length = 1 && not p.IsOutput[i])
        let slack =
            if singles.Length = 0 then 0.0
            else 1.0 + (singles |> Array.sumBy (fun i -> Math.Log2(float p.Size[i])))
        flopsOnly, slack

    /// opt_einsum's greedy tree as `orEinsumStyle` builds it against `run` (None where it is dropped as it is built).
    let private einsumAgainst (p: Indexed) (o: PlanOptions) (run: Run) =
        let flopsOnly, slack = einsumSlack p o
        einsumStyleWithin (if flopsOnly then run.Flops + slack + 1e-9 else Double.PositiveInfinity) p

    /// `theirs` (opt_einsum's tree built against `run` or a dearer run) where it is strictly better than `run`'s tree,
    /// whose standing `runStanding` gives, else `run`'s tree (see `orEinsumStyle`).
    let private orTheirs (p: Indexed) (o: PlanOptions) (run: Run) (runStanding: unit -> bool * Numerics.BigInteger * Numerics.BigInteger) (theirs: ContractionTree option) =
        let flopsOnly, slack = einsumSlack p o
        match theirs with
        | Some theirs when not (flopsOnly && log2Flops p theirs - slack > run.Flops + Math.Log2 1.01)
                           && standing p o theirs < runStanding () -> theirs
        | _ -> run.Tree

    /// `run`'s tree, or opt_einsum's greedy tree (`einsumStyle`) where that is strictly better under the options.
    /// Under the flops objective without a limit, a second tree with a step dearer than `run`'s whole tree is dropped
    /// as soon as the step appears, and one clearly dearer in all (by 1 % or more, in float64) without exact costing,
    /// which can take seconds on a tree with large intermediates (opt_einsum's tree on the Born machine's 1568
    /// tensors carries hundreds of indices a step).
    let orEinsumStyle (p: Indexed) (o: PlanOptions) (run: Run) : ContractionTree =
        orTheirs p o run (fun () -> standing p o run.Tree) (einsumAgainst p o run)

    /// The `greedy` optimizer's tree, given `bestGreedy`'s run: that run's tree, or opt_einsum's greedy tree where
    /// that is strictly better (`orEinsumStyle`).
    let greedyTree (p: Indexed) (o: PlanOptions) (bestGreedyRun: Run) : ContractionTree = orEinsumStyle p o bestGreedyRun

    /// `searched`'s tree, or the `greedy` optimizer's (`greedyTree` of `bestGreedyRun`) where that is strictly better
    /// by `standing`: the tree of a search made never dearer than greedy. `bestGreedyRun`'s tree is taken where it
    /// is strictly better, and opt_einsum's tree is tried against the better of the two, which bounds how far it
    /// is built (`orEinsumStyle`): greedy's tree is one of these two, or opt_einsum's where it is strictly better
    /// than the first, so the result is never dearer than greedy's. Two or three exact costings more.
    let noDearerThanGreedy (p: Indexed) (o: PlanOptions) (bestGreedyRun: Run) (searched: Run) : ContractionTree =
        let incumbent =
            if obj.ReferenceEquals(searched, bestGreedyRun) || standing p o bestGreedyRun.Tree < standing p o searched.Tree then bestGreedyRun
            else searched
        orEinsumStyle p o incumbent

    /// `greedy`: cheapest-pair-first, deterministic; the best of its variants (see `bestGreedy`), or opt_einsum's
    /// greedy tree where that is strictly better (`greedyTree`). `random-greedy`, `hyper` and `auto` take this tree
    /// where it is strictly better than what they found (`noDearerThanGreedy`), so none is dearer than greedy.
    let greedy: Optimizer =
        fun p o ->
            { Tree = Some (greedyTree p o (bestGreedy p o))
              Notes = [] }

    /// The best of many greedy runs with random cost weights and Boltzmann-sampled choices, and the best of its
    /// first trials, which are the deterministic variants of `bestGreedy` (that run itself); the rest cycle
    /// through the variants with noise. Runs are compared by their log2 figures before the single-operand
    /// reductions, so the best run can be dearer than `bestGreedy`'s once both are reduced (27 flops for 25 on a
    /// random network): `randomGreedy` compares the two exactly. Trial t uses its own generator seeded from
    /// (seed, t), so the result does not depend on threads; `Trials` caps the runs; with a time budget, trials
    /// stop starting when it is spent. With `first` (`bestGreedy`'s run, made already), the deterministic trials
    /// are not run again: their best is that run. Also the trials run (those of `first` counted) of those asked.
    let private randomGreedyRunsCounted (first: Run option) (p: Indexed) (o: PlanOptions) : struct (Run * Run * int * int) =
        let limit = limitOf o
        let vs = variants p
        let trials = max vs.Length o.Trials
        let clock = Stopwatch.StartNew()
        // The best run so far and its trial number, not every trial's run: 10^8 trials kept grew by 15 MB a second
        // until the machine gave out. The earlier trial wins a tie, as in a fold over the trials in order.
        let gate = obj ()
        let best: (int * Run) option ref = ref (first |> Option.map (fun r -> 0, r))
        let deterministic: (int * Run) option ref = ref best.Value
        let from = if first.IsSome then vs.Length else 0
        let keep t (r: Run) =
            lock gate (fun () ->
                // `better` keeps its first argument on a tie, so this is "the challenger is strictly better".
                let improves (incumbent: Run) (challenger: Run) = not (obj.ReferenceEquals(better o limit incumbent challenger, incumbent))
                let update (slot: (int * Run) option ref) =
                    match slot.Value with
                    | Some (bt, b) when not (improves b r) && (t > bt || improves r b) -> ()
                    | _ -> slot.Value <- Some(t, r)
                update best
                if t < vs.Length then update deterministic)
        let trial t =
            let rng = Random(o.Seed * 1000003 + t * 7919)
            let v = vs[t % vs.Length]
            if t < vs.Length then
                runVariant p v limit 1.0 0.0 rng
            else
                let alpha = 0.5 + 1.5 * rng.NextDouble()
                let temperature = Math.Exp(Math.Log 0.01 + (Math.Log 1.0 - Math.Log 0.01) * rng.NextDouble())
                runVariant p v limit alpha temperature rng
        // A trial is not started when the mean trial so far would end past the budget, less one more mean trial
        // for what follows the search (the plan's figures cost about one greedy run).
        let mutable finished = 0
        let spent () =
            match o.TimeLimitMs with
            | Some ms ->
                let elapsed = float clock.ElapsedMilliseconds
                elapsed + (if finished > 0 then 2.0 * elapsed / float finished else 0.0) >= float ms
            | None -> false
        let trial t =
            let r = trial t
            Threading.Interlocked.Increment(&finished) |> ignore
            r
        let body t (state: ParallelLoopState) =
            if spent () then state.Stop() else keep t (trial t)
        if o.Parallel then
            // The deterministic trials always run; the randomised ones share what is left of the budget.
            Parallel.For(from, vs.Length, Action<int>(fun t -> keep t (trial t))) |> ignore
            Parallel.For(vs.Length, trials, Action<int, ParallelLoopState>(body)) |> ignore
        else
            let mutable t = from
            while t < trials && (t < vs.Length || not (spent ())) do
                keep t (trial t)
                t <- t + 1
        struct (snd (Option.get best.Value), snd (Option.get deterministic.Value), from + finished, trials)

    /// `randomGreedyRunsCounted` without the trial counts.
    let private randomGreedyRunsFrom (first: Run option) (p: Indexed) (o: PlanOptions) : struct (Run * Run) =
        let struct (best, deterministic, _, _) = randomGreedyRunsCounted first p o
        struct (best, deterministic)

    /// The best of many greedy runs (see `randomGreedyRunsFrom`): the best run and the best of the deterministic
    /// trials (`bestGreedy`'s run).
    let randomGreedyRuns (p: Indexed) (o: PlanOptions) : struct (Run * Run) = randomGreedyRunsFrom None p o

    /// The best of many greedy runs (see `randomGreedyRuns`), compared before the single-operand reductions.
    let randomGreedyRun (p: Indexed) (o: PlanOptions) : Run =
        let struct (best, _) = randomGreedyRuns p o
        best

    /// `randomGreedyRun` given `bestGreedy`'s run (`first`), made already: its deterministic trials are not run again
    /// (the same best run; under a wall-clock limit, their time goes to the randomised trials).
    let randomGreedyRunFrom (first: Run) (p: Indexed) (o: PlanOptions) : Run =
        let struct (best, _) = randomGreedyRunsFrom (Some first) p o
        best

    /// The exact costings, in standings (`standing`: the reductions and a cost report) of greedy's tree, that may
    /// follow a search made never dearer than greedy under a wall-clock limit (`noDearerWithin`): the searched
    /// tree's figures (hyper) and standing, opt_einsum's tree's standing, and the plan's figures (`Plan.run`: the
    /// reductions, the steps' costs and the report), with one more for a tree slower to cost than greedy's.
    let costingsAfterSearch = 5.0

    /// `noDearerThanGreedy` under a wall-clock limit (`deadline`, started where the search began): what it needs of
    /// greedy first (`bestGreedy`'s run, opt_einsum's tree built against it, and the run's standing, which cost
    /// greedy runs and exact costings: 30-70 ms past a limit of 250 ms on networks of 256 to 1024 tensors when they
    /// came after the search), then `search`, given `bestGreedy`'s run and options whose limit is what is left less
    /// `costingsAfterSearch` times the costing just timed, then the comparisons. The same tree as
    /// `noDearerThanGreedy`: opt_einsum's tree, built against greedy's run instead of the better of the two, is
    /// dropped after against the better as it would have been (or costed and found dearer, by the slack's argument).
    let noDearerWithin (deadline: Deadline) (p: Indexed) (o: PlanOptions) (search: Run -> PlanOptions -> Run) : ContractionTree =
        let first = bestGreedy p o
        let theirs = einsumAgainst p o first
        let costing = Stopwatch.StartNew()
        let firstStanding = standing p o first.Tree
        let reserve = costingsAfterSearch * costing.Elapsed.TotalMilliseconds
        let searched = search first (deadline.Options(o, 1.0, reserve))
        let searchedStanding = lazy (standing p o searched.Tree)
        let incumbent, incumbentStanding =
            if obj.ReferenceEquals(searched, first) || firstStanding < searchedStanding.Force() then first, (fun () -> firstStanding)
            else searched, (fun () -> searchedStanding.Force())
        orTheirs p o incumbent incumbentStanding theirs

    /// `random-greedy`'s tree under a wall-clock limit (greedy's plan first: `noDearerWithin`), with the trials run
    /// (the deterministic ones counted) of those asked.
    let randomGreedyWithin (p: Indexed) (o: PlanOptions) : struct (ContractionTree * int * int) =
        let deadline = Deadline o.TimeLimitMs
        let ran, asked = ref 0, ref 0
        let search first o =
            let struct (best, _, r, a) = randomGreedyRunsCounted (Some first) p o
            ran.Value <- r
            asked.Value <- a
            best
        let tree = noDearerWithin deadline p o search
        struct (tree, ran.Value, asked.Value)

    /// `random-greedy`: the best of `randomGreedyRuns`' runs, or `greedy`'s tree where that is strictly better by
    /// `standing` (`noDearerThanGreedy`; its deterministic trials are `bestGreedy`'s run), so that random-greedy is
    /// never dearer than `greedy`. Under a wall-clock limit, greedy's plan comes first (`randomGreedyWithin`), and
    /// where the clock stopped the trials a TN0314 note gives those run of those asked.
    let randomGreedy: Optimizer =
        fun p o ->
            match o.TimeLimitMs with
            | None ->
                let struct (best, first) = randomGreedyRuns p o
                { Tree = Some (noDearerThanGreedy p o first best)
                  Notes = [] }
            | Some _ ->
                let struct (tree, ran, asked) = randomGreedyWithin p o
                { Tree = Some tree
                  Notes = [ if ran < asked then PlanDiagnostics.timeCutShort (String.Format("random-greedy after {0} of {1} trials", ran, asked)) ] }
