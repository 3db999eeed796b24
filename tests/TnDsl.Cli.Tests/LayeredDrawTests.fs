/// `tn draw` on networks fed by input tensors that are neither a chain, a tree nor subscripted rows (layers/mera,
/// layers/tt-linear, mpo-linear, mera-classifier): drawn in layers by distance from the inputs, the input at the
/// bottom (a bar under the tensors it feeds), without crossing bonds; the other examples keep their layouts.
module TnDsl.Cli.Tests.LayeredDrawTests

open System
open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support

let private load (path: string) (sets: (string * string) list) =
    let overrides = sets |> List.map (fun (k, v) -> Collections.Generic.KeyValuePair(k, v)) |> ResizeArray
    TnDsl.Api.Frontend.Load(path, overrides, null)

let private example (file: string) = load (Path.Combine(examplesDir, file)) []

/// A network written to a temporary file, loaded, and the file removed.
let private written (text: string) =
    let dir = Directory.CreateTempSubdirectory("tndsl-layered-").FullName
    try
        let path = Path.Combine(dir, "net.tn")
        File.WriteAllText(path, text)
        load path []
    finally
        Directory.Delete(dir, true)

let private positions (layout: NetworkLayout) = layout.Positions |> Array.map (fun struct (x, y) -> x, y)

/// Whether segments p-q and r-s cross at a point inside both (meeting at an end does not count).
let private cross ((px, py), (qx, qy)) ((rx, ry), (sx, sy)) =
    let side (ax, ay) (bx, by) (cx, cy) = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    let apart u v = (u > 1e-6 && v < -1e-6) || (u < -1e-6 && v > 1e-6)
    apart (side (px, py) (qx, qy) (rx, ry)) (side (px, py) (qx, qy) (sx, sy))
    && apart (side (rx, ry) (sx, sy) (px, py)) (side (rx, ry) (sx, sy) (qx, qy))

/// The drawn lines of the bonds between two tensors (pixels, as the picture reports them), by bond name.
let private drawnLines (net: TnDsl.Api.NetworkView) =
    let struct (_, geometry) = NetworkPicture.Drawn(net, NetworkLayout.Of net, null)
    geometry.BondLines
    |> Seq.map (fun struct (name, points) -> name, points |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray)
    |> Seq.toArray

/// The pairs of bonds whose drawn lines cross.
let private crossings (net: TnDsl.Api.NetworkView) =
    let lines = drawnLines net
    [ for i in 0 .. lines.Length - 1 do
        for j in i + 1 .. lines.Length - 1 do
            let (a, l1), (b, l2) = lines[i], lines[j]
            if Array.pairwise l1 |> Array.exists (fun s -> Array.pairwise l2 |> Array.exists (cross s)) then
                yield a, b ]

/// Where a bond between two tensors is drawn in layout units: centre to centre, or straight down onto a bar.
let private segment (layout: NetworkLayout) (b: DrawnBond) =
    let pos = positions layout
    let p, q = pos[b.Tensors[0]], pos[b.Tensors[1]]
    if Seq.contains b.Tensors[0] layout.Bars then (fst q, snd p), q
    elif Seq.contains b.Tensors[1] layout.Bars then p, (fst p, snd q)
    else p, q

[<Theory>]
[<InlineData("layers/mera.tn")>]
[<InlineData("layers/tt-linear.tn")>]
[<InlineData("mpo-linear.tn")>]
[<InlineData("mera-classifier.tn")>]
let ``a network fed by inputs is drawn in layers with no two bonds crossing`` (file: string) =
    let net = example file
    Assert.Equal(LayoutKind.Layered, (NetworkLayout.Of net).Kind)
    Assert.Empty(crossings net)

[<Fact>]
let ``a larger MERA (four levels) is drawn without crossings too`` () =
    let net = load (Path.Combine(examplesDir, "layers", "mera.tn")) [ "L", "4" ]
    Assert.Equal(LayoutKind.Layered, (NetworkLayout.Of net).Kind)
    Assert.Equal(27, net.Tensors.Length)
    Assert.Empty(crossings net)

/// A MERA tensor's level as drawn: the disentanglers u of level l below its isometries w, below level l + 1.
let private rank (t: TnDsl.Api.TensorView) = 2 * t.Subscripts[0] + (if t.Family.EndsWith "w" then 1 else 0)

[<Theory>]
[<InlineData("layers/mera.tn", 3)>]
[<InlineData("layers/mera.tn", 4)>]
[<InlineData("mera-classifier.tn", 3)>]
let ``a MERA is drawn level by level: inputs lowest, each u row below its w row, the top w highest`` (file: string, levels: int) =
    let net = load (Path.Combine(examplesDir, file)) (if file.StartsWith "layers" then [ "L", string levels ] else [])
    let layout = NetworkLayout.Of net
    let pos = positions layout
    let y (t: int) : float = snd pos[t]
    let mera = net.Tensors |> Array.filter (fun t -> t.Family.EndsWith "u" || t.Family.EndsWith "w")
    // y grows downwards: a higher rank is higher up, and one rank shares one row.
    for a in mera do
        for b in mera do
            if rank a < rank b then Assert.True(y a.Id > y b.Id, sprintf "%s%A is not below %s%A" a.Family a.Subscripts b.Family b.Subscripts)
            elif rank a = rank b then Assert.Equal(y a.Id, y b.Id, 9)
    let top = mera |> Array.maxBy rank
    Assert.Equal(2 * (levels - 1) + 1, rank top)
    Assert.Equal(1, mera |> Array.filter (fun t -> rank t = rank top) |> Array.length)
    for t in net.Tensors do
        if t.IsInput then
            Assert.True(net.Tensors |> Array.forall (fun u -> u.IsInput || y u.Id < y t.Id), sprintf "input %s is not lowest" t.Name)
    // The one input of the layer is a bar; the classifier's eight inputs, one leg each, are points.
    let inputs = net.Tensors |> Array.filter (fun t -> t.IsInput)
    Assert.Equal(inputs.Length = 1, layout.Bars.Count = 1)

[<Theory>]
[<InlineData("layers/tt-linear.tn")>]
[<InlineData("mpo-linear.tn")>]
let ``a tensor train fed by its input: cores in one row in chain order, the input a bar below, bonds to it straight down, open legs up``
    (file: string) =
    let net = example file
    let layout = NetworkLayout.Of net
    let pos = positions layout
    let x = net.Tensors |> Array.find (fun t -> t.IsInput)
    let cores = net.Tensors |> Array.filter (fun t -> not t.IsInput) |> Array.sortBy (fun t -> t.Subscripts[0])
    Assert.Equal<int seq>([ x.Id ], layout.Bars)
    Assert.Equal(1, cores |> Array.map (fun t -> snd pos[t.Id]) |> Array.distinct |> Array.length)
    Assert.True(cores |> Array.forall (fun t -> snd pos[t.Id] < snd pos[x.Id]), "the input is not below every core")
    let xs = cores |> Array.map (fun t -> fst pos[t.Id])
    Assert.True(Array.pairwise xs |> Array.forall (fun (a, b) -> b - a >= 1.0 - 1e-9), sprintf "cores out of chain order: %A" xs)
    let lines = drawnLines net |> Map.ofArray
    for b in layout.Bonds |> Array.filter (fun b -> b.Tensors.Length = 2 && Array.contains x.Id b.Tensors) do
        let line = lines[b.Name]
        Assert.True(line |> Array.forall (fun (px, _) -> abs (px - fst line[0]) < 0.5), sprintf "bond %s to the input is not vertical" b.Name)
    for leg in layout.Bonds |> Array.filter (fun b -> b.Open && b.Tensors.Length = 1 && b.Tensors[0] <> x.Id) do
        Assert.Equal(Math.PI / 2.0, NetworkPicture.LegAngle(layout, leg), 6)

[<Theory>]
[<InlineData("layers/mera.tn")>]
[<InlineData("layers/tt-linear.tn")>]
[<InlineData("mpo-linear.tn")>]
[<InlineData("mera-classifier.tn")>]
let ``in layers no bond passes through a tensor it does not join, and the size labels are apart and in the picture`` (file: string) =
    let net = example file
    let layout = NetworkLayout.Of net
    let pos = positions layout
    for b in layout.Bonds |> Array.filter (fun b -> b.Tensors.Length = 2) do
        let (ax, ay), (bx, by) = segment layout b
        for t in 0 .. pos.Length - 1 do
            if not (Array.contains t b.Tensors) && not (Seq.contains t layout.Bars) then
                let px, py = pos[t]
                let dx, dy = bx - ax, by - ay
                let f = if dx * dx + dy * dy < 1e-12 then 0.0 else max 0.0 (min 1.0 (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
                let d = sqrt ((ax + f * dx - px) ** 2.0 + (ay + f * dy - py) ** 2.0)
                Assert.True(d >= 0.25, sprintf "%s: bond %s passes %.2f from tensor %d" file b.Name d t)
    let struct (_, geometry) = NetworkPicture.Drawn(net, layout, null)
    let struct (width, height) = NetworkPicture.SizeFor layout
    let boxes = geometry.LabelBoxes |> Seq.map (fun struct (l, t, r, b) -> l, t, r, b) |> Seq.toArray
    Assert.Equal(layout.Bonds |> Array.filter (fun b -> not b.Wide) |> Array.length, boxes.Length)
    for l, t, r, b in boxes do
        Assert.True(l >= 0.0 && t >= 0.0 && r <= float width && b <= float height, sprintf "%s: a label at (%.0f, %.0f) is outside the picture" file l t)
    for i in 0 .. boxes.Length - 1 do
        for j in i + 1 .. boxes.Length - 1 do
            let l1, t1, r1, b1 = boxes[i]
            let l2, t2, r2, b2 = boxes[j]
            Assert.False(min r1 r2 > max l1 l2 && min b1 b2 > max t1 t2, sprintf "%s: label boxes %d and %d overlap" file i j)

[<Fact>]
let ``an MPO on an MPS fed by its input: each chain one row, the MPS below the MPO`` () =
    let net =
        written """
network two_rows(n: int = 5) {
  index batch: dynamic(100)
  index p[i]: 2 for i in 0..n-1
  index a[i]: 3 for i in 1..n-1
  index b[i]: 4 for i in 1..n-1
  index q[i]: 2 for i in 0..n-1
  index o[i]: 2 for i in 0..n-1
  input x: (batch, p[0..n-1])
  weight A[i]: (a[i] if i > 0, p[i], q[i], a[i+1] if i < n-1) for i in 0..n-1 init auto
  weight B[i]: (b[i] if i > 0, q[i], o[i], b[i+1] if i < n-1) for i in 0..n-1 init auto
  output (batch, o[0..n-1])
}"""
    let layout = NetworkLayout.Of net
    Assert.Equal(LayoutKind.Layered, layout.Kind)
    let pos = positions layout
    let row family = net.Tensors |> Array.filter (fun t -> t.Family = family) |> Array.map (fun t -> snd pos[t.Id]) |> Array.distinct
    let x = net.Tensors |> Array.find (fun t -> t.IsInput)
    Assert.Equal(1, (row "A").Length)
    Assert.Equal(1, (row "B").Length)
    Assert.True(snd pos[x.Id] > (row "A")[0] && (row "A")[0] > (row "B")[0])
    Assert.Empty(crossings net)

[<Fact>]
let ``a ring fed by its input keeps the force layout: in rows its closing bond would pass through the ring`` () =
    let net =
        written """
network ring_fed(n: int = 6) {
  index batch: dynamic(100)
  index p[i]: 2 for i in 0..n-1
  index r[i]: 3 for i in 0..n-1
  input x: (batch, p[0..n-1])
  weight A[i]: (r[i], p[i], r[(i+1) % n]) for i in 0..n-1 init auto
  output (batch)
}"""
    let layout = NetworkLayout.Of net
    Assert.Equal(LayoutKind.Force, layout.Kind)
    Assert.Empty(layout.Bars)

[<Fact>]
let ``every example keeps the layout it had, except the four fed by inputs that were drawn by force`` () =
    let expected =
        [ "born-machine.tn", LayoutKind.Grid
          "convac.tn", LayoutKind.Tree
          "grid.tn", LayoutKind.Grid
          "mera-classifier.tn", LayoutKind.Layered
          "mera.tn", LayoutKind.Layers
          "mpo-kernel.tn", LayoutKind.Layered // a grid before, its x[s]-W[s] bonds drawn through y[s]
          "mpo-linear.tn", LayoutKind.Layered
          "mps.tn", LayoutKind.Chain
          "peps.tn", LayoutKind.Grid
          "qcnn.tn", LayoutKind.Tree
          "ttn.tn", LayoutKind.Layers
          "layers/convac.tn", LayoutKind.Tree
          "layers/mera.tn", LayoutKind.Layered
          "layers/mps.tn", LayoutKind.Grid
          "layers/peps.tn", LayoutKind.Grid
          "layers/tt-linear.tn", LayoutKind.Layered
          "layers/ttn.tn", LayoutKind.Tree ]
    let files =
        [ for dir in [ examplesDir; Path.Combine(examplesDir, "layers") ] do
            for f in Directory.GetFiles(dir, "*.tn") do
                yield Path.GetRelativePath(examplesDir, f).Replace('\\', '/') ]
    Assert.Equal<string>(expected |> List.map fst |> List.sort, files |> List.sort)
    for file, kind in expected do
        let layout = NetworkLayout.Of(example file)
        Assert.True((kind = layout.Kind), sprintf "%s: %A layout, expected %A" file layout.Kind kind)
        if kind <> LayoutKind.Layered then Assert.Empty(layout.Bars)

[<Theory>]
[<InlineData("")>]
[<InlineData("  index c[i]: 2 for i in 0..n/2-1\n")>]
let ``a ring of one family (a periodic MPS) is not drawn in a row: its closing bond would pass through every tensor``
    (chords: string) =
    // Drawn in one row before, with b[0] (and each chord c[i], when there are chords) along the row, hidden.
    let chordLegs = if chords = "" then "" else ", c[i] if i < n/2, c[i-n/2] if i >= n/2"
    let net =
        written (
            "network ring(n: int = 8) {\n" +
            "  index p[i]: 2 for i in 0..n-1\n" +
            "  index b[i]: 4 for i in 0..n-1\n" + chords +
            sprintf "  weight A[i]: (b[i], p[i], b[(i+1) %% n]%s) for i in 0..n-1 init normal(0, 0.3)\n" chordLegs +
            "  output (p[0..n-1])\n}")
    let layout = NetworkLayout.Of net
    Assert.Equal(LayoutKind.Force, layout.Kind)
    let pos = positions layout
    let a t = net.Tensors |> Array.findIndex (fun u -> u.Subscripts[0] = t)
    // The closing bond between A[n-1] and A[0] is drawn apart from the other tensors.
    let (ax, ay), (bx, by) = pos[a 7], pos[a 0]
    for t in 1 .. 6 do
        let px, py = pos[a t]
        let dx, dy = bx - ax, by - ay
        let f = max 0.0 (min 1.0 (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        let d = sqrt ((ax + f * dx - px) ** 2.0 + (ay + f * dy - py) ** 2.0)
        Assert.True(d >= 0.25, sprintf "b[0] passes %.2f from A[%d]" d t)
