namespace TnDsl.Testing

open TnDsl

/// Independent float64 contractions of a network's tensors: the oracles' reference values. Nothing here uses the
/// planner or a backend; the only arithmetic is `Dense.pair`'s loop over index assignments.
module Reference =
    /// The order in which `contract` takes the tensors: start with the first, then repeatedly the tensor whose
    /// step visits the fewest index assignments (the product of the sizes of the running result's and its labels),
    /// the lowest position on ties. A deliberately simple rule, not the planner's: it keeps chains, trees and
    /// layered networks cheap whatever order they are declared in. Also returns the multiply-adds it costs.
    let schedule (labels: int array array) (size: int -> float) (output: int array) : int array * float =
        let n = labels.Length
        let needed = Set.ofArray output
        let taken = Array.zeroCreate n
        let order = ResizeArray<int>()
        let mutable acc = Set.empty
        let mutable work = 0.0
        for _ in 1 .. n do
            let mutable best, bestCost = -1, infinity
            for k in 0 .. n - 1 do
                if not taken[k] then
                    let cost = Set.union acc (Set.ofArray labels[k]) |> Seq.fold (fun w l -> w * size l) 1.0
                    if best < 0 || (order.Count > 0 && cost < bestCost) then
                        best <- k
                        bestCost <- cost
            taken[best] <- true
            order.Add best
            work <- work + bestCost
            // Keep what the output or a tensor not yet taken still carries.
            let rest = seq { for k in 0 .. n - 1 do if not taken[k] then yield! labels[k] } |> Set.ofSeq
            acc <- Set.union acc (Set.ofArray labels[best]) |> Set.filter (fun l -> needed.Contains l || rest.Contains l)
        order.ToArray(), work

    /// Contracts tensors one at a time in `schedule` order, summing an index as soon as no tensor still to come
    /// and not the output carries it; the result's axes follow `output`.
    let contract (tensors: Dense array) (output: int array) =
        let sizes = System.Collections.Generic.Dictionary<int, float>()
        for t in tensors do
            Array.iter2 (fun l d -> sizes[l] <- float d) t.Labels t.Shape
        let order, _ = schedule (tensors |> Array.map (fun t -> t.Labels)) (fun l -> sizes[l]) output
        let needed = System.Collections.Generic.HashSet<int>(output)
        let later = Array.init (order.Length + 1) (fun _ -> Set.empty)
        for k in order.Length - 1 .. -1 .. 0 do
            later[k] <- Set.union later[k + 1] (Set.ofArray tensors[order[k]].Labels)
        let mutable acc = Dense.one
        for k in 0 .. order.Length - 1 do
            let rest = later[k + 1]
            acc <- Dense.pair (fun l -> needed.Contains l || rest.Contains l) acc tensors[order[k]]
        Dense.permuteTo output acc

    /// The fully naive contraction: one sum over every assignment of every index at once (einsum semantics).
    /// Exponential in the number of indices; used to check `contract` itself on tiny networks.
    let bruteForce (tensors: Dense array) (output: int array) =
        let labels = tensors |> Array.collect (fun t -> t.Labels) |> Array.distinct
        let size l =
            let t = tensors |> Array.find (fun t -> Array.contains l t.Labels)
            t.Shape[System.Array.IndexOf(t.Labels, l)]
        let dims = labels |> Array.map size
        let outShape = output |> Array.map size
        let outSt = Dense.strides outShape
        let result = Array.zeroCreate (Dense.count outShape)
        let axes = tensors |> Array.map (fun t -> t.Labels |> Array.map (fun l -> System.Array.IndexOf(labels, l)), Dense.strides t.Shape)
        let outAxes = output |> Array.map (fun l -> System.Array.IndexOf(labels, l))
        for flat in 0 .. Dense.count dims - 1 do
            let assign = Dense.unflatten dims flat
            let mutable p = 1.0
            for t in 0 .. tensors.Length - 1 do
                let ax, st = axes[t]
                let mutable off = 0
                for k in 0 .. ax.Length - 1 do
                    off <- off + assign[ax[k]] * st[k]
                p <- p * tensors[t].Data[off]
            let mutable o = 0
            for k in 0 .. outAxes.Length - 1 do
                o <- o + assign[outAxes[k]] * outSt[k]
            result[o] <- result[o] + p
        { Labels = output; Shape = outShape; Data = result }

    /// Executes a contraction tree (SSA form, leaves = the tensors in order) with the given pairwise step
    /// (`pair keep a b` contracts a with b, keeping the labels `keep` accepts); a multi-way step is folded left to
    /// right. The result's axes are in the order the steps left them.
    let runTree (pair: (int -> bool) -> Dense -> Dense -> Dense) (tree: ContractionTree) (tensors: Dense array) (output: int array) =
        let nodes = Array.zeroCreate<Dense option> (tree.Leaves + tree.Steps.Length)
        for k in 0 .. tensors.Length - 1 do
            nodes[k] <- Some tensors[k]
        let needed = Set.ofArray output
        tree.Steps
        |> Array.iteri (fun s children ->
            let operands = children |> Array.map (fun c -> nodes[c].Value)
            for c in children do
                nodes[c] <- None
            // Labels still carried by a live node other than this step's operands, or by the output.
            let live = nodes |> Array.choose id |> Array.collect (fun d -> d.Labels) |> Set.ofArray
            let mutable acc = Dense.one
            for k in 0 .. operands.Length - 1 do
                let rest = operands[k + 1 ..] |> Array.collect (fun d -> d.Labels) |> Set.ofArray
                acc <- pair (fun l -> needed.Contains l || live.Contains l || rest.Contains l) acc operands[k]
            nodes[tree.Leaves + s] <- Some acc)
        nodes[ContractionTree.root tree].Value

    /// Executes a contraction tree (SSA form, leaves = the tensors in order) with dense pairwise steps; a multi-way
    /// step is folded left to right. The result's axes follow `output`.
    let ofTree (tree: ContractionTree) (tensors: Dense array) (output: int array) =
        Dense.permuteTo output (runTree Dense.pair tree tensors output)
