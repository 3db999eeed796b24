/// What the benchmarks share: timing a call by wall clock and CPU, and indexing a problem they built.
module TnDsl.Bench.Measure

open System.Diagnostics
open TnDsl

/// A call's result with its wall-clock and CPU milliseconds (CPU time is steadier than wall time on a shared machine).
let timeCpu (f: unit -> 'a) =
    let proc = Process.GetCurrentProcess()
    proc.Refresh()
    let cpu0 = proc.TotalProcessorTime
    let clock = Stopwatch.StartNew()
    let r = f ()
    let wall = clock.Elapsed.TotalMilliseconds
    proc.Refresh()
    r, wall, (proc.TotalProcessorTime - cpu0).TotalMilliseconds

/// CPU seconds of one call of `f`, repeated (doubling) until the calls take 0.3 s; the first call, which may
/// compile, left out.
let cpuPerCall (f: unit -> unit) =
    f ()
    let mutable reps = 1
    let mutable cpu = 0.0
    while cpu < 300.0 do
        let _, _, c = timeCpu (fun () -> for _ in 1 .. reps do f ())
        cpu <- c
        if cpu < 300.0 then reps <- reps * 2
    cpu / 1000.0 / float reps

/// A call's result with its wall-clock and CPU milliseconds, the bytes it allocated and the gen-2 collections it
/// caused.
let timeAlloc (f: unit -> 'a) =
    let gen2 = System.GC.CollectionCount 2
    let alloc0 = System.GC.GetTotalAllocatedBytes true
    let (r, wall, cpu) = timeCpu f
    r, wall, cpu, System.GC.GetTotalAllocatedBytes true - alloc0, System.GC.CollectionCount 2 - gen2

/// The `tn check` benchmarks' networks from their arguments: `mps=N` (`mps.tn --set n=N`) and `peps=L`
/// (`peps.tn --set Lx=L,Ly=L`), or `fallback` when none is given.
let scaleCases (args: string array) (fallback: (string * int) list) =
    let given = args |> Array.filter (fun a -> a.Contains "=")
    if given.Length > 0 then given |> Array.map (fun a -> let p = a.Split '=' in p[0], int p[1]) |> List.ofArray
    else fallback

/// The example file and parameter overrides of a `scaleCases` case.
let scaleFile (kind: string) (size: int) =
    match kind with
    | "mps" -> "mps.tn", [ "n", string size ]
    | "peps" -> "peps.tn", [ "Lx", string size; "Ly", string size ]
    | other -> failwithf "unknown case %s (use mps=N or peps=L)" other

/// A problem a benchmark built, indexed for the planner; one that does not index is a bug in the benchmark.
let index (p: Problem) =
    match Problem.index Range.none p with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds
