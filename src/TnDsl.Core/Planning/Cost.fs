namespace TnDsl

open System
open System.Collections.Generic
open System.Numerics

// Number representation, chosen once for the whole planner:
//  * every figure that is reported (flops, sizes, peak, write, backward) is an exact BigInteger, so no report
//    can overflow or round;
//  * searches compare float64 values (plain sizes, not logarithms). They are exact below 2^53 and saturate to
//    +infinity above about 1e308, which a search treats as "too large" and never reports.

/// One step of a tree with its indices and exact cost.
type StepCost =
    {
        /// The node this step creates.
        Node: int
        /// Its operands.
        Children: int array
        /// The index ids of each operand.
        ChildIndices: int array array
        /// Every index involved (the union of the operands' indices).
        Involved: int array
        /// The indices of the result.
        Kept: int array
        /// The indices summed away at this step.
        Summed: int array
        /// opt_einsum flops of the step.
        Flops: BigInteger
        /// Elements of the result.
        Size: BigInteger
    }

/// Every figure derived from a tree, exact.
type CostReport =
    {
        /// opt_einsum flops along the tree.
        Flops: BigInteger
        /// opt_einsum flops of contracting everything in one step.
        NaiveFlops: BigInteger
        /// The largest intermediate (or result), in elements; inputs excluded as in opt_einsum.
        LargestIntermediate: BigInteger
        /// The most elements alive at once when the steps run in order, inputs included.
        Peak: BigInteger
        /// Elements written: the sum of every step's result size.
        Write: BigInteger
        /// Flops of the backward pass: the gradient of every operand that leads to a trainable tensor.
        BackwardFlops: BigInteger
        /// Elements of the intermediates that the backward pass needs kept (activation memory).
        ActivationMemory: BigInteger
    }

/// Pure cost functions over contraction trees.
module Cost =

    /// opt_einsum's flop count of one step joining k operands over the given indices.
    let stepFlops (p: Indexed) (k: int) (involved: int array) (anySummed: bool) =
        Problem.elements p involved * BigInteger(max 1 (k - 1) + (if anySummed then 1 else 0))

    /// Each step of the tree with its indices and costs, in order. Assumes a valid tree.
    let steps (p: Indexed) (t: ContractionTree) : StepCost array =
        let total = t.Leaves + t.Steps.Length
        let indices = Array.zeroCreate<int array> total
        for i in 0 .. t.Leaves - 1 do
            indices[i] <- p.Inputs[i]
        // remaining[i]: how many live nodes carry index i; an index is summed when its last carriers meet.
        let remaining = p.Carriers |> Array.map Array.length
        t.Steps
        |> Array.mapi (fun s children ->
            let node = t.Leaves + s
            let childIdx = children |> Array.map (fun c -> indices[c])
            let counts = Dictionary<int, int>()
            for ci in childIdx do
                for i in ci do
                    counts[i] <- (match counts.TryGetValue i with | true, c -> c + 1 | _ -> 1)
            let involved = counts.Keys |> Seq.toArray |> Array.sort
            // One pass (a search of `kept` per index made a step quadratic in its indices: 0.1 s a costing on a
            // 32x32 PEPS with its 1024 physical legs open).
            let kept, summed =
                involved
                |> Array.partition (fun i ->
                    remaining[i] <- remaining[i] - counts[i] + 1
                    p.IsOutput[i] || remaining[i] > 1)
            for i in summed do
                remaining[i] <- 0
            indices[node] <- kept
            { Node = node
              Children = children
              ChildIndices = childIdx
              Involved = involved
              Kept = kept
              Summed = summed
              Flops = stepFlops p children.Length involved (summed.Length > 0)
              Size = Problem.elements p kept })

    /// Flops of contracting every tensor in one step, in opt_einsum's convention for `naive_cost`: every index's
    /// size multiplied, times max(1, n - 1), plus one when some index sits on two or more tensors (an inner
    /// product). So `a,b->` costs 6 for sizes 2 and 3: no index is shared, though both are summed.
    let naiveFlops (p: Indexed) =
        let all = Array.init p.Size.Length id
        let shared = p.Carriers |> Array.exists (fun c -> c.Length > 1)
        stepFlops p p.Inputs.Length all shared

    /// opt_einsum flops along the tree.
    let flops (p: Indexed) (t: ContractionTree) = steps p t |> Array.sumBy (fun s -> s.Flops)

    /// The largest result of any step, in elements.
    let largestIntermediate (p: Indexed) (t: ContractionTree) =
        steps p t |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.One

    let private inputSize (p: Indexed) (t: int) = Problem.elements p p.Inputs[t]

    /// The figures of the tree from its steps.
    let ofSteps (p: Indexed) (t: ContractionTree) (st: StepCost array) : CostReport =
        let total = t.Leaves + t.Steps.Length
        let size = Array.zeroCreate<BigInteger> total
        for i in 0 .. t.Leaves - 1 do
            size[i] <- inputSize p i
        for s in st do
            size[s.Node] <- s.Size
        // Peak: inputs are alive until consumed; a step's operands and its result are alive together.
        let mutable alive = Array.sum size[0 .. t.Leaves - 1]
        let mutable peak = alive
        for s in st do
            alive <- alive + s.Size
            peak <- BigInteger.Max(peak, alive)
            for c in s.Children do
                alive <- alive - size[c]
        // Backward: an operand needs a gradient when a trainable tensor lies below it; computing it contracts the
        // result's gradient with the other operands over the same indices, so those operands must be kept.
        let needs = Array.zeroCreate total
        for i in 0 .. t.Leaves - 1 do
            needs[i] <- p.Problem.Trainable[i]
        let kept = Array.zeroCreate total
        let mutable backward = BigInteger.Zero
        for s in st do
            needs[s.Node] <- s.Children |> Array.exists (fun c -> needs[c])
            s.Children
            |> Array.iteri (fun j c ->
                if needs[c] then
                    let own = HashSet<int>(s.ChildIndices[j])
                    let summed = s.Involved |> Array.exists (fun i -> not (own.Contains i))
                    backward <- backward + stepFlops p s.Children.Length s.Involved summed
                    s.Children |> Array.iteri (fun k o -> if k <> j && o >= t.Leaves then kept[o] <- true))
        let activation = seq { t.Leaves .. total - 1 } |> Seq.filter (fun v -> kept[v]) |> Seq.sumBy (fun v -> size[v])
        { Flops = st |> Array.sumBy (fun s -> s.Flops)
          NaiveFlops = naiveFlops p
          LargestIntermediate = st |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.One
          Peak = peak
          Write = st |> Array.sumBy (fun s -> s.Size)
          BackwardFlops = backward
          ActivationMemory = activation }

    /// Every figure of the tree.
    let report (p: Indexed) (t: ContractionTree) = ofSteps p t (steps p t)

    /// log2 of a positive count (0 for zero), exact enough to compare counts of any size.
    let log2 (b: BigInteger) = if b.Sign <= 0 then 0.0 else BigInteger.Log(b, 2.0)

    /// The tree's score under an objective as log2 (primary, tie-break), compared lexicographically; lower is better.
    let score (objective: Objective) (p: Indexed) (t: ContractionTree) =
        let st = steps p t
        let flops = st |> Array.sumBy (fun s -> s.Flops)
        let largest = st |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.One |> log2
        match objective with
        | Flops -> struct (log2 flops, largest)
        | Size -> struct (largest, log2 flops)
        | Write -> struct (log2 (st |> Array.sumBy (fun s -> s.Size)), log2 flops)
        | Combo f ->
            // f is applied in fixed point (2^-20 steps) so that the sum stays exact.
            let write = st |> Array.sumBy (fun s -> s.Size)
            struct (log2 (flops + BigInteger(f * 1048576.0) * write / BigInteger 1048576), largest)
