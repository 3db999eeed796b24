/// The spec-check engine on examples/mps.tn with hand-written F# forwards: correct ones pass, planted bugs are
/// caught and shrunk to the smallest case that shows them, and a reported Replay seed reruns the same run.
module TnDsl.Testing.Tests.SpecRunTests

open System
open Xunit
open TnDsl
open TnDsl.Testing
open TnDsl.Testing.Tests.Support

/// Which planted bug an MPS forward carries.
type Bug =
    | NoBug
    /// Middle sites read with their two bonds swapped.
    | TransposedBond
    /// The bond sum stops at 2 (a loop bound written for chi = 2).
    | TruncatedBond

/// An MPS contraction written by hand over plain arrays (row-major): sweep left to right keeping
/// acc[physical prefix, bond]. A[0]: (p, b), middle A[i]: (b, p, b'), A[n-1]: (b, p).
let mpsForward (bug: Bug) (s: SpecSample) : SpecOutput =
    let n = int (s.Parameter "n")
    let d = int (s.Parameter "d")
    let chi = int (s.Parameter "chi")
    let a = s.Family "A"
    let bonds = if bug = TruncatedBond then min chi 2 else chi
    let mutable rows = d
    let mutable acc = Array.init (d * chi) (fun e -> a[0].Data[e])
    for i in 1 .. n - 2 do
        let next = Array.zeroCreate (rows * d * chi)
        for r in 0 .. rows - 1 do
            for p in 0 .. d - 1 do
                for b' in 0 .. chi - 1 do
                    let mutable sum = 0.0
                    for b in 0 .. bonds - 1 do
                        let core = if bug = TransposedBond then a[i].Data[(b' * d + p) * chi + b] else a[i].Data[(b * d + p) * chi + b']
                        sum <- sum + acc[r * chi + b] * core
                    next[(r * d + p) * chi + b'] <- sum
        acc <- next
        rows <- rows * d
    let out = Array.zeroCreate (rows * d)
    for r in 0 .. rows - 1 do
        for p in 0 .. d - 1 do
            let mutable sum = 0.0
            for b in 0 .. bonds - 1 do
                sum <- sum + acc[r * chi + b] * a[n - 1].Data[b * d + p]
            out[r * d + p] <- sum
    { Shape = Array.create n (int64 d); DType = "float64"; Data = out }

let private run bug options =
    SpecRun.check (example "mps.tn") { Forward = mpsForward bug; Gradient = None } options

let private quick = { SpecOptions.defaults with MaxTest = 25; Replay = Some 2024 }

let private failure outcome =
    match outcome with
    | Failed f -> f
    | Passed(n, _) -> failwithf "the planted bug passed %d tests" n

let private parameters (f: SpecFailure) = f.Case.Parameters.Values |> Map.ofList

[<Fact>]
let ``a correct hand-written MPS passes, over parameters the spec accepts`` () =
    match run NoBug { quick with Ranges = Map [ "n", (1L, 6L); "chi", (1L, 4L) ] } with
    | Passed(tests, _) -> Assert.Equal(25, tests)
    | Failed f -> failwith f.Message

[<Fact>]
let ``a transposed bond is caught and shrunk to n=3, chi=2, d=1`` () =
    let f = failure (run TransposedBond quick)
    Assert.Equal("value", f.Violation.Oracle)
    Assert.Equal<Map<string, int64>>(Map [ "n", 3L; "d", 1L; "chi", 2L ], parameters f)
    Assert.True(f.Violation.Deviation > 1e-6)
    Assert.Contains("n=3, d=1, chi=2", f.Message)
    Assert.Contains("Replay = 2024", f.Message)

[<Fact>]
let ``a bond loop bound written for chi=2 is caught and shrunk to n=2, chi=3, d=1`` () =
    let f = failure (run TruncatedBond quick)
    Assert.Equal<Map<string, int64>>(Map [ "n", 2L; "d", 1L; "chi", 3L ], parameters f)

[<Fact>]
let ``the Replay seed of a failure reruns the same cases and finds the same failure`` () =
    let first = failure (run TransposedBond { quick with Replay = None })
    let again = failure (run TransposedBond { quick with Replay = Some first.Replay })
    Assert.Equal(first.Original, again.Original)
    Assert.Equal(first.Case, again.Case)
    Assert.Equal(first.Tests, again.Tests)

[<Fact>]
let ``parameter ranges are respected and require is never violated`` () =
    let seen = Collections.Concurrent.ConcurrentBag<int64 * int64>()
    let forward (s: SpecSample) =
        seen.Add((s.Parameter "n", s.Parameter "chi"))
        mpsForward NoBug s
    match SpecRun.check (example "mps.tn") { Forward = forward; Gradient = None } { quick with Ranges = Map [ "n", (1L, 4L); "chi", (3L, 3L) ] } with
    | Passed _ -> ()
    | Failed f -> failwith f.Message
    Assert.All(seen, fun (n, chi) -> Assert.True(n >= 2L && n <= 4L && chi = 3L))
    Assert.Contains(seen, fun (n, _) -> n = 4L)

[<Fact>]
let ``a forward that throws, returns the wrong shape or the wrong dtype fails with that oracle`` () =
    let throwing (s: SpecSample) = if s.Parameter "n" >= 3L then invalidOp "index out of range" else mpsForward NoBug s
    let f = failure (SpecRun.check (example "mps.tn") { Forward = throwing; Gradient = None } quick)
    Assert.Equal("forward", f.Violation.Oracle)
    Assert.Equal(3L, (parameters f)["n"])
    let dropped (s: SpecSample) = let o = mpsForward NoBug s in { o with Shape = o.Shape[1..] }
    Assert.Equal("shape", (failure (SpecRun.check (example "mps.tn") { Forward = dropped; Gradient = None } quick)).Violation.Oracle)
    Assert.Equal("dtype", (failure (SpecRun.check (example "mps.tn") { Forward = mpsForward NoBug; Gradient = None } { quick with DType = Float32 })).Violation.Oracle)

[<Fact>]
let ``a family the spec does not declare is refused with the families it has`` () =
    // It was an empty list: the forward then failed on its first index, far from the misspelt name.
    let misspelt (s: SpecSample) =
        s.Family "a" |> ignore
        mpsForward NoBug s
    let f = failure (SpecRun.check (example "mps.tn") { Forward = misspelt; Gradient = None } quick)
    Assert.Equal("forward", f.Violation.Oracle)
    Assert.Contains("no tensor family `a`; its families are A", f.Violation.Message)

[<Fact>]
let ``a declared family with no member at the drawn parameters is an empty list`` () =
    let dir = IO.Directory.CreateTempSubdirectory("tndsl-family-").FullName
    try
        let spec = IO.Path.Combine(dir, "ends.tn")
        IO.File.WriteAllLines(
            spec,
            [ "network ends(n: int = 4) {"
              "  require n >= 2, \"two ends\""
              "  index p[i]: 2 for i in 0..n-1"
              "  index b[i]: 2 for i in 1..n-1"
              "  weight L: (p[0], b[1])"
              "  weight M[i]: (b[i], p[i], b[i+1]) for i in 1..n-2"
              "  weight R: (b[n-1], p[n-1])"
              "  output (p[0..n-1])"
              "}" ]
        )
        let sizes = Collections.Concurrent.ConcurrentBag<int>()
        let forward (s: SpecSample) =
            let middle = s.Family "M"
            Assert.Equal(int (s.Parameter "n") - 2, middle.Length)
            sizes.Add middle.Length
            SpecOutput.ofDense Float64 (Reference.contract s.Values (Array.ofList s.Network.Output))
        match SpecRun.check spec { Forward = forward; Gradient = None } { quick with Ranges = Map [ "n", (2L, 3L) ] } with
        | Passed _ -> ()
        | Failed f -> failwith f.Message
        Assert.Contains(0, sizes)
    finally
        IO.Directory.Delete(dir, true)

[<Fact>]
let ``a gradient that disagrees with finite differences of the forward is caught`` () =
    let gradient (scale: float) (s: SpecSample) (cot: Dense) =
        let out = Array.ofList s.Network.Output
        s.Values |> Array.mapi (fun k v ->
            let others = Array.append (s.Values |> Array.removeAt k) [| { cot with Labels = out } |]
            Some(Dense.map (fun x -> if k = 0 then x * scale else x) (Reference.contract others v.Labels)))
    let check scale =
        SpecRun.check (example "mps.tn") { Forward = mpsForward NoBug; Gradient = Some(gradient scale) } { quick with MaxTest = 8 }
    match check 1.0 with
    | Passed _ -> ()
    | Failed f -> failwith f.Message
    Assert.Equal("gradient", (failure (check 1.5)).Violation.Oracle)

[<Fact>]
let ``a spec that does not compile is a clear error, not a run`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> SpecRun.check (example "no-such.tn") { Forward = mpsForward NoBug; Gradient = None } quick |> ignore)
    Assert.Contains("does not compile", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> SpecRun.check (example "mps.tn") { Forward = mpsForward NoBug; Gradient = None } { quick with Ranges = Map [ "m", (1L, 2L) ] } |> ignore)
    Assert.Contains("no integer parameter m", e.Message)

[<Fact>]
let ``a run of no case is refused, not passed`` () =
    // MaxTest = 0 (or less) ran no case and passed whatever the forward computed, a wrong one included.
    for maxTest in [ 0; -1 ] do
        let e = Assert.Throws<ArgumentException>(fun () -> SpecRun.check (example "mps.tn") { Forward = mpsForward TransposedBond; Gradient = None } { quick with MaxTest = maxTest } |> ignore)
        Assert.Contains("MaxTest must be at least 1", e.Message)

[<Fact>]
let ``spec parameter assignments compile, stay in range and shrink toward 1 and 2 past the spec's require`` () =
    let spec =
        match SpecDims.load (example "mps.tn") None (Map [ "n", (1L, 6L) ]) with
        | Ok s -> s
        | Result.Error e -> failwith e
    let sample = FsCheck.FSharp.Gen.sampleWithSeed (FsCheck.Rnd(9UL, 1UL)) 100 60 (FsCheck.FSharp.Arb.toGen (SpecDims.arbitrary spec))
    Assert.All(sample, fun a ->
        Assert.True(Result.isOk (SpecDims.compile spec a))
        let v = Map.ofList a.Values
        Assert.True(v["n"] >= 2L && v["n"] <= 6L && v["d"] >= 1L && v["d"] <= 2L && v["chi"] >= 1L && v["chi"] <= 5L))
    Assert.Contains(sample, fun a -> (Map.ofList a.Values)["n"] = 6L)
    // A planted bug that needs chi >= 3 and n >= 3: FsCheck shrinks to exactly that, with d at 1 (shrinks to
    // n = 1 are skipped: the spec requires n >= 2).
    let property =
        FsCheck.FSharp.Prop.forAll (SpecDims.arbitrary spec) (fun a ->
            let v = Map.ofList a.Values
            not (v["chi"] >= 3L && v["n"] >= 3L))
    match Support.shrunkCounterexample 200 4UL property with
    | Some [ :? ParameterAssignment as a ] -> Assert.Equal<(string * int64) list>([ "n", 3L; "d", 1L; "chi", 3L ], a.Values)
    | other -> failwithf "not found or not shrunk: %A" other

[<Fact>]
let ``values are reproducible from their seed and differ between seeds`` () =
    let net = Networks.build { Networks.minimal with Tensors = 3; OpenLegs = 2; MaxDim = 3; Seed = 4 }
    let seed, values = (FsCheck.FSharp.Gen.sampleWithSeed (FsCheck.Rnd(1UL, 1UL)) 10 1 (Values.gen Float32 net))[0]
    Assert.Equal<float array array>(values |> Array.map (fun d -> d.Data), Values.sample Float32 seed net |> Array.map (fun d -> d.Data))
    Assert.NotEqual<float array array>(values |> Array.map (fun d -> d.Data), Values.sample Float32 (seed + 1) net |> Array.map (fun d -> d.Data))

[<Fact>]
let ``shrinking a large failing case of the transposed bond reaches n=3, chi=2, d=1`` () =
    let spec =
        match SpecDims.load (example "mps.tn") None (Map [ "n", (1L, 6L) ]) with
        | Ok s -> s
        | Result.Error e -> failwith e
    let impl = { Forward = mpsForward TransposedBond; Gradient = None }
    let large = { Parameters = { Values = [ "n", 6L; "d", 2L; "chi", 5L ] }; BatchSizes = []; ValueSeed = 17 }
    let net = (SpecRun.networkOf spec quick large).Value
    match SpecRun.evaluate spec quick impl large net with
    | Ok() -> failwith "the planted bug passed the large case"
    | Result.Error v ->
        let (c, _, _), steps = SpecRun.shrink spec impl quick (large, net, v)
        Assert.Equal<(string * int64) list>([ "n", 3L; "d", 1L; "chi", 2L ], c.Parameters.Values)
        Assert.InRange(steps, 3, 10)
