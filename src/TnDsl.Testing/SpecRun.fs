namespace TnDsl.Testing

open System
open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open TnDsl

/// One drawn case of a spec check: parameter values, sizes of dynamic index families, and the values' seed.
type SpecCase =
    {
        /// The spec's integer parameters.
        Parameters: ParameterAssignment
        /// Dynamic (batch) index families and the size each gets.
        BatchSizes: (string * int64) list
        /// The seed `Values.sample` draws the tensors' values from.
        ValueSeed: int
    }

    override c.ToString() =
        let batch = c.BatchSizes |> List.map (fun (n, v) -> sprintf "%s=%d" n v)
        let all = [ string c.Parameters ] @ batch |> List.filter (fun s -> s <> "")
        sprintf "%s (values seed %d)" (String.Join(", ", all)) c.ValueSeed

/// What the code under test is given: the spec's network at the drawn parameters and one value per tensor.
type SpecSample =
    { /// The drawn case.
      Case: SpecCase
      /// The network at the drawn parameters (dynamic indices at the drawn sizes).
      Network: FlatNetwork
      /// The tensor families the spec declares (those of its network at its defaults and at the drawn parameters),
      /// so that `Family` tells a family with no member at this case from a name the spec does not have.
      Families: string list
      /// The dtype the values are rounded to and the result must have.
      DType: DType
      /// One tensor per network tensor (by id), axes in the tensor's declared leg order.
      Values: Dense array }

    /// The value of the tensor with this written name (`A[3]`).
    member s.Tensor(name: string) =
        match s.Network.Tensors |> Array.tryFind (fun t -> t.Name = name) with
        | Some t -> s.Values[t.Id]
        | None -> invalidArg "name" (sprintf "the network has no tensor `%s`; it has %s" name (String.Join(", ", s.Network.Tensors |> Array.truncate 8 |> Array.map (fun t -> t.Name))))

    /// The tensors of a family (`A` for `A[0]`, `A[1]`, …) in subscript order (none where the family has no member
    /// at this case); a family the spec does not declare is an `ArgumentException` that names those it does.
    member s.Family(family: string) =
        if not (List.contains family s.Families) then
            invalidArg "family" (sprintf "the spec has no tensor family `%s`; its families are %s" family (String.Join(", ", s.Families)))
        s.Network.Tensors |> Array.filter (fun t -> t.Family = family) |> Array.sortBy (fun t -> t.Subscripts) |> Array.map (fun t -> s.Values[t.Id])

    /// The value of an integer parameter of the spec (drawn, or the spec's default).
    member s.Parameter(name: string) =
        match s.Network.Parameters |> List.tryFind (fun (n, _) -> n = name) with
        | Some(_, VInt v) -> v
        | _ -> invalidArg "name" (sprintf "the spec has no integer parameter `%s`" name)

    /// The dimension of an index by written name (`b[3]`).
    member s.Dim(index: string) =
        match FlatNetwork.tryIndex s.Network index with
        | Some i -> Dim.size i.Dim
        | None -> invalidArg "index" (sprintf "the network has no index `%s`" index)

/// What the code under test returned: its shape, dtype name and entries (row-major, as float64).
type SpecOutput =
    {
        /// The result's shape.
        Shape: int64 array
        /// The result's dtype, as TorchSharp and numpy spell it (`float64`, `float32`).
        DType: string
        /// The entries, row-major, converted to float64.
        Data: float array
    }

/// Building outputs.
module SpecOutput =
    /// An output from a dense tensor computed in the given dtype.
    let ofDense (dtype: DType) (d: Dense) =
        { Shape = d.Shape |> Array.map int64; DType = DType.name dtype; Data = d.Data }

/// The code under test: a forward, and optionally its gradient (of Σ cotangent ⊙ forward, one per tensor id;
/// None for a tensor not differentiated).
type Implementation =
    {
        /// Computes the network's value from a sample.
        Forward: SpecSample -> SpecOutput
        /// Computes the gradient of Σ cotangent ⊙ forward (None: gradients are not checked).
        Gradient: (SpecSample -> Dense -> Dense option array) option
    }

/// Settings of a spec check. Every field has a default in `SpecOptions.defaults`.
type SpecOptions =
    {
        /// Cases that must pass (30; at least 1, a check of no case is refused).
        MaxTest: int
        /// The dtype of the values (float64).
        DType: DType
        /// (min, max) per integer parameter; others are drawn from 1 to min(default, 5).
        Ranges: Map<string, int64 * int64>
        /// The largest size of a dynamic (batch) index family (3).
        MaxBatch: int64
        /// The network in the file (None: the last).
        Network: string option
        /// The seed of the whole run; a failure reports it, and setting it reruns that exact run (None: fresh).
        Replay: int option
        /// Overrides the default tolerance (see `Tolerance.forNetwork`).
        Tolerance: Tolerance option
        /// Cases whose naive reference needs more multiply-adds than this are redrawn (2e6).
        WorkLimit: float
        /// The most shrinking steps taken (200).
        MaxShrinks: int
        /// Check the min-cut rank bound of each declared cut on the result (true).
        CheckRanks: bool
        /// Check the gradient against finite differences when the implementation has one (true).
        CheckGradients: bool
        /// Entries per tensor probed by finite differences (3).
        GradientEntries: int
    }

/// Default settings.
module SpecOptions =
    /// 30 cases in float64, parameters up to min(default, 5), batch up to 3, fresh seed, default tolerance.
    let defaults =
        { MaxTest = 30; DType = Float64; Ranges = Map.empty; MaxBatch = 3L; Network = None; Replay = None
          Tolerance = None; WorkLimit = 2e6; MaxShrinks = 200; CheckRanks = true; CheckGradients = true
          GradientEntries = 3 }

/// A failed spec check: the shrunk case, what was wrong with it, and how to replay the run.
type SpecFailure =
    { /// The spec's file.
      SpecPath: string
      /// The smallest failing case found.
      Case: SpecCase
      /// The network at that case.
      Network: FlatNetwork
      /// What the oracles found wrong at that case.
      Violation: Violation
      /// The first failing case, before shrinking.
      Original: SpecCase
      /// The violation at the first failing case.
      OriginalViolation: Violation
      /// Cases run up to and including the first failure.
      Tests: int
      /// Shrinking steps that kept the failure.
      Shrinks: int
      /// The dtype the values were given in.
      DType: DType
      /// The run's seed: `SpecOptions.Replay = Some Replay` reruns it exactly.
      Replay: int }

    /// Index dimensions of the failing network by family, e.g. `p=1, b=2` (`t=2|4` where a family mixes sizes).
    member f.Dims =
        f.Network.Indices
        |> Array.groupBy (fun i -> i.Family)
        |> Array.map (fun (fam, is) -> sprintf "%s=%s" fam (String.Join("|", is |> Array.map (fun i -> Dim.size i.Dim) |> Array.distinct)))
        |> fun xs -> String.Join(", ", xs)

    /// The failing network as `.tn` text (one declaration per index and tensor), to keep as a regression file.
    member f.TnText = TnText.ofNetwork f.Network

    /// The report: spec, shrunk parameters, dims, the violation with its largest deviation, and the replay seed.
    member f.Message =
        let nl = Environment.NewLine
        String.Join(
            nl,
            [ sprintf "SpecCheck: the forward does not match %s (%s check, %s) after %d test(s) and %d shrink(s)." f.SpecPath f.Violation.Oracle (DType.name f.DType) f.Tests f.Shrinks
              sprintf "  shrunk case:  %O" f.Case
              sprintf "  dims:         %s" f.Dims
              sprintf "  network:      tn check %s%s" f.SpecPath (String.Join("", f.Case.Parameters.Values |> List.map (fun (n, v) -> sprintf " --set %s=%d" n v)))
              sprintf "  violation:    %s" f.Violation.Message
              if f.Violation.Deviation > 0.0 then
                  sprintf "  largest deviation: %.6g%s" f.Violation.Deviation (if f.Violation.At = "" then "" else " at " + f.Violation.At)
              sprintf "  first failure: %O: %s" f.Original f.OriginalViolation.Message
              sprintf "  Replay = %d   (set Replay in the options to rerun this exact run)" f.Replay ])

/// The result of a spec check.
type SpecOutcome =
    /// Every case passed: how many, and the run's seed.
    | Passed of tests: int * replay: int
    /// A case failed: the shrunk failure.
    | Failed of SpecFailure

/// Raised by the throwing checks; carries the structured failure.
exception SpecCheckException of failure: SpecFailure
    with
        override e.Message = e.failure.Message

/// Raised inside a forward to report a violation found there (an implementation that runs several plans reports
/// which one disagreed); the engine reports it as is instead of as a throwing forward.
type ViolationException(violation: Violation) =
    inherit Exception(violation.Message)
    /// What was found wrong.
    member _.Violation = violation

/// The engine behind `SpecCheck.Contraction`: draws cases within the spec's ranges, runs the code under test and
/// the oracles on each, and on the first failure shrinks the case (parameters toward 1 and 2, batches toward 1)
/// while it still fails.
module SpecRun =
    let private withBatch (sizes: (string * int64) list) (net: FlatNetwork) =
        let m = Map.ofList sizes
        { net with
            Indices =
                net.Indices
                |> Array.map (fun i ->
                    match i.Dim, m.TryFind i.Family with
                    | Dynamic _, Some s -> { i with Dim = Dynamic s }
                    | _ -> i) }

    /// The dynamic index families of a network.
    let batchFamilies (net: FlatNetwork) =
        net.Indices |> Array.filter (fun i -> Dim.isDynamic i.Dim) |> Array.map (fun i -> i.Family) |> Array.distinct |> List.ofArray

    /// The network of a case, or None when the spec rejects the parameters or the reference would be too costly.
    let networkOf (spec: Spec) (options: SpecOptions) (case: SpecCase) =
        match SpecDims.compile spec case.Parameters with
        | Result.Error _ -> None
        | Ok net ->
            let net = withBatch case.BatchSizes net
            if Networks.referenceWork net > options.WorkLimit then None else Some net

    /// The sample a case gives the code under test.
    let sample (spec: Spec) (options: SpecOptions) (case: SpecCase) (net: FlatNetwork) =
        let families = Array.append spec.AtDefaults.Tensors net.Tensors |> Array.map (fun t -> t.Family) |> Array.distinct |> List.ofArray
        { Case = case; Network = net; Families = families; DType = options.DType; Values = Values.sample options.DType case.ValueSeed net }

    /// Runs the code under test on one case and every oracle on its result.
    let evaluate (spec: Spec) (options: SpecOptions) (impl: Implementation) (case: SpecCase) (net: FlatNetwork) : Result<unit, Violation> =
        let s = sample spec options case net
        let output = Array.ofList net.Output
        let tol = options.Tolerance |> Option.defaultWith (fun () -> Tolerance.forNetwork options.DType net)
        let reference = Reference.contract s.Values output
        let magnitude = Reference.contract (s.Values |> Array.map Dense.abs) output
        let forward (x: SpecSample) =
            try Ok(impl.Forward x)
            with
            | :? ViolationException as v -> Result.Error v.Violation
            | e ->
                let e = if isNull e.InnerException || not (e :? Reflection.TargetInvocationException) then e else e.InnerException
                Result.Error { Oracle = "forward"; Message = sprintf "the forward threw %s: %s" (e.GetType().Name) e.Message; Deviation = 0.0; At = "" }
        let asDense (o: SpecOutput) = { Labels = output; Shape = o.Shape |> Array.map int; Data = o.Data }
        forward s
        |> Result.bind (fun o ->
            Oracles.shape net o.Shape
            |> Result.bind (fun () -> Oracles.dtype options.DType o.DType)
            |> Result.bind (fun () -> Oracles.value tol reference magnitude o.Data)
            |> Result.bind (fun () ->
                if not options.CheckRanks then Ok()
                else
                    let relTol = max 1e-10 (10.0 * tol.Relative)
                    net.Cuts
                    |> List.fold (fun acc c -> acc |> Result.bind (fun () -> Oracles.rankBound relTol net { Left = c.Left; Right = c.Right } (asDense o))) (Ok()))
            |> Result.bind (fun () ->
                match impl.Gradient with
                | Some grad when options.CheckGradients ->
                    let rng = Random(case.ValueSeed + 1)
                    let cot = { reference with Data = reference.Data |> Array.map (fun _ -> DType.round options.DType (rng.NextDouble() * 2.0 - 1.0)) }
                    let claimed = grad s cot
                    let tensors = [ for t in net.Tensors do if claimed.Length > t.Id && claimed[t.Id].IsSome then t.Id, t.Name ]
                    let claimedDense = claimed |> Array.map (Option.defaultValue Dense.one)
                    let f (vs: Dense array) =
                        match forward { s with Values = vs } with
                        | Ok o -> asDense o
                        | Result.Error v -> failwith v.Message
                    try Oracles.gradient tol f s.Values cot magnitude claimedDense tensors options.GradientEntries case.ValueSeed
                    with e -> Result.Error { Oracle = "gradient"; Message = e.Message; Deviation = 0.0; At = "" }
                | _ -> Ok()))

    /// The generator of raw cases (parameters not yet checked against the spec's `require`s).
    let cases (spec: Spec) (options: SpecOptions) : Gen<SpecCase> =
        let families = batchFamilies spec.AtDefaults
        gen {
            let! ps = SpecDims.raw spec
            let! batch = families |> List.map (fun f -> Gen.choose64 (1L, max 1L options.MaxBatch) |> Gen.map (fun v -> f, v)) |> Gen.sequenceToList
            let! seed = Gen.choose (0, Int32.MaxValue - 2)
            return { Parameters = ps; BatchSizes = batch; ValueSeed = seed }
        }

    /// Simpler cases: parameters shrunk as `SpecDims.shrinkRaw` does, then each batch size toward 1.
    let shrinkCase (spec: Spec) (c: SpecCase) : seq<SpecCase> =
        seq {
            for p in SpecDims.shrinkRaw spec c.Parameters do
                { c with Parameters = p }
            for k, (f, v) in List.indexed c.BatchSizes do
                if v > 1L then { c with BatchSizes = List.updateAt k (f, 1L) c.BatchSizes }
        }

    /// Shrinks a failing case: repeatedly takes the first simpler case (`shrinkCase`) that the spec accepts and
    /// that still fails, at most `MaxShrinks` times. Returns the last failing case with its network and violation,
    /// and the number of steps taken.
    let shrink (spec: Spec) (impl: Implementation) (options: SpecOptions) (failing: SpecCase * FlatNetwork * Violation) =
        let mutable current = failing
        let mutable shrinks = 0
        let mutable progress = true
        while progress && shrinks < options.MaxShrinks do
            let (c, _, _) = current
            let next =
                shrinkCase spec c
                |> Seq.tryPick (fun cand ->
                    match networkOf spec options cand with
                    | None -> None
                    | Some net ->
                        match evaluate spec options impl cand net with
                        | Result.Error v -> Some(cand, net, v)
                        | Ok() -> None)
            match next with
            | Some n ->
                current <- n
                shrinks <- shrinks + 1
            | None -> progress <- false
        current, shrinks

    /// Checks an implementation against a loaded spec.
    let checkSpec (spec: Spec) (impl: Implementation) (options: SpecOptions) : SpecOutcome =
        // A run of no case would pass whatever the forward computes.
        if options.MaxTest < 1 then
            invalidArg "options" (sprintf "MaxTest must be at least 1, got %d: a check of no case passes whatever the forward computes" options.MaxTest)
        let runSeed = options.Replay |> Option.defaultWith (fun () -> Random.Shared.Next(1, Int32.MaxValue))
        let gen = cases spec options
        let draw (attempt: int) (size: int) =
            (Gen.sampleWithSeed (Rnd(uint64 runSeed, uint64 (2 * attempt + 1))) size 1 gen)[0]
        let mutable passed = 0
        let mutable attempt = 0
        let mutable failure = None
        while failure.IsNone && passed < options.MaxTest do
            if attempt > 20 * options.MaxTest + 100 then
                failwithf "SpecCheck: in %d draws no case of %s was both accepted by its `require`s and cheap enough for the reference (parameters %s); widen SpecOptions.Ranges or raise WorkLimit"
                    attempt spec.Path (String.Join(", ", spec.Parameters |> List.map (fun p -> sprintf "%s in %d..%d" p.Name p.Min p.Max)))
            // Sizes grow with every draw, so that a run whose small draws are all rejected moves on.
            let size = if options.MaxTest <= 1 then 100 else min 100 (attempt * 100 / (options.MaxTest - 1))
            let case = draw attempt size
            attempt <- attempt + 1
            match networkOf spec options case with
            | None -> ()
            | Some net ->
                match evaluate spec options impl case net with
                | Ok() -> passed <- passed + 1
                | Result.Error v -> failure <- Some(case, net, v)
        match failure with
        | None -> Passed(passed, runSeed)
        | Some(case0, net0, v0) ->
            let (c, net, v), shrinks = shrink spec impl options (case0, net0, v0)
            Failed
                { SpecPath = spec.Path; Case = c; Network = net; Violation = v; Original = case0; OriginalViolation = v0
                  Tests = passed + 1; Shrinks = shrinks; DType = options.DType; Replay = runSeed }

    /// Loads a spec and checks an implementation against it; a spec that does not load raises ArgumentException.
    let check (specPath: string) (impl: Implementation) (options: SpecOptions) : SpecOutcome =
        match SpecDims.load specPath options.Network options.Ranges with
        | Result.Error msg -> invalidArg "specPath" msg
        | Ok spec -> checkSpec spec impl options

    /// The linear path (opt_einsum's convention: pairs of positions in the current operand list) of the named
    /// optimizer's plan of a network; empty for a single tensor.
    let linearPath (optimizer: string) (net: FlatNetwork) : (int * int) array =
        let problem, _ = PlanInput.ofNetwork net Map.empty
        match Problem.index net.Range problem with
        | Result.Error ds -> failwithf "the network cannot be planned: %s" (String.Join("; ", ds |> List.map (fun d -> d.Message)))
        | Ok p ->
            let r = Plan.run optimizer { PlanOptions.defaults with Parallel = false; Trials = 16; TimeLimitMs = Some 200 } p
            match r.Tree with
            | Some tree when tree.Leaves > 1 -> ContractionTree.toLinear tree |> Array.map (fun step -> step[0], step[1])
            | Some _ -> [||]
            | None -> failwithf "optimizer %s found no plan" optimizer

    /// An implementation that executes a given contraction path, run once per optimizer in the planner's registry
    /// on every case (order independence): each result is held to the reference, and the first plan that
    /// disagrees is reported as an "order" violation naming the optimizer. `f` gets the optimizer's name and path.
    let overPlans (options: SpecOptions) (f: SpecSample -> string -> (int * int) array -> SpecOutput) : Implementation =
        let forward (s: SpecSample) =
            let net = s.Network
            let output = Array.ofList net.Output
            let tol = options.Tolerance |> Option.defaultWith (fun () -> Tolerance.forNetwork s.DType net)
            let reference = Reference.contract s.Values output
            let magnitude = Reference.contract (s.Values |> Array.map Dense.abs) output
            Plan.names
            |> List.map (fun name ->
                let o = f s name (linearPath name net)
                let verdict =
                    Oracles.shape net o.Shape
                    |> Result.bind (fun () -> Oracles.value tol reference magnitude o.Data)
                match verdict with
                | Ok() -> o
                | Result.Error v -> raise (ViolationException { v with Oracle = "order"; Message = sprintf "under the %s plan: %s" name v.Message }))
            |> List.head
        { Forward = forward; Gradient = None }

    /// F#: checks a forward against a spec and raises `SpecCheckException` (its message is the report) on failure.
    let contraction (specPath: string) (forward: SpecSample -> SpecOutput) (options: SpecOptions) =
        match check specPath { Forward = forward; Gradient = None } options with
        | Passed _ -> ()
        | Failed f -> raise (SpecCheckException f)
