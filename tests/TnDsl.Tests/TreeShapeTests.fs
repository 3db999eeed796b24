module TnDsl.Tests.TreeShapeTests

open Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// Hand-written trees (`TreeShape`, `ContractionTree.ofShape`) and the lattice constructions of planner.md's
// "Session 11 (s11-sixteen)": halves joined last, every bond between them sliced.

[<Fact>]
let ``a sweep of leaves is the caterpillar that joins them left to right`` () =
    let t = ContractionTree.ofShape 4 (Sweep [ Leaf 2; Leaf 0; Leaf 3; Leaf 1 ])
    Assert.Equal<int array array>([| [| 2; 0 |]; [| 4; 3 |]; [| 5; 1 |] |], t.Steps)
    Assert.True((ContractionTree.validate t).IsOk)

[<Fact>]
let ``nested sweeps build their parts first, then join them in order`` () =
    let t = ContractionTree.ofShape 5 (Sweep [ Sweep [ Leaf 0; Leaf 1 ]; Sweep [ Leaf 2; Leaf 3 ]; Leaf 4 ])
    Assert.Equal<int array array>([| [| 0; 1 |]; [| 2; 3 |]; [| 5; 6 |]; [| 7; 4 |] |], t.Steps)
    Assert.True((ContractionTree.validate t).IsOk)

/// The 6 × 6 lattice with D = 2; its top half (rows 0–2) and bottom half (rows 3–5), each swept by columns from
/// both ends (split after column `k`) or from one end (k = 5), joined last; the sliced set is the six bonds
/// v2_c between the halves (PolishWindowsTests and HopTests polish the k = 2 tree).
let halves k =
    let p = lattice 6 6 2
    let leaf r c = Leaf(r * 6 + c)
    let columns (cols: int list) (rows: int list) = Sweep [ for c in cols do for r in rows -> leaf r c ]
    let half rows = if k >= 5 then columns [ 0 .. 5 ] rows else Sweep [ columns [ 0 .. k ] rows; columns [ 5 .. -1 .. k + 1 ] rows ]
    let t = ContractionTree.ofShape 36 (Sweep [ half [ 0 .. 2 ]; half [ 3 .. 5 ] ])
    let cut = [| for c in 0 .. 5 -> System.Array.IndexOf(p.IndexNames, sprintf "v2%d" c) |]
    p, t, cut

[<Fact>]
let ``slicing every bond between two halves joined last wastes nothing but the loop order`` () =
    for k in [ 2; 5 ] do
        let p, t, cut = halves k
        Assert.True((ContractionTree.validate t).IsOk)
        // No sliced bond dies inside a half: the order-free bound (b) is the tree's own unsliced flops.
        Assert.Equal((Cost.report p t).Flops, SliceBound.leastExecuted p t cut)
        let s = PlanSlice.figures p t cut
        Assert.True(s.Flops >= (Cost.report p t).Flops)
        // One slice keeps the three horizontal bonds of a column sweep and one vertical bond at most.
        Assert.True(s.LargestIntermediate <= System.Numerics.BigInteger 16)

[<Fact>]
let ``swept from one end the halves' dependencies chain, from both ends they cannot`` () =
    let p, t, cut = halves 5
    Assert.Equal((Cost.report p t).Flops, (PlanSlice.figures p t cut).Flops)
    // Split after column 2: the left parts depend on v2_0..v2_2, the right parts on v2_3..v2_5; whichever
    // comes inner in the loop order reruns for every value of the other three (Session 9's (c)).
    let p, t, cut = halves 2
    let executed = (PlanSlice.figures p t cut).Flops
    Assert.True(executed > (Cost.report p t).Flops)
    for order in [ cut; Array.rev cut; Array.append cut[3..] cut[..2] ] do
        Assert.True(PlanSlice.executedFlops p t order >= executed)
