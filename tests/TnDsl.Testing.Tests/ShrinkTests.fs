/// Shrinking reaches a minimal case on planted bugs: through FsCheck with the kit's network Arbitrary, and
/// through the spec-check engine with parameter shrinking.
module TnDsl.Testing.Tests.ShrinkTests

open Xunit
open FsCheck
open FsCheck.FSharp
open TnDsl
open TnDsl.Testing
open TnDsl.Testing.Tests.Support

[<Fact>]
let ``a planted hyperindex bug shrinks to at most three tensors with nothing left but one hyperindex`` () =
    let property =
        Prop.forAll (Networks.arbitrary None) (fun g ->
            let net = g.Network
            let values = Values.sample Float64 5 net
            Oracles.orderIndependence (Tolerance.forNetwork Float64 net) net values buggyOfTree = Ok())
    match shrunkCounterexample 300 12345UL property with
    | Some [ :? GeneratedNetwork as g ] ->
        let r = g.Recipe
        let net = g.Network
        let uses = FlatNetwork.incidence net
        // What is left must be the bug's trigger: an index (a hyperindex or the batch) of dimension 2 or more
        // joining three tensors, or two and the output.
        let triggers =
            net.Indices |> Array.filter (fun i -> Dim.size i.Dim >= 2L && uses[i.Id].Length + (if List.contains i.Id net.Output then 1 else 0) >= 3)
        Assert.True(triggers.Length = 1, string g)
        Assert.True(r.Tensors <= 3, string g)
        Assert.Equal((0, 0, false), (r.ExtraBonds, r.CopyLegs, r.Tied))
        Assert.True(r.MaxDim <= 2 && r.OpenLegs <= 1, string g)
        Assert.Equal(Chain, r.Topology)
    | other -> failwithf "the planted bug was not found or not shrunk: %A" other

[<Fact>]
let ``a planted bug in one branch of a property shrinks to the smallest network that reaches it`` () =
    // The bug: results are wrong once a network has five tensors or more, one of them a copy tensor.
    let property =
        Prop.forAll (Networks.arbitrary None) (fun g ->
            let n = g.Network
            not (n.Tensors.Length >= 5 && n.Tensors |> Array.exists (fun t -> t.Init = Some Copy)))
    match shrunkCounterexample 300 777UL property with
    | Some [ :? GeneratedNetwork as g ] ->
        Assert.Equal({ Networks.minimal with Tensors = 4; CopyLegs = 2 }, g.Recipe)
    | other -> failwithf "the planted bug was not found or not shrunk: %A" other
