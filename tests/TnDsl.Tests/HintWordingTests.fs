/// The wording of hints a user acts on (session 15's walk-through): one sentence that says what to change.
module TnDsl.Tests.HintWordingTests

open Xunit
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
