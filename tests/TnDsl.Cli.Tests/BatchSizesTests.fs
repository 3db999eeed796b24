/// `--batch` per dynamic index (`tn run`, `tn emit`, `tn layer`): one size for every dynamic index as before, or
/// `name=N` for the families named (the others keep the default); a usage error per mistake, quoting the item; the
/// run fed each index its own rows, with the values of the module fed the same inputs, and chunked by the memory guard
/// at those rows.
module TnDsl.Cli.Tests.BatchSizesTests

open System
open System.IO
open System.Text.RegularExpressions
open Xunit
open TorchSharp
open TnDsl.Api
open TnDsl.Torch
open TnDsl.Native
open TnDsl.Tests.Support
open TnDsl.Cli
open TnDsl.Cli.Tests.CliTests

let private kernel = Path.Combine(examplesDir, "mpo-kernel.tn")

/// The `--batch` the command line gives (the parse must have no errors).
let private batchOf (args: string list) =
    let result = Cli.Parse(Array.ofList args)
    Assert.True((result.Errors.Count = 0), String.concat "; " (result.Errors |> Seq.map (fun e -> e.Message)))
    result.GetValue<BatchSizes>("--batch")

/// The lines `tn VERB: …` of a usage error, without its usage lines.
let private mistakes (err: string) =
    err.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.filter (fun l -> l.StartsWith "tn " && not (l.StartsWith "tn run: did you mean"))

[<Fact>]
let ``--batch takes one size for every dynamic index, sizes by name, or both, comma-separated or repeated`` () =
    let all = batchOf [ "run"; kernel; "--batch"; "2000" ]
    Assert.Equal(Nullable 2000L, all.All)
    Assert.Empty(all.ByIndex)
    for args in [ [ "--batch"; "q=2000,k=50000" ]; [ "--batch"; "q=2000"; "--batch"; "k=50000" ]; [ "--batch"; " q = 2000 , k=50000 " ] ] do
        let named = batchOf ([ "run"; kernel ] @ args)
        Assert.False(named.All.HasValue)
        Assert.Equal<(string * int64) list>([ "k", 50000L; "q", 2000L ], named.ByIndex |> Seq.map (fun p -> p.Key, p.Value) |> Seq.sort |> List.ofSeq)
    let both = batchOf [ "emit"; kernel; "--cs"; "--batch"; "64,k=50000" ]
    Assert.Equal(Nullable 64L, both.All)
    Assert.Equal(50000L, both.ByIndex["k"])
    Assert.Equal(7L, (batchOf [ "layer"; kernel; "--batch"; "batch=7" ]).ByIndex["batch"])

[<Theory>]
[<InlineData("q=0", "--batch takes name=N with N a positive integer, got 'q=0'")>]
[<InlineData("q=-5", "--batch takes name=N with N a positive integer, got 'q=-5'")>]
[<InlineData("q=", "--batch takes name=N with N a positive integer, got 'q='")>]
[<InlineData("=5", "--batch takes name=N with N a positive integer, got '=5'")>]
[<InlineData("q=1.5", "--batch takes name=N with N a positive integer, got 'q=1.5'")>]
[<InlineData("q=9223372036854775808", "got 'q=9223372036854775808' (over 9,223,372,036,854,775,807)")>]
[<InlineData("99999999999999999999", "--batch takes a positive integer, got '99999999999999999999' (over 9,223,372,036,854,775,807)")>]
[<InlineData("q", "--batch takes a positive integer, got 'q'; to size one dynamic index give name=N")>]
[<InlineData("q=1,q=2", "--batch gives 'q' twice (q=1, q=2); give each index's size once")>]
[<InlineData("3,4", "--batch gives the size of every dynamic index twice (3, 4); give it once")>]
let ``a --batch that is not N or name=N, or gives a size twice, is one usage error that quotes it`` (value: string, expected: string) =
    for verb in [ [ "run"; kernel ]; [ "emit"; kernel; "--cs" ]; [ "layer"; kernel ] ] do
        let code, out, err = tn (verb @ [ "--batch"; value ])
        Assert.Equal(2, code)
        Assert.Equal("", out)
        Assert.Equal<string[]>([| $"tn {verb[0]}: " |], mistakes err |> Array.map (fun l -> l.Substring(0, verb[0].Length + 5)))
        Assert.Contains(expected, err)
        Assert.DoesNotContain("   at ", err)

[<Fact>]
let ``a --batch naming an index that is not dynamic, or none of the network's, is a usage error per mistake naming it`` () =
    let code, out, err = tn [ "run"; kernel; "--batch"; "q=2000,x=5,p=3,k=0"; "--repeat"; "1" ]
    // k=0 is refused when the option is read, before the network is: one message, that one.
    Assert.Equal(2, code)
    Assert.Equal<string[]>([| "tn run: --batch takes name=N with N a positive integer, got 'k=0'" |], mistakes err)
    Assert.Equal("", out)
    for verb in [ [ "run"; kernel ]; [ "emit"; kernel; "--cs" ] ] do
        let code, out, err = tn (verb @ [ "--batch"; "q=2000,x=5,p=3,k=7" ])
        Assert.Equal(2, code)
        Assert.Equal("", out)
        Assert.Equal<string[]>(
            [| $"tn {verb[0]}: --batch x=5: network mpo_kernel has no index x; its dynamic indices: q, k"
               $"tn {verb[0]}: --batch p=3: index p of network mpo_kernel is not dynamic: the file fixes its size at 2 (--set changes the parameters that give it); its dynamic indices: q, k" |],
            mistakes err)
    // A network with no dynamic index: each item of --batch is a mistake of its own.
    inScratch "tndsl-batch-" (fun dir ->
        let file = Path.Combine(dir, "a.tn")
        File.WriteAllText(file, "network a {\n  index i: 2\n  index j: 3\n  input x: (i)\n  weight A: (i, j)\n  output (j)\n}\n")
        let code, _, err = tn [ "run"; file; "--batch"; "5,i=3" ]
        Assert.Equal(2, code)
        Assert.Equal<string[]>(
            [| "tn run: --batch 5: network a has no dynamic index, so there is no batch to size; leave --batch out"
               "tn run: --batch i=3: network a has no dynamic index, so there is no batch to size; leave --batch out" |],
            mistakes err))

[<Fact>]
let ``tn run --batch q=3,k=5 feeds each dynamic index its own rows, and the module planned so gives the values of the module fed the same inputs`` () =
    let set = [ "--set"; "n=4" ]
    let code, out, err = tnProcess [] ([ "run"; kernel; "--batch"; "q=3,k=5"; "--dtype"; "float64"; "--threads"; "1"; "--repeat"; "1" ] @ set)
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Contains("  inputs      x[q, 4, 2]: standard normal, y[k, 4, 2]: standard normal", out)
    Assert.Contains("  output      [3, 5]  (q, k)", out)
    Assert.Matches(@"\n  plan        [^\n]* steps \(batch q=3, k=5\)\n", out)
    Assert.Matches(@"\n  forward     [0-9.]+ (ms|s) per batch of q=3, k=5 ", out)
    // One size for all is reported as before.
    let _, out, _ = tnProcess [] ([ "run"; kernel; "--batch"; "4"; "--threads"; "1"; "--repeat"; "1" ] @ set)
    Assert.Contains("  inputs      x[batch, 4, 2]: standard normal, y[batch, 4, 2]: standard normal", out)
    Assert.Matches(@"\n  plan        [^\n]* steps \(batch 4\)\n", out)
    // What the run does with that option, through the API: the module planned at q=3, k=5, fed inputs of those rows.
    NativeLoader.EnsureLoaded() |> ignore
    let sizes = batchOf [ "run"; kernel; "--batch"; "q=3,k=5" ]
    let overrides = [| Collections.Generic.KeyValuePair("n", "4") |]
    let options = NetworkModuleOptions(DType = torch.ScalarType.Float64, Seed = 0L)
    use planned = NetworkModules.FromFile(kernel, overrides, NetworkBuildOptions(Batch = sizes, Module = options))
    let id name = (planned.Spec.Indices |> Array.find (fun i -> i.Name = name)).Id
    Assert.Equal<(int * int64) list>([ id "q", 3L; id "k", 5L ], planned.ExecutionPlan.BatchSizes |> Seq.map (fun p -> p.Key, p.Value) |> Seq.sortBy fst |> List.ofSeq)
    use generator = new torch.Generator(1UL)
    let inputs = RandomInputs.Make(planned, BatchSizes.Extents(planned.Spec, sizes), generator, torch.ScalarType.Float64, torch.CPU)
    try
        Assert.Equal<int64[]>([| 3L; 4L; 2L |], inputs[0].shape)
        Assert.Equal<int64[]>([| 5L; 4L; 2L |], inputs[1].shape)
        // The oracle: the module planned at the file's sizes (64 rows of each), fed the same tensors.
        use nominal = NetworkModules.FromFile(kernel, overrides, NetworkBuildOptions(Module = options))
        use _ = torch.no_grad()
        use y = planned.forward(inputs)
        use expected = nominal.forward(inputs)
        Assert.Equal<int64[]>([| 3L; 5L |], y.shape)
        Assert.True(y.allclose(expected, 1e-12, 1e-12), "the values differ from the module fed the same inputs")
    finally
        for t in inputs do
            t.Dispose()

/// The chunks `tn run` printed: (chunks, rows of the longest chunk, index); balanced chunks read "of 666 or 667 rows".
let private chunksLine (out: string) =
    let m = Regex.Match(out, @"\n  chunks      ([0-9,]+) chunks of (?:[0-9,]+ or )?([0-9,]+) rows? along ([a-z]+) \(the forward pass does not fit at once\)\n")
    Assert.True(m.Success, out)
    let number (g: int) = Int64.Parse(m.Groups[g].Value.Replace(",", ""))
    number 1, number 2, m.Groups[3].Value

[<Fact>]
let ``tn run --batch q=40,k=2000 over the memory limit runs in the chunks the guard's rule gives at those rows`` () =
    // 40 x 2000 rows (auto, float32): 30 MiB whole by the estimate, the whole inputs and result well under 2 MiB. At
    // 2000 rows of each (what one size for all would take) the result alone would be 16 MB: refused, not chunked.
    let limit = 2L <<< 20
    let code, out, err =
        tnProcess [ "TN_MEMORY_LIMIT", "2M" ] [ "run"; kernel; "--batch"; "q=40,k=2000"; "--threads"; "1"; "--repeat"; "1" ]
    Assert.True((code = 0), sprintf "exit %d\n%s\n%s" code out err)
    Assert.Contains("  output      [40, 2000]  (q, k)", out)
    let chunks, rows, along = chunksLine out
    // The oracle: along each index, the most rows whose chunk fits beside the whole inputs and result (counted up from
    // one row), the other index whole; the index of the fewest chunks (q, declared first, on a tie); its rows shared
    // out evenly over those chunks.
    NativeLoader.EnsureLoaded() |> ignore
    let net = Frontend.Load(kernel, [||], null)
    let spec = NetworkAdapter.FromFlat net
    let sizes = BatchSizes(ByIndex = readOnlyDict [ "q", 40L; "k", 2000L ])
    let plan = NetworkAdapter.Plan(net, "auto", sizes, 0, Nullable())
    let extents = BatchSizes.Extents(spec, sizes)
    let options = NetworkModuleOptions(DType = torch.ScalarType.Float32)
    let best =
        [ "q"; "k" ]
        |> List.map (fun name ->
            let index = (spec.Indices |> Array.find (fun i -> i.Name = name)).Id
            let fits chunk = MemoryGuard.ChunkNeeded(spec, plan, options, extents, [| ChunkLevel(index, extents[index], chunk) |]) <= Numerics.BigInteger limit
            let most = Seq.initInfinite (fun c -> int64 c + 1L) |> Seq.takeWhile (fun c -> c < extents[index] && fits c) |> Seq.tryLast
            name, most |> Option.map (fun c -> let n = MemoryGuard.Chunks(extents[index], c) in n, (extents[index] + n - 1L) / n))
        |> List.choose (fun (name, c) -> c |> Option.map (fun (n, c) -> n, c, name))
        |> List.minBy (fun (n, _, _) -> n)
    Assert.Equal(best, (chunks, rows, along))
    Assert.Equal("k", along)

[<Fact>]
let ``tn emit --batch q=3,k=600 plans the emitted class at each index's size, and its guard scales from them`` () =
    let code, out, err = tn [ "emit"; kernel; "--cs"; "--set"; "n=4"; "--batch"; "q=3,k=600" ]
    Assert.True((code = 0), err)
    // The estimate is the planner's at 3 x 600 rows, scaled to the rows each index is fed from its planned rows.
    // (A training step's estimate where autograd records, the forward pass's otherwise.)
    // (Bytes per element of the class's dtype and bytes that do not grow with it, session 30.)
    Assert.Matches(@"double bytes = \(autograd \? [0-9.E+-]+ \* TnGuard\.ElementSize\(dtype\) \+ [0-9.E+-]+ : [0-9.E+-]+ \* TnGuard\.ElementSize\(dtype\) \+ [0-9.E+-]+\) \* TnGuard\.Scale\(inputs\[0\], 0, 3, autograd \? [0-9.E-]+ : [0-9.E-]+\) \* TnGuard\.Scale\(inputs\[1\], 0, 600, autograd \? [0-9.E-]+ : [0-9.E-]+\);", out)
    Assert.Contains("static readonly long[] TnChunkPlanned = { 3, 600 };", out)
    let _, uniform, _ = tn [ "emit"; kernel; "--cs"; "--set"; "n=4"; "--batch"; "5" ]
    Assert.Contains("static readonly long[] TnChunkPlanned = { 5, 5 };", uniform)

[<Fact>]
let ``a --size too large for a count says so, as --batch does`` () =
    let code, out, err = tn [ "export"; kernel; "--size"; "q=99999999999999999999" ]
    Assert.Equal(2, code)
    Assert.Equal("", out)
    Assert.Contains("--size takes name=N with N a positive integer, got 'q=99999999999999999999' (over 9,223,372,036,854,775,807)", err)
    // A size that is not too large but not positive keeps the plain message.
    let _, _, err = tn [ "export"; kernel; "--size"; "q=0" ]
    Assert.Contains("got 'q=0'", err)
    Assert.DoesNotContain("(over", err)
