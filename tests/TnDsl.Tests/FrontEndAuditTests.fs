/// A newcomer's `.tn` mistakes (session 14's audit of the language front end): each mistake gets one diagnostic at
/// its place, and no input loops past the expansion limit.
module TnDsl.Tests.FrontEndAuditTests

open Xunit
open TnDsl
open TnDsl.Tests.Support

let private errors (r: Compiler.CompileResult) = r.Diagnostics |> List.filter Diagnostic.isError

[<Fact>]
let ``an index listed three times on one tensor is one error that says how often, at its second place`` () =
    let text = "network m {\n  index a: 2\n  weight A: (a, «a», a)\n}"
    let d = theOneError "TN0202" text
    Assert.Contains("3 times", d.Message)

[<Fact>]
let ``a leg list that repeats one index a hundred thousand times is one TN0202, not one per repeat`` () =
    let legs = String.replicate 100000 ", a"
    let result = compile (sprintf "network m {\n  index a: 2\n  weight A: (a%s)\n}" legs) []
    let repeated = errors result |> List.filter (fun d -> d.Kind.Code = "TN0202")
    Assert.Equal("`a` appears 100001 times on `A`", (Assert.Single repeated).Message)

[<Fact>]
let ``for blocks nested thirty deep, 2^30 iterations, are refused at the loop that passes the limit`` () =
    // Each block runs twice: the product passes 10^6 at the 20th (line 22); before, all 2^30 ran.
    let depth = 30
    let text =
        "network m {\n  index p[i]: 2 for i in 0..1\n"
        + String.concat "" [ for k in 0 .. depth - 1 -> sprintf "  for x%d in 0..1 {\n" k ]
        + "  weight A: (p[0])\n" + String.replicate depth "  }\n" + "}\n"
    let result = compile text []
    let d = Assert.Single(errors result)
    Assert.Equal("TN0112", d.Kind.Code)
    Assert.Equal(22, d.Range.Start.Line)

[<Fact>]
let ``nested for blocks within the limit expand as the one loop over both variables would`` () =
    let nested = compile "network m {\n  for x in 0..2 {\n    for y in 0..3 {\n      index h[x, y]: 2\n      weight T[x, y]: (h[x, y])\n    }\n  }\n}" []
    let flat = compile "network m {\n  for x in 0..2, y in 0..3 {\n    index h[x, y]: 2\n    weight T[x, y]: (h[x, y])\n  }\n}" []
    Assert.Empty(errors nested)
    Assert.Equal(12, nested.Network.Value.Tensors.Length)
    Assert.Equal(flat.Network.Value.Tensors.Length, nested.Network.Value.Tensors.Length)

[<Fact>]
let ``a family whose range has a zero step gives that one error, not an unknown index at every use`` () =
    let text = "network m(n: int = 4) {\n  index p[i]: 2 for i in 0..n-1 by «0»\n  weight A[i]: (p[i]) for i in 0..n-1\n  output (p[0..n-1])\n}"
    theOneError "TN0122" text |> ignore

[<Fact>]
let ``a family declared over a reversed range is said to be empty, with by -1 as the hint, not undeclared`` () =
    let text = "network m(n: int = 4) {\n  index p[i]: 2 for i in n-1..0\n  weight A[i]: (p[i]) for i in n-1..0\n  output («p[0..n-1]»)\n}"
    let d = theOneError "TN0110" text
    Assert.Contains("line 2", d.Message)
    Assert.Contains("by -1", String.concat " " d.Hints)

[<Fact>]
let ``a mistyped parameter type is one error: the network's closing brace is not reported as a second`` () =
    let text = "network m(n: «integer» = 4) {\n  index p[i]: 2 for i in 0..n-1\n}\n"
    let clean, (line, col), _ = marked text
    let d = Assert.Single((compile clean []).Diagnostics)
    Assert.Equal("TN0001", d.Kind.Code)
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))

[<Fact>]
let ``a NUL byte is named by its code point, not shown as an invisible character`` () =
    let result = compile "network m {\n  index a: 2\u0000\n  weight A: (a)\n}\n" []
    let d = Assert.Single(errors result)
    Assert.Equal("TN0001", d.Kind.Code)
    Assert.Contains("U+0000", d.Message)
    Assert.Equal((2, 13), (d.Range.Start.Line, d.Range.Start.Col))

[<Fact>]
let ``bytes that are not UTF-8 are named as such`` () =
    let d = Assert.Single(errors (compile "network m {\n  index a\uFFFD: 2\n}\n" []))
    Assert.Contains("UTF-8", d.Message)
    Assert.Equal(d.Range.Start.Col + 1, d.Range.End.Col)

[<Fact>]
let ``a cut naming an undeclared index gets that one error, not an empty side besides`` () =
    let text = "network m {\n  index a: 2\n  weight A: (a)\n  output (a)\n  cut c: «b» | rest\n}\n"
    theOneError "TN0109" text |> ignore

[<Fact>]
let ``a range bound that is a whole float says it is a float, with int as the hint`` () =
    let text = "network m(n: float = 4) {\n  index p[i]: 2 for i in 0..«n-1»\n  weight A: (p[0])\n}\n"
    let d = theOneError "TN0106" text
    Assert.Contains("the float 3.0", d.Message)
    Assert.Contains("`int`", String.concat " " d.Hints)

[<Fact>]
let ``an index twice on its only tensor is that one error, not also a dangling bond`` () =
    // With an `output` declared, the repeat left the index with one use: TN0200 said it was used only by `W`.
    let text = "network m {\n  index a: 2\n  index b: 2\n  weight W: (a, «a», b)\n  weight V: (b)\n  output ()\n}\n"
    theOneError "TN0202" text |> ignore

[<Fact>]
let ``a block comment never closed inside a network is one error, not also a missing brace`` () =
    let text = "network m {\n  «/*» never closed\n  index a: 2\n  weight A: (a)\n  output (a)\n}\n"
    theOneError "TN0002" text |> ignore

[<Fact>]
let ``a family's dimensions below 1, negative and zero, are one error for the declaration`` () =
    // `i - 4` is -4..-1 and 0 for i in 0..4: the zero was a second message, its sign aside the only difference.
    let text = "network m(n: int = 8) {\n  index a[i]: «i - 4» for i in 0..n-1\n  weight W[i]: (a[i]) for i in 0..n-1\n  output (a[0..n-1])\n}\n"
    let d = theOneError "TN0107" text
    Assert.Contains("and 4 more members", d.Message)

[<Fact>]
let ``a family whose loop range is empty is one error at its first use, however often it is used`` () =
    let text = "network m(n: int = 4) {\n  index a[i]: 2 for i in n-1..0\n  weight A[i]: («a[i]») for i in 0..n-1\n  output (a[0..n-1])\n}\n"
    theOneError "TN0110" text |> ignore

[<Fact>]
let ``an instance argument that names no parameter is reported at the argument, not across the whole instance`` () =
    let text = "network pair(d: int = 2) {\n  index l: d\n  weight A: (l)\n  output (l)\n}\nnetwork top() {\n  index x: 2\n  instance p: pair(«dd» = 2) { l = x }\n  output (x)\n}\n"
    let d = theOneError "TN0103" text
    Assert.DoesNotContain("test.tn(", d.Message)

[<Fact>]
let ``one more member of a declaration is counted in the singular`` () =
    // b[0] and b[1] out of range: "(and 1 more members of this declaration)" before.
    let text = "network m {\n  index b[i]: 2 for i in 2..3\n  weight A[i]: («b[i]») for i in 0..1\n  output (b[2..3])\n}\n"
    let d = theOneError "TN0110" text
    Assert.EndsWith("(and 1 more member of this declaration)", d.Message)
