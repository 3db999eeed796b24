module TnDsl.Tests.ElaborateTests

open System.IO
open Xunit
open TnDsl
open TnDsl.Tests.Support

let private sketch = File.ReadAllText(Path.Combine(examplesDir, "mps.tn"))

let private network text overrides =
    let r = compile text overrides
    Assert.True(r.Network.IsSome, sprintf "%A" (r.Diagnostics |> List.map Diagnostic.headline))
    r.Network.Value

[<Fact>]
let ``the design sketch elaborates to exactly the expected tensors and legs`` () =
    let net = network sketch [ "n", "5"; "chi", "3" ]
    let legs (t: FlatTensor) = t.Legs |> Array.map (fun l -> net.Indices[l].Name) |> List.ofArray
    let expected =
        [ "A[0]", [ "p[0]"; "b[1]" ]
          "A[1]", [ "b[1]"; "p[1]"; "b[2]" ]
          "A[2]", [ "b[2]"; "p[2]"; "b[3]" ]
          "A[3]", [ "b[3]"; "p[3]"; "b[4]" ]
          "A[4]", [ "b[4]"; "p[4]" ] ]
    let actual = net.Tensors |> Array.map (fun t -> t.Name, legs t) |> List.ofArray
    Assert.Equal<(string * string list) list>(expected, actual)
    Assert.All(net.Tensors, fun t -> Assert.Equal(Weight, t.Role))
    Assert.Equal<string list>([ "A.0"; "A.1"; "A.2"; "A.3"; "A.4" ], net.Tensors |> Array.map (fun t -> t.Param) |> List.ofArray)
    Assert.Equal(Some(Normal(0.0, 0.1)), net.Tensors[0].Init)
    Assert.Equal(Some(Sum(Identity, Normal(0.0, 0.01))), net.Tensors[2].Init)
    Assert.Equal<string list>([ "p[0]"; "p[1]"; "p[2]"; "p[3]"; "p[4]" ], net.Output |> List.map (fun o -> net.Indices[o].Name))
    let dims = net.Indices |> Array.map (fun i -> i.Name, Dim.size i.Dim) |> Map.ofArray
    Assert.Equal(2L, dims["p[3]"])
    Assert.Equal(3L, dims["b[2]"])
    let cut = net.Cuts.Head
    Assert.Equal("half", cut.Name)
    Assert.Equal<string list>([ "p[0]"; "p[1]" ], cut.Left |> List.map (fun o -> net.Indices[o].Name))
    Assert.Equal<string list>([ "p[2]"; "p[3]"; "p[4]" ], cut.Right |> List.map (fun o -> net.Indices[o].Name))

[<Fact>]
let ``mps at n=784 has 784 tensors`` () =
    let net = network sketch [ "n", "784" ]
    Assert.Equal(784, net.Tensors.Length)
    Assert.Equal(784 + 783, net.Indices.Length)

[<Fact>]
let ``loops over several variables with a filter, steps and lets`` () =
    let text =
        "network g(n: int = 4) {\n  let m = n - 1\n  index e[i, j]: 2 for i in 0..m, j in 0..m if i < j\n  index o[i]: 3 for i in 0..m by 2\n  weight V[i]: (e[0..i-1, i] if i > 0, e[i, i+1..m] if i < m, o[i] if i % 2 == 0) for i in 0..m\n}"
    let net = network text []
    // The complete graph on 4 vertices: 6 edges; even vertices also carry an open leg.
    Assert.Equal(6 + 2, net.Indices.Length)
    let legs name = (FlatNetwork.tryTensor net name).Value.Legs |> Array.map (fun l -> net.Indices[l].Name) |> List.ofArray
    Assert.Equal<string list>([ "e[0, 2]"; "e[1, 2]"; "e[2, 3]"; "o[2]" ], legs "V[2]")
    Assert.Equal<string list>([ "e[0, 1]"; "e[0, 2]"; "e[0, 3]"; "o[0]" ], legs "V[0]")

[<Fact>]
let ``a for block expands its declarations for each iteration`` () =
    let text = "network g(L: int = 3) {\n  for x in 0..L-1 {\n    let y = x + 1\n    index p[x]: y + 1\n    weight T[x]: (p[x])\n  }\n}"
    let net = network text []
    Assert.Equal<int64 list>([ 2L; 3L; 4L ], net.Indices |> Array.map (fun i -> Dim.size i.Dim) |> List.ofArray)

[<Fact>]
let ``shared weights map every member to one parameter, per subscript when given`` () =
    let text = "network c() {\n  index a[i]: 2 for i in 0..3\n  index b[i]: 2 for i in 0..3\n  weight W[i]: (a[i], b[i]) for i in 0..1 shared\n  weight U[i]: (a[i], b[i]) for i in 2..3 shared K[i % 2]\n}"
    let net = network text []
    Assert.Equal<string list>([ "W"; "W"; "K.0"; "K.1" ], net.Tensors |> Array.map (fun t -> t.Param) |> List.ofArray)
    Assert.Equal(3, (FlatNetwork.parameters net).Length)
    Assert.Equal(12I, FlatNetwork.parameterCount net)

[<Fact>]
let ``the batch is a dynamic hyperindex shared by all inputs`` () =
    let net = network (File.ReadAllText(Path.Combine(examplesDir, "born-machine.tn"))) [ "n", "10" ]
    let batch = (FlatNetwork.tryIndex net "batch").Value
    Assert.Equal(Hyper, batch.Kind)
    Assert.Equal(Dynamic 1000L, batch.Dim)
    let onBatch = net.Tensors |> Array.filter (fun t -> Array.contains batch.Id t.Legs)
    Assert.Equal(10, onBatch.Length)
    Assert.All(onBatch, fun t -> Assert.Equal(Some(OneHot 2), t.Embedding))

[<Fact>]
let ``an instance copies the sub-network in under its name and joins the bound legs`` () =
    let r = Compiler.compileFile (Path.Combine(examplesDir, "mera-classifier.tn")) Compiler.defaultOptions
    let net = r.Network.Value
    Assert.True((FlatNetwork.tryTensor net "m.w[0, 0]").IsSome)
    Assert.Equal("m.w.0.0", (FlatNetwork.tryTensor net "m.w[0, 0]").Value.Param)
    // The MERA's input legs are the classifier's q[i]; its top leg is h.
    let w00 = (FlatNetwork.tryTensor net "m.w[0, 0]").Value
    Assert.Contains("q[0]", w00.Legs |> Array.map (fun l -> net.Indices[l].Name))
    let top = (FlatNetwork.tryTensor net "m.w[2, 0]").Value
    Assert.Contains("h", top.Legs |> Array.map (fun l -> net.Indices[l].Name))
    Assert.True((FlatNetwork.tryIndex net "m.s[0, 0]").IsNone)

[<Fact>]
let ``integer division floors and powers are exact`` () =
    let value text =
        match Elaborate.parseValue text with
        | Result.Ok v -> v
        | Result.Error m -> failwith m
    Assert.Equal(VInt 3L, value "7 / 2")
    Assert.Equal(VInt -4L, value "-7 / 2")
    Assert.Equal(VInt 1L, value "-7 % 2")
    Assert.Equal(VInt 1024L, value "2 ^ 10")
    Assert.Equal(VInt 10L, value "log2(1024)")
    Assert.Equal(VInt 3L, value "min(7, 3, 5)")
    Assert.Equal(VFloat 2.5, value "max(1, 2.5)")
    Assert.Equal(VInt 5L, value "if 1 < 2 then 5 else 6")
    Assert.True((Elaborate.parseValue "2 ^ 64").IsError)

[<Fact>]
let ``an init that mentions the loop variable is evaluated per member, one that does not once for all`` () =
    let text =
        "network g() {\n  index p[i]: 2 for i in 0..2\n  weight A[i]: (p[i]) for i in 0..2 init normal(0, i + 1)\n  input X[i]: (p[i]) for i in 0..2 embed onehot(2)\n  weight B[i]: (p[i]) for i in 0..2 init identity + normal(0, 0.5)\n}"
    let r = compile text []
    let net = r.Elaborated.Value.Network
    let inits family = net.Tensors |> Array.filter (fun t -> t.Family = family) |> Array.map (fun t -> t.Init) |> List.ofArray
    Assert.Equal<Init option list>([ Some(Normal(0.0, 1.0)); Some(Normal(0.0, 2.0)); Some(Normal(0.0, 3.0)) ], inits "A")
    Assert.Equal<Init option list>(List.replicate 3 (Some(Sum(Identity, Normal(0.0, 0.5)))), inits "B")
    Assert.Equal<Embedding option list>(List.replicate 3 (Some(OneHot 2)), net.Tensors |> Array.filter (fun t -> t.Family = "X") |> Array.map (fun t -> t.Embedding) |> List.ofArray)

[<Fact>]
let ``subscripts divide toward negative infinity and overflow is reported by code and range`` () =
    let text = "network g() {\n  index q[k]: 2 for k in -2..0\n  weight B[i]: (q[(i - 3) / 2]) for i in 0..2\n}"
    let net = (compile text []).Elaborated.Value.Network
    let leg name = net.Indices[(FlatNetwork.tryTensor net name).Value.Legs[0]].Name
    Assert.Equal<string list>([ "q[-2]"; "q[-1]"; "q[-1]" ], [ leg "B[0]"; leg "B[1]"; leg "B[2]" ])
    // i * 2^63-1 overflows at i = 2: the fast path declines and the general evaluator reports it where it is.
    let over, (line, col), _ = marked "network g() {\n  index p[i]: 2 for i in 0..1\n  weight A[i]: (p[«i * 9223372036854775807»]) for i in 2..2\n}"
    let r = compile over []
    Assert.Equal<string list>([ "TN0118" ], codes r |> List.filter (fun c -> c <> "TN0212") |> List.distinct)
    let d = r.Diagnostics |> List.find (fun d -> d.Kind.Code = "TN0118")
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))

/// The network as names: each tensor with its legs' names and dimensions, the output, the cuts' sides.
let private shape (net: FlatNetwork) =
    let name (l: int) = net.Indices[l].Name, Dim.size net.Indices[l].Dim
    (net.Tensors |> Array.map (fun t -> t.Name, t.Param, t.Init, t.Legs |> Array.map name |> List.ofArray) |> List.ofArray),
    (net.Output |> List.map name),
    (net.Cuts |> List.map (fun c -> c.Name, c.Left |> List.map name, c.Right |> List.map name))

[<Fact>]
let ``legs resolve to the same indices whether the indices are declared before or after the tensors`` () =
    // Declared before, a member's legs are resolved as it is made; declared after, once all declarations are known.
    let peps = File.ReadAllText(Path.Combine(examplesDir, "peps.tn"))
    let lines = peps.Split('\n') |> List.ofArray
    let isIndex (l: string) = l.TrimStart().StartsWith "index "
    let weightAt = lines |> List.findIndex (fun l -> l.TrimStart().StartsWith "weight ")
    let weight = lines[weightAt .. weightAt + 1]
    let rest = lines |> List.indexed |> List.filter (fun (k, _) -> k < weightAt || k > weightAt + 1) |> List.map snd
    let firstIndex = rest |> List.findIndex isIndex
    let moved = String.concat "\n" (rest[.. firstIndex - 1] @ weight @ rest[firstIndex ..])
    Assert.NotEqual<string>(peps, moved)
    for overrides in [ [ "Lx", "3"; "Ly", "5" ]; [ "Lx", "2"; "Ly", "1" ] ] do
        let before = compile peps overrides
        let after = compile moved overrides
        Assert.True(before.Network.IsSome && after.Network.IsSome, sprintf "%A %A" (codes before) (codes after))
        Assert.Equal<string list>(codes before, codes after)
        Assert.Equal(shape before.Network.Value, shape after.Network.Value)
        // Every tensor has a range for each of its legs, at its declaration's legs.
        for r in [ before; after ] do
            let e = r.Elaborated.Value
            Assert.All(e.Network.Tensors, fun t -> Assert.Equal(t.Legs.Length, e.LegRanges[t.Id].Length))

[<Fact>]
let ``a conditional leg out of range is reported once with its loop hint, whichever order the declarations have`` () =
    let text indicesFirst =
        let indices = "  index p[i]: 2 for i in 0..n-1\n  index b[i]: 3 for i in 1..n-1\n"
        let tensor = "  weight A[i]: (b[i] if i > 0, p[i], b[i+1]) for i in 0..n-1\n"
        "network m(n: int = 5) {\n" + (if indicesFirst then indices + tensor else tensor + indices) + "  output (p[0..n-1])\n}\n"
    let hints =
        [ for indicesFirst in [ true; false ] do
              let r = compile (text indicesFirst) []
              Assert.Equal<string list>([ "TN0110" ], codes r)
              let d = r.Diagnostics.Head
              // At `b[i+1]`: the tensor's line, column of the third leg.
              Assert.Equal((if indicesFirst then 4 else 2), d.Range.Start.Line)
              Assert.Equal(38, d.Range.Start.Col)
              Assert.Equal(1, d.Hints.Length)
              d.Hints ]
    // The hint comes from the loop values at which the leg resolved, found the same way in both orders.
    Assert.Equal<string list>(hints[0], hints[1])

[<Fact>]
let ``grid members are named and joined the same whether a condition is decided on integers or in general`` () =
    // `x > s` (a float) goes to the general evaluator, `x != L - 1` and `x == 0` to the integer comparison; the
    // subscripts reach -1, so names are written with and without the one-string fast path.
    let text =
        "network g(L: int = 3, s: float = 0.5) {\n  index h[x, y]: 2 for x in -1..L-1, y in 0..L-1\n"
        + "  weight T[x, y]: (h[x-1, y] if x > s, h[x, y] if x != L - 1, h[-1, y] if x == 0) for x in 0..L-1, y in 0..L-1\n}\n"
    let net = (compile text []).Elaborated.Value.Network
    let legs (t: FlatTensor) = t.Legs |> Array.map (fun l -> net.Indices[l].Name) |> List.ofArray
    let expected =
        [ for x in 0..2 do
              for y in 0..2 do
                  let h a = sprintf "h[%d, %d]" a y
                  sprintf "T[%d, %d]" x y,
                  sprintf "T.%d.%d" x y,
                  [ if x > 0 then h (x - 1)
                    if x <> 2 then h x
                    if x = 0 then h -1 ] ]
    Assert.Equal<(string * string * string list) list>(expected, net.Tensors |> Array.map (fun t -> t.Name, t.Param, legs t) |> List.ofArray)
    Assert.Equal<string list>(
        [ for x in -1..2 do for y in 0..2 -> sprintf "h[%d, %d]" x y ],
        net.Indices |> Array.map (fun i -> i.Name) |> List.ofArray)

[<Fact>]
let ``members with subscripts past the shared subscript rows resolve as those within them`` () =
    // `c` sits within the rows that share two-subscript lists, `a` past them (a dictionary): both resolve alike,
    // and names and parameters are written from family and subscripts.
    let text =
        "network g(n: int = 3) {\n\
           index a[x, y]: 2 for x in 0..n-1, y in 20000..20001\n\
           index c[x, y]: 3 for x in 0..n-1, y in 0..1\n\
           weight T[x, y]: (a[x, y + 20000], c[x, y]) for x in 0..n-1, y in 0..1\n\
           output (a[0..n-1, 20000..20001], c[0..n-1, 0..1])\n\
         }"
    let net = network text []
    let t = (FlatNetwork.tryTensor net "T[1, 1]").Value
    Assert.Equal<string list>([ "a[1, 20001]"; "c[1, 1]" ], [ for l in t.Legs -> net.Indices[l].Name ])
    Assert.Equal("T.1.1", t.Param)
    Assert.Equal(None, t.Tie)
    Assert.Equal(12, net.Indices.Length)

[<Fact>]
let ``members far apart, negative or in long rows are found as declared`` () =
    // Member tables keep one- and two-subscript members in arrays only while the arrays stay a few cells per member:
    // these families fall back to hashing (spread out, negative) or mix both, and every leg must find its member.
    let text =
        "network g(n: int = 100000) {\n  index w[i]: 2 for i in 0..n if i % 1000 == 0\n  index s[i]: 3 for i in -3..3\n  index z[i, j]: 2 for i in 0..n, j in 0..1 if i % 5000 == 0\n  index r[i, j]: 2 for i in 0..1, j in 0..2000\n  weight A[i]: (w[i], w[i+1000]) for i in 0..n-1000 if i % 1000 == 0\n  weight B[i]: (s[i], s[i+1]) for i in -3..2\n  weight C[i]: (z[i, 0], z[i, 1]) for i in 0..n if i % 5000 == 0\n  weight E[i]: (z[i, 0], z[i, 1]) for i in 0..n if i % 5000 == 0\n  weight D[j]: (r[0, j], r[1, j]) for j in 0..2000\n  weight F[j]: (r[0, j], r[1, j]) for j in 0..2000\n  output (w[0], w[n], s[-3], s[3])\n}"
    let net = network text []
    Assert.Equal(101 + 7 + 42 + 4002, net.Indices.Length)
    let legs name = (FlatNetwork.tryTensor net name).Value.Legs |> Array.map (fun l -> net.Indices[l].Name) |> List.ofArray
    Assert.Equal<string list>([ "w[99000]"; "w[100000]" ], legs "A[99000]")
    Assert.Equal<string list>([ "s[-3]"; "s[-2]" ], legs "B[-3]")
    Assert.Equal<string list>([ "z[95000, 0]"; "z[95000, 1]" ], legs "C[95000]")
    Assert.Equal<string list>([ "r[0, 2000]"; "r[1, 2000]" ], legs "D[2000]")
    Assert.Equal<string list>([ "w[0]"; "w[100000]"; "s[-3]"; "s[3]" ], net.Output |> List.map (fun o -> net.Indices[o].Name))

[<Fact>]
let ``a slice in output or a cut that runs past its family is reported once at the slice`` () =
    let text, (line, col), (endLine, endCol) =
        marked "network g(n: int = 6) {\n  index p[x, y]: 2 for x in 0..n-1, y in 0..n-1\n  weight T[x, y]: (p[x, y]) for x in 0..n-1, y in 0..n-1\n  output («p[0..n-1, 0..n]»)\n}"
    let r = compile text []
    Assert.Equal<string list>([ "TN0110" ], codes r)
    let d = r.Diagnostics.Head
    Assert.Equal((line, col, endLine, endCol + 1), (d.Range.Start.Line, d.Range.Start.Col, d.Range.End.Line, d.Range.End.Col))
    let ok = network "network g(n: int = 4) {\n  index p[x, y]: 2 for x in 0..n-1, y in 0..n-1\n  weight T[x, y]: (p[x, y]) for x in 0..n-1, y in 0..n-1\n  output (p[0..n-1, 0..n-1])\n  cut c: p[0..1, 0..n-1] | rest\n}" []
    Assert.Equal(16, ok.Output.Length)
    Assert.Equal<string list>([ "p[0, 0]"; "p[0, 1]"; "p[0, 2]" ], ok.Output |> List.truncate 3 |> List.map (fun o -> ok.Indices[o].Name))
    Assert.Equal(8, ok.Cuts.Head.Left.Length)
    Assert.Equal(8, ok.Cuts.Head.Right.Length)

[<Fact>]
let ``tensors are numbered in declaration order however well the later declarations were counted ahead`` () =
    // The tensor array is sized from the declaration's loop and the later tensor declarations at its level: here the
    // count misses a loop inside a `for` block and one whose range needs a name bound later, and counts two members
    // that are dropped as duplicates.
    let text =
        "network a(n: int = 6) {\n  index p[i]: 2 for i in 0..n-1\n  index b[i]: 2 for i in 1..n-1\n  weight A[0]: (p[0], b[1])\n  weight A[i]: (b[i], p[i], b[i+1]) for i in 1..n-2\n  let m = n - 1\n  weight A[n-1]: (b[n-1], p[n-1])\n  weight A[i]: (p[i]) for i in 0..1\n  for k in 0..1 {\n    weight C[k]: (b[k+1], b[k+2] if k > 5)\n  }\n  weight D[i]: (b[i]) for i in 2..m\n}"
    let r = compile text []
    Assert.Contains("TN0116", codes r)
    let net = r.Elaborated.Value.Network
    Assert.Equal<string list>(
        [ "A[0]"; "A[1]"; "A[2]"; "A[3]"; "A[4]"; "A[5]"; "C[0]"; "C[1]"; "D[2]"; "D[3]"; "D[4]"; "D[5]" ],
        net.Tensors |> Array.map (fun t -> t.Name) |> List.ofArray)
    Assert.All(Array.indexed net.Tensors, fun (k, t) -> Assert.Equal(k, t.Id))
    Assert.Equal<string list>([ "b[5]"; "p[5]" ], net.Tensors[5].Legs |> Array.map (fun l -> net.Indices[l].Name) |> List.ofArray)
    Assert.Equal(net.Tensors.Length, r.Elaborated.Value.LegRanges.Length)

[<Fact>]
let ``a tensor dropped for a missing leg leaves the later tensors numbered in order`` () =
    let text, (line, col), _ =
        marked "network a(n: int = 4) {\n  index p[i]: 2 for i in 0..n-1\n  weight A[i]: (p[i]) for i in 0..n-1\n  weight B: («q»)\n  weight C[i]: (p[i]) for i in 0..n-1\n}"
    let r = compile text []
    let d = r.Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0109") |> List.exactlyOne
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
    let net = r.Elaborated.Value.Network
    Assert.Equal(8, net.Tensors.Length)
    Assert.All(Array.indexed net.Tensors, fun (k, t) -> Assert.Equal(k, t.Id))
    Assert.Equal("C[0]", net.Tensors[4].Name)

[<Fact>]
let ``a leg past its family in a two-variable loop is reported once, with no loop range`` () =
    // Only a one-variable loop has a range to suggest; a grid member keeps no loop values, and the hint keeps the leg
    // where it exists instead.
    let text, (line, col), _ =
        marked "network g(L: int = 4) {\n  index h[x, y]: 2 for x in 0..L-1, y in 0..L-1\n  weight T[x, y]: (h[x, y], «h[x+1, y]») for x in 0..L-1, y in 0..L-1\n}"
    let r = compile text []
    let d = r.Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0110") |> List.exactlyOne
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.DoesNotContain("change the loop", List.exactlyOne d.Hints)
    Assert.EndsWith("`h[x + 1, y] if x <= 2`", List.exactlyOne d.Hints)

[<Fact>]
let ``a member its declaration leaves out between others is one error at its first use, pointing at the declaration`` () =
    // `b[4]` is skipped by the filter of b's declaration; A[3] and A[4] both name it, at two places. One mistake:
    // one TN0110 at the first place, its members described with the gap, the hint naming the declaration's line
    // and the other place (not a neighbouring member, which the old hint offered: `did you mean b[i - 1]?`).
    let text, (line, col), _ =
        marked "network m(n: int = 8) {\n  index p[i]: 2 for i in 0..n-1\n  index b[i]: 3 for i in 1..n-1 if i != 4\n  weight A[0]: (p[0], b[1])\n  weight A[i]: («b[i]», p[i], b[i+1]) for i in 1..n-2\n  weight A[n-1]: (b[n-1], p[n-1])\n  output (p[0..n-1])\n}"
    let r = compile text []
    Assert.Equal<string list>([ "TN0110" ], codes r)
    let d = r.Diagnostics.Head
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Contains("b[1]..b[3], b[5]..b[7]", d.Message)
    let hint = List.exactlyOne d.Hints
    Assert.Contains("(line 3)", hint)
    Assert.Contains("(5,29)", hint)
    Assert.DoesNotContain("did you mean", hint)
    // A family declared with a step is described by it; one whose only gap is past its end keeps the plain range.
    let strided = compile "network s(n: int = 8) {\n  index e[i]: 2 for i in 0..n-2 by 2\n  weight L[i]: (e[i]) for i in 0..n-1\n  weight R[i]: (e[i]) for i in 0..n-1 by 2\n}" []
    Assert.Equal<string list>([ "TN0110" ], codes strided)
    Assert.Contains("e[0..6 by 2]", strided.Diagnostics.Head.Message)
    // Declared in two parts with a member forgotten between them: the hint names both lines, and no filter or step.
    let parts = compile "network s(n: int = 5) {\n  index b[0]: 2\n  index b[i]: 2 for i in 2..n\n  weight A[i]: (b[i], b[i+1]) for i in 0..n-1\n}" []
    let partsHint = List.exactlyOne (List.exactlyOne parts.Diagnostics).Hints
    Assert.Contains("(lines 2, 3)", partsHint)
    Assert.DoesNotContain("filter", partsHint)
    let past = compile "network s(n: int = 4) {\n  index b[i]: 2 for i in 1..n-1\n  weight A[i]: (b[i], b[i+1]) for i in 1..n-1\n}" []
    Assert.Contains("b[1]..b[3]", (List.exactlyOne past.Diagnostics).Message)
    Assert.DoesNotContain("leaves it out", String.concat " " (List.exactlyOne past.Diagnostics).Hints)
