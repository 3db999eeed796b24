/// `tn draw` keeps every bond clear of the tensors it does not join: a force layout of a ring of 12 with chords drew a
/// bond 9 pixels from a tensor's centre (inside its marker, which is 10 pixels in radius). Measured in the layout
/// (straight lines against NetworkLayout.Clearance) and in the picture (the lines as drawn, curves included, in pixels)
/// over rings with chords, periodic grids, a star, the examples (MERA, TTN, ...) and random graphs from a seed.
module TnDsl.Cli.Tests.ClearanceTests

open System
open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support

/// A ring of n with a chord from each tensor to the one opposite (n even).
let private ring (n: int) =
    loadText (
        sprintf "network ring(n: int = %d) {\n" n +
        "  index p[i]: 2 for i in 0..n-1\n  index b[i]: 4 for i in 0..n-1\n  index c[i]: 3 for i in 0..n/2-1\n" +
        "  weight A[i]: (b[i], p[i], b[(i+1) % n], c[i] if i < n/2, c[i-n/2] if i >= n/2) for i in 0..n-1 init normal(0, 0.3)\n" +
        "  output (p[0..n-1])\n}\n")

/// An L x L grid with periodic bonds both ways (a torus).
let private torus (l: int) =
    loadText (
        sprintf "network torus(L: int = %d) {\n" l +
        "  index p[x, y]: 2 for x in 0..L-1, y in 0..L-1\n  index h[x, y]: 3 for x in 0..L-1, y in 0..L-1\n" +
        "  index v[x, y]: 3 for x in 0..L-1, y in 0..L-1\n" +
        "  weight T[x, y]: (p[x, y], h[x, y], h[(x+L-1) % L, y], v[x, y], v[x, (y+L-1) % L]) for x in 0..L-1, y in 0..L-1 init normal(0, 0.3)\n" +
        "  output (p[0..L-1, 0..L-1])\n}\n")

/// A connected random graph from a seed: 6 to 24 tensors, a random tree and up to as many bonds again, an open leg each.
let private random (seed: int) =
    let r = Random seed
    let n = r.Next(6, 25)
    loadText (graphText (sprintf "random%d" seed) n (randomEdges r n (fun () -> r.Next(1, n + 1))) 2 (sprintf "T%d"))

/// A tensor with 20 leaves: drawn as a tree, its outer bonds ran nearly level, 0.1 units from the next leaf.
let private star () =
    loadText "network star(n: int = 20) {\n  index b[i]: 3 for i in 0..n-1\n  index p[i]: 2 for i in 0..n-1\n  weight H: (b[0..n-1]) init normal(0, 0.3)\n  weight L[i]: (b[i], p[i]) for i in 0..n-1 init normal(0, 0.3)\n  output (p[0..n-1])\n}\n"

let private example (file: string) = TnDsl.Api.Frontend.Load(Path.Combine(examplesDir, file), ResizeArray(), null)

let private networks () =
    [ for n in [ 8; 10; 12; 16; 20 ] -> sprintf "ring of %d with chords" n, ring n
      for l in [ 3; 4; 5 ] -> sprintf "%dx%d torus" l l, torus l
      for seed in 1 .. 8 -> sprintf "random graph, seed %d" seed, random seed
      yield "star of 20", star ()
      for file in [ "mera.tn"; "ttn.tn"; "mera-classifier.tn"; "convac.tn"; "peps.tn"; "mpo-kernel.tn"; "layers/mera.tn"; "layers/ttn.tn"; "layers/peps.tn" ] ->
          file, example file ]

/// The distance from point v to the segment p-q (DrawScaleTests measures with it too).
let distance (vx: float, vy: float) ((px: float, py: float), (qx: float, qy: float)) =
    let dx, dy = qx - px, qy - py
    let l2 = dx * dx + dy * dy
    let f = if l2 < 1e-12 then 0.0 else max 0.0 (min 1.0 (((vx - px) * dx + (vy - py) * dy) / l2))
    sqrt ((px + f * dx - vx) ** 2.0 + (py + f * dy - vy) ** 2.0)

[<Fact>]
let ``in the layout no bond's straight line passes within the clearance of a tensor it does not join`` () =
    for name, net in networks () do
        let layout = NetworkLayout.Of net
        let pos = layout.Positions |> Array.map (fun struct (x, y) -> x, y)
        // The unit: the smallest distance between two tensors.
        let unit = [ for a in 0 .. pos.Length - 1 do for b in a + 1 .. pos.Length - 1 -> distance pos[a] (pos[b], pos[b]) ] |> List.min
        for b in layout.Bonds do
            if b.Tensors.Length = 2 && not b.Wide && not (layout.Detours.ContainsKey b.Index) then
                let p, q = pos[b.Tensors[0]], pos[b.Tensors[1]]
                let p, q =
                    if Seq.contains b.Tensors[0] layout.Bars then (fst q, snd p), q
                    elif Seq.contains b.Tensors[1] layout.Bars then p, (fst p, snd q)
                    else p, q
                for t in 0 .. pos.Length - 1 do
                    if not (Array.contains t b.Tensors) && not (Seq.contains t layout.Bars) then
                        let d = distance pos[t] (p, q) / unit
                        Assert.True(d >= NetworkLayout.Clearance - 1e-9,
                                    sprintf "%s (%A layout): bond %s passes %.3f units from tensor %d" name layout.Kind b.Name d t)

[<Fact>]
let ``in the picture every bond's line, curves included, keeps a margin of 12 pixels outside the markers of the tensors it passes`` () =
    for name, net in networks () do
        let layout = NetworkLayout.Of net
        let struct (_, geometry) = NetworkPicture.Drawn(net, layout, null)
        let centres = geometry.Tensors |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray
        let bonds = layout.Bonds |> Array.filter (fun b -> b.Tensors.Length = 2) |> Array.map (fun b -> b.Name, b) |> Map.ofArray
        for struct (bond, points) in geometry.BondLines do
            let points = points |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray
            let joined = bonds[bond].Tensors
            for t in 0 .. centres.Length - 1 do
                if not (Array.contains t joined) && not (Seq.contains t layout.Bars) then
                    let d = Array.pairwise points |> Array.map (distance centres[t]) |> Array.min
                    Assert.True(d >= geometry.TensorRadius + 12.0,
                                sprintf "%s (%A layout): bond %s is drawn %.1f px from tensor %d's centre (radius %.0f)" name layout.Kind bond d t geometry.TensorRadius)

[<Fact>]
let ``where no layout clears a bond it is bowed round the tensor it would cross, and its curve keeps the margin`` () =
    // Three tensors joined in a triangle, put in one row: the bond between the outer two runs through the middle one,
    // and spreading rows cannot move it (they are one row).
    let net =
        loadText "network triangle {\n  index a: 2\n  index b: 2\n  index c: 2\n  weight X: (a, c)\n  weight Y: (a, b)\n  weight Z: (b, c)\n  output ()\n}\n"
    let row = NetworkLayout(LayoutKind.Layers, [| struct (0.0, 0.0); struct (1.0, 0.0); struct (2.0, 0.0) |], (NetworkLayout.Of net).Bonds)
    let cleared = row.Cleared()
    let c = net.Indices |> Seq.find (fun ix -> ix.Name = "c")
    Assert.Equal<int seq>([ c.Id ], cleared.Detours.Keys)
    Assert.True(abs cleared.Detours[c.Id] >= NetworkLayout.Clearance, sprintf "bowed %.2f" cleared.Detours[c.Id])
    let struct (_, geometry) = NetworkPicture.Drawn(net, cleared, null)
    let struct (_, points) = geometry.BondLines |> Seq.find (fun struct (name, _) -> name = "c")
    let points = points |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray
    let struct (yx, yy) = geometry.Tensors[1]
    let d = Array.pairwise points |> Array.map (distance (yx, yy)) |> Array.min
    Assert.True(d >= geometry.TensorRadius + 12.0, sprintf "c is drawn %.1f px from Y" d)
    // Its size label sits on the curve, in the picture.
    Assert.Equal(3, geometry.LabelBoxes.Count)

/// Networks with hyperindices (drawn through a hub): a chain whose sites 0, 2 and 4 share one (its hub off their
/// middle put the lines from sites 0 and 4 through sites 1 and 3), a ring of 12 whose opposite sites share one each,
/// and a 4x4 torus with one index on a row of it.
let private hubbed () =
    [ "chain of 8, sites 0, 2, 4 sharing h",
      loadText (
          "network hubchain(n: int = 8) {\n  index b[i]: 4 for i in 1..n-1\n  index p[i]: 2 for i in 0..n-1\n  hyper index h: 3\n" +
          "  weight A[0]: (p[0], b[1], h)\n  weight A[i]: (b[i], p[i], b[i+1], h if i == 2 or i == 4) for i in 1..n-2\n" +
          "  weight A[n-1]: (b[n-1], p[n-1])\n  output (p[0..n-1])\n}\n")
      "ring of 12, opposite sites and the next sharing one",
      loadText (
          "network hubring(n: int = 12) {\n  index b[i]: 4 for i in 0..n-1\n  index p[i]: 2 for i in 0..n-1\n" +
          "  hyper index c[i]: 3 for i in 0..n/2-1\n" +
          "  weight A[i]: (b[i], p[i], b[(i+1) % n], c[i] if i < n/2, c[i-n/2] if i >= n/2, c[i-1] if i >= 1 and i < n/2) for i in 0..n-1\n" +
          "  output (p[0..n-1])\n}\n")
      "4x4 torus with a row sharing one",
      loadText (
          "network hubtorus(L: int = 4) {\n" +
          "  index h[x, y]: 3 for x in 0..L-1, y in 0..L-1\n  index v[x, y]: 3 for x in 0..L-1, y in 0..L-1\n  hyper index r: 2\n" +
          "  weight T[x, y]: (h[x, y], h[(x+L-1) % L, y], v[x, y], v[x, (y+L-1) % L], r if y == 1) for x in 0..L-1, y in 0..L-1\n" +
          "  output (r)\n}\n") ]

[<Fact>]
let ``a hyperindex's lines to its hub keep the clearance from every tensor the index does not join, and the hub from every tensor`` () =
    for name, net in hubbed () do
        let layout = NetworkLayout.Of net
        let hyper = layout.Bonds |> Array.filter (fun b -> b.Tensors.Length > 2 && not b.Wide)
        Assert.NotEmpty hyper
        let pos = layout.Positions |> Array.map (fun struct (x, y) -> x, y)
        let unit = [ for a in 0 .. pos.Length - 1 do for b in a + 1 .. pos.Length - 1 -> distance pos[a] (pos[b], pos[b]) ] |> List.min
        // In the picture: the lines as drawn, a margin of 12 pixels outside the markers.
        let struct (_, geometry) = NetworkPicture.Drawn(net, layout, null)
        let centres = geometry.Tensors |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray
        Assert.Equal(hyper |> Array.sumBy (fun b -> b.Tensors.Length), geometry.HubLines.Count)
        for struct (bond, _, struct (fx, fy), struct (hx, hy)) in geometry.HubLines do
            let carriers = (hyper |> Array.find (fun b -> b.Name = bond)).Tensors
            for t in 0 .. centres.Length - 1 do
                if not (Array.contains t carriers) then
                    let d = distance centres[t] ((fx, fy), (hx, hy))
                    Assert.True(d >= geometry.TensorRadius + 12.0, sprintf "%s: %s's line to its hub is drawn %.1f px from tensor %d's centre" name bond d t)
        for b in hyper do
            // In the layout: the hub where Of placed it.
            let struct (hx, hy) = layout.Hubs[b.Index]
            for t in 0 .. pos.Length - 1 do
                let hub = distance pos[t] ((hx, hy), (hx, hy)) / unit
                Assert.True(hub >= NetworkLayout.Clearance - 1e-9, sprintf "%s: %s's hub is %.3f units from tensor %d" name b.Name hub t)
                if not (Array.contains t b.Tensors) then
                    for c in b.Tensors do
                        let d = distance pos[t] (pos[c], (hx, hy)) / unit
                        Assert.True(d >= NetworkLayout.Clearance - 1e-9, sprintf "%s: %s's line from tensor %d to its hub passes %.3f units from tensor %d" name b.Name c d t)
