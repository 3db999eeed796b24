/// Helpers of the kit's own tests: the repository's files, a runner that captures FsCheck's shrunk
/// counterexample, and planted bugs.
module TnDsl.Testing.Tests.Support

open System.IO
open FsCheck
open TnDsl
open TnDsl.Testing

/// A file of `examples/` (the folder the compiler tests' support finds).
let example (name: string) = Path.Combine(TnDsl.Tests.Support.examplesDir, name)

/// Runs a property with FsCheck from a fixed seed and returns the shrunk counterexample's arguments, or None
/// when the property held.
let shrunkCounterexample (maxTest: int) (seed: uint64) (property: Property) : obj list option =
    let mutable result = None
    let runner =
        { new IRunner with
            member _.OnStartFixture _ = ()
            member _.OnArguments(_, _, _) = ()
            member _.OnShrink(_, _) = ()
            member _.OnFinished(_, r) =
                match r with
                | TestResult.Failed(_, _, shrunk, _, _, _, _) -> result <- Some shrunk
                | _ -> () }
    let config = Config.Quick.WithMaxTest(maxTest).WithReplay(Some { Rnd = Rnd(seed, 1UL); Size = None }).WithRunner(runner)
    Check.One(config, property)
    result

/// The planted hyperindex bug: a pairwise executor that sums every index both operands carry, as if every
/// index were an ordinary bond (wrong for an index on three or more tensors, or on two and the output).
let bondOnlyPair (keep: int -> bool) (a: Dense) (b: Dense) =
    let both l = Array.contains l a.Labels && Array.contains l b.Labels
    Dense.pair (fun l -> keep l && not (both l)) a b

/// Executes a contraction tree with the planted hyperindex bug (`bondOnlyPair`); axes follow `output` where
/// they survive.
let buggyOfTree (tree: ContractionTree) (tensors: Dense array) (output: int array) =
    let r = Reference.runTree bondOnlyPair tree tensors output
    if Array.sort r.Labels = Array.sort output then Dense.permuteTo output r else r
