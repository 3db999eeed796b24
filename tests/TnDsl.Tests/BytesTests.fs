module TnDsl.Tests.BytesTests

open System.Numerics
open Xunit
open TnDsl

let private b (n: int) = BigInteger n
let private noCopy = { Copy = BigInteger.Zero; Saved = true }

let private step left right result =
    { Left = left
      Right = right
      LeftOperand = noCopy
      RightOperand = noCopy
      Result = b result
      Scratch = BigInteger.Zero
      Keeps = BigInteger.Zero
      BackwardScratch = BigInteger.Zero }

/// Weight W0 (10 bytes) meets input X (20) into T (40); weight W1 (30) meets T into the value (5); 100 bytes held.
let private chain =
    { Held = b 100
      Fed = BigInteger.Zero
      FedScratch = BigInteger.Zero
      Leaves =
        [| { Bytes = b 10; Owned = false; Parameter = 0 }
           { Bytes = b 20; Owned = false; Parameter = -1 }
           { Bytes = b 30; Owned = false; Parameter = 1 } |]
      Steps = [| step 0 1 40; step 0 1 5 |]
      Slices = BigInteger.One
      Levels = [||]
      LoopSizes = [||]
      GraphPerRun = BigInteger.Zero
      Result = b 5
      Parameters = [| b 10; b 30 |] }

[<Fact>]
let ``forward: the held bytes plus the most intermediates alive at once`` () =
    // T (40) with the value (5) being made from it.
    Assert.Equal(b 145, (PlanBytes.simulate chain 0).Forward)

[<Fact>]
let ``training keeps what a product needs for the other operand's gradient, and only that`` () =
    let e = PlanBytes.simulate chain 0
    // T is kept for W1's gradient; X needs none and W0 is held anyway.
    Assert.Equal(b 40, e.Kept)
    Assert.Equal(b 40, e.Gradients)
    // Backward of the last step: held 100, T kept 40, the value and its square 10, the value's gradient 5,
    // and the gradients of W1 (30) and T (40) being made.
    Assert.Equal(b 225, e.Training)

[<Fact>]
let ``Adam's state and its update's temporaries count after the backward pass`` () =
    let e = PlanBytes.simulate chain PlanBytes.AdamSlots
    Assert.Equal(b 80, e.OptimizerState)
    // Held 100, value and square 10, gradients 40, state 80, two temporaries the size of W1.
    Assert.Equal(b 290, e.Training)

[<Fact>]
let ``a copy into the kernel's layout counts in the step, and is what autograd keeps`` () =
    let copied = { chain with Steps = [| step 0 1 40; { step 0 1 5 with RightOperand = { Copy = b 40; Saved = true } } |] }
    let e = PlanBytes.simulate copied 0
    // T and its copy, with the value: 100 + 40 + 40 + 5.
    Assert.Equal(b 185, e.Forward)
    // The copy is kept, T itself is freed.
    Assert.Equal(b 40, e.Kept)

[<Fact>]
let ``sliced: every slice's kept tensors stay, and the sum of the slices is alive`` () =
    let sliced = { chain with Slices = b 4 }
    let one = PlanBytes.simulate chain 0
    let four = PlanBytes.simulate sliced 0
    Assert.Equal(one.Kept * b 4, four.Kept)
    Assert.Equal(one.Forward + b 5, four.Forward)
    Assert.True(four.Training >= one.Training + b 3 * one.Kept)

[<Fact>]
let ``sliced with reuse: a result no sliced index reaches is made once, held, and kept once for training`` () =
    // Four slices over an index only W1 carries: W0·X (level 0) runs once and T is held while W1·T (level 1) runs
    // four times.
    let reused = { chain with Slices = b 4; Levels = [| 0; 1 |]; LoopSizes = [| b 4 |] }
    let every = { chain with Slices = b 4 }
    let e = PlanBytes.simulate reused 0
    Assert.Equal(b 40, e.HeldResults)
    Assert.Equal(BigInteger.Zero, (PlanBytes.simulate every 0).HeldResults)
    // T, held from the start, and a slice's value beside the sum of the earlier ones: 100 + 40 + 5 + 5.
    Assert.Equal(b 150, e.Forward)
    // T is kept for W1's gradient once, not once per slice.
    Assert.Equal(b 40, e.Kept)
    Assert.Equal(b 160, (PlanBytes.simulate every 0).Kept)
    Assert.True(e.Training < (PlanBytes.simulate every 0).Training)

[<Fact>]
let ``the plan-alone estimate holds what no sliced index reaches`` () =
    // A(ab) B(bc) D(dc), tree ((A B) D) sliced over d: A·B (level 0) runs once and is held while (A B)·D runs per
    // slice; without levels nothing is held.
    let p = CostTests.indexed "ab,bc,dc->a" "2x3,3x4,5x4"
    let t = ContractionTree.ofSsa 3 [| [| 0; 1 |]; [| 2; 3 |] |]
    let d = System.Array.IndexOf(p.IndexNames, "d")
    let program = PlanBytes.denseProgram p t [| d |] 8
    Assert.Equal<int array>([| 0; 1 |], program.Levels)
    // AB: 2 x 4 elements of 8 bytes.
    Assert.Equal(b 64, (PlanBytes.simulate program 0).HeldResults)
    Assert.Equal(BigInteger.Zero, (PlanBytes.simulate { program with Levels = [||] } 0).HeldResults)

[<Fact>]
let ``the plan-alone estimate counts an operand copy only where its axes are out of the product's order`` () =
    let p = CostTests.indexed "ab,bc->ac" "100x200,200x300"
    let t = { Leaves = 2; Steps = [| [| 0; 1 |] |] }
    let e = PlanBytes.estimate p t [||] 4
    // a[a,b]·b[b,c] is a plain matrix product: inputs 4·(20000 + 60000), result 4·30000, no copies.
    Assert.Equal(b (4 * (20000 + 60000 + 30000)), e.Forward)
    let q = CostTests.indexed "ba,bc->ac" "200x100,200x300"
    // The first operand must be transposed first: its copy adds 4·20000.
    Assert.Equal(b (4 * (20000 + 60000 + 30000 + 20000)), (PlanBytes.estimate q t [||] 4).Forward)

[<Fact>]
let ``autograd's graph costs its bytes per run of each step it records, in training only`` () =
    let graph = { chain with GraphPerRun = b 1000 }
    // Both steps have an operand that needs a gradient, so autograd records each run of each.
    Assert.Equal(b 40 + b 2000, (PlanBytes.simulate graph 0).Kept)
    Assert.Equal((PlanBytes.simulate chain 0).Forward, (PlanBytes.simulate graph 0).Forward)
    // Every step in every one of four slices: 8 runs; with reuse W0·X runs once and W1·T four times: 5 runs.
    Assert.Equal(b 160 + b 8000, (PlanBytes.simulate { graph with Slices = b 4 } 0).Kept)
    Assert.Equal(b 40 + b 5000, (PlanBytes.simulate { graph with Slices = b 4; Levels = [| 0; 1 |]; LoopSizes = [| b 4 |] } 0).Kept)
