/// Whether the searching optimizers are ever dearer than `greedy` on the same input: on random networks, how often
/// `auto`, `hyper` (a fixed trial count) and `random-greedy` return a plan dearer than `greedy`'s by the objective
/// (flops, largest intermediate or elements written, as `tn plan` reports them: after the single-operand reductions).
module TnDsl.Bench.CandsBench

open System
open System.Numerics
open TnDsl
open TnDsl.Bench.Measure

/// A random expression of 1..maxTensors operands over up to 8 indices of size 1..maxSize, each operand with 0..3
/// distinct indices (hyperindices, indices of one operand, scalars and disconnected parts all occur), each index
/// open with probability 1/2 (the property tests' generator).
let private expression (rng: Random) maxTensors maxSize =
    let n = 1 + rng.Next maxTensors
    let m = 1 + rng.Next 8
    let sizes = Array.init m (fun _ -> 1 + rng.Next maxSize)
    let tensors = Array.init n (fun _ -> Array.init (rng.Next 4) (fun _ -> rng.Next m) |> Array.distinct |> Array.map (sprintf "i%d"))
    let used = tensors |> Array.concat |> Array.distinct
    let output = used |> Array.filter (fun _ -> rng.Next 2 = 0)
    Problem.create None tensors (used |> Array.map (fun i -> i, int64 sizes[int (i.Substring 1)]) |> Map.ofArray) output

/// A random connected network of n tensors: a random spanning tree, `extra` random bonds more (loops, multi-edges
/// between the same pair stay separate indices), bond sizes 2..maxSize, a few open legs and one hyperindex on
/// three tensors where `hyper`.
let private connected (rng: Random) n extra maxSize hyper =
    let legs = Array.init n (fun _ -> ResizeArray<string>())
    let sizes = Collections.Generic.Dictionary<string, int64>()
    let bond a b =
        let name = sprintf "b%d" sizes.Count
        sizes[name] <- int64 (2 + rng.Next(maxSize - 1))
        legs[a].Add name
        legs[b].Add name
    for t in 1 .. n - 1 do
        bond (rng.Next t) t
    for _ in 1 .. extra do
        let a = rng.Next n
        let b = rng.Next n
        if a <> b then bond a b
    let opens = [| for k in 0 .. rng.Next 3 - 1 do
                       let name = sprintf "o%d" k
                       sizes[name] <- int64 (2 + rng.Next(maxSize - 1))
                       legs[rng.Next n].Add name
                       name |]
    if hyper && n >= 3 then
        sizes["h"] <- int64 (2 + rng.Next(maxSize - 1))
        for t in Seq.init n id |> Seq.sortBy (fun _ -> rng.Next()) |> Seq.truncate 3 do
            legs[t].Add "h"
    Problem.create None (legs |> Array.map (fun l -> l.ToArray())) (sizes |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq) opens

/// A problem as one line: each operand's indices with their sizes, and the output.
let private describe (p: Indexed) =
    if p.Inputs.Length > 16 then sprintf "%d tensors, %d indices" p.Inputs.Length p.Size.Length else
    let operand (ix: int array) = String.Join(" ", ix |> Array.map (fun i -> sprintf "%s:%d" p.IndexNames[i] p.Size[i]))
    String.Join(", ", p.Inputs |> Array.map (fun ix -> "[" + operand ix + "]")) + " -> [" + operand p.Output + "]"

/// A problem as the three strings of `NoDearerUnderLimitTests.written`: operands by spaces, each its indices by commas;
/// the indices' sizes (`name=size` by commas); the output's indices.
let private writtenForm (p: Indexed) =
    let names (ix: int array) = String.Join(",", ix |> Array.map (fun i -> p.IndexNames[i]))
    let used = Array.append (Array.concat p.Inputs) p.Output |> Array.distinct
    sprintf "\"%s\" \"%s\" \"%s\"" (String.Join(" ", p.Inputs |> Array.map names))
        (String.Join(",", used |> Array.map (fun i -> sprintf "%s=%d" p.IndexNames[i] p.Size[i]))) (names p.Output)

/// The figure an objective minimises, as `tn plan` reports it.
let private figure (objective: Objective) (r: PlanResult) =
    match objective, r.Cost with
    | Flops, Some c -> c.Flops
    | Size, Some c -> c.LargestIntermediate
    | Write, Some c -> c.Write
    | Combo _, Some c -> c.Flops
    | _, None -> BigInteger.MinusOne

/// The random families: a name, the number of cases per `count`, and a generator.
let private familiesOf count =
    [ "expressions <= 7 operands", count, (fun (rng: Random) -> expression rng 7 7)
      "expressions <= 14 operands", count / 4, (fun rng -> expression rng 14 5)
      "connected 8-30 tensors", count / 8, (fun rng -> connected rng (8 + rng.Next 23) (rng.Next 12) 5 (rng.Next 2 = 0))
      "lattices 3x3-5x5", count / 100, (fun rng -> let side = 3 + rng.Next 3 in PlanBench.peps side (side - rng.Next 2) (2 + rng.Next 2) (1 + rng.Next 2))
      "3-regular n=8-24", count / 50, (fun rng -> PlanBench.randomRegular (2 * (4 + rng.Next 9)) (2 + rng.Next 2) (rng.Next 100000))
      "closed lattices 8-24 D=2", count / 400, (fun rng -> let side = 8 + 4 * rng.Next 5 in PlanBench.peps side side 2 1 |> fun q -> { q with Output = [||] })
      "3-regular n=30-60 d=2", count / 200, (fun rng -> PlanBench.randomRegular (2 * (15 + rng.Next 16)) 2 (rng.Next 100000))
      "closed lattices 28-40 D=2", count / 500, (fun rng -> let side = 28 + 4 * rng.Next 4 in PlanBench.peps side side 2 1 |> fun q -> { q with Output = [||] }) ]

/// The figure `tn plan` reports for a plan under a memory limit: the executed flops of the sliced plan (reuse
/// across slices counted), or the tree's flops when it fits unsliced.
let private limitedFlops (r: PlanResult) =
    match r.Slicing, r.Cost with
    | Some s, _ -> s.Flops
    | None, Some c -> c.Flops
    | None, None -> BigInteger.MinusOne

/// The largest intermediate of a plan as it runs (one slice when sliced).
let private largestOf (r: PlanResult) =
    match r.Slicing, r.Cost with
    | Some s, _ -> s.LargestIntermediate
    | None, Some c -> c.LargestIntermediate
    | None, None -> BigInteger.MinusOne

/// Under a memory limit: for each random network whose largest intermediate planned by `greedy` without a limit has
/// at least `min=N` elements (default 16), the limit is that intermediate divided by each of `fractions=2,10,100`
/// (never below the output's size; a limit that does not bind, or that a smaller fraction gave, is skipped), and `greedy`, `random-greedy` (8 trials),
/// `hyper` (`trials=N`, default 8) and `auto` plan under it, flops objective. Counts per family and fraction (a)
/// plans dearer than greedy's by executed flops (the sliced plan's, as `tn plan` reports it), with the worst ratio,
/// (b) refusals where greedy's plan fits, (c) plans over the limit. Arguments as `run` (`count=N`, default 1000;
/// `written` prints each dearer network as `NoDearerUnderLimitTests.written` reads it;
/// the large families are skipped unless `only=` names them: `skip=` defaults to "28-40").
let runLimit (args: string array) =
    let arg (key: string) fallback =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(a.Substring(key.Length + 1)) else None) |> Option.defaultValue fallback
    let count = int (arg "count" "1000")
    let seed = int (arg "seed" "17")
    let trials = int (arg "trials" "8")
    let least = BigInteger(int64 (arg "min" "16"))
    let show = args |> Array.contains "show"
    let written = args |> Array.contains "written"
    let only = arg "only" ""
    let skip = arg "skip" (if only = "" then "28-40" else "\u0000")
    let fractions = (arg "fractions" "2,10,100").Split ',' |> Array.map int64
    let families = familiesOf count |> List.filter (fun (name, _, _) -> name.Contains only && not (name.Contains skip))
    let names = [| "auto"; "hyper"; "random-greedy" |]
    printfn "under a memory limit, against greedy under the same limit: dearer by executed flops (worst ratio) / refused where greedy fits / over the limit; hyper %d trials, random-greedy 8, seed %d, threads 1, %d cores" trials seed Environment.ProcessorCount
    printfn "  %-28s %5s %6s %22s %22s %22s %9s" "family" "1/f" "cases" "auto" "hyper" "random-greedy" "cpu s"
    let dearerAll = Array.zeroCreate<int> 3
    let refusedAll = Array.zeroCreate<int> 3
    let overAll = Array.zeroCreate<int> 4
    // Plans whose `Chosen` says "sliced" and that slice nothing.
    let mutable mislabelled = 0
    let mutable plans = 0
    for name, cases, make in families do
        for fraction in fractions do
            let dearer = Array.zeroCreate<int> 3
            let refused = Array.zeroCreate<int> 3
            let worst = Array.create 3 1.0
            let mutable planned = 0
            let rng = Random(seed)
            let (), _, cpu =
                timeCpu (fun () ->
                    for _ in 1 .. cases do
                        let p = index (make rng)
                        let o = { PlanOptions.defaults with Trials = trials; Parallel = false }
                        let free = Plan.run "greedy" o p
                        let outSize = p.Output |> Array.fold (fun acc i -> acc * BigInteger(p.Size[i])) BigInteger.One
                        match free.Cost with
                        | Some c when c.LargestIntermediate >= least ->
                            let limitAt (f: int64) = BigInteger.Max(c.LargestIntermediate / BigInteger f, outSize)
                            let limit = limitAt fraction
                            // A limit that a smaller fraction of the list already gave (clamped to the output) is skipped.
                            let repeated = fractions |> Array.exists (fun f -> f < fraction && limitAt f = limit)
                            if limit < c.LargestIntermediate && limit <= BigInteger Int64.MaxValue && not repeated then
                                planned <- planned + 1
                                let o = { o with MemoryLimit = Some(int64 limit) }
                                let g = Plan.run "greedy" o p
                                let fits (r: PlanResult) = Plan.succeeded r && largestOf r <= limit
                                if Plan.succeeded g && not (fits g) then overAll[3] <- overAll[3] + 1
                                let gf = limitedFlops g
                                names
                                |> Array.iteri (fun j opt ->
                                    let r = Plan.run opt (if opt = "random-greedy" then { o with Trials = 8 } else o) p
                                    if r.Chosen.Contains "sliced" && not (r.Chosen.Contains "unsliced") && r.Slicing.IsNone then
                                        mislabelled <- mislabelled + 1
                                        if show then printfn "    %s says '%s' and slices nothing: %s" opt r.Chosen (describe p)
                                        if written then printfn "      %O %s" limit (writtenForm p)
                                    if Plan.succeeded r && not (fits r) then
                                        overAll[j] <- overAll[j] + 1
                                        if show then printfn "    %s over the limit %O (%O): %s" opt limit (largestOf r) (describe p)
                                    if fits g && not (Plan.succeeded r) then
                                        refused[j] <- refused[j] + 1
                                        if show then printfn "    %s refused at %O where greedy fits (%O flops): %s" opt limit gf (describe p)
                                    elif fits g && fits r && limitedFlops r > gf then
                                        let f = limitedFlops r
                                        dearer[j] <- dearer[j] + 1
                                        worst[j] <- max worst[j] (float f / float gf)
                                        if show then printfn "    %s dearer at %O (%O > %O): %s" opt limit f gf (describe p)
                                        if written then printfn "      %s" (writtenForm p))
                        | _ -> ())
            let cell j =
                (if dearer[j] = 0 then "0" else sprintf "%d (x%.3g)" dearer[j] worst[j]) + sprintf " / %d" refused[j]
            printfn "  %-28s %5d %6d %22s %22s %22s %9.1f" name fraction planned (cell 0) (cell 1) (cell 2) (cpu / 1000.0)
            plans <- plans + planned
            for j in 0 .. 2 do
                dearerAll[j] <- dearerAll[j] + dearer[j]
                refusedAll[j] <- refusedAll[j] + refused[j]
    printfn "  %d plans per optimizer; dearer: auto %d, hyper %d, random-greedy %d; refused where greedy fits: auto %d, hyper %d, random-greedy %d; over the limit: auto %d, hyper %d, random-greedy %d, greedy %d"
        plans dearerAll[0] dearerAll[1] dearerAll[2] refusedAll[0] refusedAll[1] refusedAll[2] overAll[0] overAll[1] overAll[2] overAll[3]
    printfn "  said to be sliced and slicing nothing: %d" mislabelled

/// What one counted unit of the greedy slicer's work costs (`cands slicers`): per network and limit (1/10 and 1/100
/// of greedy's largest intermediate), greedy's free tree sliced by one deterministic pass on a `PlanSlice.Scorer`, as
/// `PlanSlice.findCountedOrders` does it. The pass is timed whole (process CPU, repeated until it takes 0.3 s), then
/// replayed without scoring (the same rounds' `OverLimit` and `Slice`, the prune): the difference is the candidates'
/// CPU. Printed beside it: the counted seconds the ledger gives the candidates (`PlanSlice.candidateCosting` of
/// a costing and the loop order at `PlanSlice.candidateOrderWeight`, at `PlanHyper.Work.Rates`), the rest of the pass's counted work (rounds, its costings, its loop order) against the
/// replay's CPU, a fresh exact costing's CPU (`Cost.steps`), and CPU ÷ counted of 8 hyper trials on the same network
/// without a limit (the work the rates were fitted to: the scale the slicer should share). Then the weights of a
/// candidate's costing and loop order fitted by relative least squares to the candidates' CPU, divided by the
/// geometric mean of the hyper trials' CPU ÷ counted, and the same for the rest of the pass. Arguments: `count=N` random connected networks of 8-30
/// tensors (default 12; the family of `cands limit`), `seed=S`, `only=TEXT`. Threads 1.
let slicers (args: string array) =
    let arg (key: string) fallback =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(a.Substring(key.Length + 1)) else None) |> Option.defaultValue fallback
    let count = int (arg "count" "12")
    let seed = int (arg "seed" "17")
    let only = arg "only" ""
    let load () = try (IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?"
    let rng = Random(seed)
    let cases =
        [ yield "lattice 4x4 D=4", index (HyperBench.lattice 4 4 4)
          yield "lattice 6x6 D=3", index (HyperBench.lattice 6 6 3)
          yield "lattice 8x8 D=4", index (HyperBench.lattice 8 8 4)
          yield "lattice 10x10 D=3", index (HyperBench.lattice 10 10 3)
          yield "lattice 12x12 D=2", index (HyperBench.lattice 12 12 2)
          yield "lattice 16x16 D=2", index (HyperBench.lattice 16 16 2)
          yield "lattice 24x24 D=2", index (HyperBench.lattice 24 24 2)
          yield "PEPS norm 4x4 D=3 d=2", index (HyperBench.pepsNorm 4 4 3 2)
          yield "PEPS norm 5x5 D=2 d=2", index (HyperBench.pepsNorm 5 5 2 2)
          yield "3-regular n=16 d=2", index (PlanBench.randomRegular 16 2 1601)
          yield "3-regular n=50 d=2", index (PlanBench.randomRegular 50 2 5001)
          yield "3-regular n=100 d=2", index (PlanBench.randomRegular 100 2 10001)
          for k in 1 .. count do
              let p = index (connected rng (8 + rng.Next 23) (rng.Next 12) 5 (rng.Next 2 = 0))
              yield sprintf "connected %d (%d tensors)" k p.Inputs.Length, p ]
        |> List.filter (fun (label, _) -> label.Contains only)
    let rates = PlanHyper.Work.Rates
    let serial = { PlanOptions.defaults with Parallel = false }
    let per = cpuPerCall
    let warm = index (HyperBench.lattice 4 4 3)
    PlanSlice.findWith 1 warm (PlanGreedy.bestGreedy warm serial).Tree (BigInteger 16) |> ignore
    printfn "the greedy slicer's counted work against its CPU: one deterministic pass on greedy's free tree (serial, threads 1, %d cores, load %s); rates: steps %.3g s, orders %.3g s; a candidate counts %.3g of a costing and its loop order at %.3g"
        Environment.ProcessorCount (load ()) rates[2] rates[5] PlanSlice.candidateCosting PlanSlice.candidateOrderWeight
    printfn "  %-30s %5s %5s %6s %6s %8s %10s %10s %7s %10s %10s %7s %9s %8s" "network, limit" "steps" "k" "rounds" "cands" "us/cand" "cand cpu s" "counted s" "cpu/cnt" "rest cpu s" "counted s" "cpu/cnt" "costing s" "hyper c/c"
    let candRows = ResizeArray()
    let restRows = ResizeArray()
    let hyperRatios = ResizeArray()
    for (label, p) in cases do
        let t = (PlanGreedy.bestGreedy p serial).Tree
        let largest = Cost.largestIntermediate p t
        let n = float t.Steps.Length
        let hyper =
            lazy
                (let s, _, cpu = timeCpu (fun () -> PlanHyper.searchWith None p { serial with Trials = 8 })
                 cpu / 1000.0 / s.Work.Seconds)
        for share in [ 10; 100 ] do
            let limit = BigInteger.Max(BigInteger.One, largest / BigInteger share)
            let name = sprintf "%s 1/%d" label share
            // The pass replayed: its rounds, their candidates, the index each sliced.
            let scorer = PlanSlice.Scorer(p, t)
            let chosen = ResizeArray()
            let mutable rounds = 0
            let mutable cands = 0
            let mutable candOps = 0.0
            let mutable fits = true
            let mutable go = true
            while go do
                let largest, candidates = scorer.OverLimit()
                if largest <= limit then go <- false
                elif candidates.Length = 0 then
                    fits <- false
                    go <- false
                else
                    rounds <- rounds + 1
                    cands <- cands + candidates.Length
                    candOps <- candOps + float candidates.Length * PlanSlice.orderOps t.Steps.Length (scorer.Count + 1)
                    let best = candidates |> Array.minBy (fun i -> scorer.Executed i, -p.Size[i], i)
                    chosen.Add best
                    scorer.Slice best
            if fits && largest > limit && cands > 0 then
                let ix = scorer.Prune limit
                let pass = per (fun () -> PlanSlice.findCountedOrders (ref 0.0) (ref 0.0) 1 p t limit |> ignore)
                let replay =
                    per (fun () ->
                        let s = PlanSlice.Scorer(p, t)
                        for i in chosen do
                            s.OverLimit() |> ignore
                            s.Slice i
                        s.OverLimit() |> ignore
                        s.Prune limit |> ignore
                        PlanSlice.flopsOf p t ix |> ignore)
                let costing = per (fun () -> Cost.steps p t |> ignore)
                let candCpu = max 1e-9 (pass - replay)
                let candCounted = PlanSlice.candidateCosting * float cands * n * rates[2] + PlanSlice.candidateOrderWeight * candOps * rates[5]
                let candUnits = [| float cands * n * rates[2]; candOps * rates[5] |]
                // The rest as the pass counts it: the pass's costing and its rounds (`PlanSlice.roundCosting`), the final
                // set's loop order.
                let restUnits = [| (1.0 + PlanSlice.roundCosting * float rounds) * n * rates[2]; PlanSlice.orderOps t.Steps.Length ix.Length * rates[5] |]
                let ratio = hyper.Force()
                hyperRatios.Add ratio
                candRows.Add((candUnits, candCpu))
                restRows.Add((restUnits, replay))
                printfn "  %-30s %5d %5d %6d %6d %8.2f %10.4g %10.4g %7.2f %10.4g %10.4g %7.2f %9.3g %8.2f" name t.Steps.Length ix.Length rounds cands
                    (candCpu / float cands * 1e6) candCpu candCounted (candCpu / candCounted) replay (Array.sum restUnits) (replay / Array.sum restUnits) costing ratio
    let g = Math.Exp(hyperRatios |> Seq.averageBy Math.Log)
    let fitted = HyperBench.fitRelative candRows |> Array.map (fun r -> r / g)
    let rest = HyperBench.fitRelative restRows |> Array.map (fun r -> r / g)
    printfn "hyper trials' cpu / counted: geometric mean %.2f (%.2f-%.2f)" g (Seq.min hyperRatios) (Seq.max hyperRatios)
    printfn "fitted on the hyper trials' scale (relative least squares): a candidate = %.3g of a costing + its loop order at %.3g; the rest of the pass = %.3g of its costings + its loop order at %.3g"
        fitted[0] fitted[1] rest[0] rest[1]


/// Counts, per family of networks and objective, how often `auto`, `hyper` (fixed trials) and `random-greedy` (8
/// trials) are dearer than `greedy` by the objective, and the worst ratio. Arguments: `count=N` (random expressions
/// per objective, default 2000), `seed=S`, `trials=N` (hyper's, default 8), `objectives=flops,size,write`,
/// `only=TEXT` (families whose name contains it), `skip=TEXT` (families whose name does not), `show` (print each case that is dearer). Threads 1.
let run (args: string array) =
    if args |> Array.contains "limit" then runLimit (args |> Array.filter ((<>) "limit"))
    elif args |> Array.contains "slicers" then slicers args else
    let arg (key: string) fallback =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(a.Substring(key.Length + 1)) else None) |> Option.defaultValue fallback
    let count = int (arg "count" "2000")
    let seed = int (arg "seed" "17")
    let trials = int (arg "trials" "8")
    let show = args |> Array.contains "show"
    let only = arg "only" ""
    let skip = arg "skip" "\u0000"
    let objectives =
        (arg "objectives" "flops,size,write").Split ','
        |> Array.map (function "flops" -> Flops | "size" -> Size | "write" -> Write | o -> failwithf "unknown objective %s" o)
    let families = familiesOf count |> List.filter (fun (name, _, _) -> name.Contains only && not (name.Contains skip))
    printfn "optimizers against greedy: cases where each is dearer by the objective (after reductions); hyper %d trials, random-greedy 8, seed %d, threads 1, %d cores" trials seed Environment.ProcessorCount
    printfn "  %-28s %-9s %6s %15s %15s %15s %9s" "family" "objective" "cases" "auto dearer" "hyper dearer" "rg dearer" "cpu s"
    let total = Array.zeroCreate<int> 3
    for objective in objectives do
        for name, cases, make in families do
            let dearer = Array.zeroCreate<int> 3
            let worst = Array.create 3 1.0
            let rng = Random(seed)
            let (), _, cpu =
                timeCpu (fun () ->
                    for k in 1 .. cases do
                        let p = index (make rng)
                        let o = { PlanOptions.defaults with Objective = objective; Trials = trials; Parallel = false }
                        let g = figure objective (Plan.run "greedy" o p)
                        [ "auto", o; "hyper", o; "random-greedy", { o with Trials = 8 } ]
                        |> List.iteri (fun j (opt, o) ->
                            let f = figure objective (Plan.run opt o p)
                            if f > g then
                                dearer[j] <- dearer[j] + 1
                                worst[j] <- max worst[j] (float f / float g)
                                if show then printfn "    %s dearer (%O > %O): %s" opt f g (describe p)))
            let cell j = if dearer[j] = 0 then "0" else sprintf "%d (x%.3g)" dearer[j] worst[j]
            printfn "  %-28s %-9s %6d %15s %15s %15s %9.1f" name ((sprintf "%A" objective).ToLowerInvariant()) cases (cell 0) (cell 1) (cell 2) (cpu / 1000.0)
            for j in 0 .. 2 do
                total[j] <- total[j] + dearer[j]
    printfn "  total dearer: auto %d, hyper %d, random-greedy %d" total[0] total[1] total[2]
