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
/// grow the sliced set greedily, each time by the index that buys the most memory for the least extra work).
module PlanSlice =
    /// The problem as one slice sees it: the sliced indices at size 1.
    let sliceProblem (p: Indexed) (indices: int array) : Indexed =
        if indices.Length = 0 then p
        else { p with Size = p.Size |> Array.mapi (fun i s -> if Array.contains i indices then 1L else s) }

    let private prod (p: Indexed) (idx: int array) = idx |> Array.fold (fun acc i -> acc * BigInteger(p.Size[i])) BigInteger.One

    let private ratio (a: BigInteger) (b: BigInteger) =
        if b.Sign <= 0 then 1.0 else Math.Exp(BigInteger.Log a - BigInteger.Log b)

    /// The figures of a tree sliced over `indices`.
    let figures (p: Indexed) (t: ContractionTree) (indices: int array) : Slicing =
        let q = sliceProblem p indices
        let c = Cost.report q t
        let slices = prod p indices
        let unsliced = Cost.flops p t
        let output = prod p p.Output
        { Indices = Array.sort indices
          Slices = slices
          SliceFlops = c.Flops
          Flops = c.Flops * slices
          Overhead = ratio (c.Flops * slices) unsliced
          LargestIntermediate = c.LargestIntermediate
          Peak = c.Peak + (if indices.Length > 0 then output else BigInteger.Zero) }

    /// How far a sliced tree is over the limit: the sum of log2(size / limit) over the intermediates above it.
    let private pressure (steps: StepCost array) (limit: BigInteger) =
        let ll = BigInteger.Log(limit, 2.0)
        steps |> Array.sumBy (fun s -> if s.Size > limit then BigInteger.Log(s.Size, 2.0) - ll else 0.0)

    /// Indices to slice so that every intermediate of the tree has at most `limit` elements, or None when no
    /// choice of closed indices can get there (an intermediate over the limit made of open indices only). Greedy:
    /// among the closed indices on an intermediate over the limit, add the one with the least extra log-flops per
    /// unit of pressure removed (ties: the larger index, then the lower id), until nothing is over the limit.
    let find (p: Indexed) (t: ContractionTree) (limit: BigInteger) : int array option =
        let lf (b: BigInteger) = if b.Sign <= 0 then 0.0 else BigInteger.Log(b, 2.0)
        let rec grow (sliced: int array) =
            let q = sliceProblem p sliced
            let steps = Cost.steps q t
            let over = steps |> Array.filter (fun s -> s.Size > limit)
            if over.Length = 0 then Some sliced
            else
                let candidates =
                    over
                    |> Array.collect (fun s -> s.Kept)
                    |> Array.distinct
                    |> Array.filter (fun i -> not p.IsOutput[i] && q.Size[i] > 1L)
                    |> Array.sort
                if candidates.Length = 0 then None
                else
                    let before = pressure steps limit
                    let baseFlops = lf (steps |> Array.sumBy (fun s -> s.Flops) |> (*) (prod p sliced))
                    let scored =
                        candidates
                        |> Array.map (fun i ->
                            let next = Array.append sliced [| i |]
                            let st = Cost.steps (sliceProblem p next) t
                            let flops = lf ((st |> Array.sumBy (fun s -> s.Flops)) * prod p next)
                            let relief = before - pressure st limit
                            let score = if relief <= 1e-12 then Double.PositiveInfinity else (flops - baseFlops) / relief
                            struct (score, -p.Size[i], i))
                    let struct (score, _, best) = scored |> Array.min
                    // No index relieves the pressure on its own (rare: ties among equal intermediates); take the
                    // largest candidate so that the loop always progresses.
                    let pick = if Double.IsPositiveInfinity score then candidates |> Array.maxBy (fun i -> p.Size[i], -i) else best
                    grow (Array.append sliced [| pick |])
        grow [||]
