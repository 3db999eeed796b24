/// `tn draw`'s geometry: a title that fits its picture, a PEPS's inputs off the bonds between its rows, a wrapped chain
/// with short bonds only (a snake), and bond size labels that never cover each other.
module TnDsl.Cli.Tests.DrawGeometryTests

open System
open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support

let private load (path: string) =
    TnDsl.Api.Frontend.Load(path, ResizeArray<Collections.Generic.KeyValuePair<string, string>>(), null)

let private example (file: string) = load (Path.Combine(examplesDir, file))

/// Draws the network as `tn draw` does (no cut), for the geometry the picture reports.
let private draw (net: TnDsl.Api.NetworkView) =
    let struct (_, geometry) = NetworkPicture.Drawn(net, NetworkLayout.Of net, null)
    geometry

let private allExamples =
    [ for dir in [ examplesDir; Path.Combine(examplesDir, "layers") ] do
        for f in Directory.GetFiles(dir, "*.tn") |> Array.sort do
            yield Path.GetRelativePath(examplesDir, f) ]

[<Fact>]
let ``every example's title fits the picture's width (layers/peps's was cut off at the left)`` () =
    for file in allExamples do
        let g = draw (example file)
        let width, room = g.TitleWidth, g.TitleRoom
        Assert.True(width > 0.0 && width <= room, sprintf "%s: title %.0f px wide, room %.0f px" file width room)

[<Fact>]
let ``a title too long for one line wraps (or shrinks) to fit`` () =
    let dir = Directory.CreateTempSubdirectory("tndsl-draw-").FullName
    try
        let name = String.replicate 6 "a_rather_long_network_name_"
        let path = Path.Combine(dir, "long.tn")
        File.WriteAllText(path, File.ReadAllText(Path.Combine(examplesDir, "layers", "peps.tn")).Replace("peps_layer", name))
        let g = draw (load path)
        let width, room = g.TitleWidth, g.TitleRoom
        Assert.True(width <= room, sprintf "title %.0f px wide, room %.0f px" width room)
    finally
        Directory.Delete(dir, true)

/// The distance from point p to the segment a-b.
let private toSegment (px: float, py: float) (ax: float, ay: float) (bx: float, by: float) =
    let dx, dy = bx - ax, by - ay
    let t = if dx * dx + dy * dy < 1e-12 then 0.0 else max 0.0 (min 1.0 (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    sqrt ((px - ax - t * dx) ** 2.0 + (py - ay - t * dy) ** 2.0)

let private positions (layout: NetworkLayout) = layout.Positions |> Array.map (fun struct (x, y) -> x, y)

/// The smallest distance between two tensors: the picture's unit (markers are drawn at a fixed fraction of it).
let private unit (pos: (float * float)[]) =
    [ for a in 0 .. pos.Length - 1 do
        for b in a + 1 .. pos.Length - 1 do
            let d = sqrt ((fst pos[a] - fst pos[b]) ** 2.0 + (snd pos[a] - snd pos[b]) ** 2.0)
            if d > 1e-9 then yield d ] |> List.min

[<Theory>]
[<InlineData("layers/peps.tn")>]
[<InlineData("peps.tn")>]
[<InlineData("grid.tn")>]
[<InlineData("layers/mps.tn")>]
[<InlineData("mpo-kernel.tn")>]
let ``no bond is drawn through a tensor it does not join`` (file: string) =
    let layout = NetworkLayout.Of(example file)
    let pos = positions layout
    let clearance = 0.25 * unit pos
    for b in layout.Bonds |> Array.filter (fun b -> b.Tensors.Length = 2) do
        for t in 0 .. pos.Length - 1 do
            if not (Array.contains t b.Tensors) then
                let d = toSegment pos[t] pos[b.Tensors[0]] pos[b.Tensors[1]]
                Assert.True(d >= clearance, sprintf "%s: bond %s passes %.2f from tensor %d" file b.Name d t)

[<Fact>]
let ``a wrapped chain (the Born machine's 784 sites) is a snake: every bond short, none through a tensor`` () =
    let layout = NetworkLayout.Of(example "born-machine.tn")
    Assert.Equal(LayoutKind.Grid, layout.Kind)
    let pos = positions layout
    let bonds = layout.Bonds |> Array.filter (fun b -> b.Tensors.Length = 2)
    let length (b: DrawnBond) =
        let (ax, ay), (bx, by) = pos[b.Tensors[0]], pos[b.Tensors[1]]
        sqrt ((ax - bx) ** 2.0 + (ay - by) ** 2.0)
    // A grid step is 1; a row turns into the next block 3.6 rows down when wrapped (before: 27 steps across).
    for b in bonds do
        Assert.True(length b <= 3.0, sprintf "bond %s is %.1f grid steps long" b.Name (length b))
    // The bonds where the snake turns pass beside the inputs of the turning column, not through them.
    for b in bonds |> Array.filter (fun b -> abs (snd pos[b.Tensors[0]] - snd pos[b.Tensors[1]]) > 1.5) do
        for t in 0 .. pos.Length - 1 do
            if not (Array.contains t b.Tensors) then
                let d = toSegment pos[t] pos[b.Tensors[0]] pos[b.Tensors[1]]
                Assert.True(d >= 0.25, sprintf "bond %s passes %.2f from tensor %d" b.Name d t)

[<Theory>]
[<InlineData("layers/ttn.tn")>]
[<InlineData("layers/mera.tn")>]
[<InlineData("mera.tn")>]
[<InlineData("peps.tn")>]
let ``no two bond size labels overlap`` (file: string) =
    let boxes = (draw (example file)).LabelBoxes |> Seq.toArray
    Assert.NotEmpty boxes
    for i in 0 .. boxes.Length - 1 do
        for j in i + 1 .. boxes.Length - 1 do
            let struct (l1, t1, r1, b1) = boxes[i]
            let struct (l2, t2, r2, b2) = boxes[j]
            let overlaps = min r1 r2 > max l1 l2 && min b1 b2 > max t1 t2
            Assert.False(overlaps, sprintf "%s: label boxes %d and %d overlap" file i j)

[<Fact>]
let ``a network past 10,000 tensors is refused at once, not laid out for minutes into a grey block`` () =
    let dir = Directory.CreateTempSubdirectory("tndsl-draw-").FullName
    try
        let out = Path.Combine(dir, "big.png")
        let mps = Path.Combine(examplesDir, "mps.tn")
        TnDsl.Cli.Tests.CliTests.assertRefused [ "10,001 tensors"; "10,000"; "--set" ]
            (TnDsl.Cli.Tests.CliTests.tn [ "draw"; mps; "--set"; "n=10001"; "-o"; out ])
        Assert.False(File.Exists out)
        TnDsl.Cli.Tests.CliTests.assertRefused [ "10,001 tensors" ]
            (TnDsl.Cli.Tests.CliTests.tn [ "draw"; mps; "--set"; "n=10001"; "--plan"; "-o"; out ])
    finally
        Directory.Delete(dir, true)

[<Fact>]
let ``a cut of one bond is titled "1 bond severed"`` () =
    let dir = Directory.CreateTempSubdirectory("tndsl-draw-").FullName
    try
        let out = Path.Combine(dir, "cut.svg")
        let code, _, err = TnDsl.Cli.Tests.CliTests.tn [ "draw"; Path.Combine(examplesDir, "mps.tn"); "--cut"; "half"; "-o"; out ]
        Assert.True((code = 0), err)
        let svg = File.ReadAllText out
        Assert.Contains("cut half: 1 bond severed", svg)
        Assert.DoesNotContain("1 bonds", svg)
    finally
        Directory.Delete(dir, true)
