namespace TnDsl.Testing

open System
open TnDsl

/// What an oracle found wrong.
type Violation =
    {
        /// The oracle: "shape", "dtype", "value", "order", "rank", "gradient" or "forward" (the code threw).
        Oracle: string
        /// What is wrong, in a sentence with the numbers.
        Message: string
        /// The largest absolute deviation found (0 where the oracle is not about values).
        Deviation: float
        /// Where it is: an output multi-index, or a tensor name and entry; empty when not about one entry.
        At: string
    }

    override v.ToString() = sprintf "%s: %s" v.Oracle v.Message

/// The oracles. Each compares code under test with something computed independently and returns the first
/// violation found; the reference values come from `Reference` (naive float64).
module Oracles =
    let private ok = Result<unit, Violation>.Ok()

    let private fail oracle deviation at message =
        Result<unit, Violation>.Error { Oracle = oracle; Message = message; Deviation = deviation; At = at }

    let private show (idx: int array) = "[" + String.Join(", ", idx) + "]"

    /// The output shape a network promises: its output legs' dimensions in order (a dynamic leg at the size the
    /// network carries now).
    let expectedShape (net: FlatNetwork) = net.Output |> List.map (fun o -> Dim.size net.Indices[o].Dim) |> Array.ofList

    /// Shape contract: the result has one axis per output leg, in the declared order, of the leg's dimension.
    let shape (net: FlatNetwork) (actual: int64 array) =
        let expected = expectedShape net
        if actual = expected then ok
        else
            let names = String.Join(", ", net.Output |> List.map (fun o -> net.Indices[o].Name))
            fail "shape" 0.0 "" (sprintf "expected shape %s (output legs %s), got %s" (show (Array.map int expected)) names (show (Array.map int actual)))

    /// Dtype contract: the result has the dtype the tensors were given in.
    let dtype (expected: DType) (actual: string) =
        if String.Equals(DType.name expected, actual, StringComparison.OrdinalIgnoreCase) then ok
        else fail "dtype" 0.0 "" (sprintf "tensors were %s but the result is %s" (DType.name expected) actual)

    /// Value oracle: every entry of `actual` (row-major over the reference's axes) within tolerance of the
    /// reference, where `magnitude` is the contraction of the absolute values. Reports the largest deviation
    /// relative to what was allowed.
    let value (tol: Tolerance) (reference: Dense) (magnitude: Dense) (actual: float array) =
        if actual.Length <> reference.Data.Length then
            fail "shape" 0.0 "" (sprintf "expected %d entries, got %d" reference.Data.Length actual.Length)
        else
            let mutable worst, worstRatio, at = 0.0, 0.0, -1
            let mutable largest = 0.0
            for e in 0 .. actual.Length - 1 do
                let d = Math.Abs(actual[e] - reference.Data[e])
                let d = if Double.IsNaN d then infinity else d
                largest <- max largest d
                let allowed = Tolerance.allowed tol magnitude.Data[e]
                let ratio = if d = 0.0 then 0.0 elif allowed = 0.0 then infinity else d / allowed
                if ratio > worstRatio then
                    worstRatio <- ratio
                    worst <- d
                    at <- e
            if worstRatio <= 1.0 then ok
            else
                let idx = show (Dense.unflatten reference.Shape at)
                fail "value" largest idx
                    (sprintf "largest deviation %.3g at output %s: expected %.9g, got %.9g (allowed %.3g; %d of %d entries out of tolerance)"
                        worst idx reference.Data[at] actual[at] (Tolerance.allowed tol magnitude.Data[at])
                        (Seq.init actual.Length id |> Seq.filter (fun e -> Math.Abs(actual[e] - reference.Data[e]) > Tolerance.allowed tol magnitude.Data[e] || Double.IsNaN actual[e]) |> Seq.length)
                        actual.Length)

    /// Order independence: every optimizer in the planner's registry plans the network, `execute` runs each plan
    /// (by default `Reference.ofTree`), and each result must match the reference within tolerance.
    let orderIndependence (tol: Tolerance) (net: FlatNetwork) (values: Dense array) (execute: ContractionTree -> Dense array -> int array -> Dense) =
        let output = Array.ofList net.Output
        let reference = Reference.contract values output
        let magnitude = Reference.contract (values |> Array.map Dense.abs) output
        let problem, _ = PlanInput.ofNetwork net Map.empty
        match Problem.index net.Range problem with
        | Result.Error ds -> fail "order" 0.0 "" (sprintf "the network cannot be planned: %s" (String.Join("; ", ds |> List.map (fun d -> d.Message))))
        | Ok p ->
            let options = { PlanOptions.defaults with Parallel = false; Trials = 16; TimeLimitMs = Some 200 }
            Plan.names
            |> List.fold (fun acc name ->
                match acc with
                | Result.Error _ -> acc
                | Ok() ->
                    let r = Plan.run name options p
                    match r.Tree with
                    | None -> fail "order" 0.0 name (sprintf "optimizer %s found no plan" name)
                    | Some tree ->
                        let got = execute tree values output
                        match value tol reference magnitude got.Data with
                        | Ok() -> ok
                        | Result.Error v -> Result.Error { v with Oracle = "order"; Message = sprintf "under the %s plan: %s" name v.Message })
                ok

    /// Min-cut rank bound: for a bipartition of the output legs, the numerical rank of the result matricized as
    /// left × right (in each slice of the dynamic legs) is at most the min-cut bound of the network.
    let rankBound (relTol: float) (net: FlatNetwork) (cut: Bipartition) (result: Dense) =
        // Indices the flow graph leaves out (dynamic legs, which are conditioned on, and an index on one tensor
        // that is not open) take no part in the bound; they are set to 1 before the graph is built, because
        // CutGraph.build reads every index's size in prime-exponent mode and fails on a left-out index whose size
        // is not a power of the network's one prime (e.g. a batch of 3 with bonds of 2).
        let uses = FlatNetwork.incidence net |> Array.map (List.distinct >> List.length)
        let outputs = Set.ofList net.Output
        let leftOut (i: FlatIndex) = Dim.isDynamic i.Dim || uses[i.Id] + (if outputs.Contains i.Id then 1 else 0) < 2
        let conditioned =
            { net with Indices = net.Indices |> Array.map (fun i -> if leftOut i then { i with Dim = (if Dim.isDynamic i.Dim then Dynamic 1L else Fixed 1L) } else i) }
        let report = MinCut.bipartition conditioned "check" cut.Left
        let dynamicLegs = net.Output |> List.filter (fun o -> Dim.isDynamic net.Indices[o].Dim)
        let ranks = Rank.slices dynamicLegs result |> List.map (fun s -> Rank.matricize cut.Left s |> Rank.numerical relTol)
        let rank = if ranks.IsEmpty then 0 else List.max ranks
        if bigint rank <= report.Bound then ok
        else
            let names ids = String.Join(", ", ids |> List.map (fun i -> net.Indices[i].Name))
            fail "rank" 0.0 (sprintf "%s | %s" (names cut.Left) (names cut.Right))
                (sprintf "the result matricized as (%s) x (%s) has numerical rank %d, above the min-cut bound %O"
                    (names cut.Left) (names cut.Right) rank report.Bound)

    /// Gradient agreement: for the scalar L = Σ cotangent ⊙ f(values), the claimed gradient of L with respect to
    /// each tensor in `tensors` must match central finite differences of f at up to `entries` entries per tensor
    /// (chosen by `seed`). f is multilinear in each single tensor, so central differences are exact up to rounding;
    /// the allowed gap is `tol` applied to Σ |cotangent| ⊙ magnitude divided by the step.
    let gradient (tol: Tolerance) (f: Dense array -> Dense) (values: Dense array) (cotangent: Dense) (magnitude: Dense)
                 (claimed: Dense array) (tensors: (int * string) list) (entries: int) (seed: int) =
        let rng = Random(seed)
        let step = 0.5
        let loss (vs: Dense array) =
            let out = f vs
            Array.fold2 (fun acc a b -> acc + a * b) 0.0 out.Data cotangent.Data
        let scale = Array.fold2 (fun acc (a: float) b -> acc + Math.Abs a * b) 0.0 cotangent.Data magnitude.Data
        let allowed = Tolerance.allowed tol (scale / step) * 4.0
        let mutable result = ok
        for (k, name) in tensors do
            if result = ok then
                let n = values[k].Data.Length
                let picks = if n <= entries then [| 0 .. n - 1 |] else Array.init entries (fun _ -> rng.Next n)
                for e in picks do
                    if result = ok then
                        let shifted (h: float) =
                            values |> Array.mapi (fun j v -> if j <> k then v else { v with Data = v.Data |> Array.mapi (fun i x -> if i = e then x + h else x) })
                        let fd = (loss (shifted step) - loss (shifted -step)) / (2.0 * step)
                        let g = claimed[k].Data[e]
                        let d = Math.Abs(fd - g)
                        if not (d <= allowed) then
                            let at = sprintf "%s%s" name (show (Dense.unflatten values[k].Shape e))
                            result <- fail "gradient" d at (sprintf "dL/d%s is %.9g by the gradient but %.9g by finite differences (allowed %.3g)" at g fd allowed)
        result
