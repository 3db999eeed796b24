namespace TnDsl.Testing

open System

/// A dense float64 tensor whose axes are labelled by index ids of a flat network, stored row-major (last axis
/// fastest). The kit's oracles compute in this form only; it shares no code with the planner or any backend.
type Dense =
    {
        /// One index id per axis.
        Labels: int array
        /// The extent of each axis.
        Shape: int array
        /// The entries, row-major.
        Data: float array
    }

/// Construction and elementwise access of dense tensors.
module Dense =
    /// The row-major strides of a shape.
    let strides (shape: int array) =
        let s = Array.create shape.Length 1
        for k in shape.Length - 2 .. -1 .. 0 do
            s[k] <- s[k + 1] * shape[k + 1]
        s

    /// The number of entries of a shape (1 for a scalar).
    let count (shape: int array) = Array.fold (*) 1 shape

    /// A tensor filled from a function of its multi-index.
    let init (labels: int array) (shape: int array) (f: int array -> float) =
        let n = count shape
        let data =
            Array.init n (fun flat ->
                let idx = Array.zeroCreate shape.Length
                let mutable r = flat
                for k in shape.Length - 1 .. -1 .. 0 do
                    idx[k] <- r % shape[k]
                    r <- r / shape[k]
                f idx)
        { Labels = labels; Shape = shape; Data = data }

    /// The multi-index of a flat position.
    let unflatten (shape: int array) (flat: int) =
        let idx = Array.zeroCreate shape.Length
        let mutable r = flat
        for k in shape.Length - 1 .. -1 .. 0 do
            idx[k] <- r % shape[k]
            r <- r / shape[k]
        idx

    /// The same tensor with its axes reordered to the given label order (every label must be present).
    let permuteTo (labels: int array) (t: Dense) =
        if t.Labels = labels then t
        else
            let axis = labels |> Array.map (fun l -> Array.IndexOf(t.Labels, l))
            if axis |> Array.exists (fun a -> a < 0) || labels.Length <> t.Labels.Length then
                invalidArg "labels" "the labels are not a permutation of the tensor's labels"
            let st = strides t.Shape
            let shape = axis |> Array.map (fun a -> t.Shape[a])
            init labels shape (fun idx ->
                let mutable off = 0
                for k in 0 .. idx.Length - 1 do
                    off <- off + idx[k] * st[axis[k]]
                t.Data[off])

    /// Entrywise absolute values.
    let abs (t: Dense) = { t with Data = t.Data |> Array.map Math.Abs }

    /// The entrywise map of a tensor.
    let map (f: float -> float) (t: Dense) = { t with Data = Array.map f t.Data }

    /// Contracts two tensors into the labels listed in `keep` that either carries (einsum semantics: a label on
    /// both is summed unless kept). The loop visits every assignment of the union of their labels.
    let pair (keep: int -> bool) (a: Dense) (b: Dense) =
        let union = Array.append a.Labels (b.Labels |> Array.filter (fun l -> not (Array.contains l a.Labels)))
        let size l =
            match Array.IndexOf(a.Labels, l) with
            | -1 -> b.Shape[Array.IndexOf(b.Labels, l)]
            | k -> a.Shape[k]
        let dims = union |> Array.map size
        let outLabels = union |> Array.filter keep
        let outShape = outLabels |> Array.map size
        let pos l = Array.IndexOf(union, l)
        let aAxes, bAxes, oAxes = a.Labels |> Array.map pos, b.Labels |> Array.map pos, outLabels |> Array.map pos
        let aSt, bSt, oSt = strides a.Shape, strides b.Shape, strides outShape
        let result = Array.zeroCreate (count outShape)
        let assign = Array.zeroCreate dims.Length
        for flat in 0 .. count dims - 1 do
            let mutable r = flat
            for k in dims.Length - 1 .. -1 .. 0 do
                assign[k] <- r % dims[k]
                r <- r / dims[k]
            let mutable ia, ib, io = 0, 0, 0
            for k in 0 .. aAxes.Length - 1 do
                ia <- ia + assign[aAxes[k]] * aSt[k]
            for k in 0 .. bAxes.Length - 1 do
                ib <- ib + assign[bAxes[k]] * bSt[k]
            for k in 0 .. oAxes.Length - 1 do
                io <- io + assign[oAxes[k]] * oSt[k]
            result[io] <- result[io] + a.Data[ia] * b.Data[ib]
        { Labels = outLabels; Shape = outShape; Data = result }

    /// The scalar 1 (no axes): the neutral element of `pair`.
    let one = { Labels = [||]; Shape = [||]; Data = [| 1.0 |] }
