/// Crosses on the closed lattice at 1/100 of hyper's unsliced largest intermediate (bench/results/planner.md,
/// "Session 17 (s17-rows)"): the four L/2 × L/2 quadrants contracted each on its own, sliced only on the bonds
/// between quadrants (the arms of the cross), every arm choice of the sliced bonds tried, each quadrant's tree exact
/// for the loop order, the quadrants joined as two halves or as a spine; against Proposition 4's bound on every
/// such plan.
module TnDsl.Bench.CrossBench

open System
open System.Collections.Generic
open System.Numerics
open TnDsl
open TnDsl.Bench.Measure

let private ratio (a: BigInteger) (b: BigInteger) = Math.Exp(BigInteger.Log a - BigInteger.Log b)

/// The least executed flops of a pairwise tree of `region` (at most 20 sites) in the loop order `order` of the
/// sliced bonds `sliced` (None: under any order, the order-free bound (b)), over every tree whose every node but the
/// region keeps at most m unsliced bonds, and the tree; None when no tree keeps them. Exact: a programme over the
/// region's site sets, a node's step costing 2 D^(u + w + level) (u: unsliced bonds leaving the node, w: unsliced
/// bonds between its two parts, level: the last position in `order` of a sliced bond the node carries, or without
/// an order the number of sliced bonds it carries; every bond of size D), in floats (at most D^(2m + |sliced|)).
/// Steps whose parts share no bond are not taken (a region's tree on a lattice never needs one).
let regionTree (p: Indexed) (bond: int) (m: int) (region: int array) (sliced: Set<int>) (order: int array option) : (float * TreeShape) option =
    let n = region.Length
    if n > 20 then invalidArg (nameof region) "at most 20 sites"
    let pos = Dictionary<int, int>()
    region |> Array.iteri (fun k s -> pos[s] <- k)
    let position = order |> Option.defaultValue [||] |> Array.mapi (fun k i -> i, k + 1) |> dict
    let outS = Array.zeroCreate<int> n
    let outU = Array.zeroCreate<int> n
    let siteLevel = Array.zeroCreate<int> n
    let inner = List<int * int * bool>()
    for k in 0 .. n - 1 do
        for i in p.Inputs[region[k]] do
            if position.ContainsKey i then siteLevel[k] <- max siteLevel[k] position[i]
            let c = p.Carriers[i]
            if c.Length = 2 then
                let other = if c[0] = region[k] then c[1] else c[0]
                match pos.TryGetValue other with
                | true, j -> if k < j then inner.Add((k, j, sliced.Contains i))
                | _ -> if sliced.Contains i then outS[k] <- outS[k] + 1 else outU[k] <- outU[k] + 1
    let full = (1 <<< n) - 1
    let u = Array.zeroCreate<int> (full + 1)
    let level = Array.zeroCreate<int> (full + 1)
    for x in 1 .. full do
        let mutable carried = 0
        for k in 0 .. n - 1 do
            if x &&& (1 <<< k) <> 0 then
                u[x] <- u[x] + outU[k]
                level[x] <- max level[x] siteLevel[k]
                carried <- carried + outS[k]
        for (a, b, s) in inner do
            let ia, ib = ((x >>> a) &&& 1) = 1, ((x >>> b) &&& 1) = 1
            if not s && ia <> ib then u[x] <- u[x] + 1
            if s && (ia || ib) then carried <- carried + 1
        if order.IsNone then level[x] <- carried
    let best = Array.create (full + 1) Double.PositiveInfinity
    let split = Array.zeroCreate<int> (full + 1)
    for k in 0 .. n - 1 do
        best[1 <<< k] <- 0.0
    let d = float bond
    let nodes =
        [| 1 .. full |]
        |> Array.filter (fun x -> BitOperations.PopCount(uint32 x) >= 2 && (x = full || u[x] <= m))
        |> Array.sortBy (fun x -> BitOperations.PopCount(uint32 x))
    for x in nodes do
        let low = x &&& -x
        let mutable a = (x - 1) &&& x
        while a > 0 do
            let b = x ^^^ a
            if a &&& low <> 0 && best[a] < Double.PositiveInfinity && best[b] < Double.PositiveInfinity then
                let mutable w = 0
                let mutable shared = false
                for (i, j, s) in inner do
                    if (((a >>> i) &&& 1) = 1 && ((b >>> j) &&& 1) = 1) || (((a >>> j) &&& 1) = 1 && ((b >>> i) &&& 1) = 1) then
                        shared <- true
                        if not s then w <- w + 1
                if shared then
                    let c = best[a] + best[b] + 2.0 * Math.Pow(d, float (u[x] + w + level[x]))
                    if c < best[x] then
                        best[x] <- c
                        split[x] <- a
            a <- (a - 1) &&& x
    if Double.IsPositiveInfinity best[full] then None
    else
        let rec shape (x: int) =
            if BitOperations.PopCount(uint32 x) = 1 then Leaf region[BitOperations.TrailingZeroCount x]
            else Sweep [ shape split[x]; shape (x ^^^ split[x]) ]
        Some(best[full], shape full)

/// Proposition 4's bound (planner.md): on the closed L × L lattice (L even, bonds of size D, limit with
/// D^m <= limit < D^(m+1)) every plan whose tree has the four quadrants as nodes and slices only bonds between
/// quadrants executes at least 4 D^(2L - m + 1) flops in every loop order.
let crossBound (side: int) (bond: int) (m: int) = BigInteger 4 * BigInteger.Pow(BigInteger bond, 2 * side - m + 1)

/// Prints the bench. Arguments: `trials=N` (hyper's, 32).
let run (args: string array) =
    let trials = args |> Array.tryPick (fun a -> if a.StartsWith "trials=" then Some(int (a.Substring 7)) else None) |> Option.defaultValue 32
    let o = { PlanOptions.defaults with Trials = trials; Parallel = false }
    let load = try (IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?"
    printfn "cross: closed lattices at 1/100 of hyper's unsliced largest intermediate (hyper, %d trials, threads 1, load %s); ratios over hyper's unsliced flops" trials load
    let keptBonds (bond: int) (limit: BigInteger) =
        let mutable k = 0
        while BigInteger.Pow(BigInteger bond, k + 1) <= limit do
            k <- k + 1
        k
    for (side, bond) in [ (8, 4); (10, 3) ] do
        let p = index (HyperBench.lattice side side bond)
        let free = Plan.run "hyper" o p
        let flops = free.Cost.Value.Flops
        let limit = free.Cost.Value.LargestIntermediate / BigInteger 100
        let m = keptBonds bond limit
        let bound = crossBound side bond m
        printfn "  lattice %dx%d D=%d: unsliced %s, limit %s, m = %d; every cross sliced on its arms only >= 4 D^(2L-m+1) = %s = %.3fx"
            side side bond (PlanReport.sci flops) (PlanReport.sci limit) m (PlanReport.sci bound) (ratio bound flops)
    // The exhaustive part: the 8 x 8 lattice with D = 4 (quadrants of 16 sites).
    let side, bond, h = 8, 4, 4
    let p = index (HyperBench.lattice side side bond)
    let free = Plan.run "hyper" o p
    let flops = free.Cost.Value.Flops
    let limit = free.Cost.Value.LargestIntermediate / BigInteger 100
    let m = keptBonds bond limit
    let id (name: string) = Array.IndexOf(p.IndexNames, name)
    let arms =
        [| [| for r in 0 .. h - 1 -> id (sprintf "h%d_%d" r (h - 1)) |]          // top: Q1 | Q2
           [| for c in h .. side - 1 -> id (sprintf "v%d_%d" (h - 1) c) |]       // right: Q2 | Q4
           [| for r in h .. side - 1 -> id (sprintf "h%d_%d" r (h - 1)) |]       // bottom: Q4 | Q3
           [| for c in 0 .. h - 1 -> id (sprintf "v%d_%d" (h - 1) c) |] |]      // left: Q3 | Q1
    let quadrant qr qc = [| for r in 0 .. h - 1 do for c in 0 .. h - 1 -> (qr * h + r) * side + qc * h + c |]
    // Quadrants Q1 (top left), Q2, Q4 (bottom right), Q3, each with its two arms.
    let quadrants = [| quadrant 0 0, (3, 0); quadrant 0 1, (0, 1); quadrant 1 1, (1, 2); quadrant 1 0, (2, 3) |]
    let subsets (arm: int array) = [ for mask in 0 .. (1 <<< arm.Length) - 1 -> [| for k in 0 .. arm.Length - 1 do if mask &&& (1 <<< k) <> 0 then yield arm[k] |] ]
    let need = 2 * h - m
    let feasible = Dictionary<int * Set<int>, bool>()
    let fits q (sliced: Set<int>) =
        let region, _ = quadrants[q]
        let key = q, (sliced |> Set.filter (fun i -> p.Carriers[i] |> Array.exists (fun s -> Array.contains s region)))
        match feasible.TryGetValue key with
        | true, f -> f
        | _ ->
            let f = (regionTree p bond m region (snd key) None).IsSome
            feasible[key] <- f
            f
    let clock = Diagnostics.Stopwatch.StartNew()
    let sets =
        [ for a in subsets arms[0] do
            for b in subsets arms[1] do
                for c in subsets arms[2] do
                    for d in subsets arms[3] do
                        let g = [| a; b; c; d |]
                        if Array.sumBy Array.length g = 2 * need
                           && quadrants |> Array.forall (fun (_, (x, y)) -> g[x].Length + g[y].Length >= need) then
                            yield g ]
    let fitting = sets |> List.filter (fun g -> let s = g |> Array.concat |> Set.ofArray in [ 0 .. 3 ] |> List.forall (fun q -> fits q s))
    printfn "  lattice 8x8 D=4: %d sliced sets of %d bonds on the arms leave every quadrant at most %d unsliced bonds; %d of them let every quadrant be contracted within the limit (exact, %d quadrant programmes, %.1f s)"
        sets.Length (2 * need) m fitting.Length feasible.Count clock.Elapsed.TotalSeconds
    let rec permutations (xs: int list) =
        match xs with
        | [] -> [ [] ]
        | _ -> [ for x in xs do for rest in permutations (List.filter ((<>) x) xs) -> x :: rest ]
    let show label (t: ContractionTree) (sliced: int array) =
        let f = PlanSlice.figures p t sliced
        let orderFree = SliceBound.leastExecuted p t sliced
        printfn "    %-58s executed %8.3fx  order-free %7.3fx  tree %6.3fx  largest %4s  order %s" label (ratio f.Flops flops) (ratio orderFree flops)
            (ratio (Cost.report p t).Flops flops) (PlanReport.sci f.LargestIntermediate) (String.Join(" ", f.Indices |> Array.map (fun i -> p.IndexNames[i])))
    let joins (q: TreeShape array) =
        [ "((Q1 Q2) (Q3 Q4))", Sweep [ Sweep [ q[0]; q[1] ]; Sweep [ q[3]; q[2] ] ]
          "((Q1 Q3) (Q2 Q4))", Sweep [ Sweep [ q[0]; q[3] ]; Sweep [ q[1]; q[2] ] ]
          "(((Q1 Q2) Q4) Q3), a spine", Sweep [ q[0]; q[1]; q[2]; q[3] ] ]
    let polish (t: ContractionTree) (ix: int array) =
        match PlanReuse.fitAndPolishWith PlanReuse.polishWindows (PlanHyper.Work()) (fun () -> false) p limit 6 ix t with
        | Some polished -> show "  polished (fitAndPolishWith polishWindows, 6 rounds)" polished (PlanSlice.prune p limit polished ix)
        | None -> printfn "    polish: no fit"
    for g in fitting do
        let sliced = g |> Array.concat |> Set.ofArray
        let ix = Set.toArray sliced
        // Quadrants exact for each order of the four arms' sliced bonds; per join, the cheapest in its order.
        let best = Dictionary<string, BigInteger * ContractionTree>()
        for perm in permutations [ 0 .. 3 ] do
            let order = perm |> List.map (fun k -> g[k]) |> Array.concat
            let q = quadrants |> Array.map (fun (region, _) -> (regionTree p bond m region sliced (Some order)).Value |> snd)
            for name, shape in joins q do
                let t = ContractionTree.ofShape p.Inputs.Length shape
                let f = PlanSlice.figuresInOrder p t order
                match best.TryGetValue name with
                | true, (bf, _) when bf <= f.Flops -> ()
                | _ -> best[name] <- (f.Flops, t)
        for KeyValue (name, (_, t)) in best do
            show (sprintf "%s, quadrants exact for the order" name) t ix
        let _, t = best.Values |> Seq.minBy fst
        polish t ix
        // Quadrants exact for the order-free cost (b), each join in its best loop order.
        let q = quadrants |> Array.map (fun (region, _) -> (regionTree p bond m region sliced None).Value |> snd)
        let trees = joins q |> List.map (fun (name, shape) -> name, ContractionTree.ofShape p.Inputs.Length shape)
        for name, t in trees do
            show (sprintf "%s, quadrants exact for (b)" name) t ix
        let _, t = trees |> List.minBy (fun (_, t) -> (PlanSlice.figures p t ix).Flops)
        polish t ix
