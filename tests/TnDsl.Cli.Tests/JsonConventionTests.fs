/// Every `--json` output of `tn` follows one convention (README, "JSON output"; session 22): snake_case keys, counts
/// exact (a JSON number up to 2^53, a decimal string beyond), `null` for what is absent. Each verb's whole document
/// is walked; networks with counts past 2^53 give the string case.
module TnDsl.Cli.Tests.JsonConventionTests

open System
open System.IO
open System.Net
open System.Numerics
open System.Text.Json
open System.Text.RegularExpressions
open System.Threading
open Xunit
open TnDsl.Api
open TnDsl.Torch
open TnDsl.Native
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests
open TnDsl.Cli.Tests.ContractTests

let private maxExact = BigInteger.Pow(2I, 53)
let private snakeCase = Regex(@"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
let private integer = Regex(@"^-?[0-9]+$")

/// The breaches of the convention in a document, each with its path (`cuts[].bonds[].dim`): keys that are not
/// snake_case, integers written as numbers past 2^53, integers written as strings up to 2^53. The objects at the
/// paths in `named` are keyed by names from the input (parameters, indices), so their keys are not held to the rule;
/// those in `opaque` hold the input's own text (parameter values as given) and are not looked into.
let breaches (named: string list) (opaque: string list) (root: JsonElement) =
    let found = ResizeArray<string>()
    let rec walk (path: string) (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.Object ->
            for p in e.EnumerateObject() do
                let free = List.contains path named || List.contains path opaque
                if not free && not (snakeCase.IsMatch p.Name) then
                    found.Add $"{path}: key \"{p.Name}\" is not snake_case"
                if not (List.contains path opaque) then
                    walk (if path = "" then p.Name else path + "." + p.Name) p.Value
        | JsonValueKind.Array ->
            for x in e.EnumerateArray() do
                walk (path + "[]") x
        | JsonValueKind.Number ->
            let raw = e.GetRawText()
            if integer.IsMatch raw && BigInteger.Abs(BigInteger.Parse raw) > maxExact then
                found.Add $"{path}: {raw} is a number past 2^53"
        | JsonValueKind.String ->
            let s = e.GetString()
            if integer.IsMatch s && BigInteger.Abs(BigInteger.Parse s) <= maxExact then
                found.Add $"{path}: \"{s}\" is a string, not a number"
        | _ -> ()
    walk "" root
    List.ofSeq found

/// Parses a verb's standard output and asserts that it keeps the convention.
let private conventional (named: string list) (opaque: string list) (out: string) =
    let root = JsonDocument.Parse(out).RootElement
    Assert.Empty(breaches named opaque root)
    root

/// A network with a count past 2^53 everywhere: an index of 10^17 (300000000000000003 trainable scalars, flops
/// 6e17), and an unused index, whose warning (TN0212) puts a diagnostic with a range into every document.
let private bigText =
    "network big {\n  index a: 100000000000000000\n  index b: 3\n  index u: 2\n  weight A: (a, b)\n  weight B: (b)\n  output (a)\n}\n"

/// Runs `f` with `big.tn` (see `bigText`) and `grid.tn` (`ContractTests.gridText`) in a scratch folder.
let private withFiles (f: string -> string -> string -> unit) =
    let dir = tempDir ()
    try
        let big, grid = Path.Combine(dir, "big.tn"), Path.Combine(dir, "grid.tn")
        File.WriteAllText(big, bigText)
        File.WriteAllText(grid, gridText)
        f dir big grid
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``the shared count writer writes a number up to 2^53 and a decimal string past it, with log10 beside`` () =
    use stream = new MemoryStream()
    do
        use w = new Utf8JsonWriter(stream)
        w.WriteStartObject()
        JsonCount.Write(w, "at", maxExact)
        JsonCount.Write(w, "past", maxExact + 1I)
        JsonCount.Write(w, "below", -(maxExact + 1I))
        JsonCount.WriteLog10(w, "past", maxExact + 1I)
        JsonCount.WriteLog10(w, "zero", 0I)
        w.WriteStartArray "values"
        JsonCount.WriteValue(w, 7I)
        JsonCount.WriteValue(w, BigInteger.Pow(10I, 40))
        w.WriteEndArray()
        w.WriteEndObject()
    let text = Text.Encoding.UTF8.GetString(stream.ToArray())
    Assert.Equal("""{"at":9007199254740992,"past":"9007199254740993","below":"-9007199254740993",""" +
                 $""""log10_past":{BigInteger.Log10(maxExact + 1I).ToString("R", Globalization.CultureInfo.InvariantCulture)},"log10_zero":0,""" +
                 """"values":[7,"10000000000000000000000000000000000000000"]}""", text)

[<Fact>]
let ``tn check --json: snake_case keys, counts as numbers, and past 2^53 as decimal strings`` () =
    withFiles (fun _ big _ ->
        let code, out, err = tn [ "check"; mps; "--json" ]
        Assert.True((code = 0), err)
        let summary = (conventional [] [ "summary.parameters" ] out).GetProperty("summary")
        Assert.Equal(16, summary.GetProperty("open_legs").GetInt32())
        let bound = summary.GetProperty("cut_bounds")[0]
        Assert.Equal(8L, bound.GetProperty("bound").GetInt64())
        Assert.Equal(256L, bound.GetProperty("trivial").GetInt64())
        Assert.Equal(JsonValueKind.Number, summary.GetProperty("trainable_scalars").ValueKind)
        let code, out, err = tn [ "check"; big; "--json" ]
        Assert.True((code = 0), err)
        let root = conventional [] [ "summary.parameters" ] out
        Assert.Equal("300000000000000003", root.GetProperty("summary").GetProperty("trainable_scalars").GetString())
        let range = (root.GetProperty("diagnostics")[0]).GetProperty("range")
        Assert.Equal(4, range.GetProperty("end_line").GetInt32()))

[<Fact>]
let ``tn cuts --json: snake_case keys; bounds are numbers, decimal strings past 2^53 and powers past 2^128`` () =
    let code, out, err = tn [ "cuts"; mps; "--json" ]
    Assert.True((code = 0), err)
    let root = conventional [] [] out
    // mps.tn's chi = 8 is more than its end bonds carry: oversized bonds, with the size they reduce to.
    Assert.Equal(JsonValueKind.Number, (root.GetProperty("oversized")[0]).GetProperty("reducible_to").ValueKind)
    let code, out, err = tn [ "cuts"; mps; "--profile"; "--json"; "--set"; "n=300" ]
    Assert.True((code = 0), err)
    let profile = (conventional [] [] out).GetProperty("profile")
    let trivial k = profile[k - 1].GetProperty("trivial")
    Assert.Equal(1048576L, (trivial 20).GetInt64())
    Assert.Equal("1152921504606846976", (trivial 60).GetString())
    Assert.Equal("2^150", (trivial 150).GetString())
    Assert.Equal(8L, profile[149].GetProperty("bound").GetInt64())
    // The help says so too: it said "exact bounds as decimal strings" (session 24's probe).
    let _, help, _ = tn [ "cuts"; "--help" ]
    Assert.Contains("exact bounds (numbers up to 2^53", help)

[<Fact>]
let ``tn plan --json: snake_case keys, diagnostics included, counts past 2^53 as strings`` () =
    withFiles (fun _ big _ ->
        let code, out, err = tn [ "plan"; big; "--json" ]
        Assert.True((code = 0), err)
        let root = conventional [ "scaling.exponents"; "scaling.exponential_rates"; "scaling.points"; "scaling.skipped" ] [] out
        Assert.Equal("600000000000000000", root.GetProperty("flops").GetString())
        Assert.Equal(17.778, root.GetProperty("log10_flops").GetDouble(), 3)
        Assert.Equal("TN0212", (root.GetProperty("diagnostics")[0]).GetProperty("code").GetString())
        // With scaling in the parameters (their names are keys).
        let code, out, err = tn [ "plan"; mps; "--json" ]
        Assert.True((code = 0), err)
        let root = conventional [ "scaling.exponents"; "scaling.exponential_rates"; "scaling.points"; "scaling.skipped" ] [] out
        Assert.Equal(JsonValueKind.Object, root.GetProperty("scaling").ValueKind))

[<Fact>]
let ``tn export --json writes a size past 2^53 as a decimal string, and tn plan reads it back`` () =
    withFiles (fun dir big _ ->
        let code, out, err = tn [ "export"; big; "--json" ]
        Assert.True((code = 0), err)
        let root = conventional [ "sizes" ] [] out
        Assert.Equal("100000000000000000", root.GetProperty("sizes").GetProperty("a").GetString())
        Assert.Equal(3L, root.GetProperty("sizes").GetProperty("b").GetInt64())
        let json = Path.Combine(dir, "big.json")
        File.WriteAllText(json, out)
        let _, fromTn, _ = tn [ "plan"; big; "--json"; "--no-scaling" ]
        let code, fromJson, err = tn [ "plan"; json; "--json" ]
        Assert.True((code = 0), err)
        let flops (text: string) = JsonDocument.Parse(text).RootElement.GetProperty("flops").GetString()
        Assert.Equal("600000000000000000", flops fromJson)
        Assert.Equal(flops fromTn, flops fromJson)
        // A string that is not a decimal integer, or a size up to 2^53 as a string, is still refused, with its position.
        for wrong in [ out.Replace("\"100000000000000000\"", "\"1e17\""); out.Replace("\"b\": 3", "\"b\": \"3\"") ] do
            File.WriteAllText(json, wrong)
            let code, _, err = tn [ "plan"; json ]
            Assert.Equal(1, code)
            Assert.Contains("error TN0306", err))

[<Fact>]
let ``tn contract --json: snake_case keys, counts as numbers, null where there is nothing`` () =
    withFiles (fun _ _ grid ->
        let code, out, err = contract [ grid; "--set"; "L=6"; "--threads"; "1"; "--memory-limit"; "100K"; "--json" ]
        Assert.True((code = 0), err)
        let root = conventional [] [] out
        for key in [ "flops"; "sliced_flops"; "slices"; "chunks"; "chunk_size"; "resumed_chunks"; "step_runs"; "executed_flops"; "seed" ] do
            Assert.True((root.GetProperty(key).ValueKind = JsonValueKind.Number), key)
        for key in [ "log10_flops"; "log10_sliced_flops"; "log10_executed_flops"; "seconds"; "cpu_seconds" ] do
            Assert.True((root.GetProperty(key).ValueKind = JsonValueKind.Number), key)
        for key in [ "output"; "weights"; "workers" ] do
            Assert.True((root.GetProperty(key).ValueKind = JsonValueKind.Null), key)
        Assert.True(root.GetProperty("slices").GetInt64() > 1L, out))

[<Fact>]
let ``tn contract --cluster --json is the same document, with what each worker did`` () =
    withFiles (fun dir _ grid ->
        withClusterWorker dir (fun gateway secretFile ->
            // As a process: Orleans' client logs to the console, past the writers an in-process run captures.
            let code, out, err =
                tnProcess [] [ "contract"; grid; "--set"; "L=6"; "--threads"; "1"; "--memory-limit"; "100K"; "--optimizer"; "greedy"
                               "--cluster"; gateway; "--secret-file"; secretFile; "--json" ]
            Assert.True((code = 0), err)
            let root = conventional [] [] out
            let w = Assert.Single(root.GetProperty("workers").EnumerateArray())
            Assert.Equal(root.GetProperty("chunks").GetInt64(), w.GetProperty("chunks").GetInt64())
            Assert.Equal(root.GetProperty("slices").GetInt64(), w.GetProperty("slices").GetInt64())
            Assert.False(w.GetProperty("lost").GetBoolean())
            // The value of one machine, bit for bit.
            let _, here, _ = contract [ grid; "--set"; "L=6"; "--threads"; "1"; "--memory-limit"; "100K"; "--json" ]
            Assert.Equal(BitConverter.DoubleToInt64Bits(JsonDocument.Parse(here).RootElement.GetProperty("value").GetDouble()),
                         BitConverter.DoubleToInt64Bits(root.GetProperty("value").GetDouble()))))

[<Fact>]
let ``a resume record in the form builds before the JSON convention wrote still resumes`` () =
    withFiles (fun dir _ grid ->
        let args = [ grid; "--set"; "L=6"; "--threads"; "1"; "--memory-limit"; "100K"; "--json" ]
        let code, out, err = contract args
        Assert.True((code = 0), err)
        let whole = JsonDocument.Parse(out).RootElement
        let chunks = whole.GetProperty("chunks").GetInt64()
        let previous = MemoryGuard.LimitOverride
        MemoryGuard.LimitOverride <- Nullable(100L <<< 10)
        let struct (job, _, _) =
            try
                ContractionJobs.Create(grid, ContractionJobs.Options(Overrides = [| Collections.Generic.KeyValuePair("L", "6") |], Optimizer = "greedy"))
            finally
                MemoryGuard.LimitOverride <- previous
        NativeLoader.EnsureLoaded() |> ignore
        use work = ContractionJobs.Open job
        Assert.Equal(chunks, work.Chunks)
        // Version 1 as ContractionJobRecord.Save has written it since issue 21 (camelCase; not a --json output):
        // no chunk folded, the last one finished ahead.
        let last = chunks - 1L
        let chunk: float array = work.ContractChunk last
        let value = chunk[0].ToString("R", Globalization.CultureInfo.InvariantCulture)
        let path = String.Join(",", job.Path |> Seq.map (fun struct (l, r) -> $"[{l},{r}]"))
        let sliced = String.Join(",", job.Sliced)
        let record = Path.Combine(dir, "old.json")
        File.WriteAllText(record,
            $"""{{"version":1,"job":"{job.Hash}","path":[{path}],"sliced":[{sliced}],"chunkSize":{job.ChunkSize},""" +
            $""""chunks":{chunks},"length":1,"folded":0,"sum":null,"ahead":[{{"chunk":{last},"values":[{value}]}}]}}""")
        let code, out, err = contract (args @ [ "--resume"; record ])
        Assert.True((code = 0), err)
        let resumed = JsonDocument.Parse(out).RootElement
        Assert.Equal(1L, resumed.GetProperty("resumed_chunks").GetInt64())
        Assert.Equal(BitConverter.DoubleToInt64Bits(whole.GetProperty("value").GetDouble()),
                     BitConverter.DoubleToInt64Bits(resumed.GetProperty("value").GetDouble())))
