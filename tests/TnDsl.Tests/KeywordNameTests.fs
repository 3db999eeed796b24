/// A keyword used as a name (session 14's late fixes): one mistake, so one TN0004 at the declaration, not one more
/// for every place the name is written.
module TnDsl.Tests.KeywordNameTests

open Xunit
open TnDsl
open TnDsl.Tests.Support

let private errors (r: Compiler.CompileResult) = r.Diagnostics |> List.filter Diagnostic.isError

[<Fact>]
let ``an index named for, used on two tensors and the output, is one TN0004 at its declaration`` () =
    let text = "network a {\n  index «for»: 2\n  index j: 3\n  weight A: (for, j)\n  weight B: (j, for)\n  output (for)\n}"
    let d = theOneError "TN0004" text
    Assert.Contains("`for`", d.Message)

[<Fact>]
let ``two different keywords used as names are two diagnostics, one each`` () =
    let text = "network a {\n  index for: 2\n  index let: 3\n  weight A: (for, let)\n  weight B: (let)\n}"
    let found = errors (compile text []) |> List.filter (fun d -> d.Kind.Code = "TN0004")
    Assert.Equal<string list>([ "`for` is a keyword and cannot be used as a name"; "`let` is a keyword and cannot be used as a name" ],
                              found |> List.map (fun d -> d.Message))
    Assert.Equal<int list>([ 2; 3 ], found |> List.map (fun d -> d.Range.Start.Line))
