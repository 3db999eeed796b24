/// Evaluation of expressions, ranges and `for` clauses over parameters, `let`s and loop variables. The
/// evaluator keeps its own stack, so an expression as long as the input (a sum of a million terms, a million
/// nested `-`) costs memory in proportion, never the thread's stack.
module TnDsl.Evaluate

open System
open System.Collections.Generic
open TnDsl.Syntax
open TnDsl.Elaboration

let private checkedOp (ctx: Ctx) (range: SourceRange) f =
    try
        f ()
    with :? OverflowException ->
        ctx.Fail(Codes.overflow, range, "this integer arithmetic overflows 64 bits")

let private boolOf (ctx: Ctx) (e: Expr) (v: Value) =
    match v with
    | VBool b -> b
    | v -> ctx.Fail(Codes.typeMismatch, e.Range, sprintf "a condition must be a bool, but this is %s %s" (if v.IsVInt then "an" else "a") (typeName v))

let private binary (ctx: Ctx) (e: Expr) op (a: Expr, va) (b: Expr, vb) =
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

/// The built-in functions.
let functions = [ "min"; "max"; "log2"; "sqrt"; "abs"; "floor"; "ceil" ]

let private call (ctx: Ctx) (e: Expr) (f: Ident) (args: (Expr * Value) list) =
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
    | name -> ctx.Fail(Codes.badCall, f.Range, sprintf "`%s` is not a function" name, Suggest.hint name functions [ "the functions are " + String.Join(", ", functions) ])

/// What is left to do for an expression: evaluate it, or combine the values its operands left on the stack.
type private Step =
    | Eval of Expr
    | Unary of Expr
    | Binary of Expr
    /// The left operand of `and`/`or` is on the stack: short-circuit, or go on with the right one.
    | ShortCircuit of Expr
    /// The value on the stack must be a bool (the right operand of `and`/`or`).
    | AsBool of Expr
    /// The condition of `if` is on the stack: evaluate one branch.
    | Branch of Expr
    | Call of Expr * int

/// A name's value, marked as used. An unknown name is reported (with a suggestion); a name whose own definition
/// failed abandons the member silently, since that failure was already reported.
let private lookup (ctx: Ctx) (env: Env) (e: Expr) (name: string) : Value =
    match env.TryGetValue name with
    | true, b ->
        b.Used.Value <- true
        match b.Value with
        | Some v -> v
        | None -> raise Abort
    | _ when ctx.Broken.Contains name -> raise Abort
    | _ ->
        let hints = Suggest.hint name (env |> Map.toSeq |> Seq.map fst) []
        ctx.Fail(Codes.unknownName, e.Range, sprintf "`%s` is not a parameter, `let` or loop variable here" name, hints)

/// An expression the parser has already reported: the member is abandoned silently, and the network marked
/// incomplete (its completeness checks would only repeat the mistake).
let private reported (ctx: Ctx) : 'a =
    ctx.MeetReported()
    raise Abort

/// How deep the direct (recursive) evaluator goes before the expression is handed to the one with its own stack.
let private directDepth = 48

/// Evaluates a shallow expression by direct recursion, in the same order and with the same diagnostics as the
/// stack evaluator below; ValueNone (nothing reported) when the expression is deeper than `directDepth`. Nearly every
/// expression in a network (`i + 1`, `n - 1`, `chi`) is shallow, and this path allocates nothing for them.
let rec private direct (ctx: Ctx) (env: Env) (depth: int) (e: Expr) : Value voption =
    if depth > directDepth then ValueNone
    else
        match e.Kind with
        | EInt n -> ValueSome(VInt n)
        | EFloat f -> ValueSome(VFloat f)
        | EBool b -> ValueSome(VBool b)
        | EVar name -> ValueSome(lookup ctx env e name)
        | EError _ -> reported ctx
        | EUnary (Neg, x) ->
            match direct ctx env (depth + 1) x with
            | ValueSome (VInt n) -> ValueSome(checkedOp ctx e.Range (fun () -> VInt(Checked.(~-) n)))
            | ValueSome (VFloat f) -> ValueSome(VFloat(-f))
            | ValueSome (VBool _) -> ctx.Fail(Codes.typeMismatch, x.Range, "`-` needs a number, but this is a bool")
            | ValueNone -> ValueNone
        | EUnary (Not, x) ->
            match direct ctx env (depth + 1) x with
            | ValueSome v -> ValueSome(VBool(not (boolOf ctx x v)))
            | ValueNone -> ValueNone
        | EBinary ((And | Or) as op, a, b) ->
            match direct ctx env (depth + 1) a with
            | ValueNone -> ValueNone
            | ValueSome va ->
                let left = boolOf ctx a va
                if op = And && not left then ValueSome(VBool false)
                elif op = Or && left then ValueSome(VBool true)
                else
                    match direct ctx env (depth + 1) b with
                    | ValueSome vb -> ValueSome(VBool(boolOf ctx b vb))
                    | ValueNone -> ValueNone
        | EBinary (op, a, b) ->
            match direct ctx env (depth + 1) a with
            | ValueNone -> ValueNone
            | ValueSome va ->
                match direct ctx env (depth + 1) b with
                | ValueNone -> ValueNone
                | ValueSome vb -> ValueSome(binary ctx e op (a, va) (b, vb))
        | EIf (c, a, b) ->
            match direct ctx env (depth + 1) c with
            | ValueNone -> ValueNone
            | ValueSome vc -> direct ctx env (depth + 1) (if boolOf ctx c vc then a else b)
        | ECall (f, args) ->
            let rec all (acc: (Expr * Value) list) (rest: Expr list) =
                match rest with
                | [] -> ValueSome(List.rev acc)
                | a :: tail ->
                    match direct ctx env (depth + 1) a with
                    | ValueSome v -> all ((a, v) :: acc) tail
                    | ValueNone -> ValueNone
            match all [] args with
            | ValueSome vs -> ValueSome(call ctx e f vs)
            | ValueNone -> ValueNone

/// Evaluates an expression of any depth with explicit stacks (a million nested operators cost memory, not the
/// thread's stack).
let private evalDeep (ctx: Ctx) (env: Env) (root: Expr) : Value =
    let steps = Stack<Step>()
    let values = Stack<Value>()
    steps.Push(Eval root)
    while steps.Count > 0 do
        match steps.Pop() with
        | Eval e ->
            match e.Kind with
            | EInt n -> values.Push(VInt n)
            | EFloat f -> values.Push(VFloat f)
            | EBool b -> values.Push(VBool b)
            | EVar name -> values.Push(lookup ctx env e name)
            | EError _ -> values.Push(reported ctx)
            | EUnary (_, x) ->
                steps.Push(Unary e)
                steps.Push(Eval x)
            | EBinary ((And | Or), a, _) ->
                steps.Push(ShortCircuit e)
                steps.Push(Eval a)
            | EBinary (_, a, b) ->
                steps.Push(Binary e)
                steps.Push(Eval b)
                steps.Push(Eval a)
            | EIf (c, _, _) ->
                steps.Push(Branch e)
                steps.Push(Eval c)
            | ECall (_, args) ->
                steps.Push(Call(e, args.Length))
                for a in List.rev args do
                    steps.Push(Eval a)
        | Unary e ->
            match e.Kind with
            | EUnary (Neg, x) ->
                match values.Pop() with
                | VInt n -> values.Push(checkedOp ctx e.Range (fun () -> VInt(Checked.(~-) n)))
                | VFloat f -> values.Push(VFloat(-f))
                | VBool _ -> ctx.Fail(Codes.typeMismatch, x.Range, "`-` needs a number, but this is a bool")
            | EUnary (Not, x) -> values.Push(VBool(not (boolOf ctx x (values.Pop()))))
            | _ -> failwith "unreachable"
        | ShortCircuit e ->
            match e.Kind with
            | EBinary (op, a, b) ->
                let left = boolOf ctx a (values.Pop())
                if op = And && not left then values.Push(VBool false)
                elif op = Or && left then values.Push(VBool true)
                else
                    steps.Push(AsBool b)
                    steps.Push(Eval b)
            | _ -> failwith "unreachable"
        | AsBool e -> values.Push(VBool(boolOf ctx e (values.Pop())))
        | Binary e ->
            match e.Kind with
            | EBinary (op, a, b) ->
                let vb = values.Pop()
                let va = values.Pop()
                values.Push(binary ctx e op (a, va) (b, vb))
            | _ -> failwith "unreachable"
        | Branch e ->
            match e.Kind with
            | EIf (c, a, b) -> steps.Push(Eval(if boolOf ctx c (values.Pop()) then a else b))
            | _ -> failwith "unreachable"
        | Call (e, n) ->
            match e.Kind with
            | ECall (f, args) ->
                let vs = Array.init n (fun _ -> values.Pop()) |> Array.rev
                values.Push(call ctx e f (List.zip args (List.ofArray vs)))
            | _ -> failwith "unreachable"
    values.Pop()

/// Evaluates an expression. An unknown name is reported (with a suggestion); a name whose own definition failed
/// abandons the member silently, since that failure was already reported.
let eval (ctx: Ctx) (env: Env) (root: Expr) : Value =
    match direct ctx env 0 root with
    | ValueSome v -> v
    | ValueNone -> evalDeep ctx env root

/// `x op y` for `+ - * /` in 64 bits, ValueNone where it overflows or divides by zero (the cases `intFast` and
/// `runFast` leave to the general evaluator); division rounds toward negative infinity, as `binary` does.
let inline private arith (op: BinOp) (x: int64) (y: int64) : int64 voption =
    match op with
    | Add ->
        let r = x + y
        if ((x ^^^ r) &&& (y ^^^ r)) < 0L then ValueNone else ValueSome r
    | Sub ->
        let r = x - y
        if ((x ^^^ y) &&& (x ^^^ r)) < 0L then ValueNone else ValueSome r
    | Mul ->
        let mutable low = 0L
        let high = Math.BigMul(x, y, &low)
        if high <> (low >>> 63) then ValueNone else ValueSome low
    | _ when y = 0L || (x = Int64.MinValue && y = -1L) -> ValueNone
    | _ -> ValueSome(if (x % y <> 0L) && ((x < 0L) <> (y < 0L)) then x / y - 1L else x / y)

/// An integer expression of literals, names bound to integers, `-`, `+`, `-`, `*` and `/`, evaluated without
/// allocating: subscripts and dimensions (`i + 1`, `n - 1`, `chi`) are evaluated once per family member.
/// ValueNone, with nothing reported, for anything else and for whatever the general evaluator would refuse
/// (overflow, division by zero): it then evaluates the expression again and reports as it always does. Names are
/// marked used in the same order the general evaluator marks them, and never more of them.
let rec private intFast (env: Env) (depth: int) (e: Expr) : int64 voption =
    if depth > directDepth then ValueNone
    else
        match e.Kind with
        | EInt n -> ValueSome n
        | EVar name ->
            match env.TryGetValue name with
            | true, ({ Value = Some (VInt n) } as b) ->
                b.Used.Value <- true
                ValueSome n
            | _ -> ValueNone
        | EUnary (Neg, x) ->
            match intFast env (depth + 1) x with
            | ValueSome n when n <> Int64.MinValue -> ValueSome(-n)
            | _ -> ValueNone
        | EBinary ((Add | Sub | Mul | Div) as op, a, b) ->
            match intFast env (depth + 1) a with
            | ValueNone -> ValueNone
            | ValueSome x ->
                match intFast env (depth + 1) b with
                | ValueNone -> ValueNone
                | ValueSome y -> arith op x y
        | _ -> ValueNone

/// An integer expression as `intFast` evaluates it, with its names looked up once: a declaration's subscripts and
/// conditions are evaluated for each of up to 10^6 members, and looking a name up in the environment each time was a
/// tenth of elaboration. Valid while the bindings it names are the ones in scope: a loop's members all see the same
/// bindings (`forEachIn` sets one binding per loop variable for the whole loop).
type FastInt =
    | FConst of int64
    | FVar of Binding
    | FNeg of FastInt
    | FBin of BinOp * FastInt * FastInt
    /// Left to `intFast` and the general evaluator.
    | FSlow

/// `intFast`'s form of an expression in `env` (names looked up now).
let rec compileFast (env: Env) (depth: int) (e: Expr) : FastInt =
    if depth > directDepth then FSlow
    else
        match e.Kind with
        | EInt n -> FConst n
        | EVar name ->
            match env.TryGetValue name with
            | true, b -> FVar b
            | _ -> FSlow
        | EUnary (Neg, x) ->
            match compileFast env (depth + 1) x with
            | FSlow -> FSlow
            | f -> FNeg f
        | EBinary ((Add | Sub | Mul | Div) as op, a, b) ->
            match compileFast env (depth + 1) a, compileFast env (depth + 1) b with
            | FSlow, _
            | _, FSlow -> FSlow
            | fa, fb -> FBin(op, fa, fb)
        | _ -> FSlow

/// Evaluates a `FastInt` as `intFast` evaluates its expression (the same refusals), marking the names it reads
/// used when `mark` says so.
let rec private runFastMarking (mark: bool) (f: FastInt) : int64 voption =
    match f with
    | FConst n -> ValueSome n
    | FVar b ->
        match b.Value with
        | Some (VInt n) ->
            if mark then b.Used.Value <- true
            ValueSome n
        | _ -> ValueNone
    | FNeg x ->
        match runFastMarking mark x with
        | ValueSome n when n <> Int64.MinValue -> ValueSome(-n)
        | _ -> ValueNone
    | FBin (op, a, b) ->
        match runFastMarking mark a with
        | ValueNone -> ValueNone
        | ValueSome x ->
            match runFastMarking mark b with
            | ValueNone -> ValueNone
            | ValueSome y -> arith op x y
    | FSlow -> ValueNone

/// Evaluates a `FastInt` exactly as `intFast` evaluates its expression (the same names marked used, the same
/// refusals).
let runFast (f: FastInt) : int64 voption = runFastMarking true f

/// An integer expression's value where `intFast` would find it, with nothing reported and no name marked used:
/// for sizing tables ahead of the members that will evaluate it. Deep expressions (past `directDepth`) are left
/// out, as `compileFast` leaves them.
let quietInt (env: Env) (e: Expr) : int64 voption = runFastMarking false (compileFast env 0 e)

/// `x op y` for the comparisons `< <= > >= == !=` of two integers.
let inline private compareInts (op: BinOp) (x: int64) (y: int64) =
    match op with
    | Lt -> x < y
    | Le -> x <= y
    | Gt -> x > y
    | Ge -> x >= y
    | Eq -> x = y
    | _ -> x <> y

/// Evaluates a condition. A comparison of two integer expressions that `intFast` evaluates (a grid's `x > 0`,
/// `y < Ly - 1`, on every leg of every member) is decided without allocating; anything else goes to `eval`.
let evalBool (ctx: Ctx) env (e: Expr) =
    let fast =
        match e.Kind with
        | EBinary ((Lt | Le | Gt | Ge | Eq | Ne) as op, a, b) ->
            match intFast env 1 a with
            | ValueNone -> ValueNone
            | ValueSome x ->
                match intFast env 1 b with
                | ValueNone -> ValueNone
                | ValueSome y -> ValueSome(compareInts op x y)
        | _ -> ValueNone
    match fast with
    | ValueSome v -> v
    | ValueNone -> boolOf ctx e (eval ctx env e)

/// Evaluates an integer; `what` names it in the error ("a dimension").
let evalInt (ctx: Ctx) env (what: string) (e: Expr) =
    match intFast env 0 e with
    | ValueSome n -> n
    | ValueNone ->
        match eval ctx env e with
        | VInt n -> n
        | VFloat f when Double.IsInteger f && abs f < 1e15 ->
            // A whole number that is a float (from a `float` parameter, say): "evaluates to 3" would read as fine.
            ctx.Fail(Codes.typeMismatch, e.Range, sprintf "%s must be an integer, but this evaluates to the float %.1f" what f,
                     [ "declare the parameters it uses as `int`, or round with `floor(...)` or `ceil(...)`" ])
        | VFloat f ->
            ctx.Fail(Codes.typeMismatch, e.Range, sprintf "%s must be an integer, but this evaluates to %g" what f, [ "use `floor(...)` or `ceil(...)` to round" ])
        | VBool _ -> ctx.Fail(Codes.typeMismatch, e.Range, sprintf "%s must be an integer, but this is a bool" what)

/// Evaluates a number (an integer becomes a float).
let evalFloat (ctx: Ctx) env (e: Expr) =
    match eval ctx env e with
    | VInt n -> float n
    | VFloat f -> f
    | VBool _ -> ctx.Fail(Codes.typeMismatch, e.Range, "a number is needed here, but this is a bool")

/// Evaluates a subscript, which must fit in 32 bits.
let evalSubscript (ctx: Ctx) env (e: Expr) =
    let n = evalInt ctx env "a subscript" e
    if n > int64 Int32.MaxValue || n < int64 Int32.MinValue then
        ctx.Fail(Codes.overflow, e.Range, "this subscript does not fit in 32 bits")
    int n

/// `evalSubscript` through the expression's `FastInt` form first.
let evalSubscriptFast (ctx: Ctx) env (fast: FastInt) (e: Expr) =
    match runFast fast with
    | ValueSome n when n <= int64 Int32.MaxValue && n >= int64 Int32.MinValue -> int n
    | _ -> evalSubscript ctx env e

/// `intFast`'s form of a condition that compares two integer expressions; None for any other condition.
let compileCondition (env: Env) (e: Expr) : struct (BinOp * FastInt * FastInt) voption =
    match e.Kind with
    | EBinary ((Lt | Le | Gt | Ge | Eq | Ne) as op, a, b) ->
        match compileFast env 1 a, compileFast env 1 b with
        | FSlow, _
        | _, FSlow -> ValueNone
        | fa, fb -> ValueSome(struct (op, fa, fb))
    | _ -> ValueNone

/// `evalBool` through the condition's compiled form first (see `compileCondition`).
let evalBoolFast (ctx: Ctx) env (fast: struct (BinOp * FastInt * FastInt) voption) (e: Expr) =
    let decided =
        match fast with
        | ValueSome (struct (op, fa, fb)) ->
            match runFast fa with
            | ValueNone -> ValueNone
            | ValueSome x ->
                match runFast fb with
                | ValueNone -> ValueNone
                | ValueSome y -> ValueSome(compareInts op x y)
        | ValueNone -> ValueNone
    match decided with
    | ValueSome v -> v
    | ValueNone -> evalBool ctx env e

/// A range's first value, step and length, refusing (rather than looping over) ranges longer than the limit.
/// How many values `a..z by step` has (step ≠ 0), exactly.
let private rangeCount (a: int64) (z: int64) (step: int64) : bigint =
    if step > 0L then (if z < a then 0I else (bigint z - bigint a) / bigint step + 1I)
    else (if z > a then 0I else (bigint a - bigint z) / bigint (-step) + 1I)

let rangeBounds (ctx: Ctx) env (r: RangeExpr) =
    let a = evalInt ctx env "a range bound" r.From
    let b = evalInt ctx env "a range bound" r.To
    let step =
        match r.Step with
        | None -> 1L
        | Some s ->
            let v = evalInt ctx env "a range step" s
            if v = 0L then ctx.Fail(Codes.badStep, s.Range, "a range step cannot be zero")
            v
    let count = rangeCount a b step
    if count > bigint ctx.Options.MaxTensors then
        ctx.Exhaust(r.Range, sprintf "this range has %O values, more than the limit of %d" count ctx.Options.MaxTensors)
    a, step, int count

/// The values of a range.
let rangeValues (ctx: Ctx) env (r: RangeExpr) =
    let a, step, count = rangeBounds ctx env r
    Array.init count (fun k -> a + int64 k * step)

/// Binds a loop variable.
let loopBinding (b: Binder) (v: int64) =
    { Value = Some(VInt v)
      Range = b.Var.Range
      Used = ref true
      IsLoopVar = true }

/// Whether an expression list mentions one of `names` (loop variables): when it does not, its value is the same for
/// every member of the loop. Iterative, as expressions may be as deep as the input is long.
let mentions (names: string list) (exprs: Expr seq) =
    if names.IsEmpty then false
    else
        let pending = Stack<Expr>(exprs)
        let mutable found = false
        while not found && pending.Count > 0 do
            let x = pending.Pop()
            match x.Kind with
            | EVar n -> found <- List.contains n names
            | _ -> pushOperands pending x
        found

/// How many times a `for` clause's body runs (its filter aside), where that is known before any member is made:
/// every range's bounds (and step) found quietly (`quietInt`, nothing reported or marked used) and none depending
/// on the clause's own variables, each range within the limit (a longer one is reported at the range as it is
/// reached); ValueNone otherwise. For refusing a loop past the limit at once, and for sizing tables ahead of it.
let knownMembers (env: Env) (limit: int64) (f: ForClause) : bigint voption =
    let own = f.Binders |> List.map (fun b -> b.Var.Name)
    let count (r: RangeExpr) : bigint voption =
        if mentions own (r.From :: r.To :: Option.toList r.Step) then ValueNone
        else
            let step = match r.Step with None -> ValueSome 1L | Some s -> quietInt env s
            match quietInt env r.From, quietInt env r.To, step with
            | ValueSome a, ValueSome z, ValueSome s when s <> 0L ->
                let n = rangeCount a z s
                if n > bigint limit then ValueNone else ValueSome n
            | _ -> ValueNone
    f.Binders |> List.fold (fun total b ->
        match total with
        | ValueSome t -> (match count b.Over with ValueSome n -> ValueSome(t * n) | ValueNone -> ValueNone)
        | ValueNone -> ValueNone) (ValueSome 1I)

/// Runs `action` for every environment a `for` clause produces, in order (first binder outermost), counting
/// iterations against the limit before running them. A failing member is dropped (`action` raises `Abort`) and
/// the others go on; a failing range or filter drops what depends on it.
let forEachIn (ctx: Ctx) (env: Env) (f: ForClause) (action: Env -> unit) =
    // Members (innermost iterations) count against the limit; all iterations, outer ones included, against twice
    // it, so a 1000 x 1000 grid (10^6 members) is within the limit and empty inner ranges cannot loop unbounded.
    let limit = int64 ctx.Options.MaxTensors
    let mutable members = 0L
    let mutable steps = 0L
    // One binding per loop variable for the whole loop, set for each value: an environment per iteration showed in
    // profiles, and a member's compiled expressions (`FastInt`) read the same bindings as the first member's.
    let slots = Dictionary<Binder, Binding>(HashIdentity.Reference)
    for b in f.Binders do
        slots[b] <- loopBinding b 0L
    // The `for` blocks around this loop: its members count that many times (see `Ctx.Enclosing`).
    let enclosing = ctx.Enclosing
    let tooMany () =
        if enclosing > 1L then
            sprintf "this loop, with the loops around it, runs more than %d times, the expansion limit" ctx.Options.MaxTensors
        else sprintf "this loop runs more than %d times, the expansion limit" ctx.Options.MaxTensors
    let rec go env binders (outer: int64) =
        match binders with
        | [] ->
            let keep =
                match f.Filter with
                | Some c -> (try evalBool ctx env c with Abort -> false)
                | None -> true
            if keep && not ctx.Exhausted then
                try action env with Abort -> ()
        | (b: Binder) :: rest ->
            // The range's bounds, not its values: an inner loop's values would be an array per outer iteration.
            match (try ValueSome(rangeBounds ctx env b.Over) with Abort -> ValueNone) with
            | ValueNone -> ()
            | ValueSome (first, step, count) ->
                steps <- steps + int64 count
                if List.isEmpty rest then members <- members + int64 count
                // `enclosing` is at most the limit here (a larger one was refused), so the products fit in int64.
                if enclosing * members > limit || enclosing * steps > 2L * limit then ctx.Exhaust(f.Range, tooMany ())
                // The members to expect (the innermost range times the outer ones), for sizing tables once.
                if List.isEmpty rest then ctx.Expected <- int (max 1L (min limit (outer * int64 count)))
                // A `for` block's body runs inside this loop's iterations: loops in it count them.
                if List.isEmpty rest then ctx.Enclosing <- min (limit + 1L) (enclosing * max 1L (outer * int64 count))
                let slot = slots[b]
                let inner = env.Add(b.Var.Name, slot)
                for k in 0 .. count - 1 do
                    if not ctx.Exhausted then
                        slot.Value <- ctx.LoopValue(first + int64 k * step)
                        go inner rest (outer * int64 (max 1 count))
    try
        try
            // The limit applied before any member is made where the loop's size is known now (a grid's ranges do not
            // depend on its variables): a loop far past it would otherwise make the limit's worth of members first.
            match knownMembers env limit f with
            | ValueSome n when n * bigint enclosing > bigint limit -> ctx.Exhaust(f.Range, tooMany ())
            | _ -> go env f.Binders 1L
        with Abort -> ()
    finally
        ctx.Enclosing <- enclosing

/// Runs an action for each environment of an optional `for` clause; a failing member is dropped, the rest go on.
let forEach (ctx: Ctx) env (f: ForClause option) (action: Env -> unit) =
    match f with
    | None ->
        ctx.Expected <- 1
        (try action env with Abort -> ())
    | Some f -> forEachIn ctx env f action
