/// A seeded, bounded fuzz run of the front end in CI: mutated examples and grammar-generated networks, each
/// compiled with a time limit. The longer run is a command: `dotnet run -c Release --project bench/TnDsl.Bench -- fuzz`.
module TnDsl.Tests.FuzzTests

open System
open System.IO
open Xunit
open TnDsl
open TnDsl.Testing
open TnDsl.Tests.Support

[<Fact>]
let ``2000 fuzz inputs: no exception escapes, none runs past 5 s, every range lies inside the file`` () =
    let corpus = Directory.GetFiles(examplesDir, "*.tn", SearchOption.AllDirectories) |> Array.sort |> Array.map File.ReadAllText
    // Smaller expansion limits than the default keep a mutated example that is valid but large (n=784 → 7840)
    // within the test's budget; the long run uses the defaults.
    let options = { Compiler.defaultOptions with Limits = { Compiler.defaultOptions.Limits with MaxTensors = 20_000; MaxLegs = 200_000L } }
    let s = Fuzz.run options 5000 corpus 18 2000 ignore
    let report = String.Join("\n---\n", s.Failures |> List.map (fun (input, why) -> why + "\n" + input))
    Assert.True(s.Escapes = 0 && s.Hangs = 0 && s.RangeFaults = 0, sprintf "%d escapes, %d hangs, %d range faults:\n%s" s.Escapes s.Hangs s.RangeFaults report)

[<Fact>]
let ``the fuzz generator and mutator are deterministic for a seed`` () =
    let a = Fuzz.generate (Random 7)
    Assert.Equal(a, Fuzz.generate (Random 7))
    Assert.Equal(Fuzz.mutate (Random 3) a, Fuzz.mutate (Random 3) a)
    Assert.Contains("network g0", a)
