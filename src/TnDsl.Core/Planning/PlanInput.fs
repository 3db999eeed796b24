namespace TnDsl

open System
open System.Globalization
open System.IO
open System.Numerics
open System.Text
open System.Text.Json

/// Where planning problems come from: the flat network or a JSON network (einsum text is read by `Einsum`).
module PlanInput =
    /// The problem of a flat network. Index names are the written names (`b[3]`); a dynamic dimension takes its
    /// nominal size unless `sizes` gives one for its family (`batch=1000`); weights are the trainable tensors.
    /// Overrides that name no dynamic family come back as TN0310 warnings.
    let ofNetwork (net: FlatNetwork) (sizes: Map<string, int64>) : Problem * Diagnostic list =
        let used = Collections.Generic.HashSet<string>()
        let sizeOf (ix: FlatIndex) =
            match ix.Dim, sizes.TryFind ix.Family with
            | Dynamic _, Some s ->
                used.Add ix.Family |> ignore
                s
            | d, _ -> Dim.size d
        let name (ix: FlatIndex) = ix.Name
        let problem =
            { Names = net.Tensors |> Array.map (fun t -> t.Name)
              Inputs = net.Tensors |> Array.map (fun t -> t.Legs |> List.map (fun l -> name net.Indices[l]) |> Array.ofList)
              Sizes = net.Indices |> Array.map (fun ix -> name ix, sizeOf ix) |> Map.ofArray
              Output = net.Output |> List.map (fun l -> name net.Indices[l]) |> Array.ofList
              Trainable = net.Tensors |> Array.map (fun t -> t.Role = Weight) }
        let unused =
            sizes
            |> Map.toList
            |> List.filter (fun (k, _) -> not (used.Contains k))
            |> List.map (fun (k, _) ->
                Diagnostic.make PlanDiagnostics.unusedSize net.Range (sprintf "--size %s names no dynamic index family" k))
        problem, unused

    let private bad range msg = Diagnostic.make PlanDiagnostics.badInput range msg

    /// Reads a JSON network: `{"tensors":[{"name":"A","indices":["a","b"]},…],"sizes":{"a":2,…},"output":[…]}`.
    /// A tensor may say `"trainable": false`; names default to `T0`, `T1`, ….
    let ofJson (file: string) (text: string) : Result<Problem, Diagnostic list> =
        let whole = Range.ofFile file
        try
            use doc = JsonDocument.Parse(text)
            let root = doc.RootElement
            let errors = ResizeArray<Diagnostic>()
            let prop (e: JsonElement) (name: string) =
                match e.ValueKind with
                | JsonValueKind.Object ->
                    match e.TryGetProperty name with
                    | true, v -> Some v
                    | _ -> None
                | _ -> None
            let strings what (e: JsonElement) =
                if e.ValueKind <> JsonValueKind.Array then
                    errors.Add(bad whole (sprintf "%s must be an array of index names" what))
                    [||]
                else
                    [| for x in e.EnumerateArray() do
                           if x.ValueKind = JsonValueKind.String then string (x.GetString())
                           else errors.Add(bad whole (sprintf "%s must hold strings" what)) |]
            let tensors =
                match prop root "tensors" with
                | Some t when t.ValueKind = JsonValueKind.Array -> t.EnumerateArray() |> Seq.toArray
                | _ ->
                    errors.Add(bad whole "the network needs a \"tensors\" array")
                    [||]
            let names =
                tensors
                |> Array.mapi (fun k t ->
                    match prop t "name" with
                    | Some n when n.ValueKind = JsonValueKind.String -> string (n.GetString())
                    | _ -> sprintf "T%d" k)
            let inputs =
                tensors
                |> Array.mapi (fun k t ->
                    match prop t "indices" with
                    | Some ix -> strings (sprintf "indices of tensor %s" names[k]) ix
                    | None ->
                        errors.Add(bad whole (sprintf "tensor %s has no \"indices\"" names[k]))
                        [||])
            let trainable =
                tensors
                |> Array.map (fun t ->
                    match prop t "trainable" with
                    | Some v when v.ValueKind = JsonValueKind.False -> false
                    | _ -> true)
            let sizes =
                match prop root "sizes" with
                | Some s when s.ValueKind = JsonValueKind.Object ->
                    [ for kv in s.EnumerateObject() do
                          match kv.Value.TryGetInt64() with
                          | true, v when kv.Value.ValueKind = JsonValueKind.Number -> yield kv.Name, v
                          | _ -> errors.Add(bad whole (sprintf "size of '%s' must be an integer" kv.Name)) ]
                    |> Map.ofList
                | _ ->
                    errors.Add(bad whole "the network needs a \"sizes\" object")
                    Map.empty
            let output =
                match prop root "output" with
                | Some o -> strings "output" o
                | None -> [||]
            if errors.Count > 0 then
                Result.Error(List.ofSeq errors)
            else
                Ok
                    { Names = names
                      Inputs = inputs
                      Sizes = sizes
                      Output = output
                      Trainable = trainable }
        with :? JsonException as e ->
            let line = int (defaultArg (Option.ofNullable e.LineNumber) 0L) + 1
            let col = int (defaultArg (Option.ofNullable e.BytePositionInLine) 0L) + 1
            let pos = { Line = line; Col = col; Offset = 0L }
            Result.Error [ bad { File = file; Start = pos; End = pos } ("invalid JSON: " + e.Message) ]

    /// Writes a problem as a JSON network in the form `ofJson` reads:
    /// `{"tensors":[{"name":"A","indices":["a","b"]},…],"sizes":{"a":2,…},"output":[…]}`; tensors that are not
    /// trainable say `"trainable": false`. Sizes are listed in order of first use.
    let toJson (p: Problem) : string =
        // Written by hand so that each tensor and each size sits on its own line; strings go through the
        // serializer for escaping.
        let options = JsonSerializerOptions(Encoder = Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)
        let q (x: string) = JsonSerializer.Serialize(x, options)
        let list (xs: string seq) = "[" + String.Join(", ", xs |> Seq.map q) + "]"
        let sb = StringBuilder()
        sb.Append("{\n  \"tensors\": [") |> ignore
        for k in 0 .. p.Inputs.Length - 1 do
            sb.Append(if k = 0 then "\n    " else ",\n    ") |> ignore
            sb.Append(sprintf "{\"name\": %s, \"indices\": %s" (q p.Names[k]) (list p.Inputs[k])) |> ignore
            if not p.Trainable[k] then sb.Append(", \"trainable\": false") |> ignore
            sb.Append("}") |> ignore
        sb.Append("\n  ],\n  \"sizes\": {") |> ignore
        let used = Seq.append (Seq.concat p.Inputs) p.Output |> Seq.distinct |> Seq.filter p.Sizes.ContainsKey |> Array.ofSeq
        used |> Array.iteri (fun k i -> sb.Append(sprintf "%s\n    %s: %d" (if k = 0 then "" else ",") (q i) p.Sizes[i]) |> ignore)
        sb.Append("\n  },\n  \"output\": ").Append(list p.Output).Append("\n}\n").ToString()

