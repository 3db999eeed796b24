namespace TnDsl

open System
open System.Globalization

/// Einsum text (`ab,bc->ac`) with shapes (`2x3,3x4`) as a planning problem: the one reader behind
/// `tn plan --einsum` and the contraction API.
module Einsum =
    let private bad range msg = Diagnostic.make PlanDiagnostics.badInput range msg

    /// The text elements (user-perceived characters, surrogate pairs kept whole) of a string.
    let textElements (s: string) =
        let e = StringInfo.GetTextElementEnumerator s
        [| while e.MoveNext() do
               yield e.GetTextElement() |]

    /// Reads einsum text (`ab,bc->ac`; every character but `,` `-` `>` and spaces is an index, any Unicode
    /// letter included) with shapes (`2x3,3x4`). Without `->` the output is the indices used once, in ordinal order.
    let toProblem (spec: string) (shapes: string) : Result<Problem, Diagnostic list> =
        let where = Range.ofFile "<einsum>"
        let errors = ResizeArray<Diagnostic>()
        let clean (s: string) = textElements s |> Array.filter (fun t -> not (String.IsNullOrWhiteSpace t))
        let lhs, rhs =
            match spec.IndexOf("->", StringComparison.Ordinal) with
            | -1 -> spec, None
            | k -> spec.Substring(0, k), Some(spec.Substring(k + 2))
        let operands = lhs.Split(',') |> Array.map clean
        for op in operands do
            for t in op do
                if t = "-" || t = ">" || t = "." then
                    errors.Add(bad where (sprintf "'%s' cannot be an index (ellipses and stray arrows are not supported)" t))
        let dims =
            shapes.Split(',')
            |> Array.map (fun s ->
                if String.IsNullOrWhiteSpace s then [||]
                else
                    s.Split([| 'x'; 'X'; '×' |])
                    |> Array.map (fun d ->
                        match Int64.TryParse(d.Trim()) with
                        | true, v -> v
                        | _ ->
                            errors.Add(bad where (sprintf "'%s' in --shapes is not a size" d))
                            1L))
        if dims.Length <> operands.Length then
            errors.Add(bad where (sprintf "%d operands but %d shapes" operands.Length dims.Length))
        let mutable sizes = Map.empty
        if errors.Count = 0 then
            Array.iteri2
                (fun k (op: string array) (ds: int64 array) ->
                    if op.Length <> ds.Length then
                        errors.Add(bad where (sprintf "operand %d has %d indices but its shape has %d sizes" (k + 1) op.Length ds.Length))
                    else
                        Array.iter2
                            (fun i d ->
                                match sizes.TryFind i with
                                | Some d0 when d0 <> d ->
                                    errors.Add(Diagnostic.make PlanDiagnostics.sizeConflict where
                                                   (sprintf "index '%s' has sizes %d and %d" i d0 d))
                                | _ -> sizes <- sizes.Add(i, d))
                            op ds)
                operands dims
        let output =
            match rhs with
            | Some r -> clean r
            | None ->
                operands
                |> Array.concat
                |> Array.countBy id
                |> Array.filter (fun (_, c) -> c = 1)
                |> Array.map fst
                |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b))
        if errors.Count > 0 then Result.Error(List.ofSeq errors)
        else Ok(Problem.create None operands sizes output)
