namespace TnDsl

open System
open System.Numerics

/// Trees built for executed flops under reuse across slices, for a given sliced set (bench/results/planner.md,
/// "Slicing to 1/100 ... Session 9", Theorem 1: executed flops = sum over steps of F_v w_v, F_v the step's unsliced
/// flops, w_v the sizes of the loop indices up to its level that it does not involve). The other builders plan one
/// slice (the sliced indices at size 1) and leave reuse to reconfiguration afterwards; a tree chosen for one slice
/// often contracts a sliced index early, so that every step above it reruns for each of its values. The greedy here
/// weighs each step by what it executes over all slices instead, with the limit a hard constraint on one slice's
/// intermediates.
module PlanReuse =
    /// How the reuse-aware greedy counts a step's runs over the slices.
    type Runs =
        /// The product of the sizes of the sliced indices the step depends on (carried by a leaf below it): the
        /// order-free lower bound's term (`SliceBound.leastExecuted`). Its waste is the sliced indices summed below
        /// the step.
        | OrderFree
        /// The product of the sizes of the loop indices up to the step's level in this loop order (sliced index
        /// ids, outermost first): `PlanSlice.executedFlops`' term, so that the greedy's total is the tree's executed
        /// flops in that order.
        | InOrder of int array

    /// A reuse-aware greedy tree of `p` sliced over `sliced`: pairs that share an index are joined cheapest first,
    /// a pair's cost being the memory-removed cost (`size(out) - alpha (size(a) + size(b))`, or with `flopsFirst`
    /// the step's flops) where every size and flop count is one slice's (the sliced indices at size 1) times the
    /// runs of the node over the slices (`runs`); with temperature > 0 each cost gets Gumbel noise. Weighted so, a
    /// node's size is the elements it writes over all slices: an open sliced index counts at its full size (the
    /// node reruns for each of its values, but holds one), and one summed below it counts too (it reruns for
    /// nothing). A join whose one-slice result exceeds `limit` elements is never a candidate; what is left at the
    /// end joins smallest first (the tree may then not fit). None when more than 64 indices are sliced or there
    /// are fewer than two tensors. Log2 values throughout: no network is too large. It is greedy's own loop
    /// (`PlanGreedy.runWeighted`) on the sliced problem, weighed by a `PlanGreedy.RunWeight`.
    let greedy (p: Indexed) (sliced: int array) (runs: Runs) (limit: BigInteger) (alpha: float) (temperature: float) (flopsFirst: bool) (rng: Random) : ContractionTree option =
        let n = p.Inputs.Length
        let order = match runs with InOrder o -> o | OrderFree -> Array.sort sliced
        if n < 2 || order.Length > 64 then None
        else
            // Per index, its bit in a node's dependency mask (its position in the loop order; -1 when not sliced).
            let bit = Array.create p.Size.Length -1
            order |> Array.iteri (fun j i -> bit[i] <- j)
            let lsz = p.Size |> Array.map (fun s -> Math.Log2(float s))
            let prefix = Array.scan (fun acc i -> acc + lsz[i]) 0.0 order
            let runsLog (dep: uint64) =
                match runs with
                | InOrder _ -> prefix[64 - BitOperations.LeadingZeroCount dep]
                | OrderFree ->
                    let mutable acc = 0.0
                    let mutable d = dep
                    while d <> 0UL do
                        acc <- acc + lsz[order[BitOperations.TrailingZeroCount d]]
                        d <- d &&& (d - 1UL)
                    acc
            let logLimit = (if limit.Sign <= 0 then 0.0 else BigInteger.Log(limit, 2.0)) + 1e-9
            let weight: PlanGreedy.RunWeight = { Bit = bit; RunsLog = runsLog }
            let run = PlanGreedy.runWeighted (Some weight) flopsFirst [||] (PlanSlice.sliceProblem p sliced) logLimit alpha temperature rng
            Some run.Tree

    /// The settings of the reuse-aware greedy for trial t: (alpha, temperature, flops first). Trial 0 is the
    /// deterministic memory-removed greedy; later trials sample alpha in [0, 2) and a temperature between 0.001
    /// and 1 (log-uniform), flops first one time in ten, as hyper's greedy trials do.
    let settings (rng: Random) (t: int) =
        if t = 0 then 1.0, 0.0, false
        else
            let alpha = rng.NextDouble() * 2.0
            let temperature = Math.Exp(Math.Log 0.001 + (Math.Log 1.0 - Math.Log 0.001) * rng.NextDouble())
            alpha, temperature, rng.NextDouble() < 0.1

    /// A tree of `p` made to fit the limit with `sliced` at size 1 and then reconfigured for its executed flops, or
    /// None when it cannot be made to fit: while an intermediate is over the limit, subtree reconfiguration for the
    /// largest intermediate (subtrees of 8, four passes, flops breaking ties); then `alternations` rounds of the
    /// best loop order followed by subtree reconfiguration for the executed flops in that order within the limit
    /// (`PlanHyper.reconfigureReuseCounted`, two passes), once per subtree size in `windows` in turn, until a round
    /// changes nothing. (A builder
    /// under a hard limit often strands pieces that no join can fit: the greedy's leftovers join over it; this
    /// brings such trees back.) The work is counted in `work`.
    let fitAndPolishWith (windows: int array) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (alternations: int) (sliced: int array) (tree: ContractionTree) =
        let q = PlanSlice.sliceProblem p sliced
        let limit64 = int64 (BigInteger.Min(limit, BigInteger Int64.MaxValue))
        work.Steps <- work.Steps + float tree.Steps.Length
        let fitted = if Cost.largestIntermediate q tree > limit then PlanHyper.reconfigureCounted work stop None q Size 8 4 tree else tree
        work.Steps <- work.Steps + float tree.Steps.Length
        if Cost.largestIntermediate q fitted > limit then None
        else
            let mutable current = fitted
            let mutable round = 0
            let mutable changed = true
            while changed && round < max 1 alternations && (round = 0 || not (stop ())) do
                let start = current
                for k in windows do
                    // The best order (its operations counted, `PlanSlice.orderOps`).
                    work.Orders <- work.Orders + PlanSlice.orderOps current.Steps.Length sliced.Length
                    current <- PlanHyper.reconfigureReuseCounted work stop (Some limit64) p (PlanSlice.bestOrder p current sliced) k 2 current
                changed <- current.Steps <> start.Steps
                round <- round + 1
            Some current

    /// `fitAndPolishWith` with subtrees of 8 in every round (the builds' polish).
    let fitAndPolish (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (alternations: int) (sliced: int array) (tree: ContractionTree) =
        fitAndPolishWith [| 8 |] work stop p limit alternations sliced tree

    /// The subtree sizes a found plan's polish tries in turn in each round (`alternativesCounted`). The frontiers
    /// that reconfiguration cuts a tree into change with the size, so the sizes reach trees that no one size does:
    /// on the 16 x 16 lattice with D = 2 at 1/100, the search's plan (3.185x) is left as it is by subtrees of 8
    /// (any number of rounds), and polished to 2.34x by 8 then 9, to 2.31x by 8 to 11 (planner.md, Session 11).
    /// `hyper`'s slice-aware search polishes with these; `auto`'s (lean, under its ledger) with subtrees of 8 only:
    /// the counted work of a subtree's exact search grows as 2^k while its CPU grows faster, so subtrees of 9-11
    /// cost more than the ledger counts (10x10 with D = 3 at 1/100: search CPU 0.40 -> 0.56 s for a 0.15 s
    /// contraction) and changed none of `stakes limits`' 22 plans.
    let polishWindows = [| 8; 9; 10; 11 |]

    /// The cheapest plan for the sliced set built by the reuse-aware greedy of trial t (`settings`), or None when
    /// no build can be made to fit the limit: the order-free build (`OrderFree`), then one in the best loop order of
    /// that tree (`InOrder`), each fitted and polished for its executed flops (`fitAndPolish`, three alternations of
    /// order and reconfiguration); the cheaper, its sliced set pruned to what it needs (`PlanSlice.prune`). The
    /// plan's executed flops (in its best loop order), its tree and its sliced set. Each build draws from its own
    /// generator seeded by (seed, t, build), so the result depends only on the arguments. The work (greedy builds,
    /// exact costings, reconfiguration) is counted in `work`.
    let rebuildCounted (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (seed: int) (limit: BigInteger) (sliced: int array) (t: int) =
        let alpha, temperature, flopsFirst = settings (Random(seed * 1000003 + t * 7919 + 37)) t
        let build runs k =
            work.Greedy <- work.Greedy + float p.Inputs.Length
            greedy p sliced runs limit alpha temperature flopsFirst (Random(seed * 1000003 + t * 7919 + 41 + k))
            |> Option.bind (fitAndPolish work stop p limit 3 sliced)
        let scored (tree: ContractionTree) =
            work.Steps <- work.Steps + 2.0 * float tree.Steps.Length
            let ix = PlanSlice.prune p limit tree sliced
            work.Steps <- work.Steps + float tree.Steps.Length * float (1 + sliced.Length)
            work.Orders <- work.Orders + PlanSlice.orderOps tree.Steps.Length ix.Length
            (PlanSlice.figures p tree ix).Flops, tree, ix
        let first = build OrderFree 0 |> Option.map scored
        let second =
            match first with
            | Some (_, tree, ix) when ix.Length > 1 && not (stop ()) ->
                work.Orders <- work.Orders + PlanSlice.orderOps tree.Steps.Length sliced.Length
                build (InOrder(PlanSlice.bestOrder p tree sliced)) 1 |> Option.map scored
            | _ -> None
        match first, second with
        | Some (f1, _, _), Some (f2, _, _) when f2 < f1 -> second
        | _ -> first

    /// `rebuildCounted` without counting the work.
    let rebuild (p: Indexed) (seed: int) (limit: BigInteger) (sliced: int array) (t: int) =
        rebuildCounted (PlanHyper.Work()) (fun () -> false) p seed limit sliced t

    /// The most rounds of `shakeCounted` in one call of `alternativesCounted` (hyper's search): on the 16 x 16
    /// lattice with D = 2 at 1/100 the rounds that lowered the flops were the first two or three of 100, from six
    /// seeds (planner.md, Session 12).
    let shakeRounds = 8

    /// A sliced tree polished with random frontiers: rounds of the best loop order followed by subtree
    /// reconfiguration for the executed flops in that order within the limit (`PlanHyper.reconfigureReuseRandomCounted`,
    /// two passes), whose subtrees are cut by opening nodes drawn at random instead of the largest, the subtree size
    /// the round's in `windows` (in turn), until a round changes nothing, `rounds` ran or `stop` says so. The frontiers
    /// that the largest-first rule cuts a tree into are the same at every round, so a tree that windows of 8 to 11
    /// leave as it is can still have cheaper rewrites of other subtrees: on the 16 x 16 lattice with D = 2 at
    /// 1/100, the search's plan (2.308x, left as it is by `fitAndPolishWith polishWindows`) goes to 2.02-2.03x in
    /// three rounds. Each round keeps the tree unless it costs no more in the fixed order (then the best order costs
    /// no more again). Round r draws from its own generator seeded by (seed, t, r): deterministic. The work is
    /// counted in `work`.
    let shakeCounted (windows: int array) (rounds: int) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (seed: int) (limit: BigInteger) (t: int) (sliced: int array) (tree: ContractionTree) =
        let limit64 = int64 (BigInteger.Min(limit, BigInteger Int64.MaxValue))
        let mutable current = tree
        let mutable round = 0
        let mutable changed = true
        while changed && round < rounds && not (stop ()) do
            work.Orders <- work.Orders + PlanSlice.orderOps current.Steps.Length sliced.Length
            let rng = Random(seed * 1000003 + t * 7919 + round * 104729 + 43)
            let next = PlanHyper.reconfigureReuseRandomCounted rng work stop (Some limit64) p (PlanSlice.bestOrder p current sliced) windows[round % windows.Length] 2 current
            changed <- next.Steps <> current.Steps
            current <- next
            round <- round + 1
        current

    /// Hops of `hopCounted` per trial of hyper's slice-aware search: on the 16 x 16 lattice with D = 2 at 1/100,
    /// from a 2.019x plan, a hop with frontiers of 10 to 15 nodes left its basin (for 1.821x) at the 5th and 8th
    /// hop of two streams, about 0.6 s each; with frontiers of 6 to 11, about one hop in 80, 0.13 s each
    /// (planner.md, Session 12).
    let hopsPerTrial = 4

    /// Basin hopping over trees for a plan's sliced set: each hop perturbs the best tree so far by subtree
    /// reconfiguration for one slice's flops (not the executed flops), random frontiers of 10 to 15 nodes, one
    /// pass, within the limit, then polishes it back for its executed flops (`shakeCounted`, `shakeRounds`); kept
    /// when its executed flops (in its best loop order) are lower. A plan that no subtree rewrite makes cheaper can
    /// sit in a basin that one slice's objective leaves: reconfiguring for it merges or splits the steps that reuse
    /// across slices weighs, and the polish then finds another local optimum. Hop h draws from its own generator
    /// seeded by (seed, t, h): deterministic. The cheaper plan (executed flops, its tree, its sliced set pruned),
    /// None when no hop lowered the flops. The work is counted in `work`.
    let hopCounted (windows: int array) (hops: int) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (seed: int) (limit: BigInteger) (t: int) (plan: BigInteger * ContractionTree * int array) =
        let f0, tree0, sliced = plan
        if sliced.Length = 0 then None
        else
            let q = PlanSlice.sliceProblem p sliced
            let limit64 = int64 (BigInteger.Min(limit, BigInteger Int64.MaxValue))
            let mutable best = None
            let mutable bestFlops = f0
            let mutable tree = tree0
            let mutable h = 0
            while h < hops && not (stop ()) do
                let rng = Random(seed * 1000003 + t * 7919 + h * 15485863 + 47)
                let perturbed = PlanHyper.reconfigureReuseRandomCounted rng work stop (Some limit64) q [||] (10 + rng.Next 6) 1 tree
                let polished = shakeCounted windows shakeRounds work stop p (seed + 1) limit (t * hops + h) sliced perturbed
                work.Steps <- work.Steps + float polished.Steps.Length * float (3 + sliced.Length)
                work.Orders <- work.Orders + PlanSlice.orderOps polished.Steps.Length sliced.Length
                let ix = PlanSlice.prune p limit polished sliced
                let f = (PlanSlice.figures p polished ix).Flops
                if f < bestFlops then
                    best <- Some(f, polished, ix)
                    bestFlops <- f
                    tree <- polished
                h <- h + 1
            best

    /// Other plans for a found plan's sliced set, for trial t of the slice-aware search: its tree polished for its
    /// executed flops (`fitAndPolishWith windows`, three rounds of loop order and reconfiguration), that tree polished
    /// further with random frontiers (`shakeCounted`, at most `shake` rounds; 0: none) and the reuse-aware greedy's
    /// plan of trial t for its set (`rebuildCounted`); the cheapest (executed flops, then fewer sliced indices, then
    /// the earlier of polished, shaken, rebuilt), None when none fits or `stop` says so. The search offers them as
    /// candidates for its best plan only, not as starts of its local search (a better start there, tried, ended
    /// dearer: 181x against 170x on the 8x8 lattice with D = 4 at 655, 456x against 411x on the 10x10 with D = 3 at
    /// 590), so the search never gives a dearer plan for the same trials. The work is counted in `work`.
    let alternativesCounted (windows: int array) (shake: int) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (seed: int) (limit: BigInteger) (t: int) (plan: BigInteger * ContractionTree * int array) =
        let _, tree, sliced = plan
        if sliced.Length = 0 || stop () then None
        else
            let scored (tree: ContractionTree) =
                let ix = PlanSlice.prune p limit tree sliced
                work.Steps <- work.Steps + float tree.Steps.Length * float (3 + sliced.Length)
                work.Orders <- work.Orders + PlanSlice.orderOps tree.Steps.Length ix.Length
                (PlanSlice.figures p tree ix).Flops, tree, ix
            let polished = fitAndPolishWith windows work stop p limit 3 sliced tree |> Option.map scored
            let shaken =
                match polished with
                | Some (_, tree, _) when shake > 0 && not (stop ()) -> Some(scored (shakeCounted windows shake work stop p seed limit t sliced tree))
                | _ -> None
            let rebuilt = if stop () then None else rebuildCounted work stop p seed limit sliced t
            [ polished; shaken; rebuilt ]
            |> List.fold (fun best c ->
                match best, c with
                | Some (f1, _, s1: int array), Some (f2, _, s2: int array) when f2 < f1 || (f2 = f1 && s2.Length < s1.Length) -> c
                | None, _ -> c
                | _ -> best) None
