module TnDsl.Tests.SliceReuseTests

open System
open System.Numerics
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// Reuse across slices: the model of `PlanSlice` (levels, runs, executed flops, the best loop order) checked against
// brute force: the slices enumerated in loop order, each step rerun when a sliced value its subtree carries
// differs from the one it last ran with.

/// Per node, the sliced indices carried by the leaves of its subtree, found by walking the subtree (not by the
/// model's propagation of levels).
let private dependencies (p: Indexed) (t: ContractionTree) (sliced: int array) =
    let rec leaves v = if v < t.Leaves then [ v ] else t.Steps[v - t.Leaves] |> List.ofArray |> List.collect leaves
    Array.init t.Steps.Length (fun s ->
        leaves (t.Leaves + s) |> List.collect (fun l -> List.ofArray p.Inputs[l]) |> List.filter (fun i -> Array.contains i sliced) |> List.distinct)

/// Per step, how often it runs over the slices numbered [first, first + count) in loop order `order` (the last
/// index fastest): every step in the range's first slice, then a step whenever one of its dependencies' values
/// differs from the slice before.
let private bruteRuns (p: Indexed) (t: ContractionTree) (order: int array) (first: int) (count: int) =
    let deps = dependencies p t order
    let values (slice: int) =
        let v = Array.zeroCreate order.Length
        let mutable r = slice
        for j in order.Length - 1 .. -1 .. 0 do
            v[j] <- r % int p.Size[order[j]]
            r <- r / int p.Size[order[j]]
        Map.ofArray (Array.zip order v)
    let runs = Array.zeroCreate t.Steps.Length
    for slice in first .. first + count - 1 do
        let now = values slice
        deps |> Array.iteri (fun s d ->
            if slice = first || (let before = values (slice - 1) in d |> List.exists (fun i -> now[i] <> before[i])) then
                runs[s] <- runs[s] + 1)
    runs

/// A closed, sliceable subset of the problem's indices (size > 1), in a random order, from a seed.
let private someSliced (p: Indexed) (seed: int) =
    let rng = Random(seed)
    Array.init p.Size.Length id
    |> Array.filter (fun i -> not p.IsOutput[i] && p.Size[i] > 1L && rng.Next 3 > 0)
    |> Array.sortBy (fun _ -> rng.Next())
    |> Array.truncate 4

let rec private permutations (xs: int list) : int list list =
    match xs with
    | [] -> [ [] ]
    | _ -> xs |> List.collect (fun x -> permutations (List.filter ((<>) x) xs) |> List.map (fun rest -> x :: rest))

[<Property(MaxTest = 100)>]
let ``executed flops equal each step's one-slice flops times its runs counted by enumerating the slices`` () =
    Prop.forAll (arb 7 3) (fun s ->
        let p = indexOf s
        let t = (Plan.run "greedy" fast p).Tree.Value
        let order = someSliced p (s.GetHashCode())
        let slices = int (Problem.elements p order)
        let runs = bruteRuns p t order 0 slices
        let steps = Cost.steps (PlanSlice.sliceProblem p order) t
        let brute = Array.fold2 (fun acc (st: StepCost) r -> acc + st.Flops * BigInteger(r: int)) BigInteger.Zero steps runs
        let levels = PlanSlice.levels p t order
        let figures = PlanSlice.figuresInOrder p t order
        PlanSlice.executedFlops p t order = brute
        && figures.Flops = brute
        && figures.Indices = order
        && figures.EverySliceFlops = figures.SliceFlops * figures.Slices
        && brute <= figures.EverySliceFlops
        && Array.forall2 (fun l r -> PlanSlice.runs p order l = BigInteger(r: int)) levels runs)

[<Property(MaxTest = 100)>]
let ``a slice range that starts mid-way runs each step as often as enumerating the range counts`` () =
    Prop.forAll (arb 7 3) (fun s ->
        let p = indexOf s
        let t = (Plan.run "greedy" fast p).Tree.Value
        let order = someSliced p (s.GetHashCode())
        let slices = int (Problem.elements p order)
        let rng = Random(s.GetHashCode() + 1)
        let first = rng.Next slices
        let count = rng.Next(slices - first + 1)
        let runs = bruteRuns p t order first count
        let levels = PlanSlice.levels p t order
        Array.forall2 (fun l r -> PlanSlice.runsInRange p order l (BigInteger first) (BigInteger count) = BigInteger(r: int)) levels runs)

[<Property(MaxTest = 60)>]
let ``the best loop order is the cheapest of every order, and the greedy order never beats it`` () =
    Prop.forAll (arb 7 3) (fun s ->
        let p = indexOf s
        let t = (Plan.run "greedy" fast p).Tree.Value
        let sliced = someSliced p (s.GetHashCode())
        let cheapest = permutations (List.ofArray sliced) |> List.map (fun o -> PlanSlice.executedFlops p t (Array.ofList o)) |> List.min
        let best = PlanSlice.bestOrder p t sliced
        let greedy = PlanSlice.bestOrderWith 0 p t sliced
        Array.sort best = Array.sort sliced
        && Array.sort greedy = Array.sort sliced
        && PlanSlice.executedFlops p t best = cheapest
        && PlanSlice.executedFlops p t greedy >= cheapest
        && (PlanSlice.figures p t sliced).Flops = cheapest)

[<Property(MaxTest = 60)>]
let ``the greedy loop order is the cheapest when the steps' dependencies are nested (a tree that takes in one tensor per step)`` () =
    Prop.forAll (arb 7 3) (fun s ->
        let p = indexOf s
        let n = p.Inputs.Length
        // ((((0 1) 2) 3) ...): each step's subtree holds the one before it, so its dependencies do too.
        let t = { Leaves = n; Steps = Array.init (n - 1) (fun i -> if i = 0 then [| 0; 1 |] else [| n + i - 1; i + 1 |]) }
        let sliced = someSliced p (s.GetHashCode())
        let cheapest = permutations (List.ofArray sliced) |> List.map (fun o -> PlanSlice.executedFlops p t (Array.ofList o)) |> List.min
        n < 2 || PlanSlice.executedFlops p t (PlanSlice.bestOrderWith 0 p t sliced) = cheapest)

[<Fact>]
let ``a step that depends on no sliced index runs once, and its result is held for the steps that do`` () =
    // ab,bc -> ac does not depend on d; (ac),cd -> ad does, and is contracted with ae over a: slicing d leaves the
    // first step to run once and its result (a x c) held.
    let p = match Problem.index Range.none (Problem.create None [| [| "a"; "b" |]; [| "b"; "c" |]; [| "c"; "d" |]; [| "d"; "a" |] |]
                                                (Map.ofList [ "a", 2L; "b", 3L; "c", 4L; "d", 5L ]) [||]) with
            | Ok p -> p
            | Result.Error ds -> failwithf "%A" ds
    let t = { Leaves = 4; Steps = [| [| 0; 1 |]; [| 4; 2 |]; [| 5; 3 |] |] }
    let d = Array.IndexOf(p.IndexNames, "d")
    let s = PlanSlice.figuresInOrder p t [| d |]
    let steps = Cost.steps (PlanSlice.sliceProblem p [| d |]) t
    Assert.Equal<int array>([| 0; 1; 1 |], PlanSlice.levels p t [| d |])
    Assert.Equal(steps[0].Flops + BigInteger 5 * (steps[1].Flops + steps[2].Flops), s.Flops)
    Assert.Equal(BigInteger 8, s.Held)
    // One slice's peak, the held result and the scalar that accumulates the slices.
    Assert.Equal((Cost.report (PlanSlice.sliceProblem p [| d |]) t).Peak + BigInteger 8 + BigInteger.One, s.Peak)

[<Property(MaxTest = 60)>]
let ``reconfiguring a sliced tree for executed flops never costs more in its order, and keeps a slice within the limit`` () =
    Prop.forAll (arb 8 3) (fun s ->
        let p = indexOf s
        let t = (Plan.run "greedy" fast p).Tree.Value
        let order = someSliced p (s.GetHashCode())
        let q = PlanSlice.sliceProblem p order
        let limit = Cost.largestIntermediate q t
        let r = PlanHyper.reconfigureReuseCounted (PlanHyper.Work()) (fun () -> false) (Some(int64 limit)) p order 4 2 t
        (ContractionTree.validate r).IsOk
        && r.Leaves = t.Leaves
        && PlanSlice.executedFlops p r order <= PlanSlice.executedFlops p t order
        && Cost.largestIntermediate q r <= limit)

[<Fact>]
let ``on a lattice, reconfiguring a sliced tree for executed flops beats reconfiguring it for one slice's flops`` () =
    // The closed 6x6 lattice with D = 3, greedy's tree sliced by the greedy slicer to 1/100 of its largest
    // intermediate: weighting each join by its runs finds a tree that reruns less.
    let p = lattice 6 6 3
    let t = (PlanGreedy.bestGreedy p PlanOptions.defaults).Tree
    let limit = Cost.largestIntermediate p t / BigInteger 100
    let sliced = (PlanSlice.find p t limit).Value
    let order = PlanSlice.bestOrder p t sliced
    let perSlice = PlanHyper.reconfigureWithin (Some(int64 limit)) (PlanSlice.sliceProblem p sliced) Flops 8 2 t
    let reuse = PlanHyper.reconfigureReuseCounted (PlanHyper.Work()) (fun () -> false) (Some(int64 limit)) p order 8 2 t
    let executed tree = PlanSlice.executedFlops p tree (PlanSlice.bestOrder p tree sliced)
    Assert.True(executed reuse < executed perSlice, sprintf "%O against %O" (executed reuse) (executed perSlice))
    Assert.True(executed reuse < executed t)
    Assert.True(Cost.largestIntermediate (PlanSlice.sliceProblem p sliced) reuse <= limit)

[<Fact>]
let ``the JSON report gives the sliced indices in loop order, the executed flops, the levels per step and the held elements`` () =
    let p = lattice 5 5 3
    let r = Plan.run "greedy" { PlanOptions.defaults with MemoryLimit = Some 30L } p
    let s = r.Slicing.Value
    use doc = System.Text.Json.JsonDocument.Parse(PlanReport.json r)
    let sl = doc.RootElement.GetProperty "slicing"
    let names = [| for x in sl.GetProperty("indices").EnumerateArray() -> x.GetString() |]
    Assert.Equal<string array>(s.Indices |> Array.map (fun i -> p.IndexNames[i]), names)
    Assert.Equal<int array>(PlanSlice.bestOrder p r.Tree.Value s.Indices, s.Indices)
    let number (name: string) = BigInteger.Parse(sl.GetProperty(name).ToString())
    Assert.Equal(PlanSlice.executedFlops p r.Tree.Value s.Indices, number "flops")
    Assert.Equal(s.SliceFlops * s.Slices, number "every_slice_flops")
    Assert.True(number "flops" < number "every_slice_flops")
    Assert.Equal(PlanSlice.held p r.Tree.Value s.Indices, number "held")
    Assert.Equal<int array>(PlanSlice.levels p r.Tree.Value s.Indices, [| for x in sl.GetProperty("levels").EnumerateArray() -> x.GetInt32() |])
