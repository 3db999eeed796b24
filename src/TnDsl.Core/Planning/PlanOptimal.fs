namespace TnDsl

open System
open System.Collections.Generic
open System.Diagnostics
open System.Numerics

/// `optimal`: the exact best order by dynamic programming over subnetworks.
///
/// Each connected part of the network is solved on its own. A part of at most `exhaustiveUpTo` tensors is solved
/// over every subset and every split, so every tree is considered, outer products included: they are used exactly
/// where they help. A larger part (up to 64 tensors) is solved over connected subnetworks only, each
/// connected-subgraph/connected-complement pair enumerated once (Moerkotte and Neumann's DPccp order, which
/// visits a set's splits only after both halves are final), the restriction of Pfeifer et al. to contractions
/// that share an index. The parts' results are then joined smallest first.
module PlanOptimal =
    /// Parts up to this many tensors are searched over all trees, outer products included.
    let exhaustiveUpTo = 14

    /// Parts larger than this are not searched exactly (bit masks of tensors are 64 bits wide).
    let maxTensors = 64

    /// Index groups (indices on the same tensors, fused) a part may have: two 64-bit words.
    let maxGroups = 128

    /// The default time budget of an exact search before it gives up and falls back to random-greedy.
    let defaultBudgetMs = 20000

    exception private OutOfTime

    /// A part of the network as bit masks: tensor k of the part is bit k; indices on the same tensors with the
    /// same openness are fused into one group whose size is their product.
    type private Net =
        { Tensors: int array
          GSize: float array
          GOut: bool array
          GCar: uint64 array
          TLo: uint64 array
          THi: uint64 array
          /// Per tensor: its groups without those only it carries and that are closed (summed by a single-operand
          /// reduction); equal to TLo/THi when it has none.
          RLo: uint64 array
          RHi: uint64 array
          /// The open groups as masks.
          OpenLo: uint64
          OpenHi: uint64
          Adj: uint64 array }

    let private buildNet (p: Indexed) (tensors: int array) =
        let local = Dictionary<int, int>()
        tensors |> Array.iteri (fun k t -> local[t] <- k)
        let groups = Dictionary<struct (uint64 * bool), int>()
        let gSize = ResizeArray<float>()
        let gOut = ResizeArray<bool>()
        let gCar = ResizeArray<uint64>()
        let indices = tensors |> Array.collect (fun t -> p.Inputs[t]) |> Array.distinct |> Array.sort
        for i in indices do
            let car = p.Carriers[i] |> Array.fold (fun m t -> m ||| (1UL <<< local[t])) 0UL
            // An index also carried outside the part stays open, like an output index.
            let isOpen = p.IsOutput[i] || p.Carriers[i] |> Array.exists (fun t -> not (local.ContainsKey t))
            let key = struct (car, isOpen)
            match groups.TryGetValue key with
            | true, g -> gSize[g] <- gSize[g] * float p.Size[i]
            | _ ->
                groups[key] <- gSize.Count
                gSize.Add(float p.Size[i])
                gOut.Add isOpen
                gCar.Add car
        let n = tensors.Length
        let tLo = Array.zeroCreate n
        let tHi = Array.zeroCreate n
        let adj = Array.zeroCreate n
        for g in 0 .. gCar.Count - 1 do
            for k in 0 .. n - 1 do
                if gCar[g] &&& (1UL <<< k) <> 0UL then
                    if g < 64 then tLo[k] <- tLo[k] ||| (1UL <<< g) else tHi[k] <- tHi[k] ||| (1UL <<< (g - 64))
                    adj[k] <- adj[k] ||| gCar[g]
        for k in 0 .. n - 1 do
            adj[k] <- adj[k] &&& ~~~(1UL <<< k)
        let mutable openLo = 0UL
        let mutable openHi = 0UL
        for g in 0 .. gOut.Count - 1 do
            if gOut[g] then
                if g < 64 then openLo <- openLo ||| (1UL <<< g) else openHi <- openHi ||| (1UL <<< (g - 64))
        let rLo = Array.copy tLo
        let rHi = Array.copy tHi
        for g in 0 .. gCar.Count - 1 do
            if not gOut[g] && BitOperations.PopCount gCar[g] = 1 then
                let k = BitOperations.TrailingZeroCount gCar[g]
                if g < 64 then rLo[k] <- rLo[k] &&& ~~~(1UL <<< g) else rHi[k] <- rHi[k] &&& ~~~(1UL <<< (g - 64))
        { Tensors = tensors
          OpenLo = openLo
          OpenHi = openHi
          GSize = gSize.ToArray()
          GOut = gOut.ToArray()
          GCar = gCar.ToArray()
          TLo = tLo
          THi = tHi
          RLo = rLo
          RHi = rHi
          Adj = adj }

    let inline private bitProduct (sizes: float array) (lo: uint64) (hi: uint64) =
        let mutable r = 1.0
        let mutable m = lo
        while m <> 0UL do
            r <- r * sizes[BitOperations.TrailingZeroCount m]
            m <- m &&& (m - 1UL)
        m <- hi
        while m <> 0UL do
            r <- r * sizes[64 + BitOperations.TrailingZeroCount m]
            m <- m &&& (m - 1UL)
        r

    /// The kept groups of a set of two or more tensors: those touching it that are open or reach outside it.
    let private keptOf (net: Net) (s: uint64) =
        // Groups touching s that are open or also touch a tensor outside s, from the per-tensor group masks.
        let mutable inLo = 0UL
        let mutable inHi = 0UL
        let mutable outLo = 0UL
        let mutable outHi = 0UL
        for k in 0 .. net.Tensors.Length - 1 do
            if s &&& (1UL <<< k) <> 0UL then
                inLo <- inLo ||| net.TLo[k]
                inHi <- inHi ||| net.THi[k]
            else
                outLo <- outLo ||| net.TLo[k]
                outHi <- outHi ||| net.THi[k]
        struct (inLo &&& (net.OpenLo ||| outLo), inHi &&& (net.OpenHi ||| outHi))

    /// The DP table: per subnetwork, its result's groups and size, best cost so far and best split. Entries
    /// 0..leaves-1 are the single tensors; a tensor with indices of its own may enter its first step reduced
    /// (those indices summed by a single-operand step first), which `Relax` weighs against joining it as is.
    type private Table(objective: Objective, leaves: int, rlo: uint64 array, rhi: uint64 array, rsize: float array, limit: float) =
        let ids = Dictionary<uint64, int>()
        let klo = ResizeArray<uint64>()
        let khi = ResizeArray<uint64>()
        let size = ResizeArray<float>()
        let c1 = ResizeArray<float>()
        let c2 = ResizeArray<float>()
        let left = ResizeArray<uint64>()
        /// Per entry: bit 0 when the best split's left operand is reduced first, bit 1 for the right one.
        let reduced = ResizeArray<byte>()

        member _.TryFind(s: uint64, id: byref<int>) = ids.TryGetValue(s, &id)

        member _.Add(s, struct (lo, hi), sz, a, b) =
            ids[s] <- klo.Count
            klo.Add lo
            khi.Add hi
            size.Add sz
            c1.Add a
            c2.Add b
            left.Add 0UL
            reduced.Add 0uy
            klo.Count - 1

        member _.Size(e) = size[e]
        member _.Lo(e) = klo[e]
        member _.Hi(e) = khi[e]
        member _.Cost1(e) = c1[e]
        member _.Left(e) = left[e]
        member _.Reduced(e) = reduced[e]
        member _.Id(s: uint64) = ids[s]

        /// Considers joining entries a and b into entry s (a's set given by `aSet`), each single tensor either as
        /// is or reduced first (a reduction costs 2 × its size in flops and writes its result).
        member _.Relax(gsize: float array, s: int, aSet: uint64, a: int, b: int, cap: float) =
            let canA = a < leaves && (rlo[a] <> klo[a] || rhi[a] <> khi[a]) && rsize[a] <= limit
            let canB = b < leaves && (rlo[b] <> klo[b] || rhi[b] <> khi[b]) && rsize[b] <= limit
            for ra in 0 .. (if canA then 1 else 0) do
                for rb in 0 .. (if canB then 1 else 0) do
                    let alo, ahi, asz = if ra = 1 then rlo[a], rhi[a], rsize[a] else klo[a], khi[a], size[a]
                    let blo, bhi, bsz = if rb = 1 then rlo[b], rhi[b], rsize[b] else klo[b], khi[b], size[b]
                    let shLo = alo &&& blo
                    let shHi = ahi &&& bhi
                    let involved = asz * bsz / bitProduct gsize shLo shHi
                    let summed = ((alo ||| blo) &&& ~~~klo[s]) <> 0UL || ((ahi ||| bhi) &&& ~~~khi[s]) <> 0UL
                    let mutable flops = involved * (if summed then 2.0 else 1.0)
                    let mutable write = size[s]
                    let mutable largest = size[s]
                    if ra = 1 then
                        flops <- flops + 2.0 * size[a]
                        write <- write + asz
                        largest <- max largest asz
                    if rb = 1 then
                        flops <- flops + 2.0 * size[b]
                        write <- write + bsz
                        largest <- max largest bsz
                    let struct (x, y) =
                        match objective with
                        | Flops -> struct (c1[a] + c1[b] + flops, max (max c2[a] c2[b]) largest)
                        | Size -> struct (max (max c1[a] c1[b]) largest, c2[a] + c2[b] + flops)
                        | Write -> struct (c1[a] + c1[b] + write, c2[a] + c2[b] + flops)
                        | Combo f -> struct (c1[a] + c1[b] + flops + f * write, max (max c2[a] c2[b]) largest)
                    if x <= cap && (x < c1[s] || (x = c1[s] && y < c2[s])) then
                        c1[s] <- x
                        c2[s] <- y
                        left[s] <- aSet
                        reduced[s] <- byte (ra ||| (rb <<< 1))

    /// Whether a set's result bounds the cost still to come from below: for flops (and combo) the step that uses a
    /// set's result costs at least its size, so a set whose cost plus size exceeds the cap is in no tree within
    /// it. The largest intermediate and the elements written have no such bound.
    let private usesBound (objective: Objective) =
        match objective with
        | Flops | Combo _ -> true
        | Size | Write -> false

    /// The tensors outside s that share an index with some tensor in s.
    let private neighbourhood (net: Net) (s: uint64) =
        let mutable r = 0UL
        let mutable m = s
        while m <> 0UL do
            r <- r ||| net.Adj[BitOperations.TrailingZeroCount(m: uint64)]
            m <- m &&& (m - 1UL)
        r &&& ~~~s

    let private newTable (net: Net) objective limit =
        let n = net.Tensors.Length
        let rsize = Array.init n (fun k -> bitProduct net.GSize net.RLo[k] net.RHi[k])
        let t = Table(objective, n, net.RLo, net.RHi, rsize, limit)
        for k in 0 .. net.Tensors.Length - 1 do
            let sz = bitProduct net.GSize net.TLo[k] net.THi[k]
            t.Add(1UL <<< k, struct (net.TLo[k], net.THi[k]), sz, 0.0, 0.0) |> ignore
        t

    /// Finds or creates the entry of a set of two or more tensors; -1 when its result exceeds the limit.
    let private entry (net: Net) (t: Table) (limit: float) (s: uint64) =
        let mutable e = 0
        if t.TryFind(s, &e) then
            if t.Size e > limit then -1 else e
        else
            let struct (lo, hi) = keptOf net s
            let sz = bitProduct net.GSize lo hi
            let e = t.Add(s, struct (lo, hi), sz, Double.PositiveInfinity, Double.PositiveInfinity)
            if sz > limit then -1 else e

    /// Joins two solved sets. Pairs whose partial cost already exceeds `cap` (an upper bound on the whole
    /// part's optimum, so such pairs cannot be in an optimal tree) are skipped before their union is looked at.
    ///
    /// For flops (and combo) a tree through a set s ≠ the whole part still pays at least size(s) flops in the step
    /// that uses s's result, and the step joining a and b at least max(size a, size b): both are added to the
    /// partial cost before comparing with the cap, which prunes far more pairs on regular networks.
    let private relaxPair (net: Net) (t: Table) limit (cap: float) (objective: Objective) (full: uint64) (s1: uint64) (s2: uint64) =
        let mutable a = 0
        let mutable b = 0
        if t.TryFind(s1, &a) && t.TryFind(s2, &b) then
            let ca = t.Cost1 a
            let cb = t.Cost1 b
            let partial =
                match objective with
                | Size -> max ca cb
                | Write -> ca + cb
                | Flops | Combo _ -> ca + cb + max (t.Size a) (t.Size b)
            if partial <= cap then
                let s = s1 ||| s2
                let e = entry net t limit s
                if e >= 0 then
                    let capS = if not (usesBound objective) || s = full then cap else cap - t.Size e
                    t.Relax(net.GSize, e, s1, a, b, capS)

    /// Every subset, every split: exact over all trees, outer products included.
    let private searchAll (net: Net) (t: Table) limit =
        let n = net.Tensors.Length
        let full = (1UL <<< n) - 1UL
        for s in 1UL .. full do
            if BitOperations.PopCount s >= 2 then
                let low = s &&& (0UL - s)
                let rest = s ^^^ low
                // Submasks a of s that contain the lowest bit, a ≠ s: each unordered split once.
                let mutable sub = rest
                let mutable go = true
                while go do
                    let a = sub ||| low
                    if a <> s then relaxPair net t limit Double.PositiveInfinity Flops full a (s ^^^ a)
                    if sub = 0UL then go <- false else sub <- (sub - 1UL) &&& rest

    /// Connected subnetworks only, each csg-cmp pair once, in an order valid for dynamic programming.
    let private connected (net: Net) (t: Table) limit (cap: float) (objective: Objective) (budgetMs: int64) =
        let n = net.Tensors.Length
        let full = if n = 64 then UInt64.MaxValue else (1UL <<< n) - 1UL
        let noBound = not (usesBound objective)
        let clock = Stopwatch.StartNew()
        let mutable work = 0L
        let neighbours = neighbourhood net
        let below i = if i >= 63 then UInt64.MaxValue else (1UL <<< (i + 1)) - 1UL
        let emitPair s1 s2 =
            work <- work + 1L
            if work &&& 4095L = 0L && clock.ElapsedMilliseconds > budgetMs then raise OutOfTime
            relaxPair net t limit cap objective full s1 s2
        // Non-empty subsets in increasing order, so a set's subsets are emitted before it: with the outer loop
        // over descending first vertex, both halves of every pair are final when the pair is emitted.
        let subsets (nset: uint64) f =
            let mutable sub = (0UL - nset) &&& nset
            while sub <> 0UL do
                f sub
                sub <- (sub - nset) &&& nset
        let rec cmpRec s1 s2 x =
            let nb = neighbours s2 &&& ~~~x
            if nb <> 0UL then
                subsets nb (fun s' -> emitPair s1 (s2 ||| s'))
                subsets nb (fun s' -> cmpRec s1 (s2 ||| s') (x ||| nb))
        let emitCsg (s1: uint64) =
            let mutable e = 0
            // s1 is final here; when it is unsolved or over the cap, no pair that contains it can help.
            // s1's result is used by a later step, which costs at least its size (flops and combo objectives).
            if t.TryFind(s1, &e) && t.Cost1 e + (if noBound || s1 = full then 0.0 else t.Size e) <= cap then
                let minI = BitOperations.TrailingZeroCount s1
                let x = s1 ||| below minI
                let nb = neighbours s1 &&& ~~~x
                let mutable m = nb
                // Neighbours by descending index.
                while m <> 0UL do
                    let i = 63 - BitOperations.LeadingZeroCount m
                    m <- m &&& ~~~(1UL <<< i)
                    let s2 = 1UL <<< i
                    emitPair s1 s2
                    cmpRec s1 s2 (x ||| (below i &&& nb))
        let rec csgRec s1 x =
            let nb = neighbours s1 &&& ~~~x
            if nb <> 0UL then
                subsets nb (fun s' -> emitCsg (s1 ||| s'))
                subsets nb (fun s' -> csgRec (s1 ||| s') (x ||| nb))
        for i in n - 1 .. -1 .. 0 do
            let v = 1UL <<< i
            emitCsg v
            csgRec v (below i)

    /// The connected search under a finite cap, by subnetwork size: only sets that can still be part of a tree
    /// within the cap (cost so far plus the least the step using them costs) are kept as "live", and sets of m
    /// tensors are made from adjacent, disjoint live sets of k and m - k tensors. On a random 3-regular graph of
    /// 24 tensors about 4,000 of the 1.3 million connected subnetworks are live, so pairing live sets directly
    /// does far less work than enumerating every connected complement (DPccp) and looking each one up. Sets of
    /// m tensors are final once all smaller sizes are paired, so the order is valid for dynamic programming.
    /// Explores the same trees as `connected` (adjacent halves only).
    let private capped (net: Net) (t: Table) limit (cap: float) (objective: Objective) (budgetMs: int64) =
        let n = net.Tensors.Length
        let full = if n = 64 then UInt64.MaxValue else (1UL <<< n) - 1UL
        let noBound = not (usesBound objective)
        let clock = Stopwatch.StartNew()
        let neighbours = neighbourhood net
        // Per size: the live sets, their entry ids and their neighbourhoods, in parallel arrays.
        let liveSet = Array.init (n + 1) (fun _ -> ResizeArray<uint64>())
        let liveId = Array.init (n + 1) (fun _ -> ResizeArray<int>())
        let liveNb = Array.init (n + 1) (fun _ -> ResizeArray<uint64>())
        let admit size (s: uint64) (e: int) =
            // Its result is used by a later step, which costs at least its size (flops and combo objectives).
            if not (Double.IsPositiveInfinity(t.Cost1 e))
               && t.Cost1 e + (if noBound || s = full then 0.0 else t.Size e) <= cap then
                liveSet[size].Add s
                liveId[size].Add e
                liveNb[size].Add(neighbours s)
        for k in 0 .. n - 1 do
            let s = 1UL <<< k
            admit 1 s (t.Id s)
        let made = HashSet<uint64>()
        let mutable work = 0L
        for m in 2 .. n do
            made.Clear()
            for k in 1 .. m / 2 do
                let sa, ia, na = liveSet[k], liveId[k], liveNb[k]
                let sb, ib = liveSet[m - k], liveId[m - k]
                for x in 0 .. sa.Count - 1 do
                    let a = sa[x]
                    let nbA = na[x]
                    let ea = ia[x]
                    let ca = t.Cost1 ea
                    let za = t.Size ea
                    work <- work + int64 sb.Count
                    if work > 1_000_000L then
                        work <- 0L
                        if clock.ElapsedMilliseconds > budgetMs then raise OutOfTime
                    for y in (if k = m - k then x + 1 else 0) .. sb.Count - 1 do
                        let b = sb[y]
                        if a &&& b = 0UL && nbA &&& b <> 0UL then
                            let eb = ib[y]
                            let cb = t.Cost1 eb
                            let partial =
                                match objective with
                                | Size -> max ca cb
                                | Write -> ca + cb
                                | Flops | Combo _ -> ca + cb + max za (t.Size eb)
                            if partial <= cap then
                                let s = a ||| b
                                let e = entry net t limit s
                                if e >= 0 then
                                    made.Add s |> ignore
                                    let capS = if noBound || s = full then cap else cap - t.Size e
                                    t.Relax(net.GSize, e, a, ea, eb, capS)
            for s in made do
                admit m s (t.Id s)

    /// An upper bound on a part's optimal cost (its objective's primary figure): the cost of a quick
    /// random-greedy tree with a little slack for rounding, or +infinity if that tree breaks the memory limit.
    let private upperBound (p: Indexed) (net: Net) (o: PlanOptions) =
        let sub = Problem.sub p net.Tensors
        let run = PlanGreedy.randomGreedyRun sub { o with Trials = 32; TimeLimitMs = None }
        let c = Cost.report sub run.Tree
        let within = match o.MemoryLimit with Some l -> c.LargestIntermediate <= BigInteger l | None -> true
        if not within then Double.PositiveInfinity
        else
            let primary =
                match o.Objective with
                | Flops -> float c.Flops
                | Size -> float c.LargestIntermediate
                | Write -> float c.Write
                | Combo f -> float c.Flops + f * float c.Write
            primary * (1.0 + 1e-9)

    /// Rebuilds the tree of a solved set, appending steps (global ids) and returning the node id.
    let rec private emitTree (net: Net) (t: Table) (steps: ResizeArray<int array>) (n: int) (s: uint64) =
        if BitOperations.PopCount s = 1 then
            net.Tensors[BitOperations.TrailingZeroCount s]
        else
            let e = t.Id s
            let a = t.Left e
            let reduce (first: bool) (v: int) =
                if first then
                    steps.Add [| v |]
                    n + steps.Count - 1
                else v
            let x = emitTree net t steps n a |> reduce (t.Reduced e &&& 1uy <> 0uy)
            let y = emitTree net t steps n (s ^^^ a) |> reduce (t.Reduced e &&& 2uy <> 0uy)
            steps.Add [| x; y |]
            n + steps.Count - 1

    /// The connected parts of the network (tensors linked by a shared index), each sorted, ordered by first tensor.
    let components (p: Indexed) =
        let n = p.Inputs.Length
        let parent = Array.init n id
        let rec find x = if parent[x] = x then x else (let r = find parent[x] in parent[x] <- r; r)
        for c in p.Carriers do
            for k in 1 .. c.Length - 1 do
                let a = find c[0]
                let b = find c[k]
                if a <> b then parent[max a b] <- min a b
        Array.init n id |> Array.groupBy find |> Array.map snd

    let private solveCore (pruned: bool) (exhaustive: int) (p: Indexed) (o: PlanOptions) : Result<ContractionTree option, string> =
        let n = p.Inputs.Length
        let limit = match o.MemoryLimit with Some l -> float l | None -> Double.PositiveInfinity
        let budget = int64 (defaultArg o.TimeLimitMs defaultBudgetMs)
        if n = 1 then
            Ok(Some { Leaves = 1; Steps = [| [| 0 |] |] })
        else
            let parts = if n <= exhaustive then [| Array.init n id |] else components p
            let nets = parts |> Array.map (buildNet p)
            match nets |> Array.tryFind (fun net -> net.Tensors.Length > maxTensors || net.GSize.Length > maxGroups) with
            | Some net ->
                Result.Error(sprintf "a connected part has %d tensors and %d index groups; exact search handles %d and %d"
                          net.Tensors.Length net.GSize.Length maxTensors maxGroups)
            | None ->
                try
                    let steps = ResizeArray<int array>()
                    let roots = ResizeArray<struct (float * int)>()
                    let mutable feasible = true
                    for net in nets do
                        if feasible then
                            let k = net.Tensors.Length
                            if k = 1 then
                                roots.Add(struct (bitProduct net.GSize net.TLo[0] net.THi[0], net.Tensors[0]))
                            else
                                let full = if k = 64 then UInt64.MaxValue else (1UL <<< k) - 1UL
                                let solved (t: Table) =
                                    let mutable e = 0
                                    t.TryFind(full, &e) && not (Double.IsPositiveInfinity(t.Cost1 e))
                                let t =
                                    let t = newTable net o.Objective limit
                                    if k <= exhaustive then
                                        searchAll net t limit
                                        t
                                    else
                                        let cap = if pruned then upperBound p net o else Double.PositiveInfinity
                                        if Double.IsPositiveInfinity cap then connected net t limit cap o.Objective budget
                                        else capped net t limit cap o.Objective budget
                                        // The bound comes from trees that may use outer products, which this
                                        // search excludes; if it cut every tree, search again without it.
                                        if solved t || Double.IsPositiveInfinity cap then t
                                        else
                                            let t2 = newTable net o.Objective limit
                                            connected net t2 limit Double.PositiveInfinity o.Objective budget
                                            t2
                                let mutable e = 0
                                if t.TryFind(full, &e) && not (Double.IsPositiveInfinity(t.Cost1 e)) then
                                    let root = emitTree net t steps n full
                                    roots.Add(struct (t.Size e, root))
                                else
                                    feasible <- false
                    if not feasible then
                        Ok None
                    else
                        // Parts share no index: join their results as outer products, smallest first.
                        let order = roots.ToArray() |> Array.sort
                        let mutable acc = order[0]
                        for k in 1 .. order.Length - 1 do
                            let struct (sa, a) = acc
                            let struct (sb, b) = order[k]
                            steps.Add [| a; b |]
                            acc <- struct (sa * sb, n + steps.Count - 1)
                        Ok(Some { Leaves = n; Steps = steps.ToArray() })
                with OutOfTime ->
                    Result.Error(sprintf "exact search ran past its %d ms budget" budget)

    /// The exact search with parts up to `exhaustive` tensors searched over all trees and larger ones over
    /// connected subnetworks; None when the memory limit cannot be met, Error when beyond exact search.
    let solveWith (exhaustive: int) (p: Indexed) (o: PlanOptions) = solveCore true exhaustive p o

    /// `solveWith` without the greedy upper bound: every connected subnetwork is searched (DPccp). Slower; the
    /// oracle that the pruned search is checked against.
    let solveUnpruned (exhaustive: int) (p: Indexed) (o: PlanOptions) = solveCore false exhaustive p o

    /// The exact search (see the module): None when the memory limit cannot be met, Error beyond its reach.
    let solve p o = solveWith exhaustiveUpTo p o

    /// `optimal`: the exact search, falling back to random-greedy (with a warning) beyond its reach.
    let optimal: Optimizer =
        fun p o ->
            match solve p o with
            | Ok tree -> { Tree = tree; Notes = [] }
            | Result.Error why ->
                let note =
                    Diagnostic.make PlanDiagnostics.tooLarge Range.none (why + "; fell back to random-greedy")
                { (PlanGreedy.randomGreedy p { o with TimeLimitMs = None }) with Notes = [ note ] }
