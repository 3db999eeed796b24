module TnDsl.Tests.ParseTests

open System
open System.IO
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Syntax
open TnDsl.Tests.Support

let private n = Range.none
let private e k : Expr = { Kind = k; Range = n }
let private ident s : Ident = { Name = s; Range = n }

/// Random syntax trees, sized: names from a small pool (with a non-ASCII one), literals, every operator,
/// every declaration form.
module Gen =
    let name = Gen.elements [ "a"; "b"; "n"; "chi"; "x1"; "_t"; "ψ"; "L" ]
    let literal =
        Gen.oneof
            [ Gen.choose (0, 1000) |> Gen.map (fun i -> e (EInt(int64 i)))
              Gen.elements [ 0.5; 1.25; 1e-3; 2.0; 3.5e7 ] |> Gen.map (fun f -> e (EFloat f))
              Gen.elements [ true; false ] |> Gen.map (fun b -> e (EBool b)) ]
    let ops = [ Or; And; Eq; Ne; Lt; Le; Gt; Ge; Add; Sub; Mul; Div; Mod; Pow ]
    let rec exprOf size : Gen<Expr> =
        if size <= 1 then
            Gen.oneof [ literal; name |> Gen.map (EVar >> e) ]
        else
            let sub = exprOf (size / 2)
            Gen.oneof
                [ literal
                  name |> Gen.map (EVar >> e)
                  Gen.map3 (fun op a b -> e (EBinary(op, a, b))) (Gen.elements ops) sub sub
                  Gen.map2 (fun op a -> e (EUnary(op, a))) (Gen.elements [ Neg; Not ]) sub
                  Gen.map3 (fun c a b -> e (EIf(c, a, b))) sub sub sub
                  Gen.map2 (fun f args -> e (ECall(ident f, args))) (Gen.elements [ "min"; "max"; "log2" ]) (Gen.listOfLength 2 sub) ]
    let expr = Gen.sized (fun s -> exprOf (min s 12))
    let smallExpr = Gen.sized (fun s -> exprOf (min s 4))
    let rangeExpr =
        Gen.map3 (fun a b s -> { From = a; To = b; Step = s; Range = n }) smallExpr smallExpr (Gen.optionOf smallExpr)
    let forClause =
        Gen.map2 (fun bs f -> { Binders = bs; Filter = f; Range = n })
            (Gen.nonEmptyListOf (Gen.map2 (fun v r -> { Var = ident v; Over = r }) name rangeExpr) |> Gen.map (List.truncate 3))
            (Gen.optionOf smallExpr)
    let subscript = Gen.oneof [ smallExpr |> Gen.map SAt; rangeExpr |> Gen.map SSlice ]
    let indexRef =
        Gen.map2 (fun (nm: string) subs -> { Name = ident nm; Subscripts = subs; Range = n })
            (Gen.oneof [ name; Gen.map2 (fun a b -> a + "." + b) name name ])
            (Gen.listOf subscript |> Gen.map (List.truncate 3))
    let leg = Gen.map2 (fun r c -> { Ref = r; Cond = c; Range = n }) indexRef (Gen.optionOf smallExpr)
    let legList = Gen.listOf leg |> Gen.map (fun ls -> { Legs = List.truncate 4 ls; Range = n })
    let nonEmptyLegs = Gen.nonEmptyListOf leg |> Gen.map (fun ls -> { Legs = List.truncate 4 ls; Range = n })
    let initExpr =
        let single =
            Gen.oneof
                [ Gen.map2 (fun f args -> ({ Kind = IName(ident f, args); Range = n }: InitExpr)) (Gen.elements [ "normal"; "identity"; "copy"; "auto" ]) (Gen.listOf smallExpr |> Gen.map (List.truncate 2))
                  Gen.map2 (fun neg (lit: Expr) -> ({ Kind = INumber(if neg then e (EUnary(Neg, lit)) else lit); Range = n }: InitExpr)) (Gen.elements [ true; false ]) (Gen.choose (0, 9) |> Gen.map (fun i -> e (EInt(int64 i)))) ]
        Gen.nonEmptyListOf single |> Gen.map (List.truncate 3 >> List.reduce (fun a b -> { Kind = ISum(a, b); Range = n }))
    let clauses =
        Gen.map4 (fun f i em sh -> List.choose id [ f |> Option.map CFor; i |> Option.map CInit; em; sh ])
            (Gen.optionOf forClause)
            (Gen.optionOf initExpr)
            (Gen.optionOf (Gen.map2 (fun f args -> CEmbed { Name = ident f; Args = args; Range = n }) (Gen.elements [ "onehot"; "trig" ]) (Gen.listOf smallExpr |> Gen.map (List.truncate 1))))
            (Gen.optionOf (Gen.optionOf (Gen.map2 (fun a subs -> ident a, subs) name (Gen.listOf smallExpr |> Gen.map (List.truncate 2))) |> Gen.map (fun s -> CShared(s, n))))
    let rec declOf depth : Gen<Decl> =
        let d k : Decl = { Kind = k; Range = n }
        let heads = Gen.listOf smallExpr |> Gen.map (List.truncate 2)
        let basic =
            [ Gen.map2 (fun a x -> d (DLet(ident a, x))) name expr
              Gen.zip3 (Gen.elements [ true; false ]) (Gen.zip name heads) (Gen.zip (Gen.oneof [ expr |> Gen.map DimOf; Gen.optionOf smallExpr |> Gen.map (fun x -> DimDynamic(x, n)) ]) (Gen.optionOf forClause))
              |> Gen.map (fun (h, (a, subs), (dim, f)) -> d (DIndex(h, ident a, subs, dim, f)))
              Gen.zip3 (Gen.elements [ KWeight; KInput; KConst ]) (Gen.zip name heads) (Gen.zip legList clauses)
              |> Gen.map (fun (r, (a, subs), (ls, cs)) -> d (DTensor(r, ident a, subs, ls, cs)))
              legList |> Gen.map (DOutput >> d)
              Gen.map3 (fun a l r -> d (DCut(ident a, l, r))) name nonEmptyLegs (Gen.oneof [ Gen.constant (CutRest n); nonEmptyLegs |> Gen.map CutLegs ])
              Gen.map3 (fun a net (args, bs) -> d (DInstance(ident a, ident net, args, bs))) name name
                  (Gen.zip (Gen.listOf (Gen.zip (Gen.map ident name) smallExpr) |> Gen.map (List.truncate 2))
                           (Gen.listOf (Gen.map3 (fun i o f -> ({ Inner = i; Outer = o; For = f; Range = n }: Binding)) indexRef indexRef (Gen.optionOf forClause)) |> Gen.map (List.truncate 2)))
              Gen.map2 (fun c m -> d (DRequire(c, m))) smallExpr (Gen.elements [ ""; "n must be even"; "ψ > 0" ]) ]
        if depth = 0 then Gen.oneof basic
        else Gen.oneof (basic @ [ Gen.map2 (fun f body -> d (DFor(f, body))) forClause (Gen.listOf (declOf (depth - 1)) |> Gen.map (List.truncate 3)) ])
    let network =
        Gen.map3 (fun nm ps body -> { Name = ident nm; Params = ps; Body = body; Range = n }) name
            (Gen.listOf (Gen.map3 (fun a t d -> ({ Name = ident a; Type = t; Default = d; Range = n }: ParamDecl)) name (Gen.elements [ TInt; TFloat; TBool ]) (Gen.optionOf smallExpr)) |> Gen.map (List.truncate 3))
            (Gen.listOf (declOf 2) |> Gen.map (List.truncate 6))
    let file =
        Gen.map2 (fun us nets -> { Uses = us; Networks = nets })
            (Gen.listOf (Gen.elements [ "mera.tn"; "a b/c.tn" ] |> Gen.map (fun p -> ({ Path = p; Range = n }: UseDecl))) |> Gen.map (List.truncate 2))
            (Gen.listOf network |> Gen.map (List.truncate 2))

type Generators =
    static member SourceFile() = Arb.fromGen Gen.file

[<Property(Arbitrary = [| typeof<Generators> |], MaxTest = 300)>]
let ``printing a tree and parsing it again gives the same tree`` (f: SourceFile) =
    let text = Print.sourceFile f
    let parsed, diags = Parse.parseText "rt.tn" text
    let errors = diags |> List.filter (fun d -> d.Kind.Code <> "TN0005")
    (errors.IsEmpty && Strip.file parsed = f) |> Prop.label text

[<Fact>]
let ``the sketch from the design parses and prints back to the same tree`` () =
    let text = File.ReadAllText(Path.Combine(examplesDir, "mps.tn"))
    let f, diags = Parse.parseText "mps.tn" text
    Assert.Empty diags
    let again, diags2 = Parse.parseText "again.tn" (Print.sourceFile f)
    Assert.Empty diags2
    Assert.Equal(Strip.file f, Strip.file again)

[<Fact>]
let ``every node's range covers its own text`` () =
    let text = "network m(n: int = 4) {\n  weight A[i]: (b[i], p[i] if i > 0)  for i in 0..n-1  init normal(0, 0.1)\n}"
    let f, _ = Parse.parseText "r.tn" text
    let decl = f.Networks.Head.Body.Head
    let slice (r: SourceRange) = text.Substring(int r.Start.Offset, int (r.End.Offset - r.Start.Offset))
    Assert.Equal("weight A[i]: (b[i], p[i] if i > 0)  for i in 0..n-1  init normal(0, 0.1)", slice decl.Range)
    match decl.Kind with
    | DTensor (_, _, _, legs, clauses) ->
        Assert.Equal("(b[i], p[i] if i > 0)", slice legs.Range)
        Assert.Equal("p[i] if i > 0", slice legs.Legs[1].Range)
        Assert.Equal("i > 0", slice legs.Legs[1].Cond.Value.Range)
        match clauses with
        | [ CFor f; CInit i ] ->
            Assert.Equal("for i in 0..n-1", slice f.Range)
            Assert.Equal("normal(0, 0.1)", slice i.Range)
        | _ -> failwithf "unexpected clauses %A" clauses
    | k -> failwithf "unexpected %A" k

[<Fact>]
let ``operators bind as documented`` () =
    let show text =
        match Parse.parseExpr "e" text with
        | Result.Ok x -> Print.expr x
        | Result.Error ds -> failwithf "%A" ds
    Assert.Equal("1 + 2 * 3", show "1 + (2 * 3)")
    Assert.Equal("(1 + 2) * 3", show "(1 + 2) * 3")
    Assert.Equal("2 ^ 3 ^ 2", show "2 ^ (3 ^ 2)")
    Assert.Equal("(2 ^ 3) ^ 2", show "(2 ^ 3) ^ 2")
    Assert.Equal("-(2 ^ 2)", show "-2 ^ 2")
    Assert.Equal("not (a == b)", show "not a == b")
    Assert.Equal("a < b and c or d", show "((a < b) and c) or d")

/// Text edits for the robustness test: deletions, insertions of grammar-relevant characters, swaps.
let private mutate (rnd: Random) (text: string) =
    let alphabet = "()[]{},:;=|.+-*/%^<>!\"'/*\n 0123456789abxyzforindexweight"
    let mutable t = text
    for _ in 1 .. rnd.Next(1, 6) do
        let k = rnd.Next(0, max 1 t.Length)
        t <-
            match rnd.Next 3 with
            | 0 when t.Length > 0 -> t.Remove(k, min (rnd.Next(1, 8)) (t.Length - k))
            | 1 -> t.Insert(k, string alphabet[rnd.Next alphabet.Length])
            | _ when t.Length > 1 ->
                let j = rnd.Next t.Length
                let c = t.ToCharArray()
                let tmp = c[k]
                c[k] <- c[j]
                c[j] <- tmp
                String(c)
            | _ -> t
    t

[<Property(MaxTest = 1500)>]
let ``mutated examples never throw and always terminate`` (seed: int) =
    let rnd = Random seed
    let files = Directory.GetFiles(examplesDir, "*.tn") |> Array.sort
    let file = files[rnd.Next files.Length]
    let text = mutate rnd (File.ReadAllText file)
    let r = Compiler.compileText Compiler.readDisk file text { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxTensors = 20000 } }
    // Whatever it found, every diagnostic points into a file it read, or at the command line.
    r.Diagnostics |> List.forall (fun d -> d.Range.Start.Line >= 1 && (r.Sources.ContainsKey d.Range.File || d.Range.File = "command line"))

[<Property(MaxTest = 1000)>]
let ``random text never throws`` (s: string) =
    let text = if isNull s then "" else s
    let r = Compiler.compileText Compiler.readDisk "random.tn" text Compiler.defaultOptions
    r.Network.IsNone || r.Diagnostics |> List.forall (fun d -> not (Diagnostic.isError d))

[<Fact>]
let ``deeply nested brackets are refused, not a stack overflow`` () =
    let text = "network a() { index i: " + String('(', 100000) + "1" + String(')', 100000) + " }"
    let r = Compiler.compileOnBigStack (fun () -> Compiler.compileText Compiler.readDisk "deep.tn" text Compiler.defaultOptions)
    Assert.Contains("TN0009", codes r)

[<Fact>]
let ``a very long expression compiles`` () =
    let text = "network a() { index i: 1" + String.replicate 50000 " + 0" + " weight A: (i) }"
    let r = Compiler.compileOnBigStack (fun () -> Compiler.compileText Compiler.readDisk "long.tn" text Compiler.defaultOptions)
    Assert.True(r.Network.IsSome, sprintf "%A" (codes r))
