/// The `tn` tool as users get it (packed, installed with `dotnet tool install`, run from a folder of their own), and
/// the honesty of the pictures it draws.
module TnDsl.Cli.Tests.ToolTests

open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl.BornMachine
open TnDsl.Cli.Commands
open TnDsl.Tests.Support

/// Runs a program in `dir` with extra environment variables (see `CliTests.run`).
let run = CliTests.run

let ok (what: string) (code: int, out: string, err: string) =
    Assert.True((code = 0), sprintf "%s: exit %d\nstdout: %s\nstderr: %s" what code out err)
    out

#if DEBUG
let configuration = "Debug"
#else
let configuration = "Release"
#endif

[<Fact>]
let ``the packed tool installs into a folder and runs the README's first steps from another folder`` () =
    let temp = Path.Combine(Path.GetTempPath(), "tndsl-tool-" + System.Guid.NewGuid().ToString("N"))
    let pkg, tools, work, home = Path.Combine(temp, "pkg"), Path.Combine(temp, "tools"), Path.Combine(temp, "work"), Path.Combine(temp, "home")
    for d in [ pkg; tools; work; home ] do
        Directory.CreateDirectory d |> ignore
    try
        // Pack what the build made (the same configuration as these tests), and install from that folder alone, with a
        // package cache of its own, so neither nuget.org nor a cached older package can stand in for it.
        let config = Path.Combine(temp, "nuget.config")
        File.WriteAllText(config, sprintf """<configuration><packageSources><clear /><add key="local" value="%s" /></packageSources></configuration>""" pkg)
        let nuget = [ "NUGET_PACKAGES", Path.Combine(temp, "packages"); "DOTNET_CLI_TELEMETRY_OPTOUT", "1"; "DOTNET_NOLOGO", "1" ]
        run "dotnet" [ "pack"; Path.Combine(repoRoot, "apps", "TnDsl.Cli"); "-c"; configuration; "--no-build"; "-o"; pkg ] repoRoot nuget |> ok "dotnet pack" |> ignore
        run "dotnet" [ "tool"; "install"; "TnDsl.Cli"; "--tool-path"; tools; "--configfile"; config ] temp nuget |> ok "dotnet tool install" |> ignore
        let tn args =
            run (Path.Combine(tools, "tn")) args work [ "TN_DATA", ""; "XDG_DATA_HOME", ""; "HOME", home ]
        // The README's examples name examples/…: the installed tool carries them.
        let check = tn [ "check"; "examples/peps.tn" ] |> ok "tn check"
        Assert.StartsWith("network peps", check)
        tn [ "draw"; "examples/peps.tn"; "-o"; "peps.svg" ] |> ok "tn draw" |> ignore
        Assert.True(FileInfo(Path.Combine(work, "peps.svg")).Length > 0)
        // Data goes to the per-user folder (XDG default ~/.local/share/tndsl), not the current one.
        let code, out, _ = tn [ "data"; "status" ]
        Assert.Equal(1, code)
        Assert.Contains(Path.Combine(home, ".local", "share", "tndsl"), out)
        // The installer is in the tool: with no archive where --from points, one line and exit 1.
        let code, _, err = tn [ "data"; "setup"; "--from"; work ]
        Assert.Equal(1, code)
        Assert.DoesNotContain("   at ", err)
        // The Born machine's sample data ships with the tool.
        tn [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--dmax"; "2"; "--loops"; "1"; "--out"; "bs"; "--threads"; "1" ] |> ok "tn train" |> ignore
        tn [ "sample"; "bs"; "-n"; "4"; "-o"; "s.png" ] |> ok "tn sample" |> ignore
        Assert.True(File.Exists(Path.Combine(work, "s.png")))
        Assert.False(Directory.Exists(Path.Combine(work, "data")))
    finally
        if Directory.Exists temp then Directory.Delete(temp, true)

let history (rows: (int * float * float) list) =
    rows |> List.map (fun (l, train, test) -> LoopRecord(l, train, test, 10, 1e-3, 1.0)) |> Array.ofList

[<Fact>]
let ``every NLL panel frames all it draws and none puts train and test NLL together`` () =
    // One loop (the case of issue 19: NLL 197 far above the authors' 95.19), and a long run with a tiny late slope.
    let short = history [ 0, 540.0, 541.0; 1, 197.0, 199.0 ]
    let long = history [ for l in 0..60 -> l, 95.0 + 100.0 / float (l + 1), 120.0 + float l ]
    for h in [ short; long ] do
        let panels = BornPlot.Panels(h, 10, true)
        Assert.NotEmpty panels
        for p in panels do
            for s in p.Series do
                for x, y in Seq.zip s.Loops s.Values do
                    Assert.InRange(y, p.YMin, p.YMax)
                    Assert.InRange(x, p.XMin, p.XMax)
                    Assert.True((x = floor x && x >= 1.0), sprintf "loop %g drawn" x)
            for _, v in p.Levels do
                Assert.InRange(v, p.YMin, p.YMax)
            let names = p.Series |> Seq.map (fun s -> s.Name.ToLowerInvariant()) |> List.ofSeq
            Assert.False(List.exists (fun (n: string) -> n.Contains "test") names && List.exists (fun (n: string) -> n.Contains "train") names)
    // The authors' curve is drawn over this run's loops only.
    let first = BornPlot.Panels(short, 10, true)[0]
    Assert.All(first.Series, fun s -> Assert.All(s.Loops, fun l -> Assert.Equal(1.0, l)))

[<Fact>]
let ``the benchmark figures the README and docs/ quote are the summaries recorded in bench/results`` () =
    // scripts/record-figures.sh writes the files from the real commands; scripts/readme-results.py copies them in.
    let blocks =
        [ for file in ArgsTests.readmeAndDocs do
              let text = File.ReadAllText(Path.Combine(repoRoot, file))
              for b in Regex.Matches(text, @"<!-- results: (\S+) -->\n(.*?)<!-- /results -->", RegexOptions.Singleline) do
                  file, b.Groups[1].Value, b.Groups[2].Value ]
    let quoted = blocks |> List.map (fun (file, recorded, _) -> file, recorded)
    // The thread default (docs/threads.md), the backend benchmark (docs/backend.md) and the min-cut timings (docs/cuts.md).
    Assert.True(blocks.Length >= 3, sprintf "the docs quote recorded figures: %A" quoted)
    for file, path, shown in blocks do
        let recorded = File.ReadAllText(Path.Combine(repoRoot, path))
        let summary = Regex.Match(recorded, @"<!-- summary -->\n(.*?)<!-- /summary -->", RegexOptions.Singleline)
        Assert.True(summary.Success, path)
        Assert.NotEmpty(summary.Groups[1].Value.Trim())
        Assert.True((summary.Groups[1].Value = shown), sprintf "%s quotes %s, whose summary differs: run python3 scripts/readme-results.py" file path)

[<Fact>]
let ``the shown outputs of check, cuts, export, plan, emit and contract in the README and docs/ are what the commands print`` () =
    // Each ```-block that starts with `$ tn check|cuts|export|plan|emit|contract …`: its lines (those without an ellipsis, which
    // marks an abridged part or a figure that varies, such as search time) appear in the command's output in the same
    // order. (`tn run`'s block is left out: it shows timings.)
    let shown =
        [ for file in ArgsTests.readmeAndDocs do
              let text = File.ReadAllText(Path.Combine(repoRoot, file))
              yield! Regex.Matches(text, @"```\n\$ tn (check|cuts|export|plan|emit|contract) ([^\n]*)\n(.*?)```", RegexOptions.Singleline) ]
    // README's check; docs' cuts, plan, export, emit and contract.
    Assert.True(shown.Length >= 6, sprintf "found %d blocks" shown.Length)
    for m in shown do
        let args =
            m.Groups[2].Value.Split(' ', System.StringSplitOptions.RemoveEmptyEntries)
            |> Array.map (fun a -> if a.StartsWith "examples/" then Path.Combine(repoRoot, a) else a)
            |> List.ofArray
        let code, out, err = CliTests.tn (m.Groups[1].Value :: args)
        Assert.True((code = 0), sprintf "tn %s %s: exit %d\n%s" m.Groups[1].Value m.Groups[2].Value code err)
        let actual = out.Replace("\r", "").Split('\n') |> Array.map (fun l -> l.TrimEnd())
        let mutable at = 0
        for line in m.Groups[3].Value.Split('\n') |> Array.map (fun l -> l.TrimEnd()) |> Array.filter (fun l -> l <> "" && not (l.Contains "…")) do
            let found = Array.tryFindIndex ((=) line) actual[at..]
            Assert.True(found.IsSome, sprintf "tn %s %s does not print, after line %d:\n%s\nit prints:\n%s" m.Groups[1].Value m.Groups[2].Value at line out)
            at <- at + found.Value + 1
