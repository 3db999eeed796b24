/// The long fuzz run of the front end (the CI test runs 3000 inputs): `fuzz [--count N] [--seed S] [--limit-ms L]`
/// prints inputs, escapes, hangs, range faults, the worst time and memory, and writes failing inputs to fuzz-failures/.
module TnDsl.Bench.FuzzBench

open System
open System.IO
open TnDsl
open TnDsl.Testing

let private option (args: string array) (name: string) (fallback: int) =
    match Array.tryFindIndex ((=) name) args with
    | Some i when i + 1 < args.Length -> int args[i + 1]
    | _ -> fallback

/// Runs the fuzzer with the default expansion limits and prints its figures.
let run (examples: string) (args: string array) =
    let count = option args "--count" 100_000
    let seed = option args "--seed" 1
    let limit = option args "--limit-ms" 10_000
    let corpus = Directory.GetFiles(examples, "*.tn", SearchOption.AllDirectories) |> Array.sort |> Array.map File.ReadAllText
    let clock = Diagnostics.Stopwatch.StartNew()
    let s =
        Fuzz.run Compiler.defaultOptions limit corpus seed count (fun k ->
            if k % 10_000 = 0 then eprintfn "  %d inputs, %.0f s" k clock.Elapsed.TotalSeconds)
    printfn "fuzz: seed %d, %d inputs (half mutated examples, half grammar-generated), default limits, 1 thread, time limit %d ms" seed s.Inputs limit
    printfn "  escapes        %d" s.Escapes
    printfn "  hangs          %d" s.Hangs
    printfn "  range faults   %d" s.RangeFaults
    printfn "  worst time     %.1f ms" s.WorstMillis
    printfn "  worst memory   %.1f MB allocated by one input; peak working set %.0f MB" (float s.WorstAllocated / 1e6) (float s.PeakWorkingSet / 1e6)
    printfn "  total          %.1f s (%.2f ms per input)" clock.Elapsed.TotalSeconds (clock.Elapsed.TotalMilliseconds / float s.Inputs)
    if not s.Failures.IsEmpty then
        Directory.CreateDirectory "fuzz-failures" |> ignore
        s.Failures |> List.iteri (fun k (input, why) -> File.WriteAllText(Path.Combine("fuzz-failures", sprintf "%d.tn" k), "// " + why.Replace("\n", "\n// ") + "\n" + input))
        printfn "  failing inputs written to fuzz-failures/"
    File.WriteAllText("fuzz-slowest.tn", s.WorstInput)
    s
