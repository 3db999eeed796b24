/// `tn draw` past 100 tensors, past ten families and on lattices: a force layout of 300 tensors was capped at
/// 2400 x 2000 pixels with its tensors 14 pixels apart, so that its bonds ran through markers of 11; the palette's
/// eleventh family looked like its first; examples/peps.tn's T[x, y] had x down the rows.
module TnDsl.Cli.Tests.DrawScaleTests

open System
open System.Collections.Generic
open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support

/// A connected random graph of n tensors from a seed: a random tree and n/2 bonds more, an open leg each; tensor v is
/// of family `F{v % families}` (one family `T` when families is 1).
let private random (n: int) (families: int) (seed: int) =
    let family v = if families = 1 then "T" else sprintf "F%d" (v % families)
    loadText (graphText (sprintf "random%d" n) n (randomEdges (Random seed) n (fun () -> n / 2)) 4 (fun v -> sprintf "%s[%d]" (family v) v))

let private example (file: string) (sets: (string * string) list) =
    let sets = ResizeArray(sets |> List.map (fun (k, v) -> KeyValuePair(k, v)))
    TnDsl.Api.Frontend.Load(Path.Combine(examplesDir, file), sets, null)

[<Fact>]
let ``past 100 tensors the markers stay apart and every bond clear of the markers it passes, in pixels`` () =
    let networks =
        [ "random graph of 300", random 300 1 7
          "random graph of 150", random 150 1 3
          "mera at L = 7 (247 tensors)", example "mera.tn" [ "L", "7" ]
          "20 x 20 peps", example "peps.tn" [ "Lx", "20"; "Ly", "20" ]
          "mps of 800", example "mps.tn" [ "n", "800" ] ]
    for name, net in networks do
        let layout = NetworkLayout.Of net
        let struct (width, height) = NetworkPicture.SizeFor layout
        Assert.True(width <= NetworkPicture.MaxWidth && height <= NetworkPicture.MaxHeight, sprintf "%s: %dx%d" name width height)
        let struct (_, geometry) = NetworkPicture.Drawn(net, layout, null)
        let r = geometry.TensorRadius
        Assert.True(r >= 2.0, sprintf "%s: markers of radius %.1f px" name r)
        let centres = geometry.Tensors |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray
        // Every marker whole and apart from the others, with a gap of 2 pixels.
        let closest =
            [ for a in 0 .. centres.Length - 1 do
                for b in a + 1 .. centres.Length - 1 -> ClearanceTests.distance centres[a] (centres[b], centres[b]) ] |> List.min
        Assert.True(closest >= 2.0 * r + 2.0, sprintf "%s: two markers of radius %.1f px are %.1f px apart" name r closest)
        let joined = layout.Bonds |> Array.map (fun b -> b.Name, b.Tensors) |> Map.ofArray
        let lines =
            [ for struct (bond, points) in geometry.BondLines -> bond, points |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray ]
            @ [ for struct (bond, _, struct (fx, fy), struct (hx, hy)) in geometry.HubLines -> bond, [| fx, fy; hx, hy |] ]
        for bond, points in lines do
            for t in 0 .. centres.Length - 1 do
                if not (Array.contains t joined[bond]) && not (Seq.contains t layout.Bars) then
                    let d = Array.pairwise points |> Array.map (ClearanceTests.distance centres[t]) |> Array.min
                    Assert.True(d >= r + 2.0, sprintf "%s (%A layout): bond %s is drawn %.1f px from tensor %d's centre (radius %.1f)" name layout.Kind bond d t r)

[<Fact>]
let ``a picture too large to read says it is an overview`` () =
    // 10,000 sites of a chain: 357 rows of 28 at most 3600 pixels high, 9 pixels a row.
    let net = example "mps.tn" [ "n", "10000" ]
    let layout = NetworkLayout.Of net
    Assert.True(NetworkPicture.PixelsPerUnit layout < NetworkPicture.Overview)
    let struct (_, geometry) = NetworkPicture.Drawn(net, layout, null)
    Assert.Contains("overview", geometry.Title)
    Assert.DoesNotContain("overview", (let struct (_, g) = NetworkPicture.Drawn(example "mps.tn" [], NetworkLayout.Of(example "mps.tn" []), null) in g.Title))

[<Fact>]
let ``no two of 45 families look alike: forty looks by colour and style, the rest named on their tensors`` () =
    let looks = [ for k in 0 .. 10 * NetworkPicture.Styles - 1 -> NetworkPicture.LookOf k ]
    Assert.Equal(looks.Length, looks |> List.distinct |> List.length)
    // In the picture: 45 families of 4 or 5 tensors (200 tensors, too many to name each), in the legend by their looks.
    let net = random 200 45 11
    let plot = NetworkPicture.Network(net, NetworkLayout.Of net, null)
    let items = plot.Legend.ManualItems |> Seq.filter (fun i -> i.LabelText.StartsWith "F") |> Seq.toArray
    Assert.Equal(45, items.Length)
    let seen =
        items
        |> Array.map (fun i ->
            let outlined = i.MarkerStyle.OutlineWidth > 0.0f
            i.MarkerShape, i.MarkerFillColor, (if outlined then Some i.MarkerStyle.OutlineColor else None))
    for a in 0 .. items.Length - 1 do
        for b in a + 1 .. items.Length - 1 do
            if seen[a] = seen[b] then
                // A look shared past forty families: the later family is named on its tensors.
                Assert.True(b >= 40 && items[b].LabelText.Contains "named on its tensors",
                            sprintf "%s and %s look alike" items[a].LabelText items[b].LabelText)
    Assert.Equal(5, items |> Array.filter (fun i -> i.LabelText.Contains "named on its tensors") |> Array.length)

[<Fact>]
let ``a lattice's T[x, y] is drawn x across and y down; a MERA's or a tree's [level, position] keeps the level as the row`` () =
    let at (net: TnDsl.Api.NetworkView) (layout: NetworkLayout) family (subs: int list) =
        let t = net.Tensors |> Array.find (fun t -> t.Family = family && List.ofArray t.Subscripts = subs)
        let struct (x, y) = layout.Positions[t.Id]
        x, y
    for file, sets in [ "peps.tn", [ "Lx", "6" ]; "peps.tn", []; "grid.tn", []; "layers/peps.tn", [ "Lx", "5" ] ] do
        let net = example file sets
        let layout = NetworkLayout.Of net
        let x0, y0 = at net layout "T" [ 0; 0 ]
        let x1, y1 = at net layout "T" [ 1; 0 ]
        let x2, y2 = at net layout "T" [ 0; 1 ]
        Assert.True(x1 > x0 && abs (y1 - y0) < 1e-9, sprintf "%s: T[1, 0] at (%g, %g), T[0, 0] at (%g, %g)" file x1 y1 x0 y0)
        Assert.True(y2 > y0 && abs (x2 - x0) < 1e-9, sprintf "%s: T[0, 1] at (%g, %g), T[0, 0] at (%g, %g)" file x2 y2 x0 y0)
    // Levels: ttn's T[1, j] one row, left to right; mera's u[0, j] likewise.
    for file, family, first, second in [ "ttn.tn", "T", [ 1; 0 ], [ 1; 1 ]; "mera.tn", "u", [ 0; 0 ], [ 0; 1 ] ] do
        let net = example file []
        let layout = NetworkLayout.Of net
        let x0, y0 = at net layout family first
        let x1, y1 = at net layout family second
        Assert.True(x1 > x0 && abs (y1 - y0) < 1e-9, sprintf "%s: %s's level is not a row" file family)
