/// The TorchSharp bridge from F#: SpecCheck.Contraction with an F# lambda, a planted gradient bug caught by
/// autograd against finite differences, and the project's own backend (NetworkModule) checked against the example
/// specs under every optimizer's plan. Each test starts with NativeLoader.EnsureLoaded() (TnDsl.Native: Debian 12's
/// libstdc++ is older than TorchSharp's native library asks for), which F# cannot run once per assembly.
module TnDsl.Testing.Torch.Tests.TorchTests

open System
open System.Collections.Generic
open Xunit
open TorchSharp
open TnDsl
open TnDsl.Torch
open TnDsl.Native
open TnDsl.Testing.Torch
open TnDsl.Testing.Tests.Support

/// The MPS of examples/mps.tn contracted left to right with tensordot.
let mps (t: SpecTensors) : torch.Tensor =
    let a = t.Family "A"
    let mutable acc = a[0]
    for i in 1 .. a.Count - 2 do
        acc <- torch.tensordot(acc, a[i], [| acc.dim() - 1L |], [| 0L |])
    torch.tensordot(acc, a[a.Count - 1], [| acc.dim() - 1L |], [| 0L |])

[<Fact>]
let ``F#: SpecCheck.Contraction takes an F# lambda over TorchSharp tensors, in float64 and float32`` () =
    NativeLoader.EnsureLoaded() |> ignore
    SpecCheck.Contraction(example "mps.tn", (fun t -> mps t), SpecCheckOptions(Replay = Nullable 3))
    SpecCheck.Contraction(example "mps.tn", (fun t -> mps t), SpecCheckOptions(Replay = Nullable 3, DType = torch.ScalarType.Float32))

[<Fact>]
let ``a TorchSharp that does not load is named as such, with what to do, not reported as the forward failing`` () =
    // Without NativeLoader on Debian 12 every forward threw TorchSharp's type-initialisation error, and the check said
    // "the forward does not match mps.tn", shrunk to n=2 (session 24's probe of docs/testing.md).
    let cause = NotSupportedException("This application or script uses TorchSharp but doesn't contain a reference to libtorch-cpu-linux-x64.\n\nConsider referencing one of the combination packages")
    let e = SpecCheck.NativeLoadFailure(TypeInitializationException("TorchSharp.torch", cause))
    Assert.Contains("TorchSharp's native library does not load", e.Message)
    Assert.Contains("(This application or script uses TorchSharp but doesn't contain a reference to libtorch-cpu-linux-x64.)", e.Message)
    Assert.Contains("NativeLoader.EnsureLoaded()", e.Message)
    Assert.DoesNotContain("Consider", e.Message)
    Assert.IsType<TypeInitializationException>(e.InnerException) |> ignore

[<Fact>]
let ``a forward whose values are right but whose gradient is doubled is caught by the gradient oracle`` () =
    NativeLoader.EnsureLoaded() |> ignore
    // c + (c - c.detach()) equals c, but its gradient is twice c's.
    let doubled (t: SpecTensors) =
        let c = mps t
        c + (c - c.detach())
    let e = Assert.Throws<SpecCheckFailedException>(fun () -> SpecCheck.Contraction(example "mps.tn", (fun t -> doubled t), SpecCheckOptions(Replay = Nullable 5)))
    Assert.Equal("gradient", e.Failure.Violation.Oracle)
    Assert.True(e.Failure.Case.Parameters.Values |> List.forall (fun (_, v) -> v <= 3L), e.Message)

[<Fact>]
let ``SpecTensors.Family of a family the spec does not declare names the families it has`` () =
    NativeLoader.EnsureLoaded() |> ignore
    // It returned an empty list, and the forward failed later on an index out of range.
    let misspelt (t: SpecTensors) =
        t.Family "a" |> ignore
        mps t
    let e = Assert.Throws<SpecCheckFailedException>(fun () -> SpecCheck.Contraction(example "mps.tn", (fun t -> misspelt t), SpecCheckOptions(Replay = Nullable 5)))
    Assert.Equal("forward", e.Failure.Violation.Oracle)
    Assert.Contains("no tensor family `a`; its families are A", e.Message)

/// The backend as code under test: a NetworkModule for the drawn network and a plan, its parameters, buffers and
/// inputs set to the drawn values.
let private backend (t: SpecTensors) (path: IReadOnlyList<struct (int * int)>) : torch.Tensor =
    let net = t.Sample.Network
    // Weights are overwritten below, so their initialisers do not matter (and `auto` is not in the backend yet).
    let blank = { net with Tensors = net.Tensors |> Array.map (fun x -> if x.Role = Weight then { x with Init = None } else x) }
    let m = NetworkAdapter.ToModule(Api.NetworkView blank, path, NetworkModuleOptions(DType = t.DType))
    use _ = torch.no_grad ()
    for x in net.Tensors do
        match x.Role with
        | Weight -> m.get_parameter(x.Param).copy_(t[x.Name]) |> ignore
        | Const -> m.get_buffer(x.Param).copy_(t[x.Name]) |> ignore
        | Input -> ()
    let inputs =
        m.InputNames
        |> Seq.map (fun family ->
            let members = net.Tensors |> Array.filter (fun x -> x.Role = Input && x.Family = family) |> Array.sortBy (fun x -> x.Subscripts)
            let batchFirst (x: FlatTensor) =
                let order = x.Legs |> List.ofArray |> List.mapi (fun k l -> k, Dim.isDynamic net.Indices[l].Dim) |> List.sortBy (fun (_, d) -> not d) |> List.map (fst >> int64)
                t[x.Name].permute(Array.ofList order)
            let batch = members[0].Legs |> Array.filter (fun l -> Dim.isDynamic net.Indices[l].Dim) |> Array.length
            if members[0].Subscripts.IsEmpty then batchFirst members[0]
            else torch.stack(members |> Array.map batchFirst, int64 batch))
        |> Array.ofSeq
    m.forward(inputs)

[<Fact>]
let ``the TorchSharp backend matches every example spec without embeddings under every optimizer's plan`` () =
    NativeLoader.EnsureLoaded() |> ignore
    for spec in [ "mps.tn"; "ttn.tn"; "mera.tn"; "peps.tn"; "mpo-linear.tn"; "convac.tn" ] do
        // convac has 16 open feature legs: one feature each keeps the result small enough for the reference.
        let ranges = if spec = "convac.tn" then dict [ "M", struct (1L, 1L) ] else dict []
        let options = SpecCheckOptions(MaxTest = 3, Replay = Nullable 11, Ranges = (ranges :?> IReadOnlyDictionary<string, struct (int64 * int64)>))
        SpecCheck.Plans(example spec, (fun t _ path -> backend t path), options)

[<Fact>]
let ``docs/testing.md's failure report is what SpecCheck prints for examples/testing's transposed bond`` () =
    NativeLoader.EnsureLoaded() |> ignore
    // examples/testing's MpsContractions.TransposedBond: the middle cores' bonds swapped; the example's options, Replay 8.
    let transposed (t: SpecTensors) =
        let a = t.Family "A"
        let mutable acc = a[0]
        for i in 1 .. a.Count - 2 do
            acc <- torch.tensordot(acc, a[i].permute(2L, 1L, 0L), [| acc.dim() - 1L |], [| 0L |])
        torch.tensordot(acc, a[a.Count - 1], [| acc.dim() - 1L |], [| 0L |])
    let e = Assert.Throws<SpecCheckFailedException>(fun () -> SpecCheck.Contraction(example "mps.tn", (fun t -> transposed t), SpecCheckOptions(Replay = Nullable 8)))
    // The page shows the report without its two lines that repeat the violation; `…` ends a line it shortens.
    let page = IO.File.ReadAllText(IO.Path.Combine(TnDsl.Tests.Support.repoRoot, "docs", "testing.md")).Replace("\r", "")
    let block = Text.RegularExpressions.Regex.Match(page, "```\n(SpecCheck: the forward does not match .*?)```", Text.RegularExpressions.RegexOptions.Singleline)
    Assert.True(block.Success, "docs/testing.md shows a SpecCheck report")
    let shown = block.Groups[1].Value.TrimEnd('\n').Split('\n')
    // The example names its spec "mps.tn", beside the test; here it is the path to examples/mps.tn.
    let printed =
        e.Message.Replace("\r", "").Replace(example "mps.tn", "mps.tn").TrimEnd('\n').Split('\n')
        |> Array.filter (fun l -> not (l.StartsWith "  largest deviation:" || l.StartsWith "  first failure:"))
    Assert.True((shown.Length = printed.Length), sprintf "docs/testing.md shows %d lines of the report, SpecCheck prints:\n%s" shown.Length e.Message)
    for s, p in Array.zip shown printed do
        let at = s.IndexOf '…'
        if at < 0 then Assert.Equal(s, p) else Assert.StartsWith(s.Substring(0, at), p)

[<Fact>]
let ``a result that is wrong under one optimizer's plan only is reported with that optimizer`` () =
    NativeLoader.EnsureLoaded() |> ignore
    let skewed (t: SpecTensors) (optimizer: string) path =
        let r = backend t path
        if optimizer = "greedy" then r + 1e-3 else r
    let e = Assert.Throws<SpecCheckFailedException>(fun () -> SpecCheck.Plans(example "ttn.tn", (fun t name path -> skewed t name path), SpecCheckOptions(Replay = Nullable 2)))
    Assert.Equal("order", e.Failure.Violation.Oracle)
    Assert.Contains("under the greedy plan", e.Message)

[<Fact>]
let ``F#: Tn.Contract and Tn.Expression contract TorchSharp tensors like torch.einsum`` () =
    NativeLoader.EnsureLoaded() |> ignore
    use _temporaries = torch.NewDisposeScope()
    use g = new torch.Generator(5UL)
    let x = torch.randn([| 6L; 2L; 3L |], torch.ScalarType.Float64, generator = g)
    let y = torch.randn([| 3L; 4L |], torch.ScalarType.Float64, generator = g)
    let ours = Tn.Contract("...ab,bc->...ac", x, y)
    Assert.True(torch.allclose(ours, torch.einsum("...ab,bc->...ac", x, y), rtol = 1e-12, atol = 1e-12))
    let expr = Tn.Expression("αβ,βγ->αγ", [| 2L; 3L |], [| 3L; 4L |])
    Assert.Equal<int64 array>([| 2L; 4L |], Array.ofSeq expr.OutputShape)
    Assert.True(torch.allclose(expr.Invoke(x[0], y), torch.matmul(x[0], y), rtol = 1e-12, atol = 1e-12))
