/// `check` is the contract: every network the front end accepts plans, builds and runs. Each example and a
/// seeded sample of generated networks (written as `.tn` text and compiled back) goes through check -> plan ->
/// build -> forward, and any failure after a clean check fails the test.
module TnDsl.Testing.Torch.Tests.ContractTests

open System
open System.IO
open Xunit
open FsCheck
open FsCheck.FSharp
open TorchSharp
open TnDsl
open TnDsl.Torch
open TnDsl.Testing
open TnDsl.Testing.Tests.Support
open TnDsl.Tests.Support

/// Checks `.tn` text; when it is clean, plans it, builds its module and runs one forward pass (batch 2). Returns
/// the failure after a clean check, if any.
let private afterCleanCheck (file: string) (text: string) : string option =
    // Debian 12's libstdc++ is older than LibTorchSharp asks for; F# tests have no assembly initializer.
    TnDsl.Native.NativeLoader.EnsureLoaded() |> ignore
    let r = Compiler.compileSource file text Compiler.defaultOptions
    match r.Network with
    | None -> None
    | Some net ->
        try
            // Planning always; building and running only where the sizes fit a test (a size refusal is a resource
            // limit, not a structural failure).
            let view = Api.NetworkView(net, r.Sources)
            let plan = NetworkAdapter.Plan(view, "auto", BatchSizes(All = Nullable 2L))
            if plan.LargestIntermediate > bigint 1_000_000 || FlatNetwork.parameterCount net > bigint 1_000_000 then None else
            use m = NetworkModules.FromNetwork(view, NetworkBuildOptions(Batch = BatchSizes(All = Nullable 2L), Module = NetworkModuleOptions(DType = torch.ScalarType.Float64, Seed = 1L)))
            use generator = new torch.Generator(1UL)
            let inputs = RandomInputs.Make(m, 2L, generator, torch.ScalarType.Float64)
            use _ = torch.no_grad ()
            use y = m.forward inputs
            for x in inputs do x.Dispose()
            if y.numel () < 1L then Some "the forward pass gave an empty tensor" else None
        with e -> Some(e.GetType().Name + ": " + e.Message)

let private examples () =
    Directory.GetFiles(TnDsl.Tests.Support.examplesDir, "*.tn", SearchOption.AllDirectories)
    |> Array.filter (fun f -> not (f.Contains "results"))
    |> Array.sort

[<Fact>]
let ``every example that checks clean plans, builds and runs`` () =
    let failures =
        examples ()
        |> Array.choose (fun f -> afterCleanCheck f (File.ReadAllText f) |> Option.map (fun why -> Path.GetFileName f + ": " + why))
    Assert.True(failures.Length = 0, String.Join("\n", failures))

[<Fact>]
let ``1500 generated networks that check clean plan, build and run`` () =
    // Seeded and sized so that the whole sample runs in seconds.
    let sample = Gen.sampleWithSeed (Rnd(18UL, 1UL)) 12 1500 (Networks.generator None)
    let failures =
        sample
        |> Array.choose (fun g ->
            let text = TnText.ofNetwork g.Network
            afterCleanCheck "generated.tn" text |> Option.map (fun why -> why + "\n" + text))
        |> Array.truncate 3
    Assert.True(failures.Length = 0, String.Join("\n---\n", failures))

[<Fact>]
let ``generated networks are accepted by check (the contract test exercises the back end)`` () =
    let sample = Gen.sampleWithSeed (Rnd(18UL, 1UL)) 12 100 (Networks.generator None)
    let rejected =
        sample
        |> Array.choose (fun g ->
            let text = TnText.ofNetwork g.Network
            let r = Compiler.compileSource "g.tn" text Compiler.defaultOptions
            if r.Network.IsSome then None else Some(String.Join("\n", r.Diagnostics |> List.map Diagnostic.headline) + "\n" + text))
    Assert.True(rejected.Length = 0, String.Join("\n---\n", rejected |> Array.truncate 2))
