namespace TnDsl

open System
open System.Globalization
open System.IO
open System.Numerics
open System.Text
open System.Text.Json

/// Where planning problems come from: the flat network, a JSON network, or einsum text with shapes.
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

    /// The text elements (user-perceived characters, surrogate pairs kept whole) of a string.
    let textElements (s: string) =
        let e = StringInfo.GetTextElementEnumerator s
        [| while e.MoveNext() do
               yield e.GetTextElement() |]

    /// Reads einsum text (`ab,bc->ac`; every character but `,` `-` `>` and spaces is an index, any Unicode
    /// letter included) with shapes (`2x3,3x4`). Without `->` the output is the indices used once, in ordinal order.
    let ofEinsum (spec: string) (shapes: string) : Result<Problem, Diagnostic list> =
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

/// The empirical scaling of a network's plan in its integer parameters, for the reports.
type Scaling =
    {
        /// The fitted exponents.
        Exponents: Plan.Exponent list
        /// Parameters that could not be fitted, with the reason.
        Skipped: (string * string) list
        /// The optimizer used for the re-plans.
        Optimizer: string
    }

/// Human and JSON reports of a plan.
module PlanReport =
    /// A count in opt_einsum's style: exact below a million, else `4.800e+07`.
    let sci (b: BigInteger) =
        if b < BigInteger(1000000) then
            b.ToString()
        else
            let e = int (floor (BigInteger.Log10 b))
            let m = Math.Pow(10.0, BigInteger.Log10 b - float e)
            let m, e = if m >= 9.9995 then 1.0, e + 1 else m, e
            sprintf "%.3fe+%02d" m e

    /// The ratio a/b of two counts, safe for any size.
    let ratio (a: BigInteger) (b: BigInteger) =
        if b.IsZero then infinity else Math.Exp(BigInteger.Log a - BigInteger.Log b)

    let private names (p: Indexed) (ids: int array) =
        ids |> Array.map (fun i -> p.IndexNames[i])

    /// Index lists as einsum text when every name is one character, else as parenthesised lists.
    let private operandText (p: Indexed) (lists: int array array) =
        let single = p.IndexNames |> Array.forall (fun n -> PlanInput.textElements(n).Length = 1)
        if single then
            lists |> Array.map (fun l -> String.Join("", names p l)) |> fun xs -> String.Join(",", xs)
        else
            lists |> Array.map (fun l -> "(" + String.Join(" ", names p l) + ")") |> fun xs -> String.Join(" ", xs)

    /// The whole contraction as einsum-like text.
    let equation (p: Indexed) =
        let ins = operandText p (p.Problem.Inputs |> Array.map (Array.map (fun n -> Array.IndexOf(p.IndexNames, n))))
        ins + " -> " + operandText p [| p.Output |]

    /// log10 of naive over optimized flops (finite for any sizes).
    let log10Speedup (c: CostReport) =
        BigInteger.Log10(BigInteger.Max(c.NaiveFlops, BigInteger.One)) - BigInteger.Log10(BigInteger.Max(c.Flops, BigInteger.One))

    /// The speed-up as text: `%.4g` while it fits a double, else `~1e+1387`.
    let speedupText (c: CostReport) =
        let r = ratio c.NaiveFlops c.Flops
        if Double.IsFinite r then sprintf "%.4g" r else sprintf "~1e+%.0f" (log10Speedup c)

    /// The most steps the human report lists.
    let maxSteps = 100

    /// The human report, like opt_einsum's path info: totals, the scaling in the network's parameters when
    /// given, then each step with its indices and cost.
    let textWith (scaling: Scaling option) (r: PlanResult) =
        let p = r.Problem
        let sb = StringBuilder()
        let line (label: string) (value: string) = sb.AppendLine(sprintf "  %-22s %s" (label + ":") value) |> ignore
        let eq = equation p
        line "Contraction" (if eq.Length > 100 then eq.Substring(0, 97) + "..." else eq)
        line "Tensors" (sprintf "%d (%d indices)" p.Inputs.Length p.IndexNames.Length)
        line "Optimizer" (sprintf "%s (search %.1f ms)" r.Optimizer r.SearchMs)
        for d in r.Diagnostics do
            if d.Kind.Level = Info then line "Note" d.Message
        match r.Cost with
        | None -> line "Plan" "none found"
        | Some c ->
            line "Naive scaling" (string p.IndexNames.Length)
            line "Optimized scaling" (string (r.Steps |> Array.fold (fun m s -> max m s.Involved.Length) 0))
            line "Naive FLOP count" (sci c.NaiveFlops)
            line "Optimized FLOP count" (sci c.Flops)
            line "Theoretical speedup" (speedupText c)
            line "Largest intermediate" (sci c.LargestIntermediate + " elements")
            line "Peak memory" (sci c.Peak + " elements (inputs included)")
            line "Total write" (sci c.Write + " elements")
            line "Backward FLOP count" (sci c.BackwardFlops)
            line "Activation memory" (sci c.ActivationMemory + " elements kept for backward")
            match r.Slicing with
            | Some sl ->
                line "Sliced indices" (sprintf "%s (%s slices)" (String.Join(" ", names p sl.Indices)) (sci sl.Slices))
                line "Sliced FLOP count" (sprintf "%s (overhead %.3gx)" (sci sl.Flops) sl.Overhead)
                line "Largest per slice" (sci sl.LargestIntermediate + " elements")
                line "Peak per slice" (sci sl.Peak + " elements (inputs and the accumulated result included)")
            | None -> ()
            match scaling with
            | Some sc ->
                if not sc.Exponents.IsEmpty then
                    line "Scaling" (sprintf "%s (re-planned with %s)" (Plan.formatScaling sc.Exponents) sc.Optimizer)
                for (name, why) in sc.Skipped do
                    line "Scaling skipped" (sprintf "%s (%s)" name why)
            | None -> ()
            let rule = String('-', 80)
            sb.AppendLine(rule).AppendLine(sprintf "  %5s %7s %11s  %s" "step" "scaling" "flops" "operands -> result").AppendLine(rule) |> ignore
            for s in Array.truncate maxSteps r.Steps do
                sb.AppendLine(
                    sprintf "  %5d %7d %11s  %s -> %s" (s.Node - p.Inputs.Length + 1) s.Involved.Length (sci s.Flops)
                        (operandText p s.ChildIndices) (operandText p [| s.Kept |]))
                |> ignore
            if r.Steps.Length > maxSteps then
                sb.AppendLine(sprintf "  … %d more steps (--json lists the whole path)" (r.Steps.Length - maxSteps)) |> ignore
        sb.ToString()

    /// The human report without scaling.
    let text (r: PlanResult) = textWith None r

    let private levelName =
        function
        | Error -> "error"
        | Warning -> "warning"
        | Info -> "info"

    /// The JSON report: optimizer, flops, naive_flops, largest_intermediate, peak, write, backward_flops,
    /// activation_memory (exact integers), path (linear pairs), ssa_path, search_ms and diagnostics.
    let jsonWith (scaling: Scaling option) (r: PlanResult) =
        let result = r
        use ms = new MemoryStream()
        let write () =
            use w = new Utf8JsonWriter(ms, JsonWriterOptions(Indented = true))
            let big (name: string) (b: BigInteger) =
                w.WritePropertyName name
                w.WriteRawValue(b.ToString())
            // Paths are written compactly, one JSON array of arrays on a line.
            let paths (name: string) (path: int array array) =
                w.WritePropertyName name
                w.WriteRawValue("[" + String.Join(",", path |> Array.map (fun s -> "[" + String.Join(",", s) + "]")) + "]")
            w.WriteStartObject()
            w.WriteBoolean("ok", Plan.succeeded r)
            w.WriteString("optimizer", r.Optimizer)
            w.WriteNumber("tensors", r.Problem.Inputs.Length)
            match r.Cost, r.Tree with
            | Some c, Some t ->
                big "flops" c.Flops
                big "naive_flops" c.NaiveFlops
                // The ratio overflows a double on large networks: null then, with its log10 always given.
                let r = ratio c.NaiveFlops c.Flops
                if Double.IsFinite r then w.WriteNumber("speedup", r) else w.WriteNull "speedup"
                w.WriteNumber("log10_speedup", log10Speedup c)
                w.WriteNumber("log10_flops", BigInteger.Log10(BigInteger.Max(c.Flops, BigInteger.One)))
                big "largest_intermediate" c.LargestIntermediate
                big "peak" c.Peak
                big "write" c.Write
                big "backward_flops" c.BackwardFlops
                big "activation_memory" c.ActivationMemory
                match result.Slicing with
                | Some sl ->
                    // "slicing": {"indices": ["k"], "slices": 4, "flops": …, "overhead": 1.2, "largest_intermediate": …}
                    w.WriteStartObject "slicing"
                    w.WriteStartArray "indices"
                    for n in names result.Problem sl.Indices do
                        w.WriteStringValue n
                    w.WriteEndArray()
                    big "slices" sl.Slices
                    big "flops" sl.Flops
                    w.WriteNumber("overhead", Math.Round(sl.Overhead, 6))
                    big "largest_intermediate" sl.LargestIntermediate
                    big "peak" sl.Peak
                    w.WriteEndObject()
                | None -> ()
                paths "path" (ContractionTree.toLinear t)
                paths "ssa_path" (ContractionTree.toSsa t)
            | _ -> w.WriteNull "path"
            w.WriteNumber("search_ms", Math.Round(r.SearchMs, 3))
            match scaling with
            | Some sc ->
                // "scaling": {"formula": "flops ~ n^1.0", "optimizer": "greedy", "exponents": {"n": 1.01},
                //             "points": {"n": [[8, 1234], …]}, "skipped": {"d": "why"}}
                w.WriteStartObject "scaling"
                w.WriteString("formula", Plan.formatScaling sc.Exponents)
                w.WriteString("optimizer", sc.Optimizer)
                w.WriteStartObject "exponents"
                for e in sc.Exponents do
                    w.WriteNumber(e.Parameter, Math.Round(e.Exponent, 4))
                w.WriteEndObject()
                w.WriteStartObject "points"
                for e in sc.Exponents do
                    w.WritePropertyName e.Parameter
                    w.WriteRawValue("[" + String.Join(",", e.Points |> List.map (fun (v, f) -> sprintf "[%d,%O]" v f)) + "]")
                w.WriteEndObject()
                w.WriteStartObject "skipped"
                for (name, why) in sc.Skipped do
                    w.WriteString(name, why)
                w.WriteEndObject()
                w.WriteEndObject()
            | None -> ()
            w.WriteStartArray "diagnostics"
            for d in r.Diagnostics do
                w.WriteStartObject()
                w.WriteString("code", d.Kind.Code)
                w.WriteString("level", levelName d.Kind.Level)
                w.WriteString("message", d.Message)
                w.WriteEndObject()
            w.WriteEndArray()
            w.WriteEndObject()
        write ()
        Encoding.UTF8.GetString(ms.ToArray())

    /// The JSON report without scaling.
    let json (r: PlanResult) = jsonWith None r
