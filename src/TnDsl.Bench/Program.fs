/// `dotnet run -c Release --project src/TnDsl.Bench -- NAME`: runs a benchmark that prints figures.
module TnDsl.Bench.Program

/// The benchmarks by name; add a line here for a new one (`cuts`, …).
let benchmarks: (string * string * (string array -> int)) list =
    [ "plan", "contraction planning: search time and flops of every optimizer on standard networks", PlanBench.run ]

[<EntryPoint>]
let main args =
    let usage () =
        eprintfn "usage: TnDsl.Bench NAME [ARGS]; benchmarks:"
        for name, what, _ in benchmarks do
            eprintfn "  %-8s %s" name what
        2
    match args |> Array.tryHead with
    | None -> usage ()
    | Some name ->
        match benchmarks |> List.tryFind (fun (n, _, _) -> n = name) with
        | Some (_, _, f) -> f args[1..]
        | None -> usage ()
