namespace TnDsl

open System
open System.Diagnostics
open System.Collections.Generic
open System.Numerics

/// Slice-aware tree search under a memory limit: trees are scored by their total flops once sliced to the limit,
/// not by their unsliced flops (a tree that is cheap unsliced can be one whose every large intermediate holds a
/// different set of bonds, so that fitting it takes many slices). Three stages, seeded and bounded by a trial count,
/// each trial running one step of each: (1) hyper's builders, each tree reconfigured and then sliced interleaved
/// with reconfiguration (cotengra's `slicing_reconf_opts` trials); (2) for the cheapest stage-1 plan's set, trees built
/// for the sliced network itself (the sliced indices at size 1, the limit a hard constraint of the builders and of
/// reconfiguration), the sliced set pruned to what the new tree needs; (3) a local search over sliced sets from
/// the best plan of that set. The trials of a smaller count are a prefix of those of a larger one: more trials never
/// give a dearer plan.
module PlanSliceSearch =
    /// Counts in `work` the loop order of `k` sliced indices chosen for a tree (`PlanSlice.orderOps`).
    let countOrder (work: PlanHyper.Work) (t: ContractionTree) (k: int) =
        work.Orders <- work.Orders + PlanSlice.orderOps t.Steps.Length k

    /// The figures of a tree sliced over `indices` in its best loop order (two exact costings and the loop order,
    /// counted in `work`).
    let figuresCounted (work: PlanHyper.Work) (p: Indexed) (t: ContractionTree) (indices: int array) =
        work.Steps <- work.Steps + 2.0 * float t.Steps.Length
        countOrder work t indices.Length
        PlanSlice.figures p t indices

    /// Executed flops of a tree sliced over `indices` in its best loop order (`figuresCounted`).
    let private total (work: PlanHyper.Work) (p: Indexed) (t: ContractionTree) (indices: int array) =
        (figuresCounted work p t indices).Flops

    /// The better of two found plans (least total flops, then fewest sliced indices, then the earlier).
    let private better (a: (BigInteger * ContractionTree * int array) option) (b: (BigInteger * ContractionTree * int array) option) =
        match a, b with
        | Some (fa, _, sa), Some (fb, _, sb) when fb < fa || (fb = fa && sb.Length < sa.Length) -> b
        | None, _ -> b
        | _ -> a

    /// A sliced tree reconfigured for its executed flops in its best loop order, within the limit (subtrees of 8,
    /// two passes; `PlanHyper.reconfigureReuseCounted`): never dearer in executed flops. Reconfiguring for one
    /// slice's flops merges steps that would run once into steps that run in every slice; this undoes that.
    let polish (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (tree: ContractionTree) (sliced: int array) =
        if sliced.Length = 0 then tree
        else
            let limit64 = int64 (BigInteger.Min(limit, BigInteger Int64.MaxValue))
            work.Steps <- work.Steps + float tree.Steps.Length
            countOrder work tree sliced.Length
            PlanHyper.reconfigureReuseCounted work stop (Some limit64) p (PlanSlice.bestOrder p tree sliced) 8 2 tree

    /// The candidate of least score (ties: the larger index, then the lower id).
    let private cheapest (p: Indexed) (candidates: int array) (scores: BigInteger array) =
        Array.zip scores candidates |> Array.minBy (fun (s, i) -> s, -p.Size[i], i) |> snd

    /// What a greedy slicer scores a candidate index by, each round: the executed flops of the tree sliced over the
    /// set with it, in the best loop order (the objective, under reuse across slices), or its flops with every step
    /// in every slice (slices x one slice's flops; the score before reuse). Neither greedy rule is the better one:
    /// executed flops favour indices few steps depend on, and on some networks that takes more indices in the end
    /// (the 12x12 lattice with D = 2 at 81 elements: the slice-aware search's first trial sliced 22 bonds for 1.2e10
    /// executed flops; by both scores auto's plan executes 1.5e8); on others it wins (auto's plan of the 8x8 lattice
    /// with D = 4 at 655: 8.1e9, by the every-slice score alone 5.1e10). bench/results/planner.md has the rows.
    type SliceScore =
        | Executed
        | EverySlice

    /// Slicing interleaved with reconfiguration (cotengra's `slice_and_reconfigure`): while an intermediate is over
    /// the limit, slice the closed index of least `score` (ties: the larger index, then the lower id), then
    /// reconfigure the tree for the sliced sizes (subtrees of 8, `passes` passes, intermediates
    /// within the limit); the final tree polished for its executed flops (`polish`). (Reconfiguring for executed
    /// flops at every round, tried, ended at 3.4x the executed flops on the 8x8 lattice with D = 4 at 655: a tree
    /// adapted to the partial set's reuse needed one more sliced index.) The index is one of a largest intermediate's, or with `broad` one of any intermediate over the
    /// limit (cotengra's slicer looks at every index).
    /// The work (reconfiguration, exact costings, loop orders) is counted in `work`.
    let sliceReconfigureBy (score: SliceScore) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (broad: bool) (passes: int) (t: ContractionTree) =
        let limit64 = if limit > BigInteger Int64.MaxValue then None else Some(int64 limit)
        let steps = float t.Steps.Length
        let choose tree (sliced: int array) (largest: int array) =
            let candidates =
                if not broad then largest
                else
                    Cost.steps (PlanSlice.sliceProblem p sliced) tree
                    |> Array.filter (fun s -> s.Size > limit)
                    |> Array.collect (fun s -> s.Kept)
                    |> Array.distinct
                    |> Array.filter (fun i -> not p.IsOutput[i] && not (Array.contains i sliced))
            // The round's costing in `grow`, one here (the candidates are scored from it), one when broad, and
            // `PlanSlice.candidateCosting` of one per candidate (broad: every index of every intermediate over the
            // limit, often many more than a largest intermediate's).
            work.Steps <- work.Steps + steps * (float (2 + (if broad then 1 else 0)) + PlanSlice.candidateCosting * float candidates.Length)
            if score = Executed then work.Orders <- work.Orders + PlanSlice.candidateOrderWeight * float candidates.Length * PlanSlice.orderOps tree.Steps.Length (sliced.Length + 1)
            let scores =
                if score = Executed then PlanSlice.flopsOfEach p tree sliced candidates
                else
                    // Every step in every slice: one slice's flops (a step's flops divided by the size of the
                    // candidate when it involves it) times the slices.
                    let steps = Cost.steps (PlanSlice.sliceProblem p sliced) tree
                    let slices = Problem.elements p sliced
                    candidates
                    |> Array.map (fun i ->
                        let one = PlanSlice.slicedFurther p steps i |> Array.sumBy (fun st -> st.Flops)
                        one * slices * BigInteger p.Size[i])
            cheapest p candidates scores
        // One memo for every round: a round changes the size of one index, so most windows are those of the round
        // before, and those that found nothing better then find nothing now (`PlanHyper.ReconfigureMemo`).
        let memo = PlanHyper.ReconfigureMemo()
        let adapt tree next = PlanHyper.reconfigureMemoCounted memo work stop limit64 (PlanSlice.sliceProblem p next) Flops 8 passes tree
        // The last round's costing and the prune's, one per sliced index (about as many as rounds).
        work.Steps <- work.Steps + steps
        PlanSlice.grow p limit 64 choose adapt t
        |> Option.map (fun (tree, ix) ->
            work.Steps <- work.Steps + steps * float (ix.Length + 1)
            polish work stop p limit tree ix, ix)

    /// `sliceReconfigureBy Executed`.
    let sliceReconfigureCounted (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (broad: bool) (passes: int) (t: ContractionTree) =
        sliceReconfigureBy Executed work stop p limit broad passes t

    /// `sliceReconfigureBy` with each `SliceScore`, the plan of fewer executed flops kept (the executed rule's on a
    /// tie): twice the work, counted in `work`.
    let sliceReconfigureEither (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (broad: bool) (passes: int) (t: ContractionTree) =
        let a = sliceReconfigureBy Executed work stop p limit broad passes t
        let b = sliceReconfigureBy EverySlice work stop p limit broad passes t
        match a, b with
        | Some (ta, ia), Some (tb, ib) -> if total work p tb ib < total work p ta ia then b else a
        | None, _ -> b
        | _ -> a

    /// `sliceReconfigureCounted` without counting the work.
    let sliceReconfigure (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (broad: bool) (passes: int) (t: ContractionTree) =
        sliceReconfigureCounted (PlanHyper.Work()) stop p limit broad passes t

    /// The depth below the root whose nodes' legs make the pool of `structureSetCounted`: 3 (the root's children,
    /// grandchildren and great-grandchildren). On the 8x8 lattice with D = 4 at 655, hyper's free tree's nodes to
    /// depth 2 give 10 bonds and a set of 14 (20,540x once rebuilt); to depth 3, the 16 bonds of a cross of cuts and,
    /// once rebuilt, the cross's 8-bond set (78.1x; planner.md, Session 12 (s12-seeds)).
    let seedDepth = 3

    /// A sliced set seeded from a tree's structure: the closed indices on the legs of the nodes within `seedDepth`
    /// of its root (the bonds crossing the cuts its top levels make; on a lattice, a cross of cuts) are sliced
    /// first: while an intermediate is over the limit, slice the pool's index of a largest intermediate that leaves
    /// the least executed flops (any index of it when none is in the pool; ties: the larger, then the lower id),
    /// the tree reconfigured for the sliced sizes (subtrees of 8, one pass, within the limit); the set pruned to
    /// what the final tree needs (`PlanSlice.grow`). The greedy slicer alone picks whatever is cheapest now, and its
    /// set can force trees that are dear unsliced (8x8 D = 4 at 655: 8.1x); the pool keeps the set on the tree's top
    /// cuts, which a tree near the unsliced optimum can keep. None when it cannot fit. Deterministic; the work is
    /// counted in `work`.
    let structureSetCounted (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (tree: ContractionTree) =
        let limit64 = if limit > BigInteger Int64.MaxValue then None else Some(int64 limit)
        let steps = Cost.steps p tree
        work.Steps <- work.Steps + float tree.Steps.Length
        let legs node = if node < tree.Leaves then p.Inputs[node] else steps[node - tree.Leaves].Kept
        let children node = if node < tree.Leaves then [||] else tree.Steps[node - tree.Leaves]
        let rec within depth node = if depth = 0 then [| node |] else Array.append [| node |] (children node |> Array.collect (within (depth - 1)))
        let pool =
            within seedDepth (ContractionTree.root tree)
            |> Array.collect legs
            |> Array.filter (fun i -> not p.IsOutput[i] && p.Size[i] > 1L)
            |> HashSet
        let choose (tree: ContractionTree) (sliced: int array) (largest: int array) =
            let inPool = largest |> Array.filter pool.Contains
            let candidates = if inPool.Length > 0 then inPool else largest
            work.Steps <- work.Steps + float tree.Steps.Length * (2.0 + PlanSlice.candidateCosting * float candidates.Length)
            work.Orders <- work.Orders + PlanSlice.candidateOrderWeight * float candidates.Length * PlanSlice.orderOps tree.Steps.Length (sliced.Length + 1)
            let scores = PlanSlice.flopsOfEach p tree sliced candidates
            cheapest p candidates scores
        let memo = PlanHyper.ReconfigureMemo()
        let adapt (tree: ContractionTree) next = PlanHyper.reconfigureMemoCounted memo work stop limit64 (PlanSlice.sliceProblem p next) Flops 8 1 tree
        PlanSlice.grow p limit 64 choose adapt tree |> Option.map snd

    /// The reuse-aware greedy's trials for the structure-seeded set (`seededCounted`): 2 (on the 8x8 lattice with
    /// D = 4 at 655, trial 0's plan is 121x, trial 1's 78.1x).
    let seedTrials = 2

    /// The reuse-aware greedy's trials for the pruned set of the structure-seeded plan (`seededCounted`): 4 (on the
    /// 8x8 lattice with D = 4 at 655, trials 2 and 3 for the cross's 8 bonds give 77.806x, where the 11-bond seeded
    /// set's trials 0 to 7 give 78.064x at best; planner.md, Session 17 (s17-rows)).
    let prunedSeedTrials = 4

    /// A plan for the set seeded from a tree's structure (`structureSetCounted`): the cheapest of the reuse-aware
    /// greedy's plans of trials 0 to `seedTrials` - 1 for it (`PlanReuse.rebuildCounted`, each fitted, polished and
    /// its set pruned), and, when the cheapest's set was pruned to fewer indices, of trials 0 to
    /// `prunedSeedTrials` - 1 for that smaller set (the greedy builds for the set it is given, and a set with
    /// indices the plan does not need leads it to other trees); executed flops, tree, sliced set; None when none
    /// fits. `hyper` offers it, seeded from its free tree, as one more candidate beside the slice-aware search's
    /// plan (so never a dearer choice). Deterministic; the work is counted in `work`.
    let seededCounted (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (seed: int) (limit: BigInteger) (tree: ContractionTree) =
        let rebuilt (set: int array) (trials: int) (first: (BigInteger * ContractionTree * int array) option) =
            Seq.init trials id
            |> Seq.fold (fun acc t -> if (t > 0 || Option.isSome acc) && stop () then acc else better acc (PlanReuse.rebuildCounted work stop p seed limit set t)) first
        match structureSetCounted work stop p limit tree with
        | Some set when set.Length > 0 ->
            match rebuilt set seedTrials None with
            | Some (_, _, pruned) as plan when pruned.Length > 0 && pruned.Length < set.Length -> rebuilt pruned prunedSeedTrials plan
            | plan -> plan
        | _ -> None

    /// The largest network (in tensors) on which a lean search's first trial runs whole whatever its stop says:
    /// 160. Each slicing round reconfigures the whole tree, so the trial's cost grows with the network: about
    /// 0.3 s of CPU on the 12x12 lattice (144 tensors) at 1/100 of its largest intermediate, where it finds a plan
    /// 7.8x cheaper than the free plan sliced; 1.7 s on the 20x20 lattice (400) at 1/100, where it found none
    /// better.
    let leanFloorUpTo = 160

    /// Stage 1, one trial: hyper's builder of trial t, its tree reconfigured for flops, then both the built and the
    /// reconfigured tree sliced interleaved with reconfiguration by two rules: among a largest intermediate's
    /// indices with one reconfiguration pass per round, and among every over-limit intermediate's with two (each
    /// rule wins on some lattices; Gumbel noise on the choice, tried too, made the lattices' plans worse); the
    /// cheapest sliced plan.
    /// With `lean`, only the reconfigured tree is sliced (half the work; on `stakes limits` the built tree's
    /// slicing won on 2 of 22 rows' first trials), the cheaper rule first, and on networks of up to
    /// `leanFloorUpTo` tensors the first trial's tree and its slicing by the cheaper rule run whole whatever `stop`
    /// says (a floor: the greedy tree reconfigured for flops, then sliced, is the cheapest good start under a
    /// limit, often well below the free plan sliced), that slicing by both `SliceScore`s
    /// (`sliceReconfigureEither`, the others by executed flops); the other rule runs only while `stop` says go on.
    let private sliceTrial (lean: bool) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (t: int) =
        let rng = Random(o.Seed * 1000003 + t * 7919 + 29)
        let free = { o with MemoryLimit = None }
        let floor = if lean && t = 0 && p.Inputs.Length <= leanFloorUpTo then (fun () -> false) else stop
        let built = PlanHyper.buildUntil floor p free rng (PlanHyper.sample p rng t)
        work.Greedy <- work.Greedy + float p.Inputs.Length
        let tree = PlanHyper.reconfigureCounted work floor None p Flops 8 2 built
        (if lean then [ tree ] else List.distinct [ built; tree ])
        |> List.collect (fun x -> [ x, false, 1; x, true, 2 ])
        |> List.choose (fun (x, broad, passes) ->
            if lean && broad && stop () then None
            else
                // A lean search's first trial slices by both scores (see `SliceScore`); the others by executed flops.
                let slicer = if lean && not broad && t = 0 then sliceReconfigureEither else sliceReconfigureCounted
                slicer work (if broad then stop else floor) p limit broad passes x
                |> Option.map (fun (t, ix) -> total work p t ix, t, ix))
        |> List.fold (fun acc x -> better acc (Some x)) None

    /// Stage 2, one trial: a tree of the network with `sliced` at size 1, built by hyper's builder of trial t with
    /// the limit as a hard constraint and reconfigured within it for its executed flops (in the set's best loop
    /// order); None when it does not fit.
    let private rebuildTrial (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (sliced: int array) (t: int) =
        let q = PlanSlice.sliceProblem p sliced
        let limit64 = int64 (BigInteger.Min(limit, BigInteger Int64.MaxValue))
        let hard = { o with MemoryLimit = Some limit64; Slice = false }
        let rng = Random(o.Seed * 1000003 + t * 7919 + 31)
        let built = PlanHyper.buildUntil stop q hard rng (PlanHyper.sample q rng t)
        work.Greedy <- work.Greedy + float p.Inputs.Length
        countOrder work built sliced.Length
        let tree = PlanHyper.reconfigureReuseCounted work stop (Some limit64) p (PlanSlice.bestOrder p built sliced) 8 2 built
        work.Steps <- work.Steps + float tree.Steps.Length * float (2 + sliced.Length)
        if Cost.largestIntermediate q tree > limit then None
        else
            let ix = PlanSlice.prune p limit tree sliced
            Some(total work p tree ix, tree, ix)

    /// The closed indices worth slicing instead of index i: those that share a tensor with it (on a lattice, the
    /// bonds around its two sites), not of size 1.
    let private neighbours (p: Indexed) (i: int) =
        p.Carriers[i]
        |> Array.collect (fun t -> p.Inputs[t])
        |> Array.distinct
        |> Array.filter (fun j -> j <> i && not p.IsOutput[j] && p.Size[j] > 1L)
        |> Array.sort

    /// The tree adapted to another sliced set: when an intermediate is over the limit, subtree reconfiguration for
    /// the largest intermediate (flops break ties) until it fits, then for executed flops (in the set's best loop
    /// order) within the limit; the sliced set
    /// pruned to what the tree needs, scored exactly. None when it does not fit.
    let private repair (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (sliced: int array) (tree: ContractionTree) =
        let q = PlanSlice.sliceProblem p sliced
        let limit64 = int64 (BigInteger.Min(limit, BigInteger Int64.MaxValue))
        work.Steps <- work.Steps + 2.0 * float tree.Steps.Length
        let fitted =
            if Cost.largestIntermediate q tree > limit then PlanHyper.reconfigureCounted work stop None q Size 8 4 tree else tree
        if Cost.largestIntermediate q fitted > limit then None
        else
            countOrder work fitted sliced.Length
            let polished = PlanHyper.reconfigureReuseCounted work stop (Some limit64) p (PlanSlice.bestOrder p fitted sliced) 8 2 fitted
            work.Steps <- work.Steps + float tree.Steps.Length * float (1 + sliced.Length)
            let ix = PlanSlice.prune p limit polished sliced
            Some(total work p polished ix, polished, ix)

    /// Stage 3, resumable: a local search over the sliced set, each candidate scored exactly (its tree adapted by
    /// `repair`, then its total flops). Moves, from the best plan so far: unslice one index (a factor of its size
    /// fewer slices when the tree can be made to fit without it), or slice another instead (one kept by an
    /// intermediate that goes over the limit without it, or a neighbour; on the 8×8 lattice at 655 the swap that made
    /// a drop possible was to a bond four rows away); the first move that lowers the total is taken and the scan goes
    /// on from there. `Run` scans until the candidates scored in all (over every call) reach its allowance, a whole
    /// scan finds nothing or `stop` says so; a later call goes on where the last stopped, or starts a scan from the
    /// plan it is given when that is not the one it was scanning from (a better plan found meanwhile). A sliced set
    /// is scored once over all calls. Deterministic. The work is counted in `work`.
    type private Descent(work: PlanHyper.Work, p: Indexed, limit: BigInteger) =
        let tried = HashSet<string>()
        let key (ix: int array) = String.Join(",", Array.sort ix)
        // Replacements for i: its neighbours first, then the indices of the intermediates that go over the limit
        // in the current tree without i (slicing one of them may let the tree fit where unslicing i alone does
        // not). The order matters (the first better move is taken): neighbours first did better on the lattices.
        let over (tree: ContractionTree) (without: int array) =
            work.Steps <- work.Steps + float tree.Steps.Length
            Cost.steps (PlanSlice.sliceProblem p without) tree
            |> Array.filter (fun st -> st.Size > limit)
            |> Array.collect (fun st -> st.Kept)
            |> Array.filter (fun j -> not p.IsOutput[j] && p.Size[j] > 1L)
            |> Array.distinct
            |> Array.sort
        let moves (tree: ContractionTree) (sliced: int array) =
            let swaps (candidates: int array -> int -> int array) =
                [| for i in sliced do
                       let without = Array.filter ((<>) i) sliced
                       for j in candidates without i do
                           if j <> i && not (Array.contains j without) then yield Array.append without [| j |] |]
            Array.concat
                [ [| for i in sliced -> Array.filter ((<>) i) sliced |]
                  swaps (fun _ i -> neighbours p i)
                  swaps (fun without _ -> over tree without) ]
        // The plan the pending moves come from (compared by reference: `better` returns one of its arguments).
        let mutable from: obj = null
        let mutable pending: int array array = [||]
        let mutable m = 0
        let mutable spent = 0

        /// The best plan found from `start` with the candidates scored in all kept within `allowance`.
        member _.Run(stop: unit -> bool, start: BigInteger * ContractionTree * int array, allowance: int) =
            let mutable best = start
            if not (obj.ReferenceEquals(from, start)) then
                let _, tree, sliced = start
                from <- start
                pending <- moves tree sliced
                m <- 0
            while spent < allowance && m < pending.Length && not (stop ()) do
                let candidate = pending[m]
                m <- m + 1
                if tried.Add(key candidate) then
                    spent <- spent + 1
                    let f0, tree, _ = best
                    match repair work stop p limit candidate tree with
                    | Some (f, t, ix) when f < f0 ->
                        best <- (f, t, ix)
                        from <- best
                        pending <- moves t ix
                        m <- 0
                    | _ -> ()
            best

    /// Stage 3 from one plan, at most `evals` candidates scored (`Descent`): never dearer than `start`. The work is
    /// counted in `work`.
    let improveCounted (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (evals: int) (start: BigInteger * ContractionTree * int array) =
        Descent(work, p, limit).Run(stop, start, evals)

    /// `improveCounted` without counting the work.
    let improve (stop: unit -> bool) (p: Indexed) (limit: BigInteger) (evals: int) (start: BigInteger * ContractionTree * int array) =
        improveCounted (PlanHyper.Work()) stop p limit evals start

    /// Candidates scored by stage 3 per trial, on networks of up to 128 tensors; on larger ones proportionally
    /// fewer (each candidate reconfigures the whole tree, so its cost grows with the network: about 80 ms on the
    /// 16×16 lattice).
    let improveEvalsPerTrial = 64

    /// The cheapest sliced plan found in `trials` trials (fewer when `stop` says so, never fewer than one): the
    /// tree and the sliced indices, or None when no trial could fit the limit by slicing (an intermediate over the
    /// limit with no closed index). The trials run in order, each from the state the trials before it left, so
    /// that the trials of a smaller count are the first trials of a larger one and more trials never give a
    /// dearer plan. Trial t runs stage 1's trial t. The cheapest stage-1 plan so far is the focus: stage 2 runs its
    /// trial t on the focus's sliced set, and stage 3 (`Descent`) goes on from the focus's best plan with
    /// `improveEvalsPerTrial` more candidates (up to 128 tensors). When trial t finds a new focus, stages 2 and 3
    /// start over on it and catch up (stage 2's trials 0 to t, stage 3's allowance for t + 1 trials): the focus is
    /// searched as the three stages run one after the other over t + 1 trials would search it. (They used to run
    /// one after the other over all trials: then the plan stage 3 started from changed with the trial count, and
    /// on the 10×10 lattice at D = 3 and a limit of 590 sixteen trials ended at 7.3× the flops of eight. Stage 3
    /// from every stage-1 plan with a share of the candidates, tried, ended at 7.7× there: a descent stops in
    /// its start's basin within a few dozen candidates, and it is stage 2's trees for the focus's set that give it
    /// a good start.) Trial t draws from its own generator seeded by (seed, t) and ties go to the earlier plan: the
    /// result depends only on the problem, the options and the trial count. The work is counted in `work` (a caller
    /// under a budget of counted work passes a `stop` that reads it). With `lean`, stage 1 slices each trial's
    /// reconfigured tree only (`auto` under its ledger, where the first trial must be cheap). Without `lean`
    /// (hyper), the found plan's polish also tries random frontiers (`PlanReuse.shakeCounted`) and each trial ends
    /// with `PlanReuse.hopsPerTrial` hops between basins of trees for the best plan's sliced set
    /// (`PlanReuse.hopCounted`), kept only when cheaper.
    let searchWith (lean: bool) (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (trials: int) =
        let perTrial = improveEvalsPerTrial * 128 / max 128 p.Inputs.Length
        let mutable best = None
        let mutable focus = None
        let mutable lineage = None
        let mutable descent = Descent(work, p, limit)
        let rebuild (from: int) (upto: int) =
            match focus with
            | Some (_, _, sliced) ->
                for u in from .. upto do
                    lineage <- better lineage (rebuildTrial work stop p o limit sliced u)
            | None -> ()
        let mutable t = 0
        while t < max 2 trials && (t < 1 || not (stop ())) do
            let found = sliceTrial lean work stop p o limit t
            if found.IsSome && obj.ReferenceEquals(better focus found, found) then
                focus <- found
                lineage <- found
                descent <- Descent(work, p, limit)
                rebuild 0 t
            else rebuild t t
            match lineage with
            | Some plan ->
                lineage <- Some(descent.Run(stop, plan, perTrial * (t + 1)))
                best <- better (better best lineage) (lineage |> Option.bind (PlanReuse.alternativesCounted (if lean then [| 8 |] else PlanReuse.polishWindows) (if lean then 0 else PlanReuse.shakeRounds) work stop p o.Seed limit t))
                // Hyper's search (not lean): the best plan so far gets `PlanReuse.hopsPerTrial` hops between basins of
                // trees for its sliced set, from where the last trial's hops left it.
                if not lean && not (stop ()) then
                    best <- better best (best |> Option.bind (PlanReuse.hopCounted PlanReuse.polishWindows PlanReuse.hopsPerTrial work stop p o.Seed limit t))
            | None -> ()
            t <- t + 1
        best |> Option.map (fun (_, tree, ix) -> tree, ix)

    /// The trials of the second lineage of hyper's search (`searchCounted`) beside `trials` trials of the first:
    /// half as many, none below 4 (a lineage of two trials seldom gets past its greedy start: on the 10x10 lattice
    /// with D = 3 at 590, seed 1's two trials end at 10,099x, its four at 230x; planner.md, Session 13).
    let secondLineageTrials (trials: int) = if trials >= 4 then trials / 2 else 0

    /// The seed of the second lineage of hyper's search for a search seeded by `seed`: the next one.
    let secondLineageSeed (seed: int) = seed + 1

    /// `searchWith` with every stage-1 variant (the built tree sliced too), in two lineages: the search of `trials`
    /// trials seeded by the options' seed, then, unless `stop` says so, an independent one of
    /// `secondLineageTrials trials` trials seeded by `secondLineageSeed`; the cheaper plan (executed flops in its best
    /// loop order, then fewer sliced indices, then the first lineage's). A lineage commits its later stages to the
    /// cheapest stage-1 plan it has seen (its focus), and a focus's basin is where its descent and hops stay: on the
    /// 10x10 lattice with D = 3 at 590, seed 0's lineage ends at 407.5x with 8 trials and with 12,
    /// while seed 1's reaches 230.0x in 4 (another cut, another basin). Two lineages
    /// search two foci for about 1.5x the work of one. Each lineage is deterministic and never dearer with more
    /// trials, and the second's trial count never falls as `trials` grows, so the pair keeps both properties.
    let searchCounted (work: PlanHyper.Work) (stop: unit -> bool) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (trials: int) =
        let first = searchWith false work stop p o limit trials
        let k = secondLineageTrials trials
        if k = 0 || stop () then first
        else
            let second = searchWith false work stop p { o with Seed = secondLineageSeed o.Seed } limit k
            let score (t: ContractionTree, ix: int array) = total work p t ix, ix.Length
            match first, second with
            | Some a, Some b when score b < score a -> second
            | None, _ -> second
            | _ -> first

    /// `searchCounted` without counting the work.
    let search (stop: unit -> bool) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (trials: int) =
        searchCounted (PlanHyper.Work()) stop p o limit trials

    /// `search` with a wall-clock budget in milliseconds (None: all trials).
    let searchWithin (budgetMs: int option) (p: Indexed) (o: PlanOptions) (limit: BigInteger) (trials: int) =
        let clock = Stopwatch.StartNew()
        let stop () = budgetMs |> Option.exists (fun ms -> clock.ElapsedMilliseconds >= int64 ms)
        search stop p o limit trials
