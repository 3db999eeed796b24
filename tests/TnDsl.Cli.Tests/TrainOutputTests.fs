/// `tn train`'s output where stdout is not a terminal (a pipe, a file): its lines in the order things happened and
/// plain text. Spectre's progress printed a sweep's percentages once a second from its own thread (the next sweep's
/// 0% amid this one's, never a sweep's end, nothing for a loop under a second) and wrapped lines at 80 columns.
module TnDsl.Cli.Tests.TrainOutputTests

open System
open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl.Cli.Tests.CliTests

[<Fact>]
let ``piped, tn train reports each sweep in order before its loop's line, as plain lines`` () =
    let out = Path.Combine(Path.GetTempPath(), $"tn-piped-{Guid.NewGuid():N}")
    try
        let code, stdout, err =
            tnProcess [ "TERM", "xterm-256color" ]
                [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--lr"; "0.05"; "--loops"; "3"; "--out"; out; "--threads"; "1" ]
        Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code stdout err)
        let bad = stdout |> Seq.filter (fun c -> Char.IsControl c && c <> '\n') |> Seq.distinct |> Seq.toList
        Assert.True(bad.IsEmpty, sprintf "control characters %A in:\n%s" bad stdout)
        let lines = stdout.Split('\n')
        // The settings line is one line, however long.
        Assert.Contains(lines, fun l -> l.StartsWith "born_machine: 16 sites" && l.EndsWith "1 thread(s)")
        let at k = lines |> Array.findIndex (fun l -> Regex.IsMatch(l, sprintf @"^loop +%d  train NLL" k))
        for k in 1 .. 3 do
            let between = lines[at (k - 1) + 1 .. at k - 1]
            Assert.Equal(2, between.Length)
            Assert.Matches(sprintf @"^loop %d sweep ←: 25%% 50%% 75%% 100%% \([0-9]+\.[0-9] s\)$" k, between[0])
            Assert.Matches(sprintf @"^loop %d sweep →: 25%% 50%% 75%% 100%% \([0-9]+\.[0-9] s\)$" k, between[1])
        Assert.Contains(lines, fun l -> l = sprintf "wrote %s/checkpoint.bin, history.csv, nll.png, samples.png, model.tn, model.weights" out)
    finally
        if Directory.Exists out then Directory.Delete(out, true)

[<Fact>]
let ``loop 0's max bond is labelled as the start's, above Dmax until loop 1 cuts it`` () =
    // bars-and-stripes with born-machine.tn's chi = 30 at Dmax 10: loop 0 printed "max bond 30" and loop 1 "10",
    // unexplained.
    let out = Path.Combine(Path.GetTempPath(), $"tn-start-bond-{Guid.NewGuid():N}")
    try
        let code, stdout, err =
            tnProcess [] [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--lr"; "0.05"; "--dmax"; "10"; "--loops"; "1"; "--out"; out; "--threads"; "1" ]
        Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code stdout err)
        let lines = stdout.Split('\n')
        let loop k = lines |> Array.find (fun l -> Regex.IsMatch(l, sprintf @"^loop +%d  train NLL" k))
        Assert.Contains("max bond   30 (the start's, not yet cut to Dmax 10)  lr", loop 0)
        Assert.Contains("max bond   10  lr", loop 1)
        Assert.Contains(lines, fun l -> l.Contains "│ 30 (start) │")
    finally
        if Directory.Exists out then Directory.Delete(out, true)

[<Fact>]
let ``a bond growing past the memory limit stops tn train with the figures, exit 1, and a checkpoint that resumes`` () =
    // bars-and-stripes from bond 2 at Dmax 16: loop 1 grows the bonds to 8 and fits 100K; loop 2's growth to 16 does not.
    let out = Path.Combine(Path.GetTempPath(), $"tn-growth-{Guid.NewGuid():N}")
    try
        let args = [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--lr"; "0.05"; "--set"; "chi=2"; "--dmax"; "16"; "--loops"; "3"; "--out"; out; "--threads"; "1" ]
        let code, stdout, err = tnProcess [ "TN_MEMORY_LIMIT", "100K" ] args
        Assert.True((code = 1), sprintf "exit %d\n%s\n%s" code stdout err)
        Assert.Contains("tn train: stopped in loop 2: loop 2, bond ", err)
        Assert.Contains("growing it from 8 to at most 16", err)
        Assert.Contains("over the memory limit of 100 KiB (102,400 bytes) (TN_MEMORY_LIMIT=100K)", err)
        Assert.Contains(sprintf "%s holds loop 1; wrote %s/history.csv, nll.png" (Path.Combine(out, "checkpoint.bin")) out, err)
        Assert.DoesNotContain("   at ", err)
        // What was saved loads: resumed without the limit, the run goes on from loop 1 to loop 3.
        let code, stdout, err = tnProcess [] [ "train"; "born-machine"; "--out"; out; "--resume"; "--loops"; "3"; "--threads"; "1" ]
        Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code stdout err)
        Assert.Contains("resuming after loop 1", stdout)
        Assert.Matches(@"(?m)^loop +3  train NLL", stdout)
    finally
        if Directory.Exists out then Directory.Delete(out, true)
