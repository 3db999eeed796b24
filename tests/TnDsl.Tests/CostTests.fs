module TnDsl.Tests.CostTests

open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl

/// Builds and indexes a problem from einsum text and shapes, failing the test on a diagnostic.
let indexed spec shapes =
    match Einsum.toProblem spec shapes |> Result.bind (Problem.index Range.none) with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds

let worked () = indexed "ab,bc,cd,de->ae" "10x20,20x30,30x40,40x50"

[<Fact>]
let ``worked example: naive 48,000,000 flops, best 76,000, largest intermediate 500`` () =
    let p = worked ()
    let r = Plan.run "optimal" PlanOptions.defaults p
    let c = r.Cost.Value
    Assert.Equal(BigInteger 48000000, c.NaiveFlops)
    Assert.Equal(BigInteger 76000, c.Flops)
    Assert.Equal(BigInteger 500, c.LargestIntermediate)

[<Fact>]
let ``the left-to-right chain of the worked example costs 12,000 + 24,000 + 40,000`` () =
    let p = worked ()
    // ab·bc over abc (6,000) summing b: 12,000; ac·cd over acd: 24,000; ad·de over ade: 40,000.
    let t = ContractionTree.ofSsa 4 [| [| 0; 1 |]; [| 4; 2 |]; [| 5; 3 |] |]
    let steps = Cost.steps p t
    Assert.Equal<BigInteger list>([ BigInteger 12000; BigInteger 24000; BigInteger 40000 ], steps |> Array.map (fun s -> s.Flops) |> List.ofArray)
    Assert.Equal(BigInteger 76000, Cost.flops p t)
    // opt_einsum's linear form of the same path.
    Assert.Equal<int array array>([| [| 0; 1 |]; [| 0; 2 |]; [| 0; 1 |] |], ContractionTree.toLinear t)

[<Fact>]
let ``the naive tree costs the naive flops`` () =
    let p = worked ()
    Assert.Equal(Cost.naiveFlops p, Cost.flops p (ContractionTree.naive 4))

[<Fact>]
let ``naive flops follow opt_einsum: no inner-product term when no index is shared`` () =
    // opt_einsum: flop_count(all indices, inner = some index on two inputs, n terms): a,b-> is 2·3·1 = 6.
    Assert.Equal(BigInteger 6, Cost.naiveFlops (indexed "a,b->" "2,3"))
    Assert.Equal(BigInteger 12, Cost.naiveFlops (indexed "ab,b->" "2x3,3"))
    Assert.Equal(BigInteger 6, Cost.naiveFlops (indexed "ab->" "2x3"))

[<Fact>]
let ``a hyperindex on three tensors is summed only when its last carriers meet`` () =
    let p = indexed "i,i,i->" "3,3,3"
    let t = ContractionTree.ofSsa 3 [| [| 0; 1 |]; [| 3; 2 |] |]
    let steps = Cost.steps p t
    // First step keeps i (the third tensor still has it): 3 × 1; the second sums it: 3 × 2.
    Assert.Empty(steps[0].Summed)
    Assert.Equal(BigInteger 3, steps[0].Flops)
    Assert.Equal(BigInteger 6, steps[1].Flops)

[<Fact>]
let ``peak, write, backward flops and activation memory of a three-matrix chain`` () =
    // A(ab) B(bc) C(cd) with a=2, b=3, c=4, d=5, tree ((A B) C).
    let p = indexed "ab,bc,cd->ad" "2x3,3x4,4x5"
    let t = ContractionTree.ofSsa 3 [| [| 0; 1 |]; [| 3; 2 |] |]
    let c = Cost.report p t
    // Step 1: abc = 24 summing b → 48, result ac = 8. Step 2: acd = 40 summing c → 80, result ad = 10.
    Assert.Equal(BigInteger 128, c.Flops)
    Assert.Equal(BigInteger 18, c.Write)
    // Inputs 6 + 12 + 20 = 38; step 1 adds 8 (46) then frees A and B (28); step 2 adds 10 (38).
    Assert.Equal(BigInteger 46, c.Peak)
    // Every operand needs a gradient: step 1: dA and dB, 48 each; step 2: d(AB) and dC, 80 each.
    Assert.Equal(BigInteger 256, c.BackwardFlops)
    // dC needs the intermediate AB (8 elements) kept.
    Assert.Equal(BigInteger 8, c.ActivationMemory)

[<Fact>]
let ``untrainable inputs need no gradient`` () =
    let p0 = indexed "ab,bc->ac" "2x3,3x4"
    let p = { p0 with Problem = { p0.Problem with Trainable = [| true; false |] } }
    let t = ContractionTree.ofSsa 2 [| [| 0; 1 |] |]
    // Only dA: abc = 24, summing c → 48.
    Assert.Equal(BigInteger 48, (Cost.report p t).BackwardFlops)

[<Fact>]
let ``sizes far beyond 64 bits are exact`` () =
    // Two tensors sharing thirty indices of size 10^6: the step touches 10^180 entries and sums them all.
    let names = Array.init 30 (sprintf "k%d")
    let problem = Problem.create None [| names; names |] (names |> Array.map (fun n -> n, 1000000L) |> Map.ofArray) [||]
    let p = match Problem.index Range.none problem with Ok p -> p | Result.Error ds -> failwithf "%A" ds
    let t = ContractionTree.ofSsa 2 [| [| 0; 1 |] |]
    Assert.Equal(BigInteger.Pow(BigInteger 10, 180) * BigInteger 2, Cost.flops p t)

[<Fact>]
let ``a tree that uses a node twice is rejected`` () =
    let t = ContractionTree.ofSsa 3 [| [| 0; 1 |]; [| 0; 3 |] |]
    Assert.True(Result.isError (ContractionTree.validate t))

/// Random valid trees over n leaves: join two random live nodes until one is left.
let treeGen =
    Gen.sized (fun size ->
        gen {
            let! n = Gen.choose (2, max 2 (min 30 size))
            let! seed = Gen.choose (0, 1000000)
            return TnDsl.Tests.Support.randomTree (System.Random seed) n
        })

[<Property>]
let ``SSA and linear paths round-trip`` () =
    Prop.forAll (Arb.fromGen treeGen) (fun t ->
        let back = ContractionTree.ofLinear t.Leaves (ContractionTree.toLinear t)
        back.Steps |> Array.map Array.sort = (t.Steps |> Array.map Array.sort)
        && ContractionTree.toLinear (ContractionTree.ofSsa t.Leaves (ContractionTree.toSsa t)) = ContractionTree.toLinear t)

[<Fact>]
let ``byte estimate of a three-matrix chain: forward counts the kernel's copies, training what autograd keeps, the loss, gradients and Adam`` () =
    // A(ab) B(bc) C(cd), a=2 b=3 c=4 d=5, tree ((A B) C): inputs 6 + 12 + 20 = 38 elements. A·B needs no copy (AB, 8);
    // C[c,d]·AB[a,c] -> [d,a] copies both into the product's layout (20 + 8) beside the result (10): peak 84.
    let p = indexed "ab,bc,cd->ad" "2x3,3x4,4x5"
    let t = ContractionTree.ofSsa 3 [| [| 0; 1 |]; [| 3; 2 |] |]
    // The tensors alone (what autograd's graph keeps per step run is checked at the end).
    let bare sliced bytes = { PlanBytes.simulate { PlanBytes.denseProgram p t sliced bytes with GraphPerRun = BigInteger.Zero } PlanBytes.AdamSlots with ElementBytes = bytes }
    let e = bare [||] 4
    Assert.Equal(BigInteger(38 * 4), e.Inputs)
    Assert.Equal(BigInteger(84 * 4), e.Forward)
    // Autograd keeps the two copies (28); every input gets a gradient (38); Adam keeps two moments (76). The peak is
    // the Adam step: inputs 38, the value and its square 20, gradients 38, state 76, two temporaries of C's size 40.
    Assert.Equal(BigInteger(28 * 4), e.Kept)
    Assert.Equal(BigInteger(38 * 4), e.Gradients)
    Assert.Equal(BigInteger(76 * 4), e.OptimizerState)
    Assert.Equal(BigInteger(212 * 4), e.Training)
    // Sliced over c (4 slices): a slice's AB has 2 elements, its copies 5 + 2, its result 10, with the 10-element
    // sum of the earlier slices: 38 + 2 + 10 + 7 + 10 = 67, and adding a slice holds three results (68). Autograd
    // keeps every slice's copies (4 × 7).
    let c = System.Array.IndexOf(p.IndexNames, "c")
    let s = bare [| c |] 8
    Assert.Equal(BigInteger(68 * 8), s.Forward)
    Assert.Equal(BigInteger(28 * 8), s.Kept)
    // The estimate adds the graph's bytes for each run of each step: 2 steps once each; sliced, every step depends
    // on c, so 2 steps 4 times each.
    let graph = BigInteger PlanBytes.GraphBytesPerRun
    Assert.Equal(e.Kept + BigInteger 2 * graph, (PlanBytes.estimate p t [||] 4).Kept)
    Assert.Equal(s.Kept + BigInteger 8 * graph, (PlanBytes.estimate p t [| c |] 8).Kept)
