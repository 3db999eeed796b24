/// Session 13's consistency fixes to two elaboration messages, asserted by code, range and form, not by wording:
/// a `--set` value the elaborator refuses is prefixed by the `--set name=value:` that gave it, as a value that does
/// not parse is; a default that reads its own or a later parameter says so instead of calling the name unknown.
module TnDsl.Tests.ParameterMessageTests

open Xunit
open TnDsl
open TnDsl.Tests.Support

let private body = "  index i: a\n  weight A: (i)\n}"

/// The one diagnostic of a compile, with its code.
let private single (code: string) (r: Compiler.CompileResult) =
    let d = Assert.Single(r.Diagnostics |> List.filter Diagnostic.isError)
    Assert.Equal(code, d.Kind.Code)
    d

[<Fact>]
let ``every --set value refused on the command line begins with its --set name=value and lies on the command line`` () =
    let text = "network a(a: int = 2) {\n" + body
    for code, name, value in [ "TN0102", "a", "abc"; "TN0102", "a", "1e3"; "TN0102", "a", "true"; "TN0103", "zz", "3" ] do
        let d = single code (compile text [ name, value ])
        Assert.Equal(Compiler.commandLine, d.Range)
        Assert.StartsWith(sprintf "--set %s=%s: " name value, d.Message)

[<Fact>]
let ``a word given as a --set value is called a value, not a missing variable, and True is told to be true`` () =
    // Values are evaluated with no names in scope: `True` (Python's spelling) used to be "not a parameter, `let` or
    // loop variable here", which sent the user looking for a variable.
    let text = "network a(flag: bool = false) {\n  index i: 2\n  weight A: (i)\n  weight B: (i) for k in 0..0 if flag\n  output (i if not flag)\n}"
    for value, fix in [ "True", "write `true`"; "no", "write `false`"; "2 * n", "it names no parameter" ] do
        let d = single "TN0102" (compile text [ "flag", value ])
        Assert.Equal(Compiler.commandLine, d.Range)
        Assert.StartsWith(sprintf "--set flag=%s: `%s` is not a value" value (value.Split(' ') |> Array.last), d.Message)
        Assert.Contains(fix, d.Message)
    Assert.Empty((compile text [ "flag", "true" ]).Diagnostics |> List.filter Diagnostic.isError)

[<Fact>]
let ``a default naming a later parameter is TN0100 at the name, and not reported as a name that does not exist`` () =
    let later = "network p(a: int = «b», b: int = 2) {\n" + body
    let clean, (sl, sc), (el, ec) = marked later
    let d = single "TN0100" (compile clean [])
    Assert.Equal((sl, sc, el, ec + 1), (d.Range.Start.Line, d.Range.Start.Col, d.Range.End.Line, d.Range.End.Col))
    // The same default with no parameter `b` anywhere: the message for a name that does not exist.
    let unknown = single "TN0100" (compile "network p(a: int = b, c: int = 2) {\n  index i: a * c\n  weight A: (i)\n}" [])
    Assert.NotEqual<string>(unknown.Message, d.Message)
    // Declared before, it is read.
    Assert.Empty((compile ("network p(b: int = 2, a: int = b) {\n" + body) []).Diagnostics |> List.filter Diagnostic.isError)

[<Fact>]
let ``a default naming its own parameter is TN0100 at the name, with a message of its own`` () =
    let clean, (sl, sc), (el, ec) = marked ("network p(a: int = 1 + «a») {\n" + body)
    let d = single "TN0100" (compile clean [])
    Assert.Equal((sl, sc, el, ec + 1), (d.Range.Start.Line, d.Range.Start.Col, d.Range.End.Line, d.Range.End.Col))
    let later = single "TN0100" (compile ("network p(a: int = b, b: int = 2) {\n" + body) [])
    // The same default under another parameter, where no `a` exists yet: the message for a name that does not exist.
    let unknown = single "TN0100" (compile "network p(x: int = 1 + a) {\n  index i: x\n  weight A: (i)\n}" [])
    Assert.NotEqual<string>(unknown.Message, d.Message)
    Assert.NotEqual<string>(later.Message, d.Message)
