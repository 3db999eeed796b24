/// The hyper-optimisation benchmark: flops, largest intermediate and search time of `hyper` and `auto` against
/// `random-greedy` and the `auto` of before this work (kept here as `auto-old`), measured in the same run, on
/// random 3-regular graphs, 2-D lattices and PEPS norms, random circuits on a grid, MERA, trees and networks with
/// hyperindices; then slicing to 1/100 of the unsliced largest intermediate on the lattices.
module TnDsl.Bench.HyperBench

open System
open System.Diagnostics
open System.Numerics
open TnDsl
open TnDsl.Bench.Measure

/// An L × L lattice with bonds of size D and no open legs (a PEPS norm with physical legs traced in, or a
/// classical partition function).
let lattice rows cols bond = PlanBench.peps rows cols bond 1 |> fun p -> { p with Output = [||] }

/// ⟨ψ|ψ⟩ of a rows × cols PEPS (bond D, physical d): a ket and a bra layer joined by the physical legs.
let pepsNorm rows cols bond d =
    let layer (tag: string) =
        [| for r in 0 .. rows - 1 do
               for c in 0 .. cols - 1 do
                   [| sprintf "s%d_%d" r c
                      if r > 0 then sprintf "%sv%d_%d" tag (r - 1) c
                      if c > 0 then sprintf "%sh%d_%d" tag r (c - 1)
                      if c < cols - 1 then sprintf "%sh%d_%d" tag r c
                      if r < rows - 1 then sprintf "%sv%d_%d" tag r c |] |]
    let tensors = Array.append (layer "k") (layer "b")
    let names = tensors |> Array.concat |> Array.distinct
    Problem.create None tensors (names |> Array.map (fun n -> n, (if n.StartsWith "s" then int64 d else int64 bond)) |> Map.ofArray) [||]

/// A random quantum circuit on a rows × cols grid of qubits: product input states, `depth` layers of two-qubit
/// gates on the grid's edges (the four edge patterns in turn, each gate with probability 3/4 where it fits) and
/// a product bra at the end: the amplitude ⟨x|C|0⟩ as a closed network of rank-4 gates and vectors, legs of size 2.
let circuit rows cols depth seed =
    let rng = Random(seed: int)
    let q r c = r * cols + c
    let wire = Array.init (rows * cols) (fun k -> sprintf "q%d_0" k)
    let time = Array.zeroCreate (rows * cols)
    let tensors = ResizeArray<string array>()
    for k in 0 .. rows * cols - 1 do
        tensors.Add [| wire[k] |]
    let next k =
        time[k] <- time[k] + 1
        wire[k] <- sprintf "q%d_%d" k time[k]
        wire[k]
    for layer in 0 .. depth - 1 do
        let pattern = layer % 4
        let pairs =
            [ for r in 0 .. rows - 1 do
                  for c in 0 .. cols - 1 do
                      match pattern with
                      | 0 when c % 2 = 0 && c + 1 < cols -> yield q r c, q r (c + 1)
                      | 1 when r % 2 = 0 && r + 1 < rows -> yield q r c, q (r + 1) c
                      | 2 when c % 2 = 1 && c + 1 < cols -> yield q r c, q r (c + 1)
                      | 3 when r % 2 = 1 && r + 1 < rows -> yield q r c, q (r + 1) c
                      | _ -> () ]
        for (a, b) in pairs do
            if rng.NextDouble() < 0.75 then
                let ia, ib = wire[a], wire[b]
                tensors.Add [| ia; ib; next a; next b |]
    for k in 0 .. rows * cols - 1 do
        tensors.Add [| wire[k] |]
    let names = tensors |> Seq.concat |> Seq.distinct |> Array.ofSeq
    Problem.create None (tensors.ToArray()) (names |> Array.map (fun n -> n, 2L) |> Map.ofArray) [||]

/// A binary tree tensor network over 2^levels sites (bond chi, physical 2) contracted with one vector per site.
let tree levels chi =
    let tensors = ResizeArray<string array>()
    let mutable fresh = 0
    let leg () =
        fresh <- fresh + 1
        sprintf "t%d" fresh
    let sizes = Collections.Generic.Dictionary<string, int64>()
    let mutable legs =
        Array.init (1 <<< levels) (fun _ ->
            let l = leg ()
            sizes[l] <- 2L
            tensors.Add [| l |]
            l)
    while legs.Length > 1 do
        legs <-
            Array.init (legs.Length / 2) (fun k ->
                let up = leg ()
                sizes[up] <- (if legs.Length = 2 then 1L else int64 chi)
                tensors.Add [| legs[2 * k]; legs[2 * k + 1]; up |]
                up)
    Problem.create None (tensors.ToArray()) (sizes |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq) [||]

/// A random network with hyperindices and open legs: n tensors on a random 3-regular graph (bond d), plus `hubs`
/// hyperindices each shared by 3–5 random tensors, and one open leg of size 2 on every tenth tensor.
let hyperNetwork n d hubs seed =
    let baseP = PlanBench.randomRegular n d seed
    let rng = Random(seed + 1)
    let inputs = baseP.Inputs |> Array.map ResizeArray
    let sizes = Collections.Generic.Dictionary<string, int64>(baseP.Sizes |> Map.toSeq |> dict)
    for h in 0 .. hubs - 1 do
        let name = sprintf "hub%d" h
        sizes[name] <- int64 d
        for t in Array.init (3 + rng.Next 3) (fun _ -> rng.Next n) |> Array.distinct do
            inputs[t].Add name
    let output = ResizeArray<string>()
    for t in 0 .. 10 .. n - 1 do
        let name = sprintf "o%d" t
        sizes[name] <- 2L
        inputs[t].Add name
        output.Add name
    Problem.create None (inputs |> Array.map (fun l -> l.ToArray())) (sizes |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq) (output.ToArray())

/// The `auto` of before this work: greedy below 1e6 flops, exact up to 16 tensors, else random-greedy (and
/// partition from 64 tensors) under a wall-clock budget of a tenth of the greedy plan's run time at 1e12 flop/s.
let autoOld: Optimizer =
    fun p o ->
        let n = p.Inputs.Length
        let greedyRun = PlanGreedy.bestGreedy p o
        let greedyFlops = Math.Pow(2.0, greedyRun.Flops)
        if n <= 2 || greedyFlops < 1e6 then { Tree = Some greedyRun.Tree; Notes = [] }
        elif n <= 16 then PlanOptimal.optimal p o
        else
            let budget = int (Math.Clamp(greedyFlops / 1e9 * 0.1, 2.0, 2000.0))
            let timed = { o with TimeLimitMs = Some budget; Trials = max o.Trials 100000 }
            let candidates =
                [ yield PlanGreedy.randomGreedy p timed
                  let wide = p.Carriers |> Array.exists (fun c -> c.Length > PlanGreedy.hyperFanout)
                  if n >= 64 && budget >= 250 && not wide then yield PlanPartition.partition p o ]
                |> List.choose (fun f -> f.Tree)
            { Tree = Some(candidates |> List.minBy (Cost.score o.Objective p)); Notes = [] }

type private Outcome = { Flops: BigInteger; Largest: BigInteger; Ms: float; Note: string }

let private runOne (p: Indexed) (name: string) (o: PlanOptions) =
    let clock = Stopwatch.StartNew()
    let tree, note =
        if name = "auto-old" then (autoOld p o).Tree, ""
        else
            let r = Plan.run name o p
            r.Tree, (r.Diagnostics |> List.tryPick (fun d -> if d.Kind.Code = "TN0312" then Some d.Message else None) |> Option.defaultValue "")
    let ms = clock.Elapsed.TotalMilliseconds
    let c = Cost.report p tree.Value
    { Flops = c.Flops; Largest = c.LargestIntermediate; Ms = ms; Note = note }

let private ratio (a: BigInteger) (b: BigInteger) = Math.Exp(BigInteger.Log a - BigInteger.Log b)

/// The benchmark's networks, also those of the side-by-side comparison with opt_einsum and cotengra (issue 17's
/// families); `quick` leaves out the largest.
let sideBySideCases quick =
    [ yield "3-regular n=20 d=2", index (PlanBench.randomRegular 20 2 1)
      yield "3-regular n=50 d=2", index (PlanBench.randomRegular 50 2 2)
      yield "3-regular n=100 d=2", index (PlanBench.randomRegular 100 2 3)
      if not quick then yield "3-regular n=200 d=2", index (PlanBench.randomRegular 200 2 4)
      if not quick then yield "3-regular n=500 d=2", index (PlanBench.randomRegular 500 2 5)
      yield "lattice 4x4 D=4", index (lattice 4 4 4)
      yield "lattice 8x8 D=2", index (lattice 8 8 2)
      if not quick then yield "lattice 12x12 D=2", index (lattice 12 12 2)
      if not quick then yield "lattice 16x16 D=2", index (lattice 16 16 2)
      yield "PEPS norm 4x4 D=3 d=2", index (pepsNorm 4 4 3 2)
      if not quick then yield "PEPS norm 6x6 D=3 d=2", index (pepsNorm 6 6 3 2)
      yield "circuit 4x4 depth 10", index (circuit 4 4 10 1)
      if not quick then yield "circuit 5x6 depth 14", index (circuit 5 6 14 2)
      if not quick then yield "circuit 5x5 depth 20", index (circuit 5 5 20 3)
      yield "MERA 64 sites chi=4", index (PlanBench.mera 6 4)
      yield "tree 64 sites chi=8", index (tree 6 8)
      yield "hyperindex n=60 d=2", index (hyperNetwork 60 2 6 5) ]

/// A proved lower bound for any sliced plan of the closed side × side lattice with bonds of size D under a memory
/// limit (elements): the least number of slices and the least executed flops (opt_einsum's convention) in any loop
/// order, valid whether or not the plan reuses results across slices; the argument is `SliceBound`'s
/// (src/TnDsl.Core/Planning/SliceBound.fs; the sliced count from counting and from `SliceBlocks.packing`, the
/// flops 4 D^s at that count), written out in bench/results/planner.md.
let latticeBound (side: int) (bond: int) (limit: BigInteger) = SliceBound.reuseLatticeAnyOrder side bond limit

/// Hand-built trees for the 16 × 16 lattice with D = 2 at 1/100 of hyper's unsliced largest intermediate, costed
/// under reuse across slices (bench/results/planner.md, "Session 11 (s11-sixteen)"): the top and bottom halves
/// (rows 0–7 and 8–15) with all 16 bonds between them sliced, so that no sliced bond dies inside a half, each half
/// swept by columns from both ends (left part columns 0..k, right part 15..k+1) or from one end only.
/// With `search`, first the slice-aware search's own plan at that limit: its sliced bonds, the sites of the two
/// largest subtrees below the root (A, B; '.' for the rest) and its heaviest steps' unsliced flops and indices.
let constructions (o: PlanOptions) (search: bool) =
    let side = 16
    let p = index (lattice side side 2)
    let free = Plan.run "hyper" o p
    let flops = free.Cost.Value.Flops
    let limit = free.Cost.Value.LargestIntermediate / BigInteger 100
    let leaf r c = Leaf(r * side + c)
    let columns (cols: int list) (rows: int list) = Sweep [ for c in cols do for r in rows -> leaf r c ]
    let half rows k =
        if k >= side - 1 then columns [ 0 .. side - 1 ] rows
        else Sweep [ columns [ 0 .. k ] rows; columns [ side - 1 .. -1 .. k + 1 ] rows ]
    let cut = [| for c in 0 .. side - 1 -> Array.IndexOf(p.IndexNames, sprintf "v7_%d" c) |]
    printfn "16x16 D=2: hyper unsliced %s flops (%d trials), largest %s, limit %s (1/100); ratios over hyper's unsliced flops" (PlanReport.sci flops) o.Trials (PlanReport.sci free.Cost.Value.LargestIntermediate) (PlanReport.sci limit)
    if search then
        let r = Plan.run "hyper" { o with MemoryLimit = Some(int64 limit) } p
        let t, sliced = r.Tree.Value, r.Slicing.Value.Indices
        let n = t.Leaves
        let sites = Array.init (n + t.Steps.Length) (fun v -> if v < n then Set.singleton v else Set.empty)
        t.Steps |> Array.iteri (fun k children -> sites[n + k] <- children |> Array.fold (fun a c -> Set.union a sites[c]) Set.empty)
        printfn "search's plan: executed %.3fx, tree unsliced %.3fx, sliced %s" (ratio r.Slicing.Value.Flops flops) (ratio (Cost.report p t).Flops flops)
            (String.Join(" ", sliced |> Array.map (fun i -> p.IndexNames[i])))
        let big = [| n .. n + t.Steps.Length - 2 |] |> Array.filter (fun v -> sites[v].Count < n / 4 * 3) |> Array.sortByDescending (fun v -> sites[v].Count)
        let a = big[0]
        let b = big |> Array.find (fun v -> Set.intersect sites[v] sites[a] |> Set.isEmpty)
        for row in 0 .. side - 1 do
            printfn "    %s" (String [| for c in 0 .. side - 1 -> if sites[a].Contains(row * side + c) then 'A' elif sites[b].Contains(row * side + c) then 'B' else '.' |])
        for st in Cost.steps p t |> Array.sortByDescending (fun st -> st.Flops) |> Array.truncate 6 do
            let open', shut = st.Involved |> Array.partition (fun i -> Array.contains i sliced)
            printfn "  step %d: %.3fx, %d indices: %d sliced (%s), %d not" st.Node (ratio st.Flops flops) st.Involved.Length open'.Length
                (String.Join(" ", open' |> Array.map (fun i -> p.IndexNames[i]))) shut.Length
    printfn "  %-44s %7s %9s %10s %10s %10s %11s" "tree (sliced: the 16 bonds v7_*)" "sliced" "per slice" "executed" "tree" "order-free" "order waste"
    for label, k in [ "halves, each from both ends, split at column 7", 7
                      "halves, each from both ends, split at column 9", 9
                      "halves, each from both ends, split at column 11", 11
                      "halves, each from one end (columns 0..15)", side - 1 ] do
        let show label t =
            let s = PlanSlice.figures p t cut
            let orderFree = SliceBound.leastExecuted p t cut
            printfn "  %-44s %7d %9s %10.3f %10.3f %10.3f %11.1f" label cut.Length (PlanReport.sci s.LargestIntermediate) (ratio s.Flops flops)
                (ratio (Cost.report p t).Flops flops) (ratio orderFree flops) (ratio s.Flops orderFree)
        let t = ContractionTree.ofShape (side * side) (Sweep [ half [ 0 .. 7 ] k; half [ 8 .. 15 ] k ])
        show label t
        // The same tree polished for executed flops as the search polishes its candidates (PlanReuse.fitAndPolish:
        // loop order and reuse-counted reconfiguration in turn, up to 30 rounds).
        if k = 7 then
            PlanReuse.fitAndPolish (PlanHyper.Work()) (fun () -> false) p limit 30 cut t
            |> Option.iter (show "  the same, polished (PlanReuse.fitAndPolish)")

/// Prints the benchmark. Arguments: `quick` (smaller networks and fewer trials), `slicing` (the slicing table
/// only), `constructions` (the hand-built 16 × 16 trees of `constructions` only; with `search`, the search's plan first), `only=TEXT` (the slicing table's networks whose label contains TEXT, e.g. `only=10x10`), `trials=N` (hyper's and
/// random-greedy's trial count, default 128), `seed=N` (the options' seed, default 0), `threads=N` (1 by default:
/// serial search, figures comparable across machines).
let run (args: string array) =
    let quick = args |> Array.contains "quick"
    let arg (key: string) fallback =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(int (a.Substring(key.Length + 1))) else None) |> Option.defaultValue fallback
    let trials = arg "trials" (if quick then 32 else 128)
    let threads = arg "threads" 1
    let seed = arg "seed" 0
    let o = { PlanOptions.defaults with Trials = trials; Seed = seed; Parallel = threads > 1 }
    printfn "hyper benchmark: %d trials, seed %d, threads %d, %d cores; flops in opt_einsum's convention; ratios = x / random-greedy" trials seed threads Environment.ProcessorCount
    let warm = index (PlanBench.randomRegular 16 2 1)
    for name in [ "random-greedy"; "hyper"; "auto" ] do
        Plan.run name { o with Trials = 4 } warm |> ignore
    if args |> Array.contains "constructions" then constructions o (args |> Array.contains "search") else
    let cases = sideBySideCases quick
    let slicingOnly = args |> Array.contains "slicing"
    let only = args |> Array.tryPick (fun a -> if a.StartsWith "only=" then Some(a.Substring 5) else None)
    printfn "  %-24s %-14s %11s %11s %10s %9s %9s  %s" "network" "optimizer" "flops" "largest" "ms" "flops/rg" "ms/rg" "note"
    for (label, p) in (if slicingOnly then [] else cases) do
        let rg = runOne p "random-greedy" o
        for name in [ "random-greedy"; "auto-old"; "auto"; "hyper" ] do
            let r = if name = "random-greedy" then rg else runOne p name o
            printfn "  %-24s %-14s %11s %11s %10.1f %9.3f %9.2f  %s" label name (PlanReport.sci r.Flops) (PlanReport.sci r.Largest) r.Ms
                (ratio r.Flops rg.Flops) (r.Ms / max 0.01 rg.Ms) r.Note
    printfn ""
    printfn "slicing: memory limit = unsliced largest / 100 (optimizer hyper, %d trials); lattices: the proved least slices and overhead of any plan (bench/results/planner.md)" trials
    printfn "  (bounds hold with or without reuse across slices; 2x needs: the sliced count that, proved to be the least of every plan, would prove 2x out of reach; '-' where 2x is proved out of reach)"
    printfn "  (sliced flops: executed, each step rerun only when a sliced index it depends on changes; overhead = that / unsliced flops; no reuse: slices x one slice's flops / unsliced; sliced: loop order, outermost first)"
    printfn "  (order-free: the plan's tree and sliced set under any loop order, SliceBound.leastExecuted / unsliced flops: what no loop order of that plan can beat)"
    printfn "  %-24s %11s %11s %11s %11s %11s %9s %8s %9s %10s %9s %10s %10s %9s %s" "network" "flops" "largest" "limit" "sliced flops" "per slice" "slices" "overhead" "no reuse" "order-free" "cpu ms" "slices >=" "overhead >=" "2x needs" "sliced"
    // Each network at 1/100 of this run's unsliced largest intermediate, and at the limit the same rule gave in
    // the previous recorded run (bench/results/planner.md): a better unsliced tree has a smaller largest
    // intermediate, which makes "1/100 of it" a tighter limit.
    // The smaller lattices first: at 1/100 their limit keeps at most one bond per intermediate (4x4, 6x6, 8x8) or
    // three (10x10 D=2); the bound is far above 2x where it keeps at most one, and 11.7x on 10x10 D=2 (every plan
    // slices at least 20 bonds there: four 5x5 blocks, `SliceBlocks.packing`; see `latticeBound`).
    for (label, p, previous, shape) in
        [ yield "lattice 4x4 D=4", index (lattice 4 4 4), None, Some(4, 4)
          yield "lattice 6x6 D=3", index (lattice 6 6 3), None, Some(6, 3)
          yield "lattice 8x8 D=2", index (lattice 8 8 2), None, Some(8, 2)
          yield "lattice 10x10 D=2", index (lattice 10 10 2), None, Some(10, 2)
          yield "lattice 8x8 D=4", index (lattice 8 8 4), Some 2621L, Some(8, 4)
          yield "lattice 10x10 D=3", index (lattice 10 10 3), Some 5314L, Some(10, 3)
          yield "lattice 16x16 D=2", index (lattice 16 16 2), Some 10485L, Some(16, 2)
          if not quick then yield "lattice 20x20 D=2", index (lattice 20 20 2), None, Some(20, 2)
          yield "PEPS norm 5x5 D=3 d=2", index (pepsNorm 5 5 3 2), Some 10628L, None ]
        |> List.filter (fun (label, _, _, _) -> only |> Option.forall (fun (o: string) -> label.Contains o)) do
      let free = Plan.run "hyper" o p
      let largest = free.Cost.Value.LargestIntermediate
      let flops = free.Cost.Value.Flops
      for limit in BigInteger.Max(BigInteger.One, largest / BigInteger 100) :: (previous |> Option.map BigInteger |> Option.toList) do
        let self = Process.GetCurrentProcess()
        let cpu0 = self.TotalProcessorTime
        let r = Plan.run "hyper" { o with MemoryLimit = Some(int64 limit) } p
        self.Refresh()
        let cpuMs = (self.TotalProcessorTime - cpu0).TotalMilliseconds
        let leastSlices, leastOverhead, needed =
            match shape with
            | Some (side, bond) ->
                let slices, least = latticeBound side bond limit
                let needed =
                    match SliceBound.reuseSlicedCountNeeded side bond limit (flops * BigInteger 2) with
                    | Some s -> sprintf "%d bonds" s
                    | None -> "-"
                PlanReport.sci slices, sprintf "%.3g" (ratio least flops), needed
            | None -> "-", "-", "-"
        match r.Slicing, r.Cost with
        | Some s, _ ->
            let orderFree = SliceBound.leastExecuted p r.Tree.Value s.Indices
            printfn "  %-24s %11s %11s %11s %11s %11s %9s %8.3f %9.3f %10.3f %9.0f %10s %10s %9s %d: %s" label (PlanReport.sci flops) (PlanReport.sci largest) (PlanReport.sci limit)
                (PlanReport.sci s.Flops) (PlanReport.sci s.LargestIntermediate) (PlanReport.sci s.Slices) (ratio s.Flops flops) (ratio s.EverySliceFlops flops) (ratio orderFree flops) cpuMs
                leastSlices leastOverhead needed s.Indices.Length (String.Join(" ", s.Indices |> Array.map (fun i -> p.IndexNames[i])))
        | None, Some c ->
            printfn "  %-24s %11s %11s %11s %11s %11s %9s %8.3f %9.3f %10.3f %9.0f %10s %10s %9s (no slicing needed)" label (PlanReport.sci flops) (PlanReport.sci largest)
                (PlanReport.sci limit) (PlanReport.sci c.Flops) (PlanReport.sci c.LargestIntermediate) "1" (ratio c.Flops flops) (ratio c.Flops flops) (ratio c.Flops flops) cpuMs leastSlices leastOverhead needed
        | None, None -> printfn "  %-24s no plan: %A" label (r.Diagnostics |> List.map (fun d -> d.Message))

/// The budget benchmark: with a wall-clock limit (`--time-limit`), how long `random-greedy`, `hyper`, `optimal` and
/// `auto` actually take (the whole `Plan.run`, as `tn plan` times it), against the limit, without a memory limit and
/// under one (a sixteenth of greedy's largest intermediate, where the plan must be sliced). Arguments:
/// `limits=A,B,..` in ms (default 100,250,1000), `threads=N` (1 by default), `optimizers=A,B,..`, `only=TEXT`
/// (networks whose label contains it).
let budget (args: string array) =
    let arg (key: string) (fallback: string) =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(a.Substring(key.Length + 1)) else None) |> Option.defaultValue fallback
    let limits = (arg "limits" "100,250,1000").Split ',' |> Array.map int
    let threads = int (arg "threads" "1")
    let optimizers = (arg "optimizers" "random-greedy,hyper,optimal,auto").Split ','
    let only = arg "only" ""
    printfn "budget benchmark: wall and process CPU time of the whole plan call against --time-limit (threads %d, %d cores, load %s)"
        threads Environment.ProcessorCount (try (IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?")
    let warm = index (PlanBench.randomRegular 16 2 1)
    for name in optimizers do
        Plan.run name { PlanOptions.defaults with Trials = 4 } warm |> ignore
        Plan.run name { PlanOptions.defaults with Trials = 4; MemoryLimit = Some 4L } warm |> ignore
    // A sixteenth of the largest intermediate of greedy's plan.
    let sixteenth (p: Indexed) =
        let g = Plan.run "greedy" PlanOptions.defaults p
        Some(int64 (g.Cost.Value.LargestIntermediate / BigInteger 16))
    let cases =
        [ "3-regular n=40 d=2", (fun () -> index (PlanBench.randomRegular 40 2 3)), false
          "3-regular n=100 d=2", (fun () -> index (PlanBench.randomRegular 100 2 3)), false
          "3-regular n=500 d=2", (fun () -> index (PlanBench.randomRegular 500 2 5)), false
          "lattice 16x16 D=2", (fun () -> index (lattice 16 16 2)), false
          "circuit 5x6 depth 14", (fun () -> index (circuit 5 6 14 2)), false
          "PEPS 32x32 D=4 d=2", (fun () -> index (PlanBench.peps 32 32 4 2)), false
          "3-regular n=40 d=2 @1/16", (fun () -> index (PlanBench.randomRegular 40 2 3)), true
          "3-regular n=100 d=2 @1/16", (fun () -> index (PlanBench.randomRegular 100 2 3)), true
          "lattice 16x16 D=2 @1/16", (fun () -> index (lattice 16 16 2)), true ]
        |> List.filter (fun (label, _, _) -> label.Contains only)
    printfn "  %-26s %-14s %9s %9s %9s %7s %7s %s" "network" "optimizer" "limit ms" "wall ms" "cpu ms" "wall/l" "cpu/l" "chosen"
    let mutable worst = 0.0
    let mutable worstCpu = 0.0
    let mutable within = 0
    let mutable runs = 0
    for (label, make, limited) in cases do
        let p = make ()
        let memory = if limited then sixteenth p else None
        for limit in limits do
            for name in optimizers do
                let o = { PlanOptions.defaults with Trials = 1000000; TimeLimitMs = Some limit; Parallel = threads > 1; MemoryLimit = memory }
                let r, ms, cpu = Measure.timeCpu (fun () -> Plan.run name o p)
                worst <- max worst (ms / float limit)
                worstCpu <- max worstCpu (cpu / float limit)
                runs <- runs + 1
                if ms <= 1.1 * float limit then within <- within + 1
                printfn "  %-26s %-14s %9d %9.0f %9.0f %7.3f %7.3f %s" label name limit ms cpu (ms / float limit) (cpu / float limit) r.Chosen
    printfn "worst wall / limit: %.3f, worst CPU / limit: %.3f; %d of %d runs within 10 %% of the limit (wall)" worst worstCpu within runs

/// Writes the side-by-side networks and TnDsl's results (hyper and auto: flops in opt_einsum's convention as
/// decimal strings, search ms, contraction path in opt_einsum's linear form) as JSON, for
/// `bench/side-by-side.py` to run opt_einsum and cotengra on the same networks at equal search time.
/// Arguments: the output file, then `quick`, `trials=N` (128), `threads=N` (1), `only=TEXT` (networks whose
/// label contains it).
let export (args: string array) =
    let file = args[0]
    let quick = args |> Array.contains "quick"
    let arg (key: string) fallback =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(int (a.Substring(key.Length + 1))) else None) |> Option.defaultValue fallback
    let trials = arg "trials" 128
    let threads = arg "threads" 1
    let o = { PlanOptions.defaults with Trials = trials; Parallel = threads > 1 }
    let warm = index (PlanBench.randomRegular 16 2 1)
    for name in [ "hyper"; "auto" ] do
        Plan.run name { o with Trials = 4 } warm |> ignore
    use stream = IO.File.Create file
    use w = new Text.Json.Utf8JsonWriter(stream, Text.Json.JsonWriterOptions(Indented = true))
    w.WriteStartObject()
    w.WriteNumber("trials", trials)
    w.WriteNumber("threads", threads)
    w.WriteStartArray "networks"
    let only = args |> Array.tryPick (fun a -> if a.StartsWith "only=" then Some(a.Substring 5) else None)
    for (label, p) in sideBySideCases quick do
      if only.IsNone || label.Contains only.Value then
        w.WriteStartObject()
        w.WriteString("label", label)
        w.WriteStartArray "inputs"
        for ix in p.Inputs do
            w.WriteStartArray()
            for i in ix do w.WriteStringValue p.IndexNames[i]
            w.WriteEndArray()
        w.WriteEndArray()
        w.WriteStartArray "output"
        for i in p.Output do w.WriteStringValue p.IndexNames[i]
        w.WriteEndArray()
        w.WriteStartObject "sizes"
        p.IndexNames |> Array.iteri (fun i n -> w.WriteNumber(n, p.Size[i]))
        w.WriteEndObject()
        for name in [ "hyper"; "auto" ] do
            let r = Plan.run name o p
            let c = r.Cost.Value
            w.WriteStartObject name
            w.WriteString("flops", c.Flops.ToString())
            w.WriteString("largest", c.LargestIntermediate.ToString())
            w.WriteNumber("ms", r.SearchMs)
            w.WriteString("chosen", r.Chosen)
            w.WriteStartArray "path"
            for step in ContractionTree.toLinear r.Tree.Value do
                w.WriteStartArray()
                for k in step do w.WriteNumberValue k
                w.WriteEndArray()
            w.WriteEndArray()
            w.WriteEndObject()
            eprintfn "%-24s %-6s %s flops, %.0f ms" label name (PlanReport.sci c.Flops) r.SearchMs
        w.WriteEndObject()
    w.WriteEndArray()
    w.WriteEndObject()

/// The networks of the stakes benchmark: the side-by-side ones and larger or memory-limited ones, with the
/// memory limit (elements) each is planned under, if any.
/// Rates r (seconds per unit of each kind of counted work) such that Σ_k counts_k r_k matches each row's CPU time
/// with the least relative error: least squares through the origin, each row divided by its CPU time so that every
/// network counts alike (Math.NET's QR). A kind that no row counts gets rate 0.
let fitRelative (rows: seq<float array * float>) =
    let rows = Array.ofSeq rows
    let kinds = (fst rows[0]).Length
    let used = [| for k in 0 .. kinds - 1 do if rows |> Array.exists (fun (c, _) -> c[k] <> 0.0) then k |]
    let xs = rows |> Array.map (fun (c, cpu) -> used |> Array.map (fun k -> c[k] / cpu))
    let rates = MathNet.Numerics.LinearRegression.MultipleRegression.QR(xs, Array.create rows.Length 1.0, false)
    let fitted = Array.zeroCreate kinds
    used |> Array.iteri (fun i k -> fitted[k] <- rates[i])
    fitted

/// The rate of `PlanHyper.Work.Orders` (operations of the loop order, `PlanSlice.orderOps`): per network (greedy's
/// tree) and number k of sliced indices (the first k closed indices of the tree's largest intermediates, largest
/// first), the process CPU time of `PlanSlice.bestOrder` less that of the exact costing it starts with (counted
/// as `Steps`), repeated until it takes 0.3 s, against its counted operations; the rate fitted by relative least
/// squares over the rows of 8 indices and more.
let private loopOrderRates (load: unit -> string) =
    printfn "loop order rates: PlanSlice.bestOrder less its costing, serial (threads 1, load %s); rate now: %.3g s" (load ()) PlanHyper.Work.Rates[5]
    printfn "  %-22s %4s %6s %12s %12s %12s %9s" "network" "k" "steps" "ops" "cpu s/order" "modelled s" "cpu/model"
    let rows = ResizeArray()
    for (label, p) in [ "lattice 6x6 D=3", index (lattice 6 6 3)
                        "lattice 8x8 D=4", index (lattice 8 8 4)
                        "lattice 12x12 D=2", index (lattice 12 12 2)
                        "3-regular n=100 d=2", index (PlanBench.randomRegular 100 2 10001) ] do
        let t = (PlanGreedy.bestGreedy p PlanOptions.defaults).Tree
        // Closed indices of the largest intermediates first.
        let closed =
            Cost.steps p t
            |> Array.sortByDescending (fun s -> s.Size)
            |> Array.collect (fun s -> s.Kept)
            |> Array.append (Array.init p.Size.Length id)
            |> Array.distinct
            |> Array.filter (fun i -> not p.IsOutput[i] && p.Size[i] > 1L)
        for k in [ 4; 8; 10; 12; 16; 32 ] do
            if k <= closed.Length then
                let ix = closed[.. k - 1]
                let per = cpuPerCall
                let order = per (fun () -> PlanSlice.bestOrder p t ix |> ignore)
                let costing = per (fun () -> Cost.steps (PlanSlice.sliceProblem p ix) t |> ignore)
                let cpu = max 1e-9 (order - costing)
                let ops = PlanSlice.orderOps t.Steps.Length k
                let modelled = ops * PlanHyper.Work.Rates[5]
                // Below 8 indices the order costs a few percent of the costing, within the noise of the difference.
                if k >= 8 then rows.Add(([| ops |], cpu))
                printfn "  %-22s %4d %6d %12.4g %12.4g %12.4g %9.2f" label k t.Steps.Length ops cpu modelled (cpu / modelled)
    let fitted = fitRelative rows
    printfn "fitted loop order rate (relative least squares): %.3g s" fitted[0]
    printfn ""

let private stakesCases quick =
    [ for (label, p) in sideBySideCases quick do
          yield label, p, None
      yield "lattice 6x6 D=4", index (lattice 6 6 4), None
      yield "lattice 6x6 D=4 limit 100K", index (lattice 6 6 4), Some 100000L
      yield "lattice 8x8 D=4 limit 2621", index (lattice 8 8 4), Some 2621L
      if not quick then yield "3-regular n=300 d=2", index (PlanBench.randomRegular 300 2 6), None
      if not quick then yield "PEPS 32x32 D=4 d=2", index (PlanBench.peps 32 32 4 2), None ]

/// The networks whose exact search fits the exact search's rates: lattices with and without a memory limit (under
/// a limit the greedy bound often fails it and the search runs uncapped), random 3-regular graphs, a PEPS norm.
let private exactCases () =
    [ "lattice 4x4 D=4", index (lattice 4 4 4), None
      "lattice 5x5 D=2", index (lattice 5 5 2), None
      "lattice 5x5 D=3", index (lattice 5 5 3), None
      "lattice 4x4 D=4 limit 64", index (lattice 4 4 4), Some 64L
      "lattice 4x5 D=3 limit 81", index (lattice 4 5 3), Some 81L
      "lattice 5x5 D=4 limit 4096", index (lattice 5 5 4), Some 4096L
      "3-regular n=20", index (PlanBench.randomRegular 20 2 2001), None
      "3-regular n=24", index (PlanBench.randomRegular 24 2 2401), None
      "3-regular n=28", index (PlanBench.randomRegular 28 2 2801), None
      "3-regular n=24 limit 256", index (PlanBench.randomRegular 24 2 2401), Some 256L
      "PEPS norm 3x3 D=2 d=2", index (pepsNorm 3 3 2 2), None ]

/// The stakes benchmark. First the rates of `PlanHyper.Work`: for each network, 8 hyper trials (serial, no
/// stakes) with their counted work and process CPU time, and the rates fitted by least squares (CPU seconds per
/// join, per exactly costed step, per built tensor). Then `auto` with its own budget (serial, no time limit):
/// its search CPU time against the estimated contraction time of the plan it returns (flops, sliced under a
/// memory limit, at `Plan.stakesFlopsPerSecond`), and the counted work of its hyper search; between them the exact
/// search's rates (`PlanOptimal.ExactWork` against CPU on `exactCases`). Arguments: `quick` (leave out the largest
/// networks), `rates` (the rate tables only), `exact` (no hyper rates), `auto` (the last table only), `only=TEXT`.
let private stakesTables (args: string array) =
    let quick = args |> Array.contains "quick"
    let only = args |> Array.tryPick (fun a -> if a.StartsWith "only=" then Some(a.Substring 5) else None)
    let cases = stakesCases quick |> List.filter (fun (label, _, _) -> only.IsNone || label.Contains only.Value)
    let load () = try (IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?"
    let warm = index (PlanBench.randomRegular 16 2 1)
    Plan.run "auto" { PlanOptions.defaults with Parallel = false } warm |> ignore
    PlanHyper.searchWith None warm { PlanOptions.defaults with Trials = 4; Parallel = false } |> ignore
    if not (args |> Array.contains "auto") && not (args |> Array.contains "exact") then
        loopOrderRates load
        if args |> Array.contains "orders" then exit 0
        let names = [| "joins"; "solved"; "steps"; "greedy"; "cuts"; "orders" |]
        printfn "work rates: 8 hyper trials per network, serial (threads 1, %d cores, load %s); rates now: %s"
            Environment.ProcessorCount (load ()) (String.Join(", ", Array.map2 (fun n r -> sprintf "%s %.3g s" n r) names PlanHyper.Work.Rates))
        printfn "  %-28s %10s %10s %10s %10s %10s %10s %8s %9s" "network" "joins" "solved" "steps" "greedy" "cuts" "modelled s" "cpu s" "cpu/model"
        let rows = ResizeArray()
        for (label, p, limit) in cases do
            let o = { PlanOptions.defaults with Trials = 8; Parallel = false; MemoryLimit = limit }
            let s, _, cpu = timeCpu (fun () -> PlanHyper.searchWith None p o)
            let c = s.Work.Counts
            rows.Add((c, cpu / 1000.0))
            printfn "  %-28s %10.3g %10.3g %10.3g %10.3g %10.3g %10.3f %8.3f %9.2f" label c[0] c[1] c[2] c[3] c[4] s.Work.Seconds (cpu / 1000.0) (cpu / 1000.0 / s.Work.Seconds)
        let fitted = fitRelative rows
        printfn "fitted rates (relative least squares): %s" (String.Join(", ", Array.map2 (fun n r -> sprintf "%s %.3g s" n r) names fitted))
        printfn ""
    if not (args |> Array.contains "auto") then
        // The exact search's rates: its counted work (`PlanOptimal.ExactWork`, the bound unpolished) against CPU.
        let exactNames = [| "scans"; "joins"; "pairs"; "entries"; "greedy" |]
        printfn "exact search rates: one unbounded exact search per network, serial (threads 1, load %s); rates now: %s"
            (load ()) (String.Join(", ", Array.map2 (fun n r -> sprintf "%s %.3g s" n r) exactNames (Array.truncate 5 PlanOptimal.ExactWork.Rates)))
        printfn "  %-28s %10s %10s %10s %10s %10s %10s %8s %9s" "network" "scans" "joins" "pairs" "entries" "greedy" "modelled s" "cpu s" "cpu/model"
        let exactRows = ResizeArray()
        PlanOptimal.solveWithin (PlanOptimal.ExactWork()) infinity (index (lattice 3 3 2)) { PlanOptions.defaults with Parallel = false } |> ignore
        for (label, p, limit) in exactCases () do
            let o = { PlanOptions.defaults with Parallel = false; MemoryLimit = limit }
            let w = PlanOptimal.ExactWork()
            let r, _, cpu = timeCpu (fun () -> PlanOptimal.solveWithin w infinity p o)
            let c = Array.truncate 5 w.Counts
            exactRows.Add((c, cpu / 1000.0))
            let modelled = w.Seconds
            printfn "  %-28s %10.3g %10.3g %10.3g %10.3g %10.3g %10.4f %8.4f %9.2f%s" label c[0] c[1] c[2] c[3] c[4] modelled (cpu / 1000.0) (cpu / 1000.0 / modelled)
                (match r with Ok (Some _) -> "" | Ok None -> "  (no tree within the limit)" | Result.Error e -> "  " + e.Message)
        let fittedE = fitRelative exactRows
        printfn "fitted exact rates (relative least squares): %s" (String.Join(", ", Array.map2 (fun n r -> sprintf "%s %.3g s" n r) exactNames fittedE))
        printfn ""
    if not (args |> Array.contains "rates") then
        printfn "auto with its own budget, serial, no time limit (threads 1, %d cores, load %s); contraction s = flops / %g flop/s"
            Environment.ProcessorCount (load ()) Plan.stakesFlopsPerSecond
        printfn "  %-28s %11s %11s %11s %10s %10s %9s  %s" "network" "flops" "contract s" "search cpu" "search wall" "search/con" "modelled" "chosen"
        for (label, p, limit) in cases do
            let o = { PlanOptions.defaults with Parallel = false; MemoryLimit = limit }
            let r, wall, cpu = timeCpu (fun () -> Plan.run "auto" o p)
            let flops = match r.Slicing with Some s -> s.Flops | None -> r.Cost.Value.Flops
            let contract = Math.Exp(BigInteger.Log flops) / Plan.stakesFlopsPerSecond
            let searched = PlanHyper.searchWith (Some { FlopsPerSecond = Plan.stakesFlopsPerSecond; Share = Plan.searchShare; Floor = 8; CapSeconds = Plan.capSeconds }) p { o with Trials = 1024 }
            printfn "  %-28s %11s %11.3g %11.3f %10.3f %10.3g %9.3f  %s (stakes search alone: %d trials)" label (PlanReport.sci flops) contract (cpu / 1000.0) (wall / 1000.0)
                (cpu / 1000.0 / contract) searched.Work.Seconds r.Chosen searched.Trials

/// The networks of the stakes benchmark under memory limits: lattices (4x4 to 16x16, D 2 to 4), PEPS norms and
/// random 3-regular graphs, each at 1/10 and 1/100 of the largest intermediate of its unsliced plan (hyper, 8
/// trials, serial: the same plan for any version of `auto`).
let private limitCases quick =
    [ yield "lattice 4x4 D=4", index (lattice 4 4 4)
      yield "lattice 6x6 D=3", index (lattice 6 6 3)
      yield "lattice 8x8 D=2", index (lattice 8 8 2)
      yield "lattice 8x8 D=4", index (lattice 8 8 4)
      yield "lattice 10x10 D=3", index (lattice 10 10 3)
      if not quick then yield "lattice 12x12 D=2", index (lattice 12 12 2)
      if not quick then yield "lattice 16x16 D=2", index (lattice 16 16 2)
      if not quick then yield "lattice 16x16 D=2", index (lattice 16 16 2)
      yield "PEPS norm 4x4 D=3 d=2", index (pepsNorm 4 4 3 2)
      yield "PEPS norm 5x5 D=2 d=2", index (pepsNorm 5 5 2 2)
      yield "3-regular n=50 d=2", index (PlanBench.randomRegular 50 2 5001)
      if not quick then yield "3-regular n=100 d=2", index (PlanBench.randomRegular 100 2 10001) ]

/// `auto` under memory limits (serial, no time limit): per network and limit, the plan's total flops (sliced: executed
/// flops under reuse across slices; an older TnDsl.Core.dll reports slices x one slice's flops),
/// its estimated contraction time at `Plan.stakesFlopsPerSecond`, the search's CPU and wall time, its ledger's
/// counted work (`Plan.runAutoWith`: the same on any machine and load) and CPU ÷ contraction time; at the end the worst ratio over the plans whose contraction takes more than 0.1 s, and the
/// largest search CPU of the others. Uses only `Plan.run` and `Plan.runAutoWith`, so it runs against a
/// TnDsl.Core.dll from session 12 on too (to compare plans and search times before and after a change). Arguments: `quick`, `only=TEXT`; `plans=FILE` writes
/// each row's plan (its tree's steps and sliced indices, one line a row: this uses only `Plan.run`'s result, so an
/// older TnDsl.Core.dll writes its plans too); `recost=FILE` reads such a file and prints beside each row that plan
/// re-costed by this TnDsl.Core (executed flops in its best loop order) and the new plan's ratio to it;
/// `floors=off` plans with the ledger's floors running whatever the stakes (`Plan.runAutoWith None`).
let stakesLimits (args: string array) =
    let quick = args |> Array.contains "quick"
    let arg (key: string) = args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(a.Substring(key.Length + 1)) else None)
    let only = arg "only"
    let floorsOff = arg "floors" = Some "off"
    let plansOut = arg "plans" |> Option.map (fun path -> new IO.StreamWriter(path))
    // A plan a line: name <TAB> steps (children by commas, steps by semicolons) <TAB> sliced indices (commas).
    let reference =
        match arg "recost" with
        | Some path ->
            IO.File.ReadAllLines path
            |> Array.map (fun line ->
                let parts = line.Split '\t'
                let ints (s: string) = if s = "" then [||] else s.Split ',' |> Array.map int
                parts[0], (parts[1].Split ';' |> Array.map ints, ints parts[2]))
            |> Map.ofArray
        | None -> Map.empty
    let load () = try (IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?"
    let serial = { PlanOptions.defaults with Parallel = false }
    Plan.run "auto" { serial with MemoryLimit = Some 64L } (index (lattice 4 4 3)) |> ignore
    printfn "auto under memory limits, serial, no time limit (threads 1, %d cores, load %s); contraction s = flops / %g flop/s"
        Environment.ProcessorCount (load ()) Plan.stakesFlopsPerSecond
    printfn "  %-34s %10s %11s %11s %11s %10s %10s %10s%s  %s" "network, limit" "limit" "flops" "contract s" "search cpu" "search wall" "counted s" "cpu/con"
        (if reference.IsEmpty then "" else sprintf " %11s %6s" "reference" "ratio") "chosen"
    let mutable worst = 0.0
    let mutable smallWorst = 0.0
    for (label, p) in limitCases quick do
        let free = Plan.run "hyper" { serial with Trials = 8 } p
        let largest = free.Cost.Value.LargestIntermediate
        for share in [ 10; 100 ] do
            let name = sprintf "%s 1/%d" label share
            if only.IsNone || name.Contains only.Value then
                let limit = int64 (BigInteger.Max(BigInteger.One, largest / BigInteger share))
                let o = { serial with MemoryLimit = Some limit }
                let (r, counted), wall, cpu = timeCpu (fun () -> Plan.runAutoWith (if floorsOff then None else Some Plan.floors) o p)
                match r.Cost with
                | Some c when Plan.succeeded r ->
                    let flops = match r.Slicing with Some s -> s.Flops | None -> c.Flops
                    let contract = Math.Exp(BigInteger.Log flops) / Plan.stakesFlopsPerSecond
                    let ratio = cpu / 1000.0 / contract
                    if contract > 0.1 then worst <- max worst ratio else smallWorst <- max smallWorst (cpu / 1000.0)
                    let recosted =
                        match reference.TryFind name with
                        | Some (steps, sliced) ->
                            let t = { Leaves = p.Inputs.Length; Steps = steps }
                            let f = if sliced.Length = 0 then Cost.flops p t else (PlanSlice.figures p t sliced).Flops
                            sprintf " %11s %6.2f" (PlanReport.sci f) (Math.Exp(BigInteger.Log flops - BigInteger.Log f))
                        | None -> ""
                    printfn "  %-34s %10d %11s %11.3g %11.3f %10.3f %10.3f %10.3g%s  %s" name limit (PlanReport.sci flops) contract (cpu / 1000.0) (wall / 1000.0) counted ratio recosted r.Chosen
                    plansOut |> Option.iter (fun w ->
                        let steps = String.Join(";", r.Tree.Value.Steps |> Array.map (fun s -> String.Join(",", s)))
                        let sliced = match r.Slicing with Some s -> String.Join(",", s.Indices) | None -> ""
                        w.WriteLine(sprintf "%s\t%s\t%s" name steps sliced))
                | _ -> printfn "  %-34s %10d %11s %11s %11.3f %10.3f %10.3f %10s  no plan within the limit" name limit "-" "-" (cpu / 1000.0) (wall / 1000.0) counted "-"
    printfn "worst search cpu / contraction time where the contraction takes over 0.1 s: %.3f; most search cpu where it takes less: %.3f s" worst smallWorst
    plansOut |> Option.iter (fun w -> w.Dispose())

/// The stakes benchmark (see `stakesTables`); with `limits`, `auto` under memory limits (`stakesLimits`).
let stakes (args: string array) =
    if args |> Array.contains "limits" then stakesLimits args else stakesTables args
