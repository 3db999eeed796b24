namespace TnDsl

open System
open System.Globalization
open System.IO
open System.Numerics
open System.Text
open System.Text.Json

/// The empirical scaling of a network's plan in its integer parameters, for the reports.
type Scaling =
    {
        /// The fitted exponents.
        Exponents: Plan.Exponent list
        /// Parameters that could not be fitted, with the reason.
        Skipped: (string * string) list
        /// The optimizer used for the re-plans.
        Optimizer: string
    }

/// Human and JSON reports of a plan.
module PlanReport =
    /// A count in opt_einsum's style: exact below a million, else `4.800e+07`.
    let sci (b: BigInteger) =
        if b < BigInteger(1000000) then
            b.ToString()
        else
            let e = int (floor (BigInteger.Log10 b))
            let m = Math.Pow(10.0, BigInteger.Log10 b - float e)
            let m, e = if m >= 9.9995 then 1.0, e + 1 else m, e
            sprintf "%.3fe+%02d" m e

    /// A count with its noun, singular for exactly one: `1 element`, `12 elements`, `4.800e+07 elements`.
    let counted (b: BigInteger) (noun: string) = sci b + " " + (if b.IsOne then noun else noun + "s")

    /// The ratio a/b of two counts, safe for any size.
    let ratio (a: BigInteger) (b: BigInteger) =
        // Counts that fit a double divide as doubles (360/128 is 2.8125, not 2.8125000000000013); larger ones in logs.
        if b.IsZero then infinity
        elif Double.IsFinite(float a) && Double.IsFinite(float b) then float a / float b
        else Math.Exp(BigInteger.Log a - BigInteger.Log b)

    let private names (p: Indexed) (ids: int array) =
        ids |> Array.map (fun i -> p.IndexNames[i])

    /// Index lists as einsum text when every name is one character, else as parenthesised lists.
    let private operandText (p: Indexed) (lists: int array array) =
        let single = p.IndexNames |> Array.forall (fun n -> Einsum.textElements(n).Length = 1)
        if single then
            lists |> Array.map (fun l -> String.Join("", names p l)) |> fun xs -> String.Join(",", xs)
        else
            lists |> Array.map (fun l -> "(" + String.Join(" ", names p l) + ")") |> fun xs -> String.Join(" ", xs)

    /// `a -> b`, or `a ->` for a scalar result (no trailing space).
    let private arrow (a: string) (b: string) = if b = "" then a + " ->" else a + " -> " + b

    /// An input's labels as written, a repeated one (a diagonal) repeated.
    let private written (p: Indexed) (t: int) = p.Problem.Inputs[t] |> Array.map (fun n -> Array.IndexOf(p.IndexNames, n))

    /// The whole contraction as einsum-like text.
    let equation (p: Indexed) =
        arrow (operandText p (Array.init p.Inputs.Length (written p))) (operandText p [| p.Output |])

    /// log10 of naive over optimized flops (finite for any sizes).
    let log10Speedup (c: CostReport) =
        BigInteger.Log10(BigInteger.Max(c.NaiveFlops, BigInteger.One)) - BigInteger.Log10(BigInteger.Max(c.Flops, BigInteger.One))

    /// The speed-up as text: `%.4g` while it fits a double, else `~1e+1387`.
    let speedupText (c: CostReport) =
        let r = ratio c.NaiveFlops c.Flops
        if Double.IsFinite r then sprintf "%.4g" r else sprintf "~1e+%.0f" (log10Speedup c)

    /// The most steps the human report lists.
    let maxSteps = 100

    /// The human report, like opt_einsum's path info: totals, the scaling in the network's parameters when
    /// given, then each step with its indices and cost.
    let textWith (scaling: Scaling option) (r: PlanResult) =
        let p = r.Problem
        let sb = StringBuilder()
        let line (label: string) (value: string) = sb.AppendLine(sprintf "  %-22s %s" (label + ":") value) |> ignore
        let eq = equation p
        line "Contraction" (if eq.Length > 100 then eq.Substring(0, 97) + "..." else eq)
        line "Tensors" (sprintf "%d (%d %s)" p.Inputs.Length p.IndexNames.Length (if p.IndexNames.Length = 1 then "index" else "indices"))
        line "Optimizer" (sprintf "%s (search %.1f ms)" r.Optimizer r.SearchMs)
        for d in r.Diagnostics do
            if d.Kind.Level = Info then line "Note" d.Message
        // A refused plan (TN0301: the result alone over the memory limit) may carry the tree planned without the
        // limit; it is no plan of this run, so none is reported, as when no tree was found.
        match (if Plan.succeeded r then r.Cost else None) with
        | None -> line "Plan" "none found"
        | Some c ->
            line "Naive scaling" (string p.IndexNames.Length)
            line "Optimized scaling" (string (r.Steps |> Array.fold (fun m s -> max m s.Involved.Length) 0))
            line "Naive FLOP count" (sci c.NaiveFlops)
            line "Optimized FLOP count" (sci c.Flops)
            line "Theoretical speedup" (speedupText c)
            line "Largest intermediate" (counted c.LargestIntermediate "element")
            line "Peak memory" (counted c.Peak "element" + " (inputs included)")
            line "Total write" (counted c.Write "element")
            line "Backward FLOP count" (sci c.BackwardFlops)
            line "Activation memory" (counted c.ActivationMemory "element" + " kept for backward")
            let bytes = PlanBytes.estimate p r.Tree.Value (match r.Slicing with Some sl -> sl.Indices | None -> [||]) 4
            line "Memory (float32)" (sprintf "%s bytes forward, %s training (inputs, kept intermediates, gradients)"
                                        (sci bytes.Forward) (sci bytes.Training))
            match r.Slicing with
            | Some sl ->
                line "Sliced indices" (sprintf "%s (%s slices; loop order, outermost first)" (String.Join(" ", names p sl.Indices)) (sci sl.Slices))
                line "Sliced FLOP count" (sprintf "%s executed (overhead %.3gx; %s with every step in every slice)"
                                            (sci sl.Flops) sl.Overhead (sci sl.EverySliceFlops))
                line "Largest per slice" (counted sl.LargestIntermediate "element")
                line "Held for reuse" (counted sl.Held "element" + " (step results kept while inner loops run)")
                line "Sliced peak" (counted sl.Peak "element" + " (one slice, the held results and the accumulated result)")
            | None -> ()
            match scaling with
            | Some sc ->
                if not sc.Exponents.IsEmpty then
                    line "Scaling" (sprintf "%s (re-planned with %s)" (Plan.formatScaling sc.Exponents) sc.Optimizer)
                for (name, why) in sc.Skipped do
                    line "Scaling skipped" (sprintf "%s (%s)" name why)
            | None -> ()
            let rule = String('-', 80)
            sb.AppendLine(rule).AppendLine(sprintf "  %5s %7s %11s  %s" "step" "scaling" "flops" "operands -> result").AppendLine(rule) |> ignore
            // The last step makes the result: its axes in the order the network or the einsum asks for (as the
            // Contraction line and opt_einsum's last step show them), the same indices as `Kept`, which holds them in
            // working order. Every other step's result is shown as the next step that uses it shows it.
            let root = p.Inputs.Length + r.Steps.Length - 1
            for s in Array.truncate maxSteps r.Steps do
                sb.AppendLine(
                    sprintf "  %5d %7d %11s  %s" (s.Node - p.Inputs.Length + 1) s.Involved.Length (sci s.Flops)
                        (arrow (operandText p (s.Children |> Array.mapi (fun j c -> if c < p.Inputs.Length then written p c else s.ChildIndices[j])))
                             (operandText p [| (if s.Node = root then p.Output else s.Kept) |])))
                |> ignore
            if r.Steps.Length > maxSteps then
                sb.AppendLine(sprintf "  … %d more steps (--json lists the whole path)" (r.Steps.Length - maxSteps)) |> ignore
        sb.ToString()

    /// The human report without scaling.
    let text (r: PlanResult) = textWith None r

    /// The JSON report: optimizer, chosen (what `auto` chose), flops, naive_flops, largest_intermediate, peak, write, backward_flops,
    /// activation_memory (exact counts in the convention of every `--json` output, `JsonOutput`), log10_flops and
    /// log10_naive_flops, path (linear pairs), ssa_path, search_ms and diagnostics.
    let jsonWith (scaling: Scaling option) (r: PlanResult) =
        let result = r
        use ms = new MemoryStream()
        let write () =
            use w = new Utf8JsonWriter(ms, JsonWriterOptions(Indented = true, Encoder = Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping))
            let big (name: string) (b: BigInteger) = JsonOutput.writeCount w name b
            // Paths are written compactly, one JSON array of arrays on a line.
            let paths (name: string) (path: int array array) =
                w.WritePropertyName name
                w.WriteRawValue("[" + String.Join(",", path |> Array.map (fun s -> "[" + String.Join(",", s) + "]")) + "]")
            w.WriteStartObject()
            w.WriteBoolean("ok", Plan.succeeded r)
            w.WriteString("optimizer", r.Optimizer)
            w.WriteString("chosen", r.Chosen)
            w.WriteNumber("tensors", r.Problem.Inputs.Length)
            let problem = r.Problem
            match r.Cost, r.Tree with
            | Some c, Some t when Plan.succeeded r ->
                big "flops" c.Flops
                big "naive_flops" c.NaiveFlops
                // The ratio overflows a double on large networks: null then, with its log10 always given.
                let r = ratio c.NaiveFlops c.Flops
                if Double.IsFinite r then w.WriteNumber("speedup", r) else w.WriteNull "speedup"
                w.WriteNumber("log10_speedup", log10Speedup c)
                JsonOutput.writeLog10 w "flops" c.Flops
                JsonOutput.writeLog10 w "naive_flops" c.NaiveFlops
                big "largest_intermediate" c.LargestIntermediate
                big "peak" c.Peak
                big "write" c.Write
                big "backward_flops" c.BackwardFlops
                big "activation_memory" c.ActivationMemory
                let bytes = PlanBytes.estimate result.Problem t (match result.Slicing with Some sl -> sl.Indices | None -> [||]) 4
                big "forward_bytes_float32" bytes.Forward
                big "training_bytes_float32" bytes.Training
                match result.Slicing with
                | Some sl ->
                    // "slicing": {"indices": ["k", "j"] (loop order, outermost first), "slices": 4, "flops": … (executed),
                    //             "slice_flops": …, "every_slice_flops": …, "overhead": 1.2, "largest_intermediate": …,
                    //             "held": …, "peak": …, "levels": [0, 2, …] (per step, as in ssa_path)}
                    w.WriteStartObject "slicing"
                    w.WriteStartArray "indices"
                    for n in names result.Problem sl.Indices do
                        w.WriteStringValue n
                    w.WriteEndArray()
                    big "slices" sl.Slices
                    big "flops" sl.Flops
                    big "slice_flops" sl.SliceFlops
                    big "every_slice_flops" sl.EverySliceFlops
                    w.WriteNumber("overhead", Math.Round(sl.Overhead, 6))
                    big "largest_intermediate" sl.LargestIntermediate
                    big "held" sl.Held
                    big "peak" sl.Peak
                    w.WritePropertyName "levels"
                    w.WriteRawValue("[" + String.Join(",", PlanSlice.levels problem t sl.Indices) + "]")
                    w.WriteEndObject()
                | None -> ()
                paths "path" (ContractionTree.toLinear t)
                paths "ssa_path" (ContractionTree.toSsa t)
                // What a backend executes: the one conversion to pairwise steps (`PairSteps.ofTree`).
                paths "pairwise_path" (PairSteps.ofTree problem t |> Array.map (fun s -> [| s.Left; s.Right |]))
            | _ -> w.WriteNull "path"
            w.WriteNumber("search_ms", Math.Round(r.SearchMs, 3))
            match scaling with
            | Some sc ->
                // "scaling": {"formula": "flops ~ n^1.0", "optimizer": "greedy", "exponents": {"n": 1.01},
                //             "points": {"n": [[8, 1234], …]}, "skipped": {"d": "why"}}
                w.WriteStartObject "scaling"
                w.WriteString("formula", Plan.formatScaling sc.Exponents)
                w.WriteString("optimizer", sc.Optimizer)
                w.WriteStartObject "exponents"
                for e in sc.Exponents do
                    w.WriteNumber(e.Parameter, Math.Round(e.Exponent, 4))
                w.WriteEndObject()
                // Parameters in which flops grow exponentially: log2 flops per unit of the parameter.
                w.WriteStartObject "exponential_rates"
                for e in sc.Exponents do
                    if e.Exponential then w.WriteNumber(e.Parameter, Math.Round(e.Rate, 4))
                w.WriteEndObject()
                w.WriteStartObject "points"
                for e in sc.Exponents do
                    w.WritePropertyName e.Parameter
                    w.WriteRawValue("[" + String.Join(",", e.Points |> List.map (fun (v, f) -> sprintf "[%d,%s]" v (JsonOutput.countText f))) + "]")
                w.WriteEndObject()
                w.WriteStartObject "skipped"
                for (name, why) in sc.Skipped do
                    w.WriteString(name, why)
                w.WriteEndObject()
                w.WriteEndObject()
            | None -> ()
            w.WriteStartArray "diagnostics"
            for d in r.Diagnostics do
                Diagnostic.writeJson w d
            w.WriteEndArray()
            w.WriteEndObject()
        write ()
        Encoding.UTF8.GetString(ms.ToArray())

    /// The JSON report without scaling.
    let json (r: PlanResult) = jsonWith None r
