/// Lower bounds on sliced plans of the lattices at 1/100 of hyper's unsliced largest intermediate, against hyper's
/// unsliced flops of the same run (bench/results/planner.md, "Session 12 (s12-bound)"): the order-free cost of
/// every connected sweep (`SliceLower.sweepLeast`), and with `plans` the step exponents of the slice-aware
/// search's own plan (`SliceLower.exponents`) and its bounds in any loop order (`SliceBound.innermostExecuted`, `SliceBound.nestedInnermostExecuted`);
/// and the sliced count from which every plan executes more than 2x (`SliceBound.reuseSlicedCountAbove`).
module TnDsl.Bench.BoundBench

open System
open System.Diagnostics
open System.Numerics
open TnDsl
open TnDsl.Bench.Measure

let private ratio (a: BigInteger) (b: BigInteger) = Math.Exp(BigInteger.Log a - BigInteger.Log b)

/// The block-packing bound (bench/results/planner.md, "Session 14 (s14-d2)"): every tabulated least sliced count
/// of a small block (`SliceBlocks.minima`) recomputed by `SliceBlocks.least`, with a least set and the CPU it
/// took, and the bounds on larger blocks (`SliceBlocks.wideBounds`) by `SliceBlocks.leastWide`, then per lattice
/// side and m the counting bound, the packing bound, the band bound (`SliceBound.bandLeast`) and
/// `SliceBound.leastSliced`.
let blocks () =
    printfn "blocks: the least number of sliced bonds that lets a rows x cols grid be contracted pairwise with at most m unsliced bonds leaving every intermediate (exact, by search)"
    printfn "  (a least set: h r_c the bond from site (r,c) to (r,c+1), v r_c the bond from (r,c) to (r+1,c))"
    printfn "  %-6s %3s %6s %10s  %s" "block" "m" "least" "cpu ms" "a least set"
    let self = Process.GetCurrentProcess()
    for rows, cols, m, _ in SliceBlocks.minima do
        let cpu0 = self.TotalProcessorTime
        let least, set = (SliceBlocks.least rows cols m 20).Value
        self.Refresh()
        let names =
            [ for k in 0 .. 63 do
                if (set >>> k) &&& 1UL = 1UL then
                    let x = k % 32
                    yield sprintf "%s%d_%d" (if k < 32 then "h" else "v") (x / cols) (x % cols) ]
        printfn "  %-6s %3d %6d %10.0f  %s" (sprintf "%dx%d" rows cols) m least (self.TotalProcessorTime - cpu0).TotalMilliseconds (String.Join(" ", names))
    // Blocks of more than 25 sites (`SliceBlocks.wideBounds`): no set of bound - 1 bonds or fewer is feasible, by
    // the 64-bit search; a least set where the search of `bound` bonds is cheap (the 4 × 8).
    for rows, cols, m, bound in SliceBlocks.wideBounds do
        let cpu0 = self.TotalProcessorTime
        let fewer = SliceBlocks.leastWide rows cols m (bound - 1)
        let exact = if rows * cols <= 32 then SliceBlocks.leastWide rows cols m bound else None
        self.Refresh()
        let shown, names =
            match fewer, exact with
            | Some _, _ -> "?", "a smaller set found: the entry is wrong"
            | None, Some(k, pairs) ->
                string k, String.Join(" ", [ for a, b in pairs -> sprintf "%s%d_%d" (if b = a + 1 then "h" else "v") (a / cols) (a % cols) ])
            | None, None -> sprintf ">= %d" bound, sprintf "(none of %d bonds or fewer)" (bound - 1)
        printfn "  %-6s %3d %6s %10.0f  %s" (sprintf "%dx%d" rows cols) m shown (self.TotalProcessorTime - cpu0).TotalMilliseconds names
    printfn "lattices: the least number of sliced bonds of any plan keeping at most m unsliced bonds per intermediate"
    printfn "  %-6s %3s %9s %8s %8s %8s" "side" "m" "counting" "packing" "bands" "least"
    for side in [ 4; 6; 8; 10; 16; 20 ] do
        for m in 0 .. 5 do
            let limit = BigInteger.Pow(BigInteger 2, m)
            printfn "  %-6d %3d %9d %8d %8d %8d" side m (SliceBound.leastSlicedCounting side 2 limit) (SliceBlocks.packing side side m) (SliceBound.bandLeast side m)
                (SliceBound.leastSliced side 2 limit)

/// Prints the bounds. Arguments: `blocks` (the block-packing bound only: `blocks`), `only=TEXT` (the lattices whose label contains TEXT), `least=F` (also look for
/// the least sweep bound up to F times the unsliced flops, default 0: only whether 2x is within reach), `plans`
/// (the search's plan at the limit and its heaviest steps' exponents: minutes of CPU), `exact` (also
/// `SliceLower.sweepLeastExact`, at `least` or 2 times the unsliced flops: minutes of CPU), `trials=N` (hyper's, 32).
let run (args: string array) =
    let arg (key: string) =
        args |> Array.tryPick (fun a -> if a.StartsWith(key + "=") then Some(a.Substring(key.Length + 1)) else None)
    let trials = arg "trials" |> Option.map int |> Option.defaultValue 32
    let least = arg "least" |> Option.map float |> Option.defaultValue 0.0
    let o = { PlanOptions.defaults with Trials = trials }
    if args |> Array.contains "blocks" then blocks () else
    printfn "bound: lattices at 1/100 of hyper's unsliced largest intermediate (hyper, %d trials, threads 1, load %s); ratios over hyper's unsliced flops" trials
        (try (IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?")
    printfn "  (connected sweeps: each step adds a site next to those taken; their order-free cost is their executed cost in the best loop order, and no sliced set makes one cost 2x or less where the bound says '> 2')"
    printfn "  %-18s %11s %9s %6s %3s %16s %11s %12s" "lattice" "unsliced" "largest" "limit" "m" "sweeps >= (x)" "states" "cpu ms"
    for label, side, bond in [ "lattice 8x8 D=4", 8, 4; "lattice 10x10 D=3", 10, 3 ] |> List.filter (fun (l, _, _) -> arg "only" |> Option.forall l.Contains) do
        let p = index (HyperBench.lattice side side bond)
        let free = Plan.run "hyper" o p
        let flops = free.Cost.Value.Flops
        let limit = free.Cost.Value.LargestIntermediate / BigInteger 100
        let m = SliceBound.keptBonds bond limit
        let self = Process.GetCurrentProcess()
        let cpu0 = self.TotalProcessorTime
        let states = ref 0L
        let twice = flops * BigInteger 2
        let shown =
            match SliceLower.sweepLeast side side bond m (int64 twice) states with
            | Some b -> sprintf "%.3f" (ratio b flops)
            | None when least > 2.0 ->
                match SliceLower.sweepLeast side side bond m (int64 (float flops * least)) states with
                | Some b -> sprintf "%.3f" (ratio b flops)
                | None -> sprintf "> %g" least
            | None -> "> 2"
        self.Refresh()
        printfn "  %-18s %11s %9s %6s %3d %16s %11d %12.0f" label (PlanReport.sci flops) (PlanReport.sci free.Cost.Value.LargestIntermediate) (PlanReport.sci limit) m shown
            states.Value (self.TotalProcessorTime - cpu0).TotalMilliseconds
        // Session 28: every step holding an end of the innermost loop's bond runs once per slice, and those steps
        // cost 4 flops a slice at least, so from some sliced count on every plan is dearer than 2x in every order.
        let above = SliceBound.reuseSlicedCountAbove bond twice
        printfn "  %-18s every plan slicing %d bonds or more executes at least 4 D^s = %.3fx at s = %d, in every loop order (2 D^s: from %d)" ""
            above (ratio (SliceBound.reuseLeastTotalInnermost bond above) flops) above
            (Seq.initInfinite ((+) 1) |> Seq.find (fun s -> SliceBound.reuseLeastTotalAt bond s > twice))
        if args |> Array.contains "exact" then
            // The same question without the relaxation (which boundary bonds are sliced kept in the states), at
            // `least` times the unsliced flops (2 by default): the least cost of every connected sweep, or "> F".
            let cpu1 = self.TotalProcessorTime
            let states = ref 0L
            let factor = max 2.0 least
            let shown =
                match SliceLower.sweepLeastExact side side bond m (int64 (float flops * factor)) states with
                | Some b -> sprintf "%.3f" (ratio b flops)
                | None -> sprintf "> %g" factor
            self.Refresh()
            printfn "  %-18s %11s %9s %6s %3s %16s %11d %12.0f   (exact)" "" "" "" "" "" shown states.Value (self.TotalProcessorTime - cpu1).TotalMilliseconds
        if args |> Array.contains "plans" then
            let r = Plan.run "hyper" { o with MemoryLimit = Some(int64 limit) } p
            match r.Slicing, r.Tree with
            | Some s, Some t ->
                let steps = SliceLower.exponents p t s.Indices
                let innermost, o = SliceBound.innermostExecuted p t s.Indices
                let nested = SliceBound.nestedInnermostExecuted p t s.Indices
                printfn "    search's plan: %d sliced, executed %.3fx, order-free %.3fx, any order >= %.3fx (innermost %s), >= %.3fx (nested); heaviest steps (exponent e = |dR| + d(R) + w(R), term 2 D^e):"
                    s.Indices.Length (ratio s.Flops flops) (ratio (SliceBound.leastExecuted p t s.Indices) flops) (ratio innermost flops) p.IndexNames[o] (ratio nested flops)
                for st in steps |> Array.sortByDescending (fun st -> st.Exponent) |> Array.truncate 8 do
                    let term = BigInteger(if st.Summed then 2 else 1) * BigInteger.Pow(BigInteger bond, st.Exponent)
                    printfn "      step %4d: e %2d = %2d + %2d + %d   %.3fx" st.Node st.Exponent st.Boundary st.Dead st.OpenCut (ratio term flops)
            | _ -> printfn "    search's plan: none (%A)" (r.Diagnostics |> List.map (fun d -> d.Message))
