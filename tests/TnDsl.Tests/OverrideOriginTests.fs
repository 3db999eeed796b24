/// Session 18: a mistake in the parameter overrides names where they came from. Through `tn` they are `--set`
/// values on the command line (`command line(1,1): … --set L=x: …`, unchanged); through the API they are the
/// caller's `overrides` (`overrides(1,1): … override L=x: …`), and no hint tells a program to use a flag. Each kind of
/// mistake is asserted through both origins, with its exact range file, message and hints, and gives one diagnostic.
module TnDsl.Tests.OverrideOriginTests

open System.Collections.Generic
open Xunit
open TnDsl
open TnDsl.Api
open TnDsl.Tests.Support

let private chain =
    "network chain(L: int = 3, D: int = 2, noise: float = 0.1) {\n"
    + "  require L >= 2, \"a chain needs at least two sites\"\n"
    + "  require noise >= 0.0, \"noise is a standard deviation\"\n"
    + "  index b[i]: D for i in 1..L-1\n"
    + "  weight A[i]: (b[i] if i > 0, b[i+1] if i < L-1) for i in 0..L-1\n"
    + "}\n"

let private needy = "network need(n: int) {\n  index i: n\n  weight A: (i)\n}\n"

let private compileFrom (origin: Compiler.OverrideOrigin) (text: string) (overrides: (string * string) list) =
    Compiler.compileWith (Compiler.readSource Compiler.maxFileBytes) "test.tn" text
        { Compiler.defaultOptions with Overrides = overrides; OverrideOrigin = origin }

/// The one error of a compile (there must be exactly one), as (code, file, message, hints).
let private theError (r: Compiler.CompileResult) =
    let d = Assert.Single(r.Diagnostics |> List.filter Diagnostic.isError)
    d.Kind.Code, d.Range.File, d.Message, d.Hints

let private cli = Compiler.OverrideOrigin.CommandLine
let private api = Compiler.OverrideOrigin.Api

/// (override, code, message after the origin's `name=value: `, hints) of each mistake reported at the origin.
let private atOrigin =
    [ ("L", "x"), "TN0102", "`x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)", []
      ("L", "3+"), "TN0102", "expected `(`, `false`, `if`, `true` or name", []
      ("l", "3"), "TN0103", "`chain` has no parameter `l`", [ "did you mean `L`?" ]
      ("Lenght", "3"), "TN0103", "`chain` has no parameter `Lenght`", [ "its parameters are L, D, noise" ]
      ("L", "2.5"), "TN0102", "parameter `L` is an int, but the value given is a float", []
      ("noise", "true"), "TN0102", "parameter `noise` is a float, but the value given is a bool", [] ]

[<Fact>]
let ``on the command line a refused value is --set name=value at the command line, as before`` () =
    for (name, value), code, message, hints in atOrigin do
        Assert.Equal((code, "command line", sprintf "--set %s=%s: %s" name value message, hints), theError (compileFrom cli chain [ name, value ]))

[<Fact>]
let ``through the API a refused value is override name=value at overrides, with no --set`` () =
    for (name, value), code, message, hints in atOrigin do
        Assert.Equal((code, "overrides", sprintf "override %s=%s: %s" name value message, hints), theError (compileFrom api chain [ name, value ]))

[<Fact>]
let ``the default options keep the command line, so callers that set no origin read as before`` () =
    Assert.Equal(cli, Compiler.defaultOptions.OverrideOrigin)
    Assert.Equal(Compiler.commandLine, cli.Range)
    Assert.Equal(theError (compileFrom cli chain [ "l", "3" ]), theError (compile chain [ "l", "3" ]))

[<Fact>]
let ``a value out of range or one that breaks a family is reported in the file, alike for both origins`` () =
    for origin in [ cli; api ] do
        // `require L >= 2` fails at its condition: one error, the file's own message, no hint.
        Assert.Equal(("TN0115", "test.tn", "a chain needs at least two sites", []), theError (compileFrom origin chain [ "L", "1" ]))
        // D = 0 sizes every `b[i]` 0: one error at the dimension, naming the first member.
        Assert.Equal(("TN0107", "test.tn", "the dimension of `b[1]` evaluates to 0; it must be at least 1", []), theError (compileFrom origin chain [ "D", "0" ]))

[<Fact>]
let ``a parameter with no value is given one the way its origin gives values`` () =
    Assert.Equal(("TN0104", "test.tn", "parameter `n` has no default and no value was given", [ "pass one with `--set n=…`" ]), theError (compileFrom cli needy []))
    Assert.Equal(("TN0104", "test.tn", "parameter `n` has no default and no value was given", [ "give `n` a value in the overrides" ]), theError (compileFrom api needy []))

[<Fact>]
let ``a refused value for a parameter with no default is one mistake: no second error saying none was given`` () =
    Assert.Equal(("TN0102", "command line", "--set n=x: `x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)", []), theError (compileFrom cli needy [ "n", "x" ]))
    Assert.Equal(("TN0102", "overrides", "override n=x: `x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)", []), theError (compileFrom api needy [ "n", "x" ]))

[<Fact>]
let ``a misspelt name for a parameter with no default is one mistake: the unknown name, hinting at the parameter`` () =
    Assert.Equal(("TN0103", "command line", "--set N=5: `need` has no parameter `N`", [ "did you mean `n`?" ]), theError (compileFrom cli needy [ "N", "5" ]))
    Assert.Equal(("TN0103", "overrides", "override N=5: `need` has no parameter `N`", [ "did you mean `n`?" ]), theError (compileFrom api needy [ "N", "5" ]))
    // A name that suggests nothing leaves the parameter without a value: two mistakes, two errors.
    let r = compileFrom api needy [ "zz", "5" ]
    Assert.Equal<string list>([ "TN0103"; "TN0104" ], r.Diagnostics |> List.filter Diagnostic.isError |> List.map (fun d -> d.Kind.Code) |> List.sort)

[<Fact>]
let ``two mistakes are two diagnostics, each naming its own override`` () =
    let r = compileFrom api chain [ "L", "x"; "zz", "3" ]
    let messages = r.Diagnostics |> List.filter Diagnostic.isError |> List.map (fun d -> d.Range.File, d.Message)
    Assert.Equal<(string * string) list>(
        [ "overrides", "override L=x: `x` is not a value: a value is a number, `true` or `false`, or arithmetic on them (it names no parameter)"
          "overrides", "override zz=3: `chain` has no parameter `zz`" ], messages |> List.sortBy snd)

[<Fact>]
let ``Frontend names the API's overrides unless told the command line`` () =
    let pairs (kvs: (string * string) list) : IReadOnlyList<KeyValuePair<string, string>> = kvs |> List.map KeyValuePair |> ResizeArray :> _
    let only (r: CheckResult) =
        let d = Assert.Single(r.Diagnostics |> Seq.filter (fun d -> d.IsError))
        d.Rendered.Split('\n')[0], d.Hints
    Assert.Equal(("overrides(1,1): error TN0103: override l=3: `chain` has no parameter `l`", [| "did you mean `L`?" |]),
                 only (Frontend.CheckText("test.tn", chain, pairs [ "l", "3" ], null)))
    Assert.Equal(("command line(1,1): error TN0103: --set l=3: `chain` has no parameter `l`", [| "did you mean `L`?" |]),
                 only (Frontend.CheckText("test.tn", chain, pairs [ "l", "3" ], null, OverrideOrigin.CommandLine)))
    Assert.Equal(("test.tn(1,14): error TN0104: parameter `n` has no default and no value was given", [| "give `n` a value in the overrides" |]),
                 only (Frontend.CheckText("test.tn", needy, null, null)))
    let e = Assert.Throws<TnException>(fun () -> Frontend.LoadText("test.tn", chain, pairs [ "L", "2.5" ], null) |> ignore)
    Assert.DoesNotContain("--set", e.Message)
    Assert.DoesNotContain("command line", e.Message)
    Assert.Contains("overrides(1,1): error TN0102: override L=2.5: parameter `L` is an int, but the value given is a float", e.Message)
