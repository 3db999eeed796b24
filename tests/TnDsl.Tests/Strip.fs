/// Erases ranges from syntax trees so that trees parsed from different text can be compared.
module TnDsl.Tests.Strip

open TnDsl
open TnDsl.Syntax

let private n = Range.none
let private id (i: Ident) = { i with Range = n }

let rec expr (e: Expr) : Expr =
    let k =
        match e.Kind with
        | EUnary (op, x) -> EUnary(op, expr x)
        | EBinary (op, a, b) -> EBinary(op, expr a, expr b)
        | ECall (f, args) -> ECall(id f, List.map expr args)
        | EIf (c, a, b) -> EIf(expr c, expr a, expr b)
        | k -> k
    { Kind = k; Range = n }

let range (r: RangeExpr) = { From = expr r.From; To = expr r.To; Step = Option.map expr r.Step; Range = n }

let indexRef (r: IndexRef) =
    { Name = id r.Name
      Subscripts = r.Subscripts |> List.map (function SAt e -> SAt(expr e) | SSlice s -> SSlice(range s))
      Range = n }

let leg (l: Leg) = { Ref = indexRef l.Ref; Cond = Option.map expr l.Cond; Range = n }
let legList (l: LegList) = { Legs = List.map leg l.Legs; Range = n }
let forClause (f: ForClause) =
    { Binders = f.Binders |> List.map (fun b -> { Var = id b.Var; Over = range b.Over }); Filter = Option.map expr f.Filter; Range = n }

let rec init (i: InitExpr) : InitExpr =
    let k =
        match i.Kind with
        | IName (f, args) -> IName(id f, List.map expr args)
        | INumber e -> INumber(expr e)
        | ISum (a, b) -> ISum(init a, init b)
    { Kind = k; Range = n }

let clause =
    function
    | CFor f -> CFor(forClause f)
    | CInit i -> CInit(init i)
    | CEmbed e -> CEmbed { Name = id e.Name; Args = List.map expr e.Args; Range = n }
    | CShared (s, _) -> CShared(s |> Option.map (fun (a, subs) -> id a, List.map expr subs), n)

let rec decl (d: Decl) : Decl =
    let k =
        match d.Kind with
        | DLet (a, e) -> DLet(id a, expr e)
        | DIndex (h, a, subs, dim, f) ->
            let dim =
                match dim with
                | DimOf e -> DimOf(expr e)
                | DimDynamic (e, _) -> DimDynamic(Option.map expr e, n)
            DIndex(h, id a, List.map expr subs, dim, Option.map forClause f)
        | DTensor (r, a, subs, ls, cs) -> DTensor(r, id a, List.map expr subs, legList ls, List.map clause cs)
        | DOutput ls -> DOutput(legList ls)
        | DCut (a, l, r) -> DCut(id a, legList l, (match r with CutRest _ -> CutRest n | CutLegs ls -> CutLegs(legList ls)))
        | DFor (f, body) -> DFor(forClause f, List.map decl body)
        | DInstance (a, net, args, bs) ->
            DInstance(id a, id net, args |> List.map (fun (x, e) -> id x, expr e), bs |> List.map (fun b -> { Inner = indexRef b.Inner; Outer = indexRef b.Outer; For = Option.map forClause b.For; Range = n }))
        | DRequire (e, m) -> DRequire(expr e, m)
        | DBroken words -> DBroken words
    { Kind = k; Range = n }

let network (net: NetworkDecl) =
    { Name = id net.Name
      Params = net.Params |> List.map (fun p -> { Name = id p.Name; Type = p.Type; Default = Option.map expr p.Default; Range = n })
      Body = List.map decl net.Body
      Range = n }

let file (f: SourceFile) =
    { Uses = f.Uses |> List.map (fun u -> { u with Range = n }); Networks = List.map network f.Networks }
