namespace TnDsl

open System
open System.Numerics
open QuikGraph
open QuikGraph.Algorithms.MaximumFlow

/// Diagnostics of the min-cut phase (TN0400–TN0499).
module MinCutDiagnostics =
    /// A leg named in a cut is not an output leg of the network.
    let CutLegNotOutput = Diagnostic.kind Error "TN0401" "cut leg is not an output leg"
    /// A leg is on both sides of a cut.
    let CutLegBothSides = Diagnostic.kind Error "TN0402" "cut leg on both sides"
    /// An output leg is on neither side of a cut.
    let CutLegMissing = Diagnostic.kind Error "TN0403" "output leg missing from cut"
    /// A dynamic (batch) leg named in a cut is conditioned on and takes no part in the bound.
    let CutDynamicLeg = Diagnostic.kind Info "TN0404" "batch leg conditioned on"
    /// A bond is larger than anything that can flow through it.
    let OversizedBond = Diagnostic.kind Warning "TN0410" "oversized bond"

/// Which of the two bounds on a cut is smaller.
type Tighter =
    /// The min-cut bound is strictly smaller than the trivial bound.
    | MinCutTighter
    /// The trivial bound is strictly smaller (only when an output leg sits on no tensor).
    | TrivialTighter
    /// Both bounds are equal.
    | Equal

/// A run of consecutive ids, `First` to `Last` inclusive.
[<Struct>]
type Run = { First: int; Last: int }

/// Sets of ids as sorted, disjoint, non-adjacent runs of consecutive ids. A side of a cut on a chain or a grid is
/// one run or a few, so a profile of n splits is reported in O(n), not O(n²).
module Runs =
    /// The runs of ids given in increasing order (repeats allowed).
    let ofSorted (ids: int seq) : Run array =
        let acc = ResizeArray<Run>()
        let mutable started = false
        let mutable first, last = 0, 0
        for i in ids do
            if not started then
                started <- true
                first <- i
                last <- i
            elif i = last + 1 then last <- i
            elif i > last + 1 then
                acc.Add { First = first; Last = last }
                first <- i
                last <- i
        if started then acc.Add { First = first; Last = last }
        acc.ToArray()

    /// The runs of any ids (sorted here).
    let ofSeq (ids: int seq) : Run array = ids |> Seq.sort |> ofSorted

    /// The ids of [0, n) that are in no run.
    let complement (n: int) (runs: Run array) : Run array =
        let acc = ResizeArray<Run>()
        let mutable next = 0
        for r in runs do
            if r.First > next then acc.Add { First = next; Last = r.First - 1 }
            next <- max next (r.Last + 1)
        if next < n then acc.Add { First = next; Last = n - 1 }
        acc.ToArray()

    /// The union of two run sets.
    let union (a: Run array) (b: Run array) : Run array =
        let all = Array.append a b |> Array.sortBy (fun r -> r.First)
        let acc = ResizeArray<Run>()
        for r in all do
            if acc.Count > 0 && r.First <= acc[acc.Count - 1].Last + 1 then
                let top = acc[acc.Count - 1]
                acc[acc.Count - 1] <- { top with Last = max top.Last r.Last }
            else acc.Add r
        acc.ToArray()

    /// How many ids the runs hold.
    let count (runs: Run array) = runs |> Array.sumBy (fun r -> r.Last - r.First + 1)

    /// The ids, in increasing order.
    let toSeq (runs: Run array) = runs |> Seq.collect (fun r -> seq { r.First .. r.Last })

    /// The ids, in increasing order, as a list.
    let toList (runs: Run array) = runs |> toSeq |> List.ofSeq

/// A bond severed by a min-cut.
type CutBond =
    { Index: int
      Name: string
      Dim: int64
      /// True for a hyperindex (cut once, however many tensors it joins).
      Hyper: bool
      /// True for an output leg (the cut runs through the leg itself).
      Open: bool
      Range: SourceRange }

/// The evaluation of one bipartition (A | B) of a network's output legs. Sides are runs (of leg positions and of
/// tensor ids), and the trivial bound is kept factored, so that a report costs what its cut severs, not the size
/// of the network: a profile of every split of a 60,000-site chain stays linear.
type CutReport =
    {
        /// The cut's name (declared, or made up by the profile).
        Name: string
        /// The network's open output legs in output order (shared by every report of a network): the legs that
        /// `LeftLegs` and `RightLegs` count positions in.
        Legs: int array
        /// The A legs, as runs of positions in `Legs` (dynamic legs are not in `Legs`).
        LeftLegs: Run array
        /// The B legs, as runs of positions in `Legs`.
        RightLegs: Run array
        /// The min-cut bound: the exact product of the dimensions of the severed bonds. The rank of the network
        /// matricized as A × B is at most this.
        Bound: BigInteger
        /// log2 of the bound.
        Bits: float
        /// Natural log of the bound: the largest entanglement entropy across the cut, in nats.
        Nats: float
        /// A minimum set of bonds whose removal separates A from B, in index order.
        Bonds: CutBond list
        /// Tensors on the A side of the cut (the source side of the smallest min cut), as runs of tensor ids.
        LeftTensors: Run array
        /// Tensors on the B side of the cut, as runs of tensor ids.
        RightTensors: Run array
        /// The trivial bound min(product of A dims, product of B dims), factored: each distinct dimension of the
        /// smaller side's legs with its count, in increasing order of dimension.
        TrivialFactors: (int64 * int) array
        /// log2 of the trivial bound.
        TrivialBits: float
        Tighter: Tighter
        /// Where the cut was declared (Range.none for profile cuts).
        Range: SourceRange
    }

    /// The A legs (index ids), in output order.
    member r.Left: int list = [ for p in Runs.toSeq r.LeftLegs -> r.Legs[p] ]

    /// The B legs (index ids), in output order.
    member r.Right: int list = [ for p in Runs.toSeq r.RightLegs -> r.Legs[p] ]

    /// The trivial bound, exact (computed from `TrivialFactors` when asked: it has as many bits as half the legs).
    member r.Trivial: BigInteger =
        r.TrivialFactors |> Array.fold (fun acc (d, c) -> acc * BigInteger.Pow(BigInteger d, c)) BigInteger.One

/// The kind of split a profile entry is.
type SplitKind =
    /// The first k output legs in declared order against the rest.
    | Contiguous
    /// Rows up to r against the rest (2-D outputs).
    | Rows
    /// Columns up to c against the rest (2-D outputs).
    | Columns
    /// Odd against even rows, columns or checkerboard (2-D outputs), or odd against even positions (1-D).
    | Interleaved

/// One entry of a profile.
type ProfileEntry =
    { Kind: SplitKind
      /// For Contiguous, Rows and Columns: the number of legs, rows or columns on the A side; 0 for Interleaved.
      Position: int
      Report: CutReport }

/// A bond that can be made smaller without changing what the network can represent.
type OversizedBond =
    { Index: int
      Name: string
      Dim: int64
      /// The dimension it can be reduced to: the most that can flow through it.
      ReducibleTo: BigInteger
      Range: SourceRange }

/// Which max-flow engine evaluates a cut. Both return an exact minimum product.
type FlowEngine =
    /// QuikGraph's Edmonds–Karp on floating-point log capacities; the cut is read from the residual graph, its
    /// product recomputed exactly, and the exact engine consulted where floating point cannot certify it.
    | QuikGraphEdmondsKarp
    /// The array-based exact engine on prime-exponent capacities: no floating point in any decision, no
    /// allocation per search, and safe to run on several cuts at once. Profiles and bond checks use it: in the
    /// cuts benchmark the 32×32 PEPS profile takes ~0.3 s with it against ~1.8 s through QuikGraph.
    | PrimeExponent

/// Exact max-flow over capacities that are logarithms of integers. A capacity is kept as the vector of its
/// prime exponents, so sums and differences are exact and comparisons are decided in floating point when clear
/// and with BigInteger powers otherwise. Used where floating point cannot certify the cut and for bond checks.
module private ExactFlow =
    /// The arcs of a flow graph as the engine searches them: a whole `CutGraph`, or the region of one that a
    /// nested profile solves with the rest contracted into its terminals.
    type Topology =
        { Vertices: int
          ArcTo: int array
          /// Per arc: the arc the other way (an arc's tail is its twin's head).
          ArcTwin: int array
          /// Vertex u's out-arcs are `OutArcIds[OutStart[u] .. OutStart[u + 1] - 1]`, or, when `OutArcIds` is
          /// empty, the arcs `OutStart[u] .. OutStart[u + 1] - 1` themselves (arcs laid out by tail).
          OutStart: int array
          OutArcIds: int array }

    /// The id of the arc at position j of the out-arc lists.
    let inline arcAt (g: Topology) (j: int) = if g.OutArcIds.Length = 0 then j else g.OutArcIds[j]

    /// The topology of a whole flow graph (its arrays, not copies).
    let topology (g: CutGraph) =
        { Vertices = g.Vertices; ArcTo = g.ArcTo; ArcTwin = g.ArcTwin; OutStart = g.OutStart; OutArcIds = g.OutArcIds }

    /// Capacities for one bipartition: `Cap[a*K .. a*K+K-1]` is arc a's exponent vector over `Primes`;
    /// `Inf[a]` marks arcs that are never cut.
    type Problem =
        { Primes: int64 array
          LogP: float array
          K: int
          Cap: int array
          Inf: bool array
          /// Per index: its exponent vector.
          Weight: int array array }

    /// Exact capacities for a bipartition.
    let problem (g: CutGraph) (sides: Side option array) =
        let primes = g.Primes
        let k = primes.Length
        let w = g.Exponents
        let cap = Array.zeroCreate (g.Arcs.Length * k)
        let inf = Array.zeroCreate g.Arcs.Length
        let addTo a (v: int array) =
            for j in 0 .. k - 1 do
                cap[a * k + j] <- cap[a * k + j] + v[j]
        // A plain loop over the arcs (millions on a million-tensor network).
        let arcs = g.Arcs
        for a in 0 .. arcs.Length - 1 do
            let role = arcs[a]
            match role.Kind with
            | ArcKind.Bonds -> CutGraph.iterGroup g role.Index (fun i -> addTo a w[i])
            | ArcKind.OpenLegs -> CutGraph.iterGroup g role.Index (fun i -> if CutGraph.onSide sides i role.Side then addTo a w[i])
            | ArcKind.HyperInner -> addTo a w[role.Index]
            | ArcKind.HyperLink -> inf[a] <- true
            | ArcKind.HyperTerminal -> inf[a] <- CutGraph.onSide sides role.Index role.Side
            | _ -> ()
        { Primes = primes
          LogP = primes |> Array.map (fun p -> Math.Log2(float p))
          K = k
          Cap = cap
          Inf = inf
          Weight = w }

    /// Sign of log(∏ p_j^v[off+j]): floating point when clear, BigInteger powers when the log is near zero.
    let sign (p: Problem) (v: int array) (off: int) =
        let mutable s = 0.0
        let mutable zero = true
        for j in 0 .. p.K - 1 do
            s <- s + float v[off + j] * p.LogP[j]
            if v[off + j] <> 0 then zero <- false
        if zero then 0
        elif s > 1e-6 then 1
        elif s < -1e-6 then -1
        else
            let mutable num = BigInteger.One
            let mutable den = BigInteger.One
            for j in 0 .. p.K - 1 do
                let e = v[off + j]
                if e > 0 then num <- num * BigInteger.Pow(BigInteger p.Primes[j], e)
                elif e < 0 then den <- den * BigInteger.Pow(BigInteger p.Primes[j], -e)
            compare num den

    /// The search arrays of one graph, reused from one flow to the next so that a flow that stays local (a
    /// bond check on a chain of 60,000 tensors) costs what it explores, not the size of the graph.
    type Workspace =
        { Level: int array
          /// Per vertex: the next out-arc its blocking-flow search tries (Dinic's current arc).
          Next: int array
          Mark: int array
          Queue: int array
          /// The arcs of the path the blocking-flow search holds.
          Path: int array
          mutable Stamp: int }

    /// Search arrays for a graph of `n` vertices.
    let workspace n =
        { Level = Array.zeroCreate n
          Next = Array.zeroCreate n
          Mark = Array.zeroCreate n
          Queue = Array.zeroCreate n
          Path = Array.zeroCreate n
          Stamp = 0 }

    /// Whether arc a can carry more: no exponent of its residual is negative and one is positive (always so with
    /// one prime); only an exponent vector of mixed signs needs `sign`.
    let positive (p: Problem) (res: int array) (a: int) =
        p.Inf[a]
        || (let k = p.K
            let off = a * k
            let mutable pos, neg = false, false
            for j in 0 .. k - 1 do
                let e = res[off + j]
                if e > 0 then pos <- true
                elif e < 0 then neg <- true
            if not neg then pos
            elif not pos then false
            else sign p res off > 0)

    /// Dinic's max-flow from a set of sources to a set of sinks on the residual capacities `res` (a working copy of
    /// `p.Cap`, changed in place; every arc changed is added to `touched` when given, so the caller can restore
    /// them), stopping once the flow reaches `limit` if given. Returns whether the limit was reached (when it was
    /// not, `sourceSide` gives the source side of a min cut from the residual capacities left). Each phase
    /// levels the graph breadth-first up to the nearest sink and saturates every shortest path: a cut through
    /// many legs at once (odd | even sites of a chain, tens of thousands of paths of three arcs) takes a few
    /// phases, where Edmonds–Karp searched the whole graph once per path. The work is proportional to what the
    /// searches explore.
    let flow (g: Topology) (p: Problem) (res: int array) (ws: Workspace) (sources: int array) (isSink: int -> bool)
            (limit: int array option) (touched: Collections.Generic.List<int> option) =
        let k = p.K
        let positive a = positive p res a
        let level = ws.Level
        let next = ws.Next
        let mark = ws.Mark
        let queue = ws.Queue
        let path = ws.Path
        // Levels from the sources, up to the level of the nearest sink (vertices beyond it are left unmarked).
        let levels () =
            ws.Stamp <- ws.Stamp + 1
            let stamp = ws.Stamp
            let mutable head, tail = 0, 0
            for s in sources do
                mark[s] <- stamp
                level[s] <- 0
                next[s] <- 0
                queue[tail] <- s
                tail <- tail + 1
            let mutable sinkLevel = Int32.MaxValue
            while head < tail do
                let u = queue[head]
                head <- head + 1
                if not (isSink u) && level[u] < sinkLevel then
                    for j in g.OutStart[u] .. g.OutStart[u + 1] - 1 do
                        let a = arcAt g j
                        let v = g.ArcTo[a]
                        if mark[v] <> stamp && positive a then
                            mark[v] <- stamp
                            level[v] <- level[u] + 1
                            next[v] <- 0
                            if isSink v then sinkLevel <- min sinkLevel level[v]
                            queue[tail] <- v
                            tail <- tail + 1
            sinkLevel < Int32.MaxValue
        let total = Array.zeroCreate k
        let delta = Array.zeroCreate k
        let diff = Array.zeroCreate k
        let mutable fin = false
        let mutable reached = false
        // Pushes the bottleneck of path[0 .. depth-1] (the smallest finite residual, and what is left below the
        // limit) along it.
        let augment depth =
            let mutable bounded = false
            match limit with
            | Some l ->
                for j in 0 .. k - 1 do
                    delta[j] <- l[j] - total[j]
                bounded <- true
            | None -> ()
            for x in 0 .. depth - 1 do
                let a = path[x]
                if not p.Inf[a] then
                    let smaller =
                        if not bounded then true
                        else
                            for j in 0 .. k - 1 do
                                diff[j] <- res[a * k + j] - delta[j]
                            sign p diff 0 < 0
                    if smaller then
                        for j in 0 .. k - 1 do
                            delta[j] <- res[a * k + j]
                        bounded <- true
            if not bounded then failwith "min-cut: a path of uncuttable arcs joins the two sides"
            for x in 0 .. depth - 1 do
                let a = path[x]
                let b = g.ArcTwin[a]
                match touched with
                | Some list ->
                    list.Add a
                    list.Add b
                | None -> ()
                for j in 0 .. k - 1 do
                    res[a * k + j] <- res[a * k + j] - delta[j]
                    res[b * k + j] <- res[b * k + j] + delta[j]
            for j in 0 .. k - 1 do
                total[j] <- total[j] + delta[j]
            match limit with
            | Some l ->
                for j in 0 .. k - 1 do
                    diff[j] <- l[j] - total[j]
                if sign p diff 0 <= 0 then
                    fin <- true
                    reached <- true
            | None -> ()
        while not fin do
            if not (levels ()) then fin <- true
            else
                let stamp = ws.Stamp
                // Blocking flow: depth-first along arcs one level up, each vertex resuming at its current arc; a
                // vertex with no way on is taken out of the level graph. After each augmentation the search starts
                // again at the source (the current arcs keep it from repeating work).
                for s in sources do
                    let mutable live = true
                    while live && not fin do
                        let mutable depth = 0
                        let mutable v = s
                        let mutable searching = true
                        while searching do
                            if depth > 0 && isSink v then
                                augment depth
                                searching <- false
                            else
                                let first = g.OutStart[v]
                                let count = g.OutStart[v + 1] - first
                                let mutable found = false
                                while not found && next[v] < count do
                                    let a = arcAt g (first + next[v])
                                    let w = g.ArcTo[a]
                                    if mark[w] = stamp && level[w] = level[v] + 1 && positive a then found <- true
                                    else next[v] <- next[v] + 1
                                if found then
                                    let a = arcAt g (first + next[v])
                                    path[depth] <- a
                                    depth <- depth + 1
                                    v <- g.ArcTo[a]
                                else
                                    // A dead end: out of the level graph; back up one arc and skip it.
                                    level[v] <- -1
                                    if depth = 0 then
                                        searching <- false
                                        live <- false
                                    else
                                        depth <- depth - 1
                                        v <- g.ArcTo[g.ArcTwin[path[depth]]]
                                        next[v] <- next[v] + 1
        reached

    /// After `flow`: the vertices the sources reach in the residual graph (the source side of a min cut), as
    /// `ws.Queue[0 .. count-1]` and marked `ws.Stamp` in `ws.Mark`; returns the count. Costs what it visits:
    /// nothing of size `Vertices` is allocated or cleared, so a local check stays local on a large graph.
    let sourceSide (g: Topology) (p: Problem) (res: int array) (ws: Workspace) (sources: int array) =
        ws.Stamp <- ws.Stamp + 1
        let stamp = ws.Stamp
        let mark = ws.Mark
        let queue = ws.Queue
        let mutable head, tail = 0, 0
        for s in sources do
            if mark[s] <> stamp then
                mark[s] <- stamp
                queue[tail] <- s
                tail <- tail + 1
        while head < tail do
            let u = queue[head]
            head <- head + 1
            for j in g.OutStart[u] .. g.OutStart[u + 1] - 1 do
                let a = arcAt g j
                let v = g.ArcTo[a]
                if mark[v] <> stamp && positive p res a then
                    mark[v] <- stamp
                    queue[tail] <- v
                    tail <- tail + 1
        tail

    /// `flow`, then, when the limit was not reached, the source side of a min cut as a flag per vertex.
    let run (g: Topology) (p: Problem) (res: int array) (ws: Workspace) (sources: int array) (isSink: int -> bool)
            (limit: int array option) (touched: Collections.Generic.List<int> option) =
        let reached = flow g p res ws sources isSink limit touched
        let reach = Array.zeroCreate g.Vertices
        if not reached then
            let count = sourceSide g p res ws sources
            for x in 0 .. count - 1 do
                reach[ws.Queue[x]] <- true
        reached, reach

/// Min-cut bounds for bipartitions of a network's output legs, profiles of such bounds, and oversized bonds.
module MinCut =
    /// The exact product of the dimensions of some indices: equal dimensions are counted and raised to their
    /// count, so the product of hundreds of legs takes a few big multiplications, not hundreds.
    let private product (net: FlatNetwork) (ids: int seq) =
        let counts = Collections.Generic.Dictionary<int64, int>()
        for i in ids do
            let d = Dim.size net.Indices[i].Dim
            counts[d] <- (match counts.TryGetValue d with | true, c -> c + 1 | _ -> 1)
        let mutable acc = BigInteger.One
        for KeyValue(d, c) in counts do
            acc <- acc * BigInteger.Pow(BigInteger d, c)
        acc

    let private log2 (b: BigInteger) = BigInteger.Log(b, 2.0)

    /// Source side of a min cut from QuikGraph's Edmonds–Karp on floating-point capacities: the vertices
    /// reachable from the source, and the complement of those that reach the sink, in the residual graph.
    let private floatCuts (g: CutGraph) (caps: float array) =
        let q = g.QuikGraph.Force()
        let ek =
            EdmondsKarpMaximumFlowAlgorithm<int, TaggedEdge<int, int>>(
                q.Graph,
                Func<TaggedEdge<int, int>, float>(fun e -> caps[e.Tag]),
                EdgeFactory(fun u v -> TaggedEdge(u, v, -1)),
                q.Augmentor)
        ek.Compute(g.Source, g.Sink) |> ignore
        let res = Array.zeroCreate q.Edges.Length
        for e in q.Edges do
            res[e.Tag] <- ek.ResidualCapacities[e]
        // Integer capacities are exact; log2 capacities carry rounding, so tiny residuals count as saturated.
        let tol = if g.ExactUnits then 0.5 else CutGraph.Tolerance
        let walk start forward =
            let seen = Array.zeroCreate g.Vertices
            let stack = Collections.Generic.Stack<int>()
            seen[start] <- true
            stack.Push start
            while stack.Count > 0 do
                let u = stack.Pop()
                for j in g.OutStart[u] .. g.OutStart[u + 1] - 1 do
                    let a = g.OutArcIds[j]
                    // Backwards, the arc v→u that can carry more is the twin of u→v.
                    let arc = if forward then a else g.ArcTwin[a]
                    let v = g.ArcTo[a]
                    if not seen[v] && res[arc] > tol then
                        seen[v] <- true
                        stack.Push v
            seen
        let fromSource = walk g.Source true
        let toSink = walk g.Sink false
        ek.MaxFlow, fromSource, Array.map not toSink

    /// The source side of a min cut from the exact engine.
    let private exactSide (g: CutGraph) (sides: Side option array) =
        let p = ExactFlow.problem g sides
        // The problem is used once, so its capacities serve as the residual array.
        let _, reach = ExactFlow.run (ExactFlow.topology g) p p.Cap (ExactFlow.workspace g.Vertices) [| g.Source |] (fun v -> v = g.Sink) None None
        reach

    /// Each distinct dimension of some legs with its count, in increasing order of dimension.
    let private factorsOf (net: FlatNetwork) (ids: int list) =
        let counts = Collections.Generic.Dictionary<int64, int>()
        // Counted in runs of equal dimensions (consecutive legs mostly share one), then added to the table.
        let mutable last, run = 0L, 0
        for i in ids do
            let d = Dim.size net.Indices[i].Dim
            if d = last then run <- run + 1
            else
                if run > 0 then counts[last] <- (match counts.TryGetValue last with | true, c -> c + run | _ -> run)
                last <- d
                run <- 1
        if run > 0 then counts[last] <- (match counts.TryGetValue last with | true, c -> c + run | _ -> run)
        counts |> Seq.map (fun (KeyValue(d, c)) -> d, c) |> Seq.sortBy fst |> Array.ofSeq

    let private factorBits (fs: (int64 * int) array) = fs |> Array.sumBy (fun (d, c) -> float c * Math.Log2(float d))

    let private factorValue (fs: (int64 * int) array) =
        fs |> Array.fold (fun acc (d, c) -> acc * BigInteger.Pow(BigInteger d, c)) BigInteger.One

    /// A report from what every engine finds: the legs of each side (runs of positions in `g.OpenLegs`) with their
    /// dimensions counted, the severed indices in index order, and the tensors of the source side (runs of ids).
    /// Comparisons between products are made on their logs when these are clearly apart, exactly otherwise, so
    /// that the trivial bound of a profile entry is never built unless it is close to the min-cut bound.
    let private reportFrom (net: FlatNetwork) (legs: int array) (isHyper: int -> bool) (isOpen: int -> bool) (tensorCount: int)
                           (name: string) (range: SourceRange) (leftLegs: Run array) (rightLegs: Run array)
                           (aFactors: (int64 * int) array) (bFactors: (int64 * int) array) (severed: int list) (leftTensors: Run array) =
        let bound = product net severed
        let bits = log2 bound
        let aBits, bBits = factorBits aFactors, factorBits bFactors
        let trivialFactors, trivialBits =
            if aBits < bBits - 1e-6 then aFactors, aBits
            elif bBits < aBits - 1e-6 then bFactors, bBits
            elif factorValue aFactors <= factorValue bFactors then aFactors, aBits
            else bFactors, bBits
        let tighter =
            if bits < trivialBits - 1e-6 then MinCutTighter
            elif bits > trivialBits + 1e-6 then TrivialTighter
            else
                let trivial = factorValue trivialFactors
                if bound < trivial then MinCutTighter
                elif trivial < bound then TrivialTighter
                else Equal
        { Name = name
          Legs = legs
          LeftLegs = leftLegs
          RightLegs = rightLegs
          Bound = bound
          Bits = bits
          Nats = BigInteger.Log bound
          Bonds =
            severed
            |> List.map (fun i ->
                let ix = net.Indices[i]
                { Index = i
                  Name = ix.Name
                  Dim = Dim.size ix.Dim
                  Hyper = isHyper i
                  Open = isOpen i
                  Range = ix.Range })
          LeftTensors = leftTensors
          RightTensors = Runs.complement tensorCount leftTensors
          TrivialFactors = trivialFactors
          TrivialBits = trivialBits
          Tighter = tighter
          Range = range }

    /// `reportFrom` on a flow graph.
    let private report (g: CutGraph) =
        reportFrom g.Network g.OpenLegs (fun i -> match g.Placement[i] with HyperPair _ -> true | _ -> false) (fun i -> g.IsOpen[i]) g.Tensors

    /// The tensors marked in `inX` (the first `count` entries), as runs.
    let private tensorRuns (inX: bool array) (count: int) =
        // A plain loop (a million tensors through a sequence expression showed in profiles).
        let runs = ResizeArray<Run>()
        let mutable t = 0
        while t < count do
            if inX[t] then
                let first = t
                while t + 1 < count && inX[t + 1] do
                    t <- t + 1
                runs.Add { First = first; Last = t }
            t <- t + 1
        runs.ToArray()

    /// Evaluates one bipartition on a flow graph built for it alone, when the network has no hyperindex and no leg
    /// repeated on a tensor (None otherwise: the general graph handles those). Open legs join only their own
    /// side's terminal, and parallel bonds stay separate arcs (the smallest min cut's source side does not depend
    /// on how capacities are grouped), so the graph holds about a third of the arcs of `CutGraph`, which is built
    /// for every bipartition at once. This is what `tn check` runs for each declared cut of a million-tensor network,
    /// where touching fresh memory is most of the cost.
    let private evaluateAlone (net: FlatNetwork) (name: string) (range: SourceRange) (left: int list) (right: int list) : CutReport option =
        let nT = net.Tensors.Length
        let nI = net.Indices.Length
        // Per index: bit 0 an output leg, bit 1 a dynamic one, bit 2 on side A, bit 3 on side B.
        let flags = Array.zeroCreate<byte> nI
        for o in net.Output do
            flags[o] <- flags[o] ||| (if Dim.isDynamic net.Indices[o].Dim then 3uy else 1uy)
        for i in left do
            if flags[i] = 1uy then flags[i] <- flags[i] ||| 4uy
        for i in right do
            if flags[i] &&& 3uy = 1uy then flags[i] <- flags[i] ||| 8uy
        // The (at most two) distinct tensors of each index.
        let first = Array.create nI -1
        let second = Array.create nI -1
        let mutable general = false
        for t in net.Tensors do
            for l in t.Legs do
                if first[l] < 0 then first[l] <- t.Id
                elif second[l] < 0 && first[l] <> t.Id then second[l] <- t.Id
                else general <- true
        if general then None
        else
            let isOpen i = flags[i] &&& 3uy = 1uy
            // Which indices the graph holds: as `CutGraph.build` places them (a dynamic output leg, or an index
            // with one endpoint, is left out; an open leg on a tensor that another tensor shares is a hyperindex).
            let placed i =
                if flags[i] &&& 3uy = 3uy then false
                else
                    let ends = (if first[i] >= 0 then 1 else 0) + (if second[i] >= 0 then 1 else 0) + (if isOpen i then 1 else 0)
                    if ends > 2 then general <- true
                    ends = 2
            let sizeOf i = Dim.size net.Indices[i].Dim
            // Capacities are exponent vectors over the primes of the dimensions the graph carries.
            let used = Collections.Generic.HashSet<int64>()
            let mutable last = 0L
            let mutable arcs = 0
            let source, sink = nT, nT + 1
            let degree = Array.zeroCreate<int> (nT + 3)
            for i in 0 .. nI - 1 do
                if placed i then
                    let n = sizeOf i
                    if n > 1L then
                        if n <> last then
                            used.Add n |> ignore
                            last <- n
                        let u = first[i]
                        let v = if second[i] >= 0 then second[i] elif flags[i] &&& 4uy <> 0uy then source else sink
                        degree[u + 1] <- degree[u + 1] + 1
                        degree[v + 1] <- degree[v + 1] + 1
                        arcs <- arcs + 2
            if general then None
            else
                let primes = CutGraph.primesOf used
                let k = primes.Length
                let vertices = nT + 2
                for v in 1 .. vertices do
                    degree[v] <- degree[v] + degree[v - 1]
                let outStart = Array.sub degree 0 (vertices + 1)
                let fill = degree
                let arcTo = Array.zeroCreate<int> arcs
                let arcTwin = Array.zeroCreate<int> arcs
                let cap = Array.zeroCreate<int> (arcs * k)
                let vector = Array.zeroCreate<int> k
                let mutable lastN = 0L
                for i in 0 .. nI - 1 do
                    if placed i then
                        let n = sizeOf i
                        if n > 1L then
                            if n <> lastN then
                                lastN <- n
                                CutGraph.exponentsInto primes n vector
                            let u = first[i]
                            let v = if second[i] >= 0 then second[i] elif flags[i] &&& 4uy <> 0uy then source else sink
                            let a, b = fill[u], fill[v]
                            fill[u] <- a + 1
                            fill[v] <- b + 1
                            arcTo[a] <- v
                            arcTwin[a] <- b
                            arcTo[b] <- u
                            arcTwin[b] <- a
                            for j in 0 .. k - 1 do
                                cap[a * k + j] <- vector[j]
                                cap[b * k + j] <- vector[j]
                let topology : ExactFlow.Topology =
                    { Vertices = vertices
                      ArcTo = arcTo
                      ArcTwin = arcTwin
                      OutStart = outStart
                      // Arcs are laid out by tail.
                      OutArcIds = Array.empty }
                let problem : ExactFlow.Problem =
                    { Primes = primes
                      LogP = primes |> Array.map (fun p -> Math.Log2(float p))
                      K = k
                      Cap = cap
                      Inf = Array.zeroCreate arcs
                      Weight = Array.empty }
                let _, inX = ExactFlow.run topology problem cap (ExactFlow.workspace vertices) [| source |] (fun v -> v = sink) None None
                // The severed indices, as `CutGraph.severed` finds them: endpoints on both sides.
                let severed = ResizeArray<int>()
                for i in 0 .. nI - 1 do
                    if placed i then
                        let mutable inside = flags[i] &&& 4uy <> 0uy
                        let mutable outside = flags[i] &&& 8uy <> 0uy
                        if inX[first[i]] then inside <- true else outside <- true
                        if second[i] >= 0 then
                            if inX[second[i]] then inside <- true else outside <- true
                        if inside && outside then severed.Add i
                // The legs of each side as runs of positions among the open output legs, in output order.
                let mutable openCount = 0
                for o in net.Output do
                    if isOpen o then openCount <- openCount + 1
                let legs = Array.zeroCreate<int> openCount
                let leftRuns = ResizeArray<Run>()
                let mutable p = 0
                for o in net.Output do
                    if isOpen o then
                        legs[p] <- o
                        if flags[o] &&& 4uy <> 0uy then
                            if leftRuns.Count > 0 && leftRuns[leftRuns.Count - 1].Last = p - 1 then
                                leftRuns[leftRuns.Count - 1] <- { leftRuns[leftRuns.Count - 1] with Last = p }
                            else leftRuns.Add { First = p; Last = p }
                        p <- p + 1
                let leftLegs = leftRuns.ToArray()
                // The sides without their batch legs (the lists themselves when they have none).
                let openOnly (ids: int list) = if List.forall isOpen ids then ids else List.filter isOpen ids
                let left, right = openOnly left, openOnly right
                Some(
                    reportFrom net legs (fun _ -> false) isOpen nT name range leftLegs (Runs.complement legs.Length leftLegs)
                        (factorsOf net left) (factorsOf net right) (List.ofSeq severed) (tensorRuns inX nT))

    /// Evaluates one bipartition on a prebuilt flow graph with the given engine. Legs not open in the graph
    /// (dynamic legs) are dropped.
    let evaluateWith (engine: FlowEngine) (g: CutGraph) (name: string) (range: SourceRange) (left: int list) (right: int list) =
        let net = g.Network
        let left = left |> List.filter (fun i -> g.IsOpen[i])
        let right = right |> List.filter (fun i -> g.IsOpen[i])
        let sides = CutGraph.sides g left right
        let score (inX: bool array) =
            let bonds = CutGraph.severed g sides inX
            product net bonds, bonds, inX
        let _, bonds, inX =
            match engine with
            | PrimeExponent -> score (exactSide g sides)
            | QuikGraphEdmondsKarp ->
                let _, xs, xt = floatCuts g (CutGraph.capacities g sides)
                let best = [ score xs; score xt ] |> List.minBy (fun (b, _, _) -> b)
                let b, _, _ = best
                // Two different products closer than the float slack cannot be told apart in log2 units; a
                // bound below 2^24 is at least 1e-7 bits from any smaller integer, far beyond the slack.
                // Otherwise the exact engine settles it.
                if g.ExactUnits || b < BigInteger(1 <<< 24) then best
                else
                    let exact = score (exactSide g sides)
                    let e, _, _ = exact
                    if e <= b then exact else best
        let positions (legs: int list) =
            let p = legs |> Array.ofList
            for k in 0 .. p.Length - 1 do
                p[k] <- g.PositionOf[p[k]]
            Array.Sort p
            Runs.ofSorted p
        report g name range (positions left) (positions right) (factorsOf net left) (factorsOf net right) bonds (tensorRuns inX g.Tensors)

    /// Evaluates one bipartition on a prebuilt flow graph with QuikGraph's Edmonds–Karp.
    let evaluateOn (g: CutGraph) (name: string) (range: SourceRange) (left: int list) (right: int list) : CutReport =
        evaluateWith QuikGraphEdmondsKarp g name range left right

    /// Checks that a cut's sides partition the network's output legs (dynamic legs are ignored with a note).
    let validate (net: FlatNetwork) (cut: FlatCut) : Diagnostic list =
        let isDyn i = Dim.isDynamic net.Indices[i].Dim
        let name i = net.Indices[i].Name
        // Flags per index, not F# sets or list scans: a cut of a 60,000-site chain names 30,000 legs on each side.
        let nI = net.Indices.Length
        let flags (ids: int list) =
            let a = Array.zeroCreate<bool> nI
            for i in ids do
                a[i] <- true
            a
        let isOutput = flags net.Output
        let onLeft = flags cut.Left
        let onRight = flags cut.Right
        let firstSeen = Array.zeroCreate<bool> nI
        // Plain loops into one list (as a list expression they allocated tens of bytes per leg).
        let found = ResizeArray<Diagnostic>()
        let seen i =
            if not firstSeen[i] then
                firstSeen[i] <- true
                if not isOutput[i] then
                    found.Add(
                        Diagnostic.make MinCutDiagnostics.CutLegNotOutput cut.Range
                            (sprintf "cut `%s`: `%s` is not an output leg of `%s`" cut.Name (name i) net.Name))
                elif isDyn i then
                    found.Add(
                        Diagnostic.make MinCutDiagnostics.CutDynamicLeg cut.Range
                            (sprintf "cut `%s`: `%s` is a batch leg; the bound is for one batch entry" cut.Name (name i)))
        for i in cut.Left do
            seen i
        for i in cut.Right do
            seen i
        // In index order, as the set intersection gave them.
        for i in 0 .. nI - 1 do
            if onLeft[i] && onRight[i] then
                found.Add(Diagnostic.make MinCutDiagnostics.CutLegBothSides cut.Range (sprintf "cut `%s`: `%s` is on both sides" cut.Name (name i)))
        for i in net.Output do
            if not (isDyn i) && not onLeft[i] && not onRight[i] then
                found.Add(
                    Diagnostic.make MinCutDiagnostics.CutLegMissing cut.Range
                        (sprintf "cut `%s`: output leg `%s` is on neither side" cut.Name (name i))
                    |> Diagnostic.withHint "every output leg must be on one side of a cut")
        List.ofSeq found

    /// Evaluates one declared cut: the report, or None when the cut is invalid, with its diagnostics.
    let evaluate (net: FlatNetwork) (cut: FlatCut) : CutReport option * Diagnostic list =
        let ds = validate net cut
        if Diagnostic.hasErrors ds then None, ds
        else Some(evaluateOn (CutGraph.build net) cut.Name cut.Range cut.Left cut.Right), ds

    /// Evaluates every declared cut of a network with the given engine (the flow graph is built once, and only
    /// when there is a cut). `tn check` uses the exact engine: one search per cut, no QuikGraph setup.
    let evaluateAllWith (engine: FlowEngine) (net: FlatNetwork) : CutReport list * Diagnostic list =
        if net.Cuts.IsEmpty then [], []
        else
            // The exact engine evaluates each cut on a graph of its own where it can; the general graph is built
            // once, when first needed.
            let g = lazy (CutGraph.build net)
            let results =
                net.Cuts
                |> List.map (fun cut ->
                    let ds = validate net cut
                    if Diagnostic.hasErrors ds then None, ds
                    else
                        let alone = if engine = PrimeExponent then evaluateAlone net cut.Name cut.Range cut.Left cut.Right else None
                        match alone with
                        | Some r -> Some r, ds
                        | None -> Some(evaluateWith engine g.Value cut.Name cut.Range cut.Left cut.Right), ds)
            List.choose fst results, List.collect snd results

    /// Evaluates every declared cut of a network with the exact engine (as `tn check` does): one search per cut on
    /// a graph of its own where it can. QuikGraph's Edmonds–Karp took minutes on a 300 × 300 PEPS's half cut.
    let evaluateAll (net: FlatNetwork) : CutReport list * Diagnostic list = evaluateAllWith PrimeExponent net

    /// The min-cut bound of a bipartition from the exact engine alone (prime-exponent capacities, no floating
    /// point), for cross-checking the QuikGraph path.
    let exactBound (g: CutGraph) (left: int list) (right: int list) : BigInteger =
        let sides = CutGraph.sides g left right
        product g.Network (CutGraph.severed g sides (exactSide g sides))

    /// Evaluates an ad-hoc bipartition given as index ids (the B side is every other open output leg).
    let bipartition (net: FlatNetwork) (name: string) (left: int list) : CutReport =
        let g = CutGraph.build net
        let right = net.Output |> List.filter (fun i -> not (List.contains i left))
        evaluateOn g name Range.none left right

    /// The splits of one nested family on a flow graph: split m (1 ≤ m ≤ k) puts on side A the open legs whose
    /// `rank` is at most m (a leg of rank k + 1 is on side B in every split), and `leftLegs m` gives those legs as
    /// runs of positions.
    ///
    /// The source side of the smallest min cut grows with A (submodularity: if S is it for A and T for A' ⊇ A,
    /// S ∩ T and S ∪ T are min cuts for A and A', so S ∩ T = S), so a family is solved by divide and conquer, as
    /// for parametric cuts: the middle split on the whole graph, then the splits before it with everything
    /// outside its source side contracted into the sink, and those after it with its source side contracted into
    /// the source. Each level of the recursion partitions the vertices, so a family of k splits on a chain costs
    /// about log k flows over the graph, not k. Severed bonds are looked for among the indices of the region's
    /// tensors and those severed by the two splits that bound the region: an index with no tensor in the region
    /// is severed by one of them whenever it is severed at all.
    let private nested (g: CutGraph) (k: int) (rank: int array) (leftLegs: int -> Run array) (label: int -> string) =
        let net = g.Network
        let nT = g.Tensors
        let nLegs = g.OpenLegs.Length
        let kp = g.Primes.Length
        let logP = g.Primes |> Array.map (fun p -> Math.Log2(float p))
        let w = g.Exponents
        // Per vertex: the first split whose source side holds it (k + 1 while none is known to).
        let joined = Array.create g.Vertices (k + 1)
        let localOf = Array.create g.Vertices -1
        let localArc = Array.create g.Arcs.Length -1
        let seen = Array.zeroCreate<int> net.Indices.Length
        let mutable stamp = 0
        let severedAt = Array.create (k + 2) Array.empty<int>
        let results = Array.zeroCreate<CutReport> k
        // The trivial bound's factors per split: how many legs of each distinct dimension are on side A.
        let dims = g.OpenLegs |> Array.map (fun i -> Dim.size net.Indices[i].Dim) |> Array.distinct |> Array.sort
        let nd = dims.Length
        let slot = dims |> Array.mapi (fun j d -> d, j) |> dict
        let onA = Array.zeroCreate<int> ((k + 2) * nd)
        for i in g.OpenLegs do
            let j = slot[Dim.size net.Indices[i].Dim]
            onA[rank[i] * nd + j] <- onA[rank[i] * nd + j] + 1
        for m in 1 .. k + 1 do
            for j in 0 .. nd - 1 do
                onA[m * nd + j] <- onA[m * nd + j] + onA[(m - 1) * nd + j]
        let factors m countOf = [| for j in 0 .. nd - 1 do if countOf j > 0 then dims[j], countOf j |]
        let severs m i =
            match g.Placement[i] with
            | Absent -> false
            | _ ->
                let mutable inside, outside = false, false
                if g.IsOpen[i] then
                    if rank[i] <= m then inside <- true else outside <- true
                for j in g.TensorStart[i] .. g.TensorStart[i + 1] - 1 do
                    let t = g.TensorIds[j]
                    if joined[t] <= m then inside <- true else outside <- true
                inside && outside
        // Solves splits lo..hi on `region`, the vertices that split hi + 1's source side holds and split lo - 1's
        // does not (their `joined` is hi + 1); `tensorsL` are the tensors of split lo - 1's source side.
        let rec solve lo hi (region: int array) (tensorsL: Run array) =
            if lo <= hi then
                let m = (lo + hi) / 2
                let r = region.Length
                let src, snk = r, r + 1
                for x in 0 .. r - 1 do
                    localOf[region[x]] <- x
                let local v =
                    if v = g.Source then src
                    elif v = g.Sink then snk
                    elif joined[v] < lo then src
                    elif joined[v] > hi + 1 then snk
                    else localOf[v]
                // Every arc with an end in the region; an arc into it from outside is the twin of one out of it.
                let from, target, orig = ResizeArray<int>(), ResizeArray<int>(), ResizeArray<int>()
                let add u v a =
                    localArc[a] <- from.Count
                    from.Add u
                    target.Add v
                    orig.Add a
                for x in 0 .. r - 1 do
                    let u = region[x]
                    for j in g.OutStart[u] .. g.OutStart[u + 1] - 1 do
                        let a = g.OutArcIds[j]
                        let y = local g.ArcTo[a]
                        add x y a
                        if y >= r then add y x g.ArcTwin[a]
                let nA = from.Count
                let arcFrom = from.ToArray()
                let outStart, outArcIds = CutGraph.outArcs (r + 2) arcFrom
                let topology : ExactFlow.Topology =
                    { Vertices = r + 2
                      ArcTo = target.ToArray()
                      ArcTwin = Array.init nA (fun a -> localArc[g.ArcTwin[orig[a]]])
                      OutStart = outStart
                      OutArcIds = outArcIds }
                let cap = Array.zeroCreate (nA * kp)
                let inf = Array.zeroCreate nA
                for a in 0 .. nA - 1 do
                    let addTo (v: int array) =
                        for j in 0 .. kp - 1 do
                            cap[a * kp + j] <- cap[a * kp + j] + v[j]
                    let role = g.Arcs[orig[a]]
                    match role.Kind with
                    | ArcKind.Bonds -> CutGraph.iterGroup g role.Index (fun i -> addTo w[i])
                    | ArcKind.OpenLegs -> CutGraph.iterGroup g role.Index (fun i -> if (rank[i] <= m) = role.OnA then addTo w[i])
                    | ArcKind.HyperInner -> addTo w[role.Index]
                    | ArcKind.HyperLink -> inf[a] <- true
                    | ArcKind.HyperTerminal -> inf[a] <- ((rank[role.Index] <= m) = role.OnA)
                    | _ -> ()
                let problem : ExactFlow.Problem = { Primes = g.Primes; LogP = logP; K = kp; Cap = cap; Inf = inf; Weight = w }
                let _, reach = ExactFlow.run topology problem cap (ExactFlow.workspace (r + 2)) [| src |] (fun v -> v = snk) None None
                let inner, outer = ResizeArray<int>(), ResizeArray<int>()
                for x in 0 .. r - 1 do
                    if reach[x] then
                        joined[region[x]] <- m
                        inner.Add region[x]
                    else outer.Add region[x]
                stamp <- stamp + 1
                let found = ResizeArray<int>()
                let consider i =
                    if seen[i] <> stamp then
                        seen[i] <- stamp
                        if severs m i then found.Add i
                for v in region do
                    if v < nT then
                        for i in net.Tensors[v].Legs do
                            consider i
                for i in severedAt[lo - 1] do
                    consider i
                for i in severedAt[hi + 1] do
                    consider i
                found.Sort()
                severedAt[m] <- found.ToArray()
                let tensorsM = Runs.union tensorsL (Runs.ofSeq (inner |> Seq.filter (fun v -> v < nT)))
                let left = leftLegs m
                results[m - 1] <-
                    report g (label m) Range.none left (Runs.complement nLegs left)
                        (factors m (fun j -> onA[m * nd + j])) (factors m (fun j -> onA[(k + 1) * nd + j] - onA[m * nd + j]))
                        (List.ofSeq found) tensorsM
                solve lo (m - 1) (inner.ToArray()) tensorsL
                solve (m + 1) hi (outer.ToArray()) tensorsM
        let all = [| for v in 0 .. g.Vertices - 1 do if v <> g.Source && v <> g.Sink then v |]
        solve 1 k all Array.empty
        results

    /// The open output legs, as a 2-D grid (family with two subscripts, all legs in one family) when they form one.
    let private grid (net: FlatNetwork) (legs: int array) =
        let ixs = legs |> Array.map (fun i -> net.Indices[i])
        if ixs.Length > 0 && ixs |> Array.forall (fun ix -> ix.Family = ixs[0].Family && ix.Subscripts.Length = 2) then
            Some(ixs |> Array.map (fun ix -> ix.Subscripts[0], ix.Subscripts[1]))
        else None

    /// The bound for the profile's splits of the output legs, on one flow graph. For a 1-D output: every
    /// contiguous split in declared order (an MPS bond by bond) and odd|even positions. For a 2-D output family
    /// (legs `p[x,y]`): every row split and every column split (the halves among them) and the interleaved
    /// splits odd|even rows, odd|even columns and the checkerboard. Contiguous, row and column splits are nested
    /// families, solved together (see `nested`): near-linear on chains, where one flow per split was quadratic.
    let profile (net: FlatNetwork) : ProfileEntry list =
        let g = CutGraph.build net
        let legs = g.OpenLegs
        let n = legs.Length
        let name i = net.Indices[i].Name
        let family kind (levels: int array) (labelOf: int -> int -> string) =
            // Split m puts the legs of the m lowest levels on side A.
            let distinct = levels |> Array.distinct |> Array.sort
            let k = distinct.Length - 1
            if k < 1 then []
            else
                let levelOf = distinct |> Array.mapi (fun j v -> v, j) |> dict
                let rank = Array.zeroCreate net.Indices.Length
                legs |> Array.iteri (fun p i -> rank[i] <- levelOf[levels[p]] + 1)
                let leftLegs m =
                    if kind = Contiguous then [| { First = 0; Last = m - 1 } |]
                    else Runs.ofSorted (seq { for p in 0 .. n - 1 do if rank[legs[p]] <= m then p })
                nested g k rank leftLegs (fun m -> labelOf distinct[m - 1] distinct[m])
                |> Array.mapi (fun j r -> { Kind = kind; Position = j + 1; Report = r })
                |> List.ofArray
        let interleaved label (onA: int -> bool) =
            let a = [ for p in 0 .. n - 1 do if onA p then legs[p] ]
            let b = [ for p in 0 .. n - 1 do if not (onA p) then legs[p] ]
            { Kind = Interleaved; Position = 0; Report = evaluateWith PrimeExponent g label Range.none a b }
        match grid net legs with
        | Some cells when n > 1 ->
            let rows = cells |> Array.map fst
            let cols = cells |> Array.map snd
            let nRows, nCols = Array.distinct(rows).Length, Array.distinct(cols).Length
            [ yield! family Rows rows (fun r next -> sprintf "rows ..%d | %d.." r next)
              yield! family Columns cols (fun c next -> sprintf "cols ..%d | %d.." c next)
              if nRows > 1 then interleaved "even rows | odd rows" (fun p -> rows[p] % 2 = 0)
              if nCols > 1 then interleaved "even cols | odd cols" (fun p -> cols[p] % 2 = 0)
              if nRows > 1 && nCols > 1 then interleaved "checkerboard" (fun p -> (rows[p] + cols[p]) % 2 = 0) ]
        | _ ->
            [ yield!
                  family Contiguous (Array.init n id) (fun last next ->
                      sprintf "%s..%s | %s..%s" (name legs[0]) (name legs[last]) (name legs[next]) (name legs[n - 1]))
              if n > 2 then interleaved "even | odd positions" (fun p -> p % 2 = 0) ]

    /// Bonds whose dimension exceeds what can flow through them. For a bond between tensors u and v, the most
    /// that can flow is the smaller of the two min-cuts, in the network without the bond, that separate u from
    /// v and all open legs, and v from u and all open legs; the bond can be reduced to that without changing the
    /// set of tensors the network represents (insert the projector onto the image of the smaller side). For a
    /// bridge this is at most the product of the open dimensions on the smaller side. Hyperindices and open legs
    /// are not checked.
    let private oversizedWith (local: bool) (net: FlatNetwork) : OversizedBond list * Diagnostic list =
        let g = CutGraph.build net
        let allB = Array.init net.Indices.Length (fun i -> if g.IsOpen[i] then Some SideB else None)
        let p = ExactFlow.problem g allB
        let k = p.K
        let arcsOf = Array.init net.Indices.Length (fun _ -> ResizeArray<int>())
        g.Arcs
        |> Array.iteri (fun a role ->
            match role.Kind with
            | ArcKind.Bonds -> CutGraph.iterGroup g role.Index (fun i -> arcsOf[i].Add a)
            | _ -> ())
        // One residual array and one workspace for every bond: each check changes a few arcs and puts them back,
        // so a check costs what its flow explores (a few tensors around the bond on a chain or a grid), not the
        // size of the network.
        let res = Array.copy p.Cap
        let ws = ExactFlow.workspace g.Vertices
        let topology = ExactFlow.topology g
        let touched = Collections.Generic.List<int>()
        // The indices on each tensor (`IndicesAt[IndexStart[t] .. IndexStart[t + 1] - 1]`), inverted from the
        // tensors on each index, so that the bonds a side severs are found from its own tensors.
        let tensors = g.Tensors
        let indexStart = Array.zeroCreate (tensors + 1)
        for i in 0 .. net.Indices.Length - 1 do
            if (match g.Placement[i] with Absent -> false | _ -> true) then
                for x in g.TensorStart[i] .. g.TensorStart[i + 1] - 1 do
                    indexStart[g.TensorIds[x] + 1] <- indexStart[g.TensorIds[x] + 1] + 1
        for t in 0 .. tensors - 1 do
            indexStart[t + 1] <- indexStart[t + 1] + indexStart[t]
        let indicesAt = Array.zeroCreate indexStart[tensors]
        let fill = Array.copy indexStart
        for i in 0 .. net.Indices.Length - 1 do
            if (match g.Placement[i] with Absent -> false | _ -> true) then
                for x in g.TensorStart[i] .. g.TensorStart[i + 1] - 1 do
                    let t = g.TensorIds[x]
                    indicesAt[fill[t]] <- i
                    fill[t] <- fill[t] + 1
        let seenIndex = Array.zeroCreate net.Indices.Length
        // `CutGraph.severed g allB side` less bond i, for the side `ws.Queue[0 .. count-1]` (marked `ws.Stamp`):
        // an index is severed when one of its tensors is on the side and it is open or another of its tensors is
        // not. The same indices (in another order, which the product does not see), found from the side alone.
        let severedNear (count: int) (bond: int) =
            let stamp = ws.Stamp
            let found = ResizeArray<int>()
            for x in 0 .. count - 1 do
                let t = ws.Queue[x]
                if t < tensors then
                    for y in indexStart[t] .. indexStart[t + 1] - 1 do
                        let i = indicesAt[y]
                        if i <> bond && seenIndex[i] <> stamp then
                            seenIndex[i] <- stamp
                            let mutable outside = g.IsOpen[i]
                            for z in g.TensorStart[i] .. g.TensorStart[i + 1] - 1 do
                                if ws.Mark[g.TensorIds[z]] <> stamp then outside <- true
                            if outside then found.Add i
            found
        let restore (arcs: int seq) =
            for a in arcs do
                Array.blit p.Cap (a * k) res (a * k) k
        let found =
            [ for i in 0 .. net.Indices.Length - 1 do
                  match g.Placement[i] with
                  | Edge(u, v) when Dim.size net.Indices[i].Dim > 1L ->
                      let d = Dim.size net.Indices[i].Dim
                      let side from other =
                          // The graph without bond i: take its weight off the arcs that carry it.
                          for a in arcsOf[i] do
                              for j in 0 .. k - 1 do
                                  res[a * k + j] <- res[a * k + j] - p.Weight[i][j]
                          touched.Clear()
                          let sources = [| from |]
                          let reached = ExactFlow.flow topology p res ws sources (fun x -> x = other || x = g.Sink) (Some p.Weight[i]) (Some touched)
                          // The side is read before the residuals are put back; only its own tensors are visited.
                          let bound =
                              if reached then BigInteger d
                              else
                                  let count = ExactFlow.sourceSide topology p res ws sources
                                  if local then product net (severedNear count i)
                                  else
                                      // The definition: a flag per vertex and every index looked at.
                                      let reach = Array.zeroCreate g.Vertices
                                      for x in 0 .. count - 1 do
                                          reach[ws.Queue[x]] <- true
                                      product net (CutGraph.severed g allB reach |> List.filter ((<>) i))
                          restore touched
                          restore arcsOf[i]
                          bound
                      let r = min (side u v) (side v u)
                      if r < BigInteger d then
                          let ix = net.Indices[i]
                          { Index = i
                            Name = ix.Name
                            Dim = d
                            ReducibleTo = r
                            Range = ix.Range }
                  | _ -> () ]
        let diags =
            found
            |> List.map (fun o ->
                Diagnostic.make MinCutDiagnostics.OversizedBond o.Range
                    (sprintf "bond `%s` has dimension %d but at most %O can flow through it" o.Name o.Dim o.ReducibleTo)
                |> Diagnostic.withHint (sprintf "reduce `%s` to %O: the network represents the same tensors" o.Name o.ReducibleTo))
        found, diags

    /// Bonds whose dimension exceeds what can flow through them (the definition is on `oversizedWith` above). Each
    /// check costs what its flow explores: no array the size of the network is allocated or scanned per bond.
    let oversized (net: FlatNetwork) : OversizedBond list * Diagnostic list = oversizedWith true net

    /// `oversized` with the bonds each side severs found by scanning every index against a flag per vertex
    /// (`CutGraph.severed`): the plain definition, which tests compare `oversized` with. Quadratic in the size
    /// of a network with many oversized bonds.
    let oversizedReference (net: FlatNetwork) : OversizedBond list * Diagnostic list = oversizedWith false net
