/// The generators only produce networks the Check phase and `tn check` accept, and they reach every feature.
module TnDsl.Testing.Tests.GeneratorTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Testing

/// Compiles `.tn` text through the whole front end (parse, elaborate, check), as `tn check` does.
let private frontEnd (text: string) =
    Compiler.compileText (fun _ -> None) "generated.tn" text Compiler.defaultOptions

/// The structure that must survive a round trip through `.tn` text: per tensor its role, legs by name, init,
/// and which tensors share a parameter; per index its dimension and kind; the output by name.
let private structure (net: FlatNetwork) =
    let name l = net.Indices[l].Name
    let tensors =
        net.Tensors
        |> Array.map (fun t ->
            let tiedWith = net.Tensors |> Array.filter (fun u -> u.Param = t.Param) |> Array.map (fun u -> u.Name)
            t.Name, t.Role, t.Legs |> Array.map name |> List.ofArray, t.Init, tiedWith)
    let indices = net.Indices |> Array.map (fun i -> i.Name, i.Dim, i.Kind) |> Array.sort
    tensors, indices, net.Output |> List.map name

[<Property(MaxTest = 200)>]
let ``every generated network passes the Check phase with no diagnostic at all`` () =
    Prop.forAll (Networks.arbitrary None) (fun g -> Validate.diagnostics g.Network |> List.map (fun d -> d.Message) = [])

[<Property(MaxTest = 100)>]
let ``every generated network written as .tn text is accepted by the front end and compiles back to itself`` () =
    Prop.forAll (Networks.arbitrary None) (fun g ->
        let r = frontEnd (TnText.ofNetwork g.Network)
        r.Diagnostics.IsEmpty && r.Network.IsSome && structure r.Network.Value = structure g.Network)

[<Fact>]
let ``every topology and every decoration is generated, and stays valid`` () =
    for topo in [ Chain; Tree; Grid; RandomGraph ] do
        let sample = Gen.sampleWithSeed (Rnd(42UL, 1UL)) 60 150 (Networks.generator (Some topo))
        Assert.All(sample, fun g -> Assert.Empty(Validate.diagnostics g.Network))
        Assert.All(sample, fun g -> Assert.Equal(topo, g.Recipe.Topology))
        let count f = sample |> Array.filter (fun g -> f g.Network) |> Array.length
        let has (p: FlatTensor -> bool) (n: FlatNetwork) = n.Tensors |> Array.exists p
        Assert.True(count (fun n -> n.Indices |> Array.exists (fun i -> i.Kind = Hyper && not (Dim.isDynamic i.Dim))) > 5, "hyperindices")
        Assert.True(count (has (fun t -> t.Init = Some Copy)) > 5, "copy tensors")
        Assert.True(count (fun n -> (n.Tensors |> Array.countBy (fun t -> t.Param) |> Array.exists (fun (_, c) -> c > 1))) > 5, "tied weights")
        Assert.True(count (has (fun t -> t.Role = Input)) > 5, "inputs")
        Assert.True(count (fun n -> n.Indices |> Array.exists (fun i -> Dim.isDynamic i.Dim)) > 3, "batch")
        Assert.True(count (fun n -> n.Output.Length >= 3) > 20, "open legs")
        Assert.True(sample |> Array.exists (fun g -> g.Network.Tensors.Length >= 6), "larger networks at larger sizes")

[<Fact>]
let ``grids are grids: an interior tensor of a 3x3 grid has four bonds`` () =
    let net = Networks.build { Networks.minimal with Topology = Grid; Tensors = 9; MaxDim = 2 }
    let uses = FlatNetwork.incidence net
    let bonds (t: FlatTensor) = t.Legs |> Array.filter (fun l -> uses[l].Length = 2) |> Array.length
    Assert.Equal(4, bonds net.Tensors[4])
    Assert.Equal(12, net.Indices.Length)

[<Property(MaxTest = 100)>]
let ``bipartitions split the fixed open legs into two non-empty sides and are valid declared cuts`` () =
    Prop.forAll Networks.arbitraryWithCut (fun c ->
        let net = c.Generated.Network
        let legs = Networks.cuttableLegs net
        // A declared cut lists every output leg; a batch leg is conditioned on, so either side will do.
        let batch = net.Output |> List.filter (fun o -> not (List.contains o legs))
        let withCut = { net with Cuts = [ { Name = "c"; Left = batch @ c.Cut.Left; Right = c.Cut.Right; Range = Range.none } ] }
        not c.Cut.Left.IsEmpty && not c.Cut.Right.IsEmpty
        && List.sort (c.Cut.Left @ c.Cut.Right) = List.sort legs
        && Validate.diagnostics withCut = [])

[<Fact>]
let ``the validator reports what the Check phase reports on a broken network`` () =
    let net = Networks.build { Networks.minimal with Topology = Chain; Tensors = 3; MaxDim = 2; OpenLegs = 3 }
    // Drop an output leg: it becomes an open leg missing from the output.
    let broken = { net with Output = List.tail net.Output }
    Assert.Contains("TN0204", Validate.diagnostics broken |> List.map (fun d -> d.Kind.Code))
    let misplaced = { net with Tensors = Array.rev net.Tensors }
    Assert.Contains("TN0290", Validate.diagnostics misplaced |> List.map (fun d -> d.Kind.Code))

[<Property(Arbitrary = [| typeof<TnArbitraries> |], MaxTest = 30)>]
let ``registering TnArbitraries lets a property take generated networks and cuts as arguments`` (g: GeneratedNetwork) (c: NetworkWithCut) =
    Validate.isValid g.Network && Validate.isValid c.Generated.Network && not c.Cut.Left.IsEmpty
