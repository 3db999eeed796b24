/// Elaboration: evaluates parameters and `let`s, expands loops and families, instantiates sub-networks, and
/// resolves every leg to a concrete index, producing the flat network. It keeps going after an error (the failing
/// declaration member is dropped), and what depends on an erroneous declaration is dropped silently, so one
/// mistake gives one message. The steps live in `Elaboration` (state), `Evaluate` (expressions and loops) and
/// `Build` (resolution); this file walks the declarations.
module TnDsl.Elaborate

open System
open System.Collections.Generic
open TnDsl.Syntax
open TnDsl.Elaboration
open TnDsl.Evaluate

/// Diagnostic kinds of the elaboration phase (TN0100–TN0199); declared in `Elaboration.Codes`.
type Options = Elaboration.Options

/// The elaborated network with its source facts.
type Elaborated = Elaboration.Elaborated

/// The default limits: 10^6 tensors and 10^7 legs.
let defaultOptions = Elaboration.defaultOptions

/// The closest candidate to a misspelt name, if one is close enough (see `Suggest`).
let suggest (name: string) (candidates: string seq) = Suggest.closest name candidates

/// Expands a leg list to leg groups (a slice kept as its subscripts' values), counting each leg's members against
/// the limits before the next is expanded.
let private legGroups (ctx: Ctx) env (range: SourceRange) (legs: Leg list) : LegGroup list =
    let expanded =
        legs
        |> List.choose (fun leg ->
            let keep =
                match leg.Cond with
                | Some c -> evalBool ctx env c
                | None -> true
            if not keep then
                None
            else
                let r = leg.Ref
                let choices =
                    r.Subscripts
                    |> List.map (function
                        | SAt e -> [| evalSubscript ctx env e |]
                        | SSlice range ->
                            rangeValues ctx env range
                            |> Array.map (fun v -> if v > int64 Int32.MaxValue || v < int64 Int32.MinValue then ctx.Fail(Codes.overflow, range.Range, "subscript out of 32-bit range") else int v))
                // Each range is at most the limit long, so the product is checked after every factor within int64.
                let limit = int64 ctx.Options.MaxTensors
                let combos =
                    choices
                    |> List.fold (fun acc c ->
                        let n = acc * int64 c.Length
                        if n > limit then
                            ctx.Exhaust(r.Range, sprintf "this slice names more than %d indices, the limit" ctx.Options.MaxTensors)
                        n) 1L
                // Counted as each leg is expanded, not once for the list: every slice may be within the limit
                // while thousands of them together are far past it (their values made first would exhaust memory).
                ctx.CountLegs(range, combos)
                Some(r, choices, combos))
    expanded
    |> List.map (fun (r, choices, combos) ->
        let isSlice = r.Subscripts |> List.exists (function SSlice _ -> true | _ -> false)
        if isSlice then
            Slice(r.Name.Name, choices, r.Range)
        else
            let exprs = r.Subscripts |> List.choose (function SAt e -> Some e | _ -> None)
            let subs =
                match choices with
                | [ c ] -> ctx.One c[0]
                | _ -> choices |> List.map (fun c -> c[0])
            OneLeg { Family = r.Name.Name; Subs = subs; Range = r.Range; Exprs = exprs })

/// Expands a leg list to leg keys, counting the legs against the limits before they are made.
let private legKeys (ctx: Ctx) env (range: SourceRange) (legs: Leg list) : LegKey list =
    legGroups ctx env range legs
    |> List.collect (function
        | OneLeg k -> [ k ]
        | Slice (family, choices, r) -> sliceKeys ctx family choices r)

/// Evaluates subscripts in order; one or two (nearly all) without a closure per call, as this runs for every leg
/// and every member.
let private evalSubscripts (ctx: Ctx) env (exprs: Expr list) : int list =
    match exprs with
    | [] -> []
    | [ e ] -> ctx.One(evalSubscript ctx env e)
    | [ a; b ] ->
        let x = evalSubscript ctx env a
        ctx.Two(x, evalSubscript ctx env b)
    | _ -> exprs |> List.map (evalSubscript ctx env)

/// `evalSubscripts` through each subscript's `FastInt` form first (made for the loop's first member).
let private evalSubscriptsFast (ctx: Ctx) env (exprs: Expr list) (fast: FastInt array) : int list =
    match exprs with
    | [] -> []
    | [ e ] -> ctx.One(evalSubscriptFast ctx env fast[0] e)
    | [ a; b ] ->
        let x = evalSubscriptFast ctx env fast[0] a
        ctx.Two(x, evalSubscriptFast ctx env fast[1] b)
    | _ -> exprs |> List.mapi (fun k e -> evalSubscriptFast ctx env fast[k] e)

/// The `FastInt` forms of subscript expressions in `env`.
let private compileSubscripts env (exprs: Expr list) = exprs |> List.map (compileFast env 0) |> Array.ofList

/// A declaration's leg list with no slices (conditions allowed), each leg with its subscript expressions. Such lists
/// (nearly all of them) are expanded by `plainLegKeys`, once per family member, without `legKeys`' work.
type private PlainLegs(legs: (Leg * Expr list) array) =
    let rangeLists = Dictionary<int64, SourceRange list>()
    let scratch = Array.zeroCreate<int list> legs.Length
    let tables = Array.zeroCreate<MemberTable> legs.Length
    let mutable conditions: struct (BinOp * FastInt * FastInt) voption array = null
    let mutable subscripts: FastInt array array = null
    member _.Legs = legs
    /// Compiles the legs' conditions and subscripts for the members of one loop (see `FastInt`), before its first.
    member _.Compile(env: Env) =
        conditions <- legs |> Array.map (fun (leg, _) -> match leg.Cond with Some c -> compileCondition env c | None -> ValueNone)
        subscripts <- legs |> Array.map (fun (_, exprs) -> compileSubscripts env exprs)
    /// Each leg's compiled condition (see `Compile`).
    member _.Conditions = conditions
    /// Each leg's compiled subscripts (see `Compile`).
    member _.Subscripts = subscripts
    /// Each leg's index family table, once found (a family's table, once made, is never replaced).
    member _.Tables = tables
    /// One member's subscript lists, reused by the next member (a member is made before the next one starts).
    member _.Scratch = scratch
    /// The ranges of the legs kept (bit k set: leg k kept), one list per distinct set of legs kept.
    member _.Ranges(kept: int64) =
        match rangeLists.TryGetValue kept with
        | true, l -> l
        | _ ->
            let l = [ for k in 0 .. legs.Length - 1 do if kept &&& (1L <<< k) <> 0L then (fst legs[k]).Ref.Range ]
            rangeLists[kept] <- l
            l

/// The plain form of a leg list (see `PlainLegs`); None when a leg has a slice or there are more than 62 legs.
let private plainLegs (legs: Leg list) : PlainLegs option =
    let plain (leg: Leg) = leg.Ref.Subscripts |> List.forall (function SAt _ -> true | SSlice _ -> false)
    if legs.Length <= 62 && legs |> List.forall plain then
        Some(PlainLegs(legs |> List.map (fun leg -> leg, leg.Ref.Subscripts |> List.map (function SAt e -> e | SSlice r -> r.From)) |> Array.ofList))
    else None

/// `legKeys` for a plain leg list: conditions and subscripts evaluated in the same order, counted the same. When
/// every kept leg names an index member already declared, the members' provisional ids (and the kept legs' ranges)
/// are returned instead of keys: resolution in `Build` would find the same members, as the first declaration of a
/// member is kept.
let private plainLegKeys (ctx: Ctx) env (range: SourceRange) (plain: PlainLegs) : struct (bool * int array * SourceRange list * LegKey list) =
    let legs = plain.Legs
    // Null where a leg's condition is false (an empty subscript list is not null).
    let subsOf = plain.Scratch
    Array.Clear subsOf
    let mutable kept = 0L
    let mutable count = 0
    for k in 0 .. legs.Length - 1 do
        let leg, exprs = legs[k]
        let keep =
            match leg.Cond with
            | Some c -> evalBoolFast ctx env plain.Conditions[k] c
            | None -> true
        if keep then
            subsOf[k] <- evalSubscriptsFast ctx env exprs plain.Subscripts[k]
            kept <- kept ||| (1L <<< k)
            count <- count + 1
    ctx.CountLegs(range, int64 count)
    // The kept legs' ids, looked up in order (lookups report nothing).
    let ids = Array.zeroCreate<int> count
    let mutable found = true
    let mutable at = 0
    let mutable k = 0
    while found && k < legs.Length do
        if not (isNull (box subsOf[k])) then
            let family =
                match plain.Tables[k] with
                | null ->
                    match ctx.Indices.TryGetValue (fst legs[k]).Ref.Name.Name with
                    | true, family ->
                        plain.Tables[k] <- family
                        family
                    | _ -> null
                | family -> family
            if isNull family then found <- false
            else
                match family.TryGetValue subsOf[k] with
                | true, id ->
                    ids[at] <- id
                    at <- at + 1
                | _ -> found <- false
        k <- k + 1
    if found then
        struct (true, ids, plain.Ranges kept, [])
    else
        let keys =
            [ for k in 0 .. legs.Length - 1 do
                  if not (isNull (box subsOf[k])) then
                      let leg, exprs = legs[k]
                      { Family = leg.Ref.Name.Name; Subs = subsOf[k]; Range = leg.Ref.Range; Exprs = exprs } ]
        struct (false, Array.empty, [], keys)

/// The expressions an initialiser evaluates.
let private initExprs (i: InitExpr) : Expr list =
    let pending = Stack<InitExpr>([ i ])
    let found = ResizeArray<Expr>()
    while pending.Count > 0 do
        match pending.Pop().Kind with
        | ISum (a, b) ->
            pending.Push a
            pending.Push b
        | INumber e -> found.Add e
        | IName (_, args) -> found.AddRange args
    List.ofSeq found

/// A clause's value for each member of a declaration, evaluated once when it does not depend on the member
/// (`stable`) and its first evaluation reported nothing; otherwise evaluated per member, as before, so a clause
/// that fails still fails (and is reported) for every member it would have failed for.
type private PerMember<'T>(ctx: Ctx, stable: bool, evaluate: Env -> 'T) =
    let mutable cached: 'T voption = ValueNone
    member _.For(env: Env) : 'T =
        match cached with
        | ValueSome v -> v
        | ValueNone ->
            let before = ctx.Diagnostics.Count
            let v = evaluate env
            if stable && ctx.Diagnostics.Count = before then cached <- ValueSome v
            v

let private initOf (ctx: Ctx) env (i: InitExpr) : Init =
    let rec go (i: InitExpr) =
        match i.Kind with
        | ISum (a, b) -> Sum(go a, go b)
        | INumber e -> Constant(evalFloat ctx env e)
        | IName (name, args) ->
            let vals = args |> List.map (evalFloat ctx env)
            let need n =
                if vals.Length <> n then
                    ctx.Fail(Codes.badInit, i.Range, sprintf "`%s` takes %d argument%s, not %d" name.Name n (if n = 1 then "" else "s") vals.Length)
            match name.Name with
            | "normal" ->
                need 2
                if vals[1] < 0.0 then ctx.Fail(Codes.badInit, args[1].Range, "a standard deviation cannot be negative")
                Normal(vals[0], vals[1])
            | "uniform" ->
                need 2
                if vals[1] < vals[0] then ctx.Fail(Codes.badInit, i.Range, "`uniform(lo, hi)` needs lo <= hi")
                Uniform(vals[0], vals[1])
            | "identity" -> need 0; Identity
            | "copy" -> need 0; Copy
            | "orthogonal"
            | "isometric" -> need 0; Orthogonal
            | "auto" -> need 0; Auto
            | "zeros" -> need 0; Constant 0.0
            | "ones" -> need 0; Constant 1.0
            | other ->
                let known = [ "normal"; "uniform"; "identity"; "copy"; "orthogonal"; "isometric"; "auto"; "zeros"; "ones" ]
                ctx.Fail(Codes.badInit, name.Range, sprintf "`%s` is not an initialiser" other, Suggest.hint other known [ "initialisers are " + String.Join(", ", known) ])
    let init = go i
    // `auto` scales a whole tensor from the network around it, so it cannot be one term of a sum.
    match init with
    | Sum _ when (let rec hasAuto = function Auto -> true | Sum (a, b) -> hasAuto a || hasAuto b | _ -> false in hasAuto init) ->
        ctx.Fail(Codes.badInit, i.Range, "`auto` sets a tensor's whole scale and cannot be part of a sum")
    | _ -> init

let private embeddingOf (ctx: Ctx) env (e: EmbedExpr) : Embedding =
    let ints = e.Args |> List.map (fun a -> a, evalInt ctx env "an embedding size" a)
    let one () =
        match ints with
        | [ (_, n) ] when n >= 1L && n <= 1_000_000L -> int n
        | [ (a, n) ] -> ctx.Fail(Codes.badInit, a.Range, sprintf "`%s` needs a size from 1 to 10^6, got %d" e.Name.Name n)
        | _ -> ctx.Fail(Codes.badInit, e.Range, sprintf "`%s` takes one argument, the number of features" e.Name.Name)
    match e.Name.Name with
    | "onehot" -> OneHot(one ())
    | "fourier" -> Fourier(one ())
    | "legendre" -> Legendre(one ())
    | "trig" ->
        if not ints.IsEmpty then ctx.Fail(Codes.badInit, e.Range, "`trig` takes no arguments: it maps x to (cos(πx/2), sin(πx/2))")
        Trig
    | other ->
        let known = [ "onehot"; "trig"; "fourier"; "legendre" ]
        ctx.Fail(Codes.badInit, e.Name.Range, sprintf "`%s` is not an embedding" other, Suggest.hint other known [ "embeddings are onehot(d), trig, fourier(k), legendre(k)" ])

let private bindName (ctx: Ctx) (env: Env) (id: Ident) (v: Value option) (isLoop: bool) =
    match env.TryFind id.Name with
    | Some prev when not prev.IsLoopVar || isLoop ->
        ctx.Report(Codes.duplicateName, id.Range, sprintf "`%s` is already defined (at line %d)" id.Name prev.Range.Start.Line)
        env
    | _ -> env.Add(id.Name, { Value = v; Range = id.Range; Used = ref false; IsLoopVar = isLoop })

/// An index family's member table, made on first use.
let private familyTable (ctx: Ctx) (familyName: string) =
    match ctx.Indices.TryGetValue familyName with
    | true, f -> f
    | _ ->
        let f = MemberTable()
        ctx.Indices[familyName] <- f
        f

/// How many members the index declarations in `later` are expected to make, as far as their loops' ranges can be
/// worked out now (`knownMembers`, without a filter; at most four times the expansion limit): the rest
/// count as none. A network's index families, declared one after another, then fill one array sized once, not one
/// copied as each family reserves its size.
let private laterCount (ctx: Ctx) (env: Env) (later: Decl list) (members: Decl -> ForClause option voption) =
    let limit = int64 ctx.Options.MaxTensors
    // A filtered loop's members are not known ahead (it reserves none).
    let size (f: ForClause) =
        if f.Filter.IsSome then 0L
        else
            match knownMembers env limit f with
            | ValueSome n -> int64 (min n (bigint limit))
            | ValueNone -> 0L
    later
    |> List.sumBy (fun d ->
        match members d with
        | ValueSome (Some f) -> size f
        | ValueSome None -> 1L
        | ValueNone -> 0L)
    // Bounded: each loop is within the limit, but declarations that would not all be reached must not reserve more.
    |> min (4L * limit)
    |> int

/// `laterCount` for index declarations with a loop.
let private laterIndexCount (ctx: Ctx) (env: Env) (later: Decl list) =
    laterCount ctx env later (fun d ->
        match d.Kind with
        | DIndex (_, _, _, _, Some f) -> ValueSome(Some f)
        | _ -> ValueNone)

/// `laterCount` for tensor declarations (one member without a loop): the tensor array is then sized once for a
/// network's tensors, and handed on as it is when the estimate is exact (an MPS's first and last sites beside its
/// loop), not copied.
let private laterTensorCount (ctx: Ctx) (env: Env) (later: Decl list) =
    laterCount ctx env later (fun d ->
        match d.Kind with
        | DTensor (_, _, _, _, clauses) -> ValueSome(clauses |> List.tryPick (function CFor f -> Some f | _ -> None))
        | _ -> ValueNone)

/// Makes room for the members a declaration is expected to add (see `Ctx.Expected`) and for `later` more (the
/// index declarations after it, see `laterIndexCount`), before its first member.
let private reserveIndices (ctx: Ctx) (familyName: string) (later: int) =
    let n = ctx.Expected
    if n > 1 then
        (familyTable ctx familyName).EnsureCapacity n
        ctx.IndexOrder.Reserve(n + later)

/// Declares an index member (its provisional id is its position among the members declared).
let private addIndex (ctx: Ctx) (familyName: string) (subs: int list) (dim: Dim) (hyper: bool) (range: SourceRange) =
    let family = familyTable ctx familyName
    match family.TryGetValue subs with
    | true, prev ->
        ctx.Report(Codes.duplicateIndex, range, sprintf "index `%s` is already declared (at line %d)" (memberName familyName subs) ctx.IndexOrder[prev].Range.Start.Line)
    | _ ->
        match family.Arity with
        | a when a >= 0 && a <> subs.Length ->
            ctx.Report(Codes.subscriptCount, range, sprintf "`%s` was declared with %d subscript%s, here with %d" familyName a (if a = 1 then "" else "s") subs.Length)
        | _ ->
            let entry =
                { Id = ctx.IndexOrder.Count
                  Family = familyName
                  Subscripts = subs
                  Dim = dim
                  Kind = (if hyper then Hyper else Bond)
                  Range = range }
            family.Add(subs, entry.Id)
            ctx.IndexOrder.Add entry

/// The loop value a member of a one-variable loop was made with, for hints (`Build`'s loop hint is made for such
/// loops only); none for other members.
let private loopValue (env: Env) (f: ForClause option) =
    match f with
    | Some { Binders = [ b ] } ->
        match env.TryGetValue b.Var.Name with
        | true, { Value = Some (VInt v) } -> ValueSome v
        | _ -> ValueNone
    | _ -> ValueNone

/// The small fixed dimensions, made once: a million index members of one size share one value.
let private smallDims = Array.init 1025 (fun n -> Fixed(int64 n))

/// An index member's dimension. A bad dimension is reported once per dimension expression and value (the same
/// `chi` set to 0 on the command line breaks every family sized by it: one message names them all).
let private dimension (ctx: Ctx) env (name: Ident) subs (dim: DimExpr) (seen: Dictionary<string, Diagnostic ref * ResizeArray<string>>) =
    match dim with
    | DimOf e ->
        let n = evalInt ctx env "a dimension" e
        if n <= 0L then
            let key = sprintf "%s=%d" (if Syntax.sizeAtMost 64 e then Print.expr e else string e.Range) n
            match seen.TryGetValue key with
            | true, (_, families) ->
                if not (families.Contains name.Name) then families.Add name.Name
                raise Abort
            | _ ->
                let d = Diagnostic.make Codes.badDimension e.Range (sprintf "the dimension of `%s` evaluates to %d; it must be at least 1" (memberName name.Name subs) n)
                seen[key] <- (ref d, ResizeArray [ name.Name ])
                raise Abort
        if n < int64 smallDims.Length then smallDims[int n] else Fixed n
    | DimDynamic (nominal, _) ->
        let n = nominal |> Option.map (evalInt ctx env "a nominal size") |> Option.defaultValue 1L
        if n <= 0L then
            let r = match nominal with Some e -> e.Range | None -> name.Range
            ctx.Fail(Codes.badDimension, r, sprintf "a nominal size must be at least 1, but this is %d" n)
        Dynamic n

/// Notes the members one step past each end of a plain tensor loop (`for i in a..b`, no filter or step, legs without
/// conditions or slices) that made every member of its range (from `made` on in `ctx.Pending`), with the index
/// members their legs would name (see `LoopEdge`). Evaluated quietly: a value at which a subscript fails (a division
/// by zero past the end) makes no edge and no diagnostic.
let private loopEdges (ctx: Ctx) (env: Env) (family: string) (subs: Expr list) (legs: Leg list) (f: ForClause option) (made: int) =
    let plain = legs |> List.forall (fun l -> l.Cond.IsNone && l.Ref.Subscripts |> List.forall (function SAt _ -> true | SSlice _ -> false))
    match f with
    | Some ({ Binders = [ b ]; Filter = None } as f) when b.Over.Step.IsNone && plain && ctx.Pending.Count > made ->
        let mutable lo, hi = Int64.MaxValue, Int64.MinValue
        for k in made .. ctx.Pending.Count - 1 do
            match ctx.Pending[k].Loop with
            | ValueSome v ->
                lo <- min lo v
                hi <- max hi v
            | ValueNone -> ()
        if lo <= hi && hi - lo + 1L = int64 (ctx.Pending.Count - made) then
            for v, atStart in [ lo - 1L, true; hi + 1L, false ] do
                let reported = ctx.Diagnostics.Count
                let binding = { Value = Some(VInt v); Range = b.Var.Range; Used = ref true; IsLoopVar = true }
                let env = env.Add(b.Var.Name, binding)
                try
                    let tensorSubs = subs |> List.map (evalSubscript ctx env)
                    let legMembers =
                        legs |> List.map (fun l -> l.Ref.Name.Name, l.Ref.Subscripts |> List.map (function SAt e -> evalSubscript ctx env e | SSlice _ -> 0))
                    ctx.LoopEdges.Add
                        { Family = family
                          Subscripts = tensorSubs
                          Legs = legMembers
                          For = f
                          Value = v
                          AtStart = atStart }
                with Abort -> ()
                if ctx.Diagnostics.Count > reported then ctx.Diagnostics.RemoveRange(reported, ctx.Diagnostics.Count - reported)
    | _ -> ()

/// A sub-network elaboration, kept by network and arguments so that repeated instances are elaborated once.
type private SubResult = { Result: (FlatNetwork * Elaborated) option; Errors: Diagnostic list }

let rec private declare (ctx: Ctx) (env: Env) (prefix: string) (dims: Dictionary<string, Diagnostic ref * ResizeArray<string>>) (decls: Decl list) : Env =
    // Whether a loop of indices has made room for the later declarations' members (see `laterIndexCount`).
    let indicesReserved = ref false
    // Whether a loop of tensors has made room for the later declarations' members (see `laterTensorCount`).
    let tensorsReserved = ref false
    decls
    |> List.fold (fun env d ->
        try
            match d.Kind with
            | _ when ctx.Exhausted -> env
            | DLet (name, e) ->
                // A `let` that fails is still bound, as an erroneous value: its uses are then dropped quietly.
                let v = (try Some(eval ctx env e) with Abort -> None)
                bindName ctx env name v false
            | DRequire (cond, message) ->
                if not (evalBool ctx env cond) then
                    ctx.Report(Codes.requireFailed, cond.Range, message)
                    ctx.StopExpanding()
                env
            | DIndex (hyper, name, subs, dim, f) ->
                let family = prefix + name.Name
                let declEnv = env
                let mutable first = true
                let mutable fast = Array.empty
                let reported = ctx.Diagnostics.Count
                forEach ctx env f (fun env ->
                    if first then
                        first <- false
                        // The first loop of indices makes room for the later declarations' members as well (sized
                        // from the names bound before this loop, not its own variables).
                        let later =
                            if ctx.Expected > 1 && not indicesReserved.Value then
                                indicesReserved.Value <- true
                                laterIndexCount ctx declEnv (decls |> List.skipWhile (fun x -> not (obj.ReferenceEquals(x, d))) |> List.tail)
                            else 0
                        reserveIndices ctx family later
                        fast <- compileSubscripts env subs
                    try
                        let subs = evalSubscriptsFast ctx env subs fast
                        let dim = dimension ctx env name subs dim dims
                        addIndex ctx family subs dim (hyper || Dim.isDynamic dim) d.Range
                    with Abort ->
                        ctx.Poisoned.Add family |> ignore
                        raise Abort)
                // No member made: a range that failed (reported) makes the family's uses erroneous, not unknown; an
                // empty range is remembered, so that a use says why the member is missing.
                if first && not ctx.Exhausted && not (ctx.Indices.ContainsKey family) then
                    if ctx.Diagnostics.Count > reported then ctx.Poisoned.Add family |> ignore
                    else ctx.EmptyFamilies.TryAdd(family, d.Range) |> ignore
                env
            | DTensor (role, name, subs, legs, clauses) ->
                let forClause = clauses |> List.tryPick (function CFor f -> Some f | _ -> None)
                let role =
                    match role with
                    | KWeight -> Weight
                    | KInput -> Input
                    | KConst -> Const
                for c in clauses do
                    match c, role with
                    | CEmbed e, (Weight | Const) -> ctx.Report(Codes.badClause, e.Range, "only an `input` can have an embedding")
                    | CInit i, Input -> ctx.Report(Codes.badClause, i.Range, "an `input` is fed at run time and cannot have an initialiser")
                    | CShared (_, r), (Input | Const) -> ctx.Report(Codes.badClause, r, "only a `weight` can be shared")
                    | _ -> ()
                // What does not depend on the member is worked out once for the declaration (see `PerMember`).
                let plain = plainLegs legs.Legs
                let loopVars = forClause |> Option.map (fun f -> f.Binders |> List.map (fun b -> b.Var.Name)) |> Option.defaultValue []
                let initClause = clauses |> List.tryPick (function CInit i -> Some i | _ -> None)
                let embedClause = clauses |> List.tryPick (function CEmbed e when role = Input -> Some e | _ -> None)
                // A bad clause is reported, and the tensor kept without it: its legs still join the network.
                let clause f = (try f () with Abort -> None)
                let init =
                    PerMember(ctx, initClause |> Option.forall (initExprs >> mentions loopVars >> not),
                              fun env -> clause (fun () -> initClause |> Option.map (initOf ctx env)))
                let embedding =
                    PerMember(ctx, embedClause |> Option.forall (fun e -> not (mentions loopVars e.Args)),
                              fun env -> clause (fun () -> embedClause |> Option.map (embeddingOf ctx env)))
                // Outside a loop every member has the same origin; inside one, only the loop values differ.
                let origin = { Decl = d.Range; For = forClause; Loop = [] }
                let shared = clauses |> List.tryPick (function CShared (n, _) -> Some n | _ -> None)
                let family = prefix + name.Name
                // The tie when it is the same for every member (one value for the declaration).
                let fixedTie =
                    match shared with
                    | Some (Some (shared, [])) -> Some(prefix + shared.Name)
                    | Some None -> Some family
                    | _ -> None
                let declEnv = env
                let mutable first = true
                let mutable fast = Array.empty
                let madeBefore = ctx.Pending.Count
                let reportedBefore = ctx.Diagnostics.Count
                forEach ctx env forClause (fun env ->
                    if first then
                        first <- false
                        fast <- compileSubscripts env subs
                        plain |> Option.iter (fun p -> p.Compile env)
                        // With room for the later declarations' members: an array grown for one more tensor (an
                        // MPS's last site) would be copied, and copied again to its length at the end.
                        if ctx.Expected > 1 then
                            let later =
                                if tensorsReserved.Value then 0
                                else
                                    tensorsReserved.Value <- true
                                    laterTensorCount ctx declEnv (decls |> List.skipWhile (fun x -> not (obj.ReferenceEquals(x, d))) |> List.tail)
                            ctx.ReserveTensors(ctx.Expected + later)
                    let subs = evalSubscriptsFast ctx env subs fast
                    if not (ctx.AddTensorName(family, subs)) then
                        let twice = Diagnostic.make Codes.duplicateTensor d.Range (sprintf "tensor `%s` is already declared" (memberName family subs))
                        ctx.Diagnostics.Add twice
                        ctx.DuplicateTensors.Add((family, subs, twice))
                        raise Abort
                    let struct (resolved, ids, legRanges, keys) =
                        match plain with
                        | Some p -> plainLegKeys ctx env d.Range p
                        | None -> struct (false, Array.empty, [], legKeys ctx env d.Range legs.Legs)
                    ctx.CountTensor(d.Range)
                    let init = init.For env
                    let embedding = embedding.For env
                    let tie =
                        match shared with
                        | Some (Some (shared, (_ :: _ as subs))) -> Some(prefix + String.Join(".", shared.Name :: (subs |> List.map (evalSubscript ctx env >> string))))
                        | _ -> fixedTie
                    ctx.AddTensor(
                        { Id = ctx.Tensors.Count
                          Family = family
                          Subscripts = subs
                          Role = role
                          Tie = tie
                          Legs = ids
                          Init = init
                          Embedding = embedding
                          Range = d.Range },
                        { Resolved = resolved
                          Legs = keys
                          LegRanges = legRanges
                          Origin = origin
                          Loop = loopValue env forClause }))
                if ctx.Diagnostics.Count = reportedBefore then loopEdges ctx declEnv family subs legs.Legs forClause madeBefore
                env
            | DOutput legs ->
                match ctx.Output with
                | Some (_, r) when prefix = "" ->
                    ctx.Report(Codes.duplicateOutput, d.Range, sprintf "`output` is already declared at line %d" r.Start.Line)
                | _ -> ctx.Output <- Some(legGroups ctx env d.Range legs.Legs, d.Range)
                env
            | DCut (name, left, right) ->
                let l = legGroups ctx env d.Range left.Legs
                let r =
                    match right with
                    | CutRest _ -> None
                    | CutLegs ls -> Some(legGroups ctx env d.Range ls.Legs)
                if ctx.Cuts |> Seq.exists (fun (n, _, _) -> n.Name = name.Name) then
                    ctx.Report(Codes.duplicateName, name.Range, sprintf "a cut named `%s` is already declared" name.Name)
                else
                    ctx.Cuts.Add((name, l, r))
                env
            | DFor (f, body) ->
                forEach ctx env (Some f) (fun env -> declare ctx env prefix dims body |> ignore)
                env
            | DInstance (name, netName, args, bindings) ->
                instantiate ctx env prefix name netName args bindings d.Range
                env
            | DBroken _ -> env
        with Abort ->
            env) env

/// Elaborates a sub-network (once per network and arguments) and copies its tensors and indices in under
/// `name.`; bindings become aliases.
and private instantiate ctx env prefix (name: Ident) (netName: Ident) args bindings range =
    match ctx.Lookup netName.Name with
    | None when ctx.Broken.Contains netName.Name -> raise Abort
    | None ->
        ctx.Fail(Codes.unknownNetwork, netName.Range, sprintf "no network named `%s` is declared or used" netName.Name, [ "declare it in this file or bring it in with `use \"file.tn\"`" ])
    | Some _ when List.contains netName.Name ctx.Stack ->
        ctx.Fail(Codes.recursiveInstance, netName.Range, sprintf "`%s` instantiates itself (%s)" netName.Name (String.Join(" -> ", List.rev (netName.Name :: ctx.Stack))))
    | Some _ when ctx.Stack.Length >= maxInstanceDepth ->
        ctx.Exhaust(range, sprintf "instances nest more than %d deep" maxInstanceDepth)
    | Some sub ->
        let values = args |> List.map (fun (a: Ident, e) -> a, eval ctx env e)
        let qual = prefix + name.Name + "."
        let key = netName.Name + "(" + String.Join(", ", values |> List.map (fun (a, v) -> a.Name + "=" + string v)) + ")"
        let elaboration =
            match ctx.Memo.TryGetValue key with
            | true, e -> Some(e :?> SubResult)
            | _ -> None
        let done' =
            match elaboration with
            | Some e -> e
            | None ->
                let subDiags = ResizeArray<Diagnostic>()
                let subCtx = Ctx(ctx.Options, ctx.Lookup, subDiags, netName.Name :: ctx.Stack, ctx.Budget, ctx.Memo, brokenWords sub)
                let result = elaborateIn subCtx sub (values |> List.map (fun (a, v) -> a.Name, a.Range, v))
                let e = { Result = result; Errors = subDiags |> Seq.filter Diagnostic.isError |> List.ofSeq }
                ctx.Memo[key] <- box e
                // The sub-network's own errors are reported at the instance, naming where they arise (once: a
                // repeated instance with the same arguments adds nothing new).
                for d in e.Errors do
                    // One about the instance's own text (an argument it names) is reported there, as it is.
                    if d.Range.File = range.File && d.Range.Start.Offset >= range.Start.Offset && d.Range.End.Offset <= range.End.Offset then
                        ctx.Report(d.Kind, d.Range, sprintf "in instance `%s` of `%s`: %s" name.Name netName.Name d.Message, d.Hints)
                    else
                        ctx.Report(d.Kind, range, sprintf "in instance `%s` of `%s`: %s (%s)" name.Name netName.Name d.Message (string d.Range))
                e
        match done'.Result with
        | None -> raise Abort
        | Some _ when not done'.Errors.IsEmpty -> raise Abort
        | Some (net: FlatNetwork, _) ->
            ctx.CountCopy(range, net.Tensors.Length, net.Tensors |> Array.sumBy (fun t -> int64 t.Legs.Length))
            let idOf = Dictionary<int, LegKey>()
            for i in net.Indices do
                let family = qual + i.Family
                addIndex ctx family i.Subscripts i.Dim (i.Kind = Hyper) range
                idOf[i.Id] <- { Family = family; Subs = i.Subscripts; Range = range; Exprs = [] }
            for o in net.Output do
                let i = net.Indices[o]
                ctx.SubOutputs.Add((qual + i.Family, i.Subscripts)) |> ignore
            let origin = { Decl = range; For = None; Loop = [] }
            for t in net.Tensors do
                let family = qual + t.Family
                if ctx.AddTensorName(family, t.Subscripts) then
                    ctx.AddTensor(
                        { t with
                            Id = ctx.Tensors.Count
                            Family = family
                            Tie = t.Tie |> Option.map (fun p -> qual + p)
                            Legs = Array.empty
                            Range = range },
                        { Resolved = false
                          Legs = t.Legs |> Array.map (fun l -> idOf[l]) |> List.ofArray
                          LegRanges = []
                          Origin = origin
                          Loop = ValueNone })
            for b in (bindings: Syntax.Binding list) do
                forEach ctx env b.For (fun env ->
                    let inner = legKeys ctx env b.Range [ { Ref = b.Inner; Cond = None; Range = b.Inner.Range } ]
                    let outer = legKeys ctx env b.Range [ { Ref = b.Outer; Cond = None; Range = b.Outer.Range } ]
                    if inner.Length <> outer.Length then
                        ctx.Fail(Codes.badBinding, b.Range, sprintf "the two sides name %d and %d indices" inner.Length outer.Length)
                    for i, o in List.zip inner outer do
                        let innerKey = { i with Family = qual + i.Family }
                        if not (ctx.SubOutputs.Contains((innerKey.Family, innerKey.Subs))) then
                            let opens = net.Output |> List.map (fun o -> net.Indices[o].Name)
                            ctx.Fail(Codes.badBinding, b.Inner.Range, sprintf "`%s` is not an open leg of `%s`" (memberName i.Family i.Subs) netName.Name, [ "its open legs are " + String.Join(", ", opens |> List.truncate 8) + (if opens.Length > 8 then ", …" else "") ])
                        ctx.Aliases.Add((innerKey, o, b.Range)))

/// A default reads only the parameters before it: a name in it that is the parameter itself or one declared later
/// is reported as unknown (TN0100, at the name) saying so, rather than as a name that does not exist.
and private notLaterParameter (ctx: Ctx) (env: Env) (name: string) (later: string list) (e: Expr) =
    let pending = Stack<Expr>()
    pending.Push e
    let names = ResizeArray<Expr * string>()
    while pending.Count > 0 do
        let x = pending.Pop()
        match x.Kind with
        | EVar v when not (env.ContainsKey v) && (v = name || List.contains v later) -> names.Add((x, v))
        | _ -> pushOperands pending x
    // The first in the text, as the evaluator would meet it.
    if names.Count > 0 then
        let x, v = names |> Seq.minBy (fun (x, _) -> x.Range.Start.Line, x.Range.Start.Col)
        if v = name then
            ctx.Fail(Codes.unknownName, x.Range, sprintf "the default of `%s` cannot use `%s` itself" name name)
        else
            ctx.Fail(Codes.unknownName, x.Range, sprintf "`%s` is a parameter declared later: the default of `%s` can use only the parameters before it" v name,
                     [ sprintf "declare `%s` before `%s`" v name ])

/// Elaborates one network with parameter values given by name; None when it could not be built at all.
and private elaborateIn (ctx: Ctx) (net: NetworkDecl) (given: (string * SourceRange * Value) list) : (FlatNetwork * Elaborated) option =
    let declared = net.Params |> List.map (fun p -> p.Name.Name)
    for (name, range, _) in given do
        if not (List.contains name declared) then
            let otherwise =
                if declared.IsEmpty then [ sprintf "`%s` has no parameters" net.Name.Name ]
                else [ "its parameters are " + String.Join(", ", declared) ]
            ctx.Report(Codes.unknownParameter, range, sprintf "`%s` has no parameter `%s`" net.Name.Name name, Suggest.hint name declared otherwise)
    let mutable env: Env = Map.empty
    let mutable ok = true
    let paramValues = ResizeArray<string * Value>()
    for p, later in List.indexed net.Params |> List.map (fun (i, p) -> p, net.Params |> List.skip (i + 1) |> List.map (fun q -> q.Name.Name)) do
        let value =
            try
                match given |> List.tryFind (fun (n, _, _) -> n = p.Name.Name) with
                | Some (_, range, v) ->
                    match p.Type, v with
                    | TInt, VInt _
                    | TBool, VBool _
                    | TFloat, VFloat _ -> Some v
                    | TFloat, VInt n -> Some(VFloat(float n))
                    | _ ->
                        ctx.Fail(Codes.overrideType, range, sprintf "parameter `%s` is %s, but the value given is %s %s" p.Name.Name (typeWord p.Type) (if v.IsVInt then "an" else "a") (typeName v))
                | None ->
                    match p.Default with
                    | Some e ->
                        notLaterParameter ctx env p.Name.Name later e
                        match p.Type, eval ctx env e with
                        | TInt, (VInt _ as v)
                        | TBool, (VBool _ as v)
                        | TFloat, (VFloat _ as v) -> Some v
                        | TFloat, VInt n -> Some(VFloat(float n))
                        | _, v -> ctx.Fail(Codes.typeMismatch, e.Range, sprintf "the default of `%s` must be %s, but this is %s %s" p.Name.Name (typeWord p.Type) (if v.IsVInt then "an" else "a") (typeName v))
                    | None ->
                        // How to give one depends on where values come from: the compiler adds that hint.
                        ctx.Fail(Codes.missingParameter, p.Range, sprintf "parameter `%s` has no default and no value was given" p.Name.Name)
            with Abort ->
                None
        match value with
        | Some v ->
            env <- bindName ctx env p.Name (Some v) false
            paramValues.Add((p.Name.Name, v))
        | None -> ok <- false
    if not ok then
        None
    else
        let dims = Dictionary<string, Diagnostic ref * ResizeArray<string>>()
        let finalEnv = declare ctx env "" dims net.Body
        for KeyValue (_, (d, families)) in dims do
            let also = families |> Seq.skip 1 |> List.ofSeq
            let d = d.Value
            ctx.Diagnostics.Add(
                if also.IsEmpty then d
                else { d with Message = d.Message + sprintf " (the same dimension sizes %s)" (String.Join(", ", also |> List.map (sprintf "`%s`"))) })
        // Warn about parameters and top-level lets that nothing reads (loop variables and inner lets are not
        // tracked). After an error, what was read is not known (the failing member stopped early), so no warning.
        if ctx.Stack.Length <= 1 && not ctx.HasErrors && ctx.Broken.IsEmpty then
            let written = writtenNames net
            for KeyValue (name, b) in finalEnv do
                if not b.Used.Value && not b.IsLoopVar && not (written.Contains name) then
                    ctx.Report(Codes.unusedName, b.Range, sprintf "`%s` is never used" name)
        // Past an expansion limit or a failed `require` the network is partial: checking it would only report what is missing.
        if ctx.Exhausted then None else Some(Build.build ctx net (List.ofSeq paramValues))

/// The names a network's parameter defaults and declarations read in their expressions, evaluated or not: a name
/// written there is not "never used" although a loop of no members or a leg whose condition never holds left it
/// unread (`index h[x]: D for x in 0..L-2` at L = 1).
and private writtenNames (net: NetworkDecl) : HashSet<string> =
    let pending = Stack<Expr>()
    let expr (e: Expr) = pending.Push e
    let range (r: RangeExpr) =
        expr r.From
        expr r.To
        Option.iter expr r.Step
    let forClause (f: ForClause) =
        for b in f.Binders do range b.Over
        Option.iter expr f.Filter
    let indexRef (r: IndexRef) =
        for s in r.Subscripts do
            match s with
            | SAt e -> expr e
            | SSlice r -> range r
    let legs (l: LegList) =
        for leg in l.Legs do
            indexRef leg.Ref
            Option.iter expr leg.Cond
    let rec init (i: InitExpr) =
        match i.Kind with
        | IName (_, args) -> List.iter expr args
        | INumber e -> expr e
        | ISum (a, b) -> init a; init b
    let rec decl (d: Decl) =
        match d.Kind with
        | DLet (_, e)
        | DRequire (e, _) -> expr e
        | DIndex (_, _, subscripts, dim, f) ->
            List.iter expr subscripts
            match dim with
            | DimOf e -> expr e
            | DimDynamic (e, _) -> Option.iter expr e
            Option.iter forClause f
        | DTensor (_, _, subscripts, l, clauses) ->
            List.iter expr subscripts
            legs l
            for c in clauses do
                match c with
                | CFor f -> forClause f
                | CInit i -> init i
                | CEmbed e -> List.iter expr e.Args
                | CShared (s, _) -> s |> Option.iter (snd >> List.iter expr)
        | DOutput l -> legs l
        | DCut (_, l, side) ->
            legs l
            match side with
            | CutLegs l -> legs l
            | CutRest _ -> ()
        | DFor (f, body) ->
            forClause f
            List.iter decl body
        | DInstance (_, _, args, bindings) ->
            for _, e in args do expr e
            for b in bindings do
                indexRef b.Inner
                indexRef b.Outer
                Option.iter forClause b.For
        | DBroken _ -> ()
    for p in net.Params do Option.iter expr p.Default
    List.iter decl net.Body
    let names = HashSet<string>()
    while pending.Count > 0 do
        let e = pending.Pop()
        match e.Kind with
        | EVar name -> names.Add name |> ignore
        | _ -> pushOperands pending e
    names

/// The names mentioned by a network's declarations that failed to parse.
and private brokenWords (net: NetworkDecl) : Set<string> =
    let rec go (decls: Decl list) =
        decls
        |> List.collect (fun d ->
            match d.Kind with
            | DBroken words -> words
            | DFor (_, body) -> go body
            | _ -> [])
    Set.ofList (go net.Body)

/// Evaluates a parameter value given as text (`--set n=784`): an expression over literals.
let parseValue (text: string) : Result<Value, string> =
    match Parse.parseExpr "--set" text with
    | Result.Error ds -> Result.Error(ds |> List.map (fun d -> d.Message) |> String.concat "; ")
    | Result.Ok e ->
        // A value is evaluated with no names in scope, so a name in it is a word meant as a value (`True`, `yes`):
        // said so, rather than "not a parameter, `let` or loop variable here".
        let pending = Stack<Expr>()
        pending.Push e
        let mutable word = None
        while word.IsNone && pending.Count > 0 do
            let x = pending.Pop()
            match x.Kind with
            | EVar v -> word <- Some v
            | _ -> Syntax.pushOperands pending x
        match word with
        | Some v ->
            match v.ToLowerInvariant() with
            | "true" | "yes" | "on" -> Result.Error(sprintf "`%s` is not a value: write `true`" v)
            | "false" | "no" | "off" -> Result.Error(sprintf "`%s` is not a value: write `false`" v)
            | _ -> Result.Error(sprintf "`%s` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)" v)
        | None ->
            let diags = ResizeArray()
            let ctx = Ctx(defaultOptions, (fun _ -> None), diags, [], Budget defaultOptions, Dictionary(), Set.empty)
            try
                Result.Ok(eval ctx Map.empty e)
            with Abort ->
                Result.Error(diags |> Seq.map (fun d -> d.Message) |> String.concat "; ")

/// Elaborates a network with parameter values (name, where it was given, value). Returns the elaborated network when
/// one could be built (even with errors reported, so later phases may add what they find) and all diagnostics.
let elaborate (options: Options) (lookup: NetworkLookup) (net: NetworkDecl) (given: (string * SourceRange * Value) list) =
    let diags = ResizeArray<Diagnostic>()
    let ctx = Ctx(options, lookup, diags, [ net.Name.Name ], Budget options, Dictionary(), brokenWords net)
    let result = elaborateIn ctx net given
    result |> Option.map snd, List.ofSeq diags
