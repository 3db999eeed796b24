/// `tn draw --plan` past a few hundred leaves: the contraction tree was capped at 2400 x 700 pixels whatever its size,
/// so that a 16 x 16 grid's 256 leaves sat 9 pixels apart under markers of 8 (a black bar), a MERA of 247 leaves was
/// unnamed, a 784-site MPS's 783 levels shared 600 pixels, and the title said every step was labelled with its flops
/// where none was.
module TnDsl.Cli.Tests.PlanTreeDrawTests

open System
open System.Collections.Generic
open System.IO
open Xunit
open TnDsl.Cli.Drawing
open TnDsl.Tests.Support

let private example (file: string) (sets: (string * string) list) =
    let sets = ResizeArray(sets |> List.map (fun (k, v) -> KeyValuePair(k, v)))
    TnDsl.Api.Frontend.Load(Path.Combine(examplesDir, file), sets, null)

let private tree (net: TnDsl.Api.NetworkView) =
    let plan = TnDsl.Planner.Plan(net, "greedy", Nullable(), 0)
    let struct (_, geometry) = NetworkPicture.DrawnTree(plan, net.Name, "greedy")
    plan, geometry

let private points (ps: IReadOnlyList<struct (float * float)>) = ps |> Seq.map (fun struct (x, y) -> x, y) |> Seq.toArray

/// Every marker whole inside the data area and clear of every other marker.
let private apart (name: string) (g: NetworkPicture.TreeGeometry) =
    let struct (left, top, right, bottom) = g.Data
    let markers = Array.append (points g.Leaves |> Array.map (fun p -> p, g.LeafRadius)) (points g.Steps |> Array.map (fun p -> p, g.StepRadius))
    for (x, y), r in markers do
        Assert.True(x - r >= left && x + r <= right && y - r >= top && y + r <= bottom,
                    sprintf "%s: a marker at (%.1f, %.1f) radius %.1f leaves the data area %A" name x y r g.Data)
    let sorted = markers |> Array.sortBy (fun ((x, _), _) -> x)
    for i in 0 .. sorted.Length - 1 do
        let mutable j = i + 1
        while j < sorted.Length && fst (fst sorted[j]) - fst (fst sorted[i]) < 30.0 do
            let ((xa, ya), ra), ((xb, yb), rb) = sorted[i], sorted[j]
            let d = sqrt ((xa - xb) ** 2.0 + (ya - yb) ** 2.0)
            Assert.True(d >= ra + rb, sprintf "%s: markers of radius %.1f and %.1f are %.1f px apart" name ra rb d)
            j <- j + 1

[<Fact>]
let ``a tree of hundreds of leaves takes up to 4000 x 3600 pixels, its markers apart and inside the frame, its leaves named where they fit`` () =
    for name, net, named in
        [ "16 x 16 grid", example "grid.tn" [ "L", "16" ], true
          "mera at L = 7", example "mera.tn" [ "L", "7" ], true
          "mps of 1000", example "mps.tn" [ "n", "1000" ], false ] do
        let plan, g = tree net
        Assert.True(g.Width <= NetworkPicture.MaxWidth && g.Height <= NetworkPicture.MaxHeight, sprintf "%s: %dx%d" name g.Width g.Height)
        // Past the old cap of 2400 pixels across: 28 a leaf while they fit.
        Assert.True(g.Width > 2400, sprintf "%s: %d leaves in %d px" name plan.LeafCount g.Width)
        Assert.Equal(plan.LeafCount, g.Leaves.Count)
        Assert.Equal(plan.TreeSteps.Count, g.Steps.Count)
        apart name g
        Assert.True(g.StepRadius >= 1.0 && g.LeafRadius >= 1.0, sprintf "%s: markers of radius %.1f and %.1f" name g.StepRadius g.LeafRadius)
        Assert.Equal(named, g.LeavesNamed)
        Assert.Equal(named, g.PixelsPerLeaf >= NetworkPicture.LeafRoom)
        if named then Assert.DoesNotContain("overview", g.Title) else Assert.Contains("overview: the leaves", g.Title)

[<Fact>]
let ``a tall tree grows downwards to 3600 pixels, its levels apart`` () =
    // The Born machine's 784 sites and inputs: a greedy tree hundreds of levels tall.
    let plan, g = tree (example "born-machine.tn" [])
    Assert.Equal(NetworkPicture.MaxHeight, g.Height)
    Assert.True(g.PixelsPerLevel >= 4.0, sprintf "%.1f px a level" g.PixelsPerLevel)
    Assert.Contains("overview", g.Title)
    apart "born machine" g

[<Fact>]
let ``each step's flops label is drawn where every label fits clear of the others and of the markers, and the title says which`` () =
    let _, small = tree (example "peps.tn" [])
    Assert.True(small.LeavesNamed)
    Assert.Equal(small.Steps.Count, small.LabelBoxes.Count)
    Assert.Contains("each step labelled with its flops", small.Title)
    let struct (left, top, right, bottom) = small.Data
    let boxes = small.LabelBoxes |> Seq.map (fun struct (l, t, r, b) -> l, t, r, b) |> Seq.toArray
    for l, t, r, b in boxes do
        Assert.True(l >= left && r <= right && t >= top && b <= bottom, sprintf "a label box %A outside %A" (l, t, r, b) small.Data)
    for i in 0 .. boxes.Length - 1 do
        for j in i + 1 .. boxes.Length - 1 do
            let (l1, t1, r1, b1), (l2, t2, r2, b2) = boxes[i], boxes[j]
            Assert.False(l1 < r2 && l2 < r1 && t1 < b2 && t2 < b1, sprintf "labels %A and %A overlap" boxes[i] boxes[j])
    // 255 steps on a 16 x 16 grid: too close to label, and the title does not claim it.
    let _, large = tree (example "grid.tn" [ "L", "16" ])
    Assert.Empty(large.LabelBoxes)
    Assert.DoesNotContain("labelled", large.Title)
    Assert.Contains("each step coloured by its flops", large.Title)
