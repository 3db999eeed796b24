/// The `tn` commands run in process with their output captured: exit codes, tables and JSON fields.
module TnDsl.Tests.CliTests

open System.IO
open System.Text.Json
open Xunit
open TnDsl.Cli.Commands
open TnDsl.Tests.Support

/// Runs `tn cuts` with the given arguments: exit code, stdout, stderr.
let cuts (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = CutsCommand.Run(Array.ofList args, out, err)
    code, out.ToString(), err.ToString()

let mps = Path.Combine(examplesDir, "mps.tn")

/// The table row whose first cell is `name`, split on runs of spaces.
let row (table: string) (name: string) =
    table.Split('\n')
    |> Array.map (fun l -> l.Split(' ', System.StringSplitOptions.RemoveEmptyEntries))
    |> Array.find (fun cells -> cells.Length > 0 && cells[0] = name)

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
    Assert.Equal("8", c.GetProperty("bound").GetString())
    Assert.Equal(3.0, c.GetProperty("bits").GetDouble(), 9)
    Assert.Equal(log 8.0, c.GetProperty("nats").GetDouble(), 9)
    Assert.Equal("256", c.GetProperty("trivial").GetString())
    Assert.Equal("min-cut", c.GetProperty("tighter").GetString())
    let bond = c.GetProperty("bonds")[0]
    Assert.Equal("b[8]", bond.GetProperty("name").GetString())
    Assert.Equal(8, bond.GetProperty("dim").GetInt32())
    Assert.Equal(8, c.GetProperty("left").GetArrayLength())
    Assert.Equal(8, c.GetProperty("right").GetArrayLength())
    Assert.Equal(8, c.GetProperty("leftTensors").GetArrayLength())
    Assert.Equal(0, root.GetProperty("profile").GetArrayLength())

[<Fact>]
let ``tn cuts --cut with an unknown name fails with the declared names`` () =
    let code, out, err = cuts [ mps; "--cut"; "quarter" ]
    Assert.Equal(1, code)
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
let ``tn check prints one bound line per declared cut, and --json the exact bounds`` () =
    let result = TnDsl.Api.Frontend.Check(mps, [||], null)
    use w = new StringWriter()
    CheckCommand.WriteText(w, result)
    Assert.Contains("cut half: bound 8 (3 bits), trivial 256 (8 bits): min-cut tighter", w.ToString())
    use j = new StringWriter()
    CheckCommand.WriteJson(j, mps, result)
    use doc = JsonDocument.Parse(j.ToString())
    let b = doc.RootElement.GetProperty("summary").GetProperty("cutBounds")[0]
    Assert.Equal("half", b.GetProperty("name").GetString())
    Assert.Equal("8", b.GetProperty("bound").GetString())
    Assert.Equal("256", b.GetProperty("trivial").GetString())

/// Runs `tn export` with the given arguments: exit code, stdout, stderr.
let export (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = ExportCommand.Run(Array.ofList args, out, err)
    code, out.ToString(), err.ToString()

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
    let code, _, err = export [ mps; "--json"; "--set"; "n=1" ]
    Assert.Equal(1, code)
    Assert.Contains("error", err)

[<Fact>]
let ``tn cuts accepts a batch size that is not a power of the bonds' prime (the batch leg carries no weight)`` () =
    // born-machine: bonds chi = 4 and physical d = 2 are powers of 2, the batch (1000) is not; the batch is left
    // out of the flow graph, so it must not decide the graph's arithmetic.
    let code, out, err = cuts [ Path.Combine(examplesDir, "born-machine.tn"); "--set"; "chi=4"; "--json" ]
    Assert.True((code = 0), err)
    use doc = JsonDocument.Parse out
    Assert.Equal("born_machine", doc.RootElement.GetProperty("network").GetString())

/// Runs `tn plan` with the given arguments: exit code, stdout, stderr.
let plan (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = PlanCommand.Run(Array.ofList args, out, err)
    code, out.ToString(), err.ToString()

[<Fact>]
let ``tn plan --einsum of a 2x3 by 3x4 product costs 2*3*4 multiply-adds, as JSON`` () =
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4"; "--json" ]
    Assert.True((code = 0), err)
    use doc = JsonDocument.Parse out
    // A multiply and an add per term of the sum: 2 * (2 * 3 * 4).
    Assert.Equal(48L, doc.RootElement.GetProperty("flops").GetInt64())
    Assert.Equal(8L, doc.RootElement.GetProperty("largest_intermediate").GetInt64())

[<Fact>]
let ``tn plan usage errors exit 2 with the command's name, the reason and the usage`` () =
    for args, reason in
        [ [ mps; "--size"; "batch=0" ], "--size"
          [ mps; "--memory-limit"; "0" ], "--memory-limit"
          [ mps; "--optimizer"; "" ], "greedy"
          [ mps; "--frobnicate" ], "unknown option '--frobnicate'"
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
let ``tn plan -h prints the usage and exits 0`` () =
    let code, out, err = plan [ "-h" ]
    Assert.Equal(0, code)
    Assert.StartsWith("usage: tn plan", out)
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
let check (args: string list) =
    use out = new StringWriter()
    use err = new StringWriter()
    let code = CheckCommand.Run(Array.ofList args, out, err)
    code, out.ToString(), err.ToString()

[<Fact>]
let ``tn check in process: --set reaches the network, usage errors exit 2 with the usage`` () =
    let code, out, _ = check [ mps; "--set"; "n=4"; "--json" ]
    Assert.Equal(0, code)
    use doc = JsonDocument.Parse out
    Assert.Equal("4", doc.RootElement.GetProperty("summary").GetProperty("parameters").GetProperty("n").GetString())
    Assert.Equal(4, doc.RootElement.GetProperty("summary").GetProperty("openLegs").GetInt32())
    let code, _, err = check [ mps; "--set"; "n" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn check: --set", err)
    Assert.Contains("usage: tn check", err)

[<Fact>]
let ``tn cuts and tn export usage errors name the command and the option`` () =
    let code, _, err = cuts [ mps; "--cut" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn cuts: --cut needs a value", err)
    let code, _, err = export [ mps; "--json"; "--size"; "batch" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn export: --size takes NAME=N", err)
    let code, _, err = export [ mps; "--json"; "-o" ]
    Assert.Equal(2, code)
    Assert.StartsWith("tn export: -o (--output) needs a value", err)

[<Fact>]
let ``tn train --resume --lr-now goes on at the new learning rate, and without --resume it is refused`` () =
    let out = Path.Combine(Path.GetTempPath(), $"tn-train-{System.Guid.NewGuid():N}")
    try
        let bars = Path.Combine(examplesDir, "data", "born-machine", "bars-and-stripes")
        let start = [ "born-machine"; "--file"; Path.Combine(examplesDir, "born-machine.tn"); "--data"; bars; "--out"; out ]
        Assert.Equal(0, TrainCommand.Run(Array.ofList (start @ [ "--lr"; "0.05"; "--loops"; "2" ])))
        // The NLL rises at loop 2 of this run, so loop 3 would use 0.05 × 0.2 = 0.01; --lr-now sets 0.02 instead.
        Assert.Equal(0, TrainCommand.Run [| "born-machine"; "--out"; out; "--resume"; "--loops"; "3"; "--lr-now"; "0.02" |])
        let lr = File.ReadAllLines(Path.Combine(out, "history.csv")) |> Array.skip 1 |> Array.map (fun l -> l.Split(',').[4])
        Assert.Equal<string[]>([| "0.05"; "0.05"; "0.05"; "0.02" |], lr)
        let refused = Assert.Throws<TnDsl.Cli.UsageException>(fun () ->
            TrainCommand.Run [| "born-machine"; "--out"; out + "-new"; "--lr-now"; "0.02" |] |> ignore)
        Assert.Contains("--resume", refused.Message)
    finally
        if Directory.Exists out then Directory.Delete(out, true)

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
