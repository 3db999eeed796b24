namespace TnDsl

open System.Numerics

/// Single-operand reductions: summing, before its first contraction, the indices that an input tensor alone
/// carries (opt_einsum's single-term step). Whether that pays depends only on the step that first uses the
/// tensor, so any tree can be improved locally, step by step.
module PlanReduce =
    /// Per input tensor: the indices only it carries and that are not open (summed at its first step).
    let singles (p: Indexed) (t: int) =
        p.Inputs[t] |> Array.filter (fun i -> p.Carriers[i].Length = 1 && not p.IsOutput[i])


    /// The tree with a single-operand reduction inserted before every step where it lowers the objective: the
    /// flops (for `Flops`, `Size` and `Combo`, counting the reduction's own 2 × size flops and, for `Combo`,
    /// its write) without the reduced tensor exceeding `limit` elements or, for `Size`, the tree's largest
    /// intermediate. `Write` never gains from a reduction (it writes one more tensor), so the tree is returned
    /// as is. Steps that already are reductions, and steps of more than four operands, are left alone.
    let leaves (p: Indexed) (objective: Objective) (limit: BigInteger option) (t: ContractionTree) : ContractionTree =
        let reducible = Array.init t.Leaves (fun l -> (singles p l).Length > 0)
        if objective = Write || not (Array.exists id reducible) then t
        else
            let steps = Cost.steps p t
            let largest = steps |> Array.fold (fun m s -> BigInteger.Max(m, s.Size)) BigInteger.One
            let cap =
                let c = match limit with Some l -> l | None -> BigInteger.MinusOne
                match objective with
                | Size -> if c.Sign < 0 then largest else BigInteger.Min(c, largest)
                | _ -> c
            let fits (b: BigInteger) = cap.Sign < 0 || b <= cap
            // Per step: the set of operand positions to reduce first.
            let choice =
                steps
                |> Array.map (fun s ->
                    let k = s.Children.Length
                    let candidates =
                        [| for j in 0 .. k - 1 do
                               let c = s.Children[j]
                               if k >= 2 && c < t.Leaves && reducible[c] then
                                   let reduced = s.ChildIndices[j] |> Array.except (singles p c)
                                   if fits (Problem.elements p reduced) then j |]
                    if candidates.Length = 0 || k > 4 then [||]
                    else
                        let keptSet = System.Collections.Generic.HashSet<int>(s.Kept)
                        let costOf (mask: int) =
                            let idx =
                                s.ChildIndices
                                |> Array.mapi (fun j ci ->
                                    let r = candidates |> Array.tryFindIndex ((=) j)
                                    match r with
                                    | Some q when mask &&& (1 <<< q) <> 0 -> ci |> Array.except (singles p s.Children[j])
                                    | _ -> ci)
                            let involved = idx |> Array.concat |> Array.distinct
                            let summed = involved |> Array.exists (fun i -> not (keptSet.Contains i))
                            let mutable flops = Cost.stepFlops p k involved summed
                            let mutable write = BigInteger.Zero
                            candidates
                            |> Array.iteri (fun q j ->
                                if mask &&& (1 <<< q) <> 0 then
                                    flops <- flops + BigInteger 2 * Problem.elements p s.ChildIndices[j]
                                    write <- write + Problem.elements p idx[j])
                            match objective with
                            | Combo f -> flops + BigInteger(f * 1048576.0) * write / BigInteger 1048576
                            | _ -> flops
                        let best = [ 0 .. (1 <<< candidates.Length) - 1 ] |> List.minBy (fun m -> costOf m, m)
                        candidates |> Array.indexed |> Array.filter (fun (q, _) -> best &&& (1 <<< q) <> 0) |> Array.map snd)
            if choice |> Array.forall Array.isEmpty then t
            else
                let total = t.Leaves + t.Steps.Length
                let renamed = Array.init total id
                let out = ResizeArray<int array>()
                t.Steps
                |> Array.iteri (fun s children ->
                    for j in choice[s] do
                        out.Add [| children[j] |]
                        renamed[children[j]] <- t.Leaves + out.Count - 1
                    out.Add(children |> Array.map (fun c -> renamed[c]))
                    renamed[t.Leaves + s] <- t.Leaves + out.Count - 1)
                { Leaves = t.Leaves; Steps = out.ToArray() }
