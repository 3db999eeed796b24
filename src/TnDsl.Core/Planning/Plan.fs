namespace TnDsl

open System
open System.Diagnostics
open System.Numerics

/// A finished plan: the tree, every figure derived from it, and what the planner has to say.
type PlanResult =
    {
        /// The problem that was planned.
        Problem: Indexed
        /// The optimizer that was asked for (`auto` reports what it chose in a note).
        Optimizer: string
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
          /// The least-squares slope of log flops against log value (the power of a polynomial).
          Exponent: float
          /// The least-squares slope of log2 flops against the value (the rate of an exponential: 2^(rate·n)).
          Rate: float
          /// True when the exponential form fits the points clearly better than the power law.
          Exponential: bool
          /// True when even log2 flops grows exponentially (a MERA's levels, whose width doubles each level); `Rate`
          /// is then the slope of log2 log2 flops against the value.
          DoublyExponential: bool }

    /// An internal error: an optimizer returned something that is not a valid tree.
    let invalidTree = Diagnostic.kind Error "TN0311" "optimizer returned an invalid tree"

    /// A note naming the optimizer `auto` chose.
    let autoChoice = Diagnostic.kind Info "TN0312" "auto planner choice"

    let private estimateFlopsPerMs = 1e9

    /// `auto`: plans quickly by size. Tiny contractions get greedy; small networks (≤ 16 tensors) the exact
    /// search; larger ones random-greedy (and partition from 64 tensors when the budget allows) under a time
    /// budget of a tenth of the
    /// greedy plan's estimated run time at 1e12 flop/s, kept between 2 ms and 2 s.
    let auto: Optimizer =
        fun p o ->
            let n = p.Inputs.Length
            let note what = Diagnostic.make autoChoice Range.none (sprintf "auto chose %s" what)
            let greedyRun = PlanGreedy.bestGreedy p o
            let greedyFlops = Math.Pow(2.0, greedyRun.Flops)
            if n <= 2 || greedyFlops < 1e6 then
                { Tree = Some greedyRun.Tree; Notes = [ note "greedy" ] }
            elif n <= 16 then
                { PlanOptimal.optimal p o with Notes = [ note "optimal" ] }
            else
                let budget = int (Math.Clamp(greedyFlops / estimateFlopsPerMs * 0.1, 2.0, 2000.0))
                let timed = { o with TimeLimitMs = Some budget; Trials = max o.Trials 100000 }
                let candidates =
                    [ yield "random-greedy", PlanGreedy.randomGreedy p timed
                      // Partition pays off on large regular networks; it is slow to start and poor around
                      // a wide hyperindex (a batch), so it runs only with time to spare and no such index.
                      let wide = p.Carriers |> Array.exists (fun c -> c.Length > PlanGreedy.hyperFanout)
                      if n >= 64 && budget >= 250 && not wide then yield "partition", PlanPartition.partition p o ]
                    |> List.choose (fun (name, f) -> f.Tree |> Option.map (fun t -> name, t))
                let name, best = candidates |> List.minBy (fun (_, t) -> Cost.score o.Objective p t)
                { Tree = Some best; Notes = [ note (sprintf "%s (budget %d ms)" name budget) ] }

    /// Every optimizer by name, with a one-line description.
    let registry: (string * string * Optimizer) list =
        [ "auto", "chooses by network size so that planning stays well under one contraction", auto
          "optimal", "exact minimum by dynamic programming over subnetworks", PlanOptimal.optimal
          "greedy", "cheapest pair first (memory-removed heuristic)", PlanGreedy.greedy
          "random-greedy", "best of seeded Boltzmann-sampled greedy runs, in parallel", PlanGreedy.randomGreedy
          "partition", "recursive min-cut bisection, greedy inside small pieces", PlanPartition.partition ]

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
            match [ limited; free ] |> List.choose id |> List.choose option with
            | [] -> limited, None
            | xs ->
                let _, t, s = xs |> List.minBy (fun (f, _, s) -> f, (match s with Some s -> s.Indices.Length | None -> 0))
                Some t, s

    /// Plans a checked problem with the named optimizer: times the search, derives every figure from the tree,
    /// and reports an unknown name, an invalid tree or an unmet memory limit as diagnostics.
    let run (name: string) (o: PlanOptions) (p: Indexed) : PlanResult =
        let empty diags =
            { Problem = p
              Optimizer = name
              Tree = None
              Steps = [||]
              Cost = None
              Slicing = None
              SearchMs = 0.0
              Diagnostics = diags }
        match tryFind name with
        | Result.Error d -> empty [ d ]
        | Ok optimizer ->
            let clock = Stopwatch.StartNew()
            let found = optimizer p o
            // Every optimizer's tree gets the single-operand reductions that pay (exact search already has them).
            let limit = o.MemoryLimit |> Option.map BigInteger
            let found =
                match found.Tree with
                | Some t when (ContractionTree.validate t).IsOk -> { found with Tree = Some(PlanReduce.leaves p o.Objective limit t) }
                | _ -> found
            match found.Tree |> Option.map (fun t -> t, ContractionTree.validate t) with
            | Some (_, Result.Error why) ->
                empty (found.Notes @ [ Diagnostic.make invalidTree Range.none (sprintf "%s: %s" name why) ])
            | _ ->
                let tree, slicing = fitLimit optimizer p o found.Tree
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
                  Tree = tree
                  Steps = steps
                  Cost = cost
                  Slicing = slicing
                  SearchMs = ms
                  Diagnostics = found.Notes @ limitDiagnostics p o tree largest }

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
                    let lnFlops = points |> List.map (fun (_, f) -> BigInteger.Log(BigInteger.Max(f, BigInteger.Parse "2")))
                    // Three forms, each a line: ln flops against ln n (a power law), ln flops against n (an
                    // exponential), ln ln flops against n (a doubly exponential). With three points at n, 2n, 4n each
                    // fits its own form exactly and the others badly.
                    let fit (xs: float list) (ys: float list) =
                        let mx = List.average xs
                        let my = List.average ys
                        let sxy = List.map2 (fun x y -> (x - mx) * (y - my)) xs ys |> List.sum
                        let sxx = xs |> List.sumBy (fun x -> (x - mx) * (x - mx))
                        let slope = if sxx = 0.0 then 0.0 else sxy / sxx
                        let residual = List.map2 (fun x y -> let e = y - (my + slope * (x - mx)) in e * e) xs ys |> List.sum
                        let total = ys |> List.sumBy (fun y -> (y - my) * (y - my))
                        // The share of the variation the line leaves unexplained (1 - R²), comparable across forms.
                        slope, (if total = 0.0 then 0.0 else residual / total)
                    let values = points |> List.map (fun (v, _) -> float v)
                    let power, powerResidual = fit (values |> List.map log) lnFlops
                    let rate, expResidual = fit values lnFlops
                    let doubleRate, doubleResidual = fit values (lnFlops |> List.map (fun y -> log (y / log 2.0)))
                    // A power law plus a constant (the output's size) also bends upwards at small values, so an
                    // exponential must also fit clearly better, and the local power between the last two points must
                    // be large (at least 6) and well above the first (x1.6): a polynomial's local power stays below
                    // its degree.
                    let local k =
                        let (v0, _), (v1, _) = points[k], points[k + 1]
                        (lnFlops[k + 1] - lnFlops[k]) / (log (float v1) - log (float v0))
                    let bends = points.Length >= 3 && local (points.Length - 2) >= 6.0 && local (points.Length - 2) >= 1.6 * local 0
                    let exponential = bends && rate > 0.0 && expResidual < 0.25 * powerResidual
                    let doubly = bends && doubleRate > 0.0 && doubleResidual < 0.25 * min powerResidual expResidual
                    Choice1Of2
                        { Parameter = name
                          Points = points
                          Exponent = power
                          Rate = (if doubly then doubleRate / log 2.0 else rate / log 2.0)
                          Exponential = exponential || doubly
                          DoublyExponential = doubly })
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

    /// The scaling line: `flops ~ n^1.0 chi^3.0`, `flops ~ 2^(0.52 L) d^4.0` where flops grow exponentially in L,
    /// `2^2^(1 L)` where log2 flops does.
    let formatScaling (exps: Exponent list) =
        let term (e: Exponent) =
            if e.DoublyExponential then sprintf "2^2^(%.2g %s)" e.Rate e.Parameter
            elif e.Exponential then sprintf "2^(%.2g %s)" e.Rate e.Parameter
            // Two points fit any form: a steep power from two points may as well be an exponential.
            elif e.Points.Length < 3 && e.Exponent > 6.0 then sprintf "%s^%.1f (2 points: or exponential)" e.Parameter e.Exponent
            else sprintf "%s^%.1f" e.Parameter e.Exponent
        "flops ~ " + String.Join(" ", exps |> List.map term)
