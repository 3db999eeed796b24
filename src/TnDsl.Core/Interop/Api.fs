/// The surface C# code calls: arrays, plain classes, no F# lists or options. Everything here wraps the F# phases.
namespace TnDsl.Api

open System
open System.Collections.Generic
open TnDsl

/// One diagnostic, flattened for C#.
[<Sealed; AllowNullLiteral>]
type DiagnosticView(d: Diagnostic, rendered: string) =
    /// "error", "warning" or "info".
    member _.Level =
        match d.Kind.Level with
        | Level.Error -> "error"
        | Level.Warning -> "warning"
        | Level.Info -> "info"
    /// The stable code, e.g. TN0201.
    member _.Code = d.Kind.Code
    /// The short title of the code.
    member _.Title = d.Kind.Title
    member _.File = d.Range.File
    member _.Line = d.Range.Start.Line
    member _.Column = d.Range.Start.Col
    member _.EndLine = d.Range.End.Line
    member _.EndColumn = d.Range.End.Col
    member _.Message = d.Message
    member _.Hints: string array = Array.ofList d.Hints
    /// The MSBuild canonical line `file(line,col): error TN0201: message`.
    member _.Headline = Diagnostic.headline d
    /// The headline with the source line, a caret under the range, and hints.
    member _.Rendered = rendered
    /// True for an error.
    member _.IsError = Diagnostic.isError d
    /// The F# diagnostic.
    member _.Diagnostic = d

/// Counts that describe a checked network.
[<Sealed>]
type NetworkSummary(net: FlatNetwork) =
    let count role = net.Tensors |> Array.filter (fun t -> t.Role = role) |> Array.length
    let uses = FlatNetwork.incidence net
    /// The network's name.
    member _.Name = net.Name
    member _.Tensors = net.Tensors.Length
    member _.Weights = count Weight
    member _.Inputs = count Input
    member _.Constants = count Const
    member _.Indices = net.Indices.Length
    /// Indices that join tensors and are not open.
    member _.Bonds =
        let outs = Set.ofList net.Output
        net.Indices |> Array.filter (fun i -> not (outs.Contains i.Id) && uses[i.Id].Length >= 2) |> Array.length
    member _.Hyperindices = net.Indices |> Array.filter (fun i -> i.Kind = Hyper) |> Array.length
    member _.OpenLegs = net.Output.Length
    /// Open legs by name, in output order.
    member _.OpenLegNames = net.Output |> List.map (fun o -> net.Indices[o].Name) |> Array.ofList
    /// Distinct trainable parameters (tied weights counted once).
    member _.TrainableTensors = (FlatNetwork.parameters net).Length
    /// Trainable scalars, exact.
    member _.TrainableScalars = FlatNetwork.parameterCount net
    /// The network parameters and the values used.
    member _.Parameters = net.Parameters |> List.map (fun (n, v) -> KeyValuePair(n, string v)) |> Array.ofList
    member _.Cuts = net.Cuts |> List.map (fun c -> c.Name) |> Array.ofList
    /// The flat network itself.
    member _.Network = net

/// What checking a file produced.
[<Sealed>]
type CheckResult(result: Compiler.CompileResult) =
    let source file =
        match result.Sources.TryGetValue file with
        | true, s -> Some s
        | _ -> None
    let views = result.Diagnostics |> List.map (fun d -> DiagnosticView(d, Diagnostic.render source d)) |> Array.ofList
    /// All diagnostics in source order.
    member _.Diagnostics = views
    member _.HasErrors = result.HasErrors
    member _.ErrorCount = views |> Array.filter (fun v -> v.IsError) |> Array.length
    member _.WarningCount = views |> Array.filter (fun v -> v.Level = "warning") |> Array.length
    /// The summary of the checked network; null when there were errors.
    member _.Summary: NetworkSummary option = result.Network |> Option.map NetworkSummary
    /// The summary, or null when there were errors (for C#).
    member r.SummaryOrNull = match r.Summary with Some s -> s | None -> Unchecked.defaultof<NetworkSummary>
    /// The F# result.
    member _.Result = result

/// The front end for C#.
[<AbstractClass; Sealed>]
type Frontend =
    /// Checks a `.tn` file with parameter overrides (name → value text) and an optional network name (null for the last).
    static member Check(path: string, overrides: IReadOnlyList<KeyValuePair<string, string>>, network: string) =
        let options =
            { Compiler.defaultOptions with
                Overrides = overrides |> Seq.map (fun kv -> kv.Key, kv.Value) |> List.ofSeq
                NetworkName = Option.ofObj network }
        CheckResult(Compiler.compileFile path options)

    /// Checks `.tn` source text held in memory under a file name.
    static member CheckText(file: string, text: string, overrides: IReadOnlyList<KeyValuePair<string, string>>, network: string) =
        let options =
            { Compiler.defaultOptions with
                Overrides = overrides |> Seq.map (fun kv -> kv.Key, kv.Value) |> List.ofSeq
                NetworkName = Option.ofObj network }
        CheckResult(Compiler.compileOnBigStack (fun () -> Compiler.compileText Compiler.readDisk file text options))

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
module PlanApi =
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

    let private planProblemWith (scaling: unit -> Scaling option) range sources (problem: Result<Problem, Diagnostic list>)
                                (warnings: Diagnostic list) (optimizer: string) (memoryLimit: int64) (json: bool) =
        match Plan.tryFind optimizer with
        | Result.Error d -> { ExitCode = 2; Output = ""; Messages = render sources [ d ] }
        | Ok _ ->
            match problem |> Result.bind (Problem.index range) with
            | Result.Error ds -> { ExitCode = 1; Output = ""; Messages = render sources (warnings @ ds) }
            | Ok p ->
                let r = Plan.run optimizer (options memoryLimit 0) p
                let r = { r with Diagnostics = warnings @ r.Diagnostics }
                let sc = if Plan.succeeded r then scaling () else None
                { ExitCode = (if Plan.succeeded r then 0 else 1)
                  Output = (if json then PlanReport.jsonWith sc r else PlanReport.textWith sc r)
                  Messages = render sources r.Diagnostics }

    let private planProblem range sources problem warnings optimizer memoryLimit json =
        planProblemWith (fun () -> None) range sources problem warnings optimizer memoryLimit json

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

    /// The wall-clock budget of the scaling report, in milliseconds.
    let scalingBudgetMs = 3000L

    /// The scaling of a `.tn` network's plan in each integer parameter: the file is recompiled with the parameter
    /// overridden (the user's other overrides kept) at `Plan.scalingPoints`, and each rebuild planned without a
    /// memory limit by `optimal` when it has at most 12 tensors and by `greedy` otherwise, which keeps the report
    /// fast on large networks. A value at which the file has errors (a `require` that fails) skips the parameter
    /// with the first error's message.
    let scalingOf (net: FlatNetwork) (path: string) (overrides: KeyValuePair<string, string> array) (network: string)
                  (sizes: KeyValuePair<string, int64> array) : Scaling =
        let ints = net.Parameters |> List.choose (fun (k, v) -> match v with VInt n -> Some(k, n) | _ -> None)
        let names = ints |> List.map fst |> Set.ofList
        let kept = overrides |> Array.filter (fun kv -> not (names.Contains kv.Key)) |> Array.map (fun kv -> kv.Key, kv.Value) |> List.ofArray
        // Re-plans stay small and quick: a rebuild may have at most 8 times the tensors (at least 256), and once
        // the budget is spent the remaining points are skipped.
        let maxTensors = max 256 (8 * net.Tensors.Length)
        let clock = Diagnostics.Stopwatch.StartNew()
        let rebuild (values: (string * int64) list) =
            let options =
                { Compiler.defaultOptions with
                    Overrides = kept @ (values |> List.map (fun (k, v) -> k, string v))
                    NetworkName = Option.ofObj network
                    Limits = { Elaborate.defaultOptions with MaxTensors = maxTensors } }
            let r =
                if clock.ElapsedMilliseconds > scalingBudgetMs then None
                else Some(Compiler.compileFile path options)
            match r with
            | None -> Result.Error(sprintf "the scaling budget of %d ms was spent" scalingBudgetMs)
            | Some r ->
            match r.Network with
            | Some n -> Ok(fst (PlanInput.ofNetwork n (sizeMap sizes)))
            | None ->
                match r.Diagnostics |> List.tryFind Diagnostic.isError with
                | Some d -> Result.Error d.Message
                | None -> Result.Error "the network does not check"
        let plan (problem: Problem) =
            match Problem.index Range.none problem with
            | Ok p ->
                let name = if p.Inputs.Length <= 12 then "optimal" else "greedy"
                (Plan.run name (options 0L 0) p).Cost |> Option.map (fun c -> c.Flops)
            | Result.Error _ -> None
        let exps, skipped = Plan.scalingWith ints rebuild plan
        { Exponents = exps; Skipped = skipped; Optimizer = "optimal up to 12 tensors, else greedy" }

    /// Plans a `.tn` network already checked from `path` with `overrides` and `network` (null for the last), and
    /// with `withScaling` reports the scaling in its integer parameters (see `scalingOf`).
    let planTnNetwork (net: FlatNetwork) (path: string) (overrides: KeyValuePair<string, string> array) (network: string)
                      (optimizer: string) (sizes: KeyValuePair<string, int64> array) (memoryLimit: int64) (json: bool)
                      (withScaling: bool) =
        let problem, warnings = PlanInput.ofNetwork net (sizeMap sizes)
        let scaling () = if withScaling then Some(scalingOf net path overrides network sizes) else None
        planProblemWith scaling net.Range [] (Ok problem) warnings optimizer memoryLimit json

    /// A flat network as a JSON network (the form `tn plan` reads); `sizes` sets dynamic dimensions by family.
    /// The JSON text is the output; a size override that names no dynamic family is a warning message.
    let exportNetwork (net: FlatNetwork) (sizes: KeyValuePair<string, int64> array) : PlanRun =
        let problem, warnings = PlanInput.ofNetwork net (sizeMap sizes)
        { ExitCode = 0; Output = PlanInput.toJson problem; Messages = render [] warnings }

    /// Plans a flat network (from the `.tn` front end); `sizes` sets dynamic dimensions by family (`batch`).
    let planNetwork (net: FlatNetwork) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (memoryLimit: int64) (json: bool) =
        let problem, warnings = PlanInput.ofNetwork net (sizeMap sizes)
        planProblem net.Range [] (Ok problem) warnings optimizer memoryLimit json

namespace TnDsl

open System.Collections.Generic
open System.Numerics

// The C#-shaped surface of the core: arrays and IReadOnlyList, no F# options or lists.

// Min-cuts

/// A bond severed by a min-cut, for C# callers.
[<Sealed>]
type CutBondView(b: CutBond) =
    /// The bond's name as written (`b[3]`).
    member _.Name = b.Name
    /// Its dimension.
    member _.Dim = b.Dim
    /// True for a hyperindex.
    member _.Hyper = b.Hyper
    /// True when the cut runs through an output leg.
    member _.Open = b.Open
    /// Where the bond was declared.
    member _.Range = b.Range

/// One evaluated bipartition, for C# callers.
[<Sealed>]
type CutView(net: FlatNetwork, r: CutReport) =
    let legNames (ids: int list) = ids |> List.map (fun i -> net.Indices[i].Name) |> Array.ofList
    let tensorNames (ids: int list) = ids |> List.map (fun t -> net.Tensors[t].Name) |> Array.ofList
    /// The cut's name.
    member _.Name = r.Name
    /// The min-cut bound, exact.
    member _.Bound: BigInteger = r.Bound
    /// log2 of the bound.
    member _.Bits = r.Bits
    /// Natural log of the bound.
    member _.Nats = r.Nats
    /// The severed bonds.
    member _.Bonds: IReadOnlyList<CutBondView> = r.Bonds |> List.map CutBondView |> Array.ofList :> _
    /// Names of the A legs.
    member _.LeftLegs: IReadOnlyList<string> = legNames r.Left :> _
    /// Names of the B legs.
    member _.RightLegs: IReadOnlyList<string> = legNames r.Right :> _
    /// Names of the tensors on the A side.
    member _.LeftTensors: IReadOnlyList<string> = tensorNames r.LeftTensors :> _
    /// Names of the tensors on the B side.
    member _.RightTensors: IReadOnlyList<string> = tensorNames r.RightTensors :> _
    /// min(product of A dims, product of B dims).
    member _.Trivial: BigInteger = r.Trivial
    /// log2 of the trivial bound.
    member _.TrivialBits = r.TrivialBits
    /// "min-cut", "trivial" or "equal": which bound is tighter.
    member _.Tighter =
        match r.Tighter with
        | MinCutTighter -> "min-cut"
        | TrivialTighter -> "trivial"
        | Equal -> "equal"
    /// Where the cut was declared.
    member _.Range = r.Range
    /// The F# report.
    member _.Report = r

/// One profile entry, for C# callers.
[<Sealed>]
type ProfileEntryView(net: FlatNetwork, e: ProfileEntry) =
    /// "contiguous", "rows", "columns" or "interleaved".
    member _.Kind =
        match e.Kind with
        | Contiguous -> "contiguous"
        | Rows -> "rows"
        | Columns -> "columns"
        | Interleaved -> "interleaved"
    /// Legs, rows or columns on the A side (0 for interleaved splits).
    member _.Position = e.Position
    /// The evaluated split.
    member _.Cut = CutView(net, e.Report)

/// An oversized bond, for C# callers.
[<Sealed>]
type OversizedBondView(o: OversizedBond) =
    /// The bond's name.
    member _.Name = o.Name
    /// Its declared dimension.
    member _.Dim = o.Dim
    /// The dimension it can be reduced to.
    member _.ReducibleTo: BigInteger = o.ReducibleTo
    /// Where it was declared.
    member _.Range = o.Range

/// Everything `tn cuts` shows for a network.
[<Sealed>]
type CutsView
    (
        cuts: IReadOnlyList<CutView>,
        profile: IReadOnlyList<ProfileEntryView>,
        oversized: IReadOnlyList<OversizedBondView>,
        diagnostics: IReadOnlyList<Diagnostic>
    ) =
    /// The declared cuts that were evaluated.
    member _.Cuts = cuts
    /// The profile (empty unless asked for).
    member _.Profile = profile
    /// Oversized bonds.
    member _.Oversized = oversized
    /// Diagnostics: invalid cuts, batch legs, oversized bonds.
    member _.Diagnostics = diagnostics

/// Min-cut analysis for C# callers.
[<AbstractClass; Sealed>]
type MinCutApi =
    /// Evaluates the declared cuts of a network (only `cutName` when it is not null), the profile when asked,
    /// and the oversized-bond check. An unknown cut name evaluates nothing and returns no cuts.
    static member Analyse(net: FlatNetwork, cutName: string | null, withProfile: bool) : CutsView =
        let net' =
            match cutName with
            | null -> net
            | name -> { net with Cuts = net.Cuts |> List.filter (fun c -> c.Name = name) }
        let reports, cutDiags = MinCut.evaluateAll net'
        let profile = if withProfile then MinCut.profile net else []
        let over, overDiags = MinCut.oversized net
        CutsView(
            reports |> List.map (fun r -> CutView(net, r)) |> Array.ofList,
            profile |> List.map (fun e -> ProfileEntryView(net, e)) |> Array.ofList,
            over |> List.map OversizedBondView |> Array.ofList,
            // One warning per oversized bond family, not one per member; errors first.
            cutDiags @ overDiags |> Diagnostic.collapse |> Diagnostic.sort |> Array.ofList
        )

    /// The declared cuts of a network, each evaluated once by the exact engine: the cheap summary `tn check`
    /// prints. Invalid cuts (which the checker reports) are left out.
    static member Declared(net: FlatNetwork) : CutView array =
        MinCut.evaluateAllWith PrimeExponent net |> fst |> List.map (fun r -> CutView(net, r)) |> Array.ofList

    /// The names of a network's declared cuts.
    static member CutNames(net: FlatNetwork) : string array = net.Cuts |> List.map (fun c -> c.Name) |> Array.ofList
