/// Prints syntax back to `.tn` text. Parsing the printed text gives the same tree (ranges aside), which the
/// round-trip tests check; the printer parenthesises by precedence rather than copying the original layout.
module TnDsl.Print

open System
open System.Globalization
open TnDsl.Syntax

let private floatText (f: float) =
    let s = f.ToString("R", CultureInfo.InvariantCulture)
    if s.Contains '.' || s.Contains 'E' || s.Contains 'e' then s.Replace("E", "e") else s + ".0"

let rec private exprAt (minPrec: int) (e: Expr) =
    let text, prec =
        match e.Kind with
        | EInt n -> string n, 10
        | EFloat f -> floatText f, 10
        | EBool b -> (if b then "true" else "false"), 10
        | EVar v -> v, 10
        | EError text -> text, 10
        | ECall (f, args) -> sprintf "%s(%s)" f.Name (String.Join(", ", args |> List.map (exprAt 0))), 10
        | EIf (c, a, b) -> sprintf "if %s then %s else %s" (exprAt 0 c) (exprAt 0 a) (exprAt 0 b), 0
        | EUnary (op, x) ->
            let p = unaryPrecedence op
            // The operand of a prefix operator is printed in parentheses unless it is atomic.
            let inner = exprAt 10 x
            (match op with
             | Neg -> "-" + inner
             | Not -> "not " + inner), p
        | EBinary (op, l, r) ->
            let p = precedence op
            let lp, rp = if op = Pow then p + 1, p else p, p + 1
            sprintf "%s %s %s" (exprAt lp l) (binOpText op) (exprAt rp r), p
    if prec < minPrec then "(" + text + ")" else text

/// An expression as `.tn` text.
let expr (e: Expr) = exprAt 0 e

let private rangeExpr (r: RangeExpr) =
    sprintf "%s..%s%s" (exprAt 1 r.From) (exprAt 1 r.To) (r.Step |> Option.map (fun s -> " by " + exprAt 1 s) |> Option.defaultValue "")

let private subscript =
    function
    | SAt e -> expr e
    | SSlice r -> rangeExpr r

/// An index reference as `.tn` text.
let indexRef (r: IndexRef) =
    match r.Subscripts with
    | [] -> r.Name.Name
    | subs -> sprintf "%s[%s]" r.Name.Name (String.Join(", ", subs |> List.map subscript))

let private leg (l: Leg) =
    indexRef l.Ref + (l.Cond |> Option.map (fun c -> " if " + expr c) |> Option.defaultValue "")

let private legs (ls: Leg list) = String.Join(", ", ls |> List.map leg)

let private forClause (f: ForClause) =
    let binders = f.Binders |> List.map (fun b -> b.Var.Name + " in " + rangeExpr b.Over)
    "for " + String.Join(", ", binders) + (f.Filter |> Option.map (fun c -> " if " + expr c) |> Option.defaultValue "")

let rec private initExpr (i: InitExpr) =
    match i.Kind with
    | IName (id, []) -> id.Name
    | IName (id, args) -> sprintf "%s(%s)" id.Name (String.Join(", ", args |> List.map expr))
    | INumber e -> exprAt 7 e
    | ISum (a, b) -> initExpr a + " + " + initExpr b

let private clause =
    function
    | CFor f -> forClause f
    | CInit i -> "init " + initExpr i
    | CEmbed e when e.Args.IsEmpty -> "embed " + e.Name.Name
    | CEmbed e -> sprintf "embed %s(%s)" e.Name.Name (String.Join(", ", e.Args |> List.map expr))
    | CShared (None, _) -> "shared"
    | CShared (Some (n, []), _) -> "shared " + n.Name
    | CShared (Some (n, subs), _) -> sprintf "shared %s[%s]" n.Name (String.Join(", ", subs |> List.map expr))

let private head (name: Ident) (subs: Expr list) =
    match subs with
    | [] -> name.Name
    | _ -> sprintf "%s[%s]" name.Name (String.Join(", ", subs |> List.map expr))

let private typeText =
    function
    | TInt -> "int"
    | TFloat -> "float"
    | TBool -> "bool"

let rec private decl (indent: string) (d: Decl) : string list =
    match d.Kind with
    | DLet (n, e) -> [ sprintf "%slet %s = %s" indent n.Name (expr e) ]
    | DIndex (hyper, name, subs, dim, f) ->
        let dimText =
            match dim with
            | DimOf e -> expr e
            | DimDynamic (None, _) -> "dynamic"
            | DimDynamic (Some e, _) -> sprintf "dynamic(%s)" (expr e)
        [ sprintf "%s%sindex %s: %s%s" indent (if hyper then "hyper " else "") (head name subs) dimText (f |> Option.map (fun f -> " " + forClause f) |> Option.defaultValue "") ]
    | DTensor (role, name, subs, ls, cs) ->
        let roleText =
            match role with
            | KWeight -> "weight"
            | KInput -> "input"
            | KConst -> "const"
        let tail = cs |> List.map (fun c -> " " + clause c) |> String.concat ""
        [ sprintf "%s%s %s: (%s)%s" indent roleText (head name subs) (legs ls.Legs) tail ]
    | DOutput ls -> [ sprintf "%soutput (%s)" indent (legs ls.Legs) ]
    | DCut (n, l, r) ->
        let right =
            match r with
            | CutRest _ -> "rest"
            | CutLegs ls -> legs ls.Legs
        [ sprintf "%scut %s: %s | %s" indent n.Name (legs l.Legs) right ]
    | DFor (f, body) -> [ yield sprintf "%s%s {" indent (forClause f); yield! body |> List.collect (decl (indent + "  ")); yield indent + "}" ]
    | DInstance (name, net, args, bindings) ->
        let argText = String.Join(", ", args |> List.map (fun (a, e) -> a.Name + " = " + expr e))
        [ yield sprintf "%sinstance %s: %s(%s) {" indent name.Name net.Name argText
          for b in bindings do
              yield sprintf "%s  %s = %s%s" indent (indexRef b.Inner) (indexRef b.Outer) (b.For |> Option.map (fun f -> " " + forClause f) |> Option.defaultValue "")
          yield indent + "}" ]
    | DRequire (e, msg) -> [ sprintf "%srequire %s, \"%s\"" indent (expr e) msg ]
    | DBroken _ -> []

/// A network declaration as `.tn` text.
let network (n: NetworkDecl) =
    let ps =
        n.Params
        |> List.map (fun p -> sprintf "%s: %s%s" p.Name.Name (typeText p.Type) (p.Default |> Option.map (fun e -> " = " + expr e) |> Option.defaultValue ""))
    let lines = [ yield sprintf "network %s(%s) {" n.Name.Name (String.Join(", ", ps)); yield! n.Body |> List.collect (decl "  "); yield "}" ]
    String.Join("\n", lines)

/// A whole file as `.tn` text.
let sourceFile (f: SourceFile) =
    let uses = f.Uses |> List.map (fun u -> sprintf "use \"%s\"" u.Path)
    String.Join("\n", uses @ (f.Networks |> List.map network)) + "\n"
