namespace TnDsl.Testing

open System

/// Numerical rank of small dense matrices, and matricizations of dense tensors.
module Rank =
    /// The rank of a matrix by Gaussian elimination with complete pivoting: pivots are taken while the largest
    /// remaining entry exceeds `relTol` times the largest entry of the matrix.
    let numerical (relTol: float) (m: float[,]) =
        let a = Array2D.copy m
        let rows, cols = Array2D.length1 a, Array2D.length2 a
        let mutable scale = 0.0
        a |> Array2D.iter (fun x -> scale <- max scale (Math.Abs x))
        let mutable rank = 0
        let mutable fin = scale = 0.0
        while not fin && rank < min rows cols do
            let mutable pr, pc, best = rank, rank, 0.0
            for i in rank .. rows - 1 do
                for j in rank .. cols - 1 do
                    if Math.Abs a[i, j] > best then
                        best <- Math.Abs a[i, j]
                        pr <- i
                        pc <- j
            if best <= relTol * scale then fin <- true
            else
                for j in 0 .. cols - 1 do
                    let t = a[rank, j]
                    a[rank, j] <- a[pr, j]
                    a[pr, j] <- t
                for i in 0 .. rows - 1 do
                    let t = a[i, rank]
                    a[i, rank] <- a[i, pc]
                    a[i, pc] <- t
                for i in rank + 1 .. rows - 1 do
                    let f = a[i, rank] / a[rank, rank]
                    if f <> 0.0 then
                        for j in rank .. cols - 1 do
                            a[i, j] <- a[i, j] - f * a[rank, j]
                rank <- rank + 1
        rank

    /// The tensor as a matrix: rows run over the `rows` labels, columns over the rest (both in the tensor's order).
    let matricize (rows: int list) (t: Dense) =
        let rowSet = Set.ofList rows
        let r = t.Labels |> Array.filter rowSet.Contains
        let c = t.Labels |> Array.filter (rowSet.Contains >> not)
        let p = Dense.permuteTo (Array.append r c) t
        let nr = Dense.count p.Shape[.. r.Length - 1]
        let nc = Dense.count p.Shape[r.Length ..]
        Array2D.init nr nc (fun i j -> p.Data[i * nc + j])

    /// The slices of a tensor with the given labels fixed at every value (one slice, the tensor, when none).
    let slices (fixedLabels: int list) (t: Dense) : Dense list =
        let fixedArr = t.Labels |> Array.filter (fun l -> List.contains l fixedLabels)
        if fixedArr.Length = 0 then [ t ]
        else
            let rest = t.Labels |> Array.filter (fun l -> not (Array.contains l fixedArr))
            let p = Dense.permuteTo (Array.append fixedArr rest) t
            let nf = Dense.count p.Shape[.. fixedArr.Length - 1]
            let shape = p.Shape[fixedArr.Length ..]
            let nr = Dense.count shape
            [ for s in 0 .. nf - 1 -> { Labels = rest; Shape = shape; Data = p.Data[s * nr .. s * nr + nr - 1] } ]
