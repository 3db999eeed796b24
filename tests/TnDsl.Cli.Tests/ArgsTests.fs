/// The shared option parser of the `tn` commands: aliases, typed values, positionals and usage errors.
module TnDsl.Cli.Tests.ArgsTests

open System.IO
open Xunit
open TnDsl.Cli

let private aliases = readOnlyDict [ "-o", "--output"; "-n", "--count" ]

let private parse (argv: string list) =
    Args.Parse(Array.ofList argv, [ "--output"; "--count"; "--size"; "--batch" ], [ "--json" ], aliases)

/// The message of the usage error `f` raises.
let private usageError (f: unit -> 'a) = (Assert.Throws<UsageException>(fun () -> f () |> ignore)).Message

[<Fact>]
let ``a short alias reads as its long option, with the value after it`` () =
    let a = parse [ "-o"; "out.json"; "file.tn"; "-n"; "3"; "--json" ]
    Assert.Equal("out.json", a.Value "--output")
    Assert.Equal("3", a.Value "--count")
    Assert.True(a.Has "--json")
    Assert.Equal<string seq>([ "file.tn" ], a.Positional)

[<Fact>]
let ``the long form and the alias are the same option: the last one given wins`` () =
    let a = parse [ "--output=first.json"; "-o"; "second.json" ]
    Assert.Equal<string seq>([ "first.json"; "second.json" ], a.Values "--output")
    Assert.Equal("second.json", a.Value "--output")

[<Fact>]
let ``an alias without its value names both spellings`` () =
    let message = usageError (fun () -> parse [ "file.tn"; "-o" ])
    Assert.Contains("-o", message)
    Assert.Contains("--output", message)
    Assert.Contains("needs a value", message)

[<Fact>]
let ``an unknown option is named and the valid options are listed with their aliases`` () =
    let message = usageError (fun () -> parse [ "file.tn"; "--frobnicate" ])
    Assert.Contains("unknown option '--frobnicate'", message)
    Assert.Contains("--output (-o)", message)
    Assert.Contains("--count (-n)", message)
    Assert.Contains("--json", message)

[<Fact>]
let ``an unknown short option is a usage error; a lone dash and a negative number stay positional`` () =
    Assert.Contains("unknown option '-x'", usageError (fun () -> parse [ "-x" ]))
    Assert.Equal<string seq>([ "-"; "-3"; "-0.5" ], (parse [ "-"; "-3"; "-0.5" ]).Positional)

[<Fact>]
let ``without aliases a short option is unknown, and the message lists the long ones`` () =
    let message = usageError (fun () -> Args.Parse([| "-o"; "x" |], [ "--output" ], []))
    Assert.Contains("unknown option '-o'", message)
    Assert.Contains("--output", message)

[<Fact>]
let ``sizes are NAME=N pairs in the order given, repeated or comma-separated`` () =
    let a = parse [ "--size"; "batch=1000"; "--size"; "k=3, m=7" ]
    let sizes = a.Sizes "--size" |> Array.map (fun kv -> kv.Key, kv.Value)
    Assert.Equal<(string * int64) array>([| "batch", 1000L; "k", 3L; "m", 7L |], sizes)
    Assert.Empty(a.Sizes "--batch")

[<Theory>]
[<InlineData("batch=0")>]
[<InlineData("batch=-4")>]
[<InlineData("batch=ten")>]
[<InlineData("batch=")>]
[<InlineData("=5")>]
[<InlineData("batch")>]
let ``a size that is not NAME=N with N positive is a usage error that quotes it`` (text: string) =
    let message = usageError (fun () -> (parse [ "--size"; text ]).Sizes "--size")
    Assert.Contains("--size", message)
    Assert.Contains($"'{text}'", message)

[<Fact>]
let ``a positive integer option is read, absent is null, anything else is a usage error`` () =
    Assert.Equal(System.Nullable 12L, (parse [ "--batch"; "12" ]).Positive "--batch")
    Assert.False((parse []).Positive("--batch").HasValue)
    for bad in [ "0"; "-2"; "1.5"; "x" ] do
        Assert.Contains($"'{bad}'", usageError (fun () -> (parse [ "--batch"; bad ]).Positive "--batch"))

[<Fact>]
let ``an optional positional is null when absent and a usage error when given twice`` () =
    Assert.Null((parse []).Optional "FILE")
    Assert.Equal("a.tn", (parse [ "a.tn" ]).Optional "FILE")
    Assert.Contains("a.tn b.tn", usageError (fun () -> (parse [ "a.tn"; "b.tn" ]).Optional "FILE"))

/// Runs a CommandSyntax for verb `demo` (valued --size, flag --json) on `argv` with `body`: code, stdout, stderr.
let private runSyntax (argv: string list) (body: Args -> int) =
    let syntax = CommandSyntax("demo", "usage: tn demo FILE [--size NAME=N] [--json]", [| "--size" |], [| "--json" |])
    use out = new StringWriter()
    use err = new StringWriter()
    let code = syntax.Run(Array.ofList argv, out, err, System.Func<Args, int> body)
    code, out.ToString(), err.ToString()

[<Fact>]
let ``help prints the usage to the output and exits 0 without running the command`` () =
    for flag in [ "-h"; "--help" ] do
        let code, out, err = runSyntax [ "file.tn"; flag; "--frobnicate" ] (fun _ -> failwith "the body ran")
        Assert.Equal(0, code)
        Assert.Equal("usage: tn demo FILE [--size NAME=N] [--json]", out.Trim())
        Assert.Equal("", err)

[<Fact>]
let ``a usage error from parsing or from the command exits 2 with the verb, the message and the usage`` () =
    let code, out, err = runSyntax [ "--size"; "b=0" ] (fun a -> a.Sizes "--size" |> ignore; 0)
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.StartsWith("tn demo: --size takes NAME=N", err)
    Assert.Contains("usage: tn demo", err)
    let code, _, err = runSyntax [ "--yaml" ] (fun _ -> 0)
    Assert.Equal(2, code)
    Assert.StartsWith("tn demo: unknown option '--yaml'", err)

[<Fact>]
let ``the command's own exit code comes back when the arguments are good`` () =
    let code, _, err = runSyntax [ "file.tn"; "--json" ] (fun a -> if a.Has "--json" && a.Single "FILE" = "file.tn" then 7 else 0)
    Assert.Equal(7, code)
    Assert.Equal("", err)
