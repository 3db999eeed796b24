/// The last step of elaboration: every leg, output leg and cut leg resolved to a declared index (instance
/// bindings followed), and the flat network assembled. A leg that names no index is reported once per place
/// in the source, however many family members hit it, with a hint taken from the fix that works: for a leg
/// inside a loop, the loop range over which it exists.
module TnDsl.Build

open System
open System.Collections.Generic
open TnDsl.Syntax
open TnDsl.Elaboration

/// Why a leg did not resolve.
type private Miss =
    /// Already explained by an earlier error (a failed or half-parsed declaration).
    | Silent
    | NoFamily
    /// The family is declared, but its loop's ranges are empty (the declaration's range).
    | EmptyFamily of SourceRange
    | Arity of int
    | OutOfRange of MemberTable

/// The misses written at one place: the first in full (the leg, why, its declaration with the member's loop value,
/// the member's other legs), how many there were, and the loop values of those from a one-variable loop.
type private MissGroup =
    { First: LegKey * Miss * Origin option * LegKey list
      mutable Count: int
      Loop: ResizeArray<int64>
      /// The least and the greatest subscript of the misses in each position (for the condition of a conditional leg).
      Low: int array
      High: int array }

/// A small expression's text (for hints); None for expressions too large to be worth printing.
let private textOf (e: Expr) = if Syntax.sizeAtMost 64 e then Some(Print.expr e) else None

/// The text of `e + delta`, folding a trailing constant: `n - 1` shifted by -1 is `n - 2`.
let internal shifted (e: Expr) (delta: int64) =
    let withConst (x: Expr) (c: int64) =
        textOf x |> Option.map (fun t -> if c = 0L then t elif c > 0L then sprintf "%s + %d" t c else sprintf "%s - %d" t (-c))
    match e.Kind with
    | _ when delta = 0L -> textOf e
    | EInt c -> Some(string (c + delta))
    | EBinary (Add, x, { Kind = EInt c }) -> withConst x (c + delta)
    | EBinary (Sub, x, { Kind = EInt c }) -> withConst x (delta - c)
    | EVar _
    | ECall _ -> withConst e delta
    | _ -> textOf e |> Option.map (fun t -> if delta > 0L then sprintf "(%s) + %d" t delta else sprintf "(%s) - %d" t (-delta))

/// For a leg inside a one-variable loop that exists only for a contiguous run of the loop's values, the loop
/// that fits: `for i in 1..n-2`.
let private loopHint (f: ForClause) (okValues: int64 list) (badValues: int64 list) =
    match f.Binders, f.Filter with
    | [ b ], None when not okValues.IsEmpty ->
        let step = match b.Over.Step with None -> 1L | Some _ -> 0L
        let all = List.sort (okValues @ badValues)
        let ok = List.sort okValues
        let lo, hi = List.head ok, List.last ok
        // Only a plain ascending loop whose good values form one run: anything else has no single range to offer.
        let run = all |> List.filter (fun v -> v >= lo && v <= hi)
        if step = 1L && run.Length = ok.Length then
            let first, last = List.head all, List.last all
            match shifted b.Over.From (lo - first), shifted b.Over.To (hi - last) with
            | Some a, Some z -> Some(sprintf "change the loop to `for %s in %s..%s`, the values of %s for which this leg exists" b.Var.Name a z b.Var.Name)
            | _ -> None
        else
            None
    | _ -> None

/// The least and the greatest subscript in each of `dims` positions over a family's members.
let private bounds (members: int list list) dims =
    let lo, hi = Array.create dims Int32.MaxValue, Array.create dims Int32.MinValue
    for m in members do
        if m.Length = dims then m |> List.iteri (fun d v -> lo[d] <- min lo[d] v; hi[d] <- max hi[d] v)
    lo, hi

/// Whether subscripts lie within a family's bounds (the family then lacks them as a hole, not at an end).
let private inHole (lo: int array) (hi: int array) (subs: int list) =
    not subs.IsEmpty && subs.Length = lo.Length && subs |> List.mapi (fun d v -> lo[d] <= v && v <= hi[d]) |> List.forall id

/// The members of a one-subscript family (sorted subscripts) as the message of a miss names them: one run
/// `b[1]..b[7]`, a step `e[0..6 by 2]`, up to four runs `b[1]..b[3], b[5]..b[7]`, else a count between bounds.
let private declared1 (family: string) (vs: int list) =
    let first, last = List.head vs, List.last vs
    let one v = memberName family [ v ]
    let runs =
        vs
        |> List.fold (fun acc v ->
            match acc with
            | (a, b) :: rest when v = b + 1 -> (a, v) :: rest
            | _ -> (v, v) :: acc) []
        |> List.rev
    let steps = List.pairwise vs |> List.map (fun (a, b) -> b - a) |> List.distinct
    match runs, steps with
    | [ _ ], _ -> sprintf "`%s` is declared for %s..%s" family (one first) (one last)
    | _, [ step ] -> sprintf "`%s` is declared for %s[%d..%d by %d]" family family first last step
    | _ when runs.Length <= 4 ->
        let run (a, b) = if a = b then one a else sprintf "%s..%s" (one a) (one b)
        sprintf "`%s` is declared for %s" family (String.Join(", ", runs |> List.map run))
    | _ -> sprintf "`%s` has %d members between %s and %s" family vs.Length (one first) (one last)

/// Resolves leg keys to index ids and assembles the flat network.
let build (ctx: Ctx) (net: NetworkDecl) parameters : FlatNetwork * Elaborated =
    // The legs of one declaration share their family's name (the same string): its member table is looked up
    // once per run of such legs.
    let mutable lastName = Unchecked.defaultof<string>
    let mutable lastFamily = Unchecked.defaultof<MemberTable>
    // The provisional id of the index member a leg names.
    let find (k: LegKey) : Result<int, Miss> =
        let known =
            obj.ReferenceEquals(k.Family, lastName)
            || (match ctx.Indices.TryGetValue k.Family with
                | true, family ->
                    lastName <- k.Family
                    lastFamily <- family
                    true
                | _ -> false)
        if known then
            let family = lastFamily
            match family.TryGetValue k.Subs with
            | true, e -> Ok e
            | _ when ctx.Poisoned.Contains k.Family -> Result.Error Silent
            | _ ->
                let arity = family.Arity
                if arity <> k.Subs.Length then Result.Error(Arity arity) else Result.Error(OutOfRange family)
        elif ctx.Poisoned.Contains k.Family || ctx.Broken.Contains k.Family then Result.Error Silent
        else
            match ctx.EmptyFamilies.TryGetValue k.Family with
            | true, declared -> Result.Error(EmptyFamily declared)
            | _ -> Result.Error NoFamily
    // A loop value as `Origin.Loop` holds it.
    let loopList (v: int64 voption) = match v with ValueSome v -> [ v ] | ValueNone -> []
    // Misses are gathered by the place they are written (and the declaration they come from), then reported once:
    // the first miss in full, how many there were, and the loop values of a one-variable loop's misses (for the
    // loop hint). A million members that miss cost a count and a value each, not a record each.
    let misses = Dictionary<SourceRange, MissGroup>()
    let okAt = Dictionary<SourceRange, ResizeArray<int64 list>>()
    let note (k: LegKey) miss (origin: Origin option) (loop: int64 voption) siblings =
        let g =
            match misses.TryGetValue k.Range with
            | true, g ->
                g.Count <- g.Count + 1
                g
            | _ ->
                let g =
                    { First = (k, miss, origin |> Option.map (fun o -> { o with Loop = loopList loop }), siblings)
                      Count = 1
                      Loop = ResizeArray()
                      Low = Array.ofList k.Subs
                      High = Array.ofList k.Subs }
                misses[k.Range] <- g
                g
        if k.Subs.Length = g.Low.Length then
            k.Subs |> List.iteri (fun d v -> g.Low[d] <- min g.Low[d] v; g.High[d] <- max g.High[d] v)
        match loop with
        | ValueSome v -> g.Loop.Add v
        | ValueNone -> ()
    // A family whose range is empty is one mistake, reported at its first use only.
    let emptyReported = HashSet<SourceRange>()
    // Misses of members that a family's declaration leaves out between declared ones (a hole), by family and the
    // misses' extent: the places that name the same missing members, reported once, at the first.
    let holes = Dictionary<string, ResizeArray<SourceRange>>()
    // The places whose miss is reported with a changed loop as the fix.
    let loopHinted = HashSet<SourceRange>()
    let holeKey (group: MissGroup) =
        match group.First with
        | k, OutOfRange family, _, _ ->
            let lo, hi = bounds (List.ofSeq family.Keys) k.Subs.Length
            if inHole lo hi k.Subs && inHole lo hi (List.ofArray group.Low) && inHole lo hi (List.ofArray group.High) then
                Some(sprintf "%s|%s|%s|%d" k.Family (String.Join(",", group.Low)) (String.Join(",", group.High)) group.Count)
            else None
        | _ -> None
    let report (range: SourceRange) (group: MissGroup) =
        let k, miss, origin, siblings = group.First
        let more = if group.Count > 1 then sprintf " (and %d more member%s of this declaration)" (group.Count - 1) (if group.Count = 2 then "" else "s") else ""
        match miss with
        | Silent -> ()
        | EmptyFamily declared when not (emptyReported.Add declared) -> ()
        | NoFamily when ctx.IsTensorFamily k.Family ->
            ctx.Report(Codes.unknownIndex, range, sprintf "`%s` is a tensor, not an index" k.Family,
                [ sprintf "legs, `output` and the sides of a `cut` list indices: name the indices of `%s`'s legs instead" k.Family ])
        | NoFamily ->
            let hints = Suggest.hint k.Family ctx.Indices.Keys [ sprintf "declare it with `index %s%s: …`" k.Family (if k.Subs.IsEmpty then "" else "[…]") ]
            ctx.Report(Codes.unknownIndex, range, sprintf "no index named `%s` is declared" k.Family, hints)
        | EmptyFamily declared ->
            ctx.Report(Codes.memberOutOfRange, range,
                sprintf "`%s` is not declared: the declaration of `%s` (line %d) makes no members, as its loop's range is empty%s" (memberName k.Family k.Subs) k.Family declared.Start.Line more,
                [ "a range `a..b` counts up from a and is empty when a > b; to count down write `a..b by -1`" ])
        | Arity arity ->
            ctx.Report(Codes.subscriptCount, range, sprintf "`%s` has %d subscript%s, but %d %s given" k.Family arity (if arity = 1 then "" else "s") k.Subs.Length (if k.Subs.Length = 1 then "is" else "are"))
        | OutOfRange family ->
            let members = family.Keys |> Seq.toList
            let lo, hi = bounds members k.Subs.Length
            // The least and greatest subscript in each position, when the members fill that box (a grid family).
            let box =
                let cells = Seq.init k.Subs.Length (fun d -> max 0L (int64 hi[d] - int64 lo[d] + 1L)) |> Seq.fold (*) 1L
                if k.Subs.Length > 0 && cells = int64 members.Length then Some(lo, hi) else None
            let declaredText =
                match members, box with
                | [ one ], _ -> sprintf "`%s` has only the member %s" k.Family (memberName k.Family one)
                | _ when k.Subs.Length = 1 -> declared1 k.Family (members |> List.map List.head |> List.sort)
                | _, Some (lo, hi) ->
                    sprintf "`%s` is declared for %s[%s]" k.Family k.Family (String.Join(", ", Array.map2 (sprintf "%d..%d") lo hi))
                | _ when k.Subs.Length > 0 ->
                    sprintf "`%s` has %d members within %s[%s]" k.Family members.Length k.Family (String.Join(", ", Array.map2 (sprintf "%d..%d") lo hi))
                | _ -> sprintf "`%s` has %d members" k.Family members.Length
            // A member between declared ones is left out by its declaration (a filter or a step), not by the leg:
            // the hint names the declaration, and the other places that name the same missing members.
            let holeHint =
                if not (inHole lo hi k.Subs) then None
                else
                    let lines =
                        members
                        |> Seq.map (fun m -> match family.TryGetValue m with | true, e -> ctx.IndexOrder[e].Range.Start.Line | _ -> 0)
                        |> Seq.filter (fun l -> l > 0)
                        |> Seq.distinct
                        |> Seq.sort
                        |> List.ofSeq
                    let where =
                        match lines with
                        | [ l ] -> sprintf "the declaration of `%s` (line %d) leaves it out (its `if` filter or `by` step skips it)" k.Family l
                        | ls -> sprintf "the declarations of `%s` (lines %s) leave it out" k.Family (String.Join(", ", ls))
                    let also =
                        match holeKey group with
                        | Some key when holes[key].Count > 1 ->
                            let others = holes[key] |> Seq.filter (fun r -> r <> range) |> Seq.map (fun r -> sprintf "(%d,%d)" r.Start.Line r.Start.Col) |> List.ofSeq
                            sprintf "; the leg%s at %s name%s the same member%s" (if others.Length = 1 then "" else "s") (String.Join(", ", others))
                                (if others.Length = 1 then "s" else "") (if group.Count = 1 then "" else "s")
                        | _ -> ""
                    Some(sprintf "%s: declare it there, or add `if` to the leg to leave it out where it is missing%s" where also)
            let loopHint =
                match origin with
                | Some { For = Some f; Loop = [ _ ] } ->
                    let bad = List.ofSeq group.Loop
                    let ok =
                        match okAt.TryGetValue range with
                        | true, l -> l |> Seq.choose List.tryHead |> List.ofSeq
                        | _ -> []
                    loopHint f ok bad
                | _ -> None
            // Otherwise a neighbouring member, unless the tensor already has it (the shift would repeat a leg).
            let shiftHint () =
                match k.Subs, k.Exprs with
                | [ s ], [ e ] ->
                    [ 1; -1; 2; -2 ]
                    |> List.tryFind (fun delta ->
                        family.ContainsKey [ s + delta ]
                        && not (siblings |> List.exists (fun o -> o.Family = k.Family && o.Subs = [ s + delta ])))
                    |> Option.bind (fun delta -> shifted e (int64 delta))
                    |> Option.map (fun t -> sprintf "did you mean `%s[%s]`?" k.Family t)
                | _ -> None
            // Inside a loop over several variables (or one with gaps), the leg kept where it exists, when the family
            // fills a box: `h[x - 1, y] if x >= 1`, a bound for each position where the misses fall outside it.
            let conditionHint () =
                match origin, box with
                | Some { For = Some _ }, Some (lo, hi) when k.Subs.Length = k.Exprs.Length ->
                    // `e >= b` written on the variable when e is `x ± c`: `x - 1 >= 0` is `x >= 1`.
                    let bound (e: Expr) op (b: int) =
                        let text, b =
                            match e.Kind with
                            | EBinary (Add, x, { Kind = EInt c }) -> textOf x, int64 b - c
                            | EBinary (Sub, x, { Kind = EInt c }) -> textOf x, int64 b + c
                            | _ -> textOf e, int64 b
                        text |> Option.map (fun t -> sprintf "%s %s %d" t op b)
                    let conditions =
                        [ for d in 0 .. k.Subs.Length - 1 do
                              let e = List.item d k.Exprs
                              if group.Low[d] < lo[d] then bound e ">=" lo[d]
                              if group.High[d] > hi[d] then bound e "<=" hi[d] ]
                    let subscripts = k.Exprs |> List.map textOf
                    if conditions.IsEmpty || List.contains None (conditions @ subscripts) then None
                    else
                        Some(sprintf "if the leg belongs to some members only, keep it where it exists (bounds at these parameters): `%s[%s] if %s`"
                                k.Family (String.Join(", ", List.choose id subscripts)) (String.Join(" and ", List.choose id conditions)))
                | _ -> None
            if holeHint.IsNone && loopHint.IsSome then loopHinted.Add range |> ignore
            let hints =
                [ match holeHint, loopHint with
                  | Some h, _ -> h
                  | _, Some h -> h
                  | _, None ->
                      match conditionHint () with
                      | Some h -> h
                      | None -> match shiftHint () with Some h -> h | None -> () ]
            ctx.Report(Codes.memberOutOfRange, range, sprintf "`%s` is not declared: %s%s" (memberName k.Family k.Subs) declaredText more, hints)
    // Aliases from instance bindings: the sub-network's index is replaced by this network's.
    let alias = Dictionary<int, int>()
    for (inner, outer, range) in ctx.Aliases do
        match find inner, find outer with
        | Ok innerId, Ok outerId ->
            let i, o = ctx.IndexOrder[innerId], ctx.IndexOrder[outerId]
            if Dim.size i.Dim <> Dim.size o.Dim || Dim.isDynamic i.Dim <> Dim.isDynamic o.Dim then
                ctx.Report(Codes.bindingDimension, range, sprintf "`%s` has dimension %d but `%s` has dimension %d" (memberName inner.Family inner.Subs) (Dim.size i.Dim) (memberName outer.Family outer.Subs) (Dim.size o.Dim))
            else
                alias[innerId] <- outerId
        | Result.Error m, _ -> note inner m None ValueNone []
        | _, Result.Error m -> note outer m None ValueNone []
    let rec canonical (e: int) =
        match alias.TryGetValue e with
        | true, o when o <> e -> canonical o
        | _ -> e
    let resolve origin loop siblings (k: LegKey) : int voption =
        match find k with
        | Ok e -> ValueSome e
        | Result.Error m ->
            note k m origin loop siblings
            ValueNone
    // Index ids: the provisional ones (positions in declaration order) unless bindings merged indices away, in
    // which case the kept indices are numbered again and a merged one takes the id of the one it is bound to.
    let indices, finalId =
        if alias.Count = 0 then
            ctx.IndexOrder.Take(), id
        else
            let renumbered = Array.create ctx.IndexOrder.Count -1
            let kept = ResizeArray<FlatIndex>()
            for e in ctx.IndexOrder do
                if not (alias.ContainsKey e.Id) then
                    renumbered[e.Id] <- kept.Count
                    kept.Add { e with Id = kept.Count }
            kept.ToArray(), (fun (e: int) -> renumbered[canonical e])
    // The kept tensors, written in place over the declared ones (a kept tensor's id is at most its position): the
    // declared array is the flat network's when it is full and nothing is dropped.
    let written = ctx.Tensors.Take()
    // One range list per kept tensor: its count is the next tensor's id.
    let legRanges = ResizeArray<SourceRange list>(written.Length)
    // The members of one declaration have their legs written at the same places: one list of ranges serves them all.
    let mutable lastRanges: SourceRange list = []
    let rangesOf (legs: LegKey list) =
        let rec same (ks: LegKey list) (rs: SourceRange list) =
            match ks, rs with
            | [], [] -> true
            | k :: ks, r :: rs -> obj.ReferenceEquals(k.Range, r) && same ks rs
            | _ -> false
        if not (same legs lastRanges) then lastRanges <- legs |> List.map (fun k -> k.Range)
        lastRanges
    // The tensor at position `at` kept as declared when its id and legs are unchanged (nearly always), otherwise
    // rewritten.
    let keep (at: int) (legs: int array) ranges =
        let id = legRanges.Count
        let flat = &written[at]
        if flat.Id <> id || not (obj.ReferenceEquals(flat.Legs, legs)) then written[id] <- { flat with Id = id; Legs = legs }
        legRanges.Add ranges
    // Every leg is resolved (a miss is noted, in leg order) before the tensor is kept or dropped.
    let ids = ResizeArray<int>()
    // Tensors dropped for a leg that missed, where some tensor was declared twice: the place of the first miss.
    let dropped = Dictionary<string * int list, SourceRange>()
    for at in 0 .. written.Length - 1 do
        let t = ctx.Pending[at]
        if t.Resolved then
            // Found as the member was declared: only instance bindings may still replace an index.
            let legs = written[at].Legs
            keep at (if alias.Count = 0 then legs else legs |> Array.map finalId) t.LegRanges
        else
            ids.Clear()
            let origin = Some t.Origin
            let mutable all = true
            for k in t.Legs do
                match resolve origin t.Loop t.Legs k with
                | ValueSome e -> ids.Add(finalId e)
                | ValueNone ->
                    if all && ctx.DuplicateTensors.Count > 0 then
                        let flat = written[at]
                        dropped[(flat.Family, flat.Subscripts)] <- k.Range
                    all <- false
            if all then keep at (ids.ToArray()) (rangesOf t.Legs)
    // The legs that resolve, as ids and ranges (an output or cut may name 10^6 legs: arrays sized once for every
    // leg named, then the ids as a list). A slice's members are looked up by their subscripts, and a key is made only
    // for a member that is missing.
    let resolveAll (groups: LegGroup list) =
        let named =
            groups
            |> List.sumBy (function
                | OneLeg _ -> 1L
                | Slice (_, choices, _) -> choices |> List.fold (fun n c -> n * int64 c.Length) 1L)
        let ids = Array.zeroCreate<int> (int named)
        let ranges = Array.zeroCreate<SourceRange> (int named)
        let count = ref 0
        let found e (r: SourceRange) =
            ids[count.Value] <- finalId e
            ranges[count.Value] <- r
            count.Value <- count.Value + 1
        let add (k: LegKey) =
            match resolve None ValueNone [] k with
            | ValueSome e -> found e k.Range
            | ValueNone -> ()
        let mutable e = 0
        for g in groups do
            match g with
            | OneLeg k -> add k
            | Slice (family, choices, range) ->
                match ctx.Indices.TryGetValue family, choices with
                | (true, table), [ xs ] ->
                    for x in xs do
                        if table.TryFind1(x, &e) then found e range
                        else add { Family = family; Subs = ctx.One x; Range = range; Exprs = [] }
                | (true, table), [ xs; ys ] ->
                    for x in xs do
                        for y in ys do
                            if table.TryFind2(x, y, &e) then found e range
                            else add { Family = family; Subs = ctx.Two(x, y); Range = range; Exprs = [] }
                | _ ->
                    for k in sliceKeys ctx family choices range do
                        add k
        let mutable list = []
        for k in count.Value - 1 .. -1 .. 0 do
            list <- ids[k] :: list
        list, (if count.Value = ranges.Length then ranges else Array.sub ranges 0 count.Value)
    let tensors = if legRanges.Count < written.Length then Array.sub written 0 legRanges.Count else written
    let output, outputRanges, outputFamilies, hasOutput =
        match ctx.Output with
        | Some (keys, _) ->
            let ids, ranges = resolveAll keys
            let families = HashSet<string>()
            for g in keys do
                families.Add(match g with OneLeg k -> k.Family | Slice (family, _, _) -> family) |> ignore
            ids, ranges, Set.ofSeq families, true
        | None ->
            // With no `output`, the open legs are the indices used exactly once, in declaration order.
            let uses = Array.zeroCreate indices.Length
            for t in tensors do
                for l in t.Legs do
                    uses[l] <- uses[l] + 1
            let opens = indices |> Array.filter (fun i -> uses[i.Id] = 1) |> List.ofArray
            (opens |> List.map (fun i -> i.Id)), (opens |> Seq.map (fun i -> i.Range) |> Array.ofSeq), Set.empty, false
    let cuts, cutRanges =
        ctx.Cuts
        |> Seq.map (fun (name, l, r) ->
            let left, leftRanges = resolveAll l
            let right, rightRanges =
                match r with
                | Some r -> resolveAll r
                | None ->
                    // Flags per index, not a set: the left side may name half a million legs.
                    let used = Array.zeroCreate<bool> indices.Length
                    for l in left do
                        used[l] <- true
                    let rest = output |> List.filter (fun o -> not used[o])
                    rest, Array.create rest.Length name.Range
            { Name = name.Name
              Left = left
              Right = right
              Range = name.Range },
            (leftRanges, rightRanges))
        |> List.ofSeq
        |> List.unzip
    // For the loop hints: the loop values at which each leg that missed somewhere did resolve.
    if misses.Count > 0 then
        let resolvedAt (range: SourceRange) (t: PendingTensor) =
            match okAt.TryGetValue range with
            | true, l -> l.Add(loopList t.Loop)
            | _ -> okAt[range] <- ResizeArray [ loopList t.Loop ]
        for t in ctx.Pending do
            for k in t.Legs do
                if misses.ContainsKey k.Range && (find k).IsOk then resolvedAt k.Range t
            if t.Resolved then
                for range in t.LegRanges do
                    if misses.ContainsKey range then resolvedAt range t
    for KeyValue (range, group) in misses do
        match holeKey group with
        | Some key ->
            match holes.TryGetValue key with
            | true, places -> places.Add range
            | _ -> holes[key] <- ResizeArray [ range ]
        | None -> ()
    for places in holes.Values do
        places.Sort(fun a b -> compare (a.Start.Line, a.Start.Col) (b.Start.Line, b.Start.Col))
    for KeyValue (range, group) in misses do
        match holeKey group with
        | Some key when holes[key][0] <> range -> ()
        | _ -> report range group
    // A member declared by a loop that runs one too far and again on its own line (the last site of a chain): the
    // loop's leg that misses is reported with the loop that fits, which no longer makes the member, so the second
    // declaration is not a second mistake.
    for family, subs, twice in ctx.DuplicateTensors do
        match dropped.TryGetValue((family, subs)) with
        | true, missAt when loopHinted.Contains missAt -> ctx.Diagnostics.Remove twice |> ignore
        | _ -> ()
    let flat =
        { Name = net.Name.Name
          Parameters = parameters
          Tensors = tensors
          Indices = indices
          Output = output
          Cuts = cuts
          Range = net.Range }
    flat,
    { Network = flat
      LegRanges = legRanges.ToArray()
      OutputRanges = outputRanges
      CutLegRanges = cutRanges
      OutputFamilies = outputFamilies
      HasOutput = hasOutput
      Incomplete = ctx.HasErrors || ctx.MetReported || not ctx.Broken.IsEmpty || ctx.Poisoned.Count > 0
      LoopEdges = List.ofSeq ctx.LoopEdges }
