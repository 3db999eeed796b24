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

    /// A note that a wall-clock limit ended `auto`'s search early: the phases it cut short or left out, or that
    /// greedy's plan alone took the whole limit. The other optimizers say what the clock cut of theirs with the same
    /// code (`PlanDiagnostics.timeCutShort`).
    let timeCut = PlanDiagnostics.timeCut

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

    /// The throughput at which a plan's flops are turned into the contraction time at stake: 1e10 flop/s, the
    /// order of one CPU core's float32 matrix-multiply rate.
    let stakesFlopsPerSecond = 1e10

    /// The share of the contraction time at stake that `auto` lets planning cost.
    let searchShare = 0.1

    /// The least and the most counted work (`PlanOptimal.ExactWork.Seconds`) `auto`'s exact search may spend:
    /// 2.5 ms to 10 s of one core. Between them, its share of the contraction time at stake.
    let exactSeconds = (2.5e-3, 10.0)

    /// Floors and caps of hyper's trials in `auto`: 8 to 1024. The floor of 8 hyper trials (two greedy, six
    /// sampled, each reconfigured) holds even where the stakes are smaller, on networks of up to
    /// `PlanHyper.reconfigureTrialsUpTo` tensors (2 beyond): it costs milliseconds to a second or two there, and it
    /// is what keeps `auto` within 2x of the best cotengra finds in 60 s on every network of the side-by-side
    /// benchmark (bench/results/planner.md); 16 random-greedy trials alone, the floor before, were up to 7.6x off.
    /// (Under a memory limit, the free search's floor holds only within the ledger's `floors`.)
    let hyperTrials = (8, 1024)

    /// The most counted work (`PlanHyper.Work.Seconds`) `auto`'s hyper search spends whatever the stakes: 30 s of
    /// one core. Without it a network whose contraction is out of reach (a random graph whose best tree needs days;
    /// a result no machine holds is `outOfReachLog2`'s) ran all 1024 trials, 50-75 s of CPU.
    let capSeconds = 30.0

    /// A result of at least 2^62 elements (2^64 bytes in float32) is held by no machine, and an output index cannot
    /// be sliced: such a contraction never runs, whatever its plan, so no search can pay for itself. `auto` then
    /// takes the better of greedy and bond-greedy (seconds at 10,000 tensors) instead of searching up to
    /// `capSeconds` of counted work (an MPS of 784 sites with every physical leg open took 46 s, and 2,000 sites
    /// did not finish in 120 s: counted work prices costs of ordinary size, not products of 2,000 factors).
    let outOfReachLog2 = 62.0

    /// The log2 of the number of elements of the network's result (batch indices at their nominal size).
    let resultLog2 (p: Indexed) = p.Output |> Array.sumBy (fun i -> Math.Log2(float p.Size[i]))

    /// Where the greedy plan's stakes allow less search than this many seconds, 16 random-greedy trials (cheap)
    /// run beside hyper's floor, so that where hyper finds nothing better the plan is what it was before the floor.
    let smallStakesSeconds = 0.1

    /// The stakes rule of `auto` (`PlanHyper.Stakes`): a tenth of the contraction time at stake, 8 to 1024
    /// trials, at most `capSeconds`.
    let private stakesRule n : PlanHyper.Stakes =
        { FlopsPerSecond = stakesFlopsPerSecond
          Share = searchShare
          Floor = if n <= PlanHyper.reconfigureTrialsUpTo then fst hyperTrials else 2
          CapSeconds = capSeconds }

    /// Networks up to this many tensors get slicing interleaved with subtree reconfiguration under a memory limit.
    let reconfigureUpTo = 400

    /// Trials of each stage of the slice-aware search (`PlanSliceSearch`) when a tree must be sliced: `hyper` runs
    /// a quarter of its trial count, 2 to 32; `auto` up to 32, stopped when its ledger is spent.
    let sliceSearchTrials (name: string) (o: PlanOptions) =
        match name with
        | "hyper" -> Some(Math.Clamp(o.Trials / 4, 2, 32))
        | "auto" -> Some 32
        | _ -> None

    /// The share of a wall-clock limit after which a plan under a memory limit starts no more optional fitting:
    /// three quarters. `auto` starts no more refits of the free search's trees nor slice-aware trials (the exact
    /// search, hyper under the limit and the plan's figures follow); `fitLimit` no slicer but the one that gives the
    /// first plan; `noDearerUnderLimit` does not fit greedy's plan where the plan found fits.
    let fitUntil = 0.75

    /// The least allowance of `auto`'s ledger under a memory limit, in seconds of counted work: 50 ms, about what
    /// the slice-aware search's first trial costs on a network of 50 to 100 tensors, where the limit makes the
    /// plan of the free network a poor start (its tree is chosen for flops alone and slices badly) and the stakes
    /// alone would allow nothing.
    let ledgerFloorSeconds = 0.05

    /// What `auto` under a memory limit (slicing allowed) keeps for fitting its tree to the limit (`fitLimit`): the
    /// ledger of counted work shared by every phase, the tree it found without the limit and that tree fitted
    /// (sliced interleaved with reconfiguration, or as is when it fits; or the cheapest of the free search's trial
    /// trees so fitted), so that neither is searched twice.
    type private Budgeted =
        { Ledger: PlanHyper.Ledger
          mutable Free: ContractionTree option
          mutable Fitted: (BigInteger * ContractionTree * Slicing option) option
          mutable Searched: (BigInteger * ContractionTree * Slicing option) option
          /// The free search's trial trees, best unsliced score first (`PlanHyper.Searched.Ranked`).
          mutable Trees: ContractionTree array
          /// The counted work (seconds) that fitting the free tree took: the price of fitting one more.
          mutable FitWork: float
          /// The rank (from 1) among `Trees` of the tree `Fitted` came from; 0 for the free tree.
          mutable FittedRank: int
          /// True when `Fitted` came from greedy's tree (`fitGreedy`).
          mutable FittedGreedy: bool }

    /// What the floors of `auto`'s ledger under a memory limit may spend (`PlanHyper.Floors`): in all, the contraction
    /// time of the best plan so far (one times it: search beyond that can never pay), or 20 ms of counted work
    /// whatever the stakes. They used to run whatever the stakes (the free search's 8 trials, fitting the free plan
    /// by three slicers, the other trial trees' refits within `refitFloorSeconds`, the slice-aware search's first
    /// trial): `stakes limits` spent 0.1-1.2 s of CPU on plans that contract in 5 us to 60 ms.
    let floors: PlanHyper.Floors = { Seconds = 0.02; Multiple = 1.0 }

    /// The share of what the ledger has left, after the slice-aware search, that the exact search under a limit may
    /// take: a quarter (where the limit forces slicing it searches in vain). The slice-aware search comes first and
    /// may take all that is left: on a 10x10 lattice with D = 3 at 1/100 of its largest intermediate it finds a
    /// plan of 1.2e10 flops in about 1 s of counted work, where hyper's trials within the same work find 9e10.
    let exactShare = 0.25

    /// log2 of a plan's total flops (sliced when it is).
    /// What `auto`'s note calls a hyper search that ran `trials` trials: "hyper (8 trials)", "hyper (1 trial)" (a
    /// time limit can leave it one).
    let hyperChoice (trials: int) = if trials = 1 then "hyper (1 trial)" else sprintf "hyper (%d trials)" trials

    let private log2Of (flops: BigInteger) = if flops.Sign <= 0 then 0.0 else BigInteger.Log(flops, 2.0)

    /// A tree fitted to a memory limit: as is when it fits, else the cheapest (executed flops) of the tree as is
    /// sliced by one greedy pass (reconfiguring for one slice's flops can undo the reuse across slices that the tree
    /// as is allows) and the tree sliced interleaved with reconfiguration (subtrees of 8, one pass per round) by
    /// each of the slicer's scores (`PlanSliceSearch.sliceReconfigureBy`: by executed flops alone, auto's plan of a
    /// 3-regular graph of 50 vertices at 5 elements executed 5.7e8 flops, by both 4.8e7); its executed flops, tree
    /// and slicing. Each plan is offered to the ledger as it is found. The executed-flops rule runs first, always
    /// (it gives a plan, and on lattices the best of the three or close); the every-slice rule and the greedy pass
    /// only while the ledger's floors allow (`PlanHyper.Ledger.FloorsAllow`): on the 12x12 lattice with D = 2 at
    /// 1/10 of its largest intermediate the greedy pass costs 40 % of the three and its plan was 22x dearer than the
    /// executed rule's. With `whole`, all three run whatever the floors (`fitGreedy` decides for its whole fit at
    /// once: the executed rule's plan, offered, lowers the floors before the others could run). The reconfiguring
    /// slicers' sets are pruned on their final tree. The work is counted in the ledger, loop orders included. Once
    /// `stop` (a wall-clock limit) says so, the reconfiguring slicers stop reconfiguring and the others run only where
    /// no plan is found yet.
    let private fitFree (ledger: PlanHyper.Ledger) (stop: unit -> bool) (whole: bool) (p: Indexed) (limit: BigInteger) (t: ContractionTree) =
        let work = ledger.Work
        work.Steps <- work.Steps + float t.Steps.Length
        let c = Cost.report p t
        if c.LargestIntermediate <= limit then Some(c.Flops, t, None)
        else
            let sliced (t: ContractionTree, ix: int array) =
                let s = PlanSliceSearch.figuresCounted work p t ix
                ledger.Offer(log2Of s.Flops)
                s.Flops, t, (if ix.Length = 0 then None else Some s)
            let by score = PlanSliceSearch.sliceReconfigureBy score work stop p limit false 1 t |> Option.map sliced
            let executed = by PlanSliceSearch.Executed
            let everySlice = if ((whole || ledger.FloorsAllow) && not (stop ())) || executed.IsNone then by PlanSliceSearch.EverySlice else None
            let asIs =
                if ((whole || ledger.FloorsAllow) && not (stop ())) || (executed.IsNone && everySlice.IsNone) then
                    let costings = ref 0.0
                    let orders = ref 0.0
                    let found = PlanSlice.findCountedOrders costings orders 1 p t limit
                    work.Steps <- work.Steps + float t.Steps.Length * costings.Value
                    work.Orders <- work.Orders + orders.Value
                    found |> Option.map (fun ix -> sliced (t, ix))
                else None
            // A reconfiguring slicer prunes its set before its last polish, which can leave more of it unneeded: each
            // is pruned again once all have run (one costing per sliced index, `PlanSlice.prune`: never more executed
            // flops; the floors decided on the plans as the slicers left them). On the 12x12 lattice with D = 2 at 81
            // elements the set as the slicer left it costs 2.0e10 executed flops, pruned 7.6e8 (a fresh greedy pass on
            // the fitted tree, 60x the prune's CPU, found the same set).
            let pruned (f, t: ContractionTree, s: Slicing option) =
                match s with
                | Some s ->
                    work.Steps <- work.Steps + float t.Steps.Length * float s.Indices.Length
                    let ix = PlanSlice.prune p limit t s.Indices
                    if ix.Length = s.Indices.Length then f, t, Some s else sliced (t, ix)
                | None -> f, t, s
            let executed, everySlice = Option.map pruned executed, Option.map pruned everySlice
            // The cheapest; on a tie, the executed rule's, then the every-slice rule's, then the tree as is.
            match [ executed; everySlice; asIs ] |> List.choose id with
            | [] -> None
            | xs -> Some(xs |> List.reduce (fun (fa, _, _ as a) (fb, _, _ as b) -> if fb < fa then b else a))

    /// The counted work (seconds) that fitting the free search's other trial trees to a limit may take past the
    /// ledger's allowance, while its `floors` allow (`refitRanked`): 0.15 s, about 50 ms of CPU.
    let refitFloorSeconds = 0.15

    /// The free search's trial trees (`PlanHyper.Searched.Ranked`, best unsliced score first), other than the free
    /// plan's, each fitted to the limit as the free plan is (`fitFree`), the cheapest kept in `Fitted` with its rank:
    /// trees chosen for flops alone slice very differently, and the best sliced one is often not the best
    /// unsliced one (on the PEPS norm 4x4 at 1/100 of its largest intermediate the 4th-ranked tree sliced costs
    /// 5.8e9 flops, the first 1.6e10). They are fitted in rank order while the ledger has work left, or while the
    /// fittings so far and one more (priced at what fitting the free plan cost) stay within `refitFloorSeconds` and
    /// the ledger's `floors` allow. Only where the free plan needed slicing. Deterministic (the work is counted), unless `stop` (a wall-clock
    /// limit) ends it first.
    let private refitRanked (stop: unit -> bool) (b: Budgeted) (p: Indexed) (limit: BigInteger) =
        match b.Fitted with
        | Some (_, _, Some _) ->
            let key (t: ContractionTree) = String.Join(";", t.Steps |> Array.map (fun s -> String.Join(",", s)))
            let seen = Collections.Generic.HashSet<string>()
            b.Free |> Option.iter (key >> seen.Add >> ignore)
            // With their ranks (from 1) among all the trial trees.
            let trees = b.Trees |> Array.mapi (fun i t -> i + 1, t) |> Array.filter (snd >> key >> seen.Add)
            let mutable spent = 0.0
            let mutable i = 0
            while i < trees.Length && not (stop ()) && (not b.Ledger.Exhausted || (spent + b.FitWork <= refitFloorSeconds && b.Ledger.FloorsAllow)) do
                let before = b.Ledger.Spent
                let rank, tree = trees[i]
                match fitFree b.Ledger stop false p limit tree with
                | Some (f, t, s) ->
                    b.Ledger.Offer(log2Of f)
                    match b.Fitted with
                    | Some (best, _, _) when best <= f -> ()
                    | _ ->
                        b.Fitted <- Some(f, t, s)
                        b.FittedRank <- rank
                        b.FittedGreedy <- false
                | None -> ()
                spent <- spent + (b.Ledger.Spent - before)
                i <- i + 1
        | _ -> ()

    /// Greedy's trees fitted to the limit, the cheapest kept in `Fitted` where it is cheaper than what is there:
    /// greedy's tree under the limit (`underLimit`, reduced) where it fits as is, and greedy's tree without the limit
    /// fitted as the free plan is (`fitFree`: its executed rule always, its other slicers while the ledger's floors
    /// allow, or with `whole` always). `greedy` under a limit plans with the same trees (`fitLimit`), and its plan is
    /// most often its tree without the limit sliced interleaved with reconfiguration, the fit's executed rule: on 9
    /// of the 11 networks of 16 to 30 tensors where `auto` was dearer than `greedy` (`cands limit count=150`), that
    /// rule alone is no dearer than greedy's plan, and on the other two (22 tensors at 3 elements, 9.3e9 executed
    /// flops against greedy's 9.2e8; a 3-regular graph of 16 at 2) the fit's greedy slicer pass on the tree as is
    /// gives greedy's plan. On the nine whose plans contract in 6 us to 1.7 ms the free search spends the ledger and
    /// its floors before any fit (25-46 ms of counted work): a greedy run, opt_einsum's tree and one reconfiguring
    /// slicer more (3-17 ms there) is the price of not being dearer than `greedy`, which spends a reconfiguring
    /// slicer and sixteen greedy slicer passes on the same trees. Those sixteen passes run here too (eight on each
    /// tree that needs slicing): on 11 of the 13 networks traced where `auto` was still dearer (`cands limit
    /// count=1000 skip=closed`, session 20) greedy's plan was one of them. Counted at their CPU since session 21, they
    /// cost about 1 ms of counted work a tree on 16 tensors and 13 ms on the 32-tensor PEPS norm 4x4 at 1/10. Counted
    /// in the ledger; each plan offered to it.
    let private fitGreedy (b: Budgeted) (stop: unit -> bool) (whole: bool) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (underLimit: ContractionTree) =
        let work = b.Ledger.Work
        let keep (f, t, s) =
            b.Ledger.Offer(log2Of f)
            match b.Fitted with
            | Some (best, _, _) when best <= f -> ()
            | _ ->
                b.Fitted <- Some(f, t, s)
                b.FittedRank <- 0
                b.FittedGreedy <- true
        // The greedy slicer's eight passes on a tree as is, as `greedy` slices its trees (`fitLimit`), counted.
        let passes (t: ContractionTree) =
            let costings = ref 0.0
            let orders = ref 0.0
            let found = PlanSlice.findStoppingWith stop false costings orders 8 p t limit
            work.Steps <- work.Steps + float t.Steps.Length * (costings.Value + 2.0)
            work.Orders <- work.Orders + orders.Value
            found |> Option.iter (fun ix ->
                let s = PlanSliceSearch.figuresCounted work p t ix
                keep (s.Flops, t, Some s))
        let underLimit = PlanReduce.leaves p o.Objective (Some limit) underLimit
        work.Steps <- work.Steps + float underLimit.Steps.Length
        let c = Cost.report p underLimit
        if c.LargestIntermediate <= limit then keep (c.Flops, underLimit, None) else passes underLimit
        // The greedy optimizer's tree without the limit: a greedy run, opt_einsum's tree and comparing the two.
        let n = float p.Inputs.Length
        let free = { o with MemoryLimit = None }
        work.Greedy <- work.Greedy + 2.0 * n
        let tree = PlanGreedy.greedyTree p free (PlanGreedy.bestGreedy p free)
        work.Steps <- work.Steps + 4.0 * float tree.Steps.Length
        let tree = PlanReduce.leaves p o.Objective (Some limit) tree
        if b.Free <> Some tree then
            fitFree b.Ledger stop whole p limit tree |> Option.iter keep
            if Cost.largestIntermediate p tree > limit then passes tree

    /// Where `auto` fits greedy's trees under its ledger whatever it says (`fitGreedy`): networks of up to 32 tensors
    /// where fitting the free plan cost at most 100 ms of counted work. On the 11 networks of 16 to 30 tensors where
    /// `auto` was dearer than `greedy` (`cands limit count=150`) that fit cost 3 to 22 ms; since the slicers' work
    /// was counted at their CPU (session 21) it cost 43 ms on the last one (`cands limit count=1000`: 30 tensors at 6
    /// elements, 1.9e9 flops against greedy's 7.2e8), over the 40 ms this was. On the 16x16 lattice with D = 2
    /// greedy's fit cost 0.18 to 0.48 s for plans that contract in 20 to 60 ms.
    let greedyFitWithin = (32, 0.1)

    /// True when the slice-aware search's first trial fits what the ledger or its floors have left: on networks of up to
    /// `PlanSliceSearch.leanFloorUpTo` tensors its first part runs whole whatever the ledger says (the greedy tree
    /// reconfigured, then sliced by both scores), priced here at what fitting the free plan cost (`FitWork`, about the
    /// same work), as `refitRanked` prices a refit. (Started while any work was left, it overran the allowance by its
    /// whole cost: on the 4x4 lattice with D = 4 at 1/10 the fit left 2 of the 20 ms, the trial spent 11, and its plan
    /// was not the one chosen.) `auto` asks before the refits of the free search's other trees and after: a refit's
    /// cheaper plan lowers the floors' allowance, and on the 10x10 lattice with D = 3 at 1/100, once the slicers'
    /// candidates counted at their CPU (session 21) left room for that refit, its plan (2.7e9 executed flops) kept
    /// out the first trial whose plan is 1.5e9.
    let private floorTrialFits (b: Budgeted) = b.Ledger.Spent + b.FitWork <= max b.Ledger.Allowance b.Ledger.FloorsAllowance

    /// What hyper's first trial costs in `auto` under a wall-clock limit, in greedy runs: 20 (a sampled tree,
    /// reconfigured and scored: 14-18 ms on the 7x7 lattice with bonds of 2 in a fresh process, where a greedy run
    /// took 0.7 ms). Priced at three, it started with 2-7 ms of a 20 ms limit left and ended 10 ms past it.
    let hyperTrialRuns = 20.0

    /// What the exact search needs in `auto` under a wall-clock limit before it starts, in greedy runs: 4 (its bound's
    /// deterministic greedy runs and the first of its random ones). Given less, it ran past what it was given by its
    /// bound alone and found nothing.
    let exactStartRuns = 4.0

    /// What the 16 random-greedy trials of `auto` need under a wall-clock limit before they start, in greedy runs: 2
    /// (a randomised trial costs about a greedy run; the deterministic ones are greedy's run, made already).
    let randomTrialRuns = 2.0

    /// The share of what is left of a wall-clock limit after the exact search (less what follows the searches) that
    /// `auto`'s searches get: 75 %. At 85 % its plan of the 7x7 lattice with bonds of 2 at 100 ms ended 0-18 % past
    /// the limit in fresh processes, hyper 3-22 ms past what it was given.
    let searchLeftShare = 0.75

    /// `auto` with the name of the candidate it chose: a search whose budget follows the stakes and is the same on
    /// any machine and load (every phase counts its work in machine-independent units priced at rates measured on
    /// one core; nothing is timed). The deterministic greedy plan estimates the contraction time at stake (its
    /// flops at `stakesFlopsPerSecond`); a tenth of it, in seconds of counted work (`PlanOptimal.ExactWork`, at
    /// least 2.5 ms, at most 10 s), bounds the exact search, which is used whenever it finishes within that bound.
    /// Otherwise hyper runs trials while their counted work (`PlanHyper.Work`) stays below a tenth of the
    /// contraction time of the best tree found so far (`PlanHyper.Stakes`), so its budget shrinks as better trees
    /// turn up; at least 8 trials up to 500 tensors, at most 1024 and `capSeconds` of counted work. The plan is the
    /// best, by the objective, of hyper, greedy, bond-greedy (sweeps along chains and trees), greedy on the view
    /// with the batch indices at size 1, and where the stakes are small 16 random-greedy trials. The winner is
    /// polished by one pass of subtree reconfiguration over subtrees of 4 (cheap; it finds the sweep along a chain).
    ///
    /// Under a memory limit that slicing may meet, one ledger of counted work (`PlanHyper.Ledger`) covers the whole
    /// plan. The plan without the limit comes first (the search above, on the stakes of the free network), fitted
    /// to the limit by slicing interleaved with reconfiguration: on lattices it is the best plan or close to it,
    /// and it costs milliseconds. The free search's other trial trees are fitted the same way next (`refitRanked`),
    /// the cheapest kept. The best fitted plan's flops set the stakes; the searches under the limit (the slice-aware
    /// search (`PlanSliceSearch.searchWith`, whose first trial's cheaper slicing runs whatever the ledger says);
    /// the exact search with the limit as a hard constraint, on `exactShare` of what is left; hyper with trees
    /// scored by their sliced flops) get only what is left of a tenth of the best plan's contraction time (at
    /// least `ledgerFloorSeconds`), offered as each finds better. When nothing is left, the best plan so far is the
    /// answer. (Sized from greedy's plan instead, they spent 6-60 s on an 8x8 lattice at 2621 elements, for a plan
    /// that contracts in 0.42 s.) The phases that run past the ledger's allowance (hyper's floor of trials in the
    /// free search, the free plan's fitting by its second and third slicer, the refits within `refitFloorSeconds`,
    /// the slice-aware search's first trial) run only while the work spent in all stays below the contraction time
    /// of the best plan so far, or 20 ms of counted work (`floors`). Last, beyond 14 tensors, greedy's trees are
    /// fitted the same way (`fitGreedy`): whole where the floors have room, by the executed rule alone whatever the
    /// ledger on networks of up to 32 tensors where that is cheap (`greedyFitWithin`), so that `auto` is not dearer
    /// than `greedy` there either.
    ///
    /// A `TimeLimitMs` in the options is kept as an extra wall-clock stop, which makes the plan depend on the
    /// machine.
    /// `work` and `exactWork` receive the counted work of a search without a budget (a free search under a
    /// budget's ledger, or nothing of note); `trees` the trees of hyper's trials, best first (where hyper ran).
    let rec private autoIn (budget: Budgeted option) (freeFloor: (ContractionTree -> float -> float) option) (work: PlanHyper.Work) (exactWork: PlanOptimal.ExactWork) (trees: ResizeArray<ContractionTree>) (p: Indexed) (o: PlanOptions) : string * Found =
        let n = p.Inputs.Length
        let clock = Stopwatch.StartNew()
        let found t = { Tree = Some t; Notes = [] }
        let ledger = budget |> Option.map (fun b -> b.Ledger)
        let work, exactWork = match ledger with Some l -> l.Work, l.Exact | None -> work, exactWork
        let greedyRun = PlanGreedy.bestGreedy p o
        work.Greedy <- work.Greedy + float n
        let greedyMs = clock.Elapsed.TotalMilliseconds
        // Under a wall-clock limit: the phases the clock cut short and those it left out, in order (the TN0314 note).
        let cutShort, leftOut = ResizeArray<string>(), ResizeArray<string>()
        // Under a wall-clock limit, what follows the searches is priced in greedy runs (`greedyMs`, measured at this
        // moment's load): bond-greedy two to three, greedy at unit batch one, scoring the candidates about two, the
        // plan's figures (`runWith`) one.
        let reserve = 7.0 * greedyMs
        let remaining () = o.TimeLimitMs |> Option.map (fun ms -> float ms - clock.Elapsed.TotalMilliseconds)
        // A phase that costs about `runs` greedy runs is left out when the limit has no room left for it.
        let affords (runs: float) = remaining () |> Option.forall (fun r -> r - runs * greedyMs >= 2.0 * greedyMs)
        // True once `share` of a wall-clock limit has passed.
        let timeSpent (share: float) = o.TimeLimitMs |> Option.exists (fun ms -> float clock.ElapsedMilliseconds >= share * float ms)
        let result = resultLog2 p
        // The `greedy` optimizer's tree (bestGreedy's, or opt_einsum's greedy tree where strictly better): a
        // candidate without a memory limit, and the plan whenever it is strictly better than the one chosen.
        let greedyPlan =
            lazy
                // opt_einsum's tree costs about a greedy run, and comparing it two exact costings.
                work.Greedy <- work.Greedy + float n
                work.Steps <- work.Steps + 4.0 * float greedyRun.Tree.Steps.Length
                PlanGreedy.greedyTree p o greedyRun
        // Under a wall-clock limit without a memory limit, greedy's plan (opt_einsum's tree built and compared, about
        // ten greedy runs: 4-7 ms on the 7x7 lattice with bonds of 2 in a fresh process) is made first, so that what
        // the searches get is what is left after it, as `random-greedy` does (`PlanGreedy.noDearerWithin`). Made after
        // them, it ran past the limit.
        if o.TimeLimitMs.IsSome && o.MemoryLimit.IsNone && n > 2 && result < outOfReachLog2 then greedyPlan.Force() |> ignore
        // What greedy's plan took where it alone used up the limit without a memory limit (no search starts after it).
        let greedyOver =
            remaining () |> Option.filter (fun r -> r <= 0.0 && o.MemoryLimit.IsNone) |> Option.map (fun _ -> clock.Elapsed.TotalMilliseconds)
        let chosen =
            if n <= 2 then "greedy", found greedyRun.Tree
            elif result >= outOfReachLog2 then
                let bond = PlanSweep.bondGreedyTree p
                let why = sprintf "no search: the result alone has 2^%.0f elements, more than any machine holds" result
                if PlanHyper.scoreCounted work p o bond < PlanHyper.scoreCounted work p o greedyRun.Tree then sprintf "bond-greedy (%s)" why, found bond
                else sprintf "greedy (%s)" why, found greedyRun.Tree
            else
                let limit = o.MemoryLimit |> Option.map BigInteger
                // Under a limit: the plan without it, fitted, sets the stakes.
                let freeName =
                    match budget, limit with
                    | Some b, Some l ->
                        let ranked = ResizeArray()
                        // Its floor of hyper trials holds while their work is within the floors' allowance for an
                        // estimate of the sliced plan: the best tree's flops times the square root of the factor by
                        // which the limit cuts its largest intermediate (auto's plans of `stakes limits` at 1/100
                        // execute 3 to 290 times the free plan's flops, at 1/10 0.8 to 2.5; the factor itself kept all
                        // 8 trials on the 8x8 lattice with D = 4 and the 10x10 with D = 3 at 1/10, plans of 17 ms).
                        let freeFloor (t: ContractionTree) (log2Flops: float) =
                            let cut = log2Of (Cost.largestIntermediate p t) - log2Of l
                            b.Ledger.FloorsAllowanceAt(log2Flops + 0.5 * max 0.0 cut)
                        // Under a wall-clock limit it gets half of it: fitting it and the searches under the limit follow.
                        let freeOptions = { o with MemoryLimit = None; TimeLimitMs = o.TimeLimitMs |> Option.map (fun ms -> ms / 2) }
                        let name, free = autoIn None (Some freeFloor) b.Ledger.Work b.Ledger.Exact ranked p freeOptions
                        b.Trees <- ranked.ToArray()
                        let free = free.Tree |> Option.filter (fun t -> (ContractionTree.validate t).IsOk) |> Option.map (PlanReduce.leaves p o.Objective (Some l))
                        b.Free <- free
                        let before = b.Ledger.Spent
                        b.Fitted <- free |> Option.bind (fitFree b.Ledger (fun () -> timeSpent fitUntil) false p l)
                        b.FitWork <- b.Ledger.Spent - before
                        b.Fitted |> Option.iter (fun (f, _, _) -> b.Ledger.Offer(log2Of f))
                        name
                    | _ -> ""
                // Greedy's plan under the limit, where it fits.
                match ledger, o.MemoryLimit with
                | Some l, Some m when greedyRun.Largest <= Math.Log2(float m) -> l.Offer greedyRun.Flops
                | Some l, None -> l.Offer greedyRun.Flops
                | _ -> ()
                // Whether the slice-aware search's first trial fits what the ledger or its floors have left, judged
                // before the refits below too (`floorTrialFits`).
                let trialFitsBeforeRefits = match budget with Some b -> floorTrialFits b | None -> false
                // Under a budget: the free search's other trial trees, fitted as the free plan was, while the ledger
                // has work left or within the refit floor (see `refitRanked`).
                match budget, limit with
                | Some b, Some l when n <= reconfigureUpTo ->
                    refitRanked (fun () -> timeSpent fitUntil) b p l
                | _ -> ()
                // Under a budget, where the free plan needed slicing: the slice-aware search, lean, its first trial's
                // cheaper slicing past the ledger's allowance when it fits what the ledger or its floors have left (up to
                // `PlanSliceSearch.leanFloorUpTo` tensors, `floorTrialFits`), the rest while work is left. It
                // comes before the exact search under the limit, which on a network that must be sliced searches in
                // vain (the limit is a hard constraint there), and before hyper's trials scored by their sliced flops:
                // per unit of counted work it found the cheaper plans on every row of `stakes limits`.
                match budget, limit with
                | Some b, Some l when n <= reconfigureUpTo && (if n <= PlanSliceSearch.leanFloorUpTo then trialFitsBeforeRefits || floorTrialFits b else not b.Ledger.Exhausted) && (match b.Fitted with Some (_, _, Some _) | None -> true | _ -> false) ->
                    b.Searched <-
                        PlanSliceSearch.searchWith true b.Ledger.Work (fun () -> timeSpent fitUntil || b.Ledger.Exhausted) p o l (defaultArg (sliceSearchTrials "auto" o) 2)
                        |> Option.map (fun (t, ix) ->
                            // Pruned as the fit's sets are (see `fitFree`).
                            b.Ledger.Work.Steps <- b.Ledger.Work.Steps + float t.Steps.Length * float ix.Length
                            let ix = PlanSlice.prune p l t ix
                            let s = PlanSliceSearch.figuresCounted b.Ledger.Work p t ix
                            s.Flops, t, (if ix.Length = 0 then None else Some s))
                    b.Searched |> Option.iter (fun (f, _, _) -> b.Ledger.Offer(log2Of f))
                | _ -> ()
                // Under a budget, where the free plan needed slicing, beyond `PlanOptimal.exhaustiveUpTo` tensors (up to it
                // `noDearerUnderLimit` asks for greedy's whole plan): greedy's trees, fitted (`fitGreedy`). Whole where the
                // floors have room for twice what fitting the free plan cost (greedy's tree, chosen with less care, took
                // up to twice as long to fit on the 16x16 lattice); else by its executed rule alone where that is cheap
                // (`greedyFitWithin`). After the searches above: a cheaper plan found here lowers the stakes, and found
                // first it left the slice-aware search no room on the 10x10 lattice with D = 3 at 1/100, whose plan
                // went from 1.5e9 to greedy's 2.2e9 executed flops.
                match budget, limit with
                | Some b, Some l when n > PlanOptimal.exhaustiveUpTo && n <= reconfigureUpTo
                                      && (match b.Fitted with Some (_, _, Some _) | None -> true | _ -> false) ->
                    let roomy = b.Ledger.Spent + 2.0 * b.FitWork <= b.Ledger.FloorsAllowance
                    // Under a wall-clock limit, not once `fitUntil` of it has passed: it costs what fitting the free plan did.
                    if (roomy || (n <= fst greedyFitWithin && b.FitWork <= snd greedyFitWithin)) && not (timeSpent fitUntil) then
                        fitGreedy b (fun () -> timeSpent fitUntil) roomy p o l (greedyPlan.Force())
                | _ -> ()
                let stakesFlops = match ledger with Some l -> l.BestLog2 | None -> greedyRun.Flops
                let seconds = Math.Pow(2.0, stakesFlops) / stakesFlopsPerSecond * searchShare
                let exactBound =
                    match ledger with
                    | Some l -> Math.Clamp(exactShare * l.Left, fst exactSeconds, snd exactSeconds)
                    | None -> Math.Clamp(seconds, fst exactSeconds, snd exactSeconds)
                let thisExact = PlanOptimal.ExactWork()
                let exact =
                    // Under a ledger that is spent, only a part small enough to be searched over every tree is.
                    if n > PlanOptimal.maxTensors || (ledger |> Option.exists (fun l -> l.Exhausted) && n > PlanOptimal.exhaustiveUpTo) then None
                    else
                        // Under a wall-clock limit the exact search gets half of what is left less what follows the
                        // searches (`reserve`); what it leaves goes to the rest. It starts only with room for its bound's
                        // first greedy runs (`exactStartRuns`); cut short, it gives nothing.
                        let half = remaining () |> Option.map (fun r -> (r - reserve) / 2.0)
                        if half |> Option.exists (fun h -> h < exactStartRuns * greedyMs) then
                            leftOut.Add "the exact search"
                            None
                        else
                        match PlanHyper.exactWithin thisExact exactBound p { o with TimeLimitMs = half |> Option.map int } with
                        | Ok (Some t) -> Some t
                        | Result.Error (PlanOptimal.RanPast _) ->
                            cutShort.Add "the exact search"
                            None
                        | _ -> None
                exactWork.Add thisExact
                // Under a budget already spent by the plan without the limit (beyond what exact search covers whole),
                // that plan, fitted, is the answer: the searches under the limit could not pay for themselves.
                match budget with
                | Some b when b.Ledger.Exhausted && exact.IsNone && (b.Fitted.IsSome || b.Searched.IsSome) ->
                    match b.Fitted, b.Searched with
                    | Some (ff, _, _), Some (fs, t, _) when fs < ff -> "slice-aware search", found t
                    | None, Some (_, t, _) -> "slice-aware search", found t
                    | _ ->
                        let _, t, s = b.Fitted.Value
                        // A fit that slices nothing (a tree reconfigured, or greedy's under the limit) is not called sliced.
                        let how = if s.IsSome then "without the limit, sliced" else "fitted to the limit unsliced"
                        if b.FittedGreedy then sprintf "greedy %s" how, found t
                        elif b.FittedRank > 0 then sprintf "%s (its tree %d of %d) %s" freeName b.FittedRank b.Trees.Length how, found t
                        else sprintf "%s %s" freeName how, found t
                | _ ->
                    match exact with
                    | Some t when budget.IsNone || o.MemoryLimit.IsNone ->
                        sprintf "optimal (exact within %.3g s of counted work)" exactBound, found t
                    | _ ->
                        // Under a wall-clock limit the searches get `searchLeftShare` of what is left less `reserve`.
                        let left () = remaining () |> Option.map (fun r -> max 1 (int (searchLeftShare * (r - reserve))))
                        // A search given `given` ms that ran `share` of it was stopped by the clock (hyper stops starting
                        // trials at three quarters of its limit, random-greedy one or two mean trials before it).
                        let timed (given: int option) (share: float) (search: unit -> 'a) =
                            let started = clock.Elapsed.TotalMilliseconds
                            let r = search ()
                            given |> Option.exists (fun ms -> clock.Elapsed.TotalMilliseconds - started >= share * float ms), r
                        let candidates =
                            [ match exact with
                              | Some t -> yield sprintf "optimal (exact within %.3g s of counted work)" exactBound, t
                              | None -> ()
                              if seconds < smallStakesSeconds && budget.IsNone then
                                  match o.TimeLimitMs with
                                  | None -> yield "random-greedy (16 trials)", (PlanGreedy.randomGreedyRun p { o with Trials = 16 }).Tree
                                  // Under a wall-clock limit its deterministic trials are greedy's run, made already.
                                  | Some _ when affords randomTrialRuns ->
                                      let given = left () |> Option.map (fun ms -> max 1 (ms / 4))
                                      let cut, run = timed given 0.75 (fun () -> PlanGreedy.randomGreedyRunFrom greedyRun p { o with Trials = 16; TimeLimitMs = given })
                                      if cut then cutShort.Add "random-greedy"
                                      yield "random-greedy (16 trials)", run.Tree
                                  | Some _ -> leftOut.Add "random-greedy"
                              // Hyper's first trial runs whatever its limit: it starts only where the limit has room for it.
                              match ledger with
                              | Some l when affords hyperTrialRuns && not l.Exhausted ->
                                  let given = left ()
                                  let cut, searched = timed given 0.75 (fun () -> PlanHyper.searchIn l 2 0.0 p { o with Trials = snd hyperTrials; TimeLimitMs = given })
                                  if cut then cutShort.Add "hyper"
                                  yield hyperChoice searched.Trials, searched.Tree
                              | Some l when l.Exhausted -> ()
                              | None when not (affords hyperTrialRuns) -> leftOut.Add "hyper"
                              | Some _ -> leftOut.Add "hyper"
                              | None ->
                                  let given = left ()
                                  let trialsOf = { o with Trials = snd hyperTrials; TimeLimitMs = given }
                                  let cut, searched =
                                      timed given 0.75 (fun () ->
                                          match freeFloor with
                                          | Some floor -> PlanHyper.searchFloored (stakesRule n) floor p trialsOf
                                          | None -> PlanHyper.searchWith (Some(stakesRule n)) p trialsOf)
                                  if cut then cutShort.Add "hyper"
                                  work.Add searched.Work
                                  trees.AddRange searched.Ranked
                                  yield hyperChoice searched.Trials, searched.Tree
                              yield "greedy", (if o.MemoryLimit.IsNone then greedyPlan.Force() else greedyRun.Tree)
                              if affords 3.0 then yield "bond-greedy", PlanSweep.bondGreedyTree p
                              else leftOut.Add "bond-greedy"
                              match unitBatch p with
                              | Some unit when affords 1.0 -> yield "greedy@unit-batch", (PlanGreedy.bestGreedy unit o).Tree
                              | Some _ -> leftOut.Add "greedy at unit batch"
                              | None -> () ]
                            |> List.map (fun (name, t) -> name, t, PlanHyper.scoreCounted work p o t)
                        // The first of equally good candidates wins.
                        let name, best, bestScore =
                            candidates |> List.reduce (fun (_, _, sa as a) (_, _, sb as b) -> if sb < sa then b else a)
                        ledger |> Option.iter (fun l -> let struct (a, _) = bestScore in if o.Objective = Flops then l.Offer a)
                        // One pass of subtree reconfiguration over subtrees of 4 (cheap, and it finds the expert's sweep
                        // along a chain: the environment meets each input before its weight).
                        // Under a wall-clock limit it runs only with room for a pass's set-up and check (about four greedy
                        // runs) and the plan's figures, and stops rewriting with that much left.
                        if not (affords 4.0) then
                            leftOut.Add "the polish"
                            name, found best
                        else
                            let spent () = remaining () |> Option.exists (fun r -> r <= 2.0 * greedyMs)
                            let polished = PlanHyper.reconfigureCounted work spent o.MemoryLimit p o.Objective 4 1 best
                            if PlanHyper.scoreCounted work p o polished < bestScore then name + "+reconfigure", found polished
                            else name, found best
        // Never dearer than `greedy` (after the single-operand reductions, which the candidates above are scored
        // without): the greedy optimizer's tree where it is strictly better. Under a memory limit the plan is the
        // fitted one, scored by its sliced flops, and stands.
        let name, plan =
            match chosen with
            | _, { Tree = Some t } when o.MemoryLimit.IsNone && (ContractionTree.validate t).IsOk ->
                let g = greedyPlan.Force()
                work.Steps <- work.Steps + 2.0 * float t.Steps.Length
                if not (obj.ReferenceEquals(g, t)) && PlanGreedy.standing p o g < PlanGreedy.standing p o t then
                    // The reason no search ran, where none did, stays in the name.
                    let name = fst chosen
                    "greedy" + (match name.IndexOf " (no search" with -1 -> "" | i -> name.Substring i), found g
                else chosen
            | _ -> chosen
        // Under a wall-clock limit, what the clock ended (`timeCut`).
        let listed (xs: string seq) =
            match List.ofSeq xs with
            | [] -> ""
            | [ x ] -> x
            | xs -> String.Join(", ", List.take (xs.Length - 1) xs) + " and " + List.last xs
        let cut =
            match o.TimeLimitMs, greedyOver with
            // (Formatted without `sprintf`, whose first use at a call site took 3-5 ms within the limit.)
            | Some ms, Some took ->
                [ String.Format(Globalization.CultureInfo.InvariantCulture, "greedy's plan alone took {0:F1} ms, past the time limit of {1} ms: no search ran", took, ms) ]
            | Some ms, None when cutShort.Count > 0 || leftOut.Count > 0 ->
                let parts =
                    [ if cutShort.Count > 0 then "cut short " + listed cutShort
                      if leftOut.Count > 0 then "left out " + listed leftOut ]
                [ String.Format("the time limit of {0} ms {1}: the plan is the best found by then", ms, String.Join(" and ", parts)) ]
            | _ -> []
        name, { plan with Notes = plan.Notes @ (cut |> List.map (Diagnostic.make timeCut Range.none)) }

    /// The elements of the result (exact).
    let private resultSize (p: Indexed) = p.Output |> Array.fold (fun acc i -> acc * BigInteger(p.Size[i])) BigInteger.One

    /// True when the result alone is over the memory limit: no plan can meet it (open indices are not sliced), so
    /// none is searched for under it.
    let private resultOverLimit (p: Indexed) (o: PlanOptions) =
        o.MemoryLimit |> Option.exists (fun l -> resultSize p > BigInteger l)

    /// A fresh budget for `auto` under a memory limit that slicing may meet (None otherwise), its floors following
    /// `floors` (None: the floors run whatever the stakes).
    let private budgetWith (floors: PlanHyper.Floors option) (p: Indexed) (o: PlanOptions) : Budgeted option =
        match o.MemoryLimit with
        | Some _ when o.Slice && not (resultOverLimit p o) -> Some { Ledger = PlanHyper.Ledger(stakesRule p.Inputs.Length, ledgerFloorSeconds, floors); Free = None; Fitted = None; Searched = None; Trees = [||]; FitWork = 0.0; FittedRank = 0; FittedGreedy = false }
        | _ -> None

    /// A fresh budget for `auto` (see `budgetWith`), its floors following `floors`.
    let private budgetFor (p: Indexed) (o: PlanOptions) : Budgeted option = budgetWith (Some floors) p o

    /// `auto` with the name of the candidate it chose (see `autoIn`).
    let autoChoose (p: Indexed) (o: PlanOptions) : string * Found = autoIn (budgetFor p o) None (PlanHyper.Work()) (PlanOptimal.ExactWork()) (ResizeArray()) p o

    /// `auto`: see `autoChoose`.
    let auto: Optimizer = fun p o -> snd (autoChoose p o)

    /// Every optimizer by name, with a one-line description.
    let registry: (string * string * Optimizer) list =
        [ "auto", "exact search or hyper, with a deterministic work budget that follows the contraction's cost", auto
          "optimal", "exact minimum by dynamic programming over subnetworks", PlanHyper.optimal
          "greedy", "cheapest pair first (memory-removed heuristic)", PlanGreedy.greedy
          "random-greedy", "best of seeded Boltzmann-sampled greedy runs, in parallel", PlanGreedy.randomGreedy
          "partition", "recursive min-cut bisection, greedy inside small pieces", PlanPartition.partition
          "bond-greedy", "smallest result first among pairs joined by a bond (sweeps chains and trees)", PlanSweep.bondGreedy
          "hyper", "hyper-optimised: sampled greedy and partition settings, best trees polished by subtree reconfiguration", PlanHyper.hyper ]

    /// The registered names.
    let names = registry |> List.map (fun (n, _, _) -> n)

    /// The optimizers that take `PlanOptions.Trials`: random-greedy and hyper, and optimal where it falls back to
    /// random-greedy (beyond the exact search's reach or its time). `auto` sizes its own trials; the others run none.
    let trialsUsedBy = [ "random-greedy"; "hyper"; "optimal" ]

    /// The optimizers whose plan `PlanOptions.Seed` can change: the randomised ones, and optimal through its
    /// random-greedy bound and fallback. `greedy` and `bond-greedy` are deterministic (their slicing too).
    let seedUsedBy = [ "random-greedy"; "partition"; "hyper"; "auto"; "optimal" ]

    /// The registered name that `name` spells in any case (`Greedy`, `RANDOM-GREEDY`), surrounding spaces ignored:
    /// the one lookup of an optimizer by name, for the command line (`--optimizer`) and the API alike.
    let canonicalName (name: string) : string option =
        let name = if isNull name then "" else name.Trim()
        names |> List.tryFind (fun n -> String.Equals(n, name, StringComparison.OrdinalIgnoreCase))

    /// The optimizer of a name in any case (`canonicalName`), or a TN0300 diagnostic listing the valid names, its
    /// hint naming the optimizer setting as `words` do.
    let tryFindWith (words: PlanWords) (name: string) : Result<Optimizer, Diagnostic> =
        match canonicalName name |> Option.bind (fun c -> registry |> List.tryFind (fun (n, _, _) -> n = c)) with
        | Some (_, _, f) -> Ok f
        | None ->
            Diagnostic.make PlanDiagnostics.unknownOptimizer Range.none
                (sprintf "unknown optimizer '%s'; valid optimizers: %s" name (String.Join(", ", names)))
            |> Diagnostic.withHint (PlanWords.naming "choose one of them" words.Optimizer)
            |> Result.Error

    /// `tryFindWith` naming no setting.
    let tryFind (name: string) : Result<Optimizer, Diagnostic> = tryFindWith PlanWords.neutral name

    let private limitDiagnostics (p: Indexed) (o: PlanOptions) (tree: ContractionTree option) (largest: BigInteger option) =
        match o.MemoryLimit with
        | None -> []
        | Some limit ->
            let outSize = resultSize p
            let failWith hint msg = [ Diagnostic.make PlanDiagnostics.memoryLimit Range.none msg |> Diagnostic.withHint hint ]
            let raiseLimit = PlanWords.naming "raise the memory limit" o.Words.MemoryLimit
            let fail = failWith (raiseLimit + ", or try another optimizer")
            if outSize > BigInteger(limit) then
                // No optimizer can help: open indices are not sliced.
                failWith (sprintf "%s to at least %O: open indices are not sliced, so no plan keeps the result smaller" raiseLimit outSize)
                    (sprintf "the result alone has %O elements, over the memory limit of %d" outSize limit)
            else
                match tree, largest with
                | None, _ -> fail (sprintf "no contraction order keeps every intermediate within %d elements" limit)
                | Some _, Some l when l > BigInteger(limit) ->
                    fail (sprintf "the best order found, sliced where possible, has an intermediate of %O elements, over the memory limit of %d"
                              l limit)
                | _ -> []

    /// True when a tree is that of the budget's fitted or slice-aware plan, whose slicing is known.
    let private knownSlicing (b: Budgeted) (t: ContractionTree) =
        [ b.Fitted; b.Searched ] |> List.exists (function Some (_, u, _) -> u = t | None -> false)

    /// The cheapest way found to meet the memory limit: the optimizer's tree under the limit as is, or sliced,
    /// or the tree it finds without the limit, sliced. Returns the tree and its slicing (None when unsliced).
    /// Under `auto`'s budget, the tree found without the limit, its fitting and the slice-aware search's plan come
    /// from the budget (found by `auto` within its ledger), and the greedy slicer's passes are counted in it (eight
    /// while it has work left, one after; none on the tree of the budget's fitted or slice-aware plan once the
    /// ledger and its floors are spent: its set is known, pruned on that tree, and a fresh pass cost as much as the
    /// fit's own slicer, 40-140 ms of CPU on the 12x12 and 16x16 lattices, for plans the same or 1.5 % cheaper).
    /// Without a budget, the slicers' work is counted in `work`. Under a wall-clock limit (`deadline`), the search
    /// without the limit gets a third of what is left; once `until` of the limit has passed, no slicer starts but the
    /// one that gives the first plan, and the slicers running stop refining (the greedy slicer's passes after its
    /// first, reconfiguration between rounds). On a 16x16 lattice at 1/16 of its largest intermediate each slicer
    /// costs tens of milliseconds whatever it is told; all of them ran 3x past a limit of 100 ms.
    let private fitLimit (deadline: Deadline) (until: float) (budget: Budgeted option) (work: PlanHyper.Work) (sliceSearch: (int * (unit -> bool)) option) (optimizer: Optimizer) (p: Indexed) (o: PlanOptions) (limited: ContractionTree option) =
        match o.MemoryLimit with
        | None -> limited, None
        | Some l ->
            let limit = BigInteger l
            let stop () = deadline.Reached until
            // Too late to start a slicer that is not needed for a first plan (the moment `stop` says so; named apart
            // because the slice-aware search's own `stop` shadows it below).
            let late () = stop ()
            let option (t: ContractionTree) =
                let c = Cost.report p t
                if c.LargestIntermediate <= limit then Some(c.Flops, t, None)
                elif not o.Slice then None
                else
                    (match budget with
                     | Some b when b.Ledger.Exhausted && not b.Ledger.FloorsAllow && knownSlicing b t -> None
                     | _ ->
                         // The greedy slicer's eight passes, counted in the ledger where there is one (one pass where
                         // it has no work left), else in `work` and on several cores where the plan may use them.
                         let counted, repeats, inParallel =
                             match budget with
                             | Some b -> b.Ledger.Work, (if b.Ledger.Exhausted then 1 else 8), false
                             | None -> work, 8, o.Parallel
                         let costings = ref 0.0
                         let orders = ref 0.0
                         let found = PlanSlice.findStoppingWith stop inParallel costings orders repeats p t limit
                         counted.Steps <- counted.Steps + float t.Steps.Length * (costings.Value + 2.0)
                         counted.Orders <- counted.Orders + orders.Value
                         if budget.IsSome then
                             found |> Option.iter (fun ix -> PlanSliceSearch.countOrder counted t ix.Length)
                         found)
                    |> Option.map (fun ix -> let s = PlanSlice.figures p t ix in s.Flops, t, Some s)
            let free =
                match budget with
                | Some b -> b.Free
                | None ->
                if o.Slice then
                    (optimizer p { deadline.Options(o, 1.0 / 3.0, 0.0) with MemoryLimit = None }).Tree
                    |> Option.filter (fun t -> (ContractionTree.validate t).IsOk)
                    |> Option.map (PlanReduce.leaves p o.Objective (Some limit))
                else None
            // The unlimited tree also gets slicing interleaved with reconfiguration, which adapts the tree to
            // what is sliced (bounded to networks where reconfiguring the whole tree a few times is cheap).
            let reconfigured =
                match budget, free with
                | Some b, _ -> b.Fitted
                | None, Some t when p.Inputs.Length <= reconfigureUpTo && not (late ()) ->
                    PlanSliceSearch.sliceReconfigureCounted work stop p limit false 1 t
                    |> Option.map (fun (t, ix) -> let s = PlanSlice.figures p t ix in s.Flops, t, (if ix.Length = 0 then None else Some s))
                | _ -> None
            // The searching optimizers also get a slice-aware search, trees scored by their sliced flops.
            let searched =
                match sliceSearch, free with
                | Some (trials, stop), Some t when p.Inputs.Length <= reconfigureUpTo && Cost.largestIntermediate p t > limit ->
                    match budget with
                    | Some b -> b.Searched
                    | None when late () -> None
                    | None ->
                        PlanSliceSearch.search stop p o limit trials
                        |> Option.map (fun (t, ix) -> let s = PlanSlice.figures p t ix in s.Flops, t, (if ix.Length = 0 then None else Some s))
                | Some _, _ when budget.IsSome -> budget.Value.Searched
                | _ -> None
            // Hyper (no budget) also gets a plan for a sliced set seeded from its free tree's top cuts
            // (`PlanSliceSearch.seededCounted`), one more candidate.
            let seeded =
                match sliceSearch, free, budget with
                | Some (_, stop), Some t, None when p.Inputs.Length <= reconfigureUpTo && Cost.largestIntermediate p t > limit && not (late ()) ->
                    PlanSliceSearch.seededCounted (PlanHyper.Work()) stop p o.Seed limit t
                    |> Option.map (fun (_, t, ix) -> let s = PlanSlice.figures p t ix in s.Flops, t, (if ix.Length = 0 then None else Some s))
                | _ -> None
            // Under a spent budget the free tree is not sliced again by the greedy slicer (its fitting is known).
            let free = match budget with Some b when b.Ledger.Exhausted -> None | _ -> free
            // Without a budget, a free tree that is the limited one (greedy's, often) is sliced once: the same plan,
            // half the slicer's time. (Under a budget both are counted in the ledger, as its figures were recorded.)
            let trees = [ limited; free ] |> List.choose id |> (if budget.IsNone then List.distinct else id)
            let found = Option.toList reconfigured @ Option.toList searched @ Option.toList seeded
            // Each tree sliced in turn; once late, only while no plan is found.
            let sliced = trees |> List.fold (fun acc t -> if late () && not (List.isEmpty acc && List.isEmpty found) then acc else acc @ Option.toList (option t)) []
            match sliced @ found with
            | [] -> limited, None
            | xs ->
                let _, t, s = xs |> List.minBy (fun (f, _, s) -> f, (match s with Some s -> s.Indices.Length | None -> 0))
                // A set chosen for one tree and kept while the tree was polished can hold indices the final tree
                // does not need (partition's plan of the 5x5 lattice with bonds of 2 at 64 elements sliced v[2, 2]
                // of a tree whose largest intermediate was 64: the same flops, a larger sliced peak). They are
                // unsliced (`PlanSlice.prune`, never more executed flops), and with none left the plan is unsliced.
                match s with
                | Some s ->
                    match PlanSlice.prune p limit t s.Indices with
                    | [||] -> Some t, None
                    | kept when kept.Length < s.Indices.Length -> Some t, Some(PlanSlice.figures p t kept)
                    | _ -> Some t, Some s
                | None -> Some t, None

    /// The searching optimizers that are never dearer than `greedy`, with or without a memory limit. `optimal` is
    /// exact without a limit; under one its tree (the limit a hard constraint, or its free tree sliced) can execute
    /// far more than greedy's sliced plan: 1.155e9 flops against 2.398e6 on a ring of 11 tensors with bonds of 7 at 4
    /// elements (session 21's probe).
    let private searching = set [ "auto"; "hyper"; "random-greedy"; "optimal" ]

    /// Under a memory limit, the plan of `auto`, `hyper` or `random-greedy` fitted to it (`fitLimit`: a tree and its
    /// slicing), or `greedy`'s plan under the same limit (what `run "greedy"` gives: its tree, reduced and fitted)
    /// where that fits and the search's plan does not, or where it fits with strictly fewer executed flops: never
    /// dearer than `greedy` and never refusing where it fits (before, `auto` under a limit was dearer on 43 of 124
    /// random connected networks at 1/10 of their largest intermediate, up to 11.7x: bench `cands limit`). Its work
    /// (two greedy runs, the reductions and the slicers) is counted in `work`. True when greedy's plan was taken.
    /// `auto` under its ledger asks on networks of up to `PlanOptimal.exhaustiveUpTo` tensors only: greedy's plan
    /// under a limit costs 0.07 s of counted work on the 4x4 lattice with D = 4 at 25 elements, 8 s on the 12x12 with
    /// D = 2 at 81, several times auto's whole plan, which there contracts in microseconds or is 7x cheaper than
    /// greedy's; asked while the ledger's floors allowed, it overran them (8x8 D = 4 at 1/100: 0.6 -> 3.3 s of counted
    /// work for the same plan). On larger networks `auto` fits greedy's trees instead (`fitGreedy`, where cheap or
    /// where the floors have room), which covers greedy's plan most often but not always (not its sixteen slicer
    /// passes): there `auto` under a limit can still be dearer than `greedy`.
    let private noDearerUnderLimit (deadline: Deadline) (work: PlanHyper.Work) (p: Indexed) (o: PlanOptions) (tree: ContractionTree option, slicing: Slicing option) =
        match o.MemoryLimit with
        | None -> (tree, slicing), false
        | Some l ->
            let limit = BigInteger l
            // Executed flops where the plan fits the limit.
            let fitting (t: ContractionTree option, s: Slicing option) =
                match t, s with
                | Some _, Some s -> if s.LargestIntermediate <= limit then Some s.Flops else None
                | Some t, None -> let c = Cost.report p t in if c.LargestIntermediate <= limit then Some c.Flops else None
                | None, _ -> None
            // Under a wall-clock limit past `fitUntil`, a plan that fits stands: greedy's plan costs what the search's
            // fitting did (a greedy run, opt_einsum's tree, the slicers on two trees).
            if deadline.Reached fitUntil && (fitting (tree, slicing)).IsSome then (tree, slicing), false
            else
            // `greedy` runs under the limit and, in `fitLimit`, without it: each a greedy run and opt_einsum's tree.
            work.Greedy <- work.Greedy + 4.0 * float p.Inputs.Length
            let g = PlanReduce.leaves p o.Objective (Some limit) (PlanGreedy.greedyTree p o (PlanGreedy.bestGreedy p o))
            work.Steps <- work.Steps + 4.0 * float g.Steps.Length
            let greedyPlan = fitLimit deadline 0.9 None work None PlanGreedy.greedy p o (Some g)
            match fitting (tree, slicing), fitting greedyPlan with
            | None, Some _ -> greedyPlan, true
            | Some f, Some fg when fg < f -> greedyPlan, true
            | _ -> (tree, slicing), false

    /// `runWith` under `auto`'s budget, when there is one (shared by the search and `fitLimit`).
    let private runBudgeted (budget: Budgeted option) (name: string) (choose: Indexed -> PlanOptions -> string * Found) (o: PlanOptions) (p: Indexed) : PlanResult =
        // A result over the limit is refused (TN0301) with the plan made without the limit: searching and slicing
        // under it cannot meet it, and cost up to 15 times the free plan's search (a 30-tensor PEPS norm at 1 element).
        let refused = if resultOverLimit p o then limitDiagnostics p o None None else []
        let o = if refused.IsEmpty then o else { o with MemoryLimit = None }
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
        // The wall-clock limit counts from here: the search, fitting its tree to a memory limit and the plan's figures.
        let deadline = Deadline o.TimeLimitMs
        let attempt f =
            try
                Ok(f ())
            with
            | :? OutOfMemoryException -> reraise ()
            | e -> Result.Error e
        let failed (e: exn) =
            empty name [ Diagnostic.make optimizerFailed Range.none (sprintf "optimizer '%s' failed: %s" name e.Message)
                         |> Diagnostic.withHint ("this is a bug in the planner; meanwhile, " + PlanWords.naming "try another optimizer" o.Words.Optimizer) ]
        // Under a memory limit that slicing may meet (outside `auto`'s budget), the search under the limit gets a
        // quarter of the time, the search without it a third of what is left (`fitLimit`), the slicers (the
        // slice-aware search too) and greedy's plan (`noDearerUnderLimit`) start up to `fitUntil` of the limit:
        // both searches took a whole limit before and the slicers ran after, 4-10x past it in all (16x16 lattice).
        let fitting = o.MemoryLimit.IsSome && o.Slice && budget.IsNone
        match attempt (fun () -> choose p (if fitting then deadline.Options(o, 0.25, 0.0) else o)) with
        | Result.Error e -> failed e
        | Ok (chosen, found) ->
            let notesOf chosen =
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
                empty chosen (notesOf chosen @ [ Diagnostic.make invalidTree Range.none (sprintf "%s: %s" chosen why) ])
            | _ ->
                let sliceSearch =
                    sliceSearchTrials name o
                    |> Option.map (fun trials -> trials, fun () -> deadline.Reached fitUntil)
                let fitted () =
                    let plan = fitLimit deadline fitUntil budget (PlanHyper.Work()) sliceSearch (fun p o -> snd (choose p o)) p o tree
                    match budget with
                    | _ when not (searching.Contains name) -> plan, false
                    | Some _ when p.Inputs.Length > PlanOptimal.exhaustiveUpTo -> plan, false
                    | Some b -> noDearerUnderLimit deadline b.Ledger.Work p o plan
                    | None -> noDearerUnderLimit deadline (PlanHyper.Work()) p o plan
                match attempt fitted with
                | Result.Error e -> failed e
                | Ok ((tree, slicing), tookGreedy) ->
                let chosen = if tookGreedy && name = "auto" then "greedy" else chosen
                let notes = notesOf chosen
                let ms = deadline.ElapsedMs
                // Past a wall-clock limit, by however little: the search time against it (`timeOverrun`).
                let overrun =
                    match o.TimeLimitMs with
                    | Some limit when ms > float limit ->
                        [ Diagnostic.make PlanDiagnostics.timeOverrun Range.none
                              (String.Format(Globalization.CultureInfo.InvariantCulture, "the search took {0:F1} ms, past the time limit of {1} ms ({2:F2}x)", ms, limit, ms / float (max limit 1))) ]
                    | _ -> []
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
                  Diagnostics = notes @ overrun @ limitDiagnostics p o tree largest @ refused }

    /// Plans a checked problem with an optimizer under a name (a registered one, or a user-given path): times the
    /// search, derives every figure from the tree, and reports an invalid tree, an optimizer that throws (TN0313,
    /// never a silent fallback) or an unmet memory limit as diagnostics. `choose` returns the tree and the name of
    /// what actually made it.
    let runWith (name: string) (choose: Indexed -> PlanOptions -> string * Found) (o: PlanOptions) (p: Indexed) : PlanResult =
        runBudgeted None name choose o p

    /// The optimizers (with the memory limit's presence) that have planned once in this process (see `warmUp`).
    let private warmed = System.Collections.Concurrent.ConcurrentDictionary<struct (string * bool), unit>()

    /// The closed side x side lattice with bonds of 2.
    let private lattice (side: int) =
        let bond a b = sprintf "b%d_%d" (min a b) (max a b)
        let inputs =
            [| for r in 0 .. side - 1 do
                   for c in 0 .. side - 1 do
                       let s = r * side + c
                       yield [| if r > 0 then bond s (s - side)
                                if r < side - 1 then bond s (s + side)
                                if c > 0 then bond s (s - 1)
                                if c < side - 1 then bond s (s + 1) |] |]
        let sizes = inputs |> Array.concat |> Array.distinct |> Array.map (fun i -> i, 2L) |> Map.ofArray
        Problem.create None inputs sizes [||] |> Problem.index Range.none

    /// The lattices of the warm-up (`warmUp`): 4 x 4 (16 tensors, past the exact search's exhaustive size: `optimal`
    /// takes its pruned search, which finishes there in milliseconds) and 5 x 5 (25 tensors: given no time,
    /// `optimal` falls back to random-greedy).
    let private warmLattices = lazy (lattice 4, lattice 5)

    /// One plan with a registered optimizer (`run` without the warm-up).
    let private planWith (name: string) (optimizer: Optimizer) (o: PlanOptions) (p: Indexed) =
        if name = "auto" then
            // One budget for the whole plan: the search and the fitting to a memory limit.
            let budget = budgetFor p o
            runBudgeted budget name (autoIn budget None (PlanHyper.Work()) (PlanOptimal.ExactWork()) (ResizeArray())) o p
        else runBudgeted None name (fun p o -> name, optimizer p o) o p

    /// Before the first plan under a wall-clock limit with an optimizer in this process, so that the runtime
    /// compiles the planner's code outside the limit: the whole plan (search, fitting, figures) twice on small
    /// lattices, 4 trials at most. First on the 4 x 4 lattice without a time limit or a memory limit, so that every
    /// phase of the search runs its course (the exact search's bound with its random-greedy runs and polish, the
    /// trials past the deterministic ones); then on the 5 x 5 lattice with no time to spend, under a memory limit it
    /// must slice to meet (8 elements) where the plan has one, so that the fallbacks, the fitting and the slicers
    /// given no time run. In a fresh process compiling alone took 200-280 ms (`tn plan examples/grid.tn --set L=7
    /// --optimizer optimal --time-limit 20` searched 217 ms, at 100 ms 271 ms; a second plan in the same process,
    /// 39 ms and 102 ms). The second run alone (session 24's warm-up) left the random-greedy trials past the
    /// deterministic ones uncompiled once the exact search's bound kept to its share of the limit: `auto` at 100 ms
    /// on the 7x7 lattice with bonds of 2 gave the bound's random-greedy runs 12 ms, and they took 33-59 ms. For `auto`
    /// also the candidates that neither plan reaches (random-greedy, hyper, bond-greedy on the 4 x 4 lattice) and the
    /// exact search cut short. A later plan skips it.
    let private warmUp (name: string) (optimizer: Optimizer) (o: PlanOptions) =
        if o.TimeLimitMs.IsSome && warmed.TryAdd(struct (name, o.MemoryLimit.IsSome), ()) then
            let small, given = warmLattices.Force()
            let trials = min o.Trials 4
            // Their results are not used; a failure here is the real plan's to report, if it recurs there.
            let warm (lattice: Result<Indexed, _>) (o: PlanOptions) =
                match lattice with
                | Ok p -> try planWith name optimizer o p |> ignore with _ -> ()
                | Result.Error _ -> ()
            warm small { o with TimeLimitMs = None; MemoryLimit = None; Trials = trials }
            warm given { o with TimeLimitMs = Some 0; MemoryLimit = o.MemoryLimit |> Option.map (fun _ -> 8L); Trials = trials }
            // `auto`'s candidates past the exact search, which neither plan above reaches (the exact search finishes
            // on the 4 x 4 lattice, and the 5 x 5 one leaves them no time): compiled within the limit, bond-greedy
            // took 17-30 ms on the 7x7 lattice with bonds of 2 and hyper's first trial 36 ms, where each takes 1-15 ms.
            // The exact search cut short by the clock is warmed too: `auto` leaves it out given no time.
            if name = "auto" then
                for candidate in [ "random-greedy"; "hyper"; "bond-greedy" ] do
                    match registry |> List.tryFind (fun (n, _, _) -> n = candidate), small with
                    | Some (_, _, f), Ok p -> try planWith candidate f { o with TimeLimitMs = None; MemoryLimit = None; Trials = trials } p |> ignore with _ -> ()
                    | _ -> ()
                match given with
                | Ok p -> try PlanHyper.exactWithin (PlanOptimal.ExactWork()) (snd exactSeconds) p { o with TimeLimitMs = Some 0; MemoryLimit = None } |> ignore with _ -> ()
                | Result.Error _ -> ()

    /// Plans a checked problem with the named optimizer, the name in any case (`canonicalName`; see `runWith`); an
    /// unknown name is a TN0300 error. Under a wall-clock limit, the first plan with an optimizer in a process first
    /// plans small networks (`warmUp`), so that compiling its code does not count against the limit.
    let run (name: string) (o: PlanOptions) (p: Indexed) : PlanResult =
        // The registered spelling from here on: `auto`'s budget, the warm-up and the report go by it.
        let name = defaultArg (canonicalName name) name
        match tryFindWith o.Words name with
        | Result.Error d ->
            { Problem = p; Optimizer = name; Chosen = name; Tree = None; Steps = [||]; Cost = None; Slicing = None
              SearchMs = 0.0; Diagnostics = [ d ] }
        | Ok optimizer ->
            warmUp name optimizer o
            planWith name optimizer o p

    /// `run "auto"` with its floors under a memory limit following `floors` (None: as they ran before they followed
    /// the stakes), and the counted work of its ledger in seconds (0 without a memory limit): what the floors save,
    /// and what they cost, can be compared on one network.
    let runAutoWith (floors: PlanHyper.Floors option) (o: PlanOptions) (p: Indexed) : PlanResult * float =
        let budget = budgetWith floors p o
        let r = runBudgeted budget "auto" (autoIn budget None (PlanHyper.Work()) (PlanOptimal.ExactWork()) (ResizeArray())) o p
        r, (match budget with Some b -> b.Ledger.Spent | None -> 0.0)

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
    /// parameter needs two points that plan. A tree found at one value is also a plan at every value whose network
    /// has the same tensors and indices (the parameter sets sizes only), so each point takes the cheapest of those
    /// trees at its own sizes: a heuristic's worse tree at one size cannot make flops fall as the sizes grow. Where
    /// flops still fall between networks of different shapes and a plan was not exact (`optimal`), the fall may be
    /// the heuristic's, and the parameter is skipped with that reason rather than fitted with a negative exponent.
    let scalingWith (parameters: (string * int64) list) (rebuild: (string * int64) list -> Result<Problem, string>)
                    (plan: Problem -> PlanResult option) : Exponent list * (string * string) list =
        let sameShape (a: Indexed) (b: Indexed) = a.IndexNames = b.IndexNames && a.Inputs = b.Inputs && a.Output = b.Output
        // `optimal` beyond its reach falls back to random-greedy with a TN0307 warning.
        let exact (r: PlanResult) = r.Chosen = "optimal" && not (r.Diagnostics |> List.exists (fun d -> d.Kind = PlanDiagnostics.tooLarge))
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
                            | Some r when r.Tree.IsSome && r.Cost.IsSome -> v, Ok r
                            | _ -> v, Result.Error "no plan")
                let planned = attempts |> List.choose (fun (v, r) -> match r with Ok r -> Some(v, r) | _ -> None)
                let points =
                    planned
                    |> List.map (fun (v, r) ->
                        let trees = planned |> List.filter (fun (_, o) -> sameShape r.Problem o.Problem) |> List.map (fun (_, o) -> o.Tree.Value)
                        v, trees |> List.map (Cost.flops r.Problem) |> List.min)
                // The first fall between networks of different shapes where a plan is a heuristic's.
                let falls =
                    List.zip planned points
                    |> List.pairwise
                    |> List.tryFind (fun (((_, r0), (_, f0)), ((_, r1), (_, f1))) ->
                        f1 < f0 && not (sameShape r0.Problem r1.Problem) && not (exact r0 && exact r1))
                match falls with
                | _ when points.Length < 2 ->
                    let why =
                        match attempts |> List.tryPick (fun (v, r) -> match r with Result.Error e -> Some(v, e) | _ -> None) with
                        | Some (v, e) -> sprintf "at %s=%d: %s" name v e
                        | None -> sprintf "value %d cannot be scaled" value
                    Choice2Of2(name, why)
                | Some (((v0, r0), (_, f0)), ((v1, r1), (_, f1))) ->
                    Choice2Of2(name, sprintf "flops fall from %.3g at %s=%d to %.3g at %s=%d (plans by %s and %s of networks of different shapes, not comparable)"
                                         (float f0) name v0 (float f1) name v1 r0.Chosen r1.Chosen)
                | None ->
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
                (plan: Problem -> PlanResult option) : Exponent list =
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
