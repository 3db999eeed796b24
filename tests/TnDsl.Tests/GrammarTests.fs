/// Keeps grammar/tn.ebnf in step with the parser: every `example[context]:` in it must parse cleanly.
module TnDsl.Tests.GrammarTests

open System.IO
open System.Text.Json
open System.Text.RegularExpressions
open Xunit
open TnDsl
open TnDsl.Tests.Support

let private grammarDir = Path.Combine(repoRoot, "grammar")

let examples: obj array seq =
    let text = File.ReadAllText(Path.Combine(grammarDir, "tn.ebnf"))
    Regex.Matches(text, @"\(\* example\[(\w+)\]: (.*?) \*\)")
    |> Seq.map (fun m -> [| box m.Groups[1].Value; box m.Groups[2].Value |])

[<Theory>]
[<MemberData(nameof examples)>]
let ``every example in the grammar parses`` (context: string) (example: string) =
    match context with
    | "expr" ->
        match Parse.parseExpr "ebnf" example with
        | Result.Ok _ -> ()
        | Result.Error ds -> failwithf "%s: %A" example (ds |> List.map Diagnostic.headline)
    | _ ->
        let text = if context = "decl" then "network g() {\n" + example + "\n}" else example
        let f, ds = Parse.parseText "ebnf.tn" text
        Assert.Empty(ds |> List.map Diagnostic.headline)
        if context = "decl" then Assert.Equal(1, f.Networks.Head.Body.Length)

[<Fact>]
let ``the grammar has examples for the main productions`` () =
    Assert.True(Seq.length examples >= 20)

[<Fact>]
let ``the TextMate grammar is valid JSON naming every keyword`` () =
    let json = File.ReadAllText(Path.Combine(grammarDir, "tn.tmLanguage.json"))
    use doc = JsonDocument.Parse json
    Assert.Equal("source.tn", doc.RootElement.GetProperty("scopeName").GetString())
    for k in Syntax.keywords do
        Assert.True(Regex.IsMatch(json, @"\b" + k + @"\b"), sprintf "keyword %s is not highlighted" k)
