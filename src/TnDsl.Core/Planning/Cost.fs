namespace TnDsl

open System
open System.Collections.Generic
open System.Numerics

// Number representation, chosen once for the whole planner:
//  * every figure that is reported (flops, sizes, peak, write, backward) is an exact BigInteger, so no report
//    can overflow or round;
//  * searches compare float64 values (plain sizes, not logarithms). They are exact below 2^53 and saturate to
//    +infinity above about 1e308, which a search treats as "too large" and never reports.

/// A contraction problem in plain form: each tensor is a list of index names, every index has a size, and the
/// output lists the open indices. An index may sit on any number of tensors (einsum semantics): it is summed away
/// as soon as no remaining tensor and not the output carries it.
type Problem =
    {
        /// A display name per tensor (`A`, `A[3]`, or `T0` when none is given).
        Names: string array
        /// The index names of each tensor, in the tensor's leg order.
        Inputs: string array array
        /// The extent of every index.
        Sizes: Map<string, int64>
        /// The open indices of the result, in order.
        Output: string array
        /// Per tensor: whether a gradient is wanted for it (weights). Drives the backward figures.
        Trainable: bool array
    }

/// Codes TN0300–TN0399: diagnostics of the planning phase.
module PlanDiagnostics =
    /// An optimizer name that the registry does not know.
    let unknownOptimizer = Diagnostic.kind Error "TN0300" "unknown optimizer"
    /// No contraction order keeps every intermediate under the memory limit.
    let memoryLimit = Diagnostic.kind Error "TN0301" "memory limit cannot be met"
    /// An index used by a tensor or the output has no size.
    let missingSize = Diagnostic.kind Error "TN0302" "index without a size"
    /// An index size that is zero or negative.
    let badSize = Diagnostic.kind Error "TN0303" "index size must be positive"
    /// An output index that no tensor carries, or one listed twice.
    let badOutput = Diagnostic.kind Error "TN0304" "bad output index"
    /// A problem without tensors.
    let empty = Diagnostic.kind Error "TN0305" "network without tensors"
    /// A JSON network or einsum text that cannot be read.
    let badInput = Diagnostic.kind Error "TN0306" "malformed network input"
    /// An optimizer that cannot handle a network this size and fell back to another.
    let tooLarge = Diagnostic.kind Warning "TN0307" "network too large for this optimizer"
    /// An index given two different sizes.
    let sizeConflict = Diagnostic.kind Error "TN0308" "index has two sizes"
    /// A planner option with a bad value.
    let badOption = Diagnostic.kind Error "TN0309" "invalid planner option"
    /// A size override that names no index.
    let unusedSize = Diagnostic.kind Warning "TN0310" "size override names no index"

/// A problem with its indices numbered, checked and ready for search: what every optimizer takes.
type Indexed =
    {
        /// The problem as given.
        Problem: Problem
        /// Index names by id (ids in order of first appearance: tensors, then output).
        IndexNames: string array
        /// Index sizes by id.
        Size: int64 array
        /// Per tensor: its distinct index ids, sorted.
        Inputs: int array array
        /// Output index ids in the output's order.
        Output: int array
        /// Per index id: whether it is open.
        IsOutput: bool array
        /// Per index id: the tensors carrying it, sorted.
        Carriers: int array array
    }

/// Checking and numbering problems.
module Problem =
    /// A problem whose tensors are all trainable, named `T0`, `T1`, … unless names are given.
    let create (names: string array option) (inputs: string array array) (sizes: Map<string, int64>) (output: string array) =
        { Names = (match names with Some n -> n | None -> Array.init inputs.Length (sprintf "T%d"))
          Inputs = inputs
          Sizes = sizes
          Output = output
          Trainable = Array.create inputs.Length true }

    /// The same problem with some index sizes replaced (by exact index name).
    let withSizes (overrides: (string * int64) list) (p: Problem) =
        { p with Sizes = overrides |> List.fold (fun (m: Map<string, int64>) (k, v) -> m.Add(k, v)) p.Sizes }

    /// Checks a problem and numbers its indices; errors are diagnostics at the given range.
    let index (range: SourceRange) (p: Problem) : Result<Indexed, Diagnostic list> =
        let errors = ResizeArray<Diagnostic>()
        let ids = Dictionary<string, int>()
        let names = ResizeArray<string>()
        let idOf (name: string) =
            match ids.TryGetValue name with
            | true, i -> i
            | _ ->
                ids[name] <- names.Count
                names.Add name
                names.Count - 1
        if p.Inputs.Length = 0 then
            errors.Add(Diagnostic.make PlanDiagnostics.empty range "the network has no tensors to contract")
        let inputs = p.Inputs |> Array.map (fun legs -> legs |> Array.map idOf |> Array.distinct |> Array.sort)
        let onTensors = names.Count
        let seen = HashSet<string>()
        for o in p.Output do
            if not (seen.Add o) then
                errors.Add(Diagnostic.make PlanDiagnostics.badOutput range (sprintf "output index '%s' is listed twice" o))
            elif not (ids.ContainsKey o) || ids[o] >= onTensors then
                errors.Add(Diagnostic.make PlanDiagnostics.badOutput range (sprintf "output index '%s' is on no tensor" o))
        let output = p.Output |> Array.distinct |> Array.map idOf
        let size =
            names.ToArray()
            |> Array.map (fun n ->
                match p.Sizes.TryFind n with
                | Some s when s >= 1L -> s
                | Some s ->
                    errors.Add(Diagnostic.make PlanDiagnostics.badSize range (sprintf "index '%s' has size %d" n s))
                    1L
                | None ->
                    errors.Add(Diagnostic.make PlanDiagnostics.missingSize range (sprintf "index '%s' has no size" n))
                    1L)
        if p.Trainable.Length <> p.Inputs.Length || p.Names.Length <> p.Inputs.Length then
            errors.Add(Diagnostic.make PlanDiagnostics.badInput range "names, inputs and trainable flags differ in length")
        if errors.Count > 0 then
            Result.Error(List.ofSeq errors)
        else
            let carriers = Array.init names.Count (fun _ -> ResizeArray<int>())
            inputs |> Array.iteri (fun t legs -> for i in legs do carriers[i].Add t)
            let isOut = Array.zeroCreate names.Count
            for o in output do
                isOut[o] <- true
            Ok
                { Problem = p
                  IndexNames = names.ToArray()
                  Size = size
                  Inputs = inputs
                  Output = output
                  IsOutput = isOut
                  Carriers = carriers |> Array.map (fun c -> c.ToArray()) }

    /// The sub-problem on some tensors (ids in `tensors`, which become 0, 1, …): an index stays open when the
    /// whole problem keeps it open or a tensor outside the subset carries it.
    let sub (p: Indexed) (tensors: int array) : Indexed =
        let inside = HashSet<int>(tensors)
        let touched = tensors |> Array.collect (fun t -> p.Inputs[t]) |> Array.distinct |> Array.sort
        let openIdx =
            touched
            |> Array.filter (fun i -> p.IsOutput[i] || p.Carriers[i] |> Array.exists (fun t -> not (inside.Contains t)))
        let problem =
            { Names = tensors |> Array.map (fun t -> p.Problem.Names[t])
              Inputs = tensors |> Array.map (fun t -> p.Inputs[t] |> Array.map (fun i -> p.IndexNames[i]))
              Sizes = touched |> Array.map (fun i -> p.IndexNames[i], p.Size[i]) |> Map.ofArray
              Output = openIdx |> Array.map (fun i -> p.IndexNames[i])
              Trainable = tensors |> Array.map (fun t -> p.Problem.Trainable[t]) }
        match index Range.none problem with
        | Ok s -> s
        | Result.Error _ -> invalidOp "a sub-problem of a valid problem is valid"

/// A contraction tree in SSA form, the one tree type of the planner. Leaves are the input tensors 0..Leaves-1;
/// step s creates node Leaves+s by contracting the listed nodes (two for a pairwise step, more for a multi-way
/// step such as the naive one-step contraction). Each node but the last is used exactly once; the last is the
/// result. A single-tensor problem has the one step [|0|] (it may sum indices away).
type ContractionTree =
    { Leaves: int
      Steps: int array array }

/// Building, checking and converting contraction trees.
module ContractionTree =
    /// The tree that contracts every tensor in one step (the naive cost model).
    let naive n = { Leaves = n; Steps = [| Array.init n id |] }

    /// The id of the result node.
    let root (t: ContractionTree) = t.Leaves + t.Steps.Length - 1

    /// Checks that every input and every intermediate is used exactly once and that the last step is the result;
    /// returns a message saying what is wrong otherwise.
    let validate (t: ContractionTree) : Result<unit, string> =
        let total = t.Leaves + t.Steps.Length
        let used = Array.zeroCreate total
        let mutable err = None
        if t.Leaves < 1 then err <- Some "a tree needs at least one leaf"
        elif t.Steps.Length = 0 then err <- Some "a tree needs at least one step"
        t.Steps
        |> Array.iteri (fun s children ->
            let node = t.Leaves + s
            if children.Length = 0 then err <- Some(sprintf "step %d has no operands" s)
            if children.Length = 1 && t.Leaves > 1 then err <- Some(sprintf "step %d has a single operand" s)
            for c in children do
                if c < 0 || c >= node then err <- Some(sprintf "step %d uses node %d, which does not exist yet" s c)
                else used[c] <- used[c] + 1)
        if err.IsNone then
            for v in 0 .. total - 2 do
                if used[v] <> 1 then err <- Some(sprintf "node %d is used %d times" v used[v])
        match err with
        | Some e -> Result.Error e
        | None -> Ok()

    /// The SSA path: per step, the ids of its operands (inputs 0..n-1, step s makes id n+s).
    let toSsa (t: ContractionTree) = t.Steps |> Array.map Array.copy

    /// A tree from an SSA path over n inputs.
    let ofSsa n (path: int array array) = { Leaves = n; Steps = path |> Array.map Array.copy }

    /// The linear path (opt_einsum's convention): per step, the positions (ascending) of its operands in the
    /// current list of tensors; they are removed and the result is appended at the end.
    let toLinear (t: ContractionTree) =
        let live = List<int>(seq { 0 .. t.Leaves - 1 })
        t.Steps
        |> Array.mapi (fun s children ->
            let pos = children |> Array.map (fun c -> live.IndexOf c) |> Array.sort
            for k in pos.Length - 1 .. -1 .. 0 do
                live.RemoveAt pos[k]
            live.Add(t.Leaves + s)
            pos)

    /// A tree from a linear path over n inputs.
    let ofLinear n (path: int array array) =
        let live = List<int>(seq { 0 .. n - 1 })
        let steps =
            path
            |> Array.mapi (fun s pos ->
                let sorted = Array.sort pos
                let children = sorted |> Array.map (fun p -> live[p])
                for k in sorted.Length - 1 .. -1 .. 0 do
                    live.RemoveAt sorted[k]
                live.Add(n + s)
                children)
        { Leaves = n; Steps = steps }

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

/// What a search minimises, as a value.
type Objective =
    /// Total flops.
    | Flops
    /// The largest intermediate (flops break ties).
    | Size
    /// Flops plus factor × elements written (cotengra's combo).
    | Combo of factor: float

/// Pure cost functions over contraction trees.
module Cost =
    let private prod (p: Indexed) (idx: int array) = idx |> Array.fold (fun acc i -> acc * BigInteger(p.Size[i])) BigInteger.One

    /// opt_einsum's flop count of one step joining k operands over the given indices.
    let stepFlops (p: Indexed) (k: int) (involved: int array) (anySummed: bool) =
        prod p involved * BigInteger(max 1 (k - 1) + (if anySummed then 1 else 0))

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
            let kept =
                involved
                |> Array.filter (fun i ->
                    remaining[i] <- remaining[i] - counts[i] + 1
                    p.IsOutput[i] || remaining[i] > 1)
            let summed = involved |> Array.filter (fun i -> not (Array.contains i kept))
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
              Size = prod p kept })

    /// Flops of contracting every tensor in one step.
    let naiveFlops (p: Indexed) =
        let all = Array.init p.Size.Length id
        stepFlops p p.Inputs.Length all (all |> Array.exists (fun i -> not p.IsOutput[i]))

    /// opt_einsum flops along the tree.
    let flops (p: Indexed) (t: ContractionTree) = steps p t |> Array.sumBy (fun s -> s.Flops)

    /// The largest result of any step, in elements.
    let largestIntermediate (p: Indexed) (t: ContractionTree) =
        steps p t |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.One

    let private inputSize (p: Indexed) (t: int) = prod p p.Inputs[t]

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
        | Combo f ->
            // f is applied in fixed point (2^-20 steps) so that the sum stays exact.
            let write = st |> Array.sumBy (fun s -> s.Size)
            struct (log2 (flops + BigInteger(f * 1048576.0) * write / BigInteger 1048576), largest)

/// Settings shared by every optimizer.
type PlanOptions =
    {
        /// What to minimise.
        Objective: Objective
        /// The most elements any intermediate may have, if limited.
        MemoryLimit: int64 option
        /// Seed of every random choice; equal seeds give equal plans (without a time budget).
        Seed: int
        /// Trials of randomised optimizers.
        Trials: int
        /// A wall-clock budget for randomised optimizers, in milliseconds; None runs all trials.
        TimeLimitMs: int option
        /// Whether randomised optimizers may use every core.
        Parallel: bool
    }

/// Default settings.
module PlanOptions =
    /// Flops, no memory limit, seed 0, 128 trials, no time budget, parallel.
    let defaults =
        { Objective = Flops
          MemoryLimit = None
          Seed = 0
          Trials = 128
          TimeLimitMs = None
          Parallel = true }

/// What an optimizer returns: a tree when it found one, and what it has to say.
type Found =
    { Tree: ContractionTree option
      Notes: Diagnostic list }

/// The one signature every optimizer has.
type Optimizer = Indexed -> PlanOptions -> Found
