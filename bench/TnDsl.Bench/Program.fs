/// Benchmarks: commands that print figures (never timed assertions). `dotnet run -c Release --project bench/TnDsl.Bench -- NAME`.
module TnDsl.Bench.Program

open System
open System.IO

/// The repository (the folder with TnDsl.sln) above the current folder, or else above this program's own folder (a
/// build under bench/): the benches read examples/ from it, from whatever folder they are started.
let private repoRoot () =
    let rec up (d: DirectoryInfo) =
        if isNull d then None
        elif File.Exists(Path.Combine(d.FullName, "TnDsl.sln")) then Some d.FullName
        else up d.Parent
    match up (DirectoryInfo(Directory.GetCurrentDirectory())) |> Option.orElse (up (DirectoryInfo(AppContext.BaseDirectory))) with
    | Some root -> root
    | None ->
        eprintfn "TnDsl.Bench: no TnDsl.sln above %s or %s; run it from the repository" (Directory.GetCurrentDirectory()) AppContext.BaseDirectory
        exit 2

let private benches: (string * string * (string array -> unit)) list =
    [ "check", "front-end time (parse, elaborate, check) of full-size examples", fun _ -> CheckBench.run (Path.Combine(repoRoot (), "examples")) 15
      "check-scale", "tn check at 10^4..10^6 tensors (MPS chains, PEPS grids): time, memory, against building the network in code (args: quick, mps=N, peps=L)", fun args -> CheckBench.scale (Path.Combine(repoRoot (), "examples")) args |> ignore
      "check-phases", "tn check's front end at 10^6 tensors phase by phase: parse, elaborate, check (args: mps=N, peps=L)", fun args -> ElaborationBench.phases (Path.Combine(repoRoot (), "examples")) args
      "cuts", "min-cut profile time: 784-site MPS and 32x32 PEPS", fun args -> CutsBench.run (Array.append [| Path.Combine(repoRoot (), "examples") |] args) |> ignore
      "cuts-scaling", "min-cut time against size: MPS n = 2000..60000 (declared cut, oversized bonds, profile against one flow per split), PEPS 50..200 (args: sizes)", fun args -> CutsBench.scaling args |> ignore
      "check-after", "tn check after elaboration at 10^6 tensors phase by phase: checks, summary, declared cuts (args: mps=N, peps=L)", fun args -> CheckBench.afterElaboration (Path.Combine(repoRoot (), "examples")) args |> ignore
      "fuzz", "fuzz the front end: --count N (100000) --seed S --limit-ms L; prints escapes, hangs, worst time and memory", fun args -> FuzzBench.run (Path.Combine(repoRoot (), "examples")) args |> ignore
      "plan", "planner search time and flops: born machine, PEPS, MERA, random regular graphs, exact search", fun args -> PlanBench.run args |> ignore
      "budget", "wall time of random-greedy, hyper, optimal and auto against --time-limit, with and without a memory limit (args: limits=A,B,.. in ms, threads=N, optimizers=A,B,.., only=TEXT)", fun args -> HyperBench.budget args
      "stakes", "auto's search time against the contraction's estimated time, and the work rates its budget uses (args: quick, rates, exact, auto, limits, only=TEXT)", fun args -> HyperBench.stakes args
      "export", "write the side-by-side networks and TnDsl's hyper/auto results as JSON (args: FILE, quick, trials=N, threads=N); see bench/side-by-side.py", fun args -> HyperBench.export args
      "bound", "lower bounds on sliced plans of the 8x8 D=4 and 10x10 D=3 lattices at 1/100: connected sweeps, step exponents (args: only=TEXT, least=F, exact, plans, trials=N); `bound blocks`: the block-packing bound on sliced bonds, its block minima recomputed", fun args -> BoundBench.run args
      "cands", "how often auto, hyper and random-greedy are dearer than greedy on random networks, by objective (args: count=N, seed=S, trials=N, objectives=flops,size,write, only=TEXT, show; `cands limit` under memory limits at fractions=2,10,100 of greedy's largest intermediate; `cands slicers` the greedy slicer's counted work against its CPU)", fun args -> CandsBench.run args
      "cross", "crosses on the 8x8 D=4 lattice at 1/100: every arm choice of the sliced bonds, quadrants exact for the loop order, polished; Proposition 4's bound on 8x8 D=4 and 10x10 D=3 (args: trials=N)", fun args -> CrossBench.run args
      "hyper", "hyper-optimised search, auto and slicing against random-greedy and the old auto (args: quick, slicing, only=TEXT, trials=N, seed=N, threads=N)", fun args -> HyperBench.run args ]

[<EntryPoint>]
let main argv =
    match argv |> Array.tryHead |> Option.bind (fun n -> benches |> List.tryFind (fun (b, _, _) -> b = n)) with
    | Some (_, _, run) ->
        run argv[1..]
        0
    | None ->
        eprintfn "usage: TnDsl.Bench <bench>; benches:"
        for (n, d, _) in benches do
            eprintfn "  %-8s %s" n d
        2
