/// Checks on the elaborated network: how indices join tensors, what is open, what cuts and tied weights mean.
/// Every check reports at the most specific range it knows (the offending leg rather than the tensor).
module TnDsl.Check

open System
open System.Collections.Generic
open TnDsl.Elaboration

/// Diagnostic kinds of the check phase (TN0200–TN0299).
module Codes =
    /// A bond index on one tensor only and not in `output`.
    let dangling = Diagnostic.kind Level.Error "TN0200" "dangling bond"
    /// An ordinary index on more than two tensors.
    let overused = Diagnostic.kind Level.Error "TN0201" "index joins more than two tensors"
    /// The same index twice on one tensor.
    let repeatedLeg = Diagnostic.kind Level.Error "TN0202" "leg repeated on one tensor"
    /// An `output` leg that is not open: it already joins two tensors.
    let outputNotOpen = Diagnostic.kind Level.Error "TN0203" "output leg is not open"
    /// An open leg that `output` leaves out.
    let openMissing = Diagnostic.kind Level.Error "TN0204" "open leg missing from output"
    /// The same leg twice in `output`.
    let outputRepeated = Diagnostic.kind Level.Error "TN0205" "output leg listed twice"
    /// A cut naming a leg that is not an output leg.
    let cutNotOutput = Diagnostic.kind Level.Error "TN0206" "cut names a leg that is not an output"
    /// A cut whose sides overlap, leave legs out, or are empty.
    let cutNotPartition = Diagnostic.kind Level.Error "TN0207" "cut does not partition the output legs"
    /// Tensors sharing one parameter with different leg dimensions.
    let tiedShape = Diagnostic.kind Level.Error "TN0209" "shared weight used with different shapes"
    /// An embedding whose width differs from the input's last leg.
    let embedWidth = Diagnostic.kind Level.Error "TN0210" "embedding width does not match the leg"
    /// A `copy` or `identity` constant whose legs cannot hold it.
    let constShape = Diagnostic.kind Level.Error "TN0211" "constant does not fit its legs"
    /// An index that no tensor and no output uses.
    let unusedIndex = Diagnostic.kind Level.Warning "TN0212" "unused index"
    /// A network made of parts that share no index.
    let disconnected = Diagnostic.kind Level.Warning "TN0213" "network is disconnected"
    /// A tensor whose number of elements does not fit in 64 bits.
    let sizeOverflow = Diagnostic.kind Level.Error "TN0214" "tensor too large"
    /// A network with no tensors: there is nothing to contract.
    let empty = Diagnostic.kind Level.Error "TN0215" "network has no tensors"
    /// A `const` with no value.
    let constValue = Diagnostic.kind Level.Error "TN0216" "constant has no value"
    /// An `output` leg that no tensor carries.
    let outputOnNoTensor = Diagnostic.kind Level.Error "TN0217" "output leg is on no tensor"
    /// Members of one input family that differ in shape, batch legs or embedding (an input family is fed as one
    /// array).
    let inputFamilyShape = Diagnostic.kind Level.Error "TN0218" "input family members differ in shape"
    /// A parameter name used both by a weight and by a constant.
    let parameterRole = Diagnostic.kind Level.Error "TN0219" "parameter is both a weight and a constant"
    /// A hyperindex on one tensor only and not in `output`: that tensor is summed over it.
    let loneHyper = Diagnostic.kind Level.Warning "TN0220" "hyperindex on one tensor"
    /// A tensor loop that stops one member short (or starts one late): the member it leaves out is the one whose
    /// legs are on one tensor or none.
    let loopShort = Diagnostic.kind Level.Error "TN0221" "tensor loop leaves out a member"

let private plural n word = if n = 1 then sprintf "%d %s" n word else sprintf "%d %ss" n word

/// Runs every check and returns the diagnostics, in source order within each check.
let check (e: Elaborated) : Diagnostic list =
    let net = e.Network
    let diags = ResizeArray<Diagnostic>()
    let report kind range message hints =
        diags.Add({ Diagnostic.make kind range message with Hints = hints })
    let name (i: int) = net.Indices[i].Name
    // Every use of every index: (tensor id, leg position), in declaration order, held as one array sorted by index
    // with each index's first use at `start[i]` (a million indices cost no per-index lists).
    let start = Array.zeroCreate<int> (net.Indices.Length + 1)
    // A leg that repeats an earlier leg of its tensor is reported and left out of the uses (rare: kept in a set).
    let repeated = HashSet<struct (int * int)>()
    // The indices so reported: one on no other tensor is that mistake, not also a dangling bond.
    let repeatedIndices = HashSet<int>()
    for t in net.Tensors do
        let mutable k = 0
        let mutable seen: HashSet<int> = null
        // The repeated indices of this tensor: where each first repeats and how often it is listed (rare: made on need).
        let mutable repeats: Dictionary<int, struct (int * int)> = null
        for l in t.Legs do
            let again =
                if k >= 8 then
                    if isNull seen then seen <- HashSet<int>(ArraySegment(t.Legs, 0, k))
                    not (seen.Add l)
                else
                    // The legs before position k: a short scan.
                    let mutable found = false
                    for j in 0 .. k - 1 do
                        if t.Legs[j] = l then found <- true
                    found
            if again then
                repeated.Add(struct (t.Id, k)) |> ignore
                repeatedIndices.Add l |> ignore
                // One message per index, at its second place on the tensor, however often it repeats.
                if isNull repeats then repeats <- Dictionary<int, struct (int * int)>()
                match repeats.TryGetValue l with
                | true, struct (at, n) -> repeats[l] <- struct (at, n + 1)
                | _ -> repeats[l] <- struct (k, 2)
            else
                start[l + 1] <- start[l + 1] + 1
            k <- k + 1
        if not (isNull repeats) then
            for KeyValue (l, struct (at, n)) in repeats |> Seq.sortBy (fun (KeyValue (_, struct (at, _))) -> at) do
                let times = if n = 2 then "twice" else sprintf "%d times" n
                report Codes.repeatedLeg (e.LegRanges[t.Id][at]) (sprintf "`%s` appears %s on `%s`" (name l) times t.Name) [ "a tensor has one leg per index; a trace is written with a copy tensor" ]
    for i in 1 .. net.Indices.Length do
        start[i] <- start[i] + start[i - 1]
    let useTensor = Array.zeroCreate<int> start[net.Indices.Length]
    let next = Array.sub start 0 net.Indices.Length
    for t in net.Tensors do
        let mutable k = 0
        for l in t.Legs do
            if repeated.Count = 0 || not (repeated.Contains(struct (t.Id, k))) then
                useTensor[next[l]] <- t.Id
                next[l] <- next[l] + 1
            k <- k + 1
    let useCount i = start[i + 1] - start[i]
    // A use's leg position is found when a diagnostic needs it (not stored for a million indices): the first leg of
    // the tensor with that index, as a repeated leg is left out of the uses.
    let useAt i j =
        let t = useTensor[start[i] + j]
        t, Array.IndexOf(net.Tensors[t].Legs, i)
    let tensorAt i j = useTensor[start[i] + j]
    // How often each index is listed in `output`, counted up to 2 (a byte per index).
    let outputCount = Array.zeroCreate<byte> net.Indices.Length
    let mutable at = 0
    for o in net.Output do
        let r = e.OutputRanges[at]
        at <- at + 1
        if outputCount[o] < 2uy then outputCount[o] <- outputCount[o] + 1uy
        else outputCount[o] <- 3uy
        if outputCount[o] = 2uy then
            report Codes.outputRepeated r (sprintf "`%s` is listed twice in `output`" (name o)) []
    // Hyperindices on one tensor and not in `output`, in declaration order (reported per family below).
    let lone = ResizeArray<int>()
    // The indices on one tensor and not in `output` (dangling, or open and left out of `output`) and the output legs
    // on no tensor, with their diagnostics: kept only when some tensor loop could have left out the member they lack
    // (see `LoopEdge`).
    let orphans = Dictionary<int, Diagnostic>()
    let orphan (i: int) kind range message hints =
        report kind range message hints
        if not e.LoopEdges.IsEmpty then orphans[i] <- diags[diags.Count - 1]
    for i in net.Indices do
        let n = useCount i.Id
        let inOutput = outputCount[i.Id] > 0uy
        let legRange (t, k) = e.LegRanges[t][k]
        match i.Kind with
        | _ when n = 0 && inOutput && not e.Incomplete ->
            let r = e.OutputRanges[net.Output |> List.findIndex (fun o -> o = i.Id)]
            orphan i.Id Codes.outputOnNoTensor r (sprintf "`%s` is listed in `output`, but no tensor has it as a leg" i.Name) [ sprintf "add `%s` to the legs of the tensor it belongs to, or remove it from `output`" i.Name ]
        | Hyper ->
            if n = 0 && not inOutput && not e.Incomplete then report Codes.unusedIndex i.Range (sprintf "index `%s` is declared but never used" i.Name) []
            elif n = 1 && not inOutput && not e.Incomplete && not (repeatedIndices.Contains i.Id) then lone.Add i.Id
        | Bond ->
            if e.Incomplete && n <= 1 && not inOutput then
                ()
            elif n = 0 && not inOutput then
                report Codes.unusedIndex i.Range (sprintf "index `%s` is declared but never used" i.Name) []
            elif n > 2 then
                let (t, k) = useAt i.Id 2
                report Codes.overused (legRange (t, k)) (sprintf "`%s` is already on `%s` and `%s`; this third use needs a hyperindex" i.Name (net.Tensors[fst (useAt i.Id 0)].Name) (net.Tensors[fst (useAt i.Id 1)].Name)) [ sprintf "declare it `hyper index %s: …` if it is meant to join several tensors, or use a copy tensor" i.Family ]
            elif n = 2 && inOutput then
                let r = e.OutputRanges[net.Output |> List.findIndex (fun o -> o = i.Id)]
                report Codes.outputNotOpen r (sprintf "`%s` joins `%s` and `%s`, so it is not an open leg" i.Name (net.Tensors[fst (useAt i.Id 0)].Name) (net.Tensors[fst (useAt i.Id 1)].Name)) [ sprintf "remove it from `output`, or declare `hyper index %s` to keep it open" i.Family ]
            elif n = 1 && not inOutput && e.HasOutput && not (repeatedIndices.Contains i.Id) then
                let (t, k) = useAt i.Id 0
                if e.OutputFamilies.Contains i.Family then
                    orphan i.Id Codes.openMissing (legRange (t, k)) (sprintf "`%s` is open (only on `%s`) but `output` leaves it out" i.Name net.Tensors[t].Name) [ sprintf "add `%s` to `output`" i.Name ]
                else
                    orphan i.Id Codes.dangling (legRange (t, k)) (sprintf "`%s` is used only by `%s`: a bond needs two tensors, or it must be listed in `output`" i.Name net.Tensors[t].Name) [ sprintf "connect `%s` to another tensor, or add it to `output`" i.Name ]
    // A tensor loop one short leaves out the member at its end: that member's legs are each on one tensor and not in
    // `output`, or in `output` and on no tensor. One mistake: reported once, at the loop, with the loop that makes the member, in place
    // of the errors it explains (others stay).
    if orphans.Count > 0 then
        let indexOf = Dictionary<struct (string * int list), int>()
        for i in net.Indices do
            indexOf[struct (i.Family, i.Subscripts)] <- i.Id
        let declared = HashSet<struct (string * int list)>()
        for t in net.Tensors do
            declared.Add(struct (t.Family, t.Subscripts)) |> ignore
        let explained = HashSet<int>()
        for edge in e.LoopEdges do
            let ids =
                edge.Legs |> List.map (fun (family, subs) -> match indexOf.TryGetValue(struct (family, subs)) with | true, i -> i | _ -> -1)
            let fits =
                not (declared.Contains(struct (edge.Family, edge.Subscripts)))
                && not ids.IsEmpty
                && ids |> List.forall (fun i -> orphans.ContainsKey i && not (explained.Contains i))
                && (List.distinct ids).Length = ids.Length
            if fits then
                let at = ids |> List.map (fun i -> diags.FindIndex(fun d -> obj.ReferenceEquals(d, orphans[i]))) |> List.min
                for i in ids do
                    explained.Add i |> ignore
                    diags.RemoveAt(diags.FindIndex(fun d -> obj.ReferenceEquals(d, orphans[i])))
                let b = List.head edge.For.Binders
                let text (x: Syntax.Expr) = Build.shifted x 0L |> Option.defaultValue "…"
                let legs = ids |> List.map (fun i -> "`" + name i + "`")
                let legText =
                    match legs with
                    | [ one ] -> one
                    | _ -> String.Join(", ", List.take (legs.Length - 1) legs) + " and " + List.last legs
                let missing = memberName edge.Family edge.Subscripts
                let message =
                    sprintf "`%s` is not declared: the loop `for %s in %s..%s` %s at %d, leaving %s with one tensor or none" missing b.Var.Name
                        (text b.Over.From) (text b.Over.To) (if edge.AtStart then "starts" else "stops") (if edge.AtStart then edge.Value + 1L else edge.Value - 1L) legText
                let hint =
                    let from, upTo = (if edge.AtStart then Build.shifted b.Over.From -1L else Build.shifted b.Over.From 0L), (if edge.AtStart then Build.shifted b.Over.To 0L else Build.shifted b.Over.To 1L)
                    match from, upTo with
                    | Some a, Some z -> sprintf "change the loop to `for %s in %s..%s`" b.Var.Name a z
                    | _ -> sprintf "run the loop one further, to declare `%s`" missing
                diags.Insert(at, { Diagnostic.make Codes.loopShort edge.For.Range message with Hints = [ hint ] })
    // A hyperindex on one tensor sums that tensor over it: legal (a trace of one leg), but more often a leg meant to
    // be open or shared. Said once per family, at its declaration, naming its first such member.
    for _, members in lone |> Seq.groupBy (fun i -> net.Indices[i].Family) do
        let i = net.Indices[Seq.head members]
        let t = net.Tensors[tensorAt i.Id 0].Name
        let more = Seq.length members - 1
        let others = if more = 0 then "" else sprintf " (and %d more member%s of this declaration)" more (if more = 1 then "" else "s")
        report Codes.loneHyper i.Range (sprintf "hyperindex `%s` is used only by `%s` and is not in `output`, so `%s` is summed over it%s" i.Name t t others)
            [ sprintf "list `%s` in `output` to keep it open, or give it to the tensors it should join; to sum over it on purpose without this warning, join it to a constant of ones: `const ones: (%s) = 1`" i.Name i.Name ]
    // Cuts: both sides output legs, disjoint, together all of them, neither empty.
    // Sides are marked in arrays over the indices (a cut of a million legs costs no tree sets).
    let isOutput = Array.zeroCreate<bool> net.Indices.Length
    for o in net.Output do
        isOutput[o] <- true
    List.zip net.Cuts e.CutLegRanges
    |> List.iter (fun (c, (lr, rr)) ->
        let mutable bad = false
        // Each side's legs beside their ranges, walked together (a side may name a million legs: no zipped copies).
        for legs, ranges in [ c.Left, lr; c.Right, rr ] do
            let mutable at = 0
            for l in legs do
                let r: SourceRange = ranges[at]
                at <- at + 1
                if not isOutput[l] then
                    bad <- true
                    report Codes.cutNotOutput r (sprintf "cut `%s` names `%s`, which is not an output leg" c.Name (name l)) [ "a cut splits the output legs; list them in `output` first" ]
        if not bad then
            let side = Array.zeroCreate<byte> net.Indices.Length
            for l in c.Left do
                side[l] <- 1uy
            for r in c.Right do
                side[r] <- side[r] ||| 2uy
            let both = c.Left |> List.filter (fun l -> side[l] = 3uy) |> List.distinct
            let missing = net.Output |> List.filter (fun o -> side[o] = 0uy) |> List.distinct
            if not both.IsEmpty then
                report Codes.cutNotPartition c.Range (sprintf "cut `%s` puts %s on both sides" c.Name (String.Join(", ", both |> Seq.map name))) []
            // After an error a side may have lost legs that did not resolve (already reported): what it lacks is
            // then a consequence, not a second mistake.
            elif e.Incomplete then ()
            elif not missing.IsEmpty then
                report Codes.cutNotPartition c.Range (sprintf "cut `%s` leaves out %s" c.Name (String.Join(", ", missing |> Seq.truncate 6 |> Seq.map name))) [ "write `| rest` to put every other output leg on the right" ]
            elif c.Left.IsEmpty || c.Right.IsEmpty then
                report Codes.cutNotPartition c.Range (sprintf "cut `%s` has an empty side" c.Name) [])
    // Tensors and their values.
    // Sized once for every weight (a million weights would otherwise grow it twenty times).
    // Parameters are shared only through ties: without one, every tensor has a parameter of its own, and no
    // parameter name is written.
    let tied = net.Tensors |> Array.exists (fun t -> t.Tie.IsSome)
    let shapes = Dictionary<string, FlatTensor>(if tied then net.Tensors |> Array.sumBy (fun t -> if t.Role = Weight then 1 else 0) else 0)
    let dims (t: FlatTensor) = [ for l in t.Legs -> Dim.size net.Indices[l].Dim ]
    for t in net.Tensors do
        // In 64 bits while it fits (every tensor of a valid network), exactly only past that.
        let mutable small = 1L
        let mutable fits = true
        for l in t.Legs do
            if fits then
                let mutable low = 0L
                let high = Math.BigMul(small, Dim.size net.Indices[l].Dim, &low)
                if high <> (low >>> 63) then fits <- false else small <- low
        if not fits then
            // Exact up to 40 digits, else as a power of two: a tensor on 3,000 bonds of 2 would print 900 digits
            // (and multiplying them out is work that grows with the square of the legs).
            let bits = t.Legs |> Array.sumBy (fun l -> Math.Log2(float (Dim.size net.Indices[l].Dim)))
            let size =
                if bits < 130.0 then string (t.Legs |> Array.fold (fun acc l -> acc * bigint (Dim.size net.Indices[l].Dim)) 1I)
                else sprintf "about 2^%.0f" bits
            report Codes.sizeOverflow t.Range (sprintf "`%s` has %s elements, more than fit in 64 bits" t.Name size) [ "reduce its dimensions" ]
        if tied && t.Role = Weight then
            match shapes.TryGetValue t.Param with
            | true, first when dims first <> dims t ->
                report Codes.tiedShape t.Range (sprintf "`%s` shares parameter `%s` with `%s`, but its legs have dimensions (%s), not (%s)" t.Name t.Param first.Name (String.Join(", ", dims t)) (String.Join(", ", dims first))) []
            | true, _ -> ()
            | _ -> shapes[t.Param] <- t
        match t.Embedding with
        | Some _ when t.Legs.Length > 0 && Dim.isDynamic net.Indices[Array.last t.Legs].Dim ->
            let k = t.Legs.Length - 1
            report Codes.embedWidth (e.LegRanges[t.Id][k]) (sprintf "the embedding fills `%s`'s last leg, but `%s` is dynamic" t.Name (name (Array.last t.Legs))) [ "put the batch leg first and the feature leg last" ]
        | Some emb ->
            match Array.tryLast t.Legs with
            | Some last when Dim.size net.Indices[last].Dim <> int64 (Embedding.width emb) ->
                let k = t.Legs.Length - 1
                report Codes.embedWidth (e.LegRanges[t.Id][k]) (sprintf "`%s` makes %d features, but the last leg `%s` has dimension %d" (Embedding.show emb) (Embedding.width emb) (name last) (Dim.size net.Indices[last].Dim)) [ "the embedding fills an input's last leg" ]
            | None -> report Codes.embedWidth t.Range (sprintf "`%s` has an embedding but no legs" t.Name) []
            | _ -> ()
        | None -> ()
        if t.Role = Const then
            let ds = dims t
            match t.Init with
            | None -> report Codes.constValue t.Range (sprintf "`%s` is a constant but has no value" t.Name) [ "give one, e.g. `= copy` or `= identity`" ]
            | Some Copy when ds |> List.distinct |> List.length > 1 ->
                report Codes.constShape t.Range (sprintf "a copy tensor needs legs of equal dimension, but `%s` has (%s)" t.Name (String.Join(", ", ds))) []
            | Some Identity when ds.Length < 2 || List.rev ds <> ds ->
                report Codes.constShape t.Range (sprintf "an identity pairs its legs from the outside in (first with last, second with second-to-last, an odd middle leg free), so paired legs need equal dimensions, but `%s` has (%s)" t.Name (String.Join(", ", ds))) [ "order the legs as (a, b, b', a'), or (a, p, a') for a δ(a, a') on every p" ]
            | _ -> ()
    // An input family is fed as one array: every member has the same batch legs, shape and embedding.
    let isDyn l = Dim.isDynamic net.Indices[l].Dim
    let memberShape (t: FlatTensor) =
        let legs = if t.Embedding.IsSome && t.Legs.Length > 0 then Array.take (t.Legs.Length - 1) t.Legs else t.Legs
        (t.Legs |> Array.filter isDyn |> Array.length), (legs |> Array.filter (isDyn >> not) |> Array.map (fun l -> Dim.size net.Indices[l].Dim) |> List.ofArray), t.Embedding
    for _, members in net.Tensors |> Array.filter (fun t -> t.Role = Input) |> Array.groupBy (fun t -> t.Family) do
        let first = members[0]
        match members |> Array.tryFind (fun m -> memberShape m <> memberShape first) with
        | Some m ->
            report Codes.inputFamilyShape m.Range (sprintf "`%s` and `%s` are members of one input family but differ in shape, batch legs or embedding" first.Name m.Name) [ "an input family is fed as one array; give its members the same legs, or use two families" ]
        | None -> ()
    let constParams = if tied then net.Tensors |> Array.filter (fun t -> t.Role = Const) |> Array.map (fun t -> t.Param) |> HashSet else HashSet()
    match net.Tensors |> Array.tryFind (fun t -> t.Role = Weight && constParams.Count > 0 && constParams.Contains t.Param) with
    | Some t -> report Codes.parameterRole t.Range (sprintf "`%s` uses the parameter `%s`, which is also a constant's" t.Name t.Param) [ "name the shared weight differently" ]
    | None -> ()
    // Connectivity over tensors (a hyperindex or shared index joins them).
    if e.Incomplete then
        ()
    elif net.Tensors.Length = 0 then
        report Codes.empty net.Range (sprintf "network `%s` declares no tensors" net.Name) []
    // After an error above (a bond on one tensor only, an output leg no tensor has: most often a tensor left out),
    // parts that fall apart are its consequence, not a second mistake.
    elif Diagnostic.hasErrors diags then
        ()
    else
        // Union-find with path halving (iterative: a chain of a million tensors is as deep as it is long).
        let parent = Array.init net.Tensors.Length id
        let find x =
            let mutable x = x
            while parent[x] <> x do
                parent[x] <- parent[parent[x]]
                x <- parent[x]
            x
        for i in 0 .. net.Indices.Length - 1 do
            if useCount i > 1 then
                let r0 = find (tensorAt i 0)
                for j in 1 .. useCount i - 1 do
                    let r = find (tensorAt i j)
                    if r <> r0 then parent[r] <- r0
        // The parts, each named by its first tensor, in declaration order.
        let seenRoot = Array.zeroCreate<bool> net.Tensors.Length
        let firsts = ResizeArray<FlatTensor>()
        for t in net.Tensors do
            let r = find t.Id
            if not seenRoot[r] then
                seenRoot[r] <- true
                firsts.Add t
        if firsts.Count > 1 then
            let sample = firsts |> Seq.truncate 3 |> Seq.map (fun t -> "`" + t.Name + "`")
            report Codes.disconnected net.Range (sprintf "network `%s` falls into %s that share no index (e.g. %s); its value is a product of separate parts" net.Name (plural firsts.Count "part") (String.Join(", ", sample))) []
    List.ofSeq diags
