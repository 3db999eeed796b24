/// The figures and messages docs/ quotes in its prose, each beside the command that prints it, are what the command
/// prints. (The shown outputs in code blocks are checked by ToolTests and WalkthroughTests; this covers the quotes
/// inside sentences, which those leave out.) Each case reads the figures from the page with a pattern, so the page is
/// the only place they are written: change the page or the tool alone, and the case fails.
module TnDsl.Cli.Tests.DocFigureTests

open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl.Tests.Support

/// Runs of white space made one space: prose wraps where a tool's output aligns columns.
let squeeze (text: string) = Regex.Replace(text.Replace("\r", ""), @"\s+", " ")

/// One quote: the page, a pattern over its squeezed text whose named groups are the figures it quotes, the `tn`
/// arguments and environment of the command it names, the exit code, and patterns the command's squeezed output
/// (stdout, then stderr) must match, with `{name}` standing for that group's text as the page writes it.
type Quote =
    { Page: string
      Quoted: string
      Args: string list
      Env: (string * string) list
      Exit: int
      Printed: string list }

/// The network `docs/memory.md` refuses before planning (`mpo-mps.tn`), as the page shows it.
let mpoMps () =
    let page = File.ReadAllText(Path.Combine(repoRoot, "docs", "memory.md")).Replace("\r", "")
    let block = Regex.Match(page, @"```\n(network mpo_mps\(.*?)```", RegexOptions.Singleline)
    Assert.True(block.Success, "docs/memory.md shows mpo-mps.tn")
    block.Groups[1].Value

let quotes: Quote list =
    [ { Page = "planning.md"
        Quoted = @"So `ab,bc->ac` on `2x1,3x4` costs (?<flops>\d+) flops here \(summing `b` on the second operand first; naive (?<naive>\d+)\)"
        Args = [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x1,3x4" ]
        Env = []
        Exit = 0
        Printed = [ @"Naive FLOP count: {naive} "; @"Optimized FLOP count: {flops} "; @" bc -> c " ] }
      { Page = "planning.md"
        Quoted = @"So `ab,cd,de->be` on `2x3,4x5,5x4` costs (?<flops>\d+) flops, as in opt_einsum's `dp`"
        Args = [ "plan"; "--einsum"; "ab,cd,de->be"; "--shapes"; "2x3,4x5,5x4"; "--optimizer"; "optimal" ]
        Env = []
        Exit = 0
        Printed = [ @"Optimized FLOP count: {flops} " ] }
      { Page = "planning.md"
        Quoted = @"`tn plan examples/grid.tn --optimizer greedy --trials 50 --seed 3` prints its plan and, on stderr: - `(?<trials>[^`]+)` - `(?<seed>[^`]+)`"
        Args = [ "plan"; "examples/grid.tn"; "--optimizer"; "greedy"; "--trials"; "50"; "--seed"; "3" ]
        Env = []
        Exit = 0
        Printed = [ @"Optimizer: greedy "; "{trials} {seed} $" ] }
      { Page = "planning.md"
        Quoted = @"`tn plan examples/grid.tn --set L=8,D=4 --memory-limit 2621` plans a closed 8×8 lattice with D = 4\. - The plan: (?<flops>[0-9.e+]+) executed flops, (?<bonds>\d+) bonds sliced, (?<overhead>[0-9.]+)× its tree unsliced\."
        Args = [ "plan"; "examples/grid.tn"; "--set"; "L=8,D=4"; "--memory-limit"; "2621" ]
        Env = []
        Exit = 0
        Printed =
          [ @"Sliced indices: (?:[hv]\[\d+, \d+\] ){{bonds}}\(\d+ slices;"
            @"Sliced FLOP count: {flops} executed \(overhead {overhead}x;" ] }
      { Page = "planning.md"
        Quoted = @"Example: `tn plan examples/peps.tn` says `(?<scaling>flops ~ [^`]+)`"
        Args = [ "plan"; "examples/peps.tn" ]
        Env = []
        Exit = 0
        Printed = [ @"Scaling: {scaling} \(re-planned" ] }
      { Page = "backend.md"
        Quoted = @"where `tn check grid\.tn --set Lenght=3` gives `(?<diagnostic>command line\(1,1\): error TN0103: --set Lenght=3:) …`"
        Args = [ "check"; "examples/grid.tn"; "--set"; "Lenght=3" ]
        Env = []
        Exit = 1
        Printed = [ "{diagnostic} `grid` has no parameter `Lenght`" ] }
      { Page = "memory.md"
        Quoted = @"`tn layer examples/layers/peps\.tn --batch 100000000` says ""(?<floor>training needs at least [0-9.]+ GiB) … whatever the plan"""
        Args = [ "layer"; "examples/layers/peps.tn"; "--batch"; "100000000" ]
        // The floor is refused below it whatever the machine; a limit makes the case the same on a larger one.
        Env = [ "TN_MEMORY_LIMIT", "16G" ]
        Exit = 1
        Printed = [ @"{floor} \([0-9,]+ bytes\) whatever the plan" ] }
      { Page = "memory.md"
        Quoted = @"`TN_MEMORY_LIMIT=3M tn run examples/layers/mps\.tn --set chi=32 --batch 3000`: (?<slices>[0-9,]+) slices, (?<training>[0-9.]+ MiB) to train checkpointed, ""(?<rows>feed at most [0-9,]+ rows per step with this sliced plan)"""
        Args = [ "run"; "examples/layers/mps.tn"; "--set"; "chi=32"; "--batch"; "3000"; "--threads"; "1"; "--repeat"; "1" ]
        Env = [ "TN_MEMORY_LIMIT", "3M" ]
        Exit = 0
        Printed =
          [ @" sliced {slices} slices over "
            @"{training} \([0-9,]+ bytes\) training \(slices checkpointed in groups of "
            @"fwd \+ bwd not run: .*; {rows} "
            @"each call runs {slices} slices" ] } ]

/// The cases by their quote, for the test's name.
let cases: obj array seq = quotes |> Seq.map (fun q -> [| box q.Page; box q.Quoted |])

[<Theory>]
[<MemberData(nameof cases)>]
let ``a figure docs/ quotes in a sentence is what its command prints`` (page: string, quoted: string) =
    let q = quotes |> List.find (fun q -> q.Page = page && q.Quoted = quoted)
    let text = squeeze (File.ReadAllText(Path.Combine(repoRoot, "docs", page)))
    let m = Regex.Match(text, q.Quoted)
    Assert.True(m.Success, sprintf "docs/%s no longer says %s" page q.Quoted)
    let code, out, err = CliTests.tnProcess q.Env q.Args
    let printed = squeeze (out + "\n" + err)
    Assert.True((code = q.Exit), sprintf "tn %s: exit %d\n%s%s" (String.concat " " q.Args) code out err)
    for pattern in q.Printed do
        let expected =
            Regex.Replace(pattern, @"\{(\w+)\}", fun g ->
                let group = m.Groups[g.Groups[1].Value]
                Assert.True(group.Success, sprintf "no group %s in %s" g.Value q.Quoted)
                Regex.Escape group.Value)
        Assert.True(Regex.IsMatch(printed, expected), sprintf "docs/%s quotes what tn %s does not print (%s):\n%s%s" page (String.concat " " q.Args) expected out err)

[<Fact>]
let ``docs/memory.md's network over the memory limit is refused with the figures the page quotes`` () =
    // The page shows the file and the command's message, its limit's own bytes left out as `(…)`.
    let text = squeeze (File.ReadAllText(Path.Combine(repoRoot, "docs", "memory.md")))
    let m =
        Regex.Match(
            text,
            @"`TN_MEMORY_LIMIT=2G tn run mpo-mps\.tn --threads 1` refuses it before planning, .*? ""(?<head>mpo_mps \(float32\): the forward pass needs at least [^""]*? over the memory limit of 2 GiB) \(…\) (?<tail>\(TN_MEMORY_LIMIT=2G\), before any intermediate;) …"""
        )
    Assert.True(m.Success, "docs/memory.md quotes the refusal of mpo-mps.tn")
    let dir = Path.Combine(Path.GetTempPath(), "tndsl-docfigures-" + System.Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory dir |> ignore
    try
        File.WriteAllText(Path.Combine(dir, "mpo-mps.tn"), mpoMps ())
        let code, out, err =
            CliTests.run (Path.Combine(System.AppContext.BaseDirectory, "tn")) [ "run"; "mpo-mps.tn"; "--threads"; "1" ] dir [ "TN_MEMORY_LIMIT", "2G" ]
        Assert.Equal(1, code)
        Assert.Equal("", out)
        let expected = Regex.Escape(m.Groups["head"].Value) + @" \([0-9,]+ bytes\) " + Regex.Escape(m.Groups["tail"].Value)
        Assert.True(Regex.IsMatch(squeeze err, expected), sprintf "tn run mpo-mps.tn prints:\n%s" err)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn export -o says on stderr what docs/export.md says it writes`` () =
    let text = squeeze (File.ReadAllText(Path.Combine(repoRoot, "docs", "export.md")))
    let m = Regex.Match(text, @"one line on the error stream says what was written, as `tn emit -o` does: `(?<line>tn export: wrote OUT\.json \(network born_machine, (?<tensors>\d+) tensors\))`")
    Assert.True(m.Success, "docs/export.md quotes tn export -o's line")
    // The page's example above it exports the network at n = 3.
    Assert.Contains("$ tn export examples/born-machine.tn --json --set n=3", text)
    let dir = Path.Combine(Path.GetTempPath(), "tndsl-docfigures-" + System.Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory dir |> ignore
    try
        let args = [ "export"; Path.Combine(examplesDir, "born-machine.tn"); "--json"; "--set"; "n=3"; "-o"; "OUT.json" ]
        let code, out, err = CliTests.run (Path.Combine(System.AppContext.BaseDirectory, "tn")) args dir []
        Assert.Equal(0, code)
        Assert.Equal("", out)
        Assert.Equal(m.Groups["line"].Value, err.Replace("\r", "").TrimEnd('\n'))
        use doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "OUT.json")))
        Assert.Equal(int m.Groups["tensors"].Value, doc.RootElement.GetProperty("tensors").GetArrayLength())
    finally
        Directory.Delete(dir, true)
