/// The `tn` command line (System.CommandLine): every verb's options, defaults, help, completions, repeated
/// `--set`, bad values and the exit codes 0 (success), 1 (errors in the input) and 2 (usage errors).
module TnDsl.Cli.Tests.ArgsTests

open System.CommandLine
open System.IO
open System.Text.RegularExpressions
open Xunit
open TnDsl.Cli
open TnDsl.Tests.Support

/// Runs `tn` in process: exit code, stdout, stderr.
let private tn (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = Cli.Run(Array.ofList args, out, err)
    code, out.ToString(), err.ToString()

/// Parses without running: the parse result, which must have no errors.
let private parse (args: string list) =
    let result = Cli.Parse(Array.ofList args)
    Assert.True((result.Errors.Count = 0), String.concat "; " (result.Errors |> Seq.map (fun e -> e.Message)))
    result

/// Every command of the tree below the root, with its path (`study qcnn`).
let rec private commands (prefix: string list) (command: Command) : (string list * Command) seq =
    seq {
        for c in command.Subcommands do
            let path = prefix @ [ c.Name ]
            yield path, c
            yield! commands path c
    }

let private allCommands = commands [] (Cli.Create()) |> List.ofSeq

/// The verbs that read a .tn file the user names, with the arguments that make them parse.
let private tnReaders =
    let mps = Path.Combine(examplesDir, "mps.tn")
    [ [ "check"; mps ]; [ "cuts"; mps ]; [ "plan"; mps ]; [ "export"; mps; "--json" ]; [ "run"; mps ]
      [ "emit"; mps; "--cs" ]; [ "layer"; mps ]; [ "draw"; mps; "-o"; "net.svg" ]; [ "train"; "born-machine" ] ]

let tnReaderRows: obj array seq = tnReaders |> Seq.map (fun args -> [| box (String.concat " " args) |])

let private argsOf (row: string) = row.Split(' ', System.StringSplitOptions.RemoveEmptyEntries) |> List.ofArray

[<Fact>]
let ``tn --help lists every verb with its one-line description, and exits 0`` () =
    let code, out, err = tn [ "--help" ]
    Assert.Equal(0, code)
    Assert.Equal("", err)
    let verbs = (Cli.Create()).Subcommands
    Assert.True(verbs.Count >= 12)
    for verb in verbs do
        Assert.False(System.String.IsNullOrWhiteSpace verb.Description, verb.Name)
        Assert.Matches(Regex($@"(?m)^  {Regex.Escape verb.Name}\b.*\S"), out)

[<Fact>]
let ``every command, argument and option carries a description, and --help shows it with the option`` () =
    for path, command in allCommands do
        Assert.False(System.String.IsNullOrWhiteSpace command.Description, String.concat " " path)
        let code, out, _ = tn (path @ [ "--help" ])
        Assert.Equal(0, code)
        Assert.Contains("tn " + String.concat " " path, out)
        for argument in command.Arguments do
            Assert.False(System.String.IsNullOrWhiteSpace argument.Description, $"{path} {argument.Name}")
        for option in command.Options do
            Assert.False(System.String.IsNullOrWhiteSpace option.Description, $"{path} {option.Name}")
            // The option's row: its name, then (on the same line) the start of its description.
            let firstWords = option.Description.Split(' ') |> Array.truncate 2 |> String.concat " "
            Assert.Matches(Regex($@"(?m)^  .*{Regex.Escape option.Name}\b.*{Regex.Escape firstWords}"), out)

[<Fact>]
let ``tn run --help lists every option with its meaning and default`` () =
    let code, out, _ = tn [ "run"; "--help" ]
    Assert.Equal(0, code)
    for option, fallback in
        [ "--device", "[default: cpu]"; "--dtype", "[default: float32]"; "--seed", "[default: 0]"
          "--repeat", "[default: 10]"; "--optimizer", "[default: auto]"; "--batch", "size the file gives each]"
          "--threads", "default: 1 under 1e8 flops"; "--set", "repeatable"; "--network", "default: the last" ] do
        let row = out.Substring(out.IndexOf("  " + option))
        let next = row.IndexOf("\n  -", 1)
        Assert.Contains(fallback, (if next > 0 then row.Substring(0, next) else row))

[<Fact>]
let ``tn plan --help names the forms --time-limit takes, and tn plan takes each one it names`` () =
    let code, out, _ = tn [ "plan"; "--help" ]
    Assert.Equal(0, code)
    let row = out.Substring(out.IndexOf("  --time-limit"))
    let row = row.Substring(0, row.IndexOf("\n  -", 1))
    // The help once said "in milliseconds" alone, though 2s and 1.5s are taken as well.
    let forms = [ for m in Regex.Matches(row, @"\b\d+(?:\.\d+)?(?:ms|s)\b") -> m.Value ]
    Assert.Contains("2s", forms)
    Assert.Contains("500ms", forms)
    for form in forms do
        Assert.True(TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds(form).HasValue, $"the help names {form}, which --time-limit refuses")

[<Theory>]
[<MemberData(nameof tnReaderRows)>]
let ``every verb that reads a .tn file takes --set (repeatable) and --network`` (row: string) =
    let args = argsOf row
    let result = parse (args @ [ "--set"; "n=4"; "--set"; "d=3,chi=5"; "--network"; "mps" ])
    let pairs = result.GetValue<System.Collections.Generic.KeyValuePair<string, string> array>("--set")
    Assert.Equal<(string * string) list>([ "n", "4"; "d", "3"; "chi", "5" ], pairs |> Seq.map (fun p -> p.Key, p.Value) |> List.ofSeq)
    Assert.Equal("mps", result.GetValue<string>("--network"))

[<Theory>]
[<MemberData(nameof tnReaderRows)>]
let ``--set given twice for one name is a usage error naming it, on every verb that reads a .tn file`` (row: string) =
    for twice in [ [ "--set"; "n=4"; "--set"; "n=5" ]; [ "--set"; "n=4,n=4" ] ] do
        let code, out, err = tn (argsOf row @ twice)
        Assert.Equal(2, code)
        Assert.Equal("", out)
        Assert.Contains("'n' twice", err)

[<Fact>]
let ``a file that does not exist is an error in the input (exit 1), not a usage error`` () =
    let missing = Path.Combine(examplesDir, "no-such-file.tn")
    for args in
        [ [ "check"; missing ]; [ "cuts"; missing ]; [ "export"; missing; "--json" ]; [ "run"; missing ]
          [ "emit"; missing; "--cs" ]; [ "layer"; missing ] ] do
        let code, _, _ = tn args
        Assert.True((code = 1), $"{args}: exit {code}")

[<Fact>]
let ``--set without name=value is a usage error that quotes it`` () =
    for bad in [ "n"; "n="; "=4" ] do
        let code, _, err = tn [ "check"; Path.Combine(examplesDir, "mps.tn"); "--set"; bad ]
        Assert.Equal(2, code)
        Assert.StartsWith("tn check: --set", err)
        Assert.Contains($"'{bad}'", err)
        Assert.Contains("usage: tn check FILE [options]", err)

[<Fact>]
let ``defaults are what the help says when an option is not given`` () =
    let run = parse [ "run"; "a.tn" ]
    Assert.Equal("cpu", run.GetValue<string>("--device"))
    Assert.Equal("float32", run.GetValue<string>("--dtype"))
    Assert.Equal(10, run.GetValue<int>("--repeat"))
    Assert.Equal(0L, run.GetValue<int64>("--seed"))
    Assert.Equal("auto", run.GetValue<string>("--optimizer"))
    Assert.Null(run.GetValue<TnDsl.Torch.BatchSizes>("--batch"))
    Assert.Null((parse [ "layer"; "a.tn" ]).GetValue<TnDsl.Torch.BatchSizes>("--batch"))
    let train = parse [ "train"; "born-machine" ]
    Assert.Equal(30, train.GetValue<int>("--dmax"))
    Assert.Equal(5e-3, train.GetValue<float>("--lr"))
    Assert.Equal("examples/born-machine.tn", train.GetValue<string>("--file"))
    let sample = parse [ "sample"; "model" ]
    Assert.Equal(64, sample.GetValue<int>("--count"))
    Assert.Equal("samples.png", sample.GetValue<string>("--output"))
    // Each study has its own CPU-sized defaults.
    Assert.Equal(2, (parse [ "study"; "tt-mlp" ]).GetValue<int>("--epochs"))
    Assert.Equal(20, (parse [ "study"; "convac" ]).GetValue<int>("--epochs"))
    Assert.Equal("both", (parse [ "study"; "qcnn" ]).GetValue<string>("--dataset"))
    Assert.Equal(3, (parse [ "study"; "convac"; "--threads"; "3" ]).GetValue<System.Nullable<int>>("--threads").Value)

[<Fact>]
let ``a short alias is its long option, and --name=value is --name value`` () =
    let a = parse [ "sample"; "model"; "-n"; "9"; "-o"; "grid.png" ]
    let b = parse [ "sample"; "model"; "--count=9"; "--output"; "grid.png" ]
    for r in [ a; b ] do
        Assert.Equal(9, r.GetValue<int>("--count"))
        Assert.Equal("grid.png", r.GetValue<string>("--output"))
    Assert.Equal("out.json", (parse [ "export"; "a.tn"; "-o"; "out.json" ]).GetValue<string>("--output"))

[<Fact>]
let ``a negative number is read as the value of an option that takes one`` () =
    Assert.Equal(-3L, (parse [ "run"; "a.tn"; "--seed"; "-3" ]).GetValue<int64>("--seed"))

[<Fact>]
let ``sizes are name=N pairs in the order given, repeated or comma-separated`` () =
    let sizes = (parse [ "plan"; "a.tn"; "--size"; "batch=1000"; "--size"; "k=3, m=7" ]).GetValue<System.Collections.Generic.KeyValuePair<string, int64> array>("--size")
    Assert.Equal<(string * int64) list>([ "batch", 1000L; "k", 3L; "m", 7L ], sizes |> Seq.map (fun p -> p.Key, p.Value) |> List.ofSeq)

[<Theory>]
[<InlineData("batch=0")>]
[<InlineData("batch=-4")>]
[<InlineData("batch=ten")>]
[<InlineData("batch=")>]
[<InlineData("=5")>]
[<InlineData("batch")>]
let ``a size that is not name=N with N positive is a usage error that quotes it`` (text: string) =
    let code, _, err = tn [ "plan"; "a.tn"; "--size"; text ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn plan: --size", err)
    Assert.Contains($"'{text}'", err)

[<Theory>]
[<InlineData("run a.tn --batch", "0")>]
[<InlineData("run a.tn --batch", "1.5")>]
[<InlineData("run a.tn --repeat", "x")>]
[<InlineData("run a.tn --threads", "-2")>]
// 1e3 was refused here before session 30; a whole number in scientific notation is one now, 1e-3 is not.
[<InlineData("run a.tn --seed", "1e-3")>]
[<InlineData("run a.tn --device", "gpu")>]
[<InlineData("run a.tn --dtype", "float16")>]
[<InlineData("emit a.tn --cs --batch", "0")>]
[<InlineData("layer a.tn --batch", "-1")>]
[<InlineData("plan a.tn --memory-limit", "0")>]
[<InlineData("sample m -n", "0")>]
[<InlineData("sample m --seed", "-1")>]
[<InlineData("train born-machine --dmax", "0")>]
[<InlineData("train born-machine --dmax", "4294967296")>]
[<InlineData("run a.tn --repeat", "2147483648")>]
[<InlineData("train born-machine --lr", "fast")>]
[<InlineData("train born-machine --lr-now", "0")>]
[<InlineData("train born-machine --split", "qr")>]
[<InlineData("study convac --seeds", "11")>]
[<InlineData("study heads --ranks", "2,x")>]
[<InlineData("study qcnn --init", "random")>]
[<InlineData("study tt-mlp --dataset", "both")>]
[<InlineData("study qcnn --threads", "0")>]
[<InlineData("completion", "fish")>]
let ``a bad value is a usage error that names the verb and quotes the value`` (command: string, value: string) =
    let args = argsOf command
    let code, out, err = tn (args @ [ value ])
    Assert.Equal(2, code)
    Assert.Equal("", out)
    let verb = args |> List.takeWhile (fun a -> not (a.StartsWith "-") && not (a.Contains ".") && a <> "m") |> String.concat " "
    Assert.StartsWith($"tn {verb}: ", err)
    Assert.Contains($"'{value}'", err)
    Assert.DoesNotContain("   at ", err)

[<Fact>]
let ``an option given twice that takes one value is a usage error`` () =
    let code, _, err = tn [ "run"; "a.tn"; "--batch"; "3"; "--batch"; "4" ]
    Assert.Equal(2, code)
    Assert.Contains("--batch", err)

[<Fact>]
let ``an unknown option is a usage error with the verb's usage, and a near miss gets a suggestion`` () =
    let code, out, err = tn [ "cuts"; "a.tn"; "--frobnicate" ]
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.StartsWith("tn cuts: ", err)
    Assert.Contains("'--frobnicate'", err)
    Assert.Contains("usage: tn cuts FILE [options]", err)
    Assert.DoesNotContain("did you mean", err)
    let code, _, err = tn [ "cuts"; "a.tn"; "--jsno" ]
    Assert.Equal(2, code)
    Assert.Contains("did you mean --json", err)

[<Fact>]
let ``a mistyped option where the file goes is a usage error naming it, not a file to read`` () =
    let mps = Path.Combine(examplesDir, "mps.tn")
    for args in [ [ "cuts"; "--jsno" ]; [ "cuts"; "--jsno"; mps ]; [ "plan"; "--jsno" ]; [ "sample"; "--cont" ]; [ "check"; "-x"; mps ] ] do
        let code, out, err = tn args
        Assert.True((code = 2), $"{args}: exit {code}")
        Assert.Equal("", out)
        Assert.Contains($"'{args[1]}'", err)
        Assert.DoesNotContain("TN0007", err)
        Assert.DoesNotContain(mps, err)
    let _, _, err = tn [ "cuts"; "--jsno" ]
    Assert.Contains("did you mean --json", err)

[<Fact>]
let ``an unknown verb, or none, is a usage error that lists the verbs; a near miss gets a suggestion`` () =
    let code, out, err = tn [ "chek"; "a.tn" ]
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.Contains("did you mean check", err)
    Assert.Contains("cuts", err)
    let code, _, err = tn []
    Assert.Equal(2, code)
    Assert.Contains("check", err)
    let code, _, err = tn [ "study"; "qcn" ]
    Assert.Equal(2, code)
    Assert.Contains("did you mean qcnn", err)

[<Fact>]
let ``a verb's own usage checks are usage errors too (exit 2)`` () =
    let mps = Path.Combine(examplesDir, "mps.tn")
    for args in
        [ [ "export"; mps ]
          [ "emit"; mps ]
          [ "plan" ]
          [ "plan"; mps; "--einsum"; "ab->a"; "--shapes"; "2x3" ]
          [ "plan"; "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--set"; "n=3" ]
          [ "plan"; "net.json"; "--network"; "x" ] ] do
        let code, out, _ = tn args
        Assert.Equal(2, code)
        Assert.Equal("", out)

[<Fact>]
let ``tn cuts takes --network like the other verbs: an unknown network is an error in the input (exit 1)`` () =
    let code, _, err = tn [ "cuts"; Path.Combine(examplesDir, "mps.tn"); "--network"; "nope" ]
    Assert.Equal(1, code)
    Assert.Contains("TN0114", err)
    let code, out, _ = tn [ "cuts"; Path.Combine(examplesDir, "mps.tn"); "--network"; "mps"; "--json" ]
    Assert.Equal(0, code)
    Assert.Contains("\"network\": \"mps\"", out)

[<Fact>]
let ``the [suggest] directive completes verbs, options and option values`` () =
    let complete (line: string) =
        let _, out, _ = tn [ $"[suggest:{line.Length}]"; line ]
        out.Split('\n', System.StringSplitOptions.RemoveEmptyEntries ||| System.StringSplitOptions.TrimEntries) |> Set.ofArray
    Assert.Equal<Set<string>>(set [ "check" ], complete "tn ch")
    Assert.Equal<Set<string>>(set [ "cpu"; "cuda" ], complete "tn run a.tn --device ")
    Assert.Equal<Set<string>>(set [ "--device"; "--dtype" ], complete "tn run a.tn --d")
    Assert.True(Set.isSubset (set [ "auto"; "greedy"; "optimal" ]) (complete "tn plan a.tn --optimizer "))
    Assert.True(Set.isSubset (set [ "convac"; "heads"; "qcnn"; "tt-mlp" ]) (complete "tn study "))

[<Fact>]
let ``tn completion prints a bash function that asks tn's [suggest] directive`` () =
    let code, out, _ = tn [ "completion"; "bash" ]
    Assert.Equal(0, code)
    Assert.Contains("[suggest:${COMP_POINT}]", out)
    Assert.Contains("complete -o default -o bashdefault -F _tn_complete tn", out)
    let code, zsh, _ = tn [ "completion"; "zsh" ]
    Assert.Equal(0, code)
    Assert.StartsWith("autoload -Uz bashcompinit && bashcompinit", zsh)

/// The README and the reference pages in docs/ that hold the rest of its text (paths relative to the repository):
/// the files whose help blocks, shown outputs and quoted figures the tests check.
let readmeAndDocs: string list =
    "README.md"
    :: (Directory.GetFiles(Path.Combine(repoRoot, "docs"), "*.md")
        |> Array.map (fun f -> Path.GetRelativePath(repoRoot, f).Replace('\\', '/'))
        |> Array.sort
        |> List.ofArray)

/// The help blocks of the README and docs/: a line `$ tn VERB --help` in a code block, then the help as printed
/// (`python3 scripts/readme-help.py` regenerates them), with the file that shows each (which names the test case).
let readmeHelpBlocks: obj array seq =
    seq {
        for file in readmeAndDocs do
            let text = File.ReadAllText(Path.Combine(repoRoot, file))
            for m in Regex.Matches(text, @"```text\n\$ tn ([a-z -]*?) ?--help\n(.*?)```", RegexOptions.Singleline) do
                yield [| box file; box m.Groups[1].Value; box m.Groups[2].Value |]
    }

[<Fact>]
let ``the README shows the help of tn, tn run and tn plan`` () =
    let shown =
        readmeHelpBlocks |> Seq.filter (fun row -> (row[0] :?> string) = "README.md") |> Seq.map (fun row -> row[1] :?> string) |> Set.ofSeq
    Assert.True(Set.isSubset (set [ ""; "run"; "plan" ]) shown, sprintf "%A" shown)

[<Fact>]
let ``docs/contract.md shows the help of tn contract`` () =
    let shown = readmeHelpBlocks |> Seq.map (fun row -> row[0] :?> string, row[1] :?> string) |> Set.ofSeq
    Assert.Contains(("docs/contract.md", "contract"), shown)

[<Theory>]
[<MemberData(nameof readmeHelpBlocks)>]
let ``the help the README and docs/ show is the help tn prints`` (_file: string, verb: string, shown: string) =
    let code, out, _ = tn (argsOf verb @ [ "--help" ])
    Assert.Equal(0, code)
    let lines (s: string) = s.Replace("\r", "").TrimEnd().Split('\n') |> Array.map (fun l -> l.TrimEnd())
    Assert.Equal<string array>(lines out, lines shown)

/// Every `tn …` command line the Markdown files show (a line starting `tn ` or `$ tn `, `\` continuations joined,
/// `# comments` dropped), with its file and line.
let docCommandLines: obj array seq =
    let skip = set [ "bin"; "obj"; "node_modules"; "data"; ".git" ]
    let rec files (dir: string) =
        seq {
            yield! Directory.GetFiles(dir, "*.md")
            for d in Directory.GetDirectories dir do
                if not (skip.Contains(Path.GetFileName d)) then yield! files d
        }
    seq {
        for file in files repoRoot |> Seq.sort do
            let lines = File.ReadAllLines file
            let mutable i = 0
            while i < lines.Length do
                let start = i
                let mutable line = lines[i]
                while line.EndsWith "\\" && i + 1 < lines.Length do
                    i <- i + 1
                    line <- line.TrimEnd('\\') + " " + lines[i].Trim()
                if line.StartsWith "tn " || line.StartsWith "$ tn " then
                    let command = Regex.Replace(line, @"\s+#.*$", "").Trim().TrimStart('$', ' ')
                    yield [| box $"{Path.GetRelativePath(repoRoot, file)}:{start + 1}"; box command |]
                i <- i + 1
    }

[<Fact>]
let ``the docs show tn command lines for the test below to check`` () =
    Assert.True(Seq.length docCommandLines >= 20)

[<Theory>]
[<MemberData(nameof docCommandLines)>]
let ``every tn command line in the docs parses with the current options`` (where: string, command: string) =
    let args = System.CommandLine.Parsing.CommandLineParser.SplitCommandLine(command) |> Seq.skip 1 |> Array.ofSeq
    let result = Cli.Parse args
    Assert.True((result.Errors.Count = 0), $"{where}: {command}: " + String.concat "; " (result.Errors |> Seq.map (fun e -> e.Message)))

[<Fact>]
let ``tn study replot redraws a study's pictures from its recorded CSVs; a missing table exits 1, an unknown study 2`` () =
    let dir = Directory.CreateTempSubdirectory("tn-replot-cli-").FullName
    try
        File.Copy(Path.Combine(examplesDir, "results", "qcnn", "epochs.csv"), Path.Combine(dir, "epochs.csv"))
        let code, out, err = tn [ "study"; "replot"; "qcnn"; dir ]
        Assert.True((code = 0), err)
        for png in [ "entropy.png"; "loss.png" ] do
            let path = Path.Combine(dir, png)
            Assert.True(File.Exists path, path)
            Assert.True(FileInfo(path).Length > 1000L, path)
            // Two data sets × 11 epochs (0..10) in examples/results/qcnn/epochs.csv.
            Assert.Contains($"{path}: 2 series, 22 points", out)
        let code, _, err = tn [ "study"; "replot"; "convac"; dir ]
        Assert.Equal(1, code)
        Assert.Contains("runs.csv", err)
        Assert.DoesNotContain("   at ", err)
        let code, _, err = tn [ "study"; "replot"; "tt-mlp"; dir ]
        Assert.Equal(2, code)
        Assert.Contains("'tt-mlp'", err)
    finally
        Directory.Delete(dir, true)
