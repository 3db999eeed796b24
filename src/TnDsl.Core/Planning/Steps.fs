namespace TnDsl

open System.Collections.Generic

/// One pairwise step of an executable plan in opt_einsum's linear convention: the operands at positions `Left` and
/// `Right` (Left < Right) of the current operand list are removed and their contraction is appended at the end.
/// `Kept` is the step's result, the problem's index ids in the order of its axes: the legs both operands carry and
/// keep, then the left operand's own legs, then the right's (each in its operand's order, as a batched matrix
/// product makes them); `Summed` are the indices summed away there.
type PairStep =
    { Left: int
      Right: int
      Kept: int array
      Summed: int array }

/// The one conversion from a contraction tree to the pairwise steps that a backend executes.
module PairSteps =
    /// The tree with every step of k > 2 operands split into k - 1 pairwise steps, left to right (the partial
    /// results get fresh node ids), and single-operand steps (reductions of one tensor) dropped where other steps
    /// remain: a backend sums the indices only one operand carries before that operand meets another.
    let binarise (t: ContractionTree) : ContractionTree =
        let steps = ResizeArray<int array>()
        let renamed = Array.zeroCreate<int> (t.Leaves + t.Steps.Length)
        for i in 0 .. t.Leaves - 1 do
            renamed[i] <- i
        t.Steps
        |> Array.iteri (fun s children ->
            let ids = children |> Array.map (fun c -> renamed[c])
            if ids.Length = 1 && t.Leaves > 1 then
                renamed[t.Leaves + s] <- ids[0]
            elif ids.Length <= 2 then
                steps.Add ids
            else
                let mutable acc = ids[0]
                for k in 1 .. ids.Length - 1 do
                    steps.Add [| acc; ids[k] |]
                    acc <- t.Leaves + steps.Count - 1
            if not (ids.Length = 1 && t.Leaves > 1) then
                renamed[t.Leaves + s] <- t.Leaves + steps.Count - 1)
        { Leaves = t.Leaves; Steps = steps.ToArray() }

    /// Per input tensor, the legs that survive it, distinct and in its declared leg order (`Indexed.Inputs` holds
    /// them sorted): open legs and legs another tensor carries. The others are summed on the tensor alone before
    /// any step.
    let leafLabels (p: Indexed) : int array array =
        let id = Dictionary<string, int>()
        p.IndexNames |> Array.iteri (fun i n -> id[n] <- i)
        p.Problem.Inputs
        |> Array.map (fun legs -> legs |> Array.map (fun n -> id[n]) |> Array.distinct |> Array.filter (fun i -> p.IsOutput[i] || p.Carriers[i].Length > 1))

    /// The pairwise steps of a tree on its problem, in order, with what each keeps (its result's legs in axis order,
    /// following the operands from `leafLabels`) and sums (from `Cost.steps`). A single-tensor problem has none: its
    /// indices are summed on the tensor itself.
    let ofTree (p: Indexed) (t: ContractionTree) : PairStep array =
        let pairwise = binarise t
        let linear = ContractionTree.toLinear pairwise
        let operands = ResizeArray<int array>(leafLabels p)
        Cost.steps p pairwise
        |> Array.mapi (fun s step -> linear[s], step)
        |> Array.filter (fun (pos, _) -> pos.Length = 2)
        |> Array.map (fun (pos, step) ->
            let a, b = operands[pos[0]], operands[pos[1]]
            let kept = HashSet<int>(step.Kept)
            let onA, onB = HashSet<int>(a), HashSet<int>(b)
            let result =
                Array.concat
                    [ a |> Array.filter (fun l -> onB.Contains l && kept.Contains l)
                      a |> Array.filter (onB.Contains >> not)
                      b |> Array.filter (onA.Contains >> not) ]
            operands.RemoveAt pos[1]
            operands.RemoveAt pos[0]
            operands.Add result
            { Left = pos[0]
              Right = pos[1]
              Kept = result
              Summed = step.Summed })

    /// A tree from pairwise steps over `n` operands in the linear convention; operands left over at the end are
    /// contracted left to right (a partial path is completed). An error says which step is out of range.
    let toTree (n: int) (pairs: (int * int) array) : Result<ContractionTree, string> =
        let live = ResizeArray<int>(seq { 0 .. n - 1 })
        let steps = ResizeArray<int array>()
        let join i j =
            let a, b = live[i], live[j]
            live.RemoveAt(max i j)
            live.RemoveAt(min i j)
            live.Add(n + steps.Count)
            steps.Add [| a; b |]
        let bad =
            pairs
            |> Array.tryPick (fun (i, j) ->
                if i < 0 || j < 0 || i >= live.Count || j >= live.Count || i = j then
                    Some(sprintf "path step (%d, %d) is invalid for %d operands" i j live.Count)
                else
                    join i j
                    None)
        match bad with
        | Some why -> Result.Error why
        | None ->
            while live.Count > 1 do
                join 0 1
            if steps.Count = 0 then steps.Add [| 0 |]
            Ok { Leaves = n; Steps = steps.ToArray() }
