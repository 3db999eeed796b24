/// Session 16's audit of the planning surface as an opt_einsum user meets it: a JSON network read once with
/// `--size` (so a pipe works), `--shapes` only with `--einsum`, `--memory-limit` in elements (`1e6` taken, a byte
/// count refused with a message saying so), `--time-limit` with units, shapes written as Python tuples one
/// diagnostic, a size beyond 2^63 said to be too large, an ellipsis size conflict naming its axis, the speed-up
/// divided exactly, and `tn contract`/`tn cuts` refusing a JSON network or an unknown optimizer as usage errors.
module TnDsl.Cli.Tests.PlanSurfaceTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Threading.Tasks
open Xunit
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

let private netJson =
    "{\"tensors\": [{\"name\": \"A\", \"indices\": [\"a\", \"b\"]}, {\"name\": \"B\", \"indices\": [\"b\", \"c\"]}],\n \"sizes\": {\"a\": 2, \"b\": 3, \"c\": 4}, \"output\": [\"a\", \"c\"]}\n"

let private assertExit (expected: int) (code: int, out: string, err: string) =
    Assert.True((code = expected), sprintf "exit %d (expected %d)\nstdout: %s\nstderr: %s" code expected out err)

/// The lines of stderr that are diagnostics or usage mistakes (the usage hint lines left out).
let private mistakeLines (err: string) =
    err.Split('\n')
    |> Array.filter (fun l -> l.Contains ": error " || (l.StartsWith "tn " && not (l.StartsWith "tn plan --")))
    |> Array.filter (fun l -> not (l.StartsWith "usage:"))

let private planJson (args: string list) =
    let code, out, err = plan (args @ [ "--json" ])
    assertExit 0 (code, out, err)
    JsonDocument.Parse(out).RootElement.Clone()

[<Fact>]
let ``a JSON network with --size is read once: it plans from a named pipe, which can be read only once`` () =
    if OperatingSystem.IsWindows() then () else
    inScratch "tndsl-s16-" (fun dir ->
        let fifo = Path.Combine(dir, "net.json")
        use mk = Process.Start("mkfifo", fifo)
        mk.WaitForExit()
        Assert.Equal(0, mk.ExitCode)
        // The writer opens the pipe once; a second read of the file would wait for a writer that never comes.
        let writer = Task.Run(fun () -> File.WriteAllText(fifo, netJson))
        let run = Task.Run(fun () -> plan [ fifo; "--size"; "b=10"; "--json" ])
        Assert.True(run.Wait(TimeSpan.FromSeconds 60.0), "tn plan read the pipe twice and waited for a second writer")
        writer.Wait()
        let code, out, err = run.Result
        assertExit 0 (code, out, err)
        let root = JsonDocument.Parse(out).RootElement
        // ab,bc->ac with b = 10: 2·10·4 · 2 flops.
        Assert.Equal(160L, root.GetProperty("flops").GetInt64()))

[<Fact>]
let ``a --size naming no index of a JSON network is still refused with the network's indices`` () =
    inScratch "tndsl-s16-" (fun dir ->
        let file = Path.Combine(dir, "net.json")
        File.WriteAllText(file, netJson)
        let code, out, err = plan [ file; "--size"; "q=10" ]
        assertExit 2 (code, out, err)
        Assert.Equal("", out)
        Assert.Contains("has no index q; its indices: a, b, c", err))

[<Fact>]
let ``--shapes is refused without --einsum, with a FILE or alone, each with one message`` () =
    inScratch "tndsl-s16-" (fun dir ->
        let file = Path.Combine(dir, "net.json")
        File.WriteAllText(file, netJson)
        let code, out, err = plan [ file; "--shapes"; "2x3" ]
        assertExit 2 (code, out, err)
        Assert.Equal(1, mistakeLines err |> Array.length)
        Assert.Contains("--shapes gives the operands' shapes of --einsum, not of a JSON network", err)
        let code, out, err = plan [ "--shapes"; "2x3" ]
        assertExit 2 (code, out, err)
        Assert.Contains("--shapes needs --einsum", err)
        Assert.DoesNotContain("give a network FILE", err))

[<Fact>]
let ``--memory-limit counts elements: 1e6 is taken as 1000000, a byte count such as 1G is refused saying so`` () =
    let args = [ "--einsum"; "ab,bc->ac"; "--shapes"; "200x300,300x400"; "--optimizer"; "greedy" ]
    let fits = planJson (args @ [ "--memory-limit"; "1e6" ])
    Assert.True(fits.GetProperty("ok").GetBoolean())
    // 2.5e3 = 2500 elements, below the 80000-element result: the plan is refused (exit 1), as with 2500 written out.
    let code, _, err = plan (args @ [ "--memory-limit"; "2.5e3" ])
    assertExit 1 (code, "", err)
    Assert.Contains("TN0301", err)
    Assert.Contains("over the memory limit of 2500", err)
    for bad in [ "1G"; "512MB"; "100KiB" ] do
        let code, out, err = plan (args @ [ "--memory-limit"; bad ])
        assertExit 2 (code, out, err)
        Assert.Contains("counts elements in tn plan, not bytes", err)
        // tn run has no --memory-limit (it said "tn contract and tn run take bytes"): its limit is TN_MEMORY_LIMIT.
        Assert.Contains("tn contract's --memory-limit takes bytes, 512M or 2G, as TN_MEMORY_LIMIT does for tn run", err)
    for bad in [ "0"; "-5"; "1.5e0"; "1,000" ] do
        let code, out, err = plan (args @ [ "--memory-limit"; bad ])
        assertExit 2 (code, out, err)
        Assert.Contains("takes a whole number of elements of at least 1", err)
    // A whole number beyond a long is said to be too large (it was "takes a whole number of at least 1", which it is).
    for bad in [ "1e30"; "9223372036854775808" ] do
        let code, out, err = plan (args @ [ "--memory-limit"; bad ])
        assertExit 2 (code, out, err)
        Assert.Contains("takes at most 2^63 - 1 (9223372036854775807) elements", err)

[<Fact>]
let ``--time-limit takes milliseconds or a time with its unit`` () =
    Assert.Equal(Nullable 500L, TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds "500")
    Assert.Equal(Nullable 500L, TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds "500ms")
    Assert.Equal(Nullable 2000L, TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds "2s")
    Assert.Equal(Nullable 1500L, TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds "1.5s")
    Assert.Equal(Nullable 1L, TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds "0.0001s")
    for bad in [ "0"; "1.5"; "-1"; "2h"; "s"; "" ] do
        Assert.Equal(Nullable(), TnDsl.Cli.Commands.PlanCommand.ParseMilliseconds bad)
    let args = [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x3,3x4" ]
    Assert.True((planJson (args @ [ "--time-limit"; "2s" ])).GetProperty("ok").GetBoolean())
    let code, out, err = plan (args @ [ "--time-limit"; "2h" ])
    assertExit 2 (code, out, err)
    Assert.Contains("--time-limit takes milliseconds (500) or a time with its unit", err)

[<Fact>]
let ``shapes written as Python tuples are one diagnostic at the first bracket`` () =
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "(2,3),(3,4)" ]
    assertExit 1 (code, out, err)
    let errors = mistakeLines err
    Assert.Equal(1, errors.Length)
    Assert.StartsWith("<shapes>(1,1): error TN0303:", errors[0])

[<Fact>]
let ``a size beyond 2^63 is said to be too large, and a zero is not a size`` () =
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "9223372036854775808x2,2x3" ]
    assertExit 1 (code, out, err)
    Assert.Contains("<shapes>(1,1): error TN0303: '9223372036854775808' is too large: a size must be below 2^63", err)
    let code, out, err = plan [ "--einsum"; "ab,bc->ac"; "--shapes"; "2x0,3x4" ]
    assertExit 1 (code, out, err)
    Assert.Contains("<shapes>(1,3): error TN0303: '0' is not a size", err)

[<Fact>]
let ``an ellipsis size conflict names the ellipsis axis, once`` () =
    let code, out, err = plan [ "--einsum"; "...ij,...jk"; "--shapes"; "5x1x2x3,7x1x3x4" ]
    assertExit 1 (code, out, err)
    let errors = mistakeLines err
    Assert.Equal(1, errors.Length)
    Assert.StartsWith("<einsum>(1,7): error TN0308: axis 1 of the ellipsis (of 2, from the left) has size 7 in operand 2 but 5 in operand 1 (sizes must agree or be 1)", errors[0])

[<Fact>]
let ``the speed-up of counts that fit a double is their exact quotient`` () =
    // opt_einsum: naive 360, optimized 128 for ab,bc,cd on 2x3,3x4,4x5.
    let root = planJson [ "--einsum"; "ab,bc,cd"; "--shapes"; "2x3,3x4,4x5"; "--optimizer"; "optimal" ]
    Assert.Equal(360L, root.GetProperty("naive_flops").GetInt64())
    Assert.Equal(128L, root.GetProperty("flops").GetInt64())
    Assert.Equal("2.8125", root.GetProperty("speedup").GetRawText())

[<Fact>]
let ``counts beyond 2^53 are decimal strings with their log10 as numbers`` () =
    let big = "9223372036854775807"
    let root = planJson [ "--einsum"; "ab,bc->ac"; "--shapes"; $"{big}x{big},{big}x3"; "--optimizer"; "greedy" ]
    let n = bigint.Parse big
    Assert.Equal(JsonValueKind.String, root.GetProperty("flops").ValueKind)
    Assert.Equal((n * n * 3I * 2I).ToString(), root.GetProperty("flops").GetString())
    Assert.Equal((n * 3I).ToString(), root.GetProperty("largest_intermediate").GetString())
    Assert.Equal(log10 (float (n * n * 6I)), root.GetProperty("log10_flops").GetDouble(), 9)

[<Fact>]
let ``every verb that reads .tn files only refuses a JSON network as a usage error, with one message`` () =
    // check, export, run, emit, layer and draw reported the JSON's brace as TN0001 (session 24's probe).
    inScratch "tndsl-s16-" (fun dir ->
        let file = Path.Combine(dir, "net.json")
        File.WriteAllText(file, netJson)
        for verb, rest in [ "contract", []; "cuts", []; "check", [ "--json" ]; "export", [ "--json" ]; "run", []; "emit", [ "--cs" ]; "layer", []; "draw", [ "-o"; Path.Combine(dir, "net.svg") ] ] do
            let code, out, err = tn ([ verb; file ] @ rest)
            assertExit 2 (code, out, err)
            Assert.DoesNotContain("TN0001", err)
            Assert.Contains($"tn {verb}: {file} is a JSON network; tn {verb} reads .tn files", err))

[<Fact>]
let ``tn plan --objective with an empty name is a usage error, as --optimizer's`` () =
    // It planned for flops without a word (session 24's probe).
    for option in [ "--objective"; "--optimizer" ] do
        let code, out, err = tn [ "plan"; Path.Combine(examplesDir, "mps.tn"); option; "" ]
        assertExit 2 (code, out, err)
        Assert.Contains($"{option} needs a name", err)

[<Fact>]
let ``tn contract with an unknown optimizer is a usage error before any work, listing the names`` () =
    let grid = Path.Combine(examplesDir, "grid.tn")
    let code, out, err = tn [ "contract"; grid; "--set"; "L=3,D=2"; "--threads"; "1"; "--optimizer"; "nope" ]
    assertExit 2 (code, out, err)
    Assert.Equal("", out)
    Assert.DoesNotContain("failed", err)
    Assert.Contains("--optimizer nope: no such optimizer; valid optimizers: auto, optimal", err)

[<Fact>]
let ``tn run and tn emit with an unknown optimizer are usage errors before any work, as tn contract's`` () =
    // They failed in the planner: "tn: error TN0300 …", "planning with 'nope' failed", exit 1.
    let grid = Path.Combine(examplesDir, "grid.tn")
    for args in [ [ "run"; grid; "--set"; "L=3"; "--threads"; "1" ]; [ "emit"; grid; "--cs"; "--set"; "L=3" ] ] do
        let code, out, err = tn (args @ [ "--optimizer"; "nope" ])
        assertExit 2 (code, out, err)
        Assert.Equal("", out)
        Assert.DoesNotContain("failed", err)
        Assert.Contains("--optimizer nope: no such optimizer; valid optimizers: auto, optimal", err)

[<Fact>]
let ``tn plan on a folder says it is a folder, not that there is no such file`` () =
    inScratch "tndsl-s16-" (fun dir ->
        let code, out, err = plan [ dir ]
        assertExit 1 (code, out, err)
        Assert.Contains("TN0007", err)
        // In the words of every other verb (session 30: it said "not a network file", without the count line).
        Assert.Contains("it is a folder, not a file", err)
        Assert.DoesNotContain("no such file", err))

[<Fact>]
let ``tn plan --json on a .tn file gives the checker's warnings in its diagnostics, and stderr once each`` () =
    // They went to stderr only, so a reader of the JSON never saw that the network is disconnected (session 21's probe).
    inScratch "tndsl-s21-" (fun dir ->
        let file = Path.Combine(dir, "disc.tn")
        File.WriteAllText(
            file,
            "network disc(d: int = 3) {\n  index a: d\n  index b: d\n  index c: 4\n  index e: 5\n  weight A: (a, b)\n  weight B: (b, a)\n  weight C: (c, e)\n  weight D: (e)\n  output (c)\n}\n")
        let code, out, err = plan [ file; "--json" ]
        assertExit 0 (code, out, err)
        let codes =
            [ for d in JsonDocument.Parse(out).RootElement.GetProperty("diagnostics").EnumerateArray() ->
                d.GetProperty("code").GetString() ]
        Assert.Contains("TN0213", codes)
        Assert.Equal(1, codes |> List.filter ((=) "TN0213") |> List.length)
        Assert.Equal(1, err.Split("TN0213").Length - 1))

[<Fact>]
let ``tn check's indices line splits them into bonds and open legs, hyperindices counted apart`` () =
    // An open batch index on five inputs was counted as hyper and as open: "11 (9 bonds, 1 hyper, 2 open)" (session
    // 21's probe), parts that add up to 12.
    withTempFiles "tndsl-s21-" (fun write ->
        let file =
            write "dyn.tn"
                "network dyn(n: int = 5, d: int = 2, chi: int = 4) {\n  index batch: dynamic(100)\n  index p[i]: d for i in 0..n-1\n  index b[i]: chi for i in 1..n-1\n  index label: 10\n  input x[i]: (batch, p[i]) for i in 0..n-1  embed trig\n  weight A[i]: (b[i] if i > 0, p[i], b[i+1] if i < n-1, label if i == n/2) for i in 0..n-1\n  output (batch, label)\n}\n"
        let code, out, err = check [ file ]
        assertExit 0 (code, out, err)
        Assert.Contains("  indices     11 (9 bonds, 2 open; 1 hyper)", out))
