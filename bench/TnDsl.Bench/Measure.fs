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

/// A problem a benchmark built, indexed for the planner; one that does not index is a bug in the benchmark.
let index (p: Problem) =
    match Problem.index Range.none p with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds
