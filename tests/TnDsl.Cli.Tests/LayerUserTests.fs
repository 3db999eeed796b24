/// Session 16's audit of the layer path as a user of TorchMPS / tltorch would walk it: `tn layer` takes `--threads`,
/// a batch whose training cannot fit is refused before planning, and `tn contract --weights` names the tensor and both
/// shapes of weights that do not fit (libtorch said only "mismatched tensor shape", for a truncated file too).
module TnDsl.Cli.Tests.LayerUserTests

open System.IO
open Xunit
open TorchSharp
open TnDsl.Native
open TnDsl.Torch
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

[<Fact>]
let ``tn layer takes --threads as tn run does`` () =
    let spec = Path.Combine(examplesDir, "layers", "tt-linear.tn")
    let code, out, err = tnProcess [] [ "layer"; spec; "--threads"; "1" ]
    Assert.True((code = 0), err)
    Assert.Contains("layer tt_linear: (batch, 256) -> (batch, 16)", out)
    let code, _, err = tn [ "layer"; spec; "--threads"; "0" ]
    Assert.Equal(2, code)
    Assert.Contains("--threads", err)

[<Fact>]
let ``tn layer refuses a batch whose training cannot fit before it plans, naming the floor and the remedies`` () =
    // The output (0.4 GB) fits 2 GiB; the inputs, embedded, the output twice and Adam's state do not (3.4 GB).
    let limit = MemoryGuard.Advise("unused", 2L <<< 30, "TN_MEMORY_LIMIT=2G")
    try
        let code, out, err = tn [ "layer"; Path.Combine(examplesDir, "layers", "peps.tn"); "--batch"; "10000000" ]
        Assert.Equal(1, code)
        Assert.Equal("", out)
        Assert.StartsWith("tn layer: layer peps_layer (float32, batch 10000000): training needs at least 3.21 GiB", err)
        Assert.Contains("whatever the plan", err)
        Assert.Contains("(TN_MEMORY_LIMIT=2G)", err)
        Assert.Contains("use a smaller --batch or smaller parameters (--set), or raise the limit", err)
    finally
        limit.Dispose()

[<Fact>]
let ``tn contract names the tensor and both shapes of weights that do not fit, and a truncated weights file`` () =
    NativeLoader.EnsureLoaded() |> ignore
    inScratch "tndsl-layer-user-" (fun dir ->
        let bonds = [| 1L; 3L; 3L; 2L; 1L |]
        use gen = new torch.Generator(5UL)
        let sites = [ for k in 0 .. 3 -> torch.randn([| bonds[k]; 2L; bonds[k + 1] |], torch.ScalarType.Float64, generator = gen) ]
        use mps = new TnDsl.BornMachine.Mps(sites)
        let weights = Path.Combine(dir, "model.weights")
        TnDsl.BornMachine.BornExport.Save(mps, [| 0 .. 3 |], Path.Combine(dir, "model.tn"), weights)
        let npy = Path.Combine(dir, "psi.npy")
        let args w = [ "contract"; Path.Combine(examplesDir, "mps.tn"); "--set"; "n=4"; "--weights"; w; "-o"; npy; "--optimizer"; "greedy"; "--threads"; "1" ]
        let code, _, err = tn (args weights)
        Assert.Equal(1, code)
        Assert.Equal($"tn contract: {weights}: mps: the weights do not fit the network: A.0 is [2, 8] in the network but [2, 3] in the weights", err.Trim())
        // The Born machine's weights are float64: contracted in float32 they are refused with both types.
        let amp = Path.Combine(dir, "amp.tn")
        File.WriteAllLines(amp, File.ReadAllLines(Path.Combine(dir, "model.tn")) |> Array.filter (fun l -> not (l.Contains "batch" || l.TrimStart().StartsWith "input")))
        let code, _, err = tn [ "contract"; amp; "--weights"; weights; "--dtype"; "float32"; "-o"; npy; "--optimizer"; "greedy"; "--threads"; "1" ]
        Assert.Equal(1, code)
        Assert.Contains("the weights do not fit the network: A.0 is float32 in the network but float64 in the weights", err)
        let truncated = Path.Combine(dir, "truncated.weights")
        File.WriteAllBytes(truncated, (File.ReadAllBytes weights)[.. 99])
        let code, _, err = tn (args truncated)
        Assert.Equal(1, code)
        Assert.Contains("not a TorchSharp state dict", err)
        Assert.Contains("truncated", err)
        Assert.DoesNotContain("   at ", err))

[<Fact>]
let ``tn layer prints the compression of a network larger than the dense layer in two digits, and none without weights`` () =
    let code, out, err = tnProcess [] [ "layer"; Path.Combine(examplesDir, "layers", "mps.tn") ]
    Assert.True((code = 0), err)
    // 16 x 10 = 160 dense weights against 1,968: 0.081, which one decimal printed as 0.1x.
    Assert.Contains("tensor network                 1,968        0.081x", out)
    inScratch "tndsl-layer-user-" (fun dir ->
        let spec = Path.Combine(dir, "noweights.tn")
        File.WriteAllText(spec, "network noweights {\n  index batch: dynamic(10)\n  index i: 4\n  input x: (batch, i)\n  output (batch, i)\n}\n")
        let code, out, err = tnProcess [] [ "layer"; spec ]
        Assert.True((code = 0), err)
        Assert.DoesNotContain("Infinity", out)
        Assert.Contains("tensor network                     0             -", out))

[<Fact>]
let ``tn layer plans at the spec's nominal batch unless --batch is given, as tn run does`` () =
    // A spec whose dynamic index declares 10 rows: the cost report is for 10 (it was for 100 whatever the spec said).
    let spec =
        "network small(n: int = 4) {\n  index batch: dynamic(10)\n  index p[i]: 2 for i in 0..n-1\n" +
        "  index b[i]: 2 for i in 1..n-1\n  input x[i]: (batch, p[i]) for i in 0..n-1\n  weight A[0]: (p[0], b[1])\n" +
        "  weight A[i]: (b[i], p[i], b[i+1]) for i in 1..n-2\n  weight A[n-1]: (b[n-1], p[n-1])\n  output (batch)\n}\n"
    inScratch "tn-layer-nominal-" (fun dir ->
        let file = Path.Combine(dir, "small.tn")
        File.WriteAllText(file, spec)
        let code, out, err = tnProcess [] [ "layer"; file ]
        Assert.True((code = 0), err)
        Assert.Contains("planner's cost report (batch 10, optimizer auto", out)
        let code, out, err = tnProcess [] [ "layer"; file; "--batch"; "37" ]
        Assert.True((code = 0), err)
        Assert.Contains("planner's cost report (batch 37, optimizer auto", out))
