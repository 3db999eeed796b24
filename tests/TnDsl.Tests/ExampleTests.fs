module TnDsl.Tests.ExampleTests

open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl
open TnDsl.Tests.Support

let examples: obj array seq =
    Directory.GetFiles(examplesDir, "*.tn") |> Array.sort |> Seq.map (fun f -> [| box (Path.GetFileName f) |])

[<Theory>]
[<MemberData(nameof examples)>]
let ``every example checks clean and matches the summary in its header`` (name: string) =
    let path = Path.Combine(examplesDir, name)
    let text = File.ReadAllText path
    Assert.StartsWith("//", text)
    let r = Compiler.compileFile path Compiler.defaultOptions
    Assert.Empty(r.Diagnostics |> List.map Diagnostic.headline)
    let net = r.Network.Value
    let s = Api.NetworkSummary net
    let m = Regex.Match(text, @"// summary: (.*)")
    Assert.True(m.Success, "the header needs a `// summary:` line")
    for kv in m.Groups[1].Value.Split(' ', System.StringSplitOptions.RemoveEmptyEntries) do
        let parts = kv.Split('=')
        let expected = int parts[1]
        let actual =
            match parts[0] with
            | "tensors" -> s.Tensors
            | "weights" -> s.Weights
            | "inputs" -> s.Inputs
            | "consts" -> s.Constants
            | "open" -> s.OpenLegs
            | "bonds" -> s.Bonds
            | other -> failwithf "unknown summary key %s" other
        Assert.True((expected = actual), sprintf "%s: %s is %d, the header says %d" name parts[0] actual expected)

[<Fact>]
let ``a 32 by 32 peps checks clean`` () =
    let r = Compiler.compileFile (Path.Combine(examplesDir, "peps.tn")) { Compiler.defaultOptions with Overrides = [ "Lx", "32"; "Ly", "32" ] }
    Assert.Empty(r.Diagnostics)
    Assert.Equal(1024, r.Network.Value.Tensors.Length)
    Assert.Equal(2 * 32 * 31 + 1024, r.Network.Value.Indices.Length)
