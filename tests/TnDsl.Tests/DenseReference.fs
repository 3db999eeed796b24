/// An independent, deliberately naive dense contraction in float64, used as the oracle by tests.
/// It sums over every assignment of every index at once (einsum semantics: an index may sit on any number
/// of tensors), so it shares no code or idea with the planner or the backend. Only for small tensors.
module TnDsl.Tests.DenseReference

/// A dense float64 tensor with one named index per axis, stored row-major (last axis fastest).
type DenseTensor =
    { Indices: string list
      Shape: int list
      Data: float array }

/// The strides of a row-major shape.
let strides (shape: int list) =
    let arr = Array.ofList shape
    let s = Array.create arr.Length 1
    for k in arr.Length - 2 .. -1 .. 0 do
        s[k] <- s[k + 1] * arr[k + 1]
    s

/// A tensor filled from a function of its multi-index.
let init (indices: string list) (shape: int list) (f: int array -> float) =
    let n = List.fold (*) 1 shape
    let dims = Array.ofList shape
    let data =
        Array.init n (fun flat ->
            let idx = Array.zeroCreate dims.Length
            let mutable r = flat
            for k in dims.Length - 1 .. -1 .. 0 do
                idx[k] <- r % dims[k]
                r <- r / dims[k]
            f idx)
    { Indices = indices; Shape = shape; Data = data }

/// Contracts tensors into the given output indices by summing the product over all index assignments.
let contract (tensors: DenseTensor list) (output: string list) =
    let sizes =
        tensors
        |> List.collect (fun t -> List.zip t.Indices t.Shape)
        |> List.fold (fun (m: Map<string, int>) (i, d) ->
            match m.TryFind i with
            | Some d0 when d0 <> d -> failwithf "index %s has sizes %d and %d" i d0 d
            | _ -> m.Add(i, d)) Map.empty
    let all = (output @ (sizes |> Map.toList |> List.map fst |> List.filter (fun i -> not (List.contains i output))))
    let pos = all |> List.mapi (fun k i -> i, k) |> Map.ofList
    let dims = all |> List.map (fun i -> sizes[i]) |> Array.ofList
    let outShape = output |> List.map (fun i -> sizes[i])
    let outStrides = strides outShape
    let result = Array.zeroCreate (List.fold (*) 1 outShape)
    let plan =
        tensors |> List.map (fun t -> t, Array.ofList (List.map (fun i -> pos[i]) t.Indices), strides t.Shape)
    let total = Array.fold (*) 1 dims
    let assign = Array.zeroCreate dims.Length
    for flat in 0 .. total - 1 do
        let mutable r = flat
        for k in dims.Length - 1 .. -1 .. 0 do
            assign[k] <- r % dims[k]
            r <- r / dims[k]
        let mutable p = 1.0
        for (t, axes, st) in plan do
            let mutable off = 0
            for a in 0 .. axes.Length - 1 do
                off <- off + assign[axes[a]] * st[a]
            p <- p * t.Data[off]
        let mutable o = 0
        for a in 0 .. output.Length - 1 do
            o <- o + assign[a] * outStrides[a]
        result[o] <- result[o] + p
    { Indices = output; Shape = outShape; Data = result }
