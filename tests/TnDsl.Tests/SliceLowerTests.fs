module TnDsl.Tests.SliceLowerTests

// Checks of `SliceLower` (bench/results/planner.md, "Session 12 (s12-bound)"): the exponent of each step against
// `SliceBound.leastExecuted`, and the sweep bound against a brute force over every sliced set and every connected
// sweep of small lattices, written here from the definitions.

open System
open System.Numerics
open Xunit
open TnDsl

let private lattice rows cols bond = TnDsl.Tests.Support.benchLattice rows cols bond

let private randomTree = TnDsl.Tests.Support.randomTree

[<Fact>]
let ``each step's term in the order-free bound is 1 or 2 times D to the exponent |dR| + d(R) + w(R)`` () =
    let rng = Random 17
    for rows, cols, bond in [ 3, 3, 2L; 3, 4, 3L; 4, 4, 4L ] do
        let p = lattice rows cols bond
        let bonds = [| 0 .. p.Size.Length - 1 |] |> Array.filter (fun i -> p.Size[i] > 1L)
        for _ in 1 .. 40 do
            let t = randomTree rng p.Inputs.Length
            let sliced = bonds |> Array.filter (fun _ -> rng.Next 3 = 0)
            let parts = SliceLower.exponents p t sliced
            let total = parts |> Array.sumBy (fun s -> BigInteger(if s.Summed then 2 else 1) * BigInteger.Pow(BigInteger bond, s.Exponent))
            Assert.Equal(SliceBound.leastExecuted p t sliced, total)
            // The other reading of the exponent: |dep(v)| + |I_v \ S| (sliced bonds carried below v, unsliced
            // bonds the step involves), from the definition.
            let steps = Cost.steps p t
            for s, step in Array.zip parts steps do
                let below = Collections.Generic.HashSet<int>()
                let rec collect v = if v < t.Leaves then below.UnionWith p.Inputs[v] else for c in t.Steps[v - t.Leaves] do collect c
                collect s.Node
                let dep = sliced |> Array.filter below.Contains |> Array.length
                let unsliced = step.Involved |> Array.filter (fun i -> p.Size[i] > 1L && not (Array.contains i sliced)) |> Array.length
                Assert.Equal(dep + unsliced, s.Exponent)

/// The least order-free cost over every sliced set and every connected sweep of the rows × cols lattice, exactly:
/// for each set S, by subsets of sites (each step adds a site next to those taken, the first step joins two
/// neighbours), every intermediate keeping at most `keep` unsliced bonds; the step that adds x to X costs
/// 2 bond^(|dX| + (bonds from x to the rest) + |S inside X|). Int64.MaxValue when no sweep fits any set.
let private sweepBrute rows cols (bond: int64) keep =
    let n = rows * cols
    let bonds =
        [| for r in 0 .. rows - 1 do
               for c in 0 .. cols - 1 do
                   if c < cols - 1 then yield r * cols + c, r * cols + c + 1
                   if r < rows - 1 then yield r * cols + c, (r + 1) * cols + c |]
    let within x k = x &&& (1 <<< k) <> 0
    let count (pred: int -> bool) = bonds |> Array.indexed |> Array.filter (fun (k, _) -> pred k) |> Array.length
    let boundary x = fun k -> within x (fst bonds[k]) <> within x (snd bonds[k])
    let inside x = fun k -> within x (fst bonds[k]) && within x (snd bonds[k])
    let full = (1 <<< n) - 1
    let mutable best = Int64.MaxValue
    for sliced in 0 .. (1 <<< bonds.Length) - 1 do
        let isSliced k = sliced &&& (1 <<< k) <> 0
        let cost = Array.create (full + 1) Int64.MaxValue
        for x in 0 .. n - 1 do cost[1 <<< x] <- 0L
        for x in 1 .. full do
            if cost[x] < Int64.MaxValue && x <> full then
                let dX = count (boundary x)
                let dead = count (fun k -> inside x k && isSliced k)
                for y in 0 .. n - 1 do
                    let touching = count (fun k -> boundary x k && (fst bonds[k] = y || snd bonds[k] = y))
                    if not (within x y) && touching > 0 then
                        let x' = x ||| (1 <<< y)
                        let outward = count (fun k -> (fst bonds[k] = y || snd bonds[k] = y) && not (inside x' k))
                        let fits = x' = full || count (fun k -> boundary x' k && not (isSliced k)) <= keep
                        if fits then
                            let c = cost[x] + 2L * pown bond (dX + outward + dead)
                            if c < cost[x'] then cost[x'] <- c
        best <- min best cost[full]
    best

[<Fact>]
let ``the sweep bound is at most, and the exact sweep programme equal to, the least cost of every sliced set and connected sweep of small lattices`` () =
    let mutable tight = 0
    let mutable cases = 0
    for rows, cols in [ 2, 2; 2, 3; 2, 4; 3, 3 ] do
        for bond in [ 2L; 3L ] do
            for keep in [ 0; 1; 2; 3 ] do
                let exact = sweepBrute rows cols bond keep
                let bound = SliceLower.sweepLeast rows cols (int bond) keep Int64.MaxValue (ref 0L)
                // Without the relaxation the programme is exact.
                let exactly = SliceLower.sweepLeastExact rows cols (int bond) keep Int64.MaxValue (ref 0L)
                Assert.Equal((if exact = Int64.MaxValue then None else Some(BigInteger exact)), exactly)
                cases <- cases + 1
                match bound with
                | None -> Assert.Equal(Int64.MaxValue, exact)
                | Some b ->
                    Assert.True(exact < Int64.MaxValue, sprintf "%dx%d D %d m %d: bound %A but no sweep fits" rows cols bond keep b)
                    Assert.True(b <= BigInteger exact, sprintf "%dx%d D %d m %d: bound %A > exact %d" rows cols bond keep b exact)
                    if b = BigInteger exact then tight <- tight + 1
                    // The ceiling only prunes: just below the bound nothing is found, at the bound the bound is.
                    Assert.Equal(None, SliceLower.sweepLeast rows cols (int bond) keep (int64 b - 1L) (ref 0L))
                    Assert.Equal(Some b, SliceLower.sweepLeast rows cols (int bond) keep (int64 b) (ref 0L))
    Assert.True(tight > 0, sprintf "the bound met the exact least cost in none of %d cases" cases)

[<Fact>]
let ``no loop order executes less than the innermost bound, which is at least the order-free bound and met by some order`` () =
    let rng = Random 28
    let mutable above = 0
    let mutable met = 0
    for rows, cols, bond in [ 2, 3, 2L; 3, 3, 2L; 3, 4, 3L ] do
        let p = lattice rows cols bond
        let bonds = [| 0 .. p.Size.Length - 1 |] |> Array.filter (fun i -> p.Size[i] > 1L)
        for _ in 1 .. 30 do
            let t = randomTree rng p.Inputs.Length
            let sliced = bonds |> Array.filter (fun _ -> rng.Next 3 = 0) |> Array.truncate 5
            let bound, innermost = SliceBound.innermostExecuted p t sliced
            let free = SliceBound.leastExecuted p t sliced
            Assert.True(bound >= free, sprintf "%dx%d: innermost %O < order-free %O" rows cols bound free)
            if sliced.Length = 0 then Assert.Equal(free, bound)
            else
                Assert.Contains(innermost, sliced)
                let rec orders items =
                    match items with
                    | [] -> [ [] ]
                    | _ -> [ for x in items do for rest in orders (List.filter ((<>) x) items) -> x :: rest ]
                let executed = orders (List.ofArray sliced) |> List.map (fun o -> PlanSlice.executedFlops p t (Array.ofList o))
                for e in executed do
                    if e < bound then Assert.Fail(sprintf "%dx%d set %A: executed %O < innermost bound %O" rows cols sliced e bound)
                if bound > free then above <- above + 1
                if List.min executed = bound then met <- met + 1
    // Not a restatement of the order-free bound, and tight on some plans.
    Assert.True(above > 10 && met > 0, sprintf "above the order-free bound on %d plans, met on %d" above met)
