/// Benchmarks: `dotnet run -c Release --project src/TnDsl.Bench -- NAME`. Each prints its figures.
module TnDsl.Bench.Program

/// Benchmark names and their entry points.
let benches: (string * (string array -> int)) list = [ "cuts", CutsBench.run ]

[<EntryPoint>]
let main argv =
    match argv |> Array.tryHead |> Option.bind (fun n -> benches |> List.tryFind (fst >> (=) n)) with
    | Some(_, run) -> run argv[1..]
    | None ->
        eprintfn "usage: TnDsl.Bench NAME; NAME is one of: %s" (benches |> List.map fst |> String.concat ", ")
        2
