/// The wording of hints a user acts on (session 15's walk-through): one sentence that says what to change.
module TnDsl.Tests.HintWordingTests

open Xunit
open TnDsl
open TnDsl.Tests.Support

[<Fact>]
let ``TN0110's loop hint is one sentence that says which loop to write`` () =
    // README's mistake: the middle sites' loop written `for i in 1..n-1`, one site too far for b[i+1].
    let text =
        "network mps(n: int = 16) {\n  index b[i]: 2 for i in 1..n-1\n  index p[i]: 2 for i in 0..n-1\n" +
        "  weight A[0]: (p[0], b[1])\n  weight A[i]: (b[i], p[i], b[i+1]) for i in 1..n-1\n  weight A[n-1]: (b[n-1], p[n-1])\n}"
    let d = (compile text []).Diagnostics |> List.filter (fun d -> d.Kind.Code = "TN0110") |> List.exactlyOne
    let hint = List.exactlyOne d.Hints
    Assert.Equal("change the loop to `for i in 1..n - 2`, the values of i for which this leg exists", hint)

[<Fact>]
let ``an if after a complete declaration is one error at the if, saying that a for clause's filter makes it conditional`` () =
    // A tensor or index meant to exist under a condition, written as `… if flag`: the `if` used to be "expected a
    // declaration (…), found `if`", with no hint, which names neither the mistake nor the way to write it.
    for decl in [ "  weight B: (i) «if» flag"; "  for x in 0..2 {\n    index h[x]: 3 «if» x < 2\n  }" ] do
        let text, (line, col), _ =
            marked ("network a(flag: bool = true) {\n  index i: 2\n  weight A: (i)\n" + decl + "\n  output (i if not flag)\n}")
        let d = (compile text []).Diagnostics |> List.exactlyOne
        Assert.Equal("TN0001", d.Kind.Code)
        Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
        Assert.Contains("for k in 0..0 if flag", List.exactlyOne d.Hints)
    // Written that way, the declaration is conditional.
    let ok = compile "network a(flag: bool = true) {\n  index i: 2\n  weight A: (i)\n  weight B: (i) for k in 0..0 if flag\n  output (i if not flag)\n}" []
    Assert.Empty(ok.Diagnostics)

[<Fact>]
let ``a loop one site too far is one error: the last site declared on its own line is not also a duplicate`` () =
    // README's mistake: the loop makes A[15] (dropped: b[16] does not exist) and line 6 declares A[15] again. The loop
    // hint's range no longer makes A[15], so "tensor `A[15]` is already declared" was a second message for one mistake.
    let text =
        "network mps(n: int = 16) {\n  index b[i]: 2 for i in 1..n-1\n  index p[i]: 2 for i in 0..n-1\n" +
        "  weight A[0]: (p[0], b[1])\n  weight A[i]: (b[i], p[i], b[i+1]) for i in 1..n-1\n  weight A[n-1]: (b[n-1], p[n-1])\n  output (p[0..n-1])\n}"
    let r = compile text []
    Assert.Equal<string list>([ "TN0110" ], r.Diagnostics |> List.map (fun d -> d.Kind.Code))
    Assert.StartsWith("change the loop", List.exactlyOne r.Diagnostics.Head.Hints)
    // A member declared twice whose first declaration is whole is still TN0116, at the second.
    let twice = compile "network m(n: int = 3) {\n  index p[i]: 2 for i in 0..n-1\n  weight A[i]: (p[i]) for i in 0..n-1\n  weight A[n-1]: (p[n-1])\n}" []
    Assert.Equal<string list>([ "TN0116" ], twice.Diagnostics |> List.filter Diagnostic.isError |> List.map (fun d -> d.Kind.Code))
