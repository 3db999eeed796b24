/// Times the min-cut profile of a 784-site MPS and a 32×32 PEPS, built in code.
module TnDsl.Bench.CutsBench

open System.Diagnostics
open TnDsl

let private index id name family subs dim =
    { Id = id; Name = name; Family = family; Subscripts = subs; Dim = Fixed dim; Kind = Bond; Range = Range.none }

let private tensor id name family subs legs =
    { Id = id; Name = name; Family = family; Subscripts = subs; Role = Weight; Param = name; Legs = legs
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
    let sw = Stopwatch.StartNew()
    let r = f ()
    let cold = sw.Elapsed.TotalMilliseconds
    sw.Restart()
    let r2 = f ()
    let warm = sw.Elapsed.TotalMilliseconds
    printfn "%-44s cold %9.1f ms   warm %9.1f ms" label cold warm
    r2 |> ignore
    r

/// Runs the benchmark and prints cold and warm times.
let run (_: string array) =
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
