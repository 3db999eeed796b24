/// One bad input per diagnostic code: each asserts the code and the exact range, never the wording.
module TnDsl.Tests.CheckTests

open System.IO
open Xunit
open TnDsl
open TnDsl.Tests.Support

/// (code, text with the expected range «marked», overrides).
let corpus: (string * string * (string * string) list) list =
    [ "TN0001", "network a() {\n  index i: 2\n  weight A: (i «init» normal(0, 1)\n}", []
      "TN0002", "network a() {\n  index i: 2\n  weight A: (i)\n}\n«/*» never closed", []
      "TN0003", "network a() {\n  index i: «99999999999999999999»\n}", []
      "TN0004", "network a() {\n  index «for»: 2\n}", []
      "TN0005", "network a() {\n  index i: 2\n  weight A: (i) init normal(0, 1) init «copy»\n  output (i)\n}", []
      "TN0006", "use «\"x.tn»\nnetwork a() { index i: 2 weight A: (i) output (i) }", []
      "TN0007", "«use \"no-such-file.tn\"»\nnetwork a() { index i: 2 weight A: (i) output (i) }", []
      "TN0008", "network a() { index i: 2 weight A: (i) }\nnetwork «a»() { index i: 2 weight A: (i) }", []
      "TN0009", "network a() {\n  index i: " + String.replicate 255 "(" + "«(»1" + String.replicate 256 ")" + "\n  weight A: (i)\n}", []
      "TN0009", "network a() {\n  index i: " + String.replicate 256 "if true then " + "if «true» then 1 else 2" + String.replicate 256 " else 2" + "\n  weight A: (i)\n}", []
      "TN0010", "«use \"test.tn\"»\nnetwork a() { index i: 2 weight A: (i) output (i) }", []
      "TN0011", "«use \"/dev/zero\"»\nnetwork a() { index i: 2 weight A: (i) output (i) }", []
      "TN0012", "network a(c: bool = true) {\n  index i: 2\n  index j: 2\n  weight A: (i, j)\n  weight B: («if c then i else j»)\n  output (i if not c, j if c)\n}", []
      "TN0100", "network a(n: int = 2) {\n  index i: «m»\n  weight A: (i)\n}", []
      "TN0101", "network a(n: int = 2) {\n  let «n» = 3\n  index i: n\n  weight A: (i)\n}", []
      "TN0102", "network a(n: int = 2) {\n  index i: n\n  weight A: (i)\n}", [ "n", "1.5" ]
      "TN0103", "network a(n: int = 2) {\n  index i: n\n  weight A: (i)\n}", [ "chi", "3" ]
      "TN0104", "network a(«n: int») {\n  index i: n\n  weight A: (i)\n}", []
      "TN0105", "network a(n: int = 2) {\n  index i: n / «(n - 2)»\n  weight A: (i)\n}", []
      "TN0106", "network a(n: int = 2) {\n  index i: «n * 1.5»\n  weight A: (i)\n}", []
      "TN0107", "network a(n: int = 2) {\n  index i: «n - 2»\n  weight A: (i)\n}", []
      "TN0109", "network a() {\n  index i: 2\n  weight A: («j»)\n}", []
      "TN0110", "network a(n: int = 4) {\n  index b[i]: 2 for i in 1..n-1\n  weight A[i]: (b[i], «b[i+1]») for i in 1..n-1\n}", []
      "TN0111", "network a() {\n  index b[i]: 2 for i in 0..3\n  weight A: («b[0, 1]»)\n}", []
      "TN0112", "network a() {\n  index i: 2\n  weight A[k]: (i) for k in «0..10^12»\n}", []
      "TN0114", "network a() {\n  index i: 2\n  instance m: «nothing»() { }\n}", []
      "TN0115", "network a(n: int = 3) {\n  require «n % 2 == 0», \"n must be even\"\n  index i: 2\n  weight A: (i)\n}", []
      "TN0116", "network a() {\n  index i: 2\n  weight A: (i)\n  «weight A: (i)»\n}", []
      "TN0117", "network a() {\n  index i: 2\n  «index i: 3»\n  weight A: (i)\n}", []
      "TN0118", "network a() {\n  index i: «2^70»\n  weight A: (i)\n}", []
      "TN0119", "network a() {\n  index i: 2\n  instance m: «a»() { }\n  weight A: (i)\n}", []
      "TN0120", "network b() { index j: 2 index k: 2 weight B: (j, k) output (j, k) }\nnetwork a() {\n  index i: 2\n  instance m: b() { «q» = i }\n  weight A: (i)\n}", []
      "TN0121", "network a() {\n  index i: «mix»(2, 3)\n  weight A: (i)\n}", []
      "TN0122", "network a() {\n  index i[k]: 2 for k in 0..3 by «0»\n  weight A: (i[0..3])\n}", []
      "TN0123", "network a() {\n  index i: 2\n  weight A: (i) init «nromal»(0, 1)\n}", []
      "TN0124", "network a() {\n  index i: 2\n  weight A: (i) embed «onehot(2)»\n}", []
      "TN0125", "network a() {\n  index i: 2\n  weight A: (i)\n  output (i)\n  «output (i)»\n}", []
      "TN0126", "network b() { index j: 3 weight B: (j) output (j) }\nnetwork a() {\n  index i: 2\n  instance m: b() { «j = i» }\n  weight A: (i)\n}", []
      "TN0130", "network a(n: int = 2, «unused»: int = 1) {\n  index i: n\n  weight A: (i)\n}", []
      "TN0200", "network a() {\n  index i: 2\n  index j: 2\n  weight A: (i, «j»)\n  weight B: (i)\n  output ()\n}", []
      "TN0201", "network a() {\n  index i: 2\n  weight A: (i)\n  weight B: (i)\n  weight C: («i»)\n}", []
      "TN0202", "network a() {\n  index i: 2\n  index j: 2\n  weight A: (i, j, «i»)\n  weight B: (j)\n}", []
      "TN0203", "network a() {\n  index i: 2\n  weight A: (i)\n  weight B: (i)\n  output («i»)\n}", []
      "TN0204", "network a() {\n  index p[k]: 2 for k in 0..2\n  weight A: (p[0], p[1], «p[2]»)\n  output (p[0..1])\n}", []
      "TN0205", "network a() {\n  index i: 2\n  weight A: (i)\n  output (i, «i»)\n}", []
      "TN0206", "network a() {\n  index i: 2\n  index j: 2\n  index k: 2\n  weight A: (i, j, k)\n  weight B: (k)\n  output (i, j)\n  cut c: «k» | rest\n}", []
      "TN0207", "network a() {\n  index i: 2\n  index j: 2\n  weight A: (i, j)\n  output (i, j)\n  cut «c»: i | i\n}", []
      "TN0209", "network a() {\n  index i: 2\n  index j: 3\n  weight A: (i) shared W\n  «weight B: (j) shared W»\n}", []
      "TN0210", "network a() {\n  index batch: dynamic\n  index p: 3\n  input x: (batch, «p») embed onehot(2)\n  weight A: (p)\n  output (batch)\n}", []
      "TN0211", "network a() {\n  index i: 2\n  index j: 3\n  index k: 2\n  «const C: (i, j, k) = copy»\n  weight A: (i, j, k)\n}", []
      "TN0211", "network a() {\n  index i: 2\n  index j: 3\n  index k: 2\n  index l: 3\n  «const C: (i, j, k, l) = identity»\n  weight A: (i, j, k, l)\n}", []
      "TN0212", "network a() {\n  index i: 2\n  «index unused: 2»\n  weight A: (i)\n}", []
      "TN0213", "«network a() {\n  index i: 2\n  index j: 2\n  weight A: (i)\n  weight B: (j)\n}»", []
      "TN0214", "network a() {\n  index i[k]: 2^40 for k in 0..1\n  «weight A: (i[0], i[1])»\n}", []
      "TN0215", "«network a() {\n}»", []
      "TN0216", "network a() {\n  index i: 2\n  «const C: (i)»\n  weight A: (i)\n}", []
      "TN0217", "network a() {\n  index i: 2\n  index p: 2\n  weight A: (i)\n  weight B: (i)\n  output («p»)\n}", []
      "TN0218", "network a() {\n  index batch: dynamic\n  index p: 2\n  index q: 3\n  input x[0]: (batch, p)\n  «input x[1]: (batch, q)»\n  weight W: (p, q)\n  output (batch)\n}", []
      "TN0219", "network a() {\n  index i: 2\n  const C: (i) = copy\n  «weight W: (i) shared C»\n}", []
      "TN0220", "network a() {\n  «hyper index k: 3»\n  weight A: (k)\n  output ()\n}", []
      "TN0221", "network a(n: int = 4) {\n  index b[i]: 2 for i in 0..n-1\n  weight A[i]: (b[i], b[i+1]) «for i in 0..n-3»\n  output (b[0], b[n-1])\n}", [] ]

/// The corpus as xunit data.
/// Each row carries its position in the corpus too: a code with several inputs (TN0211) gives distinct cases.
let cases: obj array seq = corpus |> Seq.mapi (fun i (code, _, _) -> [| box code; box i |])

[<Theory>]
[<MemberData(nameof cases)>]
let ``each bad input reports its code at the marked range`` (code: string, case: int) =
    let c, text, overrides = corpus |> List.item case
    Assert.Equal(code, c)
    let onCommandLine = not (text.Contains "«")
    let clean, (sl, sc), (el, ec) = if onCommandLine then text, (0, 0), (0, 0) else marked text
    let result = compile clean overrides
    let found = result.Diagnostics |> List.filter (fun d -> d.Kind.Code = code)
    Assert.True(not found.IsEmpty, sprintf "expected %s, got %A" code (codes result))
    let d = found.Head
    if onCommandLine then
        // Values from --set have no place in the file; they are reported against the command line.
        Assert.Equal("command line", d.Range.File)
    else
        Assert.Equal((sl, sc), (d.Range.Start.Line, d.Range.Start.Col))
        // The end column is exclusive; the marked end is the last character.
        Assert.Equal((el, ec + 1), (d.Range.End.Line, d.Range.End.Col))

/// Every diagnostic kind the front end declares (in its phases' `Codes` modules), found by reflection.
let declaredKinds () =
    typeof<Diagnostic>.Assembly.GetTypes()
    |> Array.filter (fun t -> t.FullName.EndsWith "+Codes" && (t.FullName.Contains "Parse" || t.FullName.Contains "Elaboration" || t.FullName.Contains "Check" || t.FullName.Contains "Compiler"))
    |> Array.collect (fun t -> t.GetProperties() |> Array.filter (fun p -> p.PropertyType = typeof<DiagnosticKind>))
    |> Array.map (fun p -> p.GetValue(null) :?> DiagnosticKind)

[<Fact>]
let ``every front-end diagnostic code has a case in the corpus`` () =
    let kinds = declaredKinds ()
    Assert.True(kinds.Length >= 40, sprintf "found only %d kinds" kinds.Length)
    let covered = corpus |> List.map (fun (c, _, _) -> c) |> Set.ofList
    let missing = kinds |> Array.map (fun k -> k.Code) |> Array.filter (fun c -> not (covered.Contains c))
    Assert.Empty(missing)

[<Fact>]
let ``docs/diagnostics.md lists every front-end code with its level and title`` () =
    let doc = File.ReadAllText(Path.Combine(repoRoot, "docs", "diagnostics.md"))
    let level = function Level.Error -> "error" | Level.Warning -> "warning" | Level.Info -> "info"
    let missing = declaredKinds () |> Array.map (fun k -> sprintf "| %s | %s | %s |" k.Code (level k.Level) k.Title) |> Array.filter (fun row -> not (doc.Contains row))
    Assert.Empty(missing)

[<Fact>]
let ``codes are unique and each phase keeps to its range`` () =
    let kinds = declaredKinds ()
    Assert.Equal(kinds.Length, (kinds |> Array.distinctBy (fun k -> k.Code)).Length)
    for k in kinds do
        Assert.Matches("^TN0[0-2][0-9][0-9]$", k.Code)

[<Fact>]
let ``an identity constant pairs its legs from the outside in: (2, 3, 3, 2) and (2, 5, 2) fit`` () =
    let even = "network a() {\n  index i: 2\n  index j: 3\n  index k: 3\n  index l: 2\n  const C: (i, j, k, l) = identity\n  weight A: (i, j, k, l)\n}"
    let odd = "network a() {\n  index q: 2\n  index p: 5\n  index r: 2\n  const D: (q, p, r) = identity\n  weight B: (q, p, r)\n}"
    Assert.Empty(codes (compile even []))
    Assert.Empty(codes (compile odd []))

[<Fact>]
let ``a parameter written in a family of no members is not reported as never used`` () =
    // `tn check --set L=1` said "`D` is never used" of `index h[x]: D for x in 0..L-2`: the loop made no member,
    // so nothing read D, but the user wrote it there. A parameter written nowhere is still reported.
    let text = "network ring(L: int = 1, D: int = 2, E: int = 3) {\n  index h[x]: D for x in 0..L-2\n  weight A[x]: (h[x-1] if x > 0, h[x] if x < L-1) for x in 0..L-1\n  output ()\n}"
    let unused =
        (Compiler.compileText Compiler.readDisk "ring.tn" text Compiler.defaultOptions).Diagnostics
        |> List.filter (fun d -> d.Kind.Code = "TN0130")
        |> List.map (fun d -> d.Message)
    Assert.Equal<string list>([ "`E` is never used" ], unused)

[<Fact>]
let ``a bond used three times is reported at its third use`` () =
    let clean, (sl, sc), _ = marked "network a() {\n  index i: 2\n  weight A: (i)\n  weight B: (i)\n  weight C: («i»)\n}"
    let r = compile clean []
    let d = r.Diagnostics |> List.find (fun d -> d.Kind.Code = "TN0201")
    Assert.Equal((sl, sc), (d.Range.Start.Line, d.Range.Start.Col))

[<Fact>]
let ``errors after a dropped declaration do not cascade into dangling bonds`` () =
    let r = compile "network a() {\n  index i: 2\n  index j: 2\n  weight A: (i, j)\n  weight B: (i, k)\n  weight C: (j)\n}" []
    Assert.Equal<string list>([ "TN0109" ], codes r)

/// An MPS of n sites whose middle sites' loop is `loop`, with `extra` declared before `output`.
let private mpsWith (loop: string) (extra: string) =
    "network mps(n: int = 8) {\n  index p[i]: 2 for i in 0..n-1\n  index b[i]: 3 for i in 1..n-1\n  weight A[0]: (p[0], b[1])\n"
    + sprintf "  weight A[i]: (b[i], p[i], b[i+1]) %s\n  weight A[n-1]: (b[n-1], p[n-1])\n%s  output (p[0..n-1])\n}" loop extra

[<Fact>]
let ``a loop one short at its end is one error at the loop, naming the member it leaves out and the loop that makes it`` () =
    // `for i in 1..n-3` leaves A[6] out: b[6] and b[7] were each a dangling bond and p[6] an output leg on no tensor,
    // three errors (and, before them, a warning that the chain falls apart) for one mistake.
    let text, (line, col), (endLine, endCol) = marked (mpsWith "«for i in 1..n-3»" "")
    let d = (compile text []).Diagnostics |> List.exactlyOne
    Assert.Equal("TN0221", d.Kind.Code)
    Assert.Equal(((line, col), (endLine, endCol + 1)), ((d.Range.Start.Line, d.Range.Start.Col), (d.Range.End.Line, d.Range.End.Col)))
    Assert.Equal("`A[6]` is not declared: the loop `for i in 1..n - 3` stops at 5, leaving `b[6]`, `p[6]` and `b[7]` with one tensor or none", d.Message)
    Assert.Equal<string list>([ "change the loop to `for i in 1..n - 2`" ], d.Hints)
    // Without an error, parts that share no index are still a warning.
    let apart = compile "network a() {\n  index i: 2\n  index j: 2\n  weight A: (i)\n  weight B: (j)\n  output (i, j)\n}" []
    Assert.Equal<string list>([ "TN0213" ], codes apart)

[<Fact>]
let ``a loop one short at its start is one error at the loop, with the loop that makes the first member`` () =
    let text, (line, col), _ = marked (mpsWith "«for i in 2..n-2»" "")
    let d = (compile text []).Diagnostics |> List.exactlyOne
    Assert.Equal("TN0221", d.Kind.Code)
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Equal("`A[1]` is not declared: the loop `for i in 2..n - 2` starts at 2, leaving `b[1]`, `p[1]` and `b[2]` with one tensor or none", d.Message)
    Assert.Equal<string list>([ "change the loop to `for i in 1..n - 2`" ], d.Hints)

[<Fact>]
let ``a dangling bond beside a complete loop is still a dangling bond, not a loop one short`` () =
    // The last site forgets its bond: b[7] is on A[6] only. The member after the loop's end, A[7], is declared, so the
    // loop is not short and the bond's own error stays.
    let text, (line, col), _ = marked ((mpsWith "for i in 1..n-2" "").Replace("weight A[n-1]: (b[n-1], p[n-1])", "weight A[n-1]: (p[n-1])").Replace("(b[i], p[i], b[i+1])", "(b[i], p[i], «b[i+1]»)"))
    let d = (compile text []).Diagnostics |> List.exactlyOne
    Assert.Equal("TN0200", d.Kind.Code)
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Contains("`b[7]`", d.Message)

[<Fact>]
let ``a loop one short and an unrelated dangling bond are two errors`` () =
    let r = compile (mpsWith "for i in 1..n-3" "  index z: 3\n  weight Z: (z)\n") []
    Assert.Equal<string list>([ "TN0221"; "TN0200" ], codes r)
    let dangling = r.Diagnostics |> List.find (fun d -> d.Kind.Code = "TN0200")
    Assert.StartsWith("`z` is used only by `Z`", dangling.Message)

[<Fact>]
let ``one run reports several errors from different phases`` () =
    let text = "network a() {\n  index i: 2\n  weight A: (i j)\n  weight B: (k)\n  index n: 0\n}"
    let r = compile text []
    let cs = codes r |> Set.ofList
    Assert.Contains("TN0001", cs)
    Assert.Contains("TN0109", cs)
    Assert.Contains("TN0107", cs)

[<Fact>]
let ``an out-of-range member in a loop is reported once, with the loop range that fits`` () =
    // b[0] is missing at i = 0 only: the fix is the loop's range, not a shifted subscript (b[i + 1] is already a leg).
    let clean, (sl, sc), _ =
        marked "network a(n: int = 4) {\n  index b[i]: 2 for i in 1..n-1\n  index p[i]: 2 for i in 0..n-1\n  weight A[i]: («b[i]», p[i], b[i+1]) for i in 0..n-2\n  weight A[n-1]: (b[n-1], p[n-1])\n}"
    let r = compile clean []
    let d = r.Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0110") |> List.exactlyOne
    Assert.Equal((sl, sc), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Contains("for i in 1..n - 2", String.concat " " d.Hints)
    Assert.DoesNotContain("b[i + 1]", String.concat " " d.Hints)

[<Fact>]
let ``a misspelt parameter on the command line suggests the right one`` () =
    let r = compile "network a(chi: int = 2) {\n  index i: chi\n  weight A: (i)\n}" [ "cih", "3" ]
    let d = r.Diagnostics |> List.find (fun d -> d.Kind.Code = "TN0103")
    Assert.Contains("`chi`", String.concat " " d.Hints)

[<Fact>]
let ``a huge family is refused quickly instead of expanded`` () =
    let r = compile "network a() {\n  index i[k]: 2 for k in 0..2000000\n  weight A[k]: (i[k]) for k in 0..2000000\n}" []
    Assert.Contains("TN0112", codes r)
    Assert.True(r.Network.IsNone)

[<Fact>]
let ``the expansion limit is configurable`` () =
    let text = "network a() {\n  index i[k]: 2 for k in 0..99\n  weight A[k]: (i[k]) for k in 0..99\n  output (i[0..99])\n}"
    let small = { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxTensors = 50 } }
    let r = Compiler.compileText Compiler.readDisk "t.tn" text small
    Assert.Contains("TN0112", codes r)
    let ok = Compiler.compileText Compiler.readDisk "t.tn" text Compiler.defaultOptions
    Assert.False(ok.HasErrors)
