/// `tn draw` on networks where two tensors share several bonds (the layer examples' input x joins each leaf by two
/// features): each bond is its own line, bowed apart from its partners, with its own size label on it.
module TnDsl.Cli.Tests.ParallelBondTests

open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support

let private load (file: string) =
    TnDsl.Api.Frontend.Load(Path.Combine(examplesDir, file), ResizeArray<System.Collections.Generic.KeyValuePair<string, string>>(), null)

/// The distance (pixels) from point p to the polyline.
let private toLine (px: float, py: float) (points: (float * float)[]) =
    points
    |> Array.pairwise
    |> Array.map (fun ((ax, ay), (bx, by)) ->
        let dx, dy = bx - ax, by - ay
        let t = if dx * dx + dy * dy < 1e-12 then 0.0 else max 0.0 (min 1.0 (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        sqrt ((px - ax - t * dx) ** 2.0 + (py - ay - t * dy) ** 2.0))
    |> Array.min

/// The drawing's bonds between two tensors, grouped by the pair they join, with their drawn lines (pixels).
let private drawnPairs (file: string) =
    let net = load file
    let layout = NetworkLayout.Of net
    let struct (_, geometry) = NetworkPicture.Drawn(net, layout, null)
    let lines =
        geometry.BondLines
        |> Seq.map (fun struct (name, points) -> name, points |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray)
        |> Map.ofSeq
    let pairs =
        layout.Bonds
        |> Array.filter (fun b -> b.Tensors.Length = 2)
        |> Array.groupBy (fun b -> min b.Tensors[0] b.Tensors[1], max b.Tensors[0] b.Tensors[1])
        |> Array.map (fun (_, bonds) -> bonds |> Array.map (fun b -> b.Name, lines[b.Name]))
    let boxes = geometry.LabelBoxes |> Seq.map (fun struct (l, t, r, b) -> l, t, r, b) |> Seq.toArray
    pairs, boxes

[<Theory>]
[<InlineData("layers/ttn.tn")>]
[<InlineData("layers/mera.tn")>]
let ``bonds between the same two tensors are drawn apart, each labelled on its own line`` (file: string) =
    let pairs, boxes = drawnPairs file
    let shared = pairs |> Array.filter (fun bonds -> bonds.Length > 1)
    Assert.NotEmpty shared
    for bonds in shared do
        for i in 0 .. bonds.Length - 1 do
            let name, line = bonds[i]
            Assert.True(line.Length > 2, sprintf "%s: bond %s is drawn straight, on top of its partners" file name)
            // Apart at their middles by more than a label is high (16 px), so the lines and labels do not meet.
            for j in i + 1 .. bonds.Length - 1 do
                let other, otherLine = bonds[j]
                let apart = toLine line[line.Length / 2] otherLine
                Assert.True(apart >= 16.0, sprintf "%s: bonds %s and %s are %.1f px apart at the middle" file name other apart)
            // Its label sits on its own line, nearer it than any partner's.
            let onIt =
                boxes |> Array.exists (fun (l, t, r, b) ->
                    let centre = (l + r) / 2.0, (t + b) / 2.0
                    toLine centre line < 2.0
                    && bonds |> Array.forall (fun (n, other) -> n = name || toLine centre other > 8.0))
            Assert.True(onIt, sprintf "%s: bond %s has no label of its own on its line" file name)
    // No two labels overlap.
    for i in 0 .. boxes.Length - 1 do
        for j in i + 1 .. boxes.Length - 1 do
            let l1, t1, r1, b1 = boxes[i]
            let l2, t2, r2, b2 = boxes[j]
            Assert.False(min r1 r2 > max l1 l2 && min b1 b2 > max t1 t2, sprintf "%s: label boxes %d and %d overlap" file i j)

[<Theory>]
[<InlineData("peps.tn")>]
[<InlineData("layers/mps.tn")>]
[<InlineData("layers/ttn.tn")>]
let ``a bond alone between its two tensors is still one straight line`` (file: string) =
    let pairs, _ = drawnPairs file
    for bonds in pairs |> Array.filter (fun bonds -> bonds.Length = 1) do
        let name, line = bonds[0]
        Assert.True(line.Length = 2, sprintf "%s: bond %s drawn with %d points" file name line.Length)

[<Fact>]
let ``a tree fed by one input (layers/ttn) is drawn as a tree, the input below the leaves' row, centred`` () =
    let net = load "layers/ttn.tn"
    let layout = NetworkLayout.Of net
    Assert.Equal(LayoutKind.Tree, layout.Kind)
    let pos = layout.Positions |> Array.map (fun struct (x, y) -> x, y)
    let x = net.Tensors |> Array.find (fun t -> t.IsInput)
    let leaves =
        layout.Bonds
        |> Array.filter (fun b -> b.Tensors.Length = 2 && Array.contains x.Id b.Tensors)
        |> Array.map (fun b -> if b.Tensors[0] = x.Id then b.Tensors[1] else b.Tensors[0])
        |> Array.distinct
    Assert.Equal(4, leaves.Length)
    let leafY = leaves |> Array.map (fun l -> snd pos[l]) |> Array.distinct
    Assert.Equal(1, leafY.Length)
    // y grows downwards: the input one level below the leaves, at their middle; every weight above the leaves.
    Assert.Equal(leafY[0] + 1.0, snd pos[x.Id], 9)
    Assert.Equal(leaves |> Array.averageBy (fun l -> fst pos[l]), fst pos[x.Id], 9)
    for t in net.Tensors do
        if not t.IsInput then Assert.True(snd pos[t.Id] <= leafY[0])

[<Fact>]
let ``a tensor train fed by its input is drawn in layers (a path is not drawn as a tree)`` () =
    Assert.Equal(LayoutKind.Layered, (NetworkLayout.Of(load "layers/tt-linear.tn")).Kind)
