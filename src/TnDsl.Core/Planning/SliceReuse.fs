namespace TnDsl

open System
open System.Collections.Generic
open System.Numerics

/// Trees polished for reuse across slices. Under reuse (the slices run as nested loops over the sliced indices in a
/// loop order, outermost first, and a step reruns only when a sliced index its subtree carries changes; see
/// bench/results/planner.md, "Reuse across slices"), step v executes its unsliced flops times the sizes of the loop
/// indices up to its level that it does not involve (its waste). A tree polished for the flops of one slice (as
/// `PlanHyper.reconfigure` on the sliced network does) ignores the waste: it may hang a heavy subtree under a step
/// that depends on an inner loop index. `reconfigure` rewrites subtrees for the executed flops instead.
module SliceReuse =
    /// One node's open indices with how many of their carriers are inside it, and the loop positions it depends on.
    [<AllowNullLiteral>]
    type private Node(legs: (int * int) array, dep: uint64) =
        member _.Legs = legs
        member _.Dep = dep

    /// Subtree reconfiguration (as `PlanHyper.reconfigure`: for each step, dearest first, the subtree below it cut at
    /// a frontier of at most `k` nodes, grown by opening the dearest step, and replaced by the exact best tree over
    /// that frontier) scored by executed flops under reuse with the loop order `order` (the sliced indices,
    /// outermost first), every intermediate within `limit` elements with the sliced indices at size 1. Up to
    /// `passes` passes. Never returns a tree that executes more flops or breaks the limit (the input tree is
    /// returned then, and for trees with a step of other than two children). Deterministic. The order that is best
    /// for the new tree may differ: alternate with the order's own search.
    let reconfigure (p: Indexed) (order: int array) (limit: BigInteger) (k: int) (passes: int) (t: ContractionTree) =
        if t.Steps.Length < 2 || t.Steps |> Array.exists (fun ch -> ch.Length <> 2) || order.Length > 64 then t
        else
        let position = Dictionary<int, int>()
        order |> Array.iteri (fun j i -> position[i] <- j)
        let prefix = Array.scan (fun (a: float) i -> a * float p.Size[i]) 1.0 order
        let runs (dep: uint64) = if dep = 0UL then 1.0 else prefix[64 - BitOperations.LeadingZeroCount dep]
        // The node two nodes form, its step's executed flops (float) and its elements in one slice.
        let combine (a: Node) (b: Node) =
            let inside = Dictionary<int, int>()
            for (i, c) in a.Legs do inside[i] <- c
            for (i, c) in b.Legs do inside[i] <- (match inside.TryGetValue i with | true, x -> x + c | _ -> c)
            let mutable involved = 1.0
            let mutable kept = 1.0
            let mutable summed = false
            let legs = ResizeArray()
            for KeyValue(i, c) in inside do
                let size = if position.ContainsKey i then 1.0 else float p.Size[i]
                involved <- involved * size
                if c < p.Carriers[i].Length || p.IsOutput[i] then
                    legs.Add((i, c))
                    kept <- kept * size
                else summed <- true
            let dep = a.Dep ||| b.Dep
            Node(legs.ToArray(), dep), involved * (if summed then 2.0 else 1.0) * runs dep, kept
        let leaf (l: int) =
            let legs = p.Inputs[l] |> Array.countBy id
            Node(legs, legs |> Array.fold (fun m (i, _) -> match position.TryGetValue i with | true, j -> m ||| (1UL <<< j) | _ -> m) 0UL)
        let fits (mask: int) (full: int) (kept: float) = mask = full || kept <= float limit
        let onePass (tree: ContractionTree) =
            let n = tree.Leaves
            let children = ResizeArray<int array>()
            let nodes = ResizeArray<Node>()
            let cost = ResizeArray<float>()
            for l in 0 .. n - 1 do
                children.Add [||]
                nodes.Add(leaf l)
                cost.Add 0.0
            for ch in tree.Steps do
                let node, c, _ = combine nodes[ch[0]] nodes[ch[1]]
                children.Add ch
                nodes.Add node
                cost.Add c
            let root = children.Count - 1
            let replaced = HashSet<int>()
            let mutable improved = false
            for v in [| n .. root |] |> Array.sortBy (fun v -> -cost[v], v) do
                if not (replaced.Contains v) then
                    let frontier = ResizeArray(children[v])
                    let inner = ResizeArray([ v ])
                    let mutable grow = true
                    while grow && frontier.Count < k do
                        let open' = frontier |> Seq.filter (fun u -> u >= n) |> Seq.toArray
                        if open'.Length = 0 then grow <- false
                        else
                            let u = open' |> Array.maxBy (fun u -> cost[u], -u)
                            frontier.Remove u |> ignore
                            inner.Add u
                            frontier.AddRange children[u]
                    let f = frontier.ToArray()
                    if f.Length >= 3 then
                        let full = (1 <<< f.Length) - 1
                        let formed = Array.zeroCreate<Node> (full + 1)
                        let within = Array.create (full + 1) true
                        let best = Array.create (full + 1) infinity
                        let split = Array.zeroCreate<int> (full + 1)
                        let stepCost = Array.zeroCreate<float> (full + 1)
                        for j in 0 .. f.Length - 1 do
                            formed[1 <<< j] <- nodes[f[j]]
                            best[1 <<< j] <- 0.0
                        for mask in 1 .. full do
                            if BitOperations.PopCount(uint32 mask) >= 2 then
                                let low = mask &&& -mask
                                let mutable a = (mask - 1) &&& mask
                                while a > 0 do
                                    let b = mask ^^^ a
                                    if a &&& low <> 0 && best[a] < infinity && best[b] < infinity && within[mask] then
                                        let node, c, kept = combine formed[a] formed[b]
                                        if isNull formed[mask] then
                                            formed[mask] <- node
                                            within[mask] <- fits mask full kept
                                        if within[mask] && best[a] + best[b] + c < best[mask] then
                                            best[mask] <- best[a] + best[b] + c
                                            split[mask] <- a
                                            stepCost[mask] <- c
                                    a <- (a - 1) &&& mask
                        let current = inner |> Seq.sumBy (fun u -> cost[u])
                        if best[full] < current * (1.0 - 1e-9) then
                            let rec emit (mask: int) : int =
                                if BitOperations.PopCount(uint32 mask) = 1 then f[BitOperations.TrailingZeroCount mask]
                                else
                                    let x = emit split[mask]
                                    let y = emit (mask ^^^ split[mask])
                                    if mask = full then
                                        children[v] <- [| x; y |]
                                        cost[v] <- stepCost[mask]
                                        v
                                    else
                                        children.Add [| x; y |]
                                        nodes.Add formed[mask]
                                        cost.Add stepCost[mask]
                                        children.Count - 1
                            for u in inner do replaced.Add u |> ignore
                            emit full |> ignore
                            improved <- true
            // The rewritten tree, its steps renumbered in post-order from the root.
            let steps = ResizeArray<int array>()
            let rec walk (v: int) : int =
                if v < n then v
                else
                    let ch = children[v] |> Array.map walk
                    steps.Add ch
                    n + steps.Count - 1
            walk root |> ignore
            { Leaves = n; Steps = steps.ToArray() }, improved
        let mutable tree = t
        let mutable pass = 0
        let mutable go = true
        while go && pass < passes do
            pass <- pass + 1
            let next, improved = onePass tree
            tree <- next
            go <- improved
        let q = PlanSlice.sliceProblem p order
        if Cost.largestIntermediate q tree <= limit && PlanSlice.executedFlops p tree order < PlanSlice.executedFlops p t order then tree else t
