namespace TnDsl

open System
open System.Collections.Generic
open System.Threading.Tasks
open QuikGraph
open QuikGraph.Algorithms.MaximumFlow

/// `partition`: recursive bisection of the network by minimum cuts, greedy inside the small pieces.
///
/// A piece is cut in two by a maximum flow (QuikGraph's Edmonds–Karp) between two seed regions grown from the
/// ends of a long path through the piece, so the halves are balanced and the cut bonds are as thin as possible
/// (capacity log2 of the bond size), then polished by Fiduccia–Mattheyses moves over the true hyperedges (the
/// flow's cut is minimal between its seed regions, not among balanced splits). Contracting each half first and
/// the halves last keeps the expensive bonds for the end, which is what good trees for large regular networks
/// (grids, lattices) look like.
module PlanPartition =
    /// Pieces of at most this many tensors are planned by greedy.
    let leafSize = 8

    /// Independent attempts (seed and balance vary); the best tree is kept.
    let attempts = 8

    let private bfs (adj: List<int> array) (start: int) =
        let dist = Array.create adj.Length -1
        let q = Queue<int>()
        dist[start] <- 0
        q.Enqueue start
        while q.Count > 0 do
            let v = q.Dequeue()
            for u in adj[v] do
                if dist[u] < 0 then
                    dist[u] <- dist[v] + 1
                    q.Enqueue u
        dist

    /// Fiduccia–Mattheyses refinement of a bisection of `k` vertices (`side`, changed in place) over weighted
    /// hyperedges (member lists, weights): passes of single moves, best gain first, each vertex moved at most once
    /// per pass, the pass rolled back to its best prefix; until a pass gains nothing (at most `passes`). A move
    /// may not leave its side with fewer than `minSide` vertices unless it goes from the larger side to the
    /// smaller. The cut weight never grows.
    let refine (k: int) (members: int array array) (weights: float array) (side: bool array) (minSide: int) (passes: int) =
        let m = members.Length
        let incident = Array.init k (fun _ -> List<int>())
        members |> Array.iteri (fun e vs -> for v in vs do incident[v].Add e)
        let count = Array2D.zeroCreate<int> m 2
        let at (b: bool) = if b then 1 else 0
        for e in 0 .. m - 1 do
            for v in members[e] do
                count[e, at side[v]] <- count[e, at side[v]] + 1
        let gainOf v =
            let mutable g = 0.0
            let here = at side[v]
            for e in incident[v] do
                if count[e, here] = 1 then g <- g + weights[e]
                if count[e, 1 - here] = 0 then g <- g - weights[e]
            g
        let sizes = [| 0; 0 |]
        for v in 0 .. k - 1 do
            sizes[at side[v]] <- sizes[at side[v]] + 1
        let move v =
            let here = at side[v]
            for e in incident[v] do
                count[e, here] <- count[e, here] - 1
                count[e, 1 - here] <- count[e, 1 - here] + 1
            sizes[here] <- sizes[here] - 1
            sizes[1 - here] <- sizes[1 - here] + 1
            side[v] <- not side[v]
        let gain = Array.init k gainOf
        let locked = Array.zeroCreate<bool> k
        let moves = List<int>()
        let mutable pass = 0
        let mutable improving = true
        while improving && pass < passes do
            pass <- pass + 1
            Array.fill locked 0 k false
            for v in 0 .. k - 1 do
                gain[v] <- gainOf v
            moves.Clear()
            let mutable total = 0.0
            let mutable best = 1e-9
            let mutable bestAt = 0
            let mutable go = true
            while go do
                let mutable pick = -1
                for v in 0 .. k - 1 do
                    if not locked[v] then
                        let here = at side[v]
                        let allowed = sizes[here] - 1 >= minSide || sizes[here] - 1 >= sizes[1 - here] + 1
                        if allowed && sizes[here] > 1 && (pick < 0 || gain[v] > gain[pick]) then pick <- v
                if pick < 0 then go <- false
                else
                    total <- total + gain[pick]
                    move pick
                    locked[pick] <- true
                    moves.Add pick
                    for e in incident[pick] do
                        for u in members[e] do
                            if not locked[u] then gain[u] <- gainOf u
                    if total > best then
                        best <- total
                        bestAt <- moves.Count
                    // A long run of losing moves rarely turns round; stop the pass early.
                    if moves.Count - bestAt > 50 + k / 10 then go <- false
            for j in moves.Count - 1 .. -1 .. bestAt do
                move moves[j]
            improving <- bestAt > 0

    /// Splits the tensors `nodes` into two non-empty halves along a minimum cut.
    let private bisect (p: Indexed) (nodes: int array) (rng: Random) (balance: float) =
        let k = nodes.Length
        let local = Dictionary<int, int>()
        nodes |> Array.iteri (fun j t -> local[t] <- j)
        // Vertices 0..k-1 are tensors; an index on three or more of them becomes a hub vertex (a star).
        let edges = ResizeArray<struct (int * int * float)>()
        let mutable vertices = k
        // A batch-like index ends up on every intermediate whatever the order, so it does not guide the split.
        let batch = PlanGreedy.batchIndices p
        let indices =
            nodes |> Array.collect (fun t -> p.Inputs[t]) |> Array.distinct |> Array.filter (fun i -> not (Array.contains i batch)) |> Array.sort
        for i in indices do
            let inside = p.Carriers[i] |> Array.filter local.ContainsKey |> Array.map (fun t -> local[t])
            let w = max 0.01 (Math.Log2(float p.Size[i]))
            if inside.Length = 2 then
                edges.Add(struct (inside[0], inside[1], w))
            elif inside.Length > 2 then
                let hub = vertices
                vertices <- vertices + 1
                for v in inside do
                    edges.Add(struct (v, hub, w))
        let adj = Array.init vertices (fun _ -> List<int>())
        for struct (a, b, _) in edges do
            adj[a].Add b
            adj[b].Add a
        let d0 = bfs adj (rng.Next k)
        if d0[0 .. k - 1] |> Array.exists (fun d -> d < 0) then
            // Not connected: one connected part against the rest.
            let left = [| for j in 0 .. k - 1 do if d0[j] >= 0 then nodes[j] |]
            let right = [| for j in 0 .. k - 1 do if d0[j] < 0 then nodes[j] |]
            left, right
        else
            let far (d: int array) = seq { 0 .. k - 1 } |> Seq.maxBy (fun j -> d[j], j)
            let t = far d0
            let dt = bfs adj t
            let s = far dt
            let ds = bfs adj s
            let order =
                Array.init k id
                |> Array.sortBy (fun j -> ds[j] - dt[j], rng.Next())
            let seedCount = max 1 (int (balance * float k))
            let source = vertices
            let sink = vertices + 1
            let g = AdjacencyGraph<int, TaggedEdge<int, float>>()
            for v in 0 .. vertices + 1 do
                g.AddVertex v |> ignore
            for struct (a, b, w) in edges do
                g.AddEdge(TaggedEdge(a, b, w)) |> ignore
                g.AddEdge(TaggedEdge(b, a, w)) |> ignore
            for j in 0 .. seedCount - 1 do
                g.AddEdge(TaggedEdge(source, order[j], Double.PositiveInfinity)) |> ignore
                g.AddEdge(TaggedEdge(order[k - 1 - j], sink, Double.PositiveInfinity)) |> ignore
            let factory = EdgeFactory<int, TaggedEdge<int, float>>(fun a b -> TaggedEdge(a, b, 0.0))
            use augmentor = new ReversedEdgeAugmentorAlgorithm<int, TaggedEdge<int, float>>(g, factory)
            augmentor.AddReversedEdges()
            let flow =
                EdmondsKarpMaximumFlowAlgorithm<int, TaggedEdge<int, float>>(g, Func<_, _>(fun e -> e.Tag), factory, augmentor)
            flow.Compute(source, sink) |> ignore
            // The source side of the minimum cut: what the source still reaches through unsaturated edges.
            let reached = HashSet<int>([ source ])
            let q = Queue<int>([ source ])
            while q.Count > 0 do
                let v = q.Dequeue()
                for e in g.OutEdges v do
                    if flow.ResidualCapacities[e] > 1e-9 && reached.Add e.Target then q.Enqueue e.Target
            augmentor.RemoveReversedEdges()
            // The flow's cut, polished by Fiduccia–Mattheyses moves over the true hyperedges.
            let side = Array.init k reached.Contains
            let hyperedges =
                indices
                |> Array.choose (fun i ->
                    let inside = p.Carriers[i] |> Array.filter local.ContainsKey |> Array.map (fun t -> local[t])
                    if inside.Length >= 2 then Some(inside, max 0.01 (Math.Log2(float p.Size[i]))) else None)
            refine k (hyperedges |> Array.map fst) (hyperedges |> Array.map snd) side (max 1 (int ((balance - 0.05) * float k))) 8
            let left = [| for j in 0 .. k - 1 do if side[j] then nodes[j] |]
            let right = [| for j in 0 .. k - 1 do if not side[j] then nodes[j] |]
            left, right

    /// Appends a plan of the tensors `nodes` to `steps` (greedy, or the exact search when `exact` and the piece
    /// is small enough) and returns the node id of its result.
    let private leaf (p: Indexed) limit (exact: bool) (steps: ResizeArray<int array>) (nodes: int array) : int =
        if nodes.Length = 1 then
            nodes[0]
        else
            let n = p.Inputs.Length
            let sub = Problem.sub p nodes
            let greedyTree () = (PlanGreedy.run sub limit 1.0 0.0 (Random 0)).Tree
            let tree =
                if exact && nodes.Length <= PlanOptimal.exhaustiveUpTo then
                    let o = { PlanOptions.defaults with MemoryLimit = (if Double.IsPositiveInfinity limit then None else Some(int64 (min limit 9e18))) }
                    match PlanOptimal.solveWith PlanOptimal.exhaustiveUpTo sub o with
                    | Ok (Some t) -> t
                    | _ -> greedyTree ()
                else greedyTree ()
            let ids = Array.append nodes (Array.zeroCreate tree.Steps.Length)
            tree.Steps
            |> Array.iteri (fun s children ->
                steps.Add(children |> Array.map (fun c -> ids[c]))
                ids[nodes.Length + s] <- n + steps.Count - 1)
            ids[ids.Length - 1]

    /// One partition tree: pieces of at most `leafTensors` tensors are planned by greedy, or exactly when
    /// `exactLeaves`; once `stop` says so (a wall-clock budget), what is left is not cut further and is planned
    /// by greedy, which is quick;
    /// `balance` is the share of each piece seeded on either side of a cut.
    let treeUntil (stop: unit -> bool) (leafTensors: int) (exactLeaves: bool) (p: Indexed) (o: PlanOptions) (seed: int) (balance: float) =
        let n = p.Inputs.Length
        let limit = match o.MemoryLimit with Some l -> float l | None -> Double.PositiveInfinity
        if n = 1 then
            { Leaves = 1; Steps = [| [| 0 |] |] }
        else
            let rng = Random seed
            let steps = ResizeArray<int array>()
            let rec build (nodes: int array) =
                if nodes.Length <= leafTensors || stop () then
                    leaf p limit (exactLeaves && not (stop ())) steps nodes
                else
                    let left, right = bisect p nodes rng balance
                    if left.Length = 0 || right.Length = 0 then
                        leaf p limit (exactLeaves && not (stop ())) steps nodes
                    else
                        let a = build left
                        let b = build right
                        steps.Add [| a; b |]
                        n + steps.Count - 1
            build (Array.init n id) |> ignore
            { Leaves = n; Steps = steps.ToArray() }

    /// `treeUntil` without a budget.
    let treeWith (leafTensors: int) (exactLeaves: bool) (p: Indexed) (o: PlanOptions) (seed: int) (balance: float) =
        treeUntil (fun () -> false) leafTensors exactLeaves p o seed balance

    /// One partition tree for a seed and balance, greedy in pieces of `leafSize` tensors.
    let tree (p: Indexed) (o: PlanOptions) (seed: int) (balance: float) = treeWith leafSize false p o seed balance

    /// `partition`: the best of a few bisection trees (balances 0.2–0.45, seeds from the options' seed).
    let partition: Optimizer =
        fun p o ->
            let trees = Array.zeroCreate attempts
            let make a =
                let balance = 0.2 + 0.25 * float a / float (max 1 (attempts - 1))
                trees[a] <- tree p o (o.Seed * 7919 + a) balance
            if o.Parallel then Parallel.For(0, attempts, Action<int>(make)) |> ignore
            else for a in 0 .. attempts - 1 do make a
            let best = trees |> Array.minBy (fun t -> Cost.score o.Objective p t)
            { Tree = Some best; Notes = [] }
