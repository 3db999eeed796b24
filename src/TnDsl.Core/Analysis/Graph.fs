namespace TnDsl

open System
open System.Collections.Generic
open QuikGraph

/// Which side of a bipartition an output leg is on.
type Side =
    | SideA
    | SideB

/// What one arc of the flow graph stands for (see `ArcRole`).
type ArcKind =
    /// Between two tensors: the bonds it carries (parallel bonds merged, so a pair of vertices has one arc each
    /// way), from the first in index order (`ArcRole.Index`).
    | Bonds = 0uy
    /// Between a tensor and a terminal: the tensor's open legs (from the first in index order), live for the legs
    /// on that terminal's side.
    | OpenLegs = 1uy
    /// The inner arc of a hyperindex's vertex pair (in → out): cutting it cuts the hyperindex once.
    | HyperInner = 2uy
    /// An endpoint's arc into or out of a hyperindex's vertex pair: never cut.
    | HyperLink = 3uy
    /// An endpoint arc between a terminal and a hyperindex that is an open leg: uncuttable when the leg is on
    /// that terminal's side, absent otherwise.
    | HyperTerminal = 4uy
    /// A reverse arc added for the residual graph: capacity zero.
    | Reverse = 5uy

/// What one arc of the flow graph stands for. Capacities are not stored here: they depend on the bipartition
/// (open legs are live only towards their own terminal) and are computed per cut by `CutGraph.capacities`.
/// Eight bytes (a million-tensor network has millions of arcs): an arc that carries several indices names the
/// first, and the rest follow through `CutGraph.NextInGroup`.
[<Struct>]
type ArcRole =
    { Kind: ArcKind
      /// For `OpenLegs` and `HyperTerminal`: the terminal's side is A (the source).
      OnA: bool
      /// The first index carried (`Bonds`, `OpenLegs`), or the hyperindex (`HyperInner`, `HyperTerminal`); -1
      /// otherwise.
      Index: int }

    /// The terminal's side of an `OpenLegs` or `HyperTerminal` arc.
    member r.Side = if r.OnA then SideA else SideB

/// Making arc roles.
module ArcRole =
    /// Bonds between two tensors, from the first.
    let bonds first = { Kind = ArcKind.Bonds; OnA = false; Index = first }
    /// A tensor's open legs towards a terminal, from the first.
    let openLegs side first = { Kind = ArcKind.OpenLegs; OnA = (match side with SideA -> true | SideB -> false); Index = first }
    /// The inner arc of a hyperindex.
    let hyperInner i = { Kind = ArcKind.HyperInner; OnA = false; Index = i }
    /// An endpoint arc of a hyperindex.
    let hyperLink = { Kind = ArcKind.HyperLink; OnA = false; Index = -1 }
    /// A terminal's arc to an open hyperindex.
    let hyperTerminal side i = { Kind = ArcKind.HyperTerminal; OnA = (match side with SideA -> true | SideB -> false); Index = i }
    /// A reverse arc of capacity zero.
    let reverse = { Kind = ArcKind.Reverse; OnA = false; Index = -1 }

/// How an index enters the flow graph (a value: a million-index network holds one array of them, not a million
/// objects).
[<Struct>]
type IndexPlacement =
    /// Not in the graph: a dynamic (batch) output leg, which is conditioned on (see `CutGraph`), or an index
    /// with fewer than two endpoints (a trace on one tensor, an output leg on no tensor).
    | Absent
    /// An edge between two tensors.
    | Edge of u: int * v: int
    /// An open leg of exactly one tensor.
    | Leg of tensor: int
    /// A hyperindex with three or more endpoints (tensors, and the terminal of its side if it is open),
    /// modelled by the vertex pair (inV → outV) so that it is cut once, whatever the number of tensors.
    | HyperPair of inV: int * outV: int

/// The flow graph of a flat network: one vertex per tensor, then the source (side A) and the sink (side B),
/// then two vertices per hyperindex. It is built once per network and reused for every bipartition of its
/// output legs, so a profile of hundreds of cuts builds it once.
///
/// Capacities are logarithms of dimensions. When every dimension in the graph is a power of one prime p
/// (2, 4, 8, … in most networks), capacities are the integer exponents of p and floating-point arithmetic is
/// exact; otherwise they are log2 of the dimensions and comparisons use `Tolerance`.
///
/// Dynamic (batch) output legs are conditioned on: the bound is for the tensor of one batch entry, so the batch
/// index is dropped from the graph (dimension 1), on neither side. A dynamic index that is summed inside the
/// network counts with its nominal size.
type CutGraph =
    { Network: FlatNetwork
      /// Number of tensors; tensor t is vertex t.
      Tensors: int
      /// The source vertex (side A's terminal).
      Source: int
      /// The sink vertex (side B's terminal).
      Sink: int
      /// Number of vertices.
      Vertices: int
      /// Per index: how it enters the graph.
      Placement: IndexPlacement array
      /// The distinct tensors each index sits on, in tensor order: index i's are
      /// `TensorIds[TensorStart[i] .. TensorStart[i + 1] - 1]` (one array for all indices).
      TensorStart: int array
      /// See `TensorStart`.
      TensorIds: int array
      /// Per index: true when it is an output leg that takes part in bipartitions (dynamic legs do not).
      IsOpen: bool array
      /// The open output legs in output order: a cut's legs are reported as runs of positions in this array.
      OpenLegs: int array
      /// Per index: its position in `OpenLegs`, or -1 for an index that is not an open leg.
      PositionOf: int array
      /// Per index: its capacity in capacity units.
      Weight: float array
      /// Bits per capacity unit: log2 p in prime-exponent mode, 1 otherwise.
      UnitBits: float
      /// True when capacities are integer exponents, so that flows are computed exactly.
      ExactUnits: bool
      /// The distinct primes dividing the dimensions in the graph.
      Primes: int64 array
      /// Per index: its dimension's exponent vector over `Primes` (all zero for dimension 1): the exact
      /// capacity, which the exact engine adds and compares without rounding.
      Exponents: int array array
      /// A capacity larger than any cut: stands for "never cut".
      Infinite: float
      /// Per arc id: what it stands for.
      Arcs: ArcRole array
      /// Per index: the next index (in index order) carried by the same arc, or -1 (see `ArcRole`).
      NextInGroup: int array
      /// The QuikGraph view of the graph, built on first use (only its Edmonds–Karp engine needs it).
      QuikGraph: Lazy<QuikGraphView>
      /// Per arc id: its tail, head and reverse arc.
      ArcFrom: int array
      ArcTo: int array
      ArcTwin: int array
      /// The ids of each vertex's outgoing arcs (reverse arcs included): vertex u's are
      /// `OutArcIds[OutStart[u] .. OutStart[u + 1] - 1]` (one array for all vertices).
      OutStart: int array
      /// See `OutStart`.
      OutArcIds: int array }

/// The flow graph as QuikGraph sees it: every arc an edge tagged with its arc id, reverse arcs included.
and QuikGraphView =
    {
      /// The QuikGraph graph; each edge's tag is its arc id.
      Graph: AdjacencyGraph<int, TaggedEdge<int, int>>
      /// The QuikGraph edge of each arc id.
      Edges: TaggedEdge<int, int> array
      /// The reverse-arc pairing QuikGraph's Edmonds–Karp reads (filled from the arcs' twins).
      Augmentor: Algorithms.MaximumFlow.ReversedEdgeAugmentorAlgorithm<int, TaggedEdge<int, int>> }

/// A list filled in order into an array sized up front: when the size was right, the array itself is the result
/// (no copy: the arc arrays of a million-tensor network are tens of megabytes).
type internal Filled<'T>(capacity: int) =
    let mutable items = Array.zeroCreate<'T> capacity
    let mutable count = 0
    /// The number of items added.
    member _.Count = count
    /// Adds an item, growing the array only when the size given was too small.
    member _.Add(x: 'T) =
        if count = items.Length then Array.Resize(&items, max 4 (2 * items.Length))
        items[count] <- x
        count <- count + 1
    /// The item at a position.
    member _.Item
        with get (i: int) = items[i]
        and set (i: int) (v: 'T) = items[i] <- v
    /// The items as an array (the buffer itself when it is exactly full).
    member _.ToArray() = if count = items.Length then items else Array.sub items 0 count

/// Building the flow graph and reading capacities and sides from it.
module CutGraph =
    /// Floating-point slack when capacities are log2 values: residuals below it count as saturated.
    let Tolerance = 1e-9

    /// The distinct prime factors of n (n ≥ 2), by trial division: dimensions are small.
    let private primeFactors (n: int64) =
        let mutable m = n
        let mutable p = 2L
        let acc = ResizeArray<int64>()
        while p * p <= m do
            if m % p = 0L then
                acc.Add p
                while m % p = 0L do
                    m <- m / p
            p <- p + 1L
        if m > 1L then acc.Add m
        List.ofSeq acc

    /// The distinct primes dividing any of `dims` (each at least 2), in increasing order: the basis of exact
    /// capacities.
    let internal primesOf (dims: seq<int64>) =
        dims |> Seq.collect primeFactors |> Seq.distinct |> Seq.sort |> Array.ofSeq

    /// Writes n's exponents over `primes` into `into` (n a product of them).
    let internal exponentsInto (primes: int64 array) (n: int64) (into: int array) =
        let mutable m = n
        for j in 0 .. primes.Length - 1 do
            let mutable e = 0
            while m > 1L && m % primes[j] = 0L do
                m <- m / primes[j]
                e <- e + 1
            into[j] <- e

    /// Exponent e with p^e = n, or None when n is not a power of p.
    let private exponentOf (p: int64) (n: int64) =
        let mutable m = n
        let mutable e = 0
        while m % p = 0L do
            m <- m / p
            e <- e + 1
        if m = 1L then Some e else None

    /// Each vertex's outgoing arcs, in arc order, as one array (`OutStart`, `OutArcIds`).
    let outArcs (vertices: int) (arcFrom: int array) =
        let start = Array.zeroCreate<int> (vertices + 1)
        for u in arcFrom do
            start[u + 1] <- start[u + 1] + 1
        for v in 1 .. vertices do
            start[v] <- start[v] + start[v - 1]
        let ids = Array.zeroCreate<int> arcFrom.Length
        let filled = Array.copy start
        for a in 0 .. arcFrom.Length - 1 do
            let u = arcFrom[a]
            ids[filled[u]] <- a
            filled[u] <- filled[u] + 1
        start, ids

    /// Builds the flow graph of a network.
    let build (net: FlatNetwork) : CutGraph =
        let nT = net.Tensors.Length
        let nI = net.Indices.Length
        let source, sink = nT, nT + 1
        let isOutput = Array.zeroCreate nI
        for o in net.Output do
            isOutput[o] <- true
        // Each index's dimension read once (an index is an object of its own: reading it again costs a cache miss).
        let isOpen = Array.zeroCreate nI
        let sizes = Array.zeroCreate<int64> nI
        for i in 0 .. nI - 1 do
            let dim = net.Indices[i].Dim
            sizes[i] <- Dim.size dim
            if isOutput[i] && not (Dim.isDynamic dim) then isOpen[i] <- true
        // Per index, the distinct tensors it sits on, in tensor order, in one array (counted, then filled).
        let tensorStart, tensorIds =
            let start = Array.zeroCreate<int> (nI + 1)
            for t in net.Tensors do
                for l in t.Legs do
                    start[l + 1] <- start[l + 1] + 1
            for i in 1 .. nI do
                start[i] <- start[i] + start[i - 1]
            let ids = Array.zeroCreate<int> start[nI]
            let filled = Array.zeroCreate<int> nI
            let mutable repeats = false
            for t in net.Tensors do
                for l in t.Legs do
                    // A tensor repeats in a row only: its legs are visited together.
                    let f = filled[l]
                    if f = 0 || ids[start[l] + f - 1] <> t.Id then
                        ids[start[l] + f] <- t.Id
                        filled[l] <- f + 1
                    else repeats <- true
            if not repeats then start, ids
            else
                // A leg repeated on a tensor (reported by the checks) left gaps: packed.
                let packed = Array.zeroCreate<int> (nI + 1)
                for i in 0 .. nI - 1 do
                    packed[i + 1] <- packed[i] + filled[i]
                let packedIds = Array.zeroCreate<int> packed[nI]
                for i in 0 .. nI - 1 do
                    Array.blit ids start[i] packedIds packed[i] filled[i]
                packed, packedIds
        let tensorCount i = tensorStart[i + 1] - tensorStart[i]
        let mutable nextVertex = nT + 2
        let placement = Array.zeroCreate<IndexPlacement> nI
        for i in 0 .. nI - 1 do
            let first = tensorStart[i]
            placement[i] <-
                if isOutput[i] && not isOpen[i] then Absent
                else
                    match tensorCount i + (if isOpen[i] then 1 else 0) with
                    | n when n < 2 -> Absent
                    | 2 when isOpen[i] -> Leg tensorIds[first]
                    | 2 -> Edge(tensorIds[first], tensorIds[first + 1])
                    | _ ->
                        let v = nextVertex
                        nextVertex <- nextVertex + 2
                        HyperPair(v, v + 1)
        // Only indices the graph keeps carry weight: a left-out batch leg may have any size.
        let kept i = sizes[i] > 1L && (match placement[i] with Absent -> false | _ -> true)
        // Factorised once per distinct dimension (a network has few: consecutive indices mostly repeat the last).
        let used = HashSet<int64>()
        let mutable last = 0L
        for i in 0 .. nI - 1 do
            if kept i then
                let n = sizes[i]
                if n <> last then
                    used.Add n |> ignore
                    last <- n
        let primes = primesOf used
        // Prime-exponent mode when all dimensions above 1 are powers of the same prime.
        let prime = if primes.Length = 1 then Some primes[0] else None
        // One exponent vector per distinct dimension, shared by the indices of that dimension (read only).
        let vectors = Dictionary<int64, int array>()
        let vectorOf (n: int64) =
            match vectors.TryGetValue n with
            | true, v -> v
            | _ ->
                let v = Array.zeroCreate primes.Length
                exponentsInto primes n v
                vectors[n] <- v
                v
        // Capacity units per dimension: the exponent of the one prime, or log2.
        let unitsOf (n: int64) =
            match prime with
            | Some p -> float (Option.get (exponentOf p n))
            | None -> Math.Log2(float n)
        let unitBits = match prime with Some p -> Math.Log2(float p) | None -> 1.0
        let weight = Array.zeroCreate<float> nI
        let exponents = Array.zeroCreate<int array> nI
        // Weight and vector of the last dimension seen, reused while the dimension repeats.
        let mutable lastN, lastUnits, lastVector = 1L, 0.0, vectorOf 1L
        for i in 0 .. nI - 1 do
            let n = if kept i then sizes[i] else 1L
            if n <> lastN then
                lastN <- n
                lastUnits <- unitsOf n
                lastVector <- vectorOf n
            weight[i] <- lastUnits
            exponents[i] <- lastVector
        let infinite = 1.0 + Array.sum weight
        // Parallel bonds and legs are merged so that each ordered vertex pair has one arc, whose twin is the one
        // arc the other way, named by the group's first index and chained to the others through `next`. Both ends'
        // bonds and a tensor's open legs are among the tensor's own legs, so the groups are found tensor by tensor
        // with marks over the partners, without a table keyed by pairs (a million-tensor network has a million
        // bonds): `leader[i]` is the first index of i's group.
        let leader = Array.create nI -1
        let partnerOf = Array.create nT -1
        let partnerFirst = Array.zeroCreate<int> nT
        let mutable pairGroups, legGroups = 0, 0
        for t in net.Tensors do
            let u = t.Id
            let mutable legFirst = Int32.MaxValue
            for l in t.Legs do
                match placement[l] with
                | Edge(a, b) when min a b = u ->
                    let v = max a b
                    if partnerOf[v] <> u then
                        partnerOf[v] <- u
                        partnerFirst[v] <- l
                        pairGroups <- pairGroups + 1
                    elif l < partnerFirst[v] then partnerFirst[v] <- l
                | Leg _ -> legFirst <- min legFirst l
                | _ -> ()
            if legFirst < Int32.MaxValue then legGroups <- legGroups + 1
            for l in t.Legs do
                match placement[l] with
                | Edge(a, b) when min a b = u -> leader[l] <- partnerFirst[max a b]
                | Leg _ -> leader[l] <- legFirst
                | _ -> ()
        let mutable hyperArcs = 0
        for i in 0 .. nI - 1 do
            match placement[i] with
            | HyperPair _ -> hyperArcs <- hyperArcs + 1 + 2 * tensorCount i + (if isOpen[i] then 4 else 0)
            | _ -> ()
        // The arcs: a hyperindex's (in index order), then one pair per merged bond group, then two per side and
        // tensor with open legs, groups in the order of their first index; reverse arcs of one-way arcs (at most
        // one each) come last.
        let counted = hyperArcs + 2 * pairGroups + 4 * legGroups
        // Sized once the arcs are counted (growing them showed in profiles of million-tensor networks).
        let arcs = Filled<ArcRole>(counted)
        let from = Filled<int>(counted)
        let target = Filled<int>(counted)
        let addArc u v role =
            from.Add u
            target.Add v
            arcs.Add role
        for i in 0 .. nI - 1 do
            match placement[i] with
            | HyperPair(hi, ho) ->
                addArc hi ho (ArcRole.hyperInner i)
                for k in tensorStart[i] .. tensorStart[i + 1] - 1 do
                    let t = tensorIds[k]
                    addArc t hi ArcRole.hyperLink
                    addArc ho t ArcRole.hyperLink
                if isOpen[i] then
                    addArc source hi (ArcRole.hyperTerminal SideA i)
                    addArc ho source (ArcRole.hyperTerminal SideA i)
                    addArc sink hi (ArcRole.hyperTerminal SideB i)
                    addArc ho sink (ArcRole.hyperTerminal SideB i)
            | _ -> ()
        let paired = arcs.Count
        // Groups chained in index order: a group's first index meets the others after it, and `leader` of a
        // group's first index is reused for the group's last member so far.
        let next = Array.create nI -1
        let legLeaders = Array.zeroCreate<int> legGroups
        let mutable legCount = 0
        for i in 0 .. nI - 1 do
            match placement[i] with
            | Edge(a, b) when leader[i] = i -> addArc (min a b) (max a b) (ArcRole.bonds i); addArc (max a b) (min a b) (ArcRole.bonds i)
            | Leg _ when leader[i] = i ->
                legLeaders[legCount] <- i
                legCount <- legCount + 1
            | Edge _
            | Leg _ ->
                let first = leader[i]
                next[leader[first]] <- i
                leader[first] <- i
            | _ -> ()
        // A tensor's open legs, listed once for both sides.
        for side, term in [ SideA, source; SideB, sink ] do
            for first in legLeaders do
                let t = match placement[first] with Leg t -> t | _ -> -1
                let role = ArcRole.openLegs side first
                addArc t term role
                addArc term t role
        // Twins: the arcs made in pairs above are each other's. Any other arc (the one-way arcs of a hyperindex) is
        // paired with an arc the other way if there is one (a dictionary on the ordered pair), and otherwise gets a
        // reverse arc of capacity zero. QuikGraph's own augmentor searches the out-arcs of the target for each
        // arc, which is quadratic at the source and the sink.
        let twin = Filled<int>(counted)
        for _ in 1 .. arcs.Count do
            twin.Add -1
        for a in paired .. 2 .. arcs.Count - 1 do
            twin[a] <- a + 1
            twin[a + 1] <- a
        if paired > 0 then
            let byPair = Dictionary<struct (int * int), int>(arcs.Count)
            for a in 0 .. arcs.Count - 1 do
                byPair[struct (from[a], target[a])] <- a
            for a in 0 .. paired - 1 do
                if twin[a] < 0 then
                    match byPair.TryGetValue(struct (target[a], from[a])) with
                    | true, b when twin[b] < 0 || twin[b] = a ->
                        twin[a] <- b
                        twin[b] <- a
                    | _ ->
                        let b = arcs.Count
                        addArc target[a] from[a] ArcRole.reverse
                        twin.Add a
                        twin[a] <- b
        let nArcs = arcs.Count
        let arcFrom = from.ToArray()
        let arcTo = target.ToArray()
        let arcTwin = twin.ToArray()
        let outStart, outArcIds = outArcs nextVertex arcFrom
        let quikGraph =
            lazy
                (let graph = AdjacencyGraph<int, TaggedEdge<int, int>>(true)
                 for v in 0 .. nextVertex - 1 do
                     graph.AddVertex v |> ignore
                 // Augmented while empty (nothing to reverse), then given every arc with its twin as its reverse.
                 let augmentor =
                     new Algorithms.MaximumFlow.ReversedEdgeAugmentorAlgorithm<int, TaggedEdge<int, int>>(
                         graph, EdgeFactory(fun _ _ -> invalidOp "every arc has its twin already"))
                 augmentor.AddReversedEdges()
                 let edges = Array.init nArcs (fun a -> TaggedEdge(arcFrom[a], arcTo[a], a))
                 for e in edges do
                     graph.AddEdge e |> ignore
                 for a in 0 .. nArcs - 1 do
                     augmentor.ReversedEdges[edges[a]] <- edges[arcTwin[a]]
                 { Graph = graph; Edges = edges; Augmentor = augmentor })
        let openLegs = net.Output |> Array.ofList |> Array.filter (fun i -> isOpen[i])
        let positionOf = Array.create nI -1
        openLegs |> Array.iteri (fun k i -> positionOf[i] <- k)
        { Network = net
          Tensors = nT
          Source = source
          Sink = sink
          Vertices = nextVertex
          Placement = placement
          TensorStart = tensorStart
          TensorIds = tensorIds
          IsOpen = isOpen
          OpenLegs = openLegs
          PositionOf = positionOf
          Weight = weight
          UnitBits = unitBits
          ExactUnits = prime.IsSome
          Primes = primes
          Exponents = exponents
          Infinite = infinite
          Arcs = arcs.ToArray()
          NextInGroup = next
          QuikGraph = quikGraph
          ArcFrom = arcFrom
          ArcTo = arcTo
          ArcTwin = arcTwin
          OutStart = outStart
          OutArcIds = outArcIds }

    /// Calls `f` on each index of the group that starts at `first` (an arc's `Index`), following `NextInGroup`.
    let inline iterGroup (g: CutGraph) (first: int) ([<InlineIfLambda>] f: int -> unit) =
        let mutable i = first
        while i >= 0 do
            f i
            i <- g.NextInGroup[i]

    /// The sum of `weight` over the group that starts at `first` (as `iterGroup`).
    let inline sumGroup (g: CutGraph) (first: int) ([<InlineIfLambda>] weight: int -> float) =
        let mutable sum = 0.0
        let mutable i = first
        while i >= 0 do
            sum <- sum + weight i
            i <- g.NextInGroup[i]
        sum

    /// True when index i is on the given side (a tag test: no allocation, no generic equality, as this runs for
    /// every open leg of every cut of a profile).
    let onSide (sides: Side option array) (i: int) (side: Side) =
        match sides[i], side with
        | Some SideA, SideA
        | Some SideB, SideB -> true
        | _ -> false

    /// The side of each index for a bipartition (None for indices on neither side).
    let sides (g: CutGraph) (left: int seq) (right: int seq) =
        let s = Array.create g.Placement.Length None
        // Two shared values, not one per leg.
        let a, b = Some SideA, Some SideB
        for i in left do
            if g.IsOpen[i] then s[i] <- a
        for i in right do
            if g.IsOpen[i] then s[i] <- b
        s

    /// The capacity of every arc for a bipartition given as `sides`.
    let capacities (g: CutGraph) (sides: Side option array) =
        g.Arcs
        |> Array.map (fun role ->
            match role.Kind with
            | ArcKind.Bonds -> sumGroup g role.Index (fun i -> g.Weight[i])
            | ArcKind.OpenLegs -> sumGroup g role.Index (fun i -> if onSide sides i role.Side then g.Weight[i] else 0.0)
            | ArcKind.HyperInner -> g.Weight[role.Index]
            | ArcKind.HyperLink -> g.Infinite
            | ArcKind.HyperTerminal -> if onSide sides role.Index role.Side then g.Infinite else 0.0
            | _ -> 0.0)

    /// The vertices at the ends of an index for a bipartition: its tensors and the terminal of its side.
    let endpoints (g: CutGraph) (sides: Side option array) (i: int) =
        let tensors = g.TensorIds[g.TensorStart[i] .. g.TensorStart[i + 1] - 1]
        match sides[i] with
        | Some SideA -> Array.append tensors [| g.Source |]
        | Some SideB -> Array.append tensors [| g.Sink |]
        | None -> tensors

    /// The indices with endpoints on both sides of a vertex set (`inX[v]` true on the source side):
    /// the bonds a cut with that source side severs. Dimension-1 bonds are included: they cost nothing.
    let severed (g: CutGraph) (sides: Side option array) (inX: bool array) =
        // A plain loop (a list comprehension made a closure, two cells and an enumerator per index).
        let found = ResizeArray<int>()
        for i in 0 .. g.Placement.Length - 1 do
            if (match g.Placement[i] with Absent -> false | _ -> true) then
                let mutable inside, outside = false, false
                match sides[i] with
                | Some SideA -> inside <- true
                | Some SideB -> outside <- true
                | None -> ()
                for k in g.TensorStart[i] .. g.TensorStart[i + 1] - 1 do
                    if inX[g.TensorIds[k]] then inside <- true else outside <- true
                if inside && outside then found.Add i
        List.ofSeq found
