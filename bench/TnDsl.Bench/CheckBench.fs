/// Benchmark of the front end: time to read, parse, elaborate and check example networks at full size.
module TnDsl.Bench.CheckBench

open System
open System.Diagnostics
open System.IO
open TnDsl

let private median (xs: float list) =
    let s = List.sort xs
    s[s.Length / 2]

/// Times `tn check` work (compileFile) on each case: the first (cold) run and the median of warm runs, with a
/// baseline measured in the same run (parsing alone) so that figures can be read as ratios on a noisy machine.
let run (examples: string) (repeats: int) =
    let cases =
        [ "born-machine.tn (n=784)", "born-machine.tn", [ "n", "784" ]
          "mps.tn (n=784)", "mps.tn", [ "n", "784" ]
          "peps.tn (32x32)", "peps.tn", [ "Lx", "32"; "Ly", "32" ]
          "qcnn.tn (16x16)", "qcnn.tn", [] ]
    printfn "%-26s %8s %10s %10s %12s %10s" "network" "tensors" "cold ms" "warm ms" "parse-only ms" "ratio"
    for (label, file, overrides) in cases do
        let path = Path.Combine(examples, file)
        let options = { Compiler.defaultOptions with Overrides = overrides }
        let time f =
            let sw = Stopwatch.StartNew()
            let r = f ()
            sw.Stop()
            r, sw.Elapsed.TotalMilliseconds
        let first, cold = time (fun () -> Compiler.compileFile path options)
        if first.HasErrors then failwithf "%s does not check clean" file
        let warm = [ for _ in 1..repeats -> snd (time (fun () -> Compiler.compileFile path options)) ] |> median
        let text = File.ReadAllText path
        let parse = [ for _ in 1..repeats -> snd (time (fun () -> Parse.parseText path text)) ] |> median
        printfn "%-26s %8d %10.1f %10.2f %12.3f %10.1f" label first.Network.Value.Tensors.Length cold warm parse (warm / max parse 1e-3)

/// `tn check` at scale: MPS chains (`mps.tn --set n=N`, whose half cut is declared) and L×L PEPS grids
/// (`peps.tn --set Lx=L,Ly=L`, whose left|right cut is declared), up to 10^6 tensors. For each: the front end
/// (read, parse, elaborate, check: `Compiler.compileFile`), the declared cuts' bounds (what `tn check` prints under
/// the summary), bytes allocated and the process's peak working set; and as the baseline of the same run, the same
/// flat network built directly in code (arrays of tensors and indices, no source), the least any front end must do.
/// Arguments: sizes as `mps=N` or `peps=L` (default mps=10^4,10^5,10^6 and peps=100,316,1000); `quick` stops at
/// 10^5 tensors. The front end runs on one thread.
let scale (examples: string) (args: string array) =
    let quick = args |> Array.contains "quick"
    let cases =
        Measure.scaleCases args
            [ "mps", 10_000; "mps", 100_000; "peps", 100; "peps", 316
              if not quick then
                  "mps", 1_000_000
                  "peps", 1000 ]
    printfn "tn check at scale (front end on 1 thread; %d cores here, load average at start %s)" Environment.ProcessorCount
        (try (File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?")
    // CPU time is the steadier figure on a shared machine; the ratio is CPU time against the direct build's.
    printfn "%-18s %8s %9s %9s %9s %9s %9s %8s %10s %8s %10s" "network" "tensors" "check ms" "cpu ms" "cpu us/t" "alloc MB" "cuts ms" "cuts cpu" "direct cpu" "ratio" "gen2 GCs"
    for (kind, size) in cases do
        let file, overrides, direct =
            match kind with
            | "mps" -> "mps.tn", [ "n", string size ], (fun () -> CutsBench.mps size 2L 8L)
            | "peps" -> "peps.tn", [ "Lx", string size; "Ly", string size ], (fun () -> CutsBench.peps size 2L 3L)
            | other -> failwithf "unknown case %s (use mps=N or peps=L)" other
        GC.Collect()
        let options = { Compiler.defaultOptions with Overrides = overrides }
        let r, wall, cpu, alloc, gcs = Measure.timeAlloc (fun () -> Compiler.compileFile (Path.Combine(examples, file)) options)
        let net =
            match r.Network with
            | Some n -> n
            | None -> failwithf "%s %A does not check clean: %A" file overrides (r.Diagnostics |> List.truncate 3 |> List.map Diagnostic.headline)
        let (reports, _), cutsWall, cutsCpu, _, _ = Measure.timeAlloc (fun () -> MinCut.evaluateAllWith PrimeExponent net)
        if reports.IsEmpty then failwithf "%s declares no cut" file
        let label = sprintf "%s %s" kind (if kind = "mps" then sprintf "n=%d" size else sprintf "%dx%d" size size)
        let tensors = net.Tensors.Length
        GC.Collect()
        let _, _, directCpu, _, _ = Measure.timeAlloc direct
        printfn "%-18s %8d %9.0f %9.0f %9.1f %9.0f %9.0f %8.0f %10.0f %8.1f %10d" label tensors wall cpu (1000.0 * cpu / float tensors)
            (float alloc / 1048576.0) cutsWall cutsCpu directCpu (cpu / max directCpu 1e-3) gcs
    Process.GetCurrentProcess().Refresh()
    printfn "peak working set of the process: %.0f MB" (float (Process.GetCurrentProcess().PeakWorkingSet64) / 1048576.0)
    0

/// `tn check` phase by phase at scale, as the check command runs them: the front end (`Compiler.compileFile`, which
/// ends with the checks), the checks again on their own (`Check.check`), the result and summary the command prints
/// (counts, the five leg names it shows, parameters) and the declared cuts' bounds; then, for comparison, what the
/// command does not do in text mode (every leg's name, which `--json` writes, and `tn cuts`'s general flow graph).
/// Each line is CPU and wall milliseconds, MB allocated and full collections on one thread; the line `after
/// elaboration` sums what `tn check` does once the network is elaborated. Arguments as `check-scale` (`mps=N`,
/// `peps=L`).
let afterElaboration (examples: string) (args: string array) =
    let cases = Measure.scaleCases args [ "mps", 1_000_000; "peps", 1000 ]
    printfn "tn check by phase (1 thread; load average at start %s)" (try (File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?")
    printfn "%-16s %-28s %9s %9s %9s %9s" "network" "phase" "cpu ms" "wall ms" "alloc MB" "gen2 GCs"
    for (kind, size) in cases do
        let file, overrides = Measure.scaleFile kind size
        let label = sprintf "%s %s" kind (if kind = "mps" then sprintf "n=%d" size else sprintf "%dx%d" size size)
        GC.Collect()
        let mutable after = 0.0
        let phase name counts f =
            let r, wall, cpu, alloc, gcs = Measure.timeAlloc f
            if counts then after <- after + cpu
            printfn "%-16s %-28s %9.0f %9.0f %9.0f %9d" label name cpu wall (float alloc / 1048576.0) gcs
            r
        let options = { Compiler.defaultOptions with Overrides = overrides }
        let r = phase "front end (with checks)" false (fun () -> Compiler.compileFile (Path.Combine(examples, file)) options)
        let e = r.Elaborated.Value
        if Environment.GetEnvironmentVariable "TN_BENCH_COLLECT" = "1" then phase "full GC (experiment)" true (fun () -> GC.Collect()) |> ignore
        phase "checks (Check.check)" true (fun () -> Check.check e) |> ignore
        let result = phase "result (diagnostics)" true (fun () -> TnDsl.Api.CheckResult(r, file))
        let summary = phase "summary counts" true (fun () ->
            let s = result.SummaryOrNull
            s.Tensors + s.Weights + s.Inputs + s.Constants + s.Indices + s.Bonds + s.Hyperindices + s.OpenLegs |> ignore
            s)
        phase "summary open legs (text)" true (fun () -> [ 0; 1; 2; 3; summary.OpenLegs - 1 ] |> List.map summary.OpenLegName) |> ignore
        phase "summary parameters" true (fun () -> summary.TrainableTensors, summary.TrainableScalars) |> ignore
        phase "declared cuts (tn check)" true (fun () ->
            TnDsl.MinCutApi.Declared summary.Network |> Array.map (fun c -> c.Bits, c.TrivialBits, c.Tighter)) |> ignore
        // Not part of `tn check` (text): the names `--json` writes, and the general flow graph `tn cuts` builds.
        phase "open leg names (--json)" false (fun () -> summary.OpenLegNames.Length) |> ignore
        let net = r.Network.Value
        phase "cut graph (tn cuts)" false (fun () -> CutGraph.build net) |> ignore
        printfn "%-16s %-28s %9.0f" label "after elaboration" after
    0
