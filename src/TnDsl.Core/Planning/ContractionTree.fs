namespace TnDsl

open System.Collections.Generic

/// A contraction tree in SSA form, the one tree type of the planner. Leaves are the input tensors 0..Leaves-1;
/// step s creates node Leaves+s by contracting the listed nodes (two for a pairwise step, more for a multi-way
/// step such as the naive one-step contraction, one for a single-operand reduction that sums the indices only that
/// operand carries). Each node but the last is used exactly once; the last is the result. A single-tensor problem
/// has the one step [|0|] (it may sum indices away).
type ContractionTree =
    { Leaves: int
      Steps: int array array }

/// A tree written by hand as nested sweeps (for constructions a search is compared against): a leaf, or parts
/// each built first, in turn, and then contracted left to right (the first with the second, the result with the
/// third, …).
type TreeShape =
    | Leaf of int
    | Sweep of TreeShape list

/// Building, checking and converting contraction trees.
module ContractionTree =
    /// The tree that contracts every tensor in one step (the naive cost model).
    let naive n = { Leaves = n; Steps = [| Array.init n id |] }

    /// The id of the result node.
    let root (t: ContractionTree) = t.Leaves + t.Steps.Length - 1

    /// Checks that every input and every intermediate is used exactly once and that the last step is the result;
    /// returns a message saying what is wrong otherwise.
    let validate (t: ContractionTree) : Result<unit, string> =
        let total = t.Leaves + t.Steps.Length
        let used = Array.zeroCreate total
        let mutable err = None
        if t.Leaves < 1 then err <- Some "a tree needs at least one leaf"
        elif t.Steps.Length = 0 then err <- Some "a tree needs at least one step"
        t.Steps
        |> Array.iteri (fun s children ->
            let node = t.Leaves + s
            if children.Length = 0 then err <- Some(sprintf "step %d has no operands" s)
            for c in children do
                if c < 0 || c >= node then err <- Some(sprintf "step %d uses node %d, which does not exist yet" s c)
                else used[c] <- used[c] + 1)
        if err.IsNone then
            for v in 0 .. total - 2 do
                if used[v] <> 1 then err <- Some(sprintf "node %d is used %d times" v used[v])
        match err with
        | Some e -> Result.Error e
        | None -> Ok()

    /// The tree of a hand-written shape over n inputs (`TreeShape`): each `Sweep` builds its parts in turn and
    /// then joins them left to right in pairwise steps. Every leaf 0..n-1 must appear once (check with `validate`).
    let ofShape n (shape: TreeShape) : ContractionTree =
        let steps = List<int array>()
        let rec build shape =
            match shape with
            | Leaf i -> i
            | Sweep [] -> invalidArg (nameof shape) "a sweep needs at least one part"
            | Sweep parts ->
                let nodes = parts |> List.map build
                nodes.Tail |> List.fold (fun acc node -> steps.Add [| acc; node |]; n + steps.Count - 1) nodes.Head
        build shape |> ignore
        { Leaves = n; Steps = steps.ToArray() }

    /// The SSA path: per step, the ids of its operands (inputs 0..n-1, step s makes id n+s).
    let toSsa (t: ContractionTree) = t.Steps |> Array.map Array.copy

    /// A tree from an SSA path over n inputs.
    let ofSsa n (path: int array array) = { Leaves = n; Steps = path |> Array.map Array.copy }

    /// The linear path (opt_einsum's convention): per step, the positions (ascending) of its operands in the
    /// current list of tensors; they are removed and the result is appended at the end.
    let toLinear (t: ContractionTree) =
        let live = List<int>(seq { 0 .. t.Leaves - 1 })
        t.Steps
        |> Array.mapi (fun s children ->
            let pos = children |> Array.map (fun c -> live.IndexOf c) |> Array.sort
            for k in pos.Length - 1 .. -1 .. 0 do
                live.RemoveAt pos[k]
            live.Add(t.Leaves + s)
            pos)

    /// A tree from a linear path over n inputs.
    let ofLinear n (path: int array array) =
        let live = List<int>(seq { 0 .. n - 1 })
        let steps =
            path
            |> Array.mapi (fun s pos ->
                let sorted = Array.sort pos
                let children = sorted |> Array.map (fun p -> live[p])
                for k in sorted.Length - 1 .. -1 .. 0 do
                    live.RemoveAt sorted[k]
                live.Add(n + s)
                children)
        { Leaves = n; Steps = steps }
