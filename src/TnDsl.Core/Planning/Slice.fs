namespace TnDsl

open System
open System.Numerics

/// A sliced plan: some summed indices are fixed to each of their values in turn, the tree is contracted once per
/// combination (a slice) with those indices at size 1, and the slices' results are added. Every intermediate of a
/// slice is smaller; the price is the work repeated across slices.
type Slicing =
    {
        /// The sliced index ids (closed indices only: the slices' results are summed).
        Indices: int array
        /// The number of slices: the product of the sliced indices' sizes.
        Slices: BigInteger
        /// opt_einsum flops of one slice.
        SliceFlops: BigInteger
        /// Total flops: slices × flops of one slice.
        Flops: BigInteger
        /// Total flops over the unsliced tree's flops.
        Overhead: float
        /// The largest intermediate of one slice, in elements.
        LargestIntermediate: BigInteger
        /// The most elements alive at once within one slice, inputs (as sliced) included, plus the result that
        /// accumulates the slices.
        Peak: BigInteger
    }

/// Choosing indices to slice so that a tree's intermediates fit a memory limit (cotengra's `SliceFinder` idea:
/// grow the sliced set greedily, each time by an index of the largest intermediate that costs the least extra
/// work, and keep the best of a few randomised passes).
module PlanSlice =
    /// The problem as one slice sees it: the sliced indices at size 1.
    let sliceProblem (p: Indexed) (indices: int array) : Indexed =
        if indices.Length = 0 then p
        else { p with Size = p.Size |> Array.mapi (fun i s -> if Array.contains i indices then 1L else s) }


    let private ratio (a: BigInteger) (b: BigInteger) =
        if b.Sign <= 0 then 1.0 else Math.Exp(BigInteger.Log a - BigInteger.Log b)

    /// The figures of a tree sliced over `indices`.
    let figures (p: Indexed) (t: ContractionTree) (indices: int array) : Slicing =
        let q = sliceProblem p indices
        let c = Cost.report q t
        let slices = Problem.elements p indices
        let unsliced = Cost.flops p t
        let output = Problem.elements p p.Output
        { Indices = Array.sort indices
          Slices = slices
          SliceFlops = c.Flops
          Flops = c.Flops * slices
          Overhead = ratio (c.Flops * slices) unsliced
          LargestIntermediate = c.LargestIntermediate
          Peak = c.Peak + (if indices.Length > 0 then output else BigInteger.Zero) }

    /// The largest intermediate of a (sliced) tree's steps, and the indices that could be sliced to shrink it: the
    /// closed, not yet sliced indices that a largest intermediate keeps, in id order.
    let overLimit (p: Indexed) (steps: StepCost array) (sliced: int array) : BigInteger * int array =
        let largest = steps |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.Zero
        let candidates =
            steps
            |> Array.filter (fun s -> s.Size = largest)
            |> Array.collect (fun s -> s.Kept)
            |> Array.distinct
            |> Array.filter (fun i -> not p.IsOutput[i] && not (Array.contains i sliced))
            |> Array.sort
        largest, candidates

    let private totalFlops (p: Indexed) (t: ContractionTree) (sliced: int array) =
        let steps = Cost.steps (sliceProblem p sliced) t
        steps, (steps |> Array.sumBy (fun s -> s.Flops)) * Problem.elements p sliced

    /// The sliced indices that the tree still needs: each index (the earliest sliced first) is unsliced when every
    /// intermediate stays within the limit without it. Unslicing never adds flops: the steps that involve the
    /// index do the same work over fewer slices, the others run fewer times. (A greedy slicer picks an index for
    /// the largest intermediate of its round; a later pick, or a tree adapted to it, can make it unnecessary.)
    let prune (p: Indexed) (limit: BigInteger) (tree: ContractionTree) (sliced: int array) : int array =
        let fits (ix: int array) = Cost.largestIntermediate (sliceProblem p ix) tree <= limit
        sliced |> Array.fold (fun kept i -> let without = kept |> Array.filter ((<>) i) in if fits without then without else kept) sliced

    /// The loop every greedy slicer shares: from nothing sliced, while an intermediate of the tree is over the
    /// limit, slice the index `choose tree sliced candidates` picks among the closed indices of a largest
    /// intermediate, and let `adapt tree sliced` fit the tree to what is now sliced; the indices the final tree
    /// does not need are then unsliced (`prune`). The tree and the sliced indices, or None when an intermediate over
    /// the limit has no closed index left or after `maxRounds` rounds.
    let grow (p: Indexed) (limit: BigInteger) (maxRounds: int) (choose: ContractionTree -> int array -> int array -> int)
             (adapt: ContractionTree -> int array -> ContractionTree) (tree: ContractionTree) =
        let rec go tree sliced round =
            let largest, candidates = overLimit p (Cost.steps (sliceProblem p sliced) tree) sliced
            if largest <= limit then Some(tree, prune p limit tree sliced)
            elif round > maxRounds || candidates.Length = 0 then None
            else
                let next = Array.append sliced [| choose tree sliced candidates |]
                go (adapt tree next) next (round + 1)
        go tree [||] 0

    /// One greedy pass: while an intermediate is over the limit, slice the closed index of a largest
    /// intermediate that leaves the least total flops (log2 flops plus Gumbel noise of the given temperature
    /// when it is positive; ties: the larger index, then the lower id).
    let private greedyPass (costings: int64 ref) (p: Indexed) (t: ContractionTree) (limit: BigInteger) (temperature: float) (rng: Random) =
        let lf (b: BigInteger) = if b.Sign <= 0 then 0.0 else BigInteger.Log(b, 2.0)
        let choose t sliced (candidates: int array) =
            // The round's costing of the tree, then one per candidate.
            costings.Value <- costings.Value + 1L + int64 candidates.Length
            let scored =
                candidates
                |> Array.map (fun i ->
                    let _, flops = totalFlops p t (Array.append sliced [| i |])
                    let noise = if temperature > 0.0 then -temperature * Math.Log(-Math.Log(max 1e-300 (rng.NextDouble()))) else 0.0
                    struct (lf flops + noise, -p.Size[i], i))
            let struct (_, _, best) = scored |> Array.min
            best
        // Each round slices one more closed index, so the candidates run out before any round limit.
        grow p limit Int32.MaxValue choose (fun t _ -> t) t |> Option.map snd

    /// Indices to slice so that every intermediate of the tree has at most `limit` elements, or None when no
    /// choice of closed indices can get there (an intermediate over the limit made of open indices only). The
    /// best (least total flops, then fewest indices) of a deterministic greedy pass and `repeats` - 1 passes
    /// with noise, each seeded by its number, so the choice is reproducible. Each pass slices, while an
    /// intermediate is over the limit, the closed index of a largest one that leaves the least total flops.
    /// `costings` counts the exact costings of the whole tree this does (one per candidate index per round, one
    /// per round and per pass), the work a search that scores trees by their sliced flops pays for.
    let findCounted (costings: int64 ref) (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        let passes =
            [| for r in 0 .. max 1 repeats - 1 do
                   costings.Value <- costings.Value + 1L
                   match greedyPass costings p t limit (if r = 0 then 0.0 else 0.5) (Random(r * 7919 + 1)) with
                   | Some ix -> let _, f = totalFlops p t ix in yield (f, ix.Length, r), ix
                   | None -> () |]
        if passes.Length = 0 then None else Some(passes |> Array.minBy fst |> snd)

    /// `findCounted` without the count.
    let findWith (repeats: int) (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        findCounted (ref 0L) repeats p t limit

    /// `findWith` with eight passes.
    let find (p: Indexed) (t: ContractionTree) (limit: BigInteger) = findWith 8 p t limit
