/// The hand builders of `NetworkBuilder`: what they build passes the Check phase and has the structure its family
/// is defined by, counted by hand.
module TnDsl.Testing.Tests.NetworkBuilderTests

open Xunit
open TnDsl
open TnDsl.Testing

/// Tensors, indices and open legs of a network.
let private counts (net: FlatNetwork) = net.Tensors.Length, net.Indices.Length, net.Output.Length

[<Fact>]
let ``every family builds a network the Check phase accepts`` () =
    for net in [ NetworkBuilder.mps 5 2L 3L; NetworkBuilder.peps 3 2L 2L; NetworkBuilder.binaryTree 3 2L 3L; NetworkBuilder.mera 3 2L 2L ] do
        let errors = Validate.diagnostics net |> List.filter (fun d -> d.Kind.Level.IsError)
        Assert.True(errors.IsEmpty, sprintf "%s: %A" net.Name errors)

[<Fact>]
let ``the families have their hand-counted tensors, indices and open legs`` () =
    // MPS of 5: 5 sites, 5 physical legs and 4 bonds.
    Assert.Equal((5, 9, 5), counts (NetworkBuilder.mps 5 2L 3L))
    // 3x3 PEPS: 9 sites, 9 physical legs, 6 horizontal and 6 vertical bonds.
    Assert.Equal((9, 21, 9), counts (NetworkBuilder.peps 3 2L 2L))
    // Binary tree over 8 leaves: 4 + 2 + 1 nodes, 8 leaves and 4 + 2 inner bonds.
    Assert.Equal((7, 14, 8), counts (NetworkBuilder.binaryTree 3 2L 3L))

[<Fact>]
let ``an index on three tensors, or on two and the output, is a hyperindex; a plain bond is not`` () =
    let net =
        NetworkBuilder.build "kinds" [ "h", Fixed 2L; "g", Fixed 2L; "b", Fixed 3L; "x[1,2]", Fixed 4L ]
            [ "X", [ "h"; "g"; "b" ]; "Y", [ "h"; "g"; "b" ]; "Z", [ "h"; "x[1,2]" ] ] [ "g"; "x[1,2]" ]
    let kind name = (FlatNetwork.tryIndex net name |> Option.get).Kind
    Assert.Equal(Hyper, kind "h")
    Assert.Equal(Hyper, kind "g")
    Assert.Equal(Bond, kind "b")
    // Names are written from family and subscripts, as the compiler writes them.
    Assert.Equal(Bond, kind "x[1, 2]")
    let x = FlatNetwork.tryIndex net "x[1, 2]" |> Option.get
    Assert.Equal("x", x.Family)
    Assert.Equal<int list>([ 1; 2 ], x.Subscripts)

[<Fact>]
let ``a declared cut names its legs by id`` () =
    let net = NetworkBuilder.mps 4 2L 2L |> NetworkBuilder.withCut "half" [ "p[0]"; "p[1]" ] [ "p[2]"; "p[3]" ]
    let cut = List.exactlyOne net.Cuts
    Assert.Equal("half", cut.Name)
    Assert.Equal<string list>([ "p[0]"; "p[1]" ], cut.Left |> List.map (fun i -> net.Indices[i].Name))
    Assert.Equal<string list>([ "p[2]"; "p[3]" ], cut.Right |> List.map (fun i -> net.Indices[i].Name))
