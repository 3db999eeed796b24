namespace TnDsl

open System
open System.Globalization

/// One subscript of an einsum operand or output: an index label (one text element: an ASCII letter, or any element beyond ASCII) or the
/// ellipsis `...`, with where it stands in the equation.
type EinsumTerm =
    | Label of name: string * range: SourceRange
    | Ellipsis of range: SourceRange

/// Einsum text as read, before shapes are known: the terms of each operand and of the output.
type EinsumSpec =
    {
        /// The equation as given.
        Text: string
        /// The terms of each operand, left to right.
        Operands: EinsumTerm array array
        /// Where each operand stands (for errors about its shape).
        OperandRanges: SourceRange array
        /// The output's terms after `->`, or None where the output is implied.
        Output: EinsumTerm array option
    }

/// An einsum equation bound to its operands' shapes, as torch.einsum reads it: the ellipsis covers the axes the
/// labels leave over (right-aligned across operands and broadcast), and an axis of size 1 broadcasts against the
/// same label's size elsewhere.
type EinsumBinding =
    {
        /// What the planner sees: per operand the labels of its kept axes (repeats kept), every label's size, the
        /// output. The ellipsis's axes are named `...0`, `...1`, … from the left of the broadcast ellipsis shape.
        Problem: Problem
        /// Per operand, the label of every axis as given (ellipsis axes named).
        Axes: string array array
        /// Per operand, per axis: true for an axis of size 1 broadcast against a larger size of its label; such an
        /// axis is dropped (squeezed) before contracting, which is the same as broadcasting it.
        Broadcast: bool array array
    }

/// Einsum text (`ab,bc->ac`, `...ij,...jk->...ik`) with shapes as a planning problem: the one reader behind
/// `tn plan --einsum` and the contraction API (`Tn.Contract`, `Tn.Expression`). Each mistake is one diagnostic,
/// positioned in the equation (file `<einsum>`) or in the shapes (file `<shapes>`).
module Einsum =
    /// The source name of the equation in diagnostics.
    let equationFile = "<einsum>"

    /// The source name of the `--shapes` text in diagnostics.
    let shapesFile = "<shapes>"

    /// The text elements (user-perceived characters, surrogate pairs kept whole) of a string.
    let textElements (s: string) =
        let e = StringInfo.GetTextElementEnumerator s
        [| while e.MoveNext() do
               yield e.GetTextElement() |]

    /// The text elements of a string with their UTF-16 offsets.
    let private elementsAt (s: string) =
        let e = StringInfo.GetTextElementEnumerator s
        [| while e.MoveNext() do
               yield e.ElementIndex, e.GetTextElement() |]

    let private span file (text: string) (start: int) (stop: int) =
        // One-line texts: the column is the UTF-16 offset plus one.
        ignore text
        { File = file
          Start = { Line = 1; Col = start + 1; Offset = int64 start }
          End = { Line = 1; Col = stop + 1; Offset = int64 stop } }

    let private bad range msg = Diagnostic.make PlanDiagnostics.badInput range msg

    /// The name of the k-th axis (from the left) of the broadcast ellipsis shape.
    let ellipsisName (k: int) = sprintf "...%d" k

    /// An ASCII character that cannot be an index: a digit or punctuation (the syntax's own `,`, `-`, `>`, `.` and
    /// spaces are read before this is asked). Beyond ASCII any text element is an index, as opt_einsum's symbols past
    /// the 52 letters are (`chr(192)` on).
    let private notAnIndex (t: string) =
        t.Length = 1 && t[0] < '\u0080' && not (Char.IsAsciiLetter t[0]) && not (Char.IsWhiteSpace t[0])
        && not (",.->".Contains t[0])

    /// Reads the equation's syntax: operands separated by `,`, an optional `->` and output, spaces ignored, `...`
    /// at most once per operand and in the output. Every other text element is a label: an ASCII letter or any
    /// element beyond ASCII.
    let parse (text: string) : Result<EinsumSpec, Diagnostic list> =
        let errors = ResizeArray<Diagnostic>()
        let at a b = span equationFile text a b
        let arrows =
            [ let mutable k = text.IndexOf("->", StringComparison.Ordinal)
              while k >= 0 do
                  yield k
                  k <- text.IndexOf("->", k + 2, StringComparison.Ordinal) ]
        for extra in List.skip (min 1 arrows.Length) arrows do
            errors.Add(bad (at extra (extra + 2)) "'->' appears more than once")
        let lhsEnd = match arrows with k :: _ -> k | [] -> text.Length
        // Terms of one stretch of the text [from, upto); commas are allowed only on the left of the arrow.
        let terms (from: int) (upto: int) (isOutput: bool) =
            let elements = elementsAt (text.Substring(from, upto - from)) |> Array.map (fun (i, t) -> from + i, t)
            let out = ResizeArray<EinsumTerm>()
            let mutable ellipses = 0
            let mutable k = 0
            while k < elements.Length do
                let (pos, t) = elements[k]
                if t = "." then
                    let mutable run = 1
                    while k + run < elements.Length && snd elements[k + run] = "." do
                        run <- run + 1
                    let r = at pos (pos + run)
                    if run <> 3 then
                        errors.Add(bad r (sprintf "'%s' is not an ellipsis (that is exactly three dots, '...')" (String('.', run))))
                    else
                        ellipses <- ellipses + 1
                        if ellipses = 2 then
                            errors.Add(bad r (if isOutput then "the output has a second ellipsis" else "an operand has a second ellipsis"))
                        out.Add(Ellipsis r)
                    k <- k + run
                else
                    if t = "-" || t = ">" then
                        errors.Add(bad (at pos (pos + t.Length)) (sprintf "stray '%s' (the output follows '->')" t))
                    elif t = "," && isOutput then
                        errors.Add(bad (at pos (pos + 1)) "',' in the output (it separates operands, left of '->')")
                    elif notAnIndex t then
                        // One diagnostic for a run of them (`12` is one mistake, not two).
                        let mutable run = 1
                        while k + run < elements.Length && notAnIndex (snd elements[k + run]) do
                            run <- run + 1
                        let last = fst elements[k + run - 1]
                        let written = text.Substring(pos, last + 1 - pos)
                        errors.Add(
                            bad (at pos (last + 1))
                                (sprintf "'%s' is not an index: an index is a letter (ASCII digits and punctuation are not)%s" written
                                    (if written = ";" || written = "|" then ", and operands are separated by ','" else "")))
                        k <- k + run - 1
                    elif not (String.IsNullOrWhiteSpace t) then
                        out.Add(Label(t, at pos (pos + t.Length)))
                    k <- k + 1
            out.ToArray()
        // Operands: the stretches between commas on the left of the arrow.
        let bounds =
            [| let mutable start = 0
               for k in 0 .. lhsEnd - 1 do
                   if text[k] = ',' then
                       yield start, k
                       start <- k + 1
               yield start, lhsEnd |]
        let operands = bounds |> Array.map (fun (a, b) -> terms a b false)
        let operandRanges = bounds |> Array.map (fun (a, b) -> at a (max b (a + 1)))
        let output =
            match arrows with
            | k :: rest ->
                let upto = match rest with k2 :: _ -> k2 | [] -> text.Length
                Some(terms (k + 2) upto true)
            | [] -> None
        if errors.Count > 0 then
            Result.Error(List.ofSeq errors)
        else
            Ok
                { Text = text
                  Operands = operands
                  OperandRanges = operandRanges
                  Output = output }

    /// Reads `--shapes` text: operands separated by `,`, sizes by `x` (`2x3,3x4`; an empty shape is a scalar).
    let parseShapes (text: string) : Result<int64 array array, Diagnostic list> =
        let errors = ResizeArray<Diagnostic>()
        // Shapes written as Python tuples or lists (`(2,3),(3,4)`) are one mistake, not one per size.
        let bracket = text.IndexOfAny([| '('; ')'; '['; ']' |])
        if bracket >= 0 then
            Result.Error
                [ Diagnostic.make PlanDiagnostics.badSize (span shapesFile text bracket (bracket + 1))
                      "shapes are written as sizes joined by 'x', operands by ',' (2x3,3x4; a scalar is empty), not as tuples or lists" ]
        else
        let shapes =
            [| let mutable start = 0
               for part in text.Split(',') do
                   let sizes =
                       [| let mutable s = start
                          if not (String.IsNullOrWhiteSpace part) then
                              for d in part.Split([| 'x'; 'X'; '×' |]) do
                                  match Int64.TryParse(d.Trim(), NumberStyles.None, CultureInfo.InvariantCulture) with
                                  | true, v when v >= 1L -> yield v
                                  | _ ->
                                      let digits = d.Trim()
                                      let why =
                                          // Refused rather than planned at 1 as `bind` does for real tensors: the
                                          // figures printed would be those of size 1, where opt_einsum counts 0.
                                          if digits.Length > 0 && digits.TrimStart('0').Length = 0 then
                                              sprintf "'%s' is not a size here: an empty operand (size 0) costs 0 flops in any order, so there is nothing to plan; sizes start at 1" digits
                                          elif digits.Length > 0 && digits |> Seq.forall Char.IsAsciiDigit && digits.TrimStart('0').Length > 0 then
                                              sprintf "'%s' is too large: a size must be below 2^63" digits
                                          elif digits.Length = 0 then "a size is missing here: sizes are joined by one 'x' (2x3)"
                                          elif digits.Contains ';' then
                                              sprintf "'%s' is not a size: operands are separated by ',' (2x3,3x4)" d
                                          else sprintf "'%s' is not a size (a whole number, at least 1)" d
                                      errors.Add(
                                          Diagnostic.make PlanDiagnostics.badSize (span shapesFile text s (s + max 1 d.Length)) why)
                                  s <- s + d.Length + 1 |]
                   yield sizes
                   start <- start + part.Length + 1 |]
        if errors.Count > 0 then Result.Error(List.ofSeq errors) else Ok shapes

    /// Binds an equation to its operands' shapes as torch.einsum does. Sizes may be 0 (an empty operand, from the API
    /// with real tensors); the planner then sees them as 1, which changes no order's validity, though not the figures
    /// that opt_einsum would give (0 flops), so `--shapes` (`parseShapes`) refuses a 0.
    let bind (spec: EinsumSpec) (shapes: int64 array array) : Result<EinsumBinding, Diagnostic list> =
        let errors = ResizeArray<Diagnostic>()
        let whole = span equationFile spec.Text 0 (max 1 spec.Text.Length)
        let n = spec.Operands.Length
        if shapes.Length <> n then
            errors.Add(bad whole (sprintf "%d operand(s) in the equation but %d given" n shapes.Length))
            Result.Error(List.ofSeq errors)
        else
        // How many axes each operand's ellipsis covers.
        let ellipsisRank =
            Array.init n (fun k ->
                let terms = spec.Operands[k]
                let labels = terms |> Array.filter (function Label _ -> true | _ -> false) |> Array.length
                let hasEllipsis = terms |> Array.exists (function Ellipsis _ -> true | _ -> false)
                let rank = shapes[k].Length
                if hasEllipsis && rank >= labels then rank - labels
                else
                    if rank <> labels then
                        errors.Add(
                            bad spec.OperandRanges[k]
                                (sprintf "operand %d has %d index label(s)%s but its shape has %d %s" (k + 1) labels
                                     (if hasEllipsis then " and an ellipsis" else "") rank
                                     (if rank = 1 then "axis" else "axes")))
                    0)
        if errors.Count > 0 then
            Result.Error(List.ofSeq errors)
        else
        let ellipsisWidth = Array.fold max 0 ellipsisRank
        // Every axis: its label and where its label stands in the text.
        let axes =
            Array.init n (fun k ->
                [| for t in spec.Operands[k] do
                       match t with
                       | Label (name, r) -> yield name, r
                       | Ellipsis r ->
                           for j in 0 .. ellipsisRank[k] - 1 do
                               yield ellipsisName (ellipsisWidth - ellipsisRank[k] + j), r |])
        let describe (label: string) =
            if label.StartsWith "..." then sprintf "axis %d of the ellipsis (of %d, from the left)" (int (label.Substring 3) + 1) ellipsisWidth
            else sprintf "index '%s'" label
        // A label's size: the one size other than 1 among its axes (torch broadcasts the 1s), else 1; and the
        // operand that gave it, for a conflict to name both operands.
        let sizes = Collections.Generic.Dictionary<string, int64>()
        let sizedBy = Collections.Generic.Dictionary<string, int>()
        let conflicted = Collections.Generic.HashSet<string>()
        for k in 0 .. n - 1 do
            let seenHere = Collections.Generic.Dictionary<string, int64>()
            axes[k]
            |> Array.iteri (fun a (label, r) ->
                let s = shapes[k][a]
                match seenHere.TryGetValue label with
                | true, s0 when s0 <> s && conflicted.Add label ->
                    errors.Add(
                        Diagnostic.make PlanDiagnostics.sizeConflict r
                            (sprintf "%s repeats in operand %d with sizes %d and %d (a repeated index takes a diagonal)"
                                 (describe label) (k + 1) s0 s))
                | _ -> seenHere[label] <- s
                match sizes.TryGetValue label with
                | true, s0 when s0 <> s && s0 <> 1L && s <> 1L ->
                    if conflicted.Add label then
                        errors.Add(
                            Diagnostic.make PlanDiagnostics.sizeConflict r
                                (sprintf "%s has size %d in operand %d but %d in operand %d (sizes must agree or be 1)"
                                     (describe label) s (k + 1) s0 (sizedBy[label] + 1)))
                | true, s0 when s0 <> 1L -> ()
                | _ ->
                    sizes[label] <- s
                    sizedBy[label] <- k)
        let onOperands = axes |> Array.collect (Array.map fst) |> Set.ofArray
        let output =
            match spec.Output with
            | Some terms ->
                let seen = Collections.Generic.HashSet<string>()
                [| for t in terms do
                       match t with
                       | Label (name, r) ->
                           if not (onOperands.Contains name) then
                               errors.Add(Diagnostic.make PlanDiagnostics.badOutput r (sprintf "output index '%s' is on no operand" name))
                           elif not (seen.Add name) then
                               errors.Add(Diagnostic.make PlanDiagnostics.badOutput r (sprintf "output index '%s' is listed twice" name))
                           else
                               yield name
                       | Ellipsis _ -> yield! Array.init ellipsisWidth ellipsisName |]
            | None ->
                // torch and numpy: the ellipsis's axes, then the labels used once, in ordinal order.
                let once =
                    axes
                    |> Array.collect (Array.map fst)
                    |> Array.filter (fun l -> not (l.StartsWith "..."))
                    |> Array.countBy id
                    |> Array.filter (fun (_, c) -> c = 1)
                    |> Array.map fst
                    |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b))
                Array.append (Array.init ellipsisWidth ellipsisName) once
        if errors.Count > 0 then
            Result.Error(List.ofSeq errors)
        else
            let broadcast = Array.init n (fun k -> axes[k] |> Array.mapi (fun a (label, _) -> shapes[k][a] = 1L && sizes[label] <> 1L))
            let inputs =
                Array.init n (fun k ->
                    axes[k] |> Array.indexed |> Array.filter (fun (a, _) -> not (broadcast[k].[a])) |> Array.map (snd >> fst))
            let plannedSizes = sizes |> Seq.map (fun kv -> kv.Key, max 1L kv.Value) |> Map.ofSeq
            Ok
                { Problem = Problem.create None inputs plannedSizes output
                  Axes = axes |> Array.map (Array.map fst)
                  Broadcast = broadcast }

    /// Reads einsum text with `--shapes` text (`2x3,3x4`) into a planning problem. Without `->` the output is the
    /// ellipsis's axes, then the indices used once, in ordinal order (as torch and numpy imply it).
    let toProblem (text: string) (shapes: string) : Result<Problem, Diagnostic list> =
        match parse text, parseShapes shapes with
        | Ok spec, Ok dims when dims.Length > spec.Operands.Length && shapes.Split(',') |> Array.exists String.IsNullOrWhiteSpace ->
            // More shapes than operands, one of them empty: a stray ',' (an empty shape is a scalar operand), shown
            // where it stands rather than as a count of operands.
            let n = spec.Operands.Length
            let parts = shapes.Split(',')
            Result.Error
                [ let mutable start = 0
                  for k in 0 .. parts.Length - 1 do
                      if String.IsNullOrWhiteSpace parts[k] then
                          // The ',' that opens the empty shape (a leading one: the ',' that closes it).
                          let comma = if k = 0 then parts[0].Length else start - 1
                          let why =
                              if k = parts.Length - 1 then "a trailing ','"
                              elif k = 0 then "a leading ','"
                              else sprintf "an empty shape (operand %d) between two ','" (k + 1)
                          yield
                              Diagnostic.make PlanDiagnostics.badInput (span shapesFile shapes comma (comma + 1))
                                  (sprintf "%s gives %d shapes for the %d operand%s of the equation (an empty shape is a scalar operand)"
                                       why parts.Length n (if n = 1 then "" else "s"))
                      start <- start + parts[k].Length + 1 ]
        | Ok spec, Ok dims -> bind spec dims |> Result.map (fun b -> b.Problem)
        | Result.Error a, Result.Error b -> Result.Error(a @ b)
        | Result.Error a, _
        | _, Result.Error a -> Result.Error a
