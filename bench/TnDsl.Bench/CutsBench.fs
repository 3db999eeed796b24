/// Times the min-cut profile of a 784-site MPS and a 32×32 PEPS, built in code.
module TnDsl.Bench.CutsBench

open System
open System.Diagnostics
open TnDsl

let private index id name family subs dim =
    ignore (name: string)
    { Id = id; Family = family; Subscripts = subs; Dim = Fixed dim; Kind = Bond; Range = Range.none }

let private tensor id name family subs legs =
    { Id = id; Family = family; Subscripts = subs; Role = Weight; Tie = Some name; Legs = Array.ofList legs
      Init = None; Embedding = None; Range = Range.none }

let private network name indices tensors output =
    { Name = name; Parameters = []; Tensors = Array.ofList tensors; Indices = Array.ofList indices
      Output = output; Cuts = []; Range = Range.none }

/// An open-boundary MPS (the born machine's shape): n sites, physical dimension d, bond dimension chi.
let mps n d chi =
    // Index ids: p[k] = k, b[k] = n + k.
    let indices =
        [ for k in 0 .. n - 1 -> index k (sprintf "p[%d]" k) "p" [ k ] d ]
        @ [ for k in 0 .. n - 2 -> index (n + k) (sprintf "b[%d]" k) "b" [ k ] chi ]
    let tensors =
        [ for k in 0 .. n - 1 ->
              tensor k (sprintf "A[%d]" k) "A" [ k ] [ if k > 0 then n + k - 1
                                                       k
                                                       if k < n - 1 then n + k ] ]
    network "mps" indices tensors [ 0 .. n - 1 ]

/// An L×L PEPS: physical dimension d, bond dimension D, output p[x,y] in row-major order.
let peps l d bond =
    let cell x y = x * l + y
    let h x y = l * l + x * (l - 1) + y
    let v x y = l * l + l * (l - 1) + x * l + y
    let indices =
        [ for x in 0 .. l - 1 do for y in 0 .. l - 1 -> index (cell x y) (sprintf "p[%d,%d]" x y) "p" [ x; y ] d ]
        @ [ for x in 0 .. l - 1 do for y in 0 .. l - 2 -> index (h x y) (sprintf "h[%d,%d]" x y) "h" [ x; y ] bond ]
        @ [ for x in 0 .. l - 2 do for y in 0 .. l - 1 -> index (v x y) (sprintf "v[%d,%d]" x y) "v" [ x; y ] bond ]
    let tensors =
        [ for x in 0 .. l - 1 do
              for y in 0 .. l - 1 ->
                  tensor (cell x y) (sprintf "T[%d,%d]" x y) "T" [ x; y ]
                      [ cell x y
                        if y > 0 then h x (y - 1)
                        if y < l - 1 then h x y
                        if x > 0 then v (x - 1) y
                        if x < l - 1 then v x y ] ]
    network "peps" indices tensors [ 0 .. l * l - 1 ]

let private time label (f: unit -> 'a) =
    // Wall and CPU time of a cold run and of the best of three warm runs (CPU time is steadier on a shared machine).
    let r, cold, coldCpu = Measure.timeCpu f
    let warm = [ for _ in 1..3 -> Measure.timeCpu f ] |> List.minBy (fun (_, w, _) -> w)
    let _, w, c = warm
    printfn "%-56s cold %8.1f ms (cpu %8.1f)   warm %8.1f ms (cpu %8.1f)" label cold coldCpu w c
    r

/// The examples at full size through the front end: the profile of each, and the declared cuts that `tn check`
/// evaluates, with the flow-graph construction alone as the baseline of the same run.
let private examples (dir: string) =
    let compile file overrides =
        let r = Compiler.compileFile (IO.Path.Combine(dir, file)) { Compiler.defaultOptions with Overrides = overrides }
        match r.Network with
        | Some n -> n
        | None -> failwithf "%s does not check" file
    let born = compile "born-machine.tn" []
    let bp = time "born-machine.tn (784 sites): full profile" (fun () -> MinCut.profile born)
    printfn "  %d splits: its only open leg is the batch, which is conditioned on" bp.Length
    let amp = compile "mps.tn" [ "n", "784"; "chi", "30" ]
    let ap = time "mps.tn n=784 chi=30 (the born machine's MPS): profile" (fun () -> MinCut.profile amp)
    printfn "  %d splits" ap.Length
    let _ = time "mps.tn n=784: flow graph alone (baseline)" (fun () -> CutGraph.build amp)
    let _ = time "mps.tn n=784: declared cuts (tn check lines)" (fun () -> MinCut.evaluateAllWith PrimeExponent amp)
    let grid = compile "peps.tn" [ "Lx", "32"; "Ly", "32"; "D", "4" ]
    let gp = time "peps.tn 32x32 D=4: full profile" (fun () -> MinCut.profile grid)
    printfn "  %d splits (%d row splits, %d column splits, halves among them)" gp.Length
        (gp |> List.filter (fun e -> e.Kind = Rows) |> List.length) (gp |> List.filter (fun e -> e.Kind = Columns) |> List.length)
    time "peps.tn 32x32: flow graph alone (baseline)" (fun () -> CutGraph.build grid) |> ignore

/// Runs the benchmark and prints cold and warm times.
let run (args: string array) =
    let dir = if args.Length > 0 then args[0] else IO.Path.Combine(IO.Directory.GetCurrentDirectory(), "examples")
    if IO.Directory.Exists dir then examples dir else printfn "(examples not found at %s: pass the folder)" dir
    let m = mps 784 2L 30L
    let p = peps 32 2L 4L
    let mp = time "MPS 784 sites d=2 chi=30: full profile" (fun () -> MinCut.profile m)
    printfn "  %d cuts, largest bound %O" mp.Length (mp |> List.map (fun e -> e.Report.Bound) |> List.max)
    let pp = time "PEPS 32x32 d=2 D=4: rows, columns, interleaved" (fun () -> MinCut.profile p)
    printfn "  %d cuts, half (rows ..15 | 16..) bound 2^%.0f" pp.Length ((pp |> List.find (fun e -> e.Kind = Rows && e.Position = 16)).Report.Bits)
    // The same PEPS splits through QuikGraph's Edmonds–Karp, for comparison with the exact engine.
    let g = CutGraph.build p
    let viaQuikGraph () =
        pp |> List.map (fun e -> MinCut.evaluateWith QuikGraphEdmondsKarp g "q" Range.none e.Report.Left e.Report.Right)
    let _ = time "PEPS 32x32 profile via QuikGraph Edmonds-Karp" viaQuikGraph
    let _ = time "MPS 784: oversized-bond check" (fun () -> MinCut.oversized m)
    let _ = time "PEPS 32x32: oversized-bond check" (fun () -> MinCut.oversized p)
    0

/// Min-cut time against network size on chains (an MPS of n sites, d = 2, chi = 8, with its half cut declared as
/// `tn check` evaluates it) and grids (an L×L PEPS, D = 2): the declared cut through the exact engine and through
/// QuikGraph, the oversized-bond check and the whole profile (`tn cuts --profile`: every contiguous split solved as
/// one nested family, and the odd | even split), each next to the flow-graph construction of the same run as the
/// linear baseline. Near-linear means the ratio to the baseline stays flat as n grows. The profile is also set
/// against the method it replaced, one exact flow per split on the whole graph, timed in the same run on 100
/// evenly spaced splits and scaled to all n − 1 (running it on every split takes minutes at n = 20,000).
/// Times are wall and CPU milliseconds on the calling thread's process (run it with one thread's worth of load).
let scaling (args: string array) =
    let sizes = if args.Length > 0 then args |> Array.map int |> List.ofArray else [ 2000; 20000; 60000 ]
    let once label (f: unit -> 'a) =
        let r, wall, cpu = Measure.timeCpu f
        printfn "  %-52s %9.1f ms (cpu %9.1f)" label wall cpu
        r, cpu
    for n in sizes do
        let m = mps n 2L 8L
        let half = { Name = "half"; Left = [ 0 .. n / 2 - 1 ]; Right = [ n / 2 .. n - 1 ]; Range = Range.none }
        let m = { m with Cuts = [ half ] }
        printfn "MPS n=%d d=2 chi=8" n
        let g, build = once "flow graph alone (baseline)" (fun () -> CutGraph.build m)
        let (reports, _), exact = once "declared half cut, exact engine (tn check)" (fun () -> MinCut.evaluateAllWith PrimeExponent m)
        let _, quik = once "declared half cut, QuikGraph (tn cuts)" (fun () -> MinCut.evaluateWith QuikGraphEdmondsKarp g "half" Range.none half.Left half.Right)
        let (over, _), overMs = once "oversized-bond check (tn cuts)" (fun () -> MinCut.oversized m)
        let profile, profileMs = once "profile: nested family + odd|even (tn cuts --profile)" (fun () -> MinCut.profile m)
        let sample = [ for j in 1 .. 100 -> j * (n - 1) / 101 + 1 ] |> List.distinct
        let _, aloneSample =
            once (sprintf "one flow per split, %d splits (the old profile)" sample.Length) (fun () ->
                for k in sample do
                    MinCut.evaluateWith PrimeExponent g "k" Range.none [ 0 .. k - 1 ] [ k .. n - 1 ] |> ignore)
        let alone = aloneSample / float sample.Length * float (n - 1)
        printfn "  bound %O; %d oversized bonds; %d profile entries; per site: exact %.2f us, oversized %.2f us, profile %.2f us (cpu)"
            reports.Head.Bound over.Length profile.Length (1000.0 * exact / float n) (1000.0 * overMs / float n) (1000.0 * profileMs / float n)
        printfn "  cpu ratio to the graph: exact %.2f, QuikGraph %.2f, oversized %.2f, profile %.2f" (exact / build) (quik / build) (overMs / build) (profileMs / build)
        printfn "  profile: nested %.0f ms cpu against one flow per split %.0f ms cpu (scaled from %d splits): %.1fx faster"
            profileMs alone sample.Length (alone / max profileMs 1e-3)
    for l in [ 50; 100; 200 ] do
        let p = peps l 2L 2L
        printfn "PEPS %dx%d d=2 D=2 (%d sites)" l l (l * l)
        let _, build = once "flow graph alone (baseline)" (fun () -> CutGraph.build p)
        let (over, _), overMs = once "oversized-bond check" (fun () -> MinCut.oversized p)
        let profile, profileMs = once "profile: row and column families + 3 interleaved" (fun () -> MinCut.profile p)
        printfn "  %d oversized bonds; %d profile entries; per site: oversized %.2f us, profile %.2f us (cpu); cpu ratio to the graph: %.2f, %.2f"
            over.Length profile.Length (1000.0 * overMs / float (l * l)) (1000.0 * profileMs / float (l * l)) (overMs / build) (profileMs / build)
    0
