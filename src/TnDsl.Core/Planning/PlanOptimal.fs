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

    /// The work of an exact search, counted in units that do not depend on the machine or its load: `Scans`,
    /// candidate pairs of live subnetworks looked at by the capped search (most are rejected by a mask test or
    /// the cap); `Joins`, those of its pairs within the cap whose union is costed (the result's groups and size, the
    /// join's cost); `Pairs`, pairs relaxed through the table (every connected-subgraph/complement pair of the
    /// uncapped search, every split of the exhaustive one: two table look-ups, then the union's entry and the
    /// join's cost); `Entries`, subnetworks given a table entry (the uncapped search finds a new set's groups by
    /// looking at every tensor); `Greedy`, tensors placed by the random-greedy runs whose best tree bounds the
    /// search; `Polish`, the seconds of counted work of the polish of that tree (counted by the polish, see
    /// `PlanHyper.Work`). `Seconds` prices them at `Rates`. A pair of the uncapped search costs about thirteen
    /// scans of the capped one: one rate for both (2e7 per second, as before) under-priced the search on a lattice
    /// under a memory limit, where the greedy bound fails the limit and the search runs uncapped, about threefold.
    type ExactWork() =
        /// Candidate pairs scanned by the capped search.
        member val Scans = 0.0 with get, set
        /// Pairs of the capped search whose union was costed.
        member val Joins = 0.0 with get, set
        /// Pairs relaxed through the table (uncapped and exhaustive searches).
        member val Pairs = 0.0 with get, set
        /// Subnetworks given a table entry.
        member val Entries = 0.0 with get, set
        /// Tensors placed by the greedy runs of the bound.
        member val Greedy = 0.0 with get, set
        /// Seconds of counted work of the bound's polish.
        member val Polish = 0.0 with get, set
        /// The counts as a vector, in the order of `Rates`.
        member this.Counts = [| this.Scans; this.Joins; this.Pairs; this.Entries; this.Greedy; this.Polish |]
        /// Seconds of one core per scan, join, pair, entry and greedy tensor, fitted to process CPU time over the
        /// networks of `bench/TnDsl.Bench -- stakes exact rates` (threads 1; see bench/results/planner.md); the
        /// polish is counted in seconds already.
        static member Rates = [| 1.2e-8; 4e-8; 1.6e-7; 6e-7; 8e-6; 1.0 |]
        /// The counted work in seconds of one core at `Rates`.
        member this.Seconds = Array.fold2 (fun acc c r -> acc + c * r) 0.0 this.Counts ExactWork.Rates
        /// The seconds of the search itself (scans, joins, pairs, entries), without the bound's greedy runs and
        /// polish: what a bound on the exact search limits (the bound's cost is fixed by the network's size).
        member this.SearchSeconds =
            this.Scans * ExactWork.Rates[0] + this.Joins * ExactWork.Rates[1] + this.Pairs * ExactWork.Rates[2] + this.Entries * ExactWork.Rates[3]
        /// Adds another count to this one.
        member this.Add(other: ExactWork) =
            this.Scans <- this.Scans + other.Scans
            this.Joins <- this.Joins + other.Joins
            this.Pairs <- this.Pairs + other.Pairs
            this.Entries <- this.Entries + other.Entries
            this.Greedy <- this.Greedy + other.Greedy
            this.Polish <- this.Polish + other.Polish

    /// A deterministic bound on the work of one exact search (`ExactWork.SearchSeconds`, across its parts).
    type private WorkBudget(work: ExactWork, limitSeconds: float) =
        let start = work.SearchSeconds
        /// Counts `scans`, `joins`, `pairs` and `entries`.
        member _.Add(scans: int64, joins: int64, pairs: int64, entries: int64) =
            work.Scans <- work.Scans + float scans
            work.Joins <- work.Joins + float joins
            work.Pairs <- work.Pairs + float pairs
            work.Entries <- work.Entries + float entries
        /// Counts `scans`, `joins`, `pairs` and `entries`; raises when the bound is passed.
        member this.Spend(scans: int64, joins: int64, pairs: int64, entries: int64) =
            this.Add(scans, joins, pairs, entries)
            if work.SearchSeconds - start > limitSeconds then raise OutOfTime
        member _.Passed = work.SearchSeconds - start > limitSeconds

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
          /// Closed groups on exactly two tensors (plain bonds): summed exactly when both tensors meet.
          PairLo: uint64
          PairHi: uint64
          /// Closed groups on one tensor or on three or more (hyperindices).
          OtherLo: uint64
          OtherHi: uint64
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
        let mutable pairLo = 0UL
        let mutable pairHi = 0UL
        for g in 0 .. gOut.Count - 1 do
            if not gOut[g] && BitOperations.PopCount gCar[g] = 2 then
                if g < 64 then pairLo <- pairLo ||| (1UL <<< g) else pairHi <- pairHi ||| (1UL <<< (g - 64))
        let allLo = if gCar.Count >= 64 then UInt64.MaxValue else (1UL <<< gCar.Count) - 1UL
        let allHi = if gCar.Count <= 64 then 0UL elif gCar.Count = 128 then UInt64.MaxValue else (1UL <<< (gCar.Count - 64)) - 1UL
        let rLo = Array.copy tLo
        let rHi = Array.copy tHi
        for g in 0 .. gCar.Count - 1 do
            if not gOut[g] && BitOperations.PopCount gCar[g] = 1 then
                let k = BitOperations.TrailingZeroCount gCar[g]
                if g < 64 then rLo[k] <- rLo[k] &&& ~~~(1UL <<< g) else rHi[k] <- rHi[k] &&& ~~~(1UL <<< (g - 64))
        { Tensors = tensors
          OpenLo = openLo
          OpenHi = openHi
          PairLo = pairLo
          PairHi = pairHi
          OtherLo = allLo &&& ~~~openLo &&& ~~~pairLo
          OtherHi = allHi &&& ~~~openHi &&& ~~~pairHi
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

    /// The kept groups of the union s of two disjoint sets from their kept groups (a leaf's kept groups are all
    /// its groups): a plain bond kept by both is summed; a closed group on one tensor or on three or more is summed
    /// when all its tensors are in s; open groups stay. Faster than `keptOf`, which looks at every tensor.
    let private keptJoin (net: Net) (s: uint64) (alo: uint64) (ahi: uint64) (blo: uint64) (bhi: uint64) =
        let mutable lo = (alo ||| blo) &&& ~~~(alo &&& blo &&& net.PairLo)
        let mutable hi = (ahi ||| bhi) &&& ~~~(ahi &&& bhi &&& net.PairHi)
        let mutable m = lo &&& net.OtherLo
        while m <> 0UL do
            let g = BitOperations.TrailingZeroCount m
            if net.GCar[g] &&& ~~~s = 0UL then lo <- lo &&& ~~~(1UL <<< g)
            m <- m &&& (m - 1UL)
        m <- hi &&& net.OtherHi
        while m <> 0UL do
            let g = BitOperations.TrailingZeroCount m
            if net.GCar[64 + g] &&& ~~~s = 0UL then hi <- hi &&& ~~~(1UL <<< g)
            m <- m &&& (m - 1UL)
        struct (lo, hi)

    /// The least the step that uses a set's result costs in flops, as a factor of its size: 2 when every group it
    /// keeps is a plain bond (its partner, which shares one, sums it), otherwise 1.
    let inline private useFactor (net: Net) (lo: uint64) (hi: uint64) =
        if lo &&& ~~~net.PairLo = 0UL && hi &&& ~~~net.PairHi = 0UL then 2.0 else 1.0

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
        /// The number of entries.
        member _.Count = klo.Count
        member _.Lo(e) = klo[e]
        member _.Hi(e) = khi[e]
        member _.Cost1(e) = c1[e]
        member _.Left(e) = left[e]
        member _.Reduced(e) = reduced[e]
        member _.Id(s: uint64) = ids[s]

        /// The best way to join entries a and b into a set whose result keeps groups (slo, shi) of `ssize`
        /// elements, each single tensor either as is or reduced first (a reduction costs 2 × its size in flops and
        /// writes its result): struct (primary, secondary, reduced flags), primary +infinity when over `cap`.
        member _.Join(gsize: float array, slo: uint64, shi: uint64, ssize: float, a: int, b: int, cap: float) =
            let canA = a < leaves && (rlo[a] <> klo[a] || rhi[a] <> khi[a]) && rsize[a] <= limit
            let canB = b < leaves && (rlo[b] <> klo[b] || rhi[b] <> khi[b]) && rsize[b] <= limit
            let mutable bx = Double.PositiveInfinity
            let mutable by = Double.PositiveInfinity
            let mutable bf = 0uy
            for ra in 0 .. (if canA then 1 else 0) do
                for rb in 0 .. (if canB then 1 else 0) do
                    let alo, ahi, asz = if ra = 1 then rlo[a], rhi[a], rsize[a] else klo[a], khi[a], size[a]
                    let blo, bhi, bsz = if rb = 1 then rlo[b], rhi[b], rsize[b] else klo[b], khi[b], size[b]
                    let shLo = alo &&& blo
                    let shHi = ahi &&& bhi
                    let involved = asz * bsz / bitProduct gsize shLo shHi
                    let summed = ((alo ||| blo) &&& ~~~slo) <> 0UL || ((ahi ||| bhi) &&& ~~~shi) <> 0UL
                    let mutable flops = involved * (if summed then 2.0 else 1.0)
                    let mutable write = ssize
                    let mutable largest = ssize
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
                    if x <= cap && (x < bx || (x = bx && y < by)) then
                        bx <- x
                        by <- y
                        bf <- byte (ra ||| (rb <<< 1))
            struct (bx, by, bf)

        /// Keeps a join of entry s (a's set given by `aSet`) when it beats s's best so far.
        member _.Update(s: int, aSet: uint64, struct (x: float, y: float, flags: byte)) =
            if x < c1[s] || (x = c1[s] && y < c2[s]) then
                c1[s] <- x
                c2[s] <- y
                left[s] <- aSet
                reduced[s] <- flags

        /// Considers joining entries a and b into entry s (a's set given by `aSet`); see `Join`.
        member this.Relax(gsize: float array, s: int, aSet: uint64, a: int, b: int, cap: float) =
            this.Update(s, aSet, this.Join(gsize, klo[s], khi[s], size[s], a, b, cap))

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

    /// Every subset, every split: exact over all trees, outer products included. Its splits are counted in
    /// `budget` but not bounded (at most 2.4 million, for 14 tensors).
    let private searchAll (net: Net) (t: Table) limit (budget: WorkBudget) =
        let n = net.Tensors.Length
        let full = (1UL <<< n) - 1UL
        let entries = t.Count
        let mutable pairs = 0L
        for s in 1UL .. full do
            if BitOperations.PopCount s >= 2 then
                let low = s &&& (0UL - s)
                let rest = s ^^^ low
                // Submasks a of s that contain the lowest bit, a ≠ s: each unordered split once.
                let mutable sub = rest
                let mutable go = true
                while go do
                    let a = sub ||| low
                    if a <> s then
                        pairs <- pairs + 1L
                        relaxPair net t limit Double.PositiveInfinity Flops full a (s ^^^ a)
                    if sub = 0UL then go <- false else sub <- (sub - 1UL) &&& rest
        budget.Add(0L, 0L, pairs, int64 (t.Count - entries))

    /// Connected subnetworks only, each csg-cmp pair once, in an order valid for dynamic programming.
    let private connected (net: Net) (t: Table) limit (cap: float) (objective: Objective) (late: unit -> bool) (budget: WorkBudget) =
        let n = net.Tensors.Length
        let full = if n = 64 then UInt64.MaxValue else (1UL <<< n) - 1UL
        let noBound = not (usesBound objective)
        let mutable work = 0L
        let mutable entries = t.Count
        let neighbours = neighbourhood net
        let below i = if i >= 63 then UInt64.MaxValue else (1UL <<< (i + 1)) - 1UL
        let emitPair s1 s2 =
            work <- work + 1L
            if work &&& 4095L = 0L then
                budget.Spend(0L, 0L, 4096L, int64 (t.Count - entries))
                entries <- t.Count
                if late () then raise OutOfTime
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
        budget.Spend(0L, 0L, work &&& 4095L, int64 (t.Count - entries))

    /// The connected search under a finite cap, by subnetwork size: only sets that can still be part of a tree
    /// within the cap (cost so far plus the least the step using them costs) are kept as "live", and sets of m
    /// tensors are made from adjacent, disjoint live sets of k and m - k tensors. On a random 3-regular graph of
    /// 24 tensors about 4,000 of the 1.3 million connected subnetworks are live, so pairing live sets directly
    /// does far less work than enumerating every connected complement (DPccp) and looking each one up. Sets of
    /// m tensors are final once all smaller sizes are paired, so the order is valid for dynamic programming.
    /// Explores the same trees as `connected` (adjacent halves only).
    let private capped (net: Net) (t: Table) limit (cap: float) (objective: Objective) (late: unit -> bool) (budget: WorkBudget) =
        let n = net.Tensors.Length
        let full = if n = 64 then UInt64.MaxValue else (1UL <<< n) - 1UL
        let noBound = not (usesBound objective)
        let neighbours = neighbourhood net
        // Per size: the live sets, sorted by cost so far (cheapest first), with their entry ids, neighbourhoods,
        // costs, sizes and the least cost of the step that uses them, in parallel arrays.
        let liveSet = Array.create (n + 1) Array.empty<uint64>
        let liveId = Array.create (n + 1) Array.empty<int>
        let liveNb = Array.create (n + 1) Array.empty<uint64>
        let liveCost = Array.create (n + 1) Array.empty<float>
        let liveUse = Array.create (n + 1) Array.empty<float>
        let admit size (sets: uint64 seq) =
            let keep =
                [| for s in sets do
                       let e = t.Id s
                       // Its result is used by a later step, which costs at least its size (twice it when that
                       // step sums a bond; flops and combo objectives).
                       let usage = if noBound || s = full then 0.0 else useFactor net (t.Lo e) (t.Hi e) * t.Size e
                       if not (Double.IsPositiveInfinity(t.Cost1 e)) && t.Cost1 e + usage <= cap then
                           yield struct (t.Cost1 e, s, e, usage) |]
            // Sorted by cost, then set: the order (and so the search) does not depend on hashing.
            Array.sortInPlaceWith (fun (struct (c1: float, s1: uint64, _, _)) (struct (c2, s2, _, _)) ->
                let c = compare c1 c2 in if c <> 0 then c else compare s1 s2) keep
            liveSet[size] <- keep |> Array.map (fun (struct (_, s, _, _)) -> s)
            liveId[size] <- keep |> Array.map (fun (struct (_, _, e, _)) -> e)
            liveNb[size] <- keep |> Array.map (fun (struct (_, s, _, _)) -> neighbours s)
            liveCost[size] <- keep |> Array.map (fun (struct (c, _, _, _)) -> c)
            liveUse[size] <- keep |> Array.map (fun (struct (_, _, _, u)) -> u)
        admit 1 (Seq.init n (fun k -> 1UL <<< k))
        let made = HashSet<uint64>()
        let mutable work = 0L
        let mutable joins = 0L
        let mutable entries = t.Count
        // Scans since the clock was last read: it is read every 4096 scans and before each size's sets are admitted,
        // more often than the work is counted (every 65536 scans, which ran 3-9 ms past a limit of 10 ms).
        let mutable unclocked = 0L
        for m in 2 .. n do
            made.Clear()
            for k in 1 .. m / 2 do
                let sa, ia, na, ca', ua = liveSet[k], liveId[k], liveNb[k], liveCost[k], liveUse[k]
                let sb, ib, cb' = liveSet[m - k], liveId[m - k], liveCost[m - k]
                for x in 0 .. sa.Length - 1 do
                    let a = sa[x]
                    let nbA = na[x]
                    let ea = ia[x]
                    let ca = ca'[x]
                    let za = t.Size ea
                    // The join costs at least ca + cb + the step that uses a (for flops and combo): b's are in
                    // order of cost, so the first b over the cap ends a's scan.
                    let room = cap - ca - ua[x]
                    let mutable y = if k = m - k then x + 1 else 0
                    let mutable scanned = 0L
                    while y < sb.Length do
                        let cb = cb'[y]
                        if (match objective with Size -> cb > cap | _ -> cb > room) then y <- sb.Length
                        else
                            scanned <- scanned + 1L
                            let b = sb[y]
                            if a &&& b = 0UL && nbA &&& b <> 0UL then
                                let eb = ib[y]
                                let partial =
                                    match objective with
                                    | Size -> max ca cb
                                    | Write -> ca + cb
                                    | Flops | Combo _ -> ca + cb + max za (t.Size eb)
                                if partial <= cap then
                                    joins <- joins + 1L
                                    // The join's cost is weighed before the union gets an entry: most unions are
                                    // over the cap, and the table then holds only those that can still be used.
                                    let s = a ||| b
                                    let struct (lo, hi) = keptJoin net s (t.Lo ea) (t.Hi ea) (t.Lo eb) (t.Hi eb)
                                    let sz = bitProduct net.GSize lo hi
                                    if sz <= limit then
                                        let capS = if noBound || s = full then cap else cap - useFactor net lo hi * sz
                                        let struct (x, _, _) as j = t.Join(net.GSize, lo, hi, sz, ea, eb, capS)
                                        if not (Double.IsPositiveInfinity x) then
                                            let mutable e = 0
                                            if not (t.TryFind(s, &e)) then
                                                e <- t.Add(s, struct (lo, hi), sz, Double.PositiveInfinity, Double.PositiveInfinity)
                                            made.Add s |> ignore
                                            t.Update(e, a, j)
                            y <- y + 1
                    work <- work + scanned
                    unclocked <- unclocked + scanned
                    if work > 65536L then
                        budget.Spend(work, joins, 0L, int64 (t.Count - entries))
                        work <- 0L
                        joins <- 0L
                        entries <- t.Count
                    if unclocked > 4096L then
                        unclocked <- 0L
                        if late () then raise OutOfTime
            if late () then raise OutOfTime
            admit m made
        budget.Spend(work, joins, 0L, int64 (t.Count - entries))

    /// Improves a tree (e.g. by subtree reconfiguration) before its cost bounds an exact search: a tighter
    /// bound prunes more. Given the part as a problem of its own, the options (their `TimeLimitMs`, where set, is
    /// what is left of the search's wall-clock limit: a polish stops once it has passed) and the tree.
    type Polish = Indexed -> PlanOptions -> ContractionTree -> ContractionTree

    /// The share of what is left of a wall-clock limit that the bound's random-greedy runs may take, and then its
    /// polish: a quarter each, so that the search the bound is for keeps at least half. (Given all that was left,
    /// the random-greedy runs took all of it on the 7x7 lattice with bonds of 2 at 100 ms, and the search none.)
    let boundShare = 0.25

    /// An upper bound on a part's optimal cost (its objective's primary figure): the cost of a quick
    /// random-greedy tree with a little slack for rounding, or +infinity if that tree breaks the memory limit.
    /// `left` is what is left of a wall-clock limit in milliseconds (None without one): the random-greedy runs past
    /// the deterministic ones and the polish stop once their `boundShare` of it is spent. (Run whole and before the
    /// search's time began, the bound alone took 40-85 ms of `optimal`'s limit of 100 ms on the 7x7 lattice with
    /// bonds of 2 in a fresh process, past the half of it that the search was to have.)
    let private upperBound (work: ExactWork) (polish: Polish) (p: Indexed) (net: Net) (o: PlanOptions) (left: unit -> int option) =
        let sub = Problem.sub p net.Tensors
        work.Greedy <- work.Greedy + 32.0 * float net.Tensors.Length
        let share () = left () |> Option.map (fun ms -> int (boundShare * float ms))
        let run = PlanGreedy.randomGreedyRun sub { o with Trials = 32; TimeLimitMs = share () }
        let tree = polish sub { o with TimeLimitMs = share () } run.Tree
        let c = Cost.report sub tree
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

    /// Why the exact search gave no tree (a memory limit no tree meets is not a failure: `Ok None`).
    type ExactFailure =
        /// A connected part has more tensors or index groups than the search handles.
        | TooLarge of tensors: int * groups: int
        /// The search passed its bound of counted work (`ExactWork.SearchSeconds`), in seconds.
        | WorkPassed of seconds: float
        /// The search ran past its wall-clock budget, in milliseconds.
        | RanPast of budgetMs: int64

        /// The failure as a sentence for a diagnostic.
        member this.Message =
            match this with
            | TooLarge (tensors, groups) ->
                sprintf "a connected part has %d tensors and %d index groups; exact search handles %d and %d" tensors groups maxTensors maxGroups
            | WorkPassed seconds -> sprintf "exact search passed its bound of %.3g s of counted work" seconds
            | RanPast ms -> sprintf "exact search ran past its %d ms budget" ms

    let private solveCore (polish: Polish) (counted: ExactWork) (limitSeconds: float) (pruned: bool) (exhaustive: int) (p: Indexed) (o: PlanOptions) : Result<ContractionTree option, ExactFailure> =
        let work = WorkBudget(counted, limitSeconds)
        let n = p.Inputs.Length
        let limit = match o.MemoryLimit with Some l -> float l | None -> Double.PositiveInfinity
        let budget = int64 (defaultArg o.TimeLimitMs defaultBudgetMs)
        // The budget counts from here: the bound's greedy runs and polish too, not only the search after them.
        let clock = Stopwatch.StartNew()
        let late () = clock.ElapsedMilliseconds > budget
        let left () = o.TimeLimitMs |> Option.map (fun _ -> int (max 0L (budget - clock.ElapsedMilliseconds)))
        if n = 1 then
            Ok(Some { Leaves = 1; Steps = [| [| 0 |] |] })
        else
            let parts = if n <= exhaustive then [| Array.init n id |] else components p
            let nets = parts |> Array.map (buildNet p)
            match nets |> Array.tryFind (fun net -> net.Tensors.Length > maxTensors || net.GSize.Length > maxGroups) with
            | Some net ->
                Result.Error(TooLarge(net.Tensors.Length, net.GSize.Length))
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
                                        searchAll net t limit work
                                        t
                                    else
                                        let cap = if pruned then upperBound counted polish p net o left else Double.PositiveInfinity
                                        if Double.IsPositiveInfinity cap then connected net t limit cap o.Objective late work
                                        else capped net t limit cap o.Objective late work
                                        // The bound comes from trees that may use outer products, which this
                                        // search excludes; if it cut every tree, search again without it.
                                        if solved t || Double.IsPositiveInfinity cap then t
                                        else
                                            let t2 = newTable net o.Objective limit
                                            connected net t2 limit Double.PositiveInfinity o.Objective late work
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
                with
                | OutOfTime when work.Passed -> Result.Error(WorkPassed limitSeconds)
                | OutOfTime -> Result.Error(RanPast budget)

    let private unpolished: Polish = fun _ _ t -> t

    /// The exact search with parts up to `exhaustive` tensors searched over all trees and larger ones over
    /// connected subnetworks; None when the memory limit cannot be met, Error when beyond exact search.
    let solveWith (exhaustive: int) (p: Indexed) (o: PlanOptions) = solveCore unpolished (ExactWork()) infinity true exhaustive p o

    /// The exact search bounded by counted work instead of time (a bound of `seconds` of `ExactWork.SearchSeconds`,
    /// the work added to `work`), so whether it finishes is the same on any machine and load: Error when
    /// it passes the bound (or the options' time limit, when they set one). `polish` improves the random-greedy
    /// tree whose cost bounds the search (its work is the caller's to count).
    let solveWithinPolished (polish: Polish) (work: ExactWork) (seconds: float) (p: Indexed) (o: PlanOptions) =
        solveCore polish work seconds true exhaustiveUpTo p { o with TimeLimitMs = Some(defaultArg o.TimeLimitMs Int32.MaxValue) }

    /// `solveWithinPolished` without polishing.
    let solveWithin (work: ExactWork) (seconds: float) (p: Indexed) (o: PlanOptions) = solveWithinPolished unpolished work seconds p o

    /// `solveWith` without the greedy upper bound: every connected subnetwork is searched (DPccp). Slower; the
    /// oracle that the pruned search is checked against.
    let solveUnpruned (exhaustive: int) (p: Indexed) (o: PlanOptions) = solveCore unpolished (ExactWork()) infinity false exhaustive p o

    /// The exact search (see the module) under the options' time budget, its bound polished by `polish`: None
    /// when the memory limit cannot be met, Error beyond its reach.
    let solvePolished (polish: Polish) p o = solveCore polish (ExactWork()) infinity true exhaustiveUpTo p o

    /// The exact search (see the module): None when the memory limit cannot be met, Error beyond its reach.
    let solve p o = solveWith exhaustiveUpTo p o

    /// The share of a wall-clock limit that `optimal`'s exact search may take: a half, the rest for random-greedy
    /// where it does not finish (which, given no time, would run all its trials: 0.8 s on a 16x16 lattice).
    let exactTimeShare = 0.5

    /// `optimal` with its bound polished by `polish`: the exact search, falling back to random-greedy (with a
    /// warning) beyond its reach. Under a wall-clock limit the search gets `exactTimeShare` of it and random-greedy
    /// what is left; where the clock ends the exact search, a TN0314 note says so instead of the warning, with the
    /// random-greedy trials that ran of those asked.
    let optimalPolished (polish: Polish) : Optimizer =
        fun p o ->
            let deadline = Deadline o.TimeLimitMs
            let given = deadline.Options(o, exactTimeShare, 0.0)
            match solvePolished polish p given with
            | Ok tree -> { Tree = tree; Notes = [] }
            | Result.Error why ->
                match deadline.LimitMs, given.TimeLimitMs, why with
                | Some _, Some ms, RanPast _ ->
                    let struct (tree, ran, asked) = PlanGreedy.randomGreedyWithin p (deadline.Options(o, 1.0, 0.0))
                    let trials = if ran < asked then String.Format("{0} of {1} trials", ran, asked) else String.Format("all {0} trials", asked)
                    let what = String.Format("the exact search at its share of the limit ({0} ms); it fell back to random-greedy, which ran {1}", ms, trials)
                    { Tree = Some tree; Notes = [ PlanDiagnostics.timeCutShort what ] }
                | _ ->
                    let note = Diagnostic.make PlanDiagnostics.tooLarge Range.none (why.Message + "; fell back to random-greedy")
                    let o = match deadline.LimitMs with Some _ -> deadline.Options(o, 1.0, 0.0) | None -> { o with TimeLimitMs = None }
                    { (PlanGreedy.randomGreedy p o) with Notes = [ note ] }

    /// `optimal` with the random-greedy bound as is (the registry's `optimal` polishes it; see `PlanHyper.optimal`).
    let optimal: Optimizer = optimalPolished unpolished
