namespace TnDsl

open System
open System.Collections.Generic
open System.Diagnostics
open System.Threading.Tasks

/// Greedy planning: contract the cheapest pair first, and its randomised, repeated form.
module PlanGreedy =
    /// An index on more live tensors than this does not make its carriers candidate pairs on its own (a batch
    /// hyperindex would otherwise make every pair of inputs a candidate); such tensors still meet at the end.
    let hyperFanout = 32

    /// One greedy run: its tree and its float64 figures for comparing runs.
    type Run =
        { Tree: ContractionTree
          Flops: float
          Largest: float
          Write: float }

    /// The (primary, tie-break) score of a run under an objective, lower is better.
    let score objective (r: Run) =
        match objective with
        | Flops -> struct (r.Flops, r.Largest)
        | Size -> struct (r.Largest, r.Flops)
        | Combo f -> struct (r.Flops + f * r.Write, r.Largest)

    /// Greedy with the memory-removed heuristic `size(out) - alpha (size(a) + size(b))`; with temperature > 0 each
    /// candidate's (log-compressed) cost gets Gumbel noise, which samples pairs with Boltzmann weights.
    /// Candidates whose result exceeds `limit` elements are skipped; what is left joins smallest first.
    let run (p: Indexed) (limit: float) (alpha: float) (temperature: float) (rng: Random) : Run =
        let n = p.Inputs.Length
        if n = 1 then
            let sz = p.Inputs[0] |> Array.fold (fun a i -> a * float p.Size[i]) 1.0
            let outSz = p.Output |> Array.fold (fun a i -> a * float p.Size[i]) 1.0
            let summed = p.Inputs[0].Length > p.Output.Length
            { Tree = { Leaves = 1; Steps = [| [| 0 |] |] }
              Flops = sz * (if summed then 2.0 else 1.0)
              Largest = outSz
              Write = outSz }
        else
            let cap = 2 * n
            let idx = Array.zeroCreate<int array> cap
            let size = Array.zeroCreate<float> cap
            let live = Array.zeroCreate<bool> cap
            let sz = p.Size |> Array.map float
            let carriers = p.Carriers |> Array.map (fun c -> HashSet<int>(c))
            for t in 0 .. n - 1 do
                idx[t] <- p.Inputs[t]
                size[t] <- p.Inputs[t] |> Array.fold (fun a i -> a * sz[i]) 1.0
                live[t] <- true
            let steps = ResizeArray<int array>(n)
            let mutable next = n
            let mutable flops = 0.0
            let mutable largest = 1.0
            let mutable write = 0.0
            let kept = ResizeArray<int>()
            // Walks the union of two sorted index lists; returns (result size, involved size, any summed) and
            // leaves the result's indices in `kept`.
            let merge (a: int) (b: int) =
                let ia = idx[a]
                let ib = idx[b]
                kept.Clear()
                let mutable outSize = 1.0
                let mutable involved = 1.0
                let mutable summed = false
                let mutable x = 0
                let mutable y = 0
                while x < ia.Length || y < ib.Length do
                    let i, c =
                        if y >= ib.Length || (x < ia.Length && ia[x] < ib[y]) then
                            x <- x + 1
                            ia[x - 1], 1
                        elif x >= ia.Length || ib[y] < ia[x] then
                            y <- y + 1
                            ib[y - 1], 1
                        else
                            x <- x + 1
                            y <- y + 1
                            ia[x - 1], 2
                    involved <- involved * sz[i]
                    if p.IsOutput[i] || carriers[i].Count > c then
                        kept.Add i
                        outSize <- outSize * sz[i]
                    else
                        summed <- true
                struct (outSize, involved, summed)
            let pq = PriorityQueue<struct (int * int), struct (float * int)>()
            let mutable counter = 0
            let push a b =
                let struct (outSize, _, _) = merge a b
                if outSize <= limit then
                    let c = outSize - alpha * (size[a] + size[b])
                    let c =
                        if temperature > 0.0 then
                            let g = float (sign c) * Math.Log2(1.0 + abs c)
                            let u = max 1e-300 (rng.NextDouble())
                            g + temperature * Math.Log(-Math.Log u)
                        else
                            c
                    counter <- counter + 1
                    pq.Enqueue(struct (a, b), struct (c, counter))
            let contract a b =
                let struct (outSize, involved, summed) = merge a b
                let v = next
                next <- next + 1
                idx[v] <- kept.ToArray()
                size[v] <- outSize
                live[v] <- true
                live[a] <- false
                live[b] <- false
                for i in idx[a] do
                    carriers[i].Remove a |> ignore
                for i in idx[b] do
                    carriers[i].Remove b |> ignore
                for i in idx[v] do
                    carriers[i].Add v |> ignore
                steps.Add [| a; b |]
                flops <- flops + involved * (if summed then 2.0 else 1.0)
                largest <- max largest outSize
                write <- write + outSize
                v
            let seen = HashSet<int>()
            let neighbours v =
                seen.Clear()
                for i in idx[v] do
                    if carriers[i].Count <= hyperFanout then
                        for u in carriers[i] do
                            if u <> v && seen.Add u then
                                ()
                seen |> Seq.sort |> Seq.toArray
            for t in 0 .. n - 1 do
                for u in neighbours t do
                    if u > t then push t u
            while pq.Count > 0 do
                let struct (a, b) = pq.Dequeue()
                if live[a] && live[b] then
                    let v = contract a b
                    for u in neighbours v do
                        push u v
            // Whatever is left (disconnected parts, hyperindex-only links, pairs over the limit) joins smallest first.
            let rest = PriorityQueue<int, struct (float * int)>()
            for v in 0 .. next - 1 do
                if live[v] then rest.Enqueue(v, struct (size[v], v))
            while rest.Count > 1 do
                let a = rest.Dequeue()
                let b = rest.Dequeue()
                let v = contract a b
                rest.Enqueue(v, struct (size[v], v))
            { Tree = { Leaves = n; Steps = steps.ToArray() }
              Flops = flops
              Largest = largest
              Write = write }

    let private limitOf (o: PlanOptions) =
        match o.MemoryLimit with
        | Some l -> float l
        | None -> Double.PositiveInfinity

    /// `greedy`: one deterministic run of cheapest-pair-first.
    let greedy: Optimizer =
        fun p o ->
            { Tree = Some (run p (limitOf o) 1.0 0.0 (Random 0)).Tree
              Notes = [] }

    /// The best of many greedy runs with random cost weights and Boltzmann-sampled choices (trial 0 is plain
    /// greedy). Trial t uses its own generator seeded from (seed, t), so the result does not depend on threads;
    /// `Trials` caps the runs; with a time budget, trials stop starting when it is spent.
    let randomGreedyRun (p: Indexed) (o: PlanOptions) : Run =
        let limit = limitOf o
        let trials = max 1 o.Trials
        let clock = Stopwatch.StartNew()
        let results = Array.zeroCreate<Run option> trials
        let trial t =
            let rng = Random(o.Seed * 1000003 + t * 7919)
            if t = 0 then
                run p limit 1.0 0.0 rng
            else
                let alpha = 0.5 + 1.5 * rng.NextDouble()
                let temperature = Math.Exp(Math.Log 0.01 + (Math.Log 1.0 - Math.Log 0.01) * rng.NextDouble())
                run p limit alpha temperature rng
        let count = trials
        let spent () =
            match o.TimeLimitMs with
            | Some ms -> clock.ElapsedMilliseconds >= int64 ms
            | None -> false
        let body t (state: ParallelLoopState) =
            if t > 0 && spent () then state.Stop() else results[t] <- Some(trial t)
        if o.Parallel then
            Parallel.For(0, count, Action<int, ParallelLoopState>(body)) |> ignore
        else
            let mutable t = 0
            while t < count && (t = 0 || not (spent ())) do
                results[t] <- Some(trial t)
                t <- t + 1
        results
        |> Seq.truncate count
        |> Seq.choose id
        |> Seq.minBy (fun r -> score o.Objective r)

    /// `random-greedy`: see `randomGreedyRun`.
    let randomGreedy: Optimizer =
        fun p o ->
            { Tree = Some (randomGreedyRun p o).Tree
              Notes = [] }
