/// The README as a newcomer follows it: the shown outputs that ToolTests leave out (the mistake made in the 30-second
/// example, `tn run`'s report) are what `tn` prints, and a mistyped verb is named as such.
module TnDsl.Cli.Tests.WalkthroughTests

open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl.Tests.Support

let readme = File.ReadAllText(Path.Combine(repoRoot, "README.md")).Replace("\r", "")

/// The lines of the first code block after `marker` in the README, fences left out, trailing spaces trimmed.
let blockAfter (marker: string) =
    let at = readme.IndexOf(marker, System.StringComparison.Ordinal)
    Assert.True(at >= 0, sprintf "the README has %s" marker)
    let block = Regex.Match(readme.Substring at, "```[a-z]*\n(.*?)```", RegexOptions.Singleline)
    block.Groups[1].Value.TrimEnd('\n').Split('\n') |> Array.map (fun l -> l.TrimEnd())

let lines (text: string) =
    text.Replace("\r", "").TrimEnd('\n').Split('\n') |> Array.map (fun l -> l.TrimEnd())

[<Fact>]
let ``the README's mistake in the 30-second example is what tn check prints`` () =
    let example = blockAfter "## 30-second example"
    Assert.StartsWith("// Matrix product state", example[0])
    // The README says which line to change and how; the change is made here as it reads.
    Assert.Contains("saved as `mps.tn`, with the middle sites' loop on line 6 written `for i in 1..n-1`", readme.Replace("\n", " "))
    // The example is examples/mps.tn, its header comments shortened to one line and its `require` left out.
    let file = File.ReadAllLines(Path.Combine(examplesDir, "mps.tn")) |> Array.filter (fun l -> not (l.StartsWith "//" || l.Contains "require "))
    Assert.Equal<string array>(file |> Array.map (fun l -> l.TrimEnd()), example[1..])
    Assert.Contains("for i in 1..n-2", example[5])
    let wrong = example |> Array.mapi (fun i l -> if i = 5 then l.Replace("for i in 1..n-2", "for i in 1..n-1") else l)
    let shown = blockAfter "A mistake is reported once, where it is"
    Assert.Equal("$ tn check mps.tn", shown[0])
    let dir = Path.Combine(Path.GetTempPath(), "tndsl-walkthrough-" + System.Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory dir |> ignore
    try
        File.WriteAllText(Path.Combine(dir, "mps.tn"), String.concat "\n" wrong + "\n")
        let code, out, err = CliTests.run (Path.Combine(System.AppContext.BaseDirectory, "tn")) [ "check"; "mps.tn" ] dir []
        Assert.Equal(1, code)
        // The diagnostics go to stderr, the count to stdout: shown in that order.
        Assert.True((shown[1..] = lines (err + out)), sprintf "the README's mistake block differs from what tn check prints:\n%s%s" err out)
    finally
        Directory.Delete(dir, true)

/// A line of `tn run`'s report with what varies between runs and machines masked: the times, and the memory limit
/// (which follows the memory available).
let masked (line: string) =
    let line = Regex.Replace(line, @"\(planner's estimate; limit .*\)$", "(planner's estimate; limit …)")
    if Regex.IsMatch(line, @"^  (build|forward|fwd \+ bwd) ") then Regex.Replace(line, @"[0-9.]+ m?s\b", "… s") else line

[<Fact>]
let ``tn run prints the README's report, its times and memory limit aside`` () =
    let shown = blockAfter "## What `tn run` prints"
    Assert.StartsWith("$ tn run ", shown[0])
    let args = shown[0].Substring("$ tn ".Length).Split(' ', System.StringSplitOptions.RemoveEmptyEntries) |> List.ofArray
    let code, out, err = CliTests.tnProcess [ "TN_MEMORY_LIMIT", "" ] args
    Assert.True((code = 0), sprintf "tn %s: exit %d\n%s" (String.concat " " args) code err)
    let expected, actual = shown[1..] |> Array.map masked, lines out |> Array.map masked
    Assert.True((expected = actual), sprintf "the README's tn run block differs from what tn run prints; paste this in:\n%s" out)

[<Fact>]
let ``a mistyped verb is named once with its suggestion, not reported as a missing command`` () =
    let code, out, err = CliTests.tn [ "chek"; "a.tn" ]
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.StartsWith("tn: unknown command 'chek'\ntn: did you mean check (for 'chek')?\n", err.Replace("\r", ""))
    Assert.DoesNotContain("Required command", err)
    Assert.DoesNotContain("'a.tn'", err)
    Assert.Contains("cuts <FILE>", err)
    let code, _, err = CliTests.tn [ "study"; "qcn" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn study: unknown command 'qcn'\ntn study: did you mean qcnn (for 'qcn')?\n", err.Replace("\r", ""))
    // tn alone still lists the verbs.
    let code, _, err = CliTests.tn []
    Assert.Equal(2, code)
    Assert.Contains("check <FILE>", err)

[<Fact>]
let ``tn cuts --help names the splits --profile bounds, as it prints them`` () =
    let _, help, _ = CliTests.tn [ "cuts"; "--help" ]
    Assert.Contains("checkerboard", help)
    Assert.DoesNotContain("single legs", help)
    let _, chain, _ = CliTests.tn [ "cuts"; Path.Combine(examplesDir, "mps.tn"); "--set"; "n=6"; "--profile" ]
    Assert.Contains("contiguous", chain)
    Assert.Contains("even | odd positions", chain)
    let _, grid, _ = CliTests.tn [ "cuts"; Path.Combine(examplesDir, "peps.tn"); "--set"; "Lx=2,Ly=3"; "--profile" ]
    Assert.Contains("checkerboard", grid)
