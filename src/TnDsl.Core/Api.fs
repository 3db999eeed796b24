namespace TnDsl

open System
open System.Collections.Generic
open System.IO

// Planning

/// The outcome of a planning command for C#: an exit code, what goes to stdout, and the rendered diagnostics
/// for stderr.
type PlanRun =
    {
        /// 0 when planned, 1 when the plan failed (bad network, unmet memory limit), 2 on a usage error.
        ExitCode: int
        /// The human or JSON report (empty when there is nothing to report).
        Output: string
        /// Diagnostics in the MSBuild canonical form with source lines where known.
        Messages: string array
    }

/// The C#-facing surface of the core: arrays and plain values, no F# options or lists.
module Api =
    /// The names of the registered optimizers.
    let optimizerNames () = Plan.names |> Array.ofList

    let private options (memoryLimit: int64) (seed: int) =
        { PlanOptions.defaults with
            MemoryLimit = (if memoryLimit > 0L then Some memoryLimit else None)
            Seed = seed }

    /// Renders errors and warnings (notes appear in the report itself); a diagnostic without a source range
    /// reads `tn: error TN0300: …`.
    let private render (sources: SourceText list) (ds: Diagnostic list) =
        let find file = sources |> List.tryFind (fun s -> s.File = file)
        ds
        |> List.filter (fun d -> d.Kind.Level <> Info)
        |> List.map (fun d ->
            if d.Range = Range.none then
                let text = Diagnostic.render (fun _ -> None) d
                "tn: " + text.Substring(text.IndexOf(": ", StringComparison.Ordinal) + 2)
            else
                Diagnostic.render find d)
        |> Array.ofList

    let private planProblem range sources (problem: Result<Problem, Diagnostic list>) (warnings: Diagnostic list)
                            (optimizer: string) (memoryLimit: int64) (json: bool) =
        match Plan.tryFind optimizer with
        | Result.Error d -> { ExitCode = 2; Output = ""; Messages = render sources [ d ] }
        | Ok _ ->
            match problem |> Result.bind (Problem.index range) with
            | Result.Error ds -> { ExitCode = 1; Output = ""; Messages = render sources (warnings @ ds) }
            | Ok p ->
                let r = Plan.run optimizer (options memoryLimit 0) p
                let r = { r with Diagnostics = warnings @ r.Diagnostics }
                { ExitCode = (if Plan.succeeded r then 0 else 1)
                  Output = (if json then PlanReport.json r else PlanReport.text r)
                  Messages = render sources r.Diagnostics }

    let private sizeMap (sizes: KeyValuePair<string, int64> array) =
        sizes |> Array.map (fun kv -> kv.Key, kv.Value) |> Map.ofArray

    /// Plans a JSON network file; `sizes` replaces index sizes by name; `memoryLimit` ≤ 0 means none.
    let planJsonFile (path: string) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (memoryLimit: int64) (json: bool) =
        if not (File.Exists path) then
            { ExitCode = 2; Output = ""; Messages = [| sprintf "%s: error: no such file" path |] }
        else
            let text = File.ReadAllText path
            let over = sizeMap sizes
            let problem = PlanInput.ofJson path text |> Result.map (Problem.withSizes (Map.toList over))
            let warnings =
                match problem with
                | Ok p ->
                    let used = p.Inputs |> Array.concat |> Set.ofArray
                    over
                    |> Map.toList
                    |> List.filter (fun (k, _) -> not (used.Contains k))
                    |> List.map (fun (k, _) ->
                        Diagnostic.make PlanDiagnostics.unusedSize (Range.ofFile path) (sprintf "--size %s names no index" k))
                | Result.Error _ -> []
            planProblem (Range.ofFile path) [ SourceText(path, text) ] problem warnings optimizer memoryLimit json

    /// Plans einsum text with shapes (`"ab,bc->ac"`, `"2x3,3x4"`).
    let planEinsum (spec: string) (shapes: string) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (memoryLimit: int64) (json: bool) =
        let problem = PlanInput.ofEinsum spec shapes |> Result.map (Problem.withSizes (Map.toList (sizeMap sizes)))
        planProblem (Range.ofFile "<einsum>") [] problem [] optimizer memoryLimit json

    /// Plans a flat network (from the `.tn` front end); `sizes` sets dynamic dimensions by family (`batch`).
    let planNetwork (net: FlatNetwork) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (memoryLimit: int64) (json: bool) =
        let problem, warnings = PlanInput.ofNetwork net (sizeMap sizes)
        planProblem net.Range [] (Ok problem) warnings optimizer memoryLimit json
