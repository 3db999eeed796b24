/// The planning benchmark: builds standard networks directly (no front end) and prints, for each optimizer,
/// its search time, flops and largest intermediate.
module TnDsl.Bench.PlanBench

open System
open System.Diagnostics
open TnDsl
open TnDsl.Bench.Measure

/// The born-machine MPS: `sites` tensors A_k(b_{k-1} p_k b_k) of bond chi, and one-hot inputs x_k(batch p_k)
/// that all share the batch hyperindex; the output is the batch.
let bornMachine sites chi batch =
    let b k = sprintf "b%d" k
    let p k = sprintf "p%d" k
    let site k =
        [| if k > 0 then b (k - 1)
           p k
           if k < sites - 1 then b k |]
    let mps = Array.init sites site
    let inputs = [| for k in 0 .. sites - 1 -> [| "batch"; p k |] |]
    let sizes = [ yield "batch", int64 batch
                  for k in 0 .. sites - 1 do
                      yield p k, 2L
                      yield b k, int64 chi ] |> Map.ofList
    { Problem.create None (Array.append mps inputs) sizes [| "batch" |] with
        Trainable = Array.init (2 * sites) (fun t -> t < sites) }

/// A rows × cols PEPS with bond D and open physical legs of size d (the output).
let peps rows cols bond d =
    let tensors =
        [| for r in 0 .. rows - 1 do
               for c in 0 .. cols - 1 do
                   [| sprintf "s%d_%d" r c
                      if r > 0 then sprintf "v%d_%d" (r - 1) c
                      if c > 0 then sprintf "h%d_%d" r (c - 1)
                      if c < cols - 1 then sprintf "h%d_%d" r c
                      if r < rows - 1 then sprintf "v%d_%d" r c |] |]
    let names = tensors |> Array.concat |> Array.distinct
    let sizes = names |> Array.map (fun n -> n, (if n.StartsWith "s" then int64 d else int64 bond)) |> Map.ofArray
    Problem.create None tensors sizes (names |> Array.filter (fun n -> n.StartsWith "s"))

/// A binary MERA over 2^levels sites (physical d = 2, bonds min(chi, in²)) contracted with one input vector
/// per site: disentanglers u on neighbouring pairs (open ends), isometries w joining pairs, a top vector.
let mera levels chi =
    let tensors = ResizeArray<string array>()
    let sizes = Collections.Generic.Dictionary<string, int64>()
    let mutable fresh = 0
    let leg size =
        fresh <- fresh + 1
        let name = sprintf "m%d" fresh
        sizes[name] <- size
        name
    let mutable legs = Array.init (1 <<< levels) (fun _ -> leg 2L)
    for l in legs do
        tensors.Add [| l |]
    while legs.Length > 1 do
        let inSize = sizes[legs[0]]
        let next = Array.copy legs
        for j in 1 .. 2 .. legs.Length - 3 do
            let a = leg inSize
            let b = leg inSize
            tensors.Add [| legs[j]; legs[j + 1]; a; b |]
            next[j] <- a
            next[j + 1] <- b
        let outSize = min (int64 chi) (inSize * inSize)
        legs <-
            [| for m in 0 .. next.Length / 2 - 1 ->
                   let o = leg outSize
                   tensors.Add [| next[2 * m]; next[2 * m + 1]; o |]
                   o |]
    tensors.Add [| legs[0] |]
    Problem.create None (tensors.ToArray()) (sizes |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq) [||]

/// A random 3-regular graph of n tensors (pairing model with rejection, seeded) with bonds of size d.
let randomRegular n d seed =
    let rng = Random(seed: int)
    let rec attempt () =
        let stubs = Array.init (3 * n) (fun k -> k / 3)
        for k in stubs.Length - 1 .. -1 .. 1 do
            let j = rng.Next(k + 1)
            let t = stubs[k]
            stubs[k] <- stubs[j]
            stubs[j] <- t
        let edges = [ for k in 0 .. 2 .. stubs.Length - 1 -> min stubs[k] stubs[k + 1], max stubs[k] stubs[k + 1] ]
        if edges |> List.exists (fun (a, b) -> a = b) || (edges |> List.distinct).Length < edges.Length then attempt ()
        else edges
    let edges = attempt () |> Array.ofList
    let legs t =
        [| for e in 0 .. edges.Length - 1 do
               let (a, b) = edges[e]
               if a = t || b = t then sprintf "e%d" e |]
    let tensors = Array.init n legs
    Problem.create None tensors (Array.init edges.Length (fun e -> sprintf "e%d" e, int64 d) |> Map.ofArray) [||]

let private timeIt f =
    let clock = Stopwatch.StartNew()
    let r = f ()
    r, clock.Elapsed.TotalMilliseconds

let private row (label: string) (p: Indexed) (name: string) (o: PlanOptions) =
    let r, ms, cpu = timeCpu (fun () -> Plan.run name o p)
    match r.Cost with
    | Some c ->
        let failed = if Plan.succeeded r then "" else "  (failed: " + String.Join("; ", r.Diagnostics |> List.map (fun d -> d.Message)) + ")"
        let notes = r.Diagnostics |> List.filter (fun d -> d.Kind.Level <> Level.Error) |> List.map (fun d -> d.Message)
        printfn "  %-26s %-14s %10.1f ms (cpu %8.1f ms)   flops %-11s log10 %7.2f   largest %s%s%s" label name ms cpu
            (PlanReport.sci c.Flops) (Numerics.BigInteger.Log10 c.Flops) (PlanReport.sci c.LargestIntermediate) failed
            (if notes.IsEmpty then "" else "  [" + String.Join("; ", notes) + "]")
    | None -> printfn "  %-26s %-14s %10.1f ms   no plan: %A" label name ms (r.Diagnostics |> List.map (fun d -> d.Message))

/// Exact search against size: tensors vs wall time of `optimal` (no fallback: a search past its budget says so),
/// on random 3-regular graphs (bond 2, three seeds per size), lattices and random 3-regular graphs with bond 4.
/// `budget=MS` (default 10000) bounds each search.
let exactScaling (args: string array) =
    let budget =
        args |> Array.tryPick (fun a -> if a.StartsWith "budget=" then Some(int (a.Substring 7)) else None) |> Option.defaultValue 10000
    let o = { PlanOptions.defaults with TimeLimitMs = Some budget; Parallel = false }
    printfn "exact search against size (optimal, budget %d ms, threads 1):" budget
    printfn "  %-28s %7s %10s %10s %12s %12s" "network" "tensors" "wall ms" "cpu ms" "flops" "rg flops"
    let case label (p: Indexed) =
        let r, ms, cpu = timeCpu (fun () -> (Plan.run "optimal" o p))
        let rg = Plan.run "random-greedy" { o with TimeLimitMs = None } p
        let flops =
            match r.Cost, r.Diagnostics with
            | _, d :: _ when d.Kind = PlanDiagnostics.tooLarge -> "gave up: " + d.Message
            | Some c, _ -> PlanReport.sci c.Flops
            | None, _ -> "no tree"
        printfn "  %-28s %7d %10.1f %10.1f %12s %12s" label p.Inputs.Length ms cpu flops (PlanReport.sci rg.Cost.Value.Flops)
    let sizes =
        args |> Array.tryPick (fun a -> if a.StartsWith "n=" then Some [ int (a.Substring 2) ] else None)
        |> Option.defaultValue [ 20; 24; 26; 28; 30; 32; 34; 36; 40 ]
    for n in sizes do
        for seed in 1 .. 3 do
            case (sprintf "3-regular n=%d seed=%d" n seed) (index (randomRegular n 2 (n * 100 + seed)))
    if sizes.Length > 1 then
      for n in [ 30; 36 ] do
        case (sprintf "3-regular n=%d d=4" n) (index (randomRegular n 4 (n * 100 + 1)))
    if sizes.Length > 1 then
      for (r, c) in [ (5, 6); (6, 6); (6, 7) ] do
        case (sprintf "lattice %dx%d D=2 (open d=2)" r c) (index (peps r c 2 2))

/// Prints the planning benchmark. Arguments: `quick` skips the 32x32 PEPS, `exact` runs only the exact search.
let run (args: string array) =
    let quick = args |> Array.contains "quick"
    let exactOnly = args |> Array.contains "exact"
    printfn "planning benchmark (%d cores, %s)" Environment.ProcessorCount
        (if Runtime.GCSettings.IsServerGC then "server GC" else "workstation GC")
    // Warm up the JIT so the first figures are search time, not compilation.
    let warm = index (randomRegular 16 2 1)
    for name in Plan.names do
        Plan.run name PlanOptions.defaults warm |> ignore
    let o = PlanOptions.defaults
    let all label problem names =
        let p = index problem
        printfn "%s: %d tensors, %d indices" label p.Inputs.Length p.IndexNames.Length
        for name in names do
            row label p name o
    let large = [ "greedy"; "random-greedy"; "partition"; "auto" ]
    if not exactOnly then
        all "born-machine 784 chi=30 batch=1000" (bornMachine 784 30 1000) large
        // The baseline: the order a person writes (each input into its site, then one sweep with the batch).
        let bm = index (bornMachine 784 30 1000)
        let steps = ResizeArray<int array>()
        let absorbed = [| for k in 0 .. 783 -> (steps.Add [| 784 + k; k |]; 1568 + steps.Count - 1) |]
        let mutable acc = absorbed[0]
        for k in 1 .. 783 do
            steps.Add [| acc; absorbed[k] |]
            acc <- 1568 + steps.Count - 1
        let handFlops = Cost.flops bm (ContractionTree.ofSsa 1568 (steps.ToArray()))
        let greedyFlops = (Plan.run "greedy" o bm).Cost.Value.Flops
        printfn "  %-26s %-14s flops %s; greedy / hand order = %.3f" "born-machine hand order" "(baseline)"
            (PlanReport.sci handFlops) (float greedyFlops / float handFlops)
        all "PEPS 16x16 D=4 d=2" (peps 16 16 4 2) large
        if not quick then all "PEPS 32x32 D=4 d=2" (peps 32 32 4 2) large
        all "MERA 2^10 chi=4" (mera 10 4) large
        for n in [ 20; 50; 100; 200; 500 ] do
            let names = if n <= 24 then "optimal" :: large else large
            all (sprintf "random 3-regular n=%d d=2" n) (randomRegular n 2 n) names
    printfn "exact search on random 3-regular graphs (d=2):"
    for n in [ 20; 22; 24 ] do
        let p = index (randomRegular n 2 (1000 + n))
        for name in [ "optimal"; "random-greedy" ] do
            row (sprintf "random 3-regular n=%d" n) p name o
    if exactOnly then exactScaling args
    printfn "random-greedy at 200 tensors, 128 trials, serial vs parallel, against greedy:"
    let p200 = index (randomRegular 200 2 200)
    row "random 3-regular n=200" p200 "greedy" o
    row "random 3-regular n=200" p200 "random-greedy" { o with Parallel = false }
    row "random 3-regular n=200" p200 "random-greedy" o
    0
