module TnDsl.Tests.CrossBoundTests

// Proposition 4 (bench/results/planner.md, "Session 17 (s17-rows)"): on the closed L x L lattice (L even, bonds of
// size D, limit D^m) every plan whose tree has the four quadrants as nodes and slices only bonds between quadrants
// executes at least 4 D^(2L - m + 1) flops in every loop order. Checked here on the 4 x 4 lattice against the
// executed flops of such plans in their best loop order (exact up to 12 sliced indices).

open System
open System.Numerics
open Xunit
open TnDsl

/// A random pairwise tree over the given leaves, as a shape.
let private randomShape (rng: Random) (leaves: int list) =
    let live = ResizeArray(leaves |> List.map Leaf)
    while live.Count > 1 do
        let a = live[rng.Next live.Count]
        live.Remove a |> ignore
        let b = live[rng.Next live.Count]
        live.Remove b |> ignore
        live.Add(Sweep [ a; b ])
    live[0]

[<Fact>]
let ``every cross of the 4x4 lattice sliced on its arms executes at least 4 D^(2L - m + 1) in its best loop order`` () =
    let side, h = 4, 2
    let mutable checkedPlans = 0
    let mutable tightest = Double.PositiveInfinity
    for bond in [ 2; 3 ] do
        let p = TnDsl.Tests.Support.benchLattice side side (int64 bond)
        let id (name: string) = Array.IndexOf(p.IndexNames, name)
        let arms = [| for r in 0 .. side - 1 -> id (sprintf "h%d_%d" r (h - 1)) |] |> Array.append [| for c in 0 .. side - 1 -> id (sprintf "v%d_%d" (h - 1) c) |]
        let quadrant qr qc = [ for r in 0 .. h - 1 do for c in 0 .. h - 1 -> (qr * h + r) * side + qc * h + c ]
        let quadrants = [| quadrant 0 0; quadrant 0 1; quadrant 1 0; quadrant 1 1 |]
        let rng = Random(17)
        for m in 1 .. 3 do
            let limit = BigInteger.Pow(BigInteger bond, m)
            let bound = BigInteger 4 * BigInteger.Pow(BigInteger bond, 2 * side - m + 1)
            for mask in 1 .. (1 <<< arms.Length) - 1 do
                let sliced = [| for k in 0 .. arms.Length - 1 do if mask &&& (1 <<< k) <> 0 then yield arms[k] |]
                for _ in 1 .. 10 do
                    let q = quadrants |> Array.map (randomShape rng)
                    for shape in [ Sweep [ Sweep [ q[0]; q[1] ]; Sweep [ q[2]; q[3] ] ]
                                   Sweep [ Sweep [ q[0]; q[2] ]; Sweep [ q[1]; q[3] ] ]
                                   Sweep [ q[0]; q[1]; q[3]; q[2] ] ] do
                        let t = ContractionTree.ofShape p.Inputs.Length shape
                        let f = PlanSlice.figures p t sliced
                        if f.LargestIntermediate <= limit then
                            checkedPlans <- checkedPlans + 1
                            Assert.True(f.Flops >= bound, sprintf "D=%d m=%d sliced %A: %A < %A" bond m sliced f.Flops bound)
                            tightest <- min tightest (float f.Flops / float bound)
    // Plans within the limit exist (366 of the 45,900 built), and the bound is not far below the cheapest of them
    // (6.3x when written).
    Assert.True(checkedPlans > 300, sprintf "only %d plans fit" checkedPlans)
    Assert.True(tightest < 8.0, sprintf "the closest plan is %.2f x the bound" tightest)
