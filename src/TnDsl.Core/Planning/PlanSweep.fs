namespace TnDsl

open System
open System.Collections.Generic

/// Optimizers that follow a network's bonds (`bond-greedy`) or a path given by the user.
module PlanSweep =
    /// Whether an index is a hyperindex: it appears three or more times counting the output (a batch index on
    /// several inputs and the output is one). Such an index does not make its carriers neighbours on its own.
    let isHyper (p: Indexed) (i: int) = p.Carriers[i].Length + (if p.IsOutput[i] then 1 else 0) >= 3

    /// The bond-greedy tree: at each step, among the pairs of live operands that share an index other than a
    /// hyperindex, contract the pair with the smallest result (ties: the smallest operands); when no pair shares
    /// such an index, the pair with the smallest result among all. Tree-shaped networks (q-CNN, ConvAC, TTN) then
    /// contract leaves into their parents and keep every intermediate at batch × channels, where a general greedy
    /// search may pair inputs through the batch and build large intermediates. Candidate pairs sit in an ordered
    /// set, so a step costs about the new node's bonds times log n.
    let bondGreedyTree (p: Indexed) : ContractionTree =
        let n = p.Inputs.Length
        if n = 1 then
            ContractionTree.naive 1
        else
            let logSize = p.Size |> Array.map (fun s -> Math.Log2(float s))
            let indices = Dictionary<int, int array>()
            // live carriers of each index
            let carriers = p.Carriers |> Array.map (fun c -> HashSet<int>(c))
            for t in 0 .. n - 1 do
                indices[t] <- p.Inputs[t]
            let size (idx: int array) = idx |> Array.sumBy (fun i -> logSize[i])
            let result a b =
                let ia, ib = indices[a], indices[b]
                Array.append ia ib
                |> Array.distinct
                |> Array.filter (fun i ->
                    let others = carriers[i].Count - (if carriers[i].Contains a then 1 else 0) - (if carriers[i].Contains b then 1 else 0)
                    p.IsOutput[i] || others > 0)
                |> Array.sort
            let steps = ResizeArray<int array>()
            let live = SortedSet<int>(seq { 0 .. n - 1 })
            let key a b =
                struct (size (result a b), Math.Log2(Math.Pow(2.0, size indices[a]) + Math.Pow(2.0, size indices[b])), a, b)
            // Candidate pairs ordered by (result, operands, ids). A pair's result does not change while neither of
            // its operands does (a merge elsewhere never takes the last other carrier of a shared index), so only
            // the pairs of a new node are added and those of the merged nodes dropped.
            let queue = SortedSet<struct (float * float * int * int)>()
            let pairsOf = Dictionary<int, ResizeArray<struct (float * float * int * int)>>()
            let add a b =
                let a, b = min a b, max a b
                let k = key a b
                if queue.Add k then
                    for v in [ a; b ] do
                        match pairsOf.TryGetValue v with
                        | true, l -> l.Add k
                        | _ -> pairsOf[v] <- ResizeArray [ k ]
            let neighbours a =
                indices[a]
                |> Seq.filter (fun i -> not (isHyper p i))
                |> Seq.collect (fun i -> carriers[i])
                |> Seq.filter (fun b -> b <> a)
                |> Seq.distinct
                |> Array.ofSeq
            for a in 0 .. n - 1 do
                for b in neighbours a do
                    if b > a then add a b
            while live.Count > 1 do
                let a, b =
                    if queue.Count > 0 then
                        let struct (_, _, a, b) = queue.Min
                        a, b
                    else
                        // No pair shares a bond: the smallest result among all pairs.
                        let ops = Array.ofSeq live
                        seq { for x in 0 .. ops.Length - 1 do
                                for y in x + 1 .. ops.Length - 1 do
                                    yield key ops[x] ops[y] }
                        |> Seq.min
                        |> fun (struct (_, _, a, b)) -> a, b
                let r = result a b
                let node = n + steps.Count
                steps.Add [| a; b |]
                for v in [ a; b ] do
                    match pairsOf.TryGetValue v with
                    | true, l ->
                        for k in l do
                            queue.Remove k |> ignore
                    | _ -> ()
                for i in indices[a] do
                    carriers[i].Remove a |> ignore
                for i in indices[b] do
                    carriers[i].Remove b |> ignore
                for i in r do
                    carriers[i].Add node |> ignore
                live.Remove a |> ignore
                live.Remove b |> ignore
                live.Add node |> ignore
                indices[node] <- r
                for c in neighbours node do
                    add c node
            { Leaves = n; Steps = steps.ToArray() }

    /// `bond-greedy`: see `bondGreedyTree`.
    let bondGreedy: Optimizer = fun p _ -> { Tree = Some(bondGreedyTree p); Notes = [] }

    /// A path given by the user as pairwise steps in the linear convention, completed left to right where it stops
    /// early. A step out of range is a TN0309 error.
    let given (pairs: (int * int) array) : Optimizer =
        fun p _ ->
            match PairSteps.toTree p.Inputs.Length pairs with
            | Ok t -> { Tree = Some t; Notes = [] }
            | Result.Error why -> { Tree = None; Notes = [ Diagnostic.make PlanDiagnostics.badOption Range.none why ] }
