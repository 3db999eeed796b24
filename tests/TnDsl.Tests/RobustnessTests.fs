/// What a new user's mistakes produce (session 13's audit of the `tn` command): one diagnostic per mistake, at its
/// place, for inputs such as a parameter set below what a `require` asks or a folder named as the file.
module TnDsl.Tests.RobustnessTests

open System.IO
open Xunit
open TnDsl
open TnDsl.Tests.Support

/// The README's MPS, whose `require` asks for two sites: with fewer, every family after it is empty.
let mpsText = File.ReadAllText(Path.Combine(examplesDir, "mps.tn"))

[<Theory>]
[<InlineData("0")>]
[<InlineData("1")>]
[<InlineData("-3")>]
let ``a require that fails is the one error: the declarations after it are not expanded`` (n: string) =
    let result = compile mpsText [ "n", n ]
    let errors = result.Diagnostics |> List.filter Diagnostic.isError
    Assert.Equal<string list>([ "TN0115" ], errors |> List.map (fun d -> d.Kind.Code))
    // At the condition of the require (line 6 of mps.tn: `require n >= 2, ...`).
    Assert.Equal(6, errors.Head.Range.Start.Line)
    Assert.True(result.Network.IsNone)

[<Fact>]
let ``errors before a require that fails are still reported`` () =
    let text = "network a(n: int = 1) {\n  index i: «m»\n  require n >= 2, \"two at least\"\n  index j: q\n  weight A: (i)\n}"
    let clean, (line, col), _ = marked text
    let result = compile clean []
    Assert.Equal<string list>([ "TN0100"; "TN0115" ], codes result |> List.sort)
    let unknown = result.Diagnostics |> List.find (fun d -> d.Kind.Code = "TN0100")
    Assert.Equal((line, col), (unknown.Range.Start.Line, unknown.Range.Start.Col))

[<Fact>]
let ``a folder named as the .tn file is reported as a folder, not as a missing file`` () =
    let folder = Directory.CreateTempSubdirectory("tndsl-folder-").FullName
    try
        let result = Compiler.compileFile folder Compiler.defaultOptions
        let d = Assert.Single result.Diagnostics
        Assert.Equal("TN0007", d.Kind.Code)
        Assert.Contains("folder", d.Message)
        Assert.DoesNotContain("no such file", d.Message)
    finally
        Directory.Delete folder

[<Fact>]
let ``a default of the wrong type names the parameter's type in words, not the compiler's case name`` () =
    let result = compile "network p(n: int = 1e400) {\n  index a: 2\n  weight A: (a)\n  output (a)\n}" []
    let d = Assert.Single result.Diagnostics
    Assert.Equal("TN0106", d.Kind.Code)
    Assert.Equal((1, 20), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Contains("must be an int, but this is a float", d.Message)
    Assert.DoesNotContain("TInt", d.Message)

[<Fact>]
let ``a tensor far past 64 bits of elements is reported with its size as a power of two, not hundreds of digits`` () =
    let text = "network star(n: int = 3000) {\n  index b[i]: 2 for i in 0..n-1\n  «weight C: (b[0..n-1])»\n  weight A[i]: (b[i]) for i in 0..n-1\n  output ()\n}"
    let clean, (line, col), _ = marked text
    let d = compile clean [] |> fun r -> r.Diagnostics |> List.find (fun d -> d.Kind.Code = "TN0214")
    Assert.Equal((line, col), (d.Range.Start.Line, d.Range.Start.Col))
    Assert.Contains("about 2^3000 elements", d.Message)
    Assert.True(d.Message.Length < 200, d.Message)
