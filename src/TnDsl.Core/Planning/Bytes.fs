namespace TnDsl

open System.Numerics

/// One operand of an executed step, as memory sees it.
type OperandBytes =
    {
        /// Bytes of the copy the step makes of the operand to lay it out for its kernel (0 where a view suffices:
        /// the operand's axes are already in the kernel's order, or a permuted view reshapes without copying).
        Copy: BigInteger
        /// Whether the step's backward needs this operand (its copy where there is one) for the other operand's
        /// gradient, so that autograd keeps it: true for a matrix product or a broadcast product, false for a gather's
        /// table or a diagonal.
        Saved: bool
    }

/// One pairwise step as the backend executes it, in bytes: what it makes, keeps and frees. Positions follow the
/// plan's linear convention (the two operands are removed, the result is appended).
type StepBytes =
    {
        /// Position of the first operand in the current operand list.
        Left: int
        /// Position of the second operand.
        Right: int
        /// The first operand's copy and whether autograd keeps it.
        LeftOperand: OperandBytes
        /// The second operand's copy and whether autograd keeps it.
        RightOperand: OperandBytes
        /// Bytes of the step's result.
        Result: BigInteger
        /// Bytes made and dropped within the step beyond the operand copies (the rows a gather picks before a sum,
        /// its flattened index).
        Scratch: BigInteger
        /// Bytes autograd keeps for the step whichever operand needs a gradient (a gather's index).
        Keeps: BigInteger
        /// Bytes the step's backward makes and drops beyond the gradients of its result and operands (the
        /// zero table a gather's gradient is added into).
        BackwardScratch: BigInteger
    }

/// One operand the steps start from (a network tensor, after what is summed on it alone).
type LeafBytes =
    {
        /// The operand's bytes.
        Bytes: BigInteger
        /// Made for the call (a tensor reduced on its own): freed once consumed. Otherwise a view of something held.
        Owned: bool
        /// The trainable parameter it comes from (tied tensors share one; -1: none, no gradient).
        Parameter: int
    }

/// A whole call as the backend runs it, in bytes: what is held, what the call makes, and the steps of one slice.
type ProgramBytes =
    {
        /// Held by the caller before and after the call: weights, consts and the raw inputs.
        Held: BigInteger
        /// Made at the start of the call and alive throughout it: the embedded inputs (or a one-hot's class numbers).
        Fed: BigInteger
        /// Made and dropped while making `Fed` (an embedding's intermediate values).
        FedScratch: BigInteger
        /// The operands the steps start from, in order.
        Leaves: LeafBytes array
        /// The steps of one slice (all of them when unsliced), with the sizes of one slice.
        Steps: StepBytes array
        /// The number of slices (1: unsliced).
        Slices: BigInteger
        /// Reuse across slices: per step, its level in the loop order of the sliced indices (`PlanSlice.levels`: 0
        /// when no leaf below it carries a sliced index, else the 1-based loop position of the innermost one they carry). A step runs
        /// ∏ `LoopSizes[0 .. level-1]` times, and a result whose consumer has a higher level is held across the
        /// consumer's inner loops. Empty: every step runs in every slice.
        Levels: int array
        /// The sizes of the sliced indices in loop order, outermost first (with `Levels`; empty otherwise).
        LoopSizes: BigInteger array
        /// Bytes autograd keeps per run of a step that it records, beyond the tensors' data (the graph's nodes and the
        /// saved views around each product): `PlanBytes.GraphBytesPerRun` for what TnDsl runs, 0 in a bare model.
        GraphPerRun: BigInteger
        /// Bytes of the network's value.
        Result: BigInteger
        /// Bytes of each trainable parameter, by the ids `LeafBytes.Parameter` uses (its gradient has this size).
        Parameters: BigInteger array
    }

/// The byte estimate of a call: what a memory guard compares with the memory available.
type ByteEstimate =
    {
        /// Bytes per element (4 for float32, 8 for float64, 16 for complex128); 0 where the caller counted bytes.
        ElementBytes: int
        /// Held before the call: weights, consts and inputs, whole.
        Inputs: BigInteger
        /// The most bytes alive at once in a forward pass without autograd (the held tensors included).
        Forward: BigInteger
        /// Reuse across slices: the bytes of the step results held across slices (counted alive throughout every
        /// slice, conservatively, in `Forward` and `Training`); 0 without reuse.
        HeldResults: BigInteger
        /// Training only: the bytes autograd keeps for the backward pass (every slice's).
        Kept: BigInteger
        /// Training only: one gradient per trainable parameter.
        Gradients: BigInteger
        /// The optimizer's state: `OptimizerSlots` tensors the size of each parameter.
        OptimizerState: BigInteger
        /// The most bytes alive at once in a training step: forward with autograd, the loss (the sum of squares of
        /// the value), backward, and an optimizer step with the state above.
        Training: BigInteger
    }

/// Pure byte estimates of a plan's peak: a simulation of what a call allocates and frees, step by step, forward
/// (without autograd, and with it keeping what each step's backward needs), backward (gradients flowing from the
/// result to the parameters, the kept tensors released step by step) and an optimizer step.
module PlanBytes =

    /// Param-sized tensors an optimizer keeps per parameter: Adam's two moments (SGD without momentum keeps none).
    [<Literal>]
    let AdamSlots = 2

    let private zero = BigInteger.Zero

    /// What autograd keeps per run of a step beyond the tensors' data: the graph's nodes and the saved views of the
    /// narrows, reshapes and permutes around each product. Negligible where a plan has a few large steps, it
    /// dominates the training of a sliced plan with many tiny slices. Fitted on `TnDsl.TorchBench slices`
    /// (training, float64): (measured peak - the estimate without it) / step runs was 7.6-8.3 KB on 8x8 D = 2 at
    /// 1/16 and 5x5 D = 4 at 1/64, each with and without reuse across slices.
    [<Literal>]
    let GraphBytesPerRun = 8192

    /// The estimate of `program`, with an optimizer that keeps `optimizerSlots` parameter-sized tensors per
    /// parameter. Bytes are counted exactly (BigInteger).
    let simulate (program: ProgramBytes) (optimizerSlots: int) : ByteEstimate =
        let steps = program.Steps
        let slices = BigInteger.Max(BigInteger.One, program.Slices)
        let sliced = slices > BigInteger.One
        let resultBytes = program.Result
        // Within every slice after the first, the sum of the earlier slices is alive.
        let accumulated = if sliced then resultBytes else zero
        let leafCount = program.Leaves.Length
        // Reuse across slices: how many times each step runs, and which results are held (their consumer's level is
        // higher). Without levels every step runs once per slice and nothing is held.
        let reusing = program.Levels.Length = steps.Length && steps.Length > 0 && sliced
        let runs =
            Array.init steps.Length (fun s ->
                if reusing then program.LoopSizes |> Array.take program.Levels[s] |> Array.fold (*) BigInteger.One
                else slices)
        let held =
            if not reusing then Array.create steps.Length false
            else
                let level = Array.create (leafCount + steps.Length) 0
                let consumer = Array.create (leafCount + steps.Length) -1
                let ids = ResizeArray<int>(seq { 0 .. leafCount - 1 })
                for s in 0 .. steps.Length - 1 do
                    let st = steps[s]
                    consumer[ids[st.Left]] <- s
                    consumer[ids[st.Right]] <- s
                    level[leafCount + s] <- program.Levels[s]
                    ids.RemoveAt(max st.Left st.Right)
                    ids.RemoveAt(min st.Left st.Right)
                    ids.Add(leafCount + s)
                Array.init steps.Length (fun s -> consumer[leafCount + s] >= 0 && program.Levels[consumer[leafCount + s]] > program.Levels[s])
        let heldBytes = Seq.sum (seq { for s in 0 .. steps.Length - 1 do if held[s] then steps[s].Result })
        let baseline = program.Held + program.Fed
        let ownedLeaves = program.Leaves |> Array.sumBy (fun l -> if l.Owned then l.Bytes else zero)
        let parameterBytes = Array.sum program.Parameters

        // One slice's forward pass, every step run, with every held result alive from its start (a slice that
        // reruns only some steps holds no more). With `training` an operand a step saves is not freed when consumed,
        // and a copy it saves outlives the step: `retained[s]` is what step s keeps until its backward, per run;
        // `heldSaved[s]` a held result autograd keeps for its consumer, once per run of s.
        let forward training =
            let ops = ResizeArray<BigInteger * bool * bool * int>() // bytes, owned, needs a gradient, node (leaf or step)
            program.Leaves |> Array.iteri (fun i l -> ops.Add((l.Bytes, l.Owned, training && l.Parameter >= 0, i)))
            let retained = Array.create steps.Length zero
            let heldSaved = Array.create steps.Length zero
            let mutable live = baseline + heldBytes + ownedLeaves
            let mutable peak = baseline + heldBytes + program.FedScratch + accumulated
            for s in 0 .. steps.Length - 1 do
                let st = steps[s]
                let (aBytes, aOwned, aGrad, aNode) = ops[st.Left]
                let (bBytes, bOwned, bGrad, bNode) = ops[st.Right]
                let copies = st.LeftOperand.Copy + st.RightOperand.Copy
                let made = if held[s] then zero else st.Result
                peak <- BigInteger.Max(peak, live + accumulated + copies + st.Scratch + made)
                // What stays: an operand (or its copy) saved for the other operand's gradient.
                let keep (o: OperandBytes) bytes owned node otherNeedsGrad =
                    let saved = training && otherNeedsGrad && o.Saved
                    let keptCopy = if saved then o.Copy else zero
                    let isHeld = node >= leafCount && held[node - leafCount]
                    if isHeld && saved && o.Copy.IsZero then heldSaved[node - leafCount] <- bytes
                    let keptOperand = if saved && o.Copy.IsZero && owned && not isHeld then bytes else zero
                    let freed = if owned && not isHeld && keptOperand.IsZero then bytes else zero
                    keptCopy, keptOperand, freed
                let (ca, oa, fa) = keep st.LeftOperand aBytes aOwned aNode bGrad
                let (cb, ob, fb) = keep st.RightOperand bBytes bOwned bNode aGrad
                let needs = aGrad || bGrad
                let graph = if training && needs then program.GraphPerRun else zero
                retained[s] <- ca + oa + cb + ob + (if needs then st.Keeps else zero) + graph
                live <- live - fa - fb + ca + cb + (if needs then st.Keeps else zero) + graph + made
                ops.RemoveAt(max st.Left st.Right)
                ops.RemoveAt(min st.Left st.Right)
                ops.Add((st.Result, true, needs, leafCount + s))
            peak, retained, heldSaved

        let forwardPeak, _, _ = forward false
        // Adding a slice's value to the sum: the sum so far, the slice's value and the new sum.
        let forwardPeak = if sliced then BigInteger.Max(forwardPeak, baseline + BigInteger 3 * resultBytes) else forwardPeak

        let slicePeak, retained, heldSaved = forward true
        // What autograd keeps over every run of every step; while the last slice runs, all but one run's of each.
        let kept = Seq.sum (seq { for s in 0 .. steps.Length - 1 -> (retained[s] + heldSaved[s]) * runs[s] })
        let earlierRuns = Seq.sum (seq { for s in 0 .. steps.Length - 1 -> (retained[s] + heldSaved[s]) * (runs[s] - BigInteger.One) })
        let mutable peak = slicePeak + earlierRuns
        // The loss: the value squared (autograd keeps the value), averaged.
        let mutable live = baseline + kept + BigInteger 2 * resultBytes
        peak <- BigInteger.Max(peak, live)
        // Backward of the loss: the mean's gradient expanded to the value's shape, and the square's (value · value,
        // as TnDsl writes it: TorchSharp's square() is a pow with a temporary Scalar) two products grad · value,
        // alive together until autograd adds them into the value's gradient.
        peak <- BigInteger.Max(peak, live + BigInteger 3 * resultBytes)
        // Backward through one slice's steps, the others' kept tensors still alive; gradients of intermediates wait
        // for the step that made them, a parameter's gradient stays (tied tensors add into it in place).
        let leaves = program.Leaves.Length
        let nodeBytes = Array.append (program.Leaves |> Array.map (fun l -> l.Bytes)) (steps |> Array.map (fun s -> s.Result))
        let needsGrad = Array.create (leaves + steps.Length) false
        let operands = Array.create steps.Length (0, 0)
        // Nodes whose gradient arrives permuted: their consumer copied them into its kernel's layout, so the
        // gradient it returns is a permuted view, which the node's own backward copies before its product.
        let permuted = Array.create (leaves + steps.Length) false
        let ids = ResizeArray<int>(seq { 0 .. leaves - 1 })
        program.Leaves |> Array.iteri (fun i l -> needsGrad[i] <- l.Parameter >= 0)
        for s in 0 .. steps.Length - 1 do
            let st = steps[s]
            let a, b = ids[st.Left], ids[st.Right]
            operands[s] <- (a, b)
            permuted[a] <- not st.LeftOperand.Copy.IsZero
            permuted[b] <- not st.RightOperand.Copy.IsZero
            needsGrad[leaves + s] <- needsGrad[a] || needsGrad[b]
            ids.RemoveAt(max st.Left st.Right)
            ids.RemoveAt(min st.Left st.Right)
            ids.Add(leaves + s)
        let pending = Array.create (leaves + steps.Length) zero
        // A held result's gradient adds up over its consumer's runs: one of each, alive throughout (conservative).
        let heldGradients = Seq.sum (seq { for s in 0 .. steps.Length - 1 do if held[s] && needsGrad[leaves + s] then steps[s].Result })
        let rootGradient = if steps.Length > 0 && needsGrad[leaves + steps.Length - 1] then resultBytes else zero
        let mutable waiting = rootGradient + heldGradients
        if steps.Length > 0 then pending[leaves + steps.Length - 1] <- rootGradient
        let hasGradient = Array.create program.Parameters.Length false
        let mutable gradients = zero
        for s in steps.Length - 1 .. -1 .. 0 do
            let st = steps[s]
            let a, b = operands[s]
            if needsGrad[leaves + s] then
                let ga = if needsGrad[a] then nodeBytes[a] else zero
                let gb = if needsGrad[b] then nodeBytes[b] else zero
                let contiguous = if permuted[leaves + s] then nodeBytes[leaves + s] else zero
                peak <- BigInteger.Max(peak, live + gradients + waiting + contiguous + ga + gb + st.BackwardScratch)
                waiting <- waiting - pending[leaves + s]
                live <- live - retained[s]
                for (node, g) in [ a, ga; b, gb ] do
                    if not g.IsZero then
                        if node >= leaves then
                            if not held[node - leaves] then
                                pending[node] <- g
                                waiting <- waiting + g
                        else
                            let p = program.Leaves[node].Parameter
                            if not hasGradient[p] then
                                hasGradient[p] <- true
                                gradients <- gradients + program.Parameters[p]
                                // A reduced leaf's gradient is expanded to its parameter's shape; a permuted one is
                                // copied into the parameter's layout.
                                peak <- BigInteger.Max(peak, live + gradients + waiting + g)
                            elif permuted[node] then
                                peak <- BigInteger.Max(peak, live + gradients + waiting + g + g)
            else
                live <- live - retained[s]
        let gradients = program.Parameters |> Array.mapi (fun p bytes -> if hasGradient[p] then bytes else zero) |> Array.sum
        // The optimizer step: its state, and one parameter-sized temporary at a time (Adam's denominator).
        let state = BigInteger optimizerSlots * parameterBytes
        let largest = if program.Parameters.Length = 0 then zero else Array.max program.Parameters
        // Adam's update makes two parameter-sized temporaries (the square root of the second moment and the
        // denominator) for one parameter at a time.
        let after = baseline + BigInteger 2 * resultBytes + gradients + state + (if optimizerSlots > 0 then BigInteger 2 * largest else zero)
        { ElementBytes = 0
          Inputs = program.Held
          Forward = forwardPeak
          HeldResults = heldBytes
          Kept = kept
          Gradients = gradients
          OptimizerState = state
          Training = BigInteger.Max(peak, after) }

    /// The estimate of a training step that checkpoints the slices in groups: the forward pass runs every slice
    /// without autograd (`whole`'s forward peak), then the loss on its value (`resultBytes` each: the value, the loss's
    /// copy); the backward pass runs each group of consecutive slices again with autograd and backpropagates the
    /// group's sum with the value's gradient (`group`: the estimate of one group's program trained alone, its own
    /// value and loss standing for the whole value and its gradient), the gradients summed over the groups (`whole`'s)
    /// alive beside it. `Kept` is one group's.
    let checkpointed (whole: ByteEstimate) (group: ByteEstimate) (resultBytes: BigInteger) : ByteEstimate =
        { whole with
            Kept = group.Kept
            Training = BigInteger.Max(whole.Forward + BigInteger 2 * resultBytes, group.Training + whole.Gradients + resultBytes) }

    /// The program a dense backend runs for a tree, from the plan alone: every tensor held whole, each step a matrix
    /// product (batched over the legs both operands keep) whose operands are copied where their axes are not already
    /// in the product's order, every input trainable as the problem says. What `tn plan` reports; a backend that
    /// knows more (embeddings, gathers, views) describes its own program.
    let denseProgram (p: Indexed) (t: ContractionTree) (sliced: int array) (elementBytes: int) : ProgramBytes =
        let b = BigInteger elementBytes
        let q = PlanSlice.sliceProblem p sliced
        let size (labels: int array) = (labels |> Array.fold (fun acc i -> acc * BigInteger q.Size[i]) BigInteger.One) * b
        let leafLabels = PairSteps.leafLabels p
        let whole k = Problem.elements p p.Inputs[k] * b
        let parameters = ResizeArray<BigInteger>()
        let leaves =
            leafLabels
            |> Array.mapi (fun k labels ->
                let reduced = labels.Length < (Array.distinct p.Inputs[k]).Length
                let parameter =
                    if p.Problem.Trainable[k] then
                        parameters.Add(whole k)
                        parameters.Count - 1
                    else -1
                { Bytes = size labels; Owned = reduced; Parameter = parameter })
        let operands = ResizeArray<int array>(leafLabels)
        let steps =
            PairSteps.ofTree p t
            |> Array.map (fun s ->
                let a, c = operands[s.Left], operands[s.Right]
                let onA, onC, kept = set a, set c, set s.Kept
                let batch = s.Kept |> Array.filter (fun l -> onA.Contains l && onC.Contains l)
                let summed = a |> Array.filter (fun l -> onC.Contains l && not (kept.Contains l))
                let leftOrder = Array.concat [ batch; a |> Array.filter (onC.Contains >> not); summed ]
                let rightOrder = Array.concat [ batch; summed; c |> Array.filter (onA.Contains >> not) ]
                let copy labels order = if labels = order then zero else size labels
                operands.RemoveAt s.Right
                operands.RemoveAt s.Left
                operands.Add s.Kept
                { Left = s.Left
                  Right = s.Right
                  LeftOperand = { Copy = copy a leftOrder; Saved = true }
                  RightOperand = { Copy = copy c rightOrder; Saved = true }
                  Result = size s.Kept
                  Scratch = zero
                  Keeps = zero
                  BackwardScratch = zero })
        { Held = Seq.sum [ for k in 0 .. p.Inputs.Length - 1 -> whole k ]
          Fed = zero
          FedScratch = zero
          Leaves = leaves
          Steps = steps
          Slices = Problem.elements p sliced
          Levels = PlanSlice.levels p t sliced
          LoopSizes = sliced |> Array.map (fun i -> BigInteger p.Size[i])
          GraphPerRun = BigInteger GraphBytesPerRun
          Result = Problem.elements p p.Output * b
          Parameters = parameters.ToArray() }

    /// The estimate for a tree, sliced over `sliced` (empty: unsliced), at `elementBytes` bytes per element, from the
    /// plan alone (`denseProgram`), trained with Adam.
    let estimate (p: Indexed) (t: ContractionTree) (sliced: int array) (elementBytes: int) : ByteEstimate =
        { simulate (denseProgram p t sliced elementBytes) AdamSlots with ElementBytes = elementBytes }
