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
              Inputs = net.Tensors |> Array.map (fun t -> t.Legs |> Array.map (fun l -> name net.Indices[l]))
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

    /// A JSON value with the byte offset where it starts, for positioned diagnostics.
    type private Json =
        | JObject of (string * int64 * Json) list * int64
        | JArray of Json list * int64
        | JString of string * int64
        | JNumber of string * int64
        | JLiteral of string * int64

    let private offsetOf =
        function
        | JObject(_, o) | JArray(_, o) | JString(_, o) | JNumber(_, o) | JLiteral(_, o) -> o

    let private kindOf =
        function
        | JObject _ -> "an object"
        | JArray _ -> "an array"
        | JString _ -> "a string"
        | JNumber _ -> "a number"
        | JLiteral(l, _) -> l

    /// Parses UTF-8 JSON into a tree of offsets with System.Text.Json's reader (strict JSON, depth at most 64).
    /// Throws JsonException on malformed text, with the line and byte in line where it fails.
    let private parseTree (bytes: byte array) : Json =
        // The reader is a ref struct, so the walk is a loop over its tokens rather than a recursion.
        // A frame per open object or array, with the key it sits under in its parent.
        let stack = Collections.Generic.Stack<bool * int64 * ResizeArray<string * int64 * Json> * (string * int64)>()
        let root = ref None
        let key = ref ("", 0L)
        let add (under: string * int64) (node: Json) =
            if stack.Count = 0 then root.Value <- Some node
            else
                let _, _, items, _ = stack.Peek()
                let k, ko = under
                items.Add((k, ko, node))
        let mutable reader = Utf8JsonReader(ReadOnlySpan<byte>(bytes), JsonReaderOptions(MaxDepth = 64))
        while reader.Read() do
            let offset = reader.TokenStartIndex
            match reader.TokenType with
            | JsonTokenType.StartObject -> stack.Push((true, offset, ResizeArray(), key.Value))
            | JsonTokenType.StartArray -> stack.Push((false, offset, ResizeArray(), key.Value))
            | JsonTokenType.EndObject
            | JsonTokenType.EndArray ->
                let isObject, start, items, under = stack.Pop()
                add under (if isObject then JObject(List.ofSeq items, start) else JArray([ for _, _, v in items -> v ], start))
            | JsonTokenType.PropertyName -> key.Value <- (reader.GetString(), offset)
            | JsonTokenType.String -> add key.Value (JString(reader.GetString(), offset))
            | JsonTokenType.Number -> add key.Value (JNumber(Encoding.UTF8.GetString(reader.ValueSpan), offset))
            | JsonTokenType.True -> add key.Value (JLiteral("true", offset))
            | JsonTokenType.False -> add key.Value (JLiteral("false", offset))
            | JsonTokenType.Null -> add key.Value (JLiteral("null", offset))
            | _ -> ()
        match root.Value with
        | Some r -> r
        | None -> raise (JsonException("the file holds no JSON value", null, Nullable 0L, Nullable 0L))

    /// Line and column (UTF-16 code units, as in `.tn` diagnostics) of byte offsets in UTF-8 text.
    type private Positions(file: string, bytes: byte array) =
        let lineStarts =
            lazy
                [| yield 0
                   for k in 0 .. bytes.Length - 1 do
                       if bytes[k] = byte '\n' then yield k + 1 |]

        member _.Pos(offset: int64) =
            let starts = lineStarts.Force()
            let off = int (min offset (int64 bytes.Length))
            let k = match Array.BinarySearch(starts, off) with i when i >= 0 -> i | i -> ~~~i - 1
            let col = Encoding.UTF8.GetCharCount(bytes, starts[k], off - starts[k]) + 1
            { Line = k + 1; Col = col; Offset = int64 (Encoding.UTF8.GetCharCount(bytes, 0, off)) }

        member p.At(offset: int64) =
            let pos = p.Pos offset
            { File = file; Start = pos; End = pos }

        /// The range of a JSON value (its first token; strings and numbers whole).
        member p.Of(node: Json) =
            let start = p.Pos(offsetOf node)
            // Strings and numbers are marked whole (escapes aside), objects and arrays at their bracket.
            let width =
                match node with
                | JString(s, _) -> s.Length + 2
                | JNumber(t, _) | JLiteral(t, _) -> t.Length
                | JObject _ | JArray _ -> 1
            { File = file; Start = start; End = { start with Col = start.Col + width; Offset = start.Offset + int64 width } }

    /// Reads a JSON network: `{"tensors":[{"name":"A","indices":["a","b"]},…],"sizes":{"a":2,…},"output":[…]}`.
    /// A tensor may say `"trainable": false`; names default to `T0`, `T1`, …. `overrides` gives sizes by index name
    /// that replace or complete `"sizes"` (the command line's `--size`). Every error is a diagnostic at the offending
    /// value's line and column: TN0306 for the wrong kind of value, a duplicate or unknown key or malformed JSON, TN0303 for a
    /// size that is not a positive integer (sizes beyond int64 included), TN0302 for an index without a size (at its
    /// first use), TN0304 for an output index listed twice or on no tensor.
    let ofJsonWith (file: string) (text: string) (overrides: Map<string, int64>) : Result<Problem, Diagnostic list> =
        let bytes = Encoding.UTF8.GetBytes text
        let at = Positions(file, bytes)
        try
            let root = parseTree bytes
            let errors = ResizeArray<Diagnostic>()
            let fail (node: Json) msg = errors.Add(bad (at.Of node) msg)
            let members (what: string) (node: Json) =
                match node with
                | JObject(props, _) ->
                    let seen = Collections.Generic.HashSet<string>()
                    [ for k, ko, v in props do
                          if seen.Add k then yield k, v
                          else errors.Add(bad (at.At ko) (sprintf "%s has \"%s\" twice" what k)) ]
                | other ->
                    fail other (sprintf "%s must be an object, not %s" what (kindOf other))
                    []
            // A key the format does not have is an error, not ignored: a misspelt "output" would plan the network closed.
            let onlyKeys (what: string) (keys: string list) (node: Json) =
                match node with
                | JObject(props, _) ->
                    for k, ko, _ in props do
                        if not (List.contains k keys) then
                            let known = keys |> List.map (sprintf "\"%s\"") |> String.concat ", "
                            errors.Add(bad (at.At ko) (sprintf "%s has no key \"%s\"; its keys are %s" what k known))
                | _ -> ()
            let top = members "the network" root
            onlyKeys "the network" [ "tensors"; "sizes"; "output" ] root
            let isObject = function JObject _ -> true | _ -> false
            let prop (props: (string * Json) list) name = props |> List.tryFind (fun (k, _) -> k = name) |> Option.map snd
            // Index names as written, with the node of each, for positions.
            let strings (what: string) (node: Json) =
                match node with
                | JArray(xs, _) ->
                    [| for x in xs do
                           match x with
                           | JString(s, _) -> yield s, x
                           | other -> fail other (sprintf "%s must hold index names (strings), not %s" what (kindOf other)) |]
                | other ->
                    fail other (sprintf "%s must be an array of index names, not %s" what (kindOf other))
                    [||]
            let tensorNodes =
                match prop top "tensors" with
                | Some(JArray(ts, _)) -> Array.ofList ts
                | Some other ->
                    fail other (sprintf "\"tensors\" must be an array, not %s" (kindOf other))
                    [||]
                | None ->
                    if isObject root then fail root "the network needs a \"tensors\" array"
                    [||]
            let tensors = tensorNodes |> Array.mapi (fun k t -> members (sprintf "tensor %d" k) t)
            tensorNodes |> Array.iteri (fun k t -> onlyKeys (sprintf "tensor %d" k) [ "name"; "indices"; "trainable" ] t)
            let names =
                tensors
                |> Array.mapi (fun k t ->
                    match prop t "name" with
                    | Some(JString(n, _)) -> n
                    | Some other ->
                        fail other (sprintf "the name of tensor %d must be a string, not %s" k (kindOf other))
                        sprintf "T%d" k
                    | None -> sprintf "T%d" k)
            // Errors in the tensors or their indices: an output index then cannot be said to be on no tensor.
            let beforeLegs = errors.Count
            let legs =
                tensors
                |> Array.mapi (fun k t ->
                    match prop t "indices" with
                    | Some ix -> strings (sprintf "the indices of tensor %s" names[k]) ix
                    | None ->
                        fail tensorNodes[k] (sprintf "tensor %s has no \"indices\"" names[k])
                        [||])
            let legsRead = errors.Count = beforeLegs && (match prop top "tensors" with Some(JArray _) -> true | _ -> false)
            let trainable =
                tensors
                |> Array.mapi (fun k t ->
                    match prop t "trainable" with
                    | Some(JLiteral("false", _)) -> false
                    | Some(JLiteral("true", _)) | None -> true
                    | Some other ->
                        fail other (sprintf "\"trainable\" of tensor %s must be true or false, not %s" names[k] (kindOf other))
                        true)
            let given = Collections.Generic.HashSet<string>()
            let sizes =
                match prop top "sizes" with
                | Some s ->
                    [ for k, v in members "\"sizes\"" s do
                          given.Add k |> ignore
                          // A size past 2^53 is a decimal string, as every `--json` output writes such counts (`toJson`);
                          // a smaller one is a number.
                          let decimal =
                              match v with
                              | JString(t, _) ->
                                  // Past 19 digits it is past 2^63, which the parse below reports.
                                  t.Length > 0 && Seq.forall Char.IsAsciiDigit t
                                  && (t.Length > 19 || BigInteger.Parse(t, CultureInfo.InvariantCulture) > JsonOutput.maxExact)
                              | _ -> true
                          match v with
                          | JNumber(t, _)
                          | JString(t, _) when decimal ->
                              match Int64.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
                              | true, n when n >= 1L -> yield k, n
                              | true, n ->
                                  errors.Add(Diagnostic.make PlanDiagnostics.badSize (at.Of v) (sprintf "index '%s' has size %d; sizes must be positive" k n))
                              | _ ->
                                  errors.Add(Diagnostic.make PlanDiagnostics.badSize (at.Of v)
                                                 (sprintf "the size of '%s' must be a positive integer below 2^63, not %s" k t))
                          // A string of digits here is a size up to 2^53, which is written as a number.
                          | JString(t, _) when t.Length > 0 && Seq.forall Char.IsAsciiDigit t ->
                              fail v (sprintf "the size of '%s' is written as a number (%s), not a string: only sizes past 2^53 are strings" k t)
                          | other -> fail other (sprintf "the size of '%s' must be an integer, not %s" k (kindOf other)) ]
                    |> Map.ofList
                | None ->
                    if isObject root then fail root "the network needs a \"sizes\" object"
                    Map.empty
            let sizesRead = match prop top "sizes" with Some s -> isObject s | None -> false
            let sized = overrides |> Map.fold (fun (m: Map<string, int64>) k v -> m.Add(k, v)) sizes
            let reported = Collections.Generic.HashSet<string>()
            for ts in legs do
                for name, node in ts do
                    // An index whose size is given but bad has its error already.
                    if not (sized.ContainsKey name) && not (given.Contains name) && sizesRead && reported.Add name then
                        errors.Add(Diagnostic.make PlanDiagnostics.missingSize (at.Of node) (sprintf "index '%s' has no size in \"sizes\"" name))
            let output =
                match prop top "output" with
                | Some o -> strings "\"output\"" o
                | None -> [||]
            let onTensors = legs |> Array.concat |> Array.map fst |> Set.ofArray
            let listed = Collections.Generic.HashSet<string>()
            for name, node in output do
                if not (listed.Add name) then
                    errors.Add(Diagnostic.make PlanDiagnostics.badOutput (at.Of node) (sprintf "output index '%s' is listed twice" name))
                elif legsRead && not (onTensors.Contains name) then
                    errors.Add(Diagnostic.make PlanDiagnostics.badOutput (at.Of node) (sprintf "output index '%s' is on no tensor" name))
            if errors.Count > 0 then
                Result.Error(List.ofSeq errors)
            else
                Ok
                    { Names = names
                      Inputs = legs |> Array.map (Array.map fst)
                      Sizes = sized
                      Output = output |> Array.map fst
                      Trainable = trainable }
        with :? JsonException as e ->
            let line = int (defaultArg (Option.ofNullable e.LineNumber) 0L)
            let byteInLine = int (defaultArg (Option.ofNullable e.BytePositionInLine) 0L)
            // The reader counts bytes within the line; diagnostics count UTF-16 code units.
            let lineStart =
                let mutable k, seen = 0, 0
                while seen < line && k < bytes.Length do
                    if bytes[k] = byte '\n' then seen <- seen + 1
                    k <- k + 1
                k
            let range = at.At(int64 (min bytes.Length (lineStart + byteInLine)))
            // The reader's message repeats the position it failed at; the diagnostic carries it already.
            let message = Text.RegularExpressions.Regex.Replace(e.Message, @"\s*LineNumber: \d+ \| BytePositionInLine: \d+\.?", "")
            Result.Error [ bad range ("invalid JSON: " + message) ]

    /// Reads a JSON network (see `ofJsonWith`) with its own sizes only.
    let ofJson (file: string) (text: string) : Result<Problem, Diagnostic list> = ofJsonWith file text Map.empty

    /// Writes a problem as a JSON network in the form `ofJson` reads:
    /// `{"tensors":[{"name":"A","indices":["a","b"]},…],"sizes":{"a":2,…},"output":[…]}`; tensors that are not
    /// trainable say `"trainable": false`. Sizes are listed in order of first use, a number up to 2^53 and a decimal
    /// string beyond (`JsonOutput.countText`).
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
        used |> Array.iteri (fun k i -> sb.Append(sprintf "%s\n    %s: %s" (if k = 0 then "" else ",") (q i) (JsonOutput.countText (bigint p.Sizes[i]))) |> ignore)
        sb.Append("\n  },\n  \"output\": ").Append(list p.Output).Append("\n}\n").ToString()

