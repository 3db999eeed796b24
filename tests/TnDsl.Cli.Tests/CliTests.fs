/// The `tn` commands run in process with their output captured: exit codes, tables and JSON fields.
module TnDsl.Cli.Tests.CliTests

open System.IO
open System.Text.Json
open Xunit
open TnDsl.Cli
open TnDsl.Cli.Commands
open TnDsl.Tests.Support

/// Runs `tn` with the given arguments in process: exit code, stdout, stderr. TorchSharp's native library is loaded
/// first and waited for: `tn`'s own set-up loads it when the TorchSharp assembly loads, which in a test process may be
/// on another test's thread, and a test that reached TorchSharp while that load was still running failed for good
/// (TorchSharp's type initializer is not retried).
let tn (args: string list) =
    TnDsl.Native.NativeLoader.EnsureLoaded() |> ignore
    use out = new StringWriter()
    use err = new StringWriter()
    let code = Cli.Run(Array.ofList args, out, err)
    code, out.ToString(), err.ToString()

/// Runs `tn cuts` with the given arguments: exit code, stdout, stderr.
let cuts (args: string list) = tn ("cuts" :: args)

let mps = Path.Combine(examplesDir, "mps.tn")

/// The table row whose first cell is `name`, split on runs of spaces.
let row (table: string) (name: string) =
    table.Split('\n')
    |> Array.map (fun l -> l.Split(' ', System.StringSplitOptions.RemoveEmptyEntries))
    |> Array.find (fun cells -> cells.Length > 0 && cells[0] = name)

[<Fact>]
let ``tn cuts aligns its table for names of wide characters`` () =
    // A cut named 半分 (two CJK characters, two terminal columns each) put its row's cells one column off the
    // header's per character: widths were counted in UTF-16 units.
    let file = Path.Combine(Path.GetTempPath(), sprintf "tn-wide-%d.tn" (System.Environment.ProcessId))
    File.WriteAllText(file, "network chain(n: int = 4) {\n  index b[i]: 2 for i in 1..n-1\n  index p[i]: 2 for i in 0..n-1\n  weight A[i]: (b[i] if i > 0, p[i], b[i+1] if i < n-1) for i in 0..n-1\n  output (p[0..n-1])\n  cut 半分: p[0..1] | rest\n  cut ab: p[0] | rest\n}\n")
    try
        let code, out, _ = cuts [ file ]
        Assert.Equal(0, code)
        let lines = out.Split('\n')
        // Terminal columns before the "bound" cell: a CJK ideograph takes two.
        let columnOf (line: string) (text: string) =
            line.Substring(0, line.IndexOf(text, 2)) |> Seq.sumBy (fun c -> if c >= '\u4e00' && c <= '\u9fff' then 2 else 1)
        let header = lines |> Array.find (fun l -> l.StartsWith "cut ")
        let wide = lines |> Array.find (fun l -> l.StartsWith "半分")
        let narrow = lines |> Array.find (fun l -> l.StartsWith "ab ")
        Assert.Equal(columnOf header "bound", columnOf wide "2")
        Assert.Equal(columnOf header "bound", columnOf narrow "2")
    finally
        File.Delete file

[<Fact>]
let ``tn cuts prints the declared MPS half cut: bound chi, trivial d^(n/2), the middle bond severed`` () =
    // mps.tn at its defaults: n = 16, d = 2, chi = 8; the half cut p[0..7] | rest is bounded by min(8, 2^8).
    let code, out, err = cuts [ mps ]
    Assert.Equal(0, code)
    // chi = 8 is more than the end bonds can carry (b[1] at most 2, b[2] at most 4): warnings, not errors.
    Assert.Contains("TN0410", err)
    Assert.DoesNotContain("error", err)
    Assert.Equal<string array>([| "half"; "8"; "3"; "256"; "min-cut"; "b[8](8)" |], row out "half")

[<Fact>]
let ``tn cuts --profile lists every contiguous split of a chain with min(chi, d^k, d^(n-k))`` () =
    let code, out, _ = cuts [ mps; "--profile"; "--set"; "n=6" ]
    Assert.Equal(0, code)
    let bounds =
        out.Split('\n')
        |> Array.map (fun l -> l.Split(' ', System.StringSplitOptions.RemoveEmptyEntries))
        |> Array.filter (fun c -> c.Length > 0 && c[0] = "contiguous")
        |> Array.map (fun c -> int c[1], int c[5])
    Assert.Equal<(int * int) array>([| for k in 1..5 -> k, min 8 (min (pown 2 k) (pown 2 (6 - k))) |], bounds)

[<Fact>]
let ``tn cuts --json carries the exact bound, bits, nats, trivial bound, severed bonds and both sides`` () =
    let code, out, _ = cuts [ mps; "--json" ]
    Assert.Equal(0, code)
    use doc = JsonDocument.Parse out
    let root = doc.RootElement
    Assert.Equal("mps", root.GetProperty("network").GetString())
    let c = root.GetProperty("cuts")[0]
    Assert.Equal("half", c.GetProperty("name").GetString())
    Assert.Equal(8L, c.GetProperty("bound").GetInt64())
    Assert.Equal(3.0, c.GetProperty("bits").GetDouble(), 9)
    Assert.Equal(log 8.0, c.GetProperty("nats").GetDouble(), 9)
    Assert.Equal(256L, c.GetProperty("trivial").GetInt64())
    Assert.Equal("min-cut", c.GetProperty("tighter").GetString())
    let bond = c.GetProperty("bonds")[0]
    Assert.Equal("b[8]", bond.GetProperty("name").GetString())
    Assert.Equal(8, bond.GetProperty("dim").GetInt32())
    // Each side is one run: p[0]..p[7] | p[8]..p[15], tensors A[0]..A[7] | A[8]..A[15].
    let run (side: string) =
        let r = c.GetProperty(side).[0]
        r.GetProperty("first").GetString(), r.GetProperty("last").GetString(), r.GetProperty("count").GetInt32()
    for side in [ "left"; "right"; "left_tensors"; "right_tensors" ] do
        Assert.Equal(1, c.GetProperty(side).GetArrayLength())
    Assert.Equal(("p[0]", "p[7]", 8), run "left")
    Assert.Equal(("p[8]", "p[15]", 8), run "right")
    Assert.Equal(("A[0]", "A[7]", 8), run "left_tensors")
    Assert.Equal(("A[8]", "A[15]", 8), run "right_tensors")
    Assert.Equal(0, root.GetProperty("profile").GetArrayLength())

[<Fact>]
let ``tn cuts --profile --json writes each split of a long chain as runs, and huge trivial bounds as powers`` () =
    let code, out, _ = cuts [ mps; "--profile"; "--json"; "--set"; "n=400" ]
    Assert.Equal(0, code)
    use doc = JsonDocument.Parse out
    let profile = doc.RootElement.GetProperty("profile")
    Assert.Equal(400, profile.GetArrayLength())
    let split k = profile[k - 1]
    let e = split 200
    Assert.Equal("contiguous", e.GetProperty("kind").GetString())
    Assert.Equal(200, e.GetProperty("position").GetInt32())
    Assert.Equal(8L, e.GetProperty("bound").GetInt64())
    // 2^200 is past 2^128: written as the power of the leg dimension, exact and short.
    Assert.Equal("2^200", e.GetProperty("trivial").GetString())
    Assert.Equal(200.0, e.GetProperty("trivial_bits").GetDouble(), 9)
    let first = split 1
    Assert.Equal(2L, first.GetProperty("trivial").GetInt64())
    for side in [ "left"; "right"; "left_tensors"; "right_tensors" ] do
        Assert.Equal(1, e.GetProperty(side).GetArrayLength())
    let left = e.GetProperty("left").[0]
    let rightTensors = e.GetProperty("right_tensors").[0]
    Assert.Equal("p[199]", left.GetProperty("last").GetString())
    Assert.Equal(200, rightTensors.GetProperty("count").GetInt32())

[<Fact>]
let ``tn cuts --cut with an unknown name fails with the declared names`` () =
    let code, out, err = cuts [ mps; "--cut"; "quarter" ]
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.Contains("quarter", err)
    Assert.Contains("half", err)

[<Fact>]
let ``tn cuts usage errors exit 2 and a missing file exits 1, without a stack trace`` () =
    let code, _, err = cuts []
    Assert.Equal(2, code)
    Assert.Contains("usage", err)
    let code, _, err = cuts [ mps; "--frobnicate" ]
    Assert.Equal(2, code)
    Assert.DoesNotContain("   at ", err)
    let code, _, err = cuts [ Path.Combine(examplesDir, "no-such-file.tn") ]
    Assert.Equal(1, code)
    Assert.Contains("TN0007", err)

[<Fact>]
let ``every verb that reads a network exits 1 on a missing file, with TN0007 and no usage`` () =
    let missing = Path.Combine(examplesDir, "no-such-file.tn")
    let svg = Path.Combine(Path.GetTempPath(), "tn-missing.svg")
    for args in
        [ [ "check"; missing ]
          [ "cuts"; missing ]
          [ "plan"; missing ]
          [ "draw"; missing; "-o"; svg ]
          [ "export"; missing; "--json" ]
          [ "layer"; missing ]
          [ "run"; missing ]
          [ "contract"; missing ]
          [ "emit"; missing; "--cs" ] ] do
        let code, out, err = tn args
        Assert.True((code = 1), sprintf "tn %s: exit %d\n%s" (String.concat " " args) code err)
        // With --json (export's one format) the diagnostics are the JSON document on standard output.
        Assert.Contains("TN0007", if List.contains "--json" args then out else err)
        Assert.DoesNotContain("usage:", err)
        Assert.DoesNotContain("   at ", err)
    // A JSON network that is not there is an error in the input too.
    let code, _, err = tn [ "plan"; Path.ChangeExtension(missing, ".json") ]
    Assert.Equal(1, code)
    Assert.DoesNotContain("usage:", err)
    Assert.False(File.Exists svg)

[<Fact>]
let ``tn check prints one bound line per declared cut, and --json the exact bounds`` () =
    let result = TnDsl.Api.Frontend.Check(mps, [||], null)
    use w = new StringWriter()
    CheckCommand.WriteText(w, result)
    Assert.Contains("cut half: bound 8 (3 bits), trivial 256 (8 bits): min-cut tighter", w.ToString())
    use j = new StringWriter()
    CheckCommand.WriteJson(j, mps, result)
    use doc = JsonDocument.Parse(j.ToString())
    let b = doc.RootElement.GetProperty("summary").GetProperty("cut_bounds")[0]
    Assert.Equal("half", b.GetProperty("name").GetString())
    Assert.Equal(8L, b.GetProperty("bound").GetInt64())
    Assert.Equal(256L, b.GetProperty("trivial").GetInt64())

/// Runs `tn export` with the given arguments: exit code, stdout, stderr.
let export (args: string list) = tn ("export" :: args)

let exampleFiles: obj array seq =
    Directory.GetFiles(examplesDir, "*.tn") |> Array.sort |> Seq.map (fun f -> [| box (Path.GetFileName f) |])

let private indexed (problem: TnDsl.Problem) =
    match TnDsl.Problem.index TnDsl.Range.none problem with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds

[<Theory>]
[<MemberData(nameof exampleFiles)>]
let ``tn export --json reads back as the same problem and plans to the same path`` (name: string) =
    let path = Path.Combine(examplesDir, name)
    let code, json, err = export [ path; "--json" ]
    Assert.True((code = 0), err)
    let exported =
        match TnDsl.PlanInput.ofJson "export.json" json with
        | Ok p -> p
        | Result.Error ds -> failwithf "%A" ds
    let net = (TnDsl.Compiler.compileFile path TnDsl.Compiler.defaultOptions).Network.Value
    let direct, _ = TnDsl.PlanInput.ofNetwork net Map.empty
    Assert.Equal<string array>(direct.Names, exported.Names)
    Assert.Equal<string array array>(direct.Inputs, exported.Inputs)
    Assert.Equal<bool array>(direct.Trainable, exported.Trainable)
    Assert.Equal<string array>(direct.Output, exported.Output)
    Assert.Equal<Map<string, int64>>(direct.Sizes, exported.Sizes)
    let plan problem = TnDsl.Plan.run "greedy" TnDsl.PlanOptions.defaults (indexed problem)
    let a, b = plan direct, plan exported
    Assert.Equal(a.Cost.Value.Flops, b.Cost.Value.Flops)
    Assert.Equal<int array array>(TnDsl.ContractionTree.toLinear a.Tree.Value, TnDsl.ContractionTree.toLinear b.Tree.Value)

[<Fact>]
let ``tn export honours --set and --size, and -o writes the file that tn plan reads`` () =
    let file = Path.Combine(Path.GetTempPath(), sprintf "tn-export-%d.json" (System.Random().Next()))
    try
        let code, out, _ = export [ Path.Combine(examplesDir, "born-machine.tn"); "--json"; "--set"; "n=5"; "--size"; "batch=64"; "-o"; file ]
        Assert.Equal(0, code)
        Assert.Equal("", out)
        use doc = JsonDocument.Parse(File.ReadAllText file)
        Assert.Equal(10, doc.RootElement.GetProperty("tensors").GetArrayLength())
        Assert.Equal(64, doc.RootElement.GetProperty("sizes").GetProperty("batch").GetInt32())
    finally
        File.Delete file

[<Fact>]
let ``tn export without --json, or with an unknown option, is a usage error; a file with errors exits 1`` () =
    let mps = Path.Combine(examplesDir, "mps.tn")
    let code, _, _ = export [ mps ]
    Assert.Equal(2, code)
    let code, _, _ = export [ mps; "--json"; "--yaml" ]
    Assert.Equal(2, code)
    let code, out, _ = export [ mps; "--json"; "--set"; "n=1" ]
    Assert.Equal(1, code)
    Assert.Contains("\"error\"", out)

[<Fact>]
let ``tn cuts accepts a batch size that is not a power of the bonds' prime (the batch leg carries no weight)`` () =
    // born-machine: bonds chi = 4 and physical d = 2 are powers of 2, the batch (1000) is not; the batch is left
    // out of the flow graph, so it must not decide the graph's arithmetic.
    let code, out, err = cuts [ Path.Combine(examplesDir, "born-machine.tn"); "--set"; "chi=4"; "--json" ]
    Assert.True((code = 0), err)
    use doc = JsonDocument.Parse out
    Assert.Equal("born_machine", doc.RootElement.GetProperty("network").GetString())

/// Runs `tn plan` with the given arguments: exit code, stdout, stderr.
let plan (args: string list) = tn ("plan" :: args)

[<Fact>]
let ``tn plan --einsum of a 2x3 by 3x4 product costs 2*3*4 multiply-adds, as JSON`` () =
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--json" ]
    Assert.True((code = 0), err)
    use doc = JsonDocument.Parse out
    // A multiply and an add per term of the sum: 2 * (2 * 3 * 4).
    Assert.Equal(48L, doc.RootElement.GetProperty("flops").GetInt64())
    Assert.Equal(8L, doc.RootElement.GetProperty("largest_intermediate").GetInt64())

[<Fact>]
let ``tn plan on a JSON network with a size given as a string exits 1 with a positioned TN0306, no internal error`` () =
    let file = Path.Combine(Path.GetTempPath(), sprintf "tn-plan-%d.json" (System.Random().Next()))
    File.WriteAllText(file, "{\"tensors\": [{\"name\": \"A\", \"indices\": [\"a\"]}],\n \"sizes\": {\"a\": \"2\"}}")
    try
        let code, out, err = plan [ file ]
        Assert.Equal(1, code)
        Assert.Equal("", out)
        Assert.Contains(sprintf "%s(2,17): error TN0306" file, err)
        Assert.DoesNotContain("internal error", err)
    finally
        File.Delete file

[<Fact>]
let ``tn plan reads a .tn file under another name by its text, and a file named .json as JSON`` () =
    // It read every file not named *.tn as JSON and failed at its first character (session 29's probe).
    let dir = Path.Combine(Path.GetTempPath(), sprintf "tn-plan-%d" (System.Random().Next()))
    Directory.CreateDirectory dir |> ignore
    try
        let text = Path.Combine(dir, "grid")
        File.Copy(Path.Combine(repoRoot, "examples", "grid.tn"), text)
        let code, out, err = plan [ text; "--set"; "L=3" ]
        Assert.True((code = 0), err)
        Assert.Contains("Tensors:               9 (12 indices)", out)
        let json = Path.Combine(dir, "grid.json")
        File.Copy(text, json)
        let code, _, err = plan [ json ]
        Assert.Equal(1, code)
        Assert.Contains("error TN0306", err)
    finally
        Directory.Delete(dir, true)

let private assertUsage (code: int, out: string, err: string) =
    Assert.True((code = 2), sprintf "exit %d (expected 2)\nstdout: %s\nstderr: %s" code out err)

/// Runs the built `tn` as a process from the repository root with `input` on its standard input: exit code,
/// stdout, stderr.
let tnPiped (input: string) (args: string list) =
    let info = System.Diagnostics.ProcessStartInfo(Path.Combine(System.AppContext.BaseDirectory, "tn"))
    for a in args do
        info.ArgumentList.Add a
    info.WorkingDirectory <- repoRoot
    info.RedirectStandardInput <- true
    info.RedirectStandardOutput <- true
    info.RedirectStandardError <- true
    use p = System.Diagnostics.Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    p.StandardInput.Write input
    p.StandardInput.Close()
    if not (p.WaitForExit 300000) then
        p.Kill true
        failwithf "tn %s did not finish in 5 minutes" (String.concat " " args)
    p.ExitCode, out.Result, err.Result

[<Fact>]
let ``tn plan /dev/stdin reads a piped .tn file or JSON network by its text, and the .tn verbs read a piped .tn file`` () =
    // Piped .tn was read as JSON by tn plan (the name alone decided), and refused as not a regular file by tn check.
    let grid = File.ReadAllText(Path.Combine(repoRoot, "examples", "grid.tn"))
    let code, out, err = tnPiped grid [ "plan"; "/dev/stdin"; "--set"; "L=3" ]
    Assert.True((code = 0), err)
    Assert.Contains("Tensors:               9 (12 indices)", out)
    Assert.Contains("Scaling:", out)
    let _, json, _ = tn [ "export"; Path.Combine(repoRoot, "examples", "grid.tn"); "--set"; "L=3"; "--json" ]
    let code, out, err = tnPiped json [ "plan"; "/dev/stdin" ]
    Assert.True((code = 0), err)
    Assert.Contains("Tensors:               9 (12 indices)", out)
    let code, out, err = tnPiped json [ "plan"; "/dev/stdin"; "--no-scaling" ]
    assertUsage (code, out, err)
    Assert.Contains("tn plan: --no-scaling applies to a .tn file, not to a JSON network (/dev/stdin starts with {)", err)
    let code, out, err = tnPiped grid [ "check"; "/dev/stdin"; "--set"; "L=3" ]
    Assert.True((code = 0), err)
    Assert.Contains("network grid (L=3, D=2): ok", out)
    let code, out, err = tnPiped json [ "check"; "/dev/stdin" ]
    assertUsage (code, out, err)
    Assert.Contains("tn check: /dev/stdin is a JSON network (it starts with {)", err)

[<Fact>]
let ``tn plan reports an unknown --objective as its other bad option values, and no input by what to give`` () =
    // It printed `tn: error TN0309 ...` with no usage line; no input said "give a network FILE or --einsum (not both)".
    let code, out, err = plan [ Path.Combine(repoRoot, "examples", "grid.tn"); "--objective"; "foo" ]
    assertUsage (code, out, err)
    Assert.StartsWith("tn plan: --objective foo: unknown objective 'foo'; valid objectives: flops, size, write, combo, combo:F", err)
    Assert.Contains("usage: tn plan", err)
    Assert.DoesNotContain("TN0309", err)
    let code, out, err = plan []
    assertUsage (code, out, err)
    Assert.StartsWith("tn plan: give a network FILE (.tn or .json) or --einsum", err)
    Assert.DoesNotContain("not both", err)
    let code, out, err = plan [ Path.Combine(repoRoot, "examples", "grid.tn"); "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4" ]
    assertUsage (code, out, err)
    Assert.Contains("tn plan: give a network FILE or --einsum (not both)", err)

[<Fact>]
let ``tn plan --json writes counts beyond 2^53 as decimal strings with their log10, smaller ones as numbers`` () =
    // 60 indices of size 2 on a chain of 30 matrices: naive flops ~2^31 x 2^30 > 2^53, the plan's flops are small.
    let letters = [| for k in 0..30 -> string (char (0x3B1 + k)) |]
    let spec = String.concat "," [ for k in 0..29 -> letters[k] + letters[k + 1] ]
    let shapes = String.concat "," [ for _ in 0..29 -> "4x4" ]
    let code, out, err = plan [ "--einsum"; spec + "->" + letters[0] + letters[30]; "--shapes"; shapes; "--json" ]
    Assert.True((code = 0), err)
    use doc = JsonDocument.Parse out
    let root = doc.RootElement
    let naive = root.GetProperty("naive_flops")
    Assert.Equal(JsonValueKind.String, naive.ValueKind)
    let exact = System.Numerics.BigInteger.Parse(naive.GetString())
    Assert.True(exact > System.Numerics.BigInteger.Pow(2I, 53))
    Assert.Equal(System.Numerics.BigInteger.Log10 exact, root.GetProperty("log10_naive_flops").GetDouble(), 9)
    Assert.Equal(JsonValueKind.Number, root.GetProperty("flops").ValueKind)

[<Fact>]
let ``tn plan usage errors exit 2 with the command's name, the reason and the usage`` () =
    for args, reason in
        [ [ mps; "--size"; "batch=0" ], "--size"
          [ mps; "--memory-limit"; "0" ], "--memory-limit"
          [ mps; "--optimizer"; "" ], "greedy"
          [ mps; "--frobnicate" ], "'--frobnicate'"
          [ mps; "other.tn" ], "other.tn"
          [], "FILE"
          [ "--einsum"; "ab,bc->ac" ], "--shapes" ] do
        let code, out, err = plan args
        Assert.Equal(2, code)
        Assert.Equal("", out)
        Assert.StartsWith("tn plan: ", err)
        Assert.Contains(reason, err)
        Assert.Contains("usage: tn plan", err)
        Assert.DoesNotContain("   at ", err)

[<Fact>]
let ``tn plan -h prints the usage and every option and exits 0`` () =
    let code, out, err = plan [ "-h" ]
    Assert.Equal(0, code)
    Assert.Contains("tn plan [<FILE>] [options]", out)
    for option in [ "--set"; "--network"; "--optimizer"; "--einsum"; "--shapes"; "--size"; "--memory-limit"; "--no-scaling"; "--json" ] do
        Assert.Contains(option, out)
    Assert.Equal("", err)

[<Fact>]
let ``tn plan --size sets a dynamic dimension of a .tn network: batch x p terms, a multiply and an add each`` () =
    let file = Path.Combine(Path.GetTempPath(), sprintf "tn-plan-%d.tn" (System.Random().Next()))
    File.WriteAllText(file, "network v {\n  index batch: dynamic(1000)\n  index p: 3\n  input x: (batch, p)\n  weight w: (p)\n  output (batch)\n}\n")
    try
        let flops (args: string list) =
            let code, out, err = plan ([ file; "--json" ] @ args)
            Assert.True((code = 0), err)
            use doc = JsonDocument.Parse out
            doc.RootElement.GetProperty("flops").GetInt64()
        Assert.Equal(2L * 1000L * 3L, flops [])
        Assert.Equal(2L * 20L * 3L, flops [ "--size"; "batch=20" ])
    finally
        File.Delete file

/// Runs `tn check` with the given arguments: exit code, stdout, stderr.
let check (args: string list) = tn ("check" :: args)

[<Fact>]
let ``tn check in process: --set reaches the network, usage errors exit 2 with the usage`` () =
    let code, out, _ = check [ mps; "--set"; "n=4"; "--json" ]
    Assert.Equal(0, code)
    use doc = JsonDocument.Parse out
    Assert.Equal("4", doc.RootElement.GetProperty("summary").GetProperty("parameters").GetProperty("n").GetString())
    Assert.Equal(4, doc.RootElement.GetProperty("summary").GetProperty("open_legs").GetInt32())
    let code, _, err = check [ mps; "--set"; "n" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn check: --set", err)
    Assert.Contains("usage: tn check", err)

[<Fact>]
let ``tn cuts and tn export usage errors name the command and the option`` () =
    let code, _, err = cuts [ mps; "--cut" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn cuts: ", err)
    Assert.Contains("'--cut'", err)
    let code, _, err = export [ mps; "--json"; "--size"; "batch" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn export: --size takes name=N", err)
    Assert.Contains("'batch'", err)
    let code, _, err = export [ mps; "--json"; "-o" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn export: ", err)
    Assert.Contains("'-o'", err)

[<Fact>]
let ``tn train --resume --lr-now goes on at the new learning rate, and without --resume it is refused`` () =
    let out = Path.Combine(Path.GetTempPath(), $"tn-train-{System.Guid.NewGuid():N}")
    try
        let bars = Path.Combine(examplesDir, "data", "born-machine", "bars-and-stripes")
        let start = [ "born-machine"; "--file"; Path.Combine(examplesDir, "born-machine.tn"); "--data"; bars; "--out"; out ]
        let train args =
            let code, out, err = tn ("train" :: args)
            Assert.True((code = 0), $"exit {code}\nstdout:\n{out}\nstderr:\n{err}")
        train (start @ [ "--lr"; "0.05"; "--loops"; "2" ])
        // The NLL rises at loop 2 of this run, so loop 3 would use 0.05 × 0.2 = 0.01; --lr-now sets 0.02 instead.
        train [ "born-machine"; "--out"; out; "--resume"; "--loops"; "3"; "--lr-now"; "0.02" ]
        let lr = File.ReadAllLines(Path.Combine(out, "history.csv")) |> Array.skip 1 |> Array.map (fun l -> l.Split(',').[4])
        Assert.Equal<string[]>([| "0.05"; "0.05"; "0.05"; "0.02" |], lr)
        // history.csv holds each NLL as the checkpoint does, so a plot redrawn from it is the one train drew (at four
        // decimals the panel of the last loops showed steps of 1e-4 the run never took).
        let struct (state, model) = TnDsl.BornMachine.Checkpoint.Load(Path.Combine(out, "checkpoint.bin"))
        model.Dispose()
        let rows = File.ReadAllLines(Path.Combine(out, "history.csv")) |> Array.skip 1 |> Array.map (fun l -> l.Split(','))
        Assert.Equal(state.History.Length, rows.Length)
        for row, h in Array.zip rows state.History do
            let parse (s: string) = System.Double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)
            Assert.Equal(h.TrainNll, parse row[1])
            Assert.Equal(h.TestNll, parse row[2])
        let code, _, err = tn [ "train"; "born-machine"; "--out"; out + "-new"; "--lr-now"; "0.02" ]
        Assert.Equal(2, code)
        Assert.StartsWith("tn train born-machine: ", err)
        Assert.Contains("--resume", err)
        // A resumed run keeps its settings: a different --dmax or --network, or any --set, is refused.
        for changed in [ [ "--dmax"; "31" ]; [ "--network"; "other" ]; [ "--set"; "chi=3" ] ] do
            let code, _, err = tn ([ "train"; "born-machine"; "--out"; out; "--resume"; "--loops"; "3" ] @ changed)
            Assert.Equal(2, code)
            Assert.Contains(changed.Head, err)
    finally
        if Directory.Exists out then Directory.Delete(out, true)

/// Runs a program in `dir` with extra environment variables; exit code, stdout, stderr. Fails past 5 minutes.
let run (program: string) (args: string list) (dir: string) (env: (string * string) list) =
    let info = System.Diagnostics.ProcessStartInfo(program)
    for a in args do
        info.ArgumentList.Add a
    info.WorkingDirectory <- dir
    info.RedirectStandardOutput <- true
    info.RedirectStandardError <- true
    for k, v in env do
        info.Environment[k] <- v
    use p = System.Diagnostics.Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit 300000) then
        p.Kill true
        failwithf "%s %s did not finish in 5 minutes" program (String.concat " " args)
    p.ExitCode, out.Result, err.Result

/// Runs the built `tn` as a process from the repository root, with extra environment variables: exit code, stdout,
/// stderr. A crash (an unhandled exception, an abort in libtorch: exit 134) shows here as it would to a user.
let tnProcess (env: (string * string) list) (args: string list) =
    run (Path.Combine(System.AppContext.BaseDirectory, "tn")) args repoRoot env

/// A refusal as users must see it: exit 1, one line on stderr that says `expected`, no stack trace of any kind.
let assertRefused (expected: string list) (code: int, out: string, err: string) =
    Assert.True((code = 1), sprintf "exit %d\nstdout: %s\nstderr: %s" code out err)
    let lines = err.Split('\n', System.StringSplitOptions.RemoveEmptyEntries)
    Assert.True((lines.Length = 1), sprintf "one line expected on stderr, got:\n%s" err)
    for e in expected do
        Assert.Contains(e, err)
    for trace in [ "   at "; "Unhandled"; "frame #"; "Exception raised from"; "internal error" ] do
        Assert.DoesNotContain(trace, err)

/// A .npy file with a version-1 header (or version 2 with an explicit header length) and raw data.
let npy (descr: string) (shape: string) (data: byte array) (v2HeaderLength: uint32 option) =
    let dict = sprintf "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" descr shape
    let header = dict.PadRight(117 - (if v2HeaderLength.IsSome then 2 else 0)) + "\n"
    let head =
        match v2HeaderLength with
        | Some n -> Array.append [| 0x93uy; 78uy; 85uy; 77uy; 80uy; 89uy; 2uy; 0uy |] (System.BitConverter.GetBytes n)
        | None -> Array.append [| 0x93uy; 78uy; 85uy; 77uy; 80uy; 89uy; 1uy; 0uy |] (System.BitConverter.GetBytes(uint16 header.Length))
    Array.concat [ head; System.Text.Encoding.ASCII.GetBytes header; data ]

[<Fact>]
let ``tn train --data refuses each crafted .npy file of issue 22 with one line naming the file and field, exit 1`` () =
    let cases =
        [ "shape (30, x)", npy "|u1" "(30, x)" (Array.zeroCreate 30) None, "shape: dimension 1"
          "a dimension of 99999999999999999999", npy "|u1" "(99999999999999999999, 4)" [| 1uy |] None, "shape: dimension 0"
          "a negative dimension", npy "|u1" "(-1, 4)" (Array.zeroCreate 4) None, "negative"
          "2^40 x 2^40", npy "|u1" "(1099511627776, 1099511627776)" [| 1uy |] None, "shape:"
          "<i8 with shape (2^61, 1)", npy "<i8" "(2305843009213693952, 1)" (Array.zeroCreate 8) None, "shape:"
          "a version-2 header length of 0xFFFFFFF0", npy "|u1" "(1, 4)" (Array.zeroCreate 4) (Some 0xFFFFFFF0u), "header length" ]
    for name, bytes, field in cases do
        let dir = Directory.CreateTempSubdirectory("tn-npy-").FullName
        try
            let train = Path.Combine(dir, "train.npy")
            File.WriteAllBytes(train, bytes)
            let result = tnProcess [] [ "train"; "born-machine"; "--data"; dir; "--out"; Path.Combine(dir, "out") ]
            try
                assertRefused [ train; field ] result
            with e ->
                failwithf "%s: %s" name e.Message
        finally
            Directory.Delete(dir, true)

/// A safetensors checkpoint header with two sites of the given shapes and offsets, then `data` bytes.
let checkpoint (length: uint64 option) (shape0: int64 list) (offsets0: int64 * int64) (data: int) =
    let site (shape: int64 list) (b: int64, e: int64) =
        sprintf """{"dtype":"F64","shape":[%s],"data_offsets":[%d,%d]}""" (shape |> List.map string |> String.concat ",") b e
    let header =
        sprintf """{"__metadata__":{"format":"tndsl-born-machine-checkpoint","version":"2","state":"{}","sha256":"00"},"site.0":%s,"site.1":%s}"""
            (site shape0 offsets0) (site [ 2L; 2L; 1L ] (snd offsets0, snd offsets0 + 32L))
    let bytes = System.Text.Encoding.UTF8.GetBytes header
    Array.concat [ System.BitConverter.GetBytes(defaultArg length (uint64 bytes.Length)); bytes; Array.zeroCreate data ]

[<Fact>]
let ``tn sample refuses crafted checkpoints with one line naming the file and field, exit 1`` () =
    let cases =
        [ "a length field of 0x7fffffff", checkpoint (Some 0x7fffffffUL) [ 1L; 2L; 2L ] (0L, 32L) 64, "header length"
          "a site shape of 2^40 x 2^20", checkpoint None [ 1L; 1099511627776L; 1048576L ] (0L, 32L) 64, "site.0.data_offsets"
          "a negative dimension", checkpoint None [ 1L; -2L; 2L ] (0L, 32L) 64, "site.0.shape[1]"
          "a truncated file", checkpoint None [ 1L; 2L; 2L ] (0L, 32L) 40, "site.1.data_offsets" ]
    for name, bytes, field in cases do
        let file = Path.Combine(Path.GetTempPath(), sprintf "tn-ckpt-%s.bin" (System.Guid.NewGuid().ToString "N"))
        try
            File.WriteAllBytes(file, bytes)
            try
                assertRefused [ file; field ] (tnProcess [] [ "sample"; file; "-o"; file + ".png" ])
            with e ->
                failwithf "%s: %s" name e.Message
        finally
            File.Delete file

/// Runs `body` on a fresh temporary folder whose name starts with `prefix`; the folder is deleted afterwards.
let inScratch (prefix: string) (body: string -> unit) =
    let dir = Directory.CreateTempSubdirectory(prefix).FullName
    try body dir finally Directory.Delete(dir, true)

/// Runs a check in a fresh temporary directory, handing it `write name text`, which writes a file there and returns
/// its path; the directory is deleted afterwards.
let withTempFiles (prefix: string) (check: (string -> string -> string) -> unit) =
    inScratch prefix (fun dir ->
        check (fun name (text: string) ->
            let path = Path.Combine(dir, name)
            File.WriteAllText(path, text)
            path))

[<Fact>]
let ``tn run and tn emit refuse what would not fit in memory before allocating, in one line, exit 1`` () =
    withTempFiles "tn-big-" (fun write ->
        // 2^34 weights, which aborted in libtorch's allocator; a plan of exactly 2^32 elements, which the element
        // guard let through; a 2^62 vector; an identity on a 10^9 x 9 weight, which overflowed an int.
        let weights = write "weights.tn" "network big {\n  index a: 131072\n  index b: 131072\n  weight W: (a, b)\n  output (a, b)\n}\n"
        let exact = write "exact.tn" "network exact {\n  index a: 65536\n  index b: 65536\n  weight W: (a, b)\n  output (a, b)\n}\n"
        let vector = write "vector.tn" "network vec {\n  index a: 4611686018427387904\n  weight v: (a)\n  output (a)\n}\n"
        let identity = write "identity.tn" "network id {\n  index a: 1000000000\n  index b: 9\n  weight W: (a, b) init identity\n  output (a, b)\n}\n"
        let limit = [ "TN_MEMORY_LIMIT", "8G" ]
        for file in [ weights; exact; vector; identity ] do
            try
                assertRefused [ "memory limit" ] (tnProcess limit [ "run"; file; "--threads"; "1" ])
                assertRefused [ "memory limit" ] (tnProcess limit [ "emit"; file; "--cs" ])
            with e ->
                failwithf "%s: %s" (Path.GetFileName file) e.Message
        // A limit that is not a size is a clear error too.
        assertRefused [ "TN_MEMORY_LIMIT" ] (tnProcess [ "TN_MEMORY_LIMIT", "lots" ] [ "run"; exact ]))

[<Fact>]
let ``a memory limit of one byte is refused as "1 byte", not "1 bytes"`` () =
    withTempFiles "tn-byte-" (fun write ->
        let tiny = write "tiny.tn" "network tiny {\n  index a: 2\n  weight W: (a)\n  output (a)\n}\n"
        let _, _, err as result = tnProcess [ "TN_MEMORY_LIMIT", "1" ] [ "run"; tiny; "--threads"; "1" ]
        assertRefused [ "over the memory limit of 1 byte (TN_MEMORY_LIMIT=1)" ] result
        Assert.DoesNotMatch(@"\b1 bytes", err))

[<Fact>]
let ``tn run slices a plan over the memory limit to fit it, tn emit writes the sliced loop, and what slicing cannot fit is refused`` () =
    withTempFiles "tn-slice-" (fun write ->
        // A closed 5 x 5 grid of bond dimension 8: about 4 MiB unsliced (planner's estimate), under 3 MiB sliced;
        // recording every slice, training kept more than 3 MiB whatever was sliced, and tn run reported the forward
        // pass only; its slices checkpointed one at a time, a training step needs 2.12 MiB and runs.
        let grid =
            write "grid.tn"
                ("network grid(L: int = 5, D: int = 8) {\n  index h[x, y]: D for x in 0..L-2, y in 0..L-1\n" +
                 "  index v[x, y]: D for x in 0..L-1, y in 0..L-2\n" +
                 "  weight T[x, y]: (h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1) for x in 0..L-1, y in 0..L-1\n" +
                 "  output ()\n}\n")
        let limit = [ "TN_MEMORY_LIMIT", "3M" ]
        let code, out, err = tnProcess limit [ "run"; grid; "--threads"; "1"; "--repeat"; "1" ]
        Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
        Assert.Contains("  sliced ", out)
        Assert.Matches(@"\n  memory      [^\n]* training \(slices checkpointed in groups of [0-9,]+\)", out)
        Assert.Matches(@"\n  fwd \+ bwd   [0-9.]+ (ms|s) per call", out)
        // Said before the calls, which a small limit can make take hours.
        Assert.Matches(@"^tn run: grid: the plan is sliced to fit the memory limit: each call runs [0-9,]+ slices, [0-9.,e]+ flops \(a first call, then 1 timed\)\n", err)
        let code, out, err = tnProcess limit [ "emit"; grid; "--cs" ]
        Assert.True((code = 0), sprintf "exit %d\n%s" code err)
        Assert.Contains("for (long v0 = 0; v0 < n0; v0++)", out)
        // The MPO applied to an MPS at n = 30 (issue 17): the result alone is 2^30 elements, which no slicing of
        // closed indices reduces: refused in one line before anything is allocated.
        let mpoMps =
            write "mpo-mps.tn"
                ("network mpo_mps(n: int = 30, d: int = 2, chi: int = 8, D: int = 4) {\n" +
                 "  index p[i]: d for i in 0..n-1\n  index q[i]: d for i in 0..n-1\n" +
                 "  index b[i]: chi for i in 1..n-1\n  index w[i]: D for i in 1..n-1\n" +
                 "  weight A[i]: (b[i] if i > 0, p[i], b[i+1] if i < n-1) for i in 0..n-1\n" +
                 "  weight W[i]: (w[i] if i > 0, p[i], q[i], w[i+1] if i < n-1) for i in 0..n-1\n" +
                 "  output (q[0..n-1])\n}\n")
        assertRefused [ "memory limit" ] (tnProcess [ "TN_MEMORY_LIMIT", "2G" ] [ "run"; mpoMps; "--threads"; "1"; "--optimizer"; "greedy" ]))

[<Fact>]
let ``tn run's skipped backward pass of a plan sliced for the forward pass names the rows its checkpointed step fits, and those train`` () =
    // layers/mps.tn at chi = 32 and 3,000 rows under 3M: sliced into 256 slices for the forward pass, whose training
    // step kept every slice's activations (127 MiB): it said "not even one row fits a training step". Checkpointed in
    // groups of slices it needs 3.26 MiB, and 2,700 rows train.
    let mps = Path.Combine(examplesDir, "layers", "mps.tn")
    let limit = [ "TN_MEMORY_LIMIT", "3M" ]
    let code, out, err = tnProcess limit [ "run"; mps; "--set"; "chi=32"; "--batch"; "3000"; "--threads"; "1"; "--repeat"; "1" ]
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Contains("  sliced ", out)
    let m = System.Text.RegularExpressions.Regex.Match(out, @"\n  fwd \+ bwd   not run: [^\n]*; feed at most ([0-9,]+) rows per step with this sliced plan[^\n]*; a smaller --batch is planned anew, and unsliced where that fits; ")
    Assert.True(m.Success, out)
    let rows = System.Int64.Parse(m.Groups[1].Value.Replace(",", ""))
    Assert.InRange(rows, 2000L, 2999L)
    let code, out, err = tnProcess limit [ "run"; mps; "--set"; "chi=32"; "--batch"; string rows; "--threads"; "1"; "--repeat"; "1" ]
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Contains("  sliced ", out)
    Assert.Matches(@"\n  memory      [^\n]* training \(slices checkpointed in groups of [0-9,]+\)", out)
    Assert.Matches(sprintf @"\n  fwd \+ bwd   [0-9.]+ (ms|s) per batch of %d" rows, out)

[<Fact>]
let ``tn run runs a batch whose forward pass does not fit in chunks of rows and skips the backward pass, naming the rows a step fits`` () =
    // peps at 200,000 rows (greedy): over 100M whole, sliced or not; the whole inputs and result are 21 MB, so
    // chunks of rows fit.
    let code, out, err =
        tnProcess [ "TN_MEMORY_LIMIT", "100M" ]
            [ "run"; Path.Combine(examplesDir, "layers", "peps.tn"); "--batch"; "200000"; "--threads"; "1"; "--repeat"; "1"; "--optimizer"; "greedy" ]
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Contains("  output      [200000, 10]  (batch, label)", out)
    Assert.Matches(@"\n  chunks      [0-9]+ chunks of (?:[0-9,]+ or )?[0-9,]+ rows \(the forward pass does not fit at once\)\n", out)
    Assert.Matches(@"\n  forward     [0-9.]+ (ms|s) per batch of 200000", out)
    Assert.Matches(@"\n  fwd \+ bwd   not run: [^\n]*; feed at most [0-9,]+ rows per step(?: with this sliced plan)? \(a training step is not run in chunks", out)

[<Fact>]
let ``tn run runs a network of two open dynamic indices in chunks along one of them, or along both nested where one row does not fit`` () =
    // mpo-kernel at 300 rows of each batch (auto): 38 MiB whole; under 2M chunks of rows along one index fit, under
    // 800K not even one row along either beside the other whole: one row along one by as many as fit along the other.
    let kernel = Path.Combine(examplesDir, "mpo-kernel.tn")
    let runUnder limit = tnProcess [ "TN_MEMORY_LIMIT", limit ] [ "run"; kernel; "--batch"; "300"; "--threads"; "1"; "--repeat"; "1" ]
    let code, out, err = runUnder "2M"
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Contains("  output      [300, 300]  (q, k)", out)
    Assert.Matches(@"\n  chunks      [0-9,]+ chunks of (?:[0-9,]+ or )?[0-9,]+ rows along [qk] \(the forward pass does not fit at once\)\n", out)
    let code, out, err = runUnder "800K"
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Matches(@"\n  chunks      [0-9,]+ chunks of 1 row along ([qk]) by (?:[0-9,]+ or )?[0-9,]+ rows along (?!\1)[qk] \(the forward pass does not fit at once\)\n", out)

[<Fact>]
let ``tn train --resume refuses another --threads and removes a killed write's temporary file`` () =
    let out = Path.Combine(Path.GetTempPath(), $"tn-threads-{System.Guid.NewGuid():N}")
    try
        let start = [ "train"; "born-machine"; "--data"; "bars-and-stripes"; "--dmax"; "2"; "--loops"; "1"; "--out"; out; "--threads"; "1" ]
        let code, _, err = tnProcess [] start
        Assert.True((code = 0), err)
        let stale = Path.Combine(out, ".checkpoint.bin.4194305.tmp")
        File.WriteAllText(stale, "partial")
        let code, _, err = tnProcess [] [ "train"; "born-machine"; "--out"; out; "--resume"; "--loops"; "1"; "--threads"; "2" ]
        Assert.Equal(2, code)
        Assert.Contains("--threads 2 differs from the checkpoint's 1", err)
        Assert.False(File.Exists stale)
        let code, out', err = tnProcess [] [ "train"; "born-machine"; "--out"; out; "--resume"; "--loops"; "1" ]
        Assert.True((code = 0), err)
        Assert.Contains("1 thread(s)", out')
    finally
        if Directory.Exists out then Directory.Delete(out, true)

/// Runs `tn draw` with the given arguments: exit code, stdout, stderr.
let draw (args: string list) = tn ("draw" :: args)

let private layoutOf (file: string) =
    match TnDsl.Api.Frontend.Check(Path.Combine(examplesDir, file), [||], null).Network with
    | null -> failwithf "%s has errors" file
    | n -> TnDsl.Cli.Drawing.NetworkLayout.Of n

[<Fact>]
let ``tn draw lays out a chain as a line, a grid as a grid, a tree as a tree, and a network fed by inputs in layers`` () =
    let mps = layoutOf "mps.tn"
    Assert.Equal(TnDsl.Cli.Drawing.LayoutKind.Chain, mps.Kind)
    Assert.All(mps.Positions, fun (struct (_, y)) -> Assert.Equal(0.0, y))
    let peps = layoutOf "peps.tn"
    Assert.Equal(TnDsl.Cli.Drawing.LayoutKind.Grid, peps.Kind)
    // 4x4 distinct lattice points.
    Assert.Equal(16, peps.Positions |> Array.distinct |> Array.length)
    Assert.Equal(4, peps.Positions |> Array.map (fun (struct (x, _)) -> x) |> Array.distinct |> Array.length)
    Assert.Equal(TnDsl.Cli.Drawing.LayoutKind.Tree, (layoutOf "qcnn.tn").Kind)
    Assert.Equal(TnDsl.Cli.Drawing.LayoutKind.Layered, (layoutOf "mera-classifier.tn").Kind)
    // No two tensors of any example share a place.
    for f in Directory.GetFiles(examplesDir, "*.tn") do
        let l = layoutOf (Path.GetFileName f)
        Assert.Equal(l.Positions.Length, l.Positions |> Array.distinct |> Array.length)

[<Fact>]
let ``tn draw writes SVG and PNG, shows a declared cut and the plan's tree, and refuses bad requests`` () =
    let dir = Directory.CreateTempSubdirectory("tn-draw").FullName
    try
        let peps = Path.Combine(examplesDir, "peps.tn")
        let svg = Path.Combine(dir, "net.svg")
        let code, _, err = draw [ peps; "-o"; svg ]
        Assert.True((code = 0), err)
        Assert.Contains("<svg", File.ReadAllText svg)
        for args, name in [ [ "--cut"; "left_right" ], "cut.png"; [ "--plan" ], "plan.png" ] do
            let png = Path.Combine(dir, name)
            let code, _, err = draw ([ peps; "-o"; png ] @ args)
            Assert.True((code = 0), err)
            // The PNG signature.
            Assert.Equal<byte array>([| 0x89uy; 0x50uy; 0x4Euy; 0x47uy |], File.ReadAllBytes(png)[0..3])
        Assert.Equal(2, (let c, _, _ = draw [ peps; "--cut"; "nope"; "-o"; Path.Combine(dir, "x.png") ] in c))
        Assert.Equal(2, (let c, _, _ = draw [ peps; "-o"; Path.Combine(dir, "x.jpg") ] in c))
        Assert.Equal(2, (let c, _, _ = draw [ peps ] in c))
        let profile = Path.Combine(dir, "profile.png")
        let code, _, err = cuts [ peps; "--profile"; "--plot"; profile ]
        Assert.True((code = 0), err)
        Assert.True(FileInfo(profile).Length > 1000L)
        Assert.Equal(2, (let c, _, _ = cuts [ peps; "--plot"; profile ] in c))
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn cuts --profile warns once per oversized bond family, on stderr only`` () =
    let code, out, err = cuts [ mps; "--profile" ]
    Assert.Equal(0, code)
    // b[1], b[2], b[14] and b[15] are oversized: one warning at b's declaration says so.
    let lines = err.Split('\n') |> Array.filter (fun l -> l.Contains "TN0410")
    Assert.Equal(1, lines.Length)
    Assert.StartsWith(mps + "(8,3): warning TN0410", lines[0])
    Assert.DoesNotContain("TN0410", out)
    Assert.DoesNotContain("oversized", out)

[<Fact>]
let ``tn check prints diagnostics to stderr once and the summary to stdout`` () =
    let code, out, err = check [ mps; "--set"; "unused=1" ]
    Assert.Equal(1, code)
    Assert.Equal(1, err.Split('\n') |> Array.filter (fun l -> l.Contains "TN0103") |> Array.length)
    Assert.DoesNotContain("TN0103", out)
    Assert.Contains("1 error", out)

/// Runs `run gateway secretFile` with one in-process cluster worker listening on a free loopback port (its secret
/// written to `dir`/secret), stopping the worker afterwards.
let withClusterWorker (dir: string) (run: string -> string -> unit) =
    let secretFile = Path.Combine(dir, "secret")
    File.WriteAllText(secretFile, System.String('s', 40))
    let ports = TnDsl.Cluster.ClusterHosts.FreeLoopbackPorts(2)
    TnDsl.Native.NativeLoader.EnsureLoaded() |> ignore
    use worker =
        TnDsl.Cluster.ClusterHosts.Worker(System.Net.IPEndPoint(System.Net.IPAddress.Loopback, ports[0]), System.Net.IPAddress.Loopback, ports[0], ports[1],
                                          TnDsl.Cluster.ClusterSecret.FromText(System.String('s', 40)), TnDsl.Cluster.ContractionJobOpener())
    worker.StartAsync(System.Threading.CancellationToken.None).Wait()
    try
        run $"127.0.0.1:{ports[1]}" secretFile
    finally
        worker.StopAsync(System.Threading.CancellationToken.None).Wait()
