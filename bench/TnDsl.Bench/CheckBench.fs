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
