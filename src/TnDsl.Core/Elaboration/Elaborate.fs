/// Elaboration: evaluates parameters and `let`s, expands loops and families, instantiates sub-networks, and
/// resolves every leg to a concrete index, producing the flat network. It keeps going after an error (the failing
/// declaration member is dropped), so one run reports as many problems as it can.
module TnDsl.Elaborate

open System
open System.Collections.Generic
open TnDsl.Syntax

/// Diagnostic kinds of the elaboration phase (TN0100–TN0199).
module Codes =
    /// A name that is not a parameter, `let`, loop variable or function.
    let unknownName = Diagnostic.kind Level.Error "TN0100" "unknown name"
    /// A name declared twice in one scope.
    let duplicateName = Diagnostic.kind Level.Error "TN0101" "duplicate name"
    /// A `--set` or instance argument whose value has the wrong type for the parameter.
    let overrideType = Diagnostic.kind Level.Error "TN0102" "parameter value of the wrong type"
    /// A `--set` or instance argument for a parameter the network does not have.
    let unknownParameter = Diagnostic.kind Level.Error "TN0103" "unknown parameter"
    /// A parameter with no default and no value given.
    let missingParameter = Diagnostic.kind Level.Error "TN0104" "parameter has no value"
    /// Division or remainder by zero.
    let divisionByZero = Diagnostic.kind Level.Error "TN0105" "division by zero"
    /// A value of the wrong type: a float where an integer is needed, a number where a condition is needed.
    let typeMismatch = Diagnostic.kind Level.Error "TN0106" "type mismatch"
    /// An index dimension that is zero or negative.
    let badDimension = Diagnostic.kind Level.Error "TN0107" "dimension must be positive"
    /// A leg naming an index family that is not declared.
    let unknownIndex = Diagnostic.kind Level.Error "TN0109" "unknown index"
    /// A leg naming a family member outside the family's declared members.
    let memberOutOfRange = Diagnostic.kind Level.Error "TN0110" "index family member out of range"
    /// A family referenced with the wrong number of subscripts.
    let subscriptCount = Diagnostic.kind Level.Error "TN0111" "wrong number of subscripts"
    /// A loop or family larger than the expansion limit.
    let tooLarge = Diagnostic.kind Level.Error "TN0112" "family too large to expand"
    /// An instance of a network that is not declared or used.
    let unknownNetwork = Diagnostic.kind Level.Error "TN0114" "unknown network"
    /// A `require` whose condition is false.
    let requireFailed = Diagnostic.kind Level.Error "TN0115" "requirement not met"
    /// The same tensor family member declared twice.
    let duplicateTensor = Diagnostic.kind Level.Error "TN0116" "tensor declared twice"
    /// The same index family member declared twice.
    let duplicateIndex = Diagnostic.kind Level.Error "TN0117" "index declared twice"
    /// Integer arithmetic that overflows 64 bits.
    let overflow = Diagnostic.kind Level.Error "TN0118" "arithmetic overflow"
    /// A network that instantiates itself, directly or through others.
    let recursiveInstance = Diagnostic.kind Level.Error "TN0119" "recursive instantiation"
    /// An instance binding whose inner side is not an open leg of the sub-network.
    let badBinding = Diagnostic.kind Level.Error "TN0120" "binding does not name an open leg"
    /// A call of an unknown function, or with the wrong number of arguments.
    let badCall = Diagnostic.kind Level.Error "TN0121" "bad function call"
    /// A range whose step is zero.
    let badStep = Diagnostic.kind Level.Error "TN0122" "range step is zero"
    /// An initialiser or embedding that is unknown or has bad arguments.
    let badInit = Diagnostic.kind Level.Error "TN0123" "bad initialiser or embedding"
    /// A clause that does not apply to the declaration (`embed` on a weight, `init` on an input).
    let badClause = Diagnostic.kind Level.Error "TN0124" "clause does not apply here"
    /// More than one `output` declaration.
    let duplicateOutput = Diagnostic.kind Level.Error "TN0125" "output declared twice"
    /// An instance binding joining indices of different dimensions.
    let bindingDimension = Diagnostic.kind Level.Error "TN0126" "binding joins different dimensions"
    /// A parameter or `let` that nothing uses.
    let unusedName = Diagnostic.kind Level.Warning "TN0130" "unused name"

/// Limits that keep elaboration bounded on any input.
type Options =
    {
        /// The most tensors (and loop iterations per declaration) a network may expand to.
        MaxTensors: int
    }

/// The default limits: 10^6 tensors.
let defaultOptions = { MaxTensors = 1_000_000 }

/// Facts about the source that the flat network does not carry, for positioned checks.
type Elaborated =
    {
        Network: FlatNetwork
        /// For each tensor (by id), the range of each leg.
        LegRanges: SourceRange list array
        /// The range of each output leg, in order.
        OutputRanges: SourceRange list
        /// The range of each cut's legs (left side, right side), in cut order.
        CutLegRanges: (SourceRange list * SourceRange list) list
        /// Families that appear in `output` (their missing members are "open legs missing from output").
        OutputFamilies: Set<string>
        /// Whether the network declares `output`.
        HasOutput: bool
        /// Whether some declaration was dropped because of an error; checks that would only repeat its
        /// consequences (dangling bonds, disconnected parts) are then skipped.
        Incomplete: bool
    }

/// Where a sub-network declaration can be found: the declaration, by name.
type NetworkLookup = string -> NetworkDecl option

exception private Abort

type private Binding =
    { Value: Value
      Range: SourceRange
      Used: bool ref
      IsLoopVar: bool }

type private Env = Map<string, Binding>

type private IndexEntry =
    { mutable Id: int
      Family: string
      Subs: int list
      Dim: Dim
      Hyper: bool
      Range: SourceRange }

type private LegKey =
    { Family: string
      Subs: int list
      Range: SourceRange
      /// The subscript expressions, for hints (empty for slices).
      Exprs: Expr list }

type private PendingTensor =
    { Name: string
      Family: string
      Subs: int list
      Role: Role
      Param: string
      Legs: LegKey list
      Init: Init option
      Embedding: Embedding option
      Range: SourceRange }

/// Edit distance with adjacent transpositions (optimal string alignment), for "did you mean" hints.
let private distance (a: string) (b: string) =
    let d = Array2D.init (a.Length + 1) (b.Length + 1) (fun i j -> if i = 0 then j elif j = 0 then i else 0)
    for i in 1 .. a.Length do
        for j in 1 .. b.Length do
            let cost = if a[i - 1] = b[j - 1] then 0 else 1
            d[i, j] <- min (min (d[i - 1, j] + 1) (d[i, j - 1] + 1)) (d[i - 1, j - 1] + cost)
            if i > 1 && j > 1 && a[i - 1] = b[j - 2] && a[i - 2] = b[j - 1] then
                d[i, j] <- min d[i, j] (d[i - 2, j - 2] + 1)
    d[a.Length, b.Length]

/// The closest candidate to a misspelt name, if one is close enough.
let suggest (name: string) (candidates: string seq) =
    candidates
    |> Seq.map (fun c -> c, distance name c)
    |> Seq.filter (fun (c, dist) -> dist <= max 1 (name.Length / 3) && c <> name)
    |> Seq.sortBy snd
    |> Seq.tryHead
    |> Option.map fst

let private memberName (family: string) (subs: int list) =
    match subs with
    | [] -> family
    | _ -> sprintf "%s[%s]" family (String.Join(", ", subs))

let private typeName =
    function
    | VInt _ -> "int"
    | VFloat _ -> "float"
    | VBool _ -> "bool"

/// The state of one network's elaboration.
type private Ctx(options: Options, lookup: NetworkLookup, diagnostics: ResizeArray<Diagnostic>, stack: string list) =
    let indices = Dictionary<string, Dictionary<int list, IndexEntry>>()
    let indexOrder = ResizeArray<IndexEntry>()
    let tensors = ResizeArray<PendingTensor>()
    let tensorNames = HashSet<string>()
    let mutable output: (LegKey list * SourceRange) option = None
    let cuts = ResizeArray<Ident * LegKey list * LegKey list option>()
    // Instance bindings: (sub-network's index, as a prefixed family member) is the same as (this network's leg).
    let aliases = ResizeArray<LegKey * LegKey * SourceRange>()
    let subOutputs = HashSet<string * int list>()

    member _.Options = options
    member _.Lookup = lookup
    member _.Stack = stack
    member _.Diagnostics = diagnostics
    member _.Indices = indices
    member _.IndexOrder = indexOrder
    member _.Tensors = tensors
    member _.TensorNames = tensorNames
    member _.Cuts = cuts
    member _.Aliases = aliases
    member _.SubOutputs = subOutputs

    member _.Output
        with get () = output
        and set v = output <- v

    /// True once any error has been reported in this network.
    member _.HasErrors = Diagnostic.hasErrors diagnostics

    member _.Report(kind, range, message, ?hints: string list) =
        let d = Diagnostic.make kind range message
        diagnostics.Add({ d with Hints = defaultArg hints [] })

    /// Reports and abandons the current declaration member.
    member c.Fail(kind, range, message, ?hints: string list) : 'a =
        c.Report(kind, range, message, defaultArg hints [])
        raise Abort

// ---------------------------------------------------------------------------------------------------------
// Expressions

let private checkedOp (ctx: Ctx) (range: SourceRange) f =
    try
        f ()
    with :? OverflowException ->
        ctx.Fail(Codes.overflow, range, "this integer arithmetic overflows 64 bits")

let rec private eval (ctx: Ctx) (env: Env) (e: Expr) : Value =
    match e.Kind with
    | EInt n -> VInt n
    | EFloat f -> VFloat f
    | EBool b -> VBool b
    | EVar name ->
        match env.TryFind name with
        | Some b ->
            b.Used.Value <- true
            b.Value
        | None ->
            let hints =
                match suggest name (env |> Map.toSeq |> Seq.map fst) with
                | Some s -> [ sprintf "did you mean `%s`?" s ]
                | None -> []
            ctx.Fail(Codes.unknownName, e.Range, sprintf "`%s` is not a parameter, `let` or loop variable here" name, hints)
    | EUnary (Neg, x) ->
        match eval ctx env x with
        | VInt n -> checkedOp ctx e.Range (fun () -> VInt(Checked.(~-) n))
        | VFloat f -> VFloat(-f)
        | VBool _ -> ctx.Fail(Codes.typeMismatch, x.Range, "`-` needs a number, but this is a bool")
    | EUnary (Not, x) -> VBool(not (evalBool ctx env x))
    | EBinary (And, a, b) -> VBool(evalBool ctx env a && evalBool ctx env b)
    | EBinary (Or, a, b) -> VBool(evalBool ctx env a || evalBool ctx env b)
    | EBinary (op, a, b) ->
        let va = eval ctx env a
        let vb = eval ctx env b
        binary ctx e op (a, va) (b, vb)
    | EIf (c, a, b) -> if evalBool ctx env c then eval ctx env a else eval ctx env b
    | ECall (f, args) ->
        let vs = args |> List.map (fun a -> a, eval ctx env a)
        call ctx e f vs

and private binary ctx e op (a, va) (b, vb) =
    let num (x: Expr) v =
        match v with
        | VInt n -> float n
        | VFloat f -> f
        | VBool _ -> ctx.Fail(Codes.typeMismatch, x.Range, sprintf "`%s` needs numbers, but this is a bool" (binOpText op))
    match op, va, vb with
    | (Eq | Ne), VBool x, VBool y -> VBool((x = y) = (op = Eq))
    | (Eq | Ne | Lt | Le | Gt | Ge), _, _ ->
        // Integers compare exactly; a mixed comparison goes through float.
        let c =
            match va, vb with
            | VInt x, VInt y -> compare x y
            | _ -> compare (num a va) (num b vb)
        VBool(
            match op with
            | Eq -> c = 0
            | Ne -> c <> 0
            | Lt -> c < 0
            | Le -> c <= 0
            | Gt -> c > 0
            | _ -> c >= 0
        )
    | (Div | Mod), _, (VInt 0L | VFloat 0.0) ->
        ctx.Fail(Codes.divisionByZero, b.Range, sprintf "`%s` by zero: this evaluates to 0" (binOpText op))
    | _, VInt x, VInt y ->
        checkedOp ctx e.Range (fun () ->
            match op with
            | Add -> VInt(Checked.(+) x y)
            | Sub -> VInt(Checked.(-) x y)
            | Mul -> VInt(Checked.(*) x y)
            // Integer division rounds toward negative infinity, so `(n-1)/2` and `-1/2` behave like floor.
            | Div -> VInt(if (x % y <> 0L) && ((x < 0L) <> (y < 0L)) then x / y - 1L else x / y)
            | Mod -> VInt(((x % y) + y) % y)
            | Pow when y < 0L -> VFloat(Math.Pow(float x, float y))
            | Pow when x = 0L -> VInt(if y = 0L then 1L else 0L)
            | Pow when x = 1L -> VInt 1L
            | Pow when x = -1L -> VInt(if y % 2L = 0L then 1L else -1L)
            | Pow ->
                // |x| >= 2, so this overflows within 63 steps however large y is.
                let mutable acc = 1L
                for _ in 1L .. y do
                    acc <- Checked.(*) acc x
                VInt acc
            | _ -> failwith "unreachable")
    | _ ->
        let x, y = num a va, num b vb
        VFloat(
            match op with
            | Add -> x + y
            | Sub -> x - y
            | Mul -> x * y
            | Div -> x / y
            | Mod -> x - y * floor (x / y)
            | Pow -> Math.Pow(x, y)
            | _ -> failwith "unreachable"
        )

and private call ctx e (f: Ident) (args: (Expr * Value) list) =
    let num (x: Expr, v) =
        match v with
        | VInt n -> float n
        | VFloat v -> v
        | VBool _ -> ctx.Fail(Codes.typeMismatch, x.Range, sprintf "`%s` needs numbers, but this is a bool" f.Name)
    let arity n =
        if args.Length <> n then
            ctx.Fail(Codes.badCall, e.Range, sprintf "`%s` takes %d argument%s, not %d" f.Name n (if n = 1 then "" else "s") args.Length)
    match f.Name with
    | "min"
    | "max" ->
        if args.IsEmpty then ctx.Fail(Codes.badCall, e.Range, sprintf "`%s` needs at least one argument" f.Name)
        let isMin = f.Name = "min"
        if args |> List.forall (fun (_, v) -> v.IsVInt) then
            let ns = args |> List.map (fun (_, v) -> match v with VInt n -> n | _ -> 0L)
            VInt(if isMin then List.min ns else List.max ns)
        else
            let xs = args |> List.map num
            VFloat(if isMin then List.min xs else List.max xs)
    | "log2" ->
        arity 1
        match args.Head with
        | _, VInt n when n > 0L && (n &&& (n - 1L)) = 0L -> VInt(int64 (Numerics.BitOperations.Log2(uint64 n)))
        | a -> 
            let x = num a
            if x <= 0.0 then ctx.Fail(Codes.badCall, (fst a).Range, sprintf "`log2` needs a positive argument, got %g" x)
            VFloat(Math.Log2 x)
    | "sqrt" ->
        arity 1
        let x = num args.Head
        if x < 0.0 then ctx.Fail(Codes.badCall, (fst args.Head).Range, sprintf "`sqrt` of a negative number (%g)" x)
        VFloat(sqrt x)
    | "abs" ->
        arity 1
        match args.Head with
        | _, VInt n when n = Int64.MinValue -> ctx.Fail(Codes.overflow, e.Range, "this integer arithmetic overflows 64 bits")
        | _, VInt n -> VInt(abs n)
        | a -> VFloat(abs (num a))
    | "floor"
    | "ceil" ->
        arity 1
        match args.Head with
        | _, VInt n -> VInt n
        | a ->
            let x = num a
            let r = if f.Name = "floor" then floor x else ceil x
            if Double.IsNaN r || abs r > 9.2e18 then ctx.Fail(Codes.overflow, e.Range, "the result does not fit in 64 bits")
            VInt(int64 r)
    | name ->
        let known = [ "min"; "max"; "log2"; "sqrt"; "abs"; "floor"; "ceil" ]
        let hints =
            match suggest name known with
            | Some s -> [ sprintf "did you mean `%s`?" s ]
            | None -> [ "the functions are " + String.Join(", ", known) ]
        ctx.Fail(Codes.badCall, f.Range, sprintf "`%s` is not a function" name, hints)

and private evalBool ctx env (e: Expr) =
    match eval ctx env e with
    | VBool b -> b
    | v -> ctx.Fail(Codes.typeMismatch, e.Range, sprintf "a condition must be a bool, but this is %s %s" (if v.IsVInt then "an" else "a") (typeName v))

let private evalInt (ctx: Ctx) env (what: string) (e: Expr) =
    match eval ctx env e with
    | VInt n -> n
    | VFloat f ->
        ctx.Fail(Codes.typeMismatch, e.Range, sprintf "%s must be an integer, but this evaluates to %g" what f, [ "use `floor(...)` or `ceil(...)` to round" ])
    | VBool _ -> ctx.Fail(Codes.typeMismatch, e.Range, sprintf "%s must be an integer, but this is a bool" what)

let private evalFloat (ctx: Ctx) env (e: Expr) =
    match eval ctx env e with
    | VInt n -> float n
    | VFloat f -> f
    | VBool _ -> ctx.Fail(Codes.typeMismatch, e.Range, "a number is needed here, but this is a bool")

let private evalSubscript (ctx: Ctx) env (e: Expr) =
    let n = evalInt ctx env "a subscript" e
    if n > int64 Int32.MaxValue || n < int64 Int32.MinValue then
        ctx.Fail(Codes.overflow, e.Range, "this subscript does not fit in 32 bits")
    int n

/// The values of a range, refusing (rather than looping over) ranges longer than the limit.
let private rangeValues (ctx: Ctx) env (r: RangeExpr) =
    let a = evalInt ctx env "a range bound" r.From
    let b = evalInt ctx env "a range bound" r.To
    let step =
        match r.Step with
        | None -> 1L
        | Some s ->
            let v = evalInt ctx env "a range step" s
            if v = 0L then ctx.Fail(Codes.badStep, s.Range, "a range step cannot be zero")
            v
    let count =
        if step > 0L then (if b < a then 0I else (bigint b - bigint a) / bigint step + 1I)
        else (if b > a then 0I else (bigint a - bigint b) / bigint (-step) + 1I)
    if count > bigint ctx.Options.MaxTensors then
        ctx.Fail(Codes.tooLarge, r.Range, sprintf "this range has %O values, more than the limit of %d" count ctx.Options.MaxTensors)
    List.init (int count) (fun k -> a + int64 k * step)

/// Every environment a `for` clause produces, in order (first binder outermost), with an iteration budget.
let private expandFor (ctx: Ctx) (env: Env) (f: ForClause) : Env list =
    let budget = ref 0L
    let rec go env binders =
        match binders with
        | [] ->
            match f.Filter with
            | Some c when not (evalBool ctx env c) -> []
            | _ -> [ env ]
        | (b: Binder) :: rest ->
            rangeValues ctx env b.Over
            |> List.collect (fun v ->
                budget.Value <- budget.Value + 1L
                if budget.Value > int64 ctx.Options.MaxTensors then
                    ctx.Fail(Codes.tooLarge, f.Range, sprintf "this loop runs more than %d times, the expansion limit" ctx.Options.MaxTensors)
                let binding =
                    { Value = VInt v
                      Range = b.Var.Range
                      Used = ref true
                      IsLoopVar = true }
                go (env.Add(b.Var.Name, binding)) rest)
    go env f.Binders

/// Runs an action for each environment of an optional `for` clause; a failing member is dropped, the rest go on.
let private forEach (ctx: Ctx) env (f: ForClause option) (action: Env -> unit) =
    let envs =
        match f with
        | None -> [ env ]
        | Some f -> (try expandFor ctx env f with Abort -> [])
    for e in envs do
        try action e with Abort -> ()

// ---------------------------------------------------------------------------------------------------------
// Declarations

let private legKeys (ctx: Ctx) env (legs: Leg list) : LegKey list =
    legs
    |> List.collect (fun leg ->
        let keep =
            match leg.Cond with
            | Some c -> evalBool ctx env c
            | None -> true
        if not keep then
            []
        else
            let r = leg.Ref
            let choices =
                r.Subscripts
                |> List.map (function
                    | SAt e -> [ evalSubscript ctx env e ]
                    | SSlice range ->
                        rangeValues ctx env range
                        |> List.map (fun v -> if v > int64 Int32.MaxValue || v < int64 Int32.MinValue then ctx.Fail(Codes.overflow, range.Range, "subscript out of 32-bit range") else int v))
            let combos = choices |> List.fold (fun acc c -> acc * bigint (List.length c)) 1I
            if combos > bigint ctx.Options.MaxTensors then
                ctx.Fail(Codes.tooLarge, r.Range, sprintf "this slice names %O indices, more than the limit of %d" combos ctx.Options.MaxTensors)
            let rec product =
                function
                | [] -> [ [] ]
                | c :: rest -> [ for x in c do for tail in product rest -> x :: tail ]
            let isSlice = r.Subscripts |> List.exists (function SSlice _ -> true | _ -> false)
            let exprs = if isSlice then [] else r.Subscripts |> List.choose (function SAt e -> Some e | _ -> None)
            product choices
            |> List.map (fun subs -> { Family = r.Name.Name; Subs = subs; Range = r.Range; Exprs = exprs }))

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
                let hints =
                    match suggest other known with
                    | Some s -> [ sprintf "did you mean `%s`?" s ]
                    | None -> [ "initialisers are " + String.Join(", ", known) ]
                ctx.Fail(Codes.badInit, name.Range, sprintf "`%s` is not an initialiser" other, hints)
    go i

let private embeddingOf (ctx: Ctx) env (e: EmbedExpr) : Embedding =
    let ints = e.Args |> List.map (fun a -> a, evalInt ctx env "an embedding size" a)
    let one () =
        match ints with
        | [ (a, n) ] when n >= 1L && n <= 1_000_000L -> int n
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
        let hints =
            match suggest other known with
            | Some s -> [ sprintf "did you mean `%s`?" s ]
            | None -> [ "embeddings are onehot(d), trig, fourier(k), legendre(k)" ]
        ctx.Fail(Codes.badInit, e.Name.Range, sprintf "`%s` is not an embedding" other, hints)

let private bindName (ctx: Ctx) (env: Env) (id: Ident) (v: Value) (isLoop: bool) =
    match env.TryFind id.Name with
    | Some prev when not prev.IsLoopVar || isLoop ->
        ctx.Report(Codes.duplicateName, id.Range, sprintf "`%s` is already defined (at line %d)" id.Name prev.Range.Start.Line)
        env
    | _ ->
        env.Add(id.Name, { Value = v; Range = id.Range; Used = ref false; IsLoopVar = isLoop })

let private addIndex (ctx: Ctx) (entry: IndexEntry) =
    let family =
        match ctx.Indices.TryGetValue entry.Family with
        | true, f -> f
        | _ ->
            let f = Dictionary<int list, IndexEntry>(HashIdentity.Structural)
            ctx.Indices[entry.Family] <- f
            f
    match family.TryGetValue entry.Subs with
    | true, prev ->
        ctx.Report(Codes.duplicateIndex, entry.Range, sprintf "index `%s` is already declared (at line %d)" (memberName entry.Family entry.Subs) prev.Range.Start.Line)
    | _ ->
        let arity = family.Keys |> Seq.tryHead |> Option.map List.length
        match arity with
        | Some a when a <> entry.Subs.Length ->
            ctx.Report(Codes.subscriptCount, entry.Range, sprintf "`%s` was declared with %d subscript%s, here with %d" entry.Family a (if a = 1 then "" else "s") entry.Subs.Length)
        | _ ->
            family[entry.Subs] <- entry
            ctx.IndexOrder.Add entry

let rec private declare (ctx: Ctx) (env: Env) (prefix: string) (decls: Decl list) : Env =
    decls
    |> List.fold (fun env d ->
        try
            match d.Kind with
            | DLet (name, e) -> bindName ctx env name (eval ctx env e) false
            | DRequire (cond, message) ->
                if not (evalBool ctx env cond) then
                    ctx.Report(Codes.requireFailed, cond.Range, message)
                env
            | DIndex (hyper, name, subs, dim, f) ->
                forEach ctx env f (fun env ->
                    let subs = subs |> List.map (evalSubscript ctx env)
                    let dim =
                        match dim with
                        | DimOf e ->
                            let n = evalInt ctx env "a dimension" e
                            if n <= 0L then
                                ctx.Fail(Codes.badDimension, e.Range, sprintf "the dimension of `%s` evaluates to %d; it must be at least 1" (memberName name.Name subs) n)
                            Fixed n
                        | DimDynamic (nominal, _) ->
                            let n = nominal |> Option.map (evalInt ctx env "a nominal size") |> Option.defaultValue 1L
                            if n <= 0L then ctx.Fail(Codes.badDimension, d.Range, "a nominal size must be at least 1")
                            Dynamic n
                    addIndex ctx
                        { Id = -1
                          Family = prefix + name.Name
                          Subs = subs
                          Dim = dim
                          Hyper = hyper || Dim.isDynamic dim
                          Range = d.Range })
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
                forEach ctx env forClause (fun env ->
                    let subs = subs |> List.map (evalSubscript ctx env)
                    let tname = prefix + memberName name.Name subs
                    if not (ctx.TensorNames.Add tname) then
                        ctx.Fail(Codes.duplicateTensor, d.Range, sprintf "tensor `%s` is already declared" tname)
                    if ctx.TensorNames.Count > ctx.Options.MaxTensors then
                        ctx.Fail(Codes.tooLarge, d.Range, sprintf "the network has more than %d tensors, the expansion limit" ctx.Options.MaxTensors)
                    let keys = legKeys ctx env legs.Legs
                    let init = clauses |> List.tryPick (function CInit i -> Some(initOf ctx env i) | _ -> None)
                    let embedding = clauses |> List.tryPick (function CEmbed e when role = Input -> Some(embeddingOf ctx env e) | _ -> None)
                    let param =
                        match clauses |> List.tryPick (function CShared (n, _) -> Some n | _ -> None) with
                        | Some (Some (shared, [])) -> prefix + shared.Name
                        | Some (Some (shared, subs)) -> prefix + String.Join(".", shared.Name :: (subs |> List.map (evalSubscript ctx env >> string)))
                        | Some None -> prefix + name.Name
                        | None -> prefix + String.Join(".", name.Name :: (subs |> List.map string))
                    ctx.Tensors.Add
                        { Name = tname
                          Family = prefix + name.Name
                          Subs = subs
                          Role = role
                          Param = param
                          Legs = keys
                          Init = init
                          Embedding = embedding
                          Range = d.Range })
                env
            | DOutput legs ->
                match ctx.Output with
                | Some (_, r) when prefix = "" ->
                    ctx.Report(Codes.duplicateOutput, d.Range, sprintf "`output` is already declared at line %d" r.Start.Line)
                | _ -> ctx.Output <- Some(legKeys ctx env legs.Legs, d.Range)
                env
            | DCut (name, left, right) ->
                let l = legKeys ctx env left.Legs
                let r =
                    match right with
                    | CutRest _ -> None
                    | CutLegs ls -> Some(legKeys ctx env ls.Legs)
                if ctx.Cuts |> Seq.exists (fun (n, _, _) -> n.Name = name.Name) then
                    ctx.Report(Codes.duplicateName, name.Range, sprintf "a cut named `%s` is already declared" name.Name)
                else
                    ctx.Cuts.Add((name, l, r))
                env
            | DFor (f, body) ->
                forEach ctx env (Some f) (fun env -> declare ctx env prefix body |> ignore)
                env
            | DInstance (name, netName, args, bindings) ->
                instantiate ctx env prefix name netName args bindings d.Range
                env
        with Abort ->
            env) env

/// Elaborates a sub-network and copies its tensors and indices in under `name.`; bindings become aliases.
and private instantiate ctx env prefix (name: Ident) (netName: Ident) args bindings range =
    match ctx.Lookup netName.Name with
    | None ->
        ctx.Fail(Codes.unknownNetwork, netName.Range, sprintf "no network named `%s` is declared or used" netName.Name, [ "declare it in this file or bring it in with `use \"file.tn\"`" ])
    | Some _ when List.contains netName.Name ctx.Stack ->
        ctx.Fail(Codes.recursiveInstance, netName.Range, sprintf "`%s` instantiates itself (%s)" netName.Name (String.Join(" -> ", List.rev (netName.Name :: ctx.Stack))))
    | Some sub ->
        let values = args |> List.map (fun (a: Ident, e) -> a, eval ctx env e)
        let qual = prefix + name.Name + "."
        let subDiags = ResizeArray<Diagnostic>()
        let subCtx = Ctx(ctx.Options, ctx.Lookup, subDiags, netName.Name :: ctx.Stack)
        let flat = elaborateIn subCtx sub (values |> List.map (fun (a, v) -> a.Name, a.Range, v))
        // The sub-network's own errors are reported at the instance, naming where they arise.
        for d in subDiags do
            if Diagnostic.isError d then
                ctx.Report(d.Kind, range, sprintf "in instance `%s` of `%s`: %s (%s)" name.Name netName.Name d.Message (string d.Range))
        match flat with
        | None -> raise Abort
        | Some (net: FlatNetwork, _) ->
            let idOf = Dictionary<int, LegKey>()
            for i in net.Indices do
                let entry =
                    { Id = -1
                      Family = qual + i.Family
                      Subs = i.Subscripts
                      Dim = i.Dim
                      Hyper = (i.Kind = Hyper)
                      Range = range }
                addIndex ctx entry
                idOf[i.Id] <- { Family = entry.Family; Subs = entry.Subs; Range = range; Exprs = [] }
            for o in net.Output do
                let i = net.Indices[o]
                ctx.SubOutputs.Add((qual + i.Family, i.Subscripts)) |> ignore
            for t in net.Tensors do
                let tname = qual + t.Name
                if ctx.TensorNames.Add tname then
                    ctx.Tensors.Add
                        { Name = tname
                          Family = qual + t.Family
                          Subs = t.Subscripts
                          Role = t.Role
                          Param = qual + t.Param
                          Legs = t.Legs |> List.map (fun l -> idOf[l])
                          Init = t.Init
                          Embedding = t.Embedding
                          Range = range }
            for b in (bindings: Syntax.Binding list) do
                forEach ctx env b.For (fun env ->
                    let inner = legKeys ctx env [ { Ref = b.Inner; Cond = None; Range = b.Inner.Range } ]
                    let outer = legKeys ctx env [ { Ref = b.Outer; Cond = None; Range = b.Outer.Range } ]
                    if inner.Length <> outer.Length then
                        ctx.Fail(Codes.badBinding, b.Range, sprintf "the two sides name %d and %d indices" inner.Length outer.Length)
                    for i, o in List.zip inner outer do
                        let innerKey = { i with Family = qual + i.Family }
                        if not (ctx.SubOutputs.Contains((innerKey.Family, innerKey.Subs))) then
                            let opens = net.Output |> List.map (fun o -> net.Indices[o].Name)
                            ctx.Fail(Codes.badBinding, b.Inner.Range, sprintf "`%s` is not an open leg of `%s`" (memberName i.Family i.Subs) netName.Name, [ "its open legs are " + String.Join(", ", opens |> List.truncate 8) + (if opens.Length > 8 then ", …" else "") ])
                        ctx.Aliases.Add((innerKey, o, b.Range)))

/// Elaborates one network with parameter values given by name; None when it could not be built at all.
and private elaborateIn (ctx: Ctx) (net: NetworkDecl) (given: (string * SourceRange * Value) list) : (FlatNetwork * Elaborated) option =
    let declared = net.Params |> List.map (fun p -> p.Name.Name) |> Set.ofList
    for (name, range, _) in given do
        if not (declared.Contains name) then
            let hints =
                match suggest name declared with
                | Some s -> [ sprintf "did you mean `%s`?" s ]
                | None when declared.IsEmpty -> [ sprintf "`%s` has no parameters" net.Name.Name ]
                | None -> [ "its parameters are " + String.Join(", ", net.Params |> List.map (fun p -> p.Name.Name)) ]
            ctx.Report(Codes.unknownParameter, range, sprintf "`%s` has no parameter `%s`" net.Name.Name name, hints)
    let mutable env: Env = Map.empty
    let mutable ok = true
    let paramValues = ResizeArray<string * Value>()
    for p in net.Params do
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
                        ctx.Fail(Codes.overrideType, range, sprintf "parameter `%s` is %s, but the value given is %s %s" p.Name.Name (match p.Type with TInt -> "an int" | TFloat -> "a float" | TBool -> "a bool") (if v.IsVInt then "an" else "a") (typeName v))
                | None ->
                    match p.Default with
                    | Some e ->
                        match p.Type, eval ctx env e with
                        | TInt, (VInt _ as v)
                        | TBool, (VBool _ as v)
                        | TFloat, (VFloat _ as v) -> Some v
                        | TFloat, VInt n -> Some(VFloat(float n))
                        | _, v -> ctx.Fail(Codes.typeMismatch, e.Range, sprintf "the default of `%s` must be %A, but this is %s" p.Name.Name p.Type (typeName v))
                    | None ->
                        ctx.Fail(Codes.missingParameter, p.Range, sprintf "parameter `%s` has no default and no value was given" p.Name.Name, [ sprintf "pass one with `--set %s=…`" p.Name.Name ])
            with Abort ->
                None
        match value with
        | Some v ->
            env <- bindName ctx env p.Name v false
            paramValues.Add((p.Name.Name, v))
        | None -> ok <- false
    if not ok then
        None
    else
        let finalEnv = declare ctx env "" net.Body
        // Warn about parameters and top-level lets that nothing reads (loop variables and inner lets are not tracked).
        if ctx.Stack.Length <= 1 then
            for KeyValue (name, b) in finalEnv do
                if not b.Used.Value && not b.IsLoopVar then
                    ctx.Report(Codes.unusedName, b.Range, sprintf "`%s` is never used" name)
        Some(build ctx net (List.ofSeq paramValues))

/// Resolves leg keys to index ids and assembles the flat network.
and private build (ctx: Ctx) (net: NetworkDecl) parameters : FlatNetwork * Elaborated =
    // Aliases from instance bindings: the sub-network's index is replaced by this network's.
    let resolveRaw (k: LegKey) : IndexEntry option =
        match ctx.Indices.TryGetValue k.Family with
        | true, family ->
            match family.TryGetValue k.Subs with
            | true, e -> Some e
            | _ ->
                let arity = family.Keys |> Seq.head |> List.length
                if arity <> k.Subs.Length then
                    ctx.Report(Codes.subscriptCount, k.Range, sprintf "`%s` has %d subscript%s, but %d %s given" k.Family arity (if arity = 1 then "" else "s") k.Subs.Length (if k.Subs.Length = 1 then "is" else "are"))
                else
                    let members = family.Keys |> Seq.toList
                    let hints = ResizeArray<string>()
                    match k.Subs, k.Exprs with
                    | [ s ], [ e ] ->
                        for delta in [ 1; -1; 2; -2 ] do
                            if hints.Count = 0 && family.ContainsKey [ s + delta ] then
                                let shifted =
                                    match e.Kind with
                                    | EBinary (Add, x, { Kind = EInt c }) when c + int64 delta <> 0L -> sprintf "%s + %d" (Print.expr x) (c + int64 delta)
                                    | EBinary (Sub, x, { Kind = EInt c }) when int64 delta - c > 0L -> sprintf "%s + %d" (Print.expr x) (int64 delta - c)
                                    | EBinary (Sub, x, { Kind = EInt c }) when c - int64 delta <> 0L -> sprintf "%s - %d" (Print.expr x) (c - int64 delta)
                                    | EBinary ((Add | Sub), x, { Kind = EInt _ }) -> Print.expr x
                                    | _ when delta > 0 -> sprintf "%s + %d" (Print.expr e) delta
                                    | _ -> sprintf "%s - %d" (Print.expr e) (-delta)
                                hints.Add(sprintf "did you mean `%s[%s]`?" k.Family shifted)
                    | _ -> ()
                    let declaredText =
                        match members with
                        | [ one ] -> sprintf "`%s` has only the member %s" k.Family (memberName k.Family one)
                        | _ when k.Subs.Length = 1 ->
                            let vs = members |> List.map List.head
                            sprintf "`%s` is declared for %s..%s" k.Family (memberName k.Family [ List.min vs ]) (memberName k.Family [ List.max vs ])
                        | _ -> sprintf "`%s` has %d members" k.Family members.Length
                    ctx.Report(Codes.memberOutOfRange, k.Range, sprintf "`%s` is not declared: %s" (memberName k.Family k.Subs) declaredText, List.ofSeq hints)
                None
        | _ ->
            let hints =
                match suggest k.Family ctx.Indices.Keys with
                | Some s -> [ sprintf "did you mean `%s`?" s ]
                | None -> [ sprintf "declare it with `index %s%s: …`" k.Family (if k.Subs.IsEmpty then "" else "[…]") ]
            ctx.Report(Codes.unknownIndex, k.Range, sprintf "no index named `%s` is declared" k.Family, hints)
            None
    let alias = Dictionary<IndexEntry, IndexEntry>(HashIdentity.Reference)
    for (inner, outer, range) in ctx.Aliases do
        match resolveRaw inner, resolveRaw outer with
        | Some i, Some o ->
            if Dim.size i.Dim <> Dim.size o.Dim || Dim.isDynamic i.Dim <> Dim.isDynamic o.Dim then
                ctx.Report(Codes.bindingDimension, range, sprintf "`%s` has dimension %d but `%s` has dimension %d" (memberName inner.Family inner.Subs) (Dim.size i.Dim) (memberName outer.Family outer.Subs) (Dim.size o.Dim))
            else
                alias[i] <- o
        | _ -> ()
    let rec canonical (e: IndexEntry) =
        match alias.TryGetValue e with
        | true, o when not (obj.ReferenceEquals(o, e)) -> canonical o
        | _ -> e
    let resolve (k: LegKey) = resolveRaw k |> Option.map canonical
    let kept = ctx.IndexOrder |> Seq.filter (fun e -> not (alias.ContainsKey e)) |> Array.ofSeq
    kept |> Array.iteri (fun i e -> e.Id <- i)
    let indices =
        kept
        |> Array.map (fun e ->
            { Id = e.Id
              Name = memberName e.Family e.Subs
              Family = e.Family
              Subscripts = e.Subs
              Dim = e.Dim
              Kind = (if e.Hyper then Hyper else Bond)
              Range = e.Range })
    let tensors = ResizeArray<FlatTensor>()
    let legRanges = ResizeArray<SourceRange list>()
    for t in ctx.Tensors do
        let resolved = t.Legs |> List.map (fun k -> resolve k, k.Range)
        if resolved |> List.forall (fst >> Option.isSome) then
            tensors.Add
                { Id = tensors.Count
                  Name = t.Name
                  Family = t.Family
                  Subscripts = t.Subs
                  Role = t.Role
                  Param = t.Param
                  Legs = resolved |> List.map (fun (e, _) -> e.Value.Id)
                  Init = t.Init
                  Embedding = t.Embedding
                  Range = t.Range }
            legRanges.Add(resolved |> List.map snd)
    let resolveAll (keys: LegKey list) =
        keys |> List.choose (fun k -> resolve k |> Option.map (fun e -> e.Id, k.Range))
    let output, outputRanges, outputFamilies, hasOutput =
        match ctx.Output with
        | Some (keys, _) ->
            let r = resolveAll keys
            List.map fst r, List.map snd r, (keys |> List.map (fun k -> k.Family) |> Set.ofList), true
        | None ->
            // With no `output`, the open legs are the indices used exactly once, in declaration order.
            let uses = Array.zeroCreate indices.Length
            for t in tensors do
                for l in t.Legs do
                    uses[l] <- uses[l] + 1
            let opens = indices |> Array.filter (fun i -> uses[i.Id] = 1) |> List.ofArray
            (opens |> List.map (fun i -> i.Id)), (opens |> List.map (fun i -> i.Range)), Set.empty, false
    let cuts, cutRanges =
        ctx.Cuts
        |> Seq.map (fun (name, l, r) ->
            let left = resolveAll l
            let right =
                match r with
                | Some r -> resolveAll r
                | None ->
                    let used = left |> List.map fst |> Set.ofList
                    List.zip output outputRanges |> List.filter (fun (o, _) -> not (used.Contains o)) |> List.map (fun (o, _) -> o, name.Range)
            { Name = name.Name
              Left = List.map fst left
              Right = List.map fst right
              Range = name.Range },
            (List.map snd left, List.map snd right))
        |> List.ofSeq
        |> List.unzip
    let flat =
        { Name = net.Name.Name
          Parameters = parameters
          Tensors = tensors.ToArray()
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
      Incomplete = ctx.HasErrors }

/// Evaluates a parameter value given as text (`--set n=784`): an expression over literals.
let parseValue (text: string) : Result<Value, string> =
    match Parse.parseExpr "--set" text with
    | Result.Error ds -> Result.Error(ds |> List.map (fun d -> d.Message) |> String.concat "; ")
    | Result.Ok e ->
        let diags = ResizeArray()
        let ctx = Ctx(defaultOptions, (fun _ -> None), diags, [])
        try
            Result.Ok(eval ctx Map.empty e)
        with Abort ->
            Result.Error(diags |> Seq.map (fun d -> d.Message) |> String.concat "; ")

/// Elaborates a network with parameter values (name, where it was given, value). Returns the elaborated network when
/// one could be built (even with errors reported, so later phases may add what they find) and all diagnostics.
let elaborate (options: Options) (lookup: NetworkLookup) (net: NetworkDecl) (given: (string * SourceRange * Value) list) =
    let diags = ResizeArray<Diagnostic>()
    let ctx = Ctx(options, lookup, diags, [ net.Name.Name ])
    let result = elaborateIn ctx net given
    result |> Option.map snd, List.ofSeq diags
