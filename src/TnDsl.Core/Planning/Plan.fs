namespace TnDsl

open System
open System.Diagnostics
open System.Numerics

/// A finished plan: the tree, every figure derived from it, and what the planner has to say.
type PlanResult =
    {
        /// The problem that was planned.
        Problem: Indexed
        /// The optimizer that was asked for.
        Optimizer: string
        /// The optimizer whose tree this is: the one asked for, or the candidate `auto` chose (`greedy`,
        /// `bond-greedy`, …, with `@unit-batch` when the tree was found with the batch indices at size 1).
        Chosen: string
        /// The tree, when one was found.
        Tree: ContractionTree option
        /// The tree's steps with their costs (empty without a tree).
        Steps: StepCost array
        /// The tree's figures, when there is a tree (unsliced: one pass over every index value).
        Cost: CostReport option
        /// The slicing that makes the tree fit the memory limit, when the tree alone does not.
        Slicing: Slicing option
        /// Wall-clock time of the search, in milliseconds.
        SearchMs: float
        /// Warnings, notes and errors (TN03xx); an error means the plan failed.
        Diagnostics: Diagnostic list
    }

/// The optimizer registry and the planning driver.
module Plan =
    /// A line of the planner's empirical scaling: the fitted exponent of flops in one parameter.
    type Exponent =
        { Parameter: string
          /// The values the parameter took and the flops planned at each.
          Points: (int64 * BigInteger) list
          /// The least-squares slope of log flops against log value.
          Exponent: float }

    /// An internal error: an optimizer returned something that is not a valid tree.
    let invalidTree = Diagnostic.kind Error "TN0311" "optimizer returned an invalid tree"

    /// A note naming the optimizer `auto` chose.
    let autoChoice = Diagnostic.kind Info "TN0312" "auto planner choice"

    let private estimateFlopsPerMs = 1e9

    /// An internal error: an optimizer threw. Planning stops with this error instead of falling back.
    let optimizerFailed = Diagnostic.kind Error "TN0313" "optimizer failed"

    /// The problem with its batch-like indices (`PlanGreedy.batchIndices`) at size 1, or None without any. The
    /// optimizers handle a wide batch poorly; a tree found on this view is costed on the real problem.
    let unitBatch (p: Indexed) : Indexed option =
        match PlanGreedy.batchIndices p with
        | [||] -> None
        | wide ->
            let size = Array.copy p.Size
            for i in wide do
                size[i] <- 1L
            Some { p with Size = size }

    /// `auto` with the name of the candidate it chose. Tiny contractions get the better of greedy and bond-greedy; small networks (≤ 16
    /// tensors) the exact search; larger ones the best, by the objective on the real problem, of random-greedy
    /// under a time budget of a tenth of the greedy plan's estimated run time at 1e12 flop/s (kept between 2 ms
    /// and 2 s), partition (from 64 tensors when the budget allows and no wide hyperindex), bond-greedy (which
    /// finds sweeps along chains and trees), and greedy on the view with the batch indices at size 1.
    let autoChoose (p: Indexed) (o: PlanOptions) : string * Found =
        let n = p.Inputs.Length
        let greedyRun = PlanGreedy.bestGreedy p o
        let greedyFlops = Math.Pow(2.0, greedyRun.Flops)
        if n <= 2 || greedyFlops < 1e6 then
            let bond = PlanSweep.bondGreedyTree p
            if Cost.score o.Objective p bond < Cost.score o.Objective p greedyRun.Tree then
                "bond-greedy", { Tree = Some bond; Notes = [] }
            else
                "greedy", { Tree = Some greedyRun.Tree; Notes = [] }
        elif n <= 16 then
            "optimal", PlanOptimal.optimal p o
        else
            let budget = int (Math.Clamp(greedyFlops / estimateFlopsPerMs * 0.1, 2.0, 2000.0))
            let timed = { o with TimeLimitMs = Some budget; Trials = max o.Trials 100000 }
            let candidates =
                [ yield "random-greedy", (fun () -> PlanGreedy.randomGreedy p timed)
                  // Partition pays off on large regular networks; it is slow to start and poor around
                  // a wide hyperindex (a batch), so it runs only with time to spare and no such index.
                  let wide = p.Carriers |> Array.exists (fun c -> c.Length > PlanGreedy.hyperFanout)
                  if n >= 64 && budget >= 250 && not wide then yield "partition", (fun () -> PlanPartition.partition p o)
                  yield "bond-greedy", (fun () -> PlanSweep.bondGreedy p o)
                  match unitBatch p with
                  | Some unit -> yield "greedy@unit-batch", (fun () -> PlanGreedy.greedy unit o)
                  | None -> () ]
                |> List.choose (fun (name, f) -> (f ()).Tree |> Option.map (fun t -> name, t))
            // The first of equally good candidates wins, so that ties keep the earlier choice.
            let name, best =
                candidates |> List.reduce (fun a b -> if Cost.score o.Objective p (snd b) < Cost.score o.Objective p (snd a) then b else a)
            name, { Tree = Some best; Notes = [] }

    /// `auto`: see `autoChoose`.
    let auto: Optimizer = fun p o -> snd (autoChoose p o)

    /// Every optimizer by name, with a one-line description.
    let registry: (string * string * Optimizer) list =
        [ "auto", "chooses by network size so that planning stays well under one contraction", auto
          "optimal", "exact minimum by dynamic programming over subnetworks", PlanOptimal.optimal
          "greedy", "cheapest pair first (memory-removed heuristic)", PlanGreedy.greedy
          "random-greedy", "best of seeded Boltzmann-sampled greedy runs, in parallel", PlanGreedy.randomGreedy
          "partition", "recursive min-cut bisection, greedy inside small pieces", PlanPartition.partition
          "bond-greedy", "smallest result first among pairs joined by a bond (sweeps chains and trees)", PlanSweep.bondGreedy
          "hyper", "hyper-optimised: sampled greedy and partition settings, best trees polished by subtree reconfiguration", PlanHyper.hyper ]

    /// The registered names.
    let names = registry |> List.map (fun (n, _, _) -> n)

    /// The optimizer of a name, or a TN0300 diagnostic listing the valid names.
    let tryFind (name: string) : Result<Optimizer, Diagnostic> =
        match registry |> List.tryFind (fun (n, _, _) -> n = name) with
        | Some (_, _, f) -> Ok f
        | None ->
            Diagnostic.make PlanDiagnostics.unknownOptimizer Range.none
                (sprintf "unknown optimizer '%s'; valid optimizers: %s" name (String.Join(", ", names)))
            |> Diagnostic.withHint "choose one with --optimizer NAME"
            |> Result.Error

    let private limitDiagnostics (p: Indexed) (o: PlanOptions) (tree: ContractionTree option) (largest: BigInteger option) =
        match o.MemoryLimit with
        | None -> []
        | Some limit ->
            let outSize = p.Output |> Array.fold (fun acc i -> acc * BigInteger(p.Size[i])) BigInteger.One
            let fail msg =
                [ Diagnostic.make PlanDiagnostics.memoryLimit Range.none msg
                  |> Diagnostic.withHint "raise --memory-limit, or try another --optimizer" ]
            if outSize > BigInteger(limit) then
                fail (sprintf "the result alone has %O elements, over the memory limit of %d" outSize limit)
            else
                match tree, largest with
                | None, _ -> fail (sprintf "no contraction order keeps every intermediate within %d elements" limit)
                | Some _, Some l when l > BigInteger(limit) ->
                    fail (sprintf "the best order found, sliced where possible, has an intermediate of %O elements, over the memory limit of %d"
                              l limit)
                | _ -> []

    /// Networks up to this many tensors get slicing interleaved with subtree reconfiguration under a memory limit.
    let reconfigureUpTo = 400

    /// The cheapest way found to meet the memory limit: the optimizer's tree under the limit as is, or sliced,
    /// or the tree it finds without the limit, sliced. Returns the tree and its slicing (None when unsliced).
    let private fitLimit (optimizer: Optimizer) (p: Indexed) (o: PlanOptions) (limited: ContractionTree option) =
        match o.MemoryLimit with
        | None -> limited, None
        | Some l ->
            let limit = BigInteger l
            let option (t: ContractionTree) =
                let c = Cost.report p t
                if c.LargestIntermediate <= limit then Some(c.Flops, t, None)
                elif not o.Slice then None
                else
                    PlanSlice.find p t limit
                    |> Option.map (fun ix -> let s = PlanSlice.figures p t ix in s.Flops, t, Some s)
            let free =
                if o.Slice then
                    (optimizer p { o with MemoryLimit = None }).Tree
                    |> Option.filter (fun t -> (ContractionTree.validate t).IsOk)
                    |> Option.map (PlanReduce.leaves p o.Objective (Some limit))
                else None
            // The unlimited tree also gets slicing interleaved with reconfiguration, which adapts the tree to
            // what is sliced (bounded to networks where reconfiguring the whole tree a few times is cheap).
            let reconfigured =
                match free with
                | Some t when p.Inputs.Length <= reconfigureUpTo ->
                    PlanHyper.sliceAndReconfigure p limit t
                    |> Option.map (fun (t, ix) -> let s = PlanSlice.figures p t ix in s.Flops, t, (if ix.Length = 0 then None else Some s))
                | _ -> None
            match ([ limited; free ] |> List.choose id |> List.choose option) @ Option.toList reconfigured with
            | [] -> limited, None
            | xs ->
                let _, t, s = xs |> List.minBy (fun (f, _, s) -> f, (match s with Some s -> s.Indices.Length | None -> 0))
                Some t, s

    /// Plans a checked problem with an optimizer under a name (a registered one, or a user-given path): times the
    /// search, derives every figure from the tree, and reports an invalid tree, an optimizer that throws (TN0313,
    /// never a silent fallback) or an unmet memory limit as diagnostics. `choose` returns the tree and the name of
    /// what actually made it.
    let runWith (name: string) (choose: Indexed -> PlanOptions -> string * Found) (o: PlanOptions) (p: Indexed) : PlanResult =
        let empty chosen diags =
            { Problem = p
              Optimizer = name
              Chosen = chosen
              Tree = None
              Steps = [||]
              Cost = None
              Slicing = None
              SearchMs = 0.0
              Diagnostics = diags }
        let clock = Stopwatch.StartNew()
        let attempt f =
            try
                Ok(f ())
            with
            | :? OutOfMemoryException -> reraise ()
            | e -> Result.Error e
        let failed (e: exn) =
            empty name [ Diagnostic.make optimizerFailed Range.none (sprintf "optimizer '%s' failed: %s" name e.Message)
                         |> Diagnostic.withHint "this is a bug in the planner; try another --optimizer meanwhile" ]
        match attempt (fun () -> choose p o) with
        | Result.Error e -> failed e
        | Ok (chosen, found) ->
            let notes =
                if name = "auto" then found.Notes @ [ Diagnostic.make autoChoice Range.none (sprintf "auto chose %s" chosen) ]
                else found.Notes
            // Every optimizer's tree gets the single-operand reductions that pay (exact search already has them).
            let limit = o.MemoryLimit |> Option.map BigInteger
            let tree =
                match found.Tree with
                | Some t when (ContractionTree.validate t).IsOk -> Some(PlanReduce.leaves p o.Objective limit t)
                | t -> t
            match tree |> Option.map (fun t -> t, ContractionTree.validate t) with
            | Some (_, Result.Error why) ->
                empty chosen (notes @ [ Diagnostic.make invalidTree Range.none (sprintf "%s: %s" chosen why) ])
            | _ ->
                match attempt (fun () -> fitLimit (fun p o -> snd (choose p o)) p o tree) with
                | Result.Error e -> failed e
                | Ok (tree, slicing) ->
                let ms = clock.Elapsed.TotalMilliseconds
                let steps = tree |> Option.map (Cost.steps p) |> Option.defaultValue [||]
                let cost = tree |> Option.map (fun t -> Cost.ofSteps p t steps)
                let largest =
                    match slicing, cost with
                    | Some s, _ -> Some s.LargestIntermediate
                    | None, Some c -> Some c.LargestIntermediate
                    | None, None -> None
                { Problem = p
                  Optimizer = name
                  Chosen = chosen
                  Tree = tree
                  Steps = steps
                  Cost = cost
                  Slicing = slicing
                  SearchMs = ms
                  Diagnostics = notes @ limitDiagnostics p o tree largest }

    /// Plans a checked problem with the named optimizer (see `runWith`); an unknown name is a TN0300 error.
    let run (name: string) (o: PlanOptions) (p: Indexed) : PlanResult =
        match tryFind name with
        | Result.Error d ->
            { Problem = p; Optimizer = name; Chosen = name; Tree = None; Steps = [||]; Cost = None; Slicing = None
              SearchMs = 0.0; Diagnostics = [ d ] }
        | Ok optimizer ->
            let choose = if name = "auto" then autoChoose else fun p o -> name, optimizer p o
            runWith name choose o p

    /// Plans a checked problem along a user-given path (pairwise steps in the linear convention, completed left
    /// to right): the path is an optimizer like any other, named `path`.
    let runPath (pairs: (int * int) array) (o: PlanOptions) (p: Indexed) : PlanResult =
        runWith "path" (fun p o -> "path", PlanSweep.given pairs p o) o p

    /// True when the plan has a tree and no error.
    let succeeded (r: PlanResult) = r.Tree.IsSome && not (Diagnostic.hasErrors r.Diagnostics)

    /// The values a parameter is re-planned at: the value, twice it and four times it, or for a value of 64 and
    /// more (a long chain) a quarter, half and the value itself, so that re-plans stay no larger than the network
    /// at hand.
    let scalingPoints (value: int64) =
        if value >= 64L then [ value / 4L; value / 2L; value ] else [ value; 2L * value; 4L * value ]

    /// The empirical scaling of flops in each integer parameter, and the parameters that could not be fitted with
    /// the reason. With the others held, the network is rebuilt at each of `scalingPoints` (a rebuild may fail: a
    /// `require` that no longer holds), planned, and log flops fitted against log value by least squares; a
    /// parameter needs two points that plan.
    let scalingWith (parameters: (string * int64) list) (rebuild: (string * int64) list -> Result<Problem, string>)
                    (plan: Problem -> BigInteger option) : Exponent list * (string * string) list =
        let results =
            parameters
            |> List.map (fun (name, value) ->
                let attempts =
                    scalingPoints value
                    |> List.filter (fun v -> v >= 1L)
                    |> List.map (fun v ->
                        let values = parameters |> List.map (fun (k, x) -> if k = name then k, v else k, x)
                        match rebuild values with
                        | Result.Error why -> v, Result.Error why
                        | Ok problem ->
                            match plan problem with
                            | Some f -> v, Ok f
                            | None -> v, Result.Error "no plan")
                let points = attempts |> List.choose (fun (v, r) -> match r with Ok f -> Some(v, f) | _ -> None)
                if points.Length < 2 then
                    let why =
                        match attempts |> List.tryPick (fun (v, r) -> match r with Result.Error e -> Some(v, e) | _ -> None) with
                        | Some (v, e) -> sprintf "at %s=%d: %s" name v e
                        | None -> sprintf "value %d cannot be scaled" value
                    Choice2Of2(name, why)
                else
                    let xs = points |> List.map (fun (v, _) -> log (float v))
                    let ys = points |> List.map (fun (_, f) -> BigInteger.Log(BigInteger.Max(f, BigInteger.One)))
                    let mx = List.average xs
                    let my = List.average ys
                    let sxy = List.map2 (fun x y -> (x - mx) * (y - my)) xs ys |> List.sum
                    let sxx = xs |> List.sumBy (fun x -> (x - mx) * (x - mx))
                    Choice1Of2 { Parameter = name; Points = points; Exponent = (if sxx = 0.0 then 0.0 else sxy / sxx) })
        (results |> List.choose (function Choice1Of2 e -> Some e | _ -> None)),
        (results |> List.choose (function Choice2Of2 s -> Some s | _ -> None))

    /// `scalingWith` for rebuilds that either work or not: the fitted exponents only.
    let scaling (parameters: (string * int64) list) (rebuild: (string * int64) list -> Problem option)
                (plan: Problem -> BigInteger option) : Exponent list =
        let rebuild' values =
            match rebuild values with
            | Some p -> Ok p
            | None -> Result.Error "cannot rebuild"
        scalingWith parameters rebuild' plan |> fst

    /// The scaling line: `flops ~ n^1.0 chi^3.0`.
    let formatScaling (exps: Exponent list) =
        "flops ~ " + String.Join(" ", exps |> List.map (fun e -> sprintf "%s^%.1f" e.Parameter e.Exponent))
