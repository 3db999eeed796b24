/// `tn contract` (issue 21, one machine): the value of a network of weights and consts, sliced to a memory limit,
/// contracted chunk by chunk; weights from a state dict; an interrupted run resumed from its record.
module TnDsl.Cli.Tests.ContractTests

open System
open System.IO
open System.Text.Json
open Xunit
open TorchSharp
open TnDsl.Api
open TnDsl.Torch
open TnDsl.Native
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

/// A closed L x L grid of random tensors: a scalar, sliced under a small memory limit.
let gridText =
    "network grid(L: int = 5, D: int = 4) {\n" +
    "  index h[x, y]: D for x in 0..L-2, y in 0..L-1\n" +
    "  index v[x, y]: D for x in 0..L-1, y in 0..L-2\n" +
    "  weight T[x, y]: (h[x-1, y] if x > 0, h[x, y] if x < L-1, v[x, y-1] if y > 0, v[x, y] if y < L-1)\n" +
    "    for x in 0..L-1, y in 0..L-1  init normal(0, 0.5)\n" +
    "  output ()\n}\n"

let tempDir () = Directory.CreateTempSubdirectory("tndsl-contract-").FullName

/// Runs `tn contract` with the greedy optimizer unless told otherwise (auto's search under a memory limit takes
/// minutes on a loaded machine; the tests are about contracting, not planning).
let contract (args: string list) =
    tn ("contract" :: args @ (if List.contains "--optimizer" args then [] else [ "--optimizer"; "greedy" ]))

/// The JSON `tn contract --json` printed.
let json (out: string) = JsonDocument.Parse(out).RootElement

/// The values of a `.npy` file of `<f8` written by `tn contract -o`, and its header.
let readNpy (path: string) =
    let bytes = File.ReadAllBytes path
    Assert.Equal(0x93uy, bytes[0])
    let headerLength = int (BitConverter.ToUInt16(bytes, 8))
    let header = Text.Encoding.ASCII.GetString(bytes, 10, headerLength)
    Assert.Equal(0, (10 + headerLength) % 64)
    let data = bytes[10 + headerLength ..]
    header, Array.init (data.Length / 8) (fun i -> BitConverter.ToDouble(data, 8 * i))

[<Fact>]
let ``tn contract prints a closed network's value, sliced to the memory limit, equal to the module's unsliced forward`` () =
    let dir = tempDir ()
    try
        let file = Path.Combine(dir, "grid.tn")
        File.WriteAllText(file, gridText)
        let code, out, err = contract [ file; "--set"; "L=6"; "--seed"; "4"; "--threads"; "1"; "--memory-limit"; "100K"; "--json" ]
        Assert.True((code = 0), err)
        let r = json out
        Assert.True(r.GetProperty("slices").GetInt64() > 1L, out)
        Assert.Equal(0, r.GetProperty("shape").GetArrayLength())
        let value = r.GetProperty("value").GetDouble()
        NativeLoader.EnsureLoaded() |> ignore
        use m =
            NetworkModules.FromFile(file, [| Collections.Generic.KeyValuePair("L", "6") |],
                                    NetworkBuildOptions(Module = NetworkModuleOptions(DType = torch.ScalarType.Float64, Seed = 4L)))
        Assert.False(m.ExecutionPlan.IsSliced)
        use _ = torch.no_grad ()
        use y = m.forward [||]
        let expected = y.item<double> ()
        Assert.True(abs (value - expected) <= 1e-9 * abs expected, sprintf "contract %.17g, module %.17g" value expected)
        // The text report names the slices and prints the value as it round-trips.
        let code, text, _ = contract [ file; "--set"; "L=6"; "--seed"; "4"; "--threads"; "1"; "--memory-limit"; "100K" ]
        Assert.Equal(0, code)
        Assert.Contains(value.ToString("R", Globalization.CultureInfo.InvariantCulture), text)
        Assert.Contains("slices over", text)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``an interrupted tn contract resumes from its record and gives the same bits`` () =
    let dir = tempDir ()
    try
        let file = Path.Combine(dir, "grid.tn")
        File.WriteAllText(file, gridText)
        let record = Path.Combine(dir, "run.json")
        let args = [ file; "--set"; "L=6"; "--threads"; "1"; "--memory-limit"; "100K"; "--json"; "--resume"; record ]
        let code, out, err = contract args
        Assert.True((code = 0), err)
        let whole = json out
        let chunks = whole.GetProperty("chunks").GetInt64()
        Assert.True(chunks >= 4L, out)
        Assert.Equal(0L, whole.GetProperty("resumed_chunks").GetInt64())
        // A run stopped part-way: the job rebuilt from the record's plan (the same hash), some chunks finished out of
        // order, the record saved; then the command is run again.
        let finished = ContractionJobRecord.Load record
        Assert.True(finished.IsComplete)
        let struct (job, _, _) =
            ContractionJobs.Create(file, ContractionJobs.Options(Overrides = [| Collections.Generic.KeyValuePair("L", "6") |], Optimizer = "greedy", Replay = finished))
        Assert.Equal(finished.JobHash, job.Hash)
        NativeLoader.EnsureLoaded() |> ignore
        use work = ContractionJobs.Open job
        let partial = ContractionJobRecord(job, work.Chunks, 1L)
        for c in [ 0L; 1L; chunks - 1L ] do
            partial.Add(c, work.ContractChunk c)
        partial.Save record
        let code, out, err = contract args
        Assert.True((code = 0), err)
        let resumed = json out
        Assert.Equal(3L, resumed.GetProperty("resumed_chunks").GetInt64())
        Assert.Equal(BitConverter.DoubleToInt64Bits(whole.GetProperty("value").GetDouble()),
                     BitConverter.DoubleToInt64Bits(resumed.GetProperty("value").GetDouble()))
        // The record of another job (another seed) is refused, not mixed in.
        let code, _, err = contract (args @ [ "--seed"; "9" ])
        Assert.Equal(1, code)
        Assert.Contains("records another job", err)
        Assert.DoesNotContain("   at ", err)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract loads a trained Born machine's weights and writes its amplitudes to a .npy file`` () =
    NativeLoader.EnsureLoaded() |> ignore
    let dir = tempDir ()
    try
        let n = 4
        let bonds = [| 1L; 3L; 3L; 2L; 1L |]
        use gen = new torch.Generator(17UL)
        let sites = [ for k in 0 .. n - 1 -> torch.randn([| bonds[k]; 2L; bonds[k + 1] |], torch.ScalarType.Float64, generator = gen) ]
        use mps = new TnDsl.BornMachine.Mps(sites)
        let model = Path.Combine(dir, "model.tn")
        let weights = Path.Combine(dir, "model.weights")
        TnDsl.BornMachine.BornExport.Save(mps, [| 0 .. n - 1 |], model, weights)
        // The exported network takes images as inputs; its weights alone, with the pixels as open legs, are ψ.
        let amplitudes =
            File.ReadAllLines model
            |> Array.filter (fun l -> not (l.Contains "batch" || l.TrimStart().StartsWith "input"))
            |> Array.map (fun l -> if l.TrimStart().StartsWith "output" then sprintf "  output (p[0..%d])" (n - 1) else l)
        let amp = Path.Combine(dir, "amplitudes.tn")
        File.WriteAllLines(amp, amplitudes)
        let npy = Path.Combine(dir, "psi.npy")
        let code, out, err = contract [ amp; "--weights"; weights; "-o"; npy; "--threads"; "1" ]
        Assert.True((code = 0), err)
        Assert.Contains("[2, 2, 2, 2]", out)
        let header, psi = readNpy npy
        Assert.Contains("'descr': '<f8'", header)
        Assert.Contains("'shape': (2, 2, 2, 2)", header)
        use flat = torch.tensor([| for v in 0 .. 15 do for i in 0 .. n - 1 -> int64 ((v >>> (n - 1 - i)) &&& 1) |])
        use images = flat.reshape(16L, int64 n)
        let expected = mps.Psi images
        Assert.Equal(16, psi.Length)
        for v in 0 .. 15 do
            Assert.True(abs (psi[v] - expected[v]) <= 1e-12 * (Array.map abs expected |> Array.max), sprintf "ψ(%d): %g vs %g" v psi[v] expected[v])
        // Random weights (no --weights) are other values; a weights file of another network is refused in one line.
        let code, _, _ = contract [ amp; "-o"; npy; "--threads"; "1" ]
        Assert.Equal(0, code)
        Assert.NotEqual<double array>(psi, snd (readNpy npy))
        File.WriteAllText(Path.Combine(dir, "grid.tn"), gridText)
        let code, _, err = contract [ Path.Combine(dir, "grid.tn"); "--weights"; weights ]
        Assert.Equal(1, code)
        Assert.Contains("weights", err)
        Assert.DoesNotContain("   at ", err)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract refuses what it cannot do with exit codes 1 and 2 and no stack trace`` () =
    let dir = tempDir ()
    try
        let grid = Path.Combine(dir, "grid.tn")
        File.WriteAllText(grid, gridText)
        let check (expected: int) (args: string list) (needle: string) =
            let code, _, err = contract args
            Assert.True((code = expected), sprintf "tn contract %s: exit %d\n%s" (String.concat " " args) code err)
            Assert.Contains(needle, err)
            Assert.DoesNotContain("   at ", err)
        // Open legs need -o.
        check 2 [ Path.Combine(examplesDir, "peps.tn"); "--set"; "Lx=2,Ly=2" ] "-o"
        // Inputs cannot be contracted: the Born machine example takes images.
        check 1 [ Path.Combine(examplesDir, "born-machine.tn"); "--set"; "n=4,chi=2" ] "input"
        // A byte count that is not one, and a limit no slicing can meet.
        check 2 [ grid; "--memory-limit"; "lots" ] "--memory-limit"
        check 1 [ grid; "--memory-limit"; "1K" ] "memory limit"
        // A weights file that is not a state dict, and one that is not there.
        let junk = Path.Combine(dir, "junk.weights")
        File.WriteAllBytes(junk, [| 1uy; 2uy; 3uy |])
        check 1 [ grid; "--weights"; junk ] "weights"
        check 1 [ grid; "--weights"; Path.Combine(dir, "none.weights") ] "none.weights"
        // A damaged resume record.
        let record = Path.Combine(dir, "run.json")
        File.WriteAllText(record, "{ \"version\": 1 ")
        check 1 [ grid; "--resume"; record ] "record"
        // An error in the file is positioned like every verb's.
        File.WriteAllText(grid, gridText.Replace("index v", "index h"))
        check 1 [ grid ] "grid.tn(3,"
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract's default chunks follow the slice loops, an explicit --chunk wins, and a resumed run keeps its record's chunks`` () =
    let dir = tempDir ()
    try
        let file = Path.Combine(dir, "grid.tn")
        File.WriteAllText(file, gridText)
        let args = [ file; "--set"; "L=7,D=2"; "--seed"; "3"; "--threads"; "1"; "--memory-limit"; "8K"; "--json" ]
        // The same job made here: its plan, the default chunk and the chunking model.
        let previous = MemoryGuard.LimitOverride
        MemoryGuard.LimitOverride <- Nullable(8L <<< 10)
        let struct (job, plan, net) =
            try
                ContractionJobs.Create(file, ContractionJobs.Options(Overrides = [| Collections.Generic.KeyValuePair("L", "7"); Collections.Generic.KeyValuePair("D", "2") |],
                                                                     Optimizer = "greedy", Seed = 3L))
            finally
                MemoryGuard.LimitOverride <- previous
        let model = SliceChunking.Of(plan, fun l -> net.Indices[l].Size)
        Assert.True(model.Slices >= 256L, sprintf "%d slices" model.Slices)
        let chunk = job.ChunkSize
        Assert.True(chunk > 1L && Seq.exists (fun m -> model.Inner m = chunk) [ 0 .. model.Extents.Count ], sprintf "chunk %d" chunk)
        let code, out, err = contract args
        Assert.True((code = 0), err)
        let r = json out
        Assert.Equal(chunk, r.GetProperty("chunk_size").GetInt64())
        Assert.Equal(model.Slices / chunk, r.GetProperty("chunks").GetInt64())
        // The steps run: at least one pass over all slices, at most every chunk on its own (the local batches run
        // consecutive chunks in one pass).
        let runs = r.GetProperty("step_runs").GetInt64()
        let flops = Numerics.BigInteger(r.GetProperty("executed_flops").GetInt64())
        Assert.InRange(runs, int64 (model.StepRuns model.Slices), int64 (model.StepRuns chunk))
        Assert.InRange(flops, plan.SlicedFlops, model.ExecutedFlops chunk)
        // --chunk 1 wins; its value is the same to rounding.
        let code, out1, err = contract (args @ [ "--chunk"; "1" ])
        Assert.True((code = 0), err)
        let r1 = json out1
        Assert.Equal(1L, r1.GetProperty("chunk_size").GetInt64())
        Assert.Equal(model.Slices, r1.GetProperty("chunks").GetInt64())
        let value, value1 = r.GetProperty("value").GetDouble(), r1.GetProperty("value").GetDouble()
        Assert.True(abs (value - value1) <= 1e-12 * abs value, sprintf "%.17g against %.17g" value value1)
        // A record made with --chunk 3, resumed without it: the record's chunks, and the same bits.
        let record = Path.Combine(dir, "run.json")
        let code, out3, err = contract (args @ [ "--chunk"; "3"; "--resume"; record ])
        Assert.True((code = 0), err)
        let code, again, err = contract (args @ [ "--resume"; record ])
        Assert.True((code = 0), err)
        let r3, resumed = json out3, json again
        Assert.Equal(3L, resumed.GetProperty("chunk_size").GetInt64())
        Assert.Equal(r3.GetProperty("chunks").GetInt64(), resumed.GetProperty("resumed_chunks").GetInt64())
        Assert.Equal(BitConverter.DoubleToInt64Bits(r3.GetProperty("value").GetDouble()), BitConverter.DoubleToInt64Bits(resumed.GetProperty("value").GetDouble()))
        // The same command again, its --chunk 3 included (as an interrupted run says to), continues too; another
        // chunk size is refused as a usage error (exit 2) that names the record's.
        let code, same, err = contract (args @ [ "--chunk"; "3"; "--resume"; record ])
        Assert.True((code = 0), err)
        Assert.Equal(r3.GetProperty("chunks").GetInt64(), (json same).GetProperty("resumed_chunks").GetInt64())
        let code, _, err = contract (args @ [ "--chunk"; "4"; "--resume"; record ])
        Assert.Equal(2, code)
        Assert.Contains("--chunk 4", err)
        Assert.Contains("of 3 slices", err)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract --weights that is missing or a folder is one line naming it and the option, exit 1`` () =
    let dir = tempDir ()
    try
        let file = Path.Combine(dir, "grid.tn")
        File.WriteAllText(file, gridText)
        // Before: .NET's "Could not find file '…'." and, for a folder, "Access to the path '…' is denied."
        assertRefused [ "cannot read"; "--weights"; "no such file" ] (contract [ file; "--weights"; Path.Combine(dir, "none.weights") ])
        assertRefused [ "cannot read"; "--weights"; "it is a folder" ] (contract [ file; "--weights"; dir ])
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract -o or --resume where no file may be made is refused before the contraction, naming the option`` () =
    if OperatingSystem.IsLinux() then
        let dir = tempDir ()
        try
            let file = Path.Combine(dir, "grid.tn")
            File.WriteAllText(file, gridText)
            // /proc exists and takes no new file. Before, the contraction ran and its end said "cannot write
            // /proc/….npy: Could not find file the file", the option unnamed; with --resume the first save failed.
            for option, name in [ "-o", "/proc/tn-no-such-value.npy"; "--resume", "/proc/tn-no-such-record.json" ] do
                let code, out, err = contract [ file; "--threads"; "1"; option; name ]
                Assert.Equal(1, code)
                Assert.Equal("", out)
                Assert.StartsWith($"tn contract: cannot write {name} ({option}): ", err)
                Assert.DoesNotContain("chunks", err)
                Assert.DoesNotContain("   at ", err)
        finally
            Directory.Delete(dir, true)

[<Fact>]
let ``tn contract --memory-limit takes what TN_MEMORY_LIMIT takes, a percentage and 2^63 - 1 bytes, and its refusal names those forms`` () =
    let dir = tempDir ()
    try
        let file = Path.Combine(dir, "grid.tn")
        File.WriteAllText(file, gridText)
        // Before: "takes a positive byte count such as 512M or 2G" (exit 2) for 80%, though --help's default is "80% of
        // the available memory" and TN_MEMORY_LIMIT=80% is taken; 2^63 - 1 went through a double, rounded to 2^63.
        for limit in [ "80%"; "9223372036854775807" ] do
            let code, out, err = contract [ file; "--threads"; "1"; "--memory-limit"; limit; "--json" ]
            Assert.True((code = 0), sprintf "--memory-limit %s: exit %d\n%s" limit code err)
            Assert.True(json(out).GetProperty("value").GetDouble() |> Double.IsFinite)
        let struct (bytes, _) = MemoryGuard.ParseLimit("9223372036854775807", "").Value
        Assert.Equal(Int64.MaxValue, bytes)
        // A unit past T, a share over all of it, nothing: the message gives the real rule, not "a positive byte count".
        for bad in [ "7E"; "150%"; "0"; "9223372036854775808" ] do
            let code, out, err = contract [ file; "--memory-limit"; bad ]
            Assert.Equal(2, code)
            Assert.Equal("", out)
            Assert.Contains($"--memory-limit takes bytes (123456789, under 8 EiB), a size with K, M, G or T (16G) or a percentage of the available memory (50%%), got '{bad}'", err)
        // A percentage is of the memory available now, and a refusal says so.
        let struct (available, _) = MemoryGuard.Available()
        if available.HasValue then
            let code, _, err = contract [ file; "--threads"; "1"; "--memory-limit"; "0.000000001%" ]
            Assert.Equal(1, code)
            Assert.Contains("(--memory-limit 0.000000001% of ", err)
            Assert.Contains(" available (", err)
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``tn contract --json refused for memory prints the JSON document of its errors on standard output, TN0301 as tn plan`` () =
    let dir = tempDir ()
    try
        let file = Path.Combine(dir, "grid.tn")
        File.WriteAllText(file, gridText)
        // Before: nothing on standard output, the refusal on stderr only, though every --json verb prints its errors
        // in the input as this document (README, JSON output).
        let code, out, err = contract [ file; "--threads"; "1"; "--memory-limit"; "1K"; "--json" ]
        Assert.Equal(1, code)
        let doc = json out
        Assert.Equal(file, doc.GetProperty("file").GetString())
        Assert.False(doc.GetProperty("ok").GetBoolean())
        let d = Assert.Single(doc.GetProperty("diagnostics").EnumerateArray() |> Seq.toList)
        Assert.Equal("error", d.GetProperty("level").GetString())
        Assert.Equal("TN0301", d.GetProperty("code").GetString())
        Assert.Equal(JsonValueKind.Null, d.GetProperty("file").ValueKind)
        Assert.Contains("over the memory limit of 1 KiB (1,024 bytes) (--memory-limit 1K)", d.GetProperty("message").GetString())
        // The one line stays on stderr, as without --json.
        Assert.StartsWith("tn contract: grid (float64): ", err)
        Assert.DoesNotContain("   at ", err)
    finally
        Directory.Delete(dir, true)
