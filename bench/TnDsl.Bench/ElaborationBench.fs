/// Benchmark of `tn check`'s front end phase by phase at scale: parsing, elaboration (loops, families and legs to the
/// flat network) and the checks on the flat network, each timed apart, so that elaboration's share can be followed.
module TnDsl.Bench.ElaborationBench

open System
open System.Diagnostics
open System.IO
open TnDsl

/// Parse, elaborate and check `mps.tn --set n=N` and `peps.tn --set Lx=L,Ly=L` (arguments `mps=N`, `peps=L`; by
/// default mps=1000000 and peps=1000, 10^6 tensors each), printing each phase's CPU time, bytes allocated and gen-2
/// collections, and the process's peak working set. Run one case per process for its own peak.
let phases (examples: string) (args: string array) =
    let cases = Measure.scaleCases args [ "mps", 1_000_000; "peps", 1000 ]
    printfn "tn check by phase (1 thread; load average at start %s)" (try (File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "?")
    printfn "%-18s %8s %10s %12s %10s %12s %10s %10s %6s" "network" "tensors" "parse cpu" "elab cpu ms" "elab MB" "elab gen2" "check cpu" "check MB" "gen2"
    for (kind, size) in cases do
        let file, overrides = Measure.scaleFile kind size
        let path = Path.Combine(examples, file)
        let text = File.ReadAllText path
        let (ast, _), _, parseCpu, _, _ = Measure.timeAlloc (fun () -> Parse.parseText path text)
        let net = List.last ast.Networks
        let given =
            overrides
            |> List.map (fun (n, v) ->
                match Elaborate.parseValue v with
                | Result.Ok value -> n, Range.ofFile "command line", value
                | Result.Error e -> failwith e)
        let (elaborated, _), _, elabCpu, elabAlloc, elabGen2 = Measure.timeAlloc (fun () -> Elaborate.elaborate Elaborate.defaultOptions (fun _ -> None) net given)
        let e = match elaborated with Some e -> e | None -> failwithf "%s did not elaborate" file
        let diags, _, checkCpu, checkAlloc, checkGen2 = Measure.timeAlloc (fun () -> Check.check e)
        if diags |> List.exists Diagnostic.isError then failwithf "%s %A does not check clean" file overrides
        let label = sprintf "%s %s" kind (if kind = "mps" then sprintf "n=%d" size else sprintf "%dx%d" size size)
        printfn "%-18s %8d %10.0f %12.0f %10.0f %12d %10.0f %10.0f %6d" label e.Network.Tensors.Length parseCpu elabCpu
            (float elabAlloc / 1048576.0) elabGen2 checkCpu (float checkAlloc / 1048576.0) checkGen2
    Process.GetCurrentProcess().Refresh()
    printfn "peak working set of the process: %.0f MB" (float (Process.GetCurrentProcess().PeakWorkingSet64) / 1048576.0)
