/// A newcomer's walk-through, session 15: every verb that writes a file says so; a memory refusal names the verb's
/// own options; an `examples/…` path that exists nowhere names where the installed examples are and the nearest one;
/// `tn draw` keeps labels off the lines; the TorchBench usage line lists every option it reads.
module TnDsl.Cli.Tests.PolishTests

open System
open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support
open TnDsl.Cli.Tests.CliTests

[<Fact>]
let ``tn export -o writes the file and says so on the error stream, as emit does`` () =
    inScratch "tndsl-polish-" (fun dir ->
        let path = Path.Combine(dir, "mps.json")
        let code, out, err = tn [ "export"; Path.Combine(examplesDir, "mps.tn"); "--json"; "-o"; path ]
        Assert.True((code = 0), err)
        Assert.Equal("", out)
        Assert.Contains(sprintf "tn export: wrote %s (network mps, 16 tensors)" path, err)
        Assert.Contains("\"tensors\"", File.ReadAllText path))

[<Fact>]
let ``tn export to standard output prints no wrote line`` () =
    let code, out, err = tn [ "export"; Path.Combine(examplesDir, "mps.tn"); "--json" ]
    Assert.True((code = 0), err)
    Assert.Contains("\"tensors\"", out)
    Assert.DoesNotContain("wrote", err)

[<Fact>]
let ``tn contract over --memory-limit names the option as given and contract's own remedies, not a batch`` () =
    let peps = Path.Combine(examplesDir, "peps.tn")
    let code, out, err = tn [ "contract"; peps; "--memory-limit"; "2K" ]
    assertRefused [ "over the memory limit of 2 KiB (2,048 bytes) (--memory-limit 2K)"; "give a higher --memory-limit"
                    "--dtype float32"; "--set" ] (code, out, err)
    Assert.DoesNotContain("set by the caller", err)
    Assert.DoesNotContain("batch", err)
    // In float32 already, float32 is not offered again.
    let code, out, err = tn [ "contract"; peps; "--memory-limit"; "2K"; "--dtype"; "float32" ]
    assertRefused [ "(--memory-limit 2K)"; "give a higher --memory-limit or use smaller parameters (--set)" ] (code, out, err)
    Assert.DoesNotContain("--dtype", err)

[<Fact>]
let ``tn contract's memory advice does not outlive the command`` () =
    tn [ "contract"; Path.Combine(examplesDir, "peps.tn"); "--memory-limit"; "2K" ] |> ignore
    Assert.False(TnDsl.Torch.MemoryGuard.LimitOverride.HasValue)
    Assert.Null(TnDsl.Torch.MemoryGuard.LimitOverrideSource)
    Assert.Null(TnDsl.Torch.MemoryGuard.Remedies)

[<Fact>]
let ``tn emit and tn layer refused over the memory limit name --batch, their option`` () =
    let saved = TnDsl.Torch.MemoryGuard.LimitOverride
    TnDsl.Torch.MemoryGuard.LimitOverride <- Nullable(1L <<< 30)
    try
        let born = Path.Combine(examplesDir, "born-machine.tn")
        for args in [ [ "emit"; born; "--cs"; "--batch"; "1000000000000" ]; [ "layer"; born; "--batch"; "1000000000000" ] ] do
            let code, out, err = tn args
            Assert.True((code = 1), sprintf "%A: exit %d\n%s" args code err)
            Assert.Contains("use a smaller --batch or smaller parameters (--set), or raise the limit", err)
    finally
        TnDsl.Torch.MemoryGuard.LimitOverride <- saved

[<Fact>]
let ``an examples path that exists nowhere names the installed examples' folder and the nearest one, in one line`` () =
    inScratch "tndsl-polish-" (fun dir ->
        let tnExe = Path.Combine(AppContext.BaseDirectory, "tn")
        for verb in [ [ "check" ]; [ "plan" ]; [ "draw"; "-o"; "x.svg" ] ] do
            let code, out, err = run tnExe (verb.Head :: "examples/mpss.tn" :: verb.Tail) dir []
            assertRefused [ "cannot read examples/mpss.tn: no such file here, nor among the examples installed with tn"
                            Path.Combine(AppContext.BaseDirectory, "examples")
                            "did you mean examples/mps.tn?" ] (code, out, err)
        // A name near none of them still says where they are.
        let code, out, err = run tnExe [ "check"; "examples/completely-different-name.tn" ] dir []
        assertRefused [ "nor among the examples installed with tn" ] (code, out, err)
        Assert.DoesNotContain("did you mean", err)
        // An installed example is still found by its name.
        let code, _, err = run tnExe [ "check"; "examples/mps.tn" ] dir []
        Assert.True((code = 0), err))

[<Fact>]
let ``tn plan reads an installed example from another folder, as the other verbs do`` () =
    // tn plan checked the path before looking among the installed examples: "no such file here, nor among the
    // examples installed with tn; did you mean examples/grid.tn?" for examples/grid.tn itself.
    inScratch "tndsl-polish-" (fun dir ->
        let code, out, err = run (Path.Combine(AppContext.BaseDirectory, "tn")) [ "plan"; "examples/grid.tn"; "--set"; "L=3"; "--no-scaling" ] dir []
        Assert.True((code = 0), err)
        Assert.Contains("Optimized FLOP count:", out))

/// The lines drawn from each tensor (radians, y up): its bonds (to the other tensor, or to a hyperindex's carriers'
/// middle) and its open legs.
let private lines (layout: NetworkLayout) (t: int) =
    let pos = layout.Positions |> Array.map (fun struct (x, y) -> x, -y)
    [ for b in layout.Bonds do
        if b.Tensors.Length = 2 && Array.contains t b.Tensors then
            let u = if b.Tensors[0] = t then b.Tensors[1] else b.Tensors[0]
            yield atan2 (snd pos[u] - snd pos[t]) (fst pos[u] - fst pos[t])
        elif b.Tensors.Length = 1 && b.Tensors[0] = t then
            yield NetworkPicture.LegAngle(layout, b) ]

let private apart (a: float) (b: float) =
    let d = abs (a - b) % (2.0 * Math.PI)
    min d (2.0 * Math.PI - d)

let private layoutOf (file: string) (sets: (string * string) list) =
    let overrides = sets |> List.map (fun (k, v) -> System.Collections.Generic.KeyValuePair(k, v)) |> ResizeArray
    NetworkLayout.Of(TnDsl.Api.Frontend.Load(Path.Combine(examplesDir, file), overrides, null))

[<Fact>]
let ``tn draw puts every tensor's label clear of its bonds and legs (peps, mera, mps, ttn)`` () =
    for file in [ "peps.tn"; "mera.tn"; "mps.tn"; "ttn.tn"; "mera-classifier.tn" ] do
        let layout = layoutOf file []
        for t in 0 .. layout.Positions.Length - 1 do
            let label = NetworkPicture.LabelAngle(layout, t)
            for line in lines layout t do
                // Above a PEPS tensor is its bond to the row above: the label that sat there crossed it.
                Assert.True(apart label line >= 0.6, sprintf "%s tensor %d: label at %.2f, a line at %.2f" file t label line)

[<Fact>]
let ``tn draw fans MERA's top open legs into the free side, off the bonds below`` () =
    let layout = layoutOf "mera.tn" []
    for leg in layout.Bonds |> Array.filter (fun b -> b.Open && b.Tensors.Length = 1) do
        let t = leg.Tensors[0]
        let angle = NetworkPicture.LegAngle(layout, leg)
        for b in layout.Bonds |> Array.filter (fun b -> b.Tensors.Length = 2 && Array.contains t b.Tensors) do
            let u = if b.Tensors[0] = t then b.Tensors[1] else b.Tensors[0]
            let struct (tx, ty) = layout.Positions[t]
            let struct (ux, uy) = layout.Positions[u]
            let bond = atan2 (ty - uy) (ux - tx)
            Assert.True(apart angle bond >= 0.5, sprintf "leg %s at %.2f, bond %s at %.2f" leg.Name angle b.Name bond)

[<Fact>]
let ``the TorchBench usage line lists every option it reads, those the docs use among them`` () =
    let dll = Path.Combine(repoRoot, "bench", "TnDsl.TorchBench", "bin", "Release", "net10.0", "TnDsl.TorchBench.dll")
    Assert.True(File.Exists dll, sprintf "build bench/TnDsl.TorchBench first (%s)" dll)
    let code, _, err = run "dotnet" [ dll ] repoRoot []
    Assert.Equal(2, code)
    for option in [ "--only"; "--case"; "--steps"; "--examples"; "--rounds"; "--threads"; "--parts"; "--count"; "--seed"
                    "--authors"; "--dmax"; "--loops"; "--lr"; "--fraction"; "--sites"; "--dtype"; "--device" ] do
        Assert.Contains(sprintf "[%s " option, err)
    Assert.Contains("born-side", err)
    // An option it does not read is refused, not ignored.
    let code, _, err = run "dotnet" [ dll; "memory"; "--onyl"; "layers/mps" ] repoRoot []
    Assert.Equal(2, code)
    Assert.Contains("unknown option --onyl", err)
