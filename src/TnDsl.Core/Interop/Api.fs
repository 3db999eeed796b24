/// The surface C# code calls: arrays, plain classes, no F# lists or options. Everything here wraps the F# phases.
namespace TnDsl.Api

open System
open System.Collections.Generic
open TnDsl

/// Diagnostics rendered in one place for every C# caller: the MSBuild canonical headline with the source line and
/// a caret where the source is known; a diagnostic without a source range reads `tn: error TN0300: …`.
module Rendering =
    /// Renders one diagnostic with the sources at hand.
    let render (source: string -> SourceText option) (d: Diagnostic) =
        if d.Range = Range.none then
            let text = Diagnostic.render (fun _ -> None) d
            "tn: " + text.Substring(text.IndexOf(": ", StringComparison.Ordinal) + 2)
        else
            Diagnostic.render source d

    /// A source lookup over the texts a compilation kept.
    let lookup (sources: IReadOnlyDictionary<string, SourceText>) (file: string) =
        match sources.TryGetValue file with
        | true, s -> Some s
        | _ -> None

/// One diagnostic, flattened for C#.
[<Sealed; AllowNullLiteral>]
type DiagnosticView(d: Diagnostic, rendered: string) =
    /// A view rendered with no sources at hand.
    new(d: Diagnostic) = DiagnosticView(d, Rendering.render (fun _ -> None) d)
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
    /// The file of the range.
    member _.File = d.Range.File
    /// The 1-based line where the range starts.
    member _.Line = d.Range.Start.Line
    /// The 1-based column where the range starts.
    member _.Column = d.Range.Start.Col
    /// The line where the range ends.
    member _.EndLine = d.Range.End.Line
    /// The column where the range ends.
    member _.EndColumn = d.Range.End.Col
    /// The message.
    member _.Message = d.Message
    /// The hints, in order.
    member _.Hints: string array = Array.ofList d.Hints
    /// Writes it as the JSON object every `--json` output uses (`Diagnostic.writeJson`).
    member _.WriteJson(w: System.Text.Json.Utf8JsonWriter) = Diagnostic.writeJson w d
    /// The MSBuild canonical line `file(line,col): error TN0201: message`.
    member _.Headline = Diagnostic.headline d
    /// The headline with the source line, a caret under the range, and hints (see `Rendering.render`).
    member _.Rendered = rendered
    /// True for an error.
    member _.IsError = Diagnostic.isError d
    /// True for a note (info).
    member _.IsInfo = (d.Kind.Level = Level.Info)
    /// The F# diagnostic.
    member _.Diagnostic = d
    /// A refusal of the memory guard as a diagnostic of no source: TN0301 (memory limit cannot be met), the code
    /// `tn plan` gives a limit no plan meets, for a verb's `--json` document of errors.
    static member MemoryLimit(message: string) =
        DiagnosticView(Diagnostic.make PlanDiagnostics.memoryLimit Range.none message)

/// Counts in the convention of every `--json` output (`JsonOutput`), for C# writers: a JSON number up to 2^53, a
/// decimal string beyond, with a `log10_` companion where a count can pass 2^53.
[<AbstractClass; Sealed>]
type JsonCount =
    /// Writes the member `name` holding the count `value`.
    static member Write(w: System.Text.Json.Utf8JsonWriter, name: string, value: System.Numerics.BigInteger) = JsonOutput.writeCount w name value
    /// Writes the count `value` as the next array element.
    static member WriteValue(w: System.Text.Json.Utf8JsonWriter, value: System.Numerics.BigInteger) = JsonOutput.writeCountValue w value
    /// Writes `log10_<name>`, the magnitude of the count `value` (0 for 0).
    static member WriteLog10(w: System.Text.Json.Utf8JsonWriter, name: string, value: System.Numerics.BigInteger) = JsonOutput.writeLog10 w name value

/// The one exception the C# surface throws: a file with errors, a network that cannot be planned or built. The
/// message's first line says what failed; `Diagnostics` carries every diagnostic, rendered once.
type TnException(summary: string, diagnostics: DiagnosticView array, file: string | null) =
    inherit Exception(
        if diagnostics.Length = 0 then summary
        else summary + Environment.NewLine + String.Join(Environment.NewLine, diagnostics |> Array.map (fun d -> d.Rendered)))
    /// An exception that is not about errors in a file (a plan that failed), with its diagnostics.
    new(summary: string, diagnostics: DiagnosticView array) = TnException(summary, diagnostics, null)
    /// An exception without diagnostics.
    new(summary: string) = TnException(summary, [||], null)
    /// What failed, in one line: for errors in a file, its count line (`grid.tn: 1 error, 0 warnings.`, see `File`).
    member _.Summary = summary
    /// The file when the exception is errors in it (`Summary` is then the line that ends their report, the same
    /// wherever they are reported); null for any other failure.
    member _.File = file
    /// Every diagnostic, errors and warnings (and notes where a plan has them).
    member _.Diagnostics: IReadOnlyList<DiagnosticView> = diagnostics
    /// The diagnostics rendered (see `DiagnosticView.Rendered`).
    member _.Rendered: IReadOnlyList<string> = (diagnostics |> Array.map (fun d -> d.Rendered)) :> _

/// Where something was written, in C# shape: the file and 1-based start and end positions.
[<Sealed>]
type RangeView(r: SourceRange) =
    /// The file.
    member _.File = r.File
    /// The start line.
    member _.Line = r.Start.Line
    /// The start column.
    member _.Column = r.Start.Col
    /// The end line.
    member _.EndLine = r.End.Line
    /// The end column.
    member _.EndColumn = r.End.Col
    /// False for something built in memory, which has no place in a file.
    member _.IsKnown = r <> Range.none

/// The forms an initialiser takes (see `InitView`).
type InitForm =
    /// Independent normal entries: `Numbers` = mean, std.
    | Normal = 0
    /// Independent uniform entries in [lo, hi): `Numbers` = lo, hi.
    | Uniform = 1
    /// The identity, legs paired from the outside in.
    | Identity = 2
    /// The copy (δ) tensor.
    | Copy = 3
    /// An isometry.
    | Orthogonal = 4
    /// A scale chosen from the network for unit-variance outputs.
    | Auto = 5
    /// Constant entries: `Numbers` = the value.
    | Constant = 6
    /// The sum of the two `Parts`.
    | Sum = 7

/// An initialiser (or a const tensor's value), in C# shape.
[<Sealed; AllowNullLiteral>]
type InitView(init: Init) =
    /// Its form.
    member _.Form =
        match init with
        | Normal _ -> InitForm.Normal
        | Uniform _ -> InitForm.Uniform
        | Identity -> InitForm.Identity
        | Copy -> InitForm.Copy
        | Orthogonal -> InitForm.Orthogonal
        | Auto -> InitForm.Auto
        | Constant _ -> InitForm.Constant
        | Sum _ -> InitForm.Sum
    /// Its numbers: mean and std, lo and hi, or the constant; empty for the other forms.
    member _.Numbers: float array =
        match init with
        | Normal (m, sd) -> [| m; sd |]
        | Uniform (lo, hi) -> [| lo; hi |]
        | Constant c -> [| c |]
        | _ -> [||]
    /// The two terms of a sum; empty for the other forms.
    member _.Parts: InitView array =
        match init with
        | Sum (a, b) -> [| InitView a; InitView b |]
        | _ -> [||]
    /// As written in a `.tn` file.
    override _.ToString() = Init.show init

/// An input's embedding, in C# shape: its name as a `.tn` file writes it and its argument.
[<Sealed; AllowNullLiteral>]
type EmbeddingView(e: Embedding) =
    /// The embedding's name in the language: `onehot`, `trig`, `fourier` or `legendre`.
    member _.Name =
        match e with
        | OneHot _ -> "onehot"
        | Trig -> "trig"
        | Fourier _ -> "fourier"
        | Legendre _ -> "legendre"
    /// Its argument (classes, features or polynomials); 0 for `trig`, which takes none.
    member _.Size =
        match e with
        | OneHot d | Fourier d | Legendre d -> d
        | Trig -> 0
    /// The number of features it produces (its input's last leg).
    member _.Width = Embedding.width e
    /// As written in a `.tn` file.
    override _.ToString() = Embedding.show e

/// One index of a network, in C# shape.
[<Sealed>]
type IndexView(ix: FlatIndex) =
    /// Its position in the network's indices.
    member _.Id = ix.Id
    /// The name as written with subscripts evaluated (`b[3]`).
    member _.Name = ix.Name
    /// The family name (`b`).
    member _.Family = ix.Family
    /// The family subscripts.
    member _.Subscripts: int array = Array.ofList ix.Subscripts
    /// The extent (the nominal one of a dynamic index).
    member _.Size = Dim.size ix.Dim
    /// True for a dynamic (batch) index.
    member _.IsDynamic = Dim.isDynamic ix.Dim
    /// True for a declared hyperindex.
    member _.IsHyper = (ix.Kind = Hyper)
    /// Where it was declared.
    member _.Range = RangeView ix.Range

/// One tensor of a network, in C# shape, with what the checker knows about its legs.
[<Sealed>]
type TensorView(t: FlatTensor, kept: int array, sourceLine: string | null) =
    /// Its position in the network's tensors.
    member _.Id = t.Id
    /// The name as written with subscripts evaluated (`A[3]`).
    member _.Name = t.Name
    /// The family name.
    member _.Family = t.Family
    /// The family subscripts.
    member _.Subscripts: int array = Array.ofList t.Subscripts
    /// True for a trainable weight.
    member _.IsWeight = (t.Role = Weight)
    /// True for an input fed at run time.
    member _.IsInput = (t.Role = Input)
    /// True for a const tensor (fixed values, not trained).
    member _.IsConst = (t.Role = Const)
    /// The parameter its values come from (tied tensors share one).
    member _.Param = t.Param
    /// Leg index ids in declared order (a leg may repeat: a diagonal or trace).
    member _.Legs: int array = Array.copy t.Legs
    /// Its distinct legs that survive the tensor: open legs and legs another tensor carries, in declared order.
    member _.KeptLegs = kept
    /// Its distinct legs summed on the tensor alone (carried by no other tensor and not open).
    member _.SummedLegs: int array = t.Legs |> Array.distinct |> Array.filter (fun l -> not (Array.contains l kept))
    /// The initialiser (weights) or fixed value (const); null where the default applies.
    member _.Init: InitView | null = match t.Init with Some i -> InitView i | None -> null
    /// The embedding of an input; null where none.
    member _.Embedding: EmbeddingView | null = match t.Embedding with Some e -> EmbeddingView e | None -> null
    /// Where it was declared (not known when built in memory).
    member _.Range = RangeView t.Range
    /// True when the declaration's place is known.
    member _.HasSource = t.Range <> Range.none
    /// The text of the declaration's line, trimmed, from the sources the compiler kept (null when unknown).
    member _.SourceLine = sourceLine

/// A checked network, in C# shape: tensors, indices and output as arrays, with the sources it was compiled from
/// (so nothing downstream reads the file again). Every other part of the C# surface takes this view.
[<Sealed; AllowNullLiteral>]
type NetworkView(net: FlatNetwork, sources: IReadOnlyDictionary<string, SourceText>) =
    // A tensor's legs without repeats; the list itself when it has none (nearly always: a repeat is a trace).
    let distinct (legs: int array) =
        let mutable repeats = false
        if legs.Length <= 16 then
            for a in 0 .. legs.Length - 1 do
                for b in a + 1 .. legs.Length - 1 do
                    if legs[a] = legs[b] then repeats <- true
        if legs.Length <= 16 && not repeats then legs else Array.distinct legs
    // The views of tensors and indices are made on first use: `tn check` of a million-tensor network reads neither.
    let carriers =
        lazy
            (let c = Array.zeroCreate<int> net.Indices.Length
             for t in net.Tensors do
                 for l in distinct t.Legs do
                     c[l] <- c[l] + 1
             c)
    let isOut =
        lazy
            (let o = Array.zeroCreate<bool> net.Indices.Length
             for i in net.Output do
                 o[i] <- true
             o)
    // The members of a family share their declaration's line: it is looked up once per run of equal ranges.
    let mutable lastRange = Range.none
    let mutable lastLine: string | null = null
    let line (r: SourceRange) : string | null =
        if r = Range.none then null
        elif r = lastRange then lastLine
        else
            lastRange <- r
            lastLine <-
                match Rendering.lookup sources r.File |> Option.bind (fun s -> s.Line r.Start.Line) with
                | Some l -> l.Trim()
                | None -> null
            lastLine
    let tensors =
        lazy
            (let isOut, carriers = isOut.Value, carriers.Value
             net.Tensors
             |> Array.map (fun t ->
                 let kept = distinct t.Legs |> Array.filter (fun l -> isOut[l] || carriers[l] > 1)
                 TensorView(t, kept, line t.Range)))
    let indices = lazy (net.Indices |> Array.map IndexView)
    /// A view of a network built in memory (no sources).
    new(net: FlatNetwork) = NetworkView(net, Dictionary<string, SourceText>())
    /// The network's name.
    member _.Name = net.Name
    /// Its tensors by id.
    member _.Tensors: TensorView array = tensors.Value
    /// Its indices by id.
    member _.Indices: IndexView array = indices.Value
    /// The open legs in declared order (index ids).
    member _.Output: int array = Array.ofList net.Output
    /// The parameters with the values used (as text), in declared order.
    member _.Parameters: KeyValuePair<string, string> array =
        net.Parameters |> List.map (fun (n, v) -> KeyValuePair(n, string v)) |> Array.ofList
    /// The names of the declared cuts.
    member _.CutNames: string array = net.Cuts |> List.map (fun c -> c.Name) |> Array.ofList
    /// Where the network was declared.
    member _.Range = RangeView net.Range
    /// The texts the compiler read, by file name.
    member _.Sources = sources
    /// The F# network (for the F# side of the surface and F# callers).
    member _.Flat = net
    /// The weight network of a layer: the inputs removed and their non-batch legs opened, so that the open legs are
    /// (features…, outputs…) and the network is the tensorised weight matrix W the layer applies; a cut named
    /// `cutName` between the feature legs and the output legs bounds its rank. Legs only inputs carried (the batch)
    /// become size-1 placeholders so that no analysis weighs them.
    member _.WeightNetwork(cutName: string) : NetworkView =
        let dynamicLeg l = Dim.isDynamic net.Indices[l].Dim
        let inputs = net.Tensors |> Array.filter (fun t -> t.Role = Input)
        let features = inputs |> Array.collect (fun t -> t.Legs |> Array.filter (dynamicLeg >> not)) |> Array.distinct |> List.ofArray
        let outputs = net.Output |> List.filter (dynamicLeg >> not)
        let outputsOnly = outputs |> List.filter (fun l -> not (List.contains l features))
        let kept = net.Tensors |> Array.filter (fun t -> t.Role <> Input) |> Array.mapi (fun k t -> { t with Id = k })
        let opened = features @ outputsOnly
        let used = HashSet<int>(Seq.append (kept |> Seq.collect (fun t -> t.Legs)) opened)
        let indices = net.Indices |> Array.map (fun i -> if used.Contains i.Id then i else { i with Dim = Fixed 1L })
        let cuts =
            if not features.IsEmpty && not outputs.IsEmpty then
                [ { Name = cutName; Left = features; Right = outputsOnly; Range = net.Range } ]
            else []
        NetworkView(
            { net with Name = net.Name + "_weights"; Tensors = kept; Indices = indices; Output = opened; Cuts = cuts },
            sources)

/// Counts that describe a checked network.
[<Sealed; AllowNullLiteral>]
type NetworkSummary(view: NetworkView) =
    let net = view.Flat
    // Tensors by role (weights, inputs, constants), counted in one pass when first asked.
    let roles =
        lazy
            (let mutable weights, inputs, constants = 0, 0, 0
             for t in net.Tensors do
                 match t.Role with
                 | Weight -> weights <- weights + 1
                 | Input -> inputs <- inputs + 1
                 | Const -> constants <- constants + 1
             struct (weights, inputs, constants))
    // How many legs use each index (a count, not the incidence lists: a million indices cost one array).
    let uses =
        let c = Array.zeroCreate<int> net.Indices.Length
        for t in net.Tensors do
            for l in t.Legs do
                c[l] <- c[l] + 1
        c
    // The distinct parameters, counted once for both members that read them.
    let trainableTensors = lazy (FlatNetwork.parameterTensorCount net)
    // The output as an array, for naming single legs (a summary prints five names of a million).
    let output = lazy (Array.ofList net.Output)
    /// A summary of a network built in memory.
    new(net: FlatNetwork) = NetworkSummary(NetworkView net)
    /// The network's name.
    member _.Name = net.Name
    /// The number of tensors.
    member _.Tensors = net.Tensors.Length
    /// The number of weights.
    member _.Weights = let struct (w, _, _) = roles.Value in w
    /// The number of inputs.
    member _.Inputs = let struct (_, i, _) = roles.Value in i
    /// The number of const tensors.
    member _.Constants = let struct (_, _, c) = roles.Value in c
    /// The number of indices.
    member _.Indices = net.Indices.Length
    /// Indices that join tensors and are not open.
    member _.Bonds =
        // A flag per index, not an F# Set: a 60,000-site chain has 60,000 open legs.
        let isOut = Array.zeroCreate net.Indices.Length
        for o in net.Output do
            isOut[o] <- true
        let mutable bonds = 0
        for i in 0 .. net.Indices.Length - 1 do
            if not isOut[i] && uses[i] >= 2 then bonds <- bonds + 1
        bonds
    /// The number of hyperindices.
    member _.Hyperindices = net.Indices |> Array.sumBy (fun i -> match i.Kind with Hyper -> 1 | Bond -> 0)
    /// The number of open legs.
    member _.OpenLegs = net.Output.Length
    /// Open legs by name, in output order.
    member _.OpenLegNames = net.Output |> Array.ofList |> Array.map (fun o -> net.Indices[o].Name)
    /// The name of the open leg at a position of the output (0 ≤ position < `OpenLegs`).
    member _.OpenLegName(position: int) = net.Indices[output.Value[position]].Name
    /// Distinct trainable parameters (tied weights counted once).
    member _.TrainableTensors = trainableTensors.Value
    /// Trainable scalars, exact.
    member _.TrainableScalars = FlatNetwork.parameterCount net
    /// The network parameters and the values used.
    member _.Parameters = view.Parameters
    /// The names of the declared cuts.
    member _.Cuts = view.CutNames
    /// The network itself.
    member _.Network = view

/// What checking a file produced: the diagnostics, the network when there were no errors, and the sources read.
[<Sealed>]
type CheckResult(result: Compiler.CompileResult, file: string) =
    let source = Rendering.lookup result.Sources
    let views = result.Diagnostics |> List.map (fun d -> DiagnosticView(d, Rendering.render source d)) |> Array.ofList
    let network = result.Network |> Option.map (fun n -> NetworkView(n, result.Sources))
    /// All diagnostics in source order.
    member _.Diagnostics = views
    /// True when any diagnostic is an error.
    member _.HasErrors = result.HasErrors
    /// The number of errors.
    member _.ErrorCount = views |> Array.filter (fun v -> v.IsError) |> Array.length
    /// The number of warnings.
    member _.WarningCount = views |> Array.filter (fun v -> v.Level = "warning") |> Array.length
    /// The checked network, or null when there were errors.
    member _.Network: NetworkView | null = match network with Some n -> n | None -> null
    /// The summary of the checked network, or null when there were errors.
    member _.SummaryOrNull: NetworkSummary | null = match network with Some n -> NetworkSummary n | None -> null
    /// The texts the compiler read, by file name.
    member _.Sources = result.Sources
    /// The text of every file the compiler read (the file itself and those it `use`s), by the name it read it under:
    /// the bundle `Frontend.CheckBundle` compiles again without reading a file.
    member _.Texts: IReadOnlyDictionary<string, string> =
        result.Sources |> Seq.map (fun kv -> KeyValuePair(kv.Key, kv.Value.Text)) |> Dictionary :> _
    /// The file checked, by the name its diagnostics give it.
    member _.File = file
    /// The line that ends the report of the diagnostics: `grid.tn: 1 error, 0 warnings.` (`Diagnostic.countLine`).
    member _.CountLine = Diagnostic.countLine file result.Diagnostics
    /// The checked network; throws `TnException` with every diagnostic when the file has errors, `CountLine` its summary.
    member r.OrThrow() : NetworkView =
        match network with
        | Some n when not result.HasErrors -> n
        | _ -> raise (TnException(r.CountLine, views |> Array.filter (fun v -> not v.IsInfo), file))
    /// The F# result.
    member _.Result = result

/// Where parameter overrides came from, C#-shaped (see `Compiler.OverrideOrigin`): a diagnostic about one is placed
/// in `File` (`File(1,1): …`), and its message begins with `Prefix` and the `name=value` that gave it.
[<Sealed>]
type OverrideOrigin(file: string, prefix: string, howToGive: string) =
    static let commandLine = let o = Compiler.OverrideOrigin.CommandLine in OverrideOrigin(o.File, o.Prefix, o.HowToGive)
    static let api = let o = Compiler.OverrideOrigin.Api in OverrideOrigin(o.File, o.Prefix, o.HowToGive)
    /// The file of the range of a diagnostic about an override.
    member _.File = file
    /// What stands before `name=value` in such a diagnostic's message.
    member _.Prefix = prefix
    /// The hint for a parameter with no value, `{0}` standing for its name.
    member _.HowToGive = howToGive
    /// The compiler's value.
    member internal _.Value: Compiler.OverrideOrigin = { File = file; Prefix = prefix; HowToGive = howToGive }
    /// `--set name=value` on the `tn` command line: `command line(1,1): … --set L=x: …`.
    static member CommandLine = commandLine
    /// The overrides a program passes (`Layers.FromSpec(path, new { L = 3 })`): `overrides(1,1): … override L=x: …`.
    static member Api = api

/// The front end for C#. Each member reports a mistake in the overrides as the API's (`overrides(1,1): … override
/// L=x: …`, see `OverrideOrigin.Api`); its overload with an `OverrideOrigin` names another origin (the `tn`
/// command passes `OverrideOrigin.CommandLine`, for `--set L=x`).
[<AbstractClass; Sealed>]
type Frontend =
    /// The most bytes a `.tn` file may have (the compiler's limit, 16 MiB).
    static member MaxFileBytes = Compiler.maxFileBytes

    static member private Options(overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null, origin: OverrideOrigin) =
        { Compiler.defaultOptions with
            Overrides =
                match overrides with
                | null -> []
                | o -> o |> Seq.map (fun kv -> kv.Key, kv.Value) |> List.ofSeq
            OverrideOrigin = origin.Value
            NetworkName = match network with null -> None | n -> Some n }

    /// Checks a `.tn` file with parameter overrides (name → value text; null for none) given by `origin`, and a
    /// network name (null for the last).
    static member Check(path: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null, origin: OverrideOrigin) =
        Frontend.CheckAs(path, path, overrides, network, origin)

    /// Checks the `.tn` file at `path` under the name `shown`, which every diagnostic gives it (the files it uses are
    /// named relative to `shown` and read from beside `path`): how the `tn` command shows an installed example as
    /// the path its user wrote.
    static member CheckAs(path: string, shown: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null,
                          origin: OverrideOrigin) =
        CheckResult(Compiler.compileFileAs shown path (Frontend.Options(overrides, network, origin)), shown)

    /// Checks a `.tn` file with parameter overrides (name → value text; null for none) and a network name (null for
    /// the last).
    static member Check(path: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null) =
        Frontend.Check(path, overrides, network, OverrideOrigin.Api)

    /// Checks `.tn` source text held in memory under a file name, the overrides given by `origin`.
    static member CheckText(file: string, text: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null,
                            origin: OverrideOrigin) =
        CheckResult(Compiler.compileOnBigStack (fun () -> Compiler.compileText Compiler.readDisk file text (Frontend.Options(overrides, network, origin))), file)

    /// Checks `.tn` source text held in memory under a file name.
    static member CheckText(file: string, text: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null) =
        Frontend.CheckText(file, text, overrides, network, OverrideOrigin.Api)

    /// The checked network of a `.tn` file, the overrides given by `origin`; throws `TnException` with every
    /// diagnostic when it has errors (a file that cannot be read is one of them).
    static member Load(path: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null, origin: OverrideOrigin) : NetworkView =
        Frontend.Check(path, overrides, network, origin).OrThrow()

    /// The checked network of a `.tn` file; throws `TnException` with every diagnostic when it has errors (a file
    /// that cannot be read is one of them).
    static member Load(path: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null) : NetworkView =
        Frontend.Check(path, overrides, network).OrThrow()

    /// The checked network of the `.tn` file at `path` checked under the name `shown` (see `CheckAs`); throws
    /// `TnException` with every diagnostic when it has errors.
    static member LoadAs(path: string, shown: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null,
                         origin: OverrideOrigin) : NetworkView =
        Frontend.CheckAs(path, shown, overrides, network, origin).OrThrow()

    /// The checked network of `.tn` text held in memory, the overrides given by `origin`; throws `TnException` when
    /// it has errors.
    static member LoadText(file: string, text: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null,
                           origin: OverrideOrigin) : NetworkView =
        Frontend.CheckText(file, text, overrides, network, origin).OrThrow()

    /// The checked network of `.tn` text held in memory; throws `TnException` when it has errors.
    static member LoadText(file: string, text: string, overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null) : NetworkView =
        Frontend.CheckText(file, text, overrides, network).OrThrow()

    /// Checks `.tn` text held in memory whose `use`d files come from `files` (by the name the compiler asks for: the
    /// using file's folder combined with the path written after `use`), never from disk: how a worker compiles a
    /// network it was sent, the overrides given by `origin`. A file the bundle lacks is TN0007 at its `use`.
    static member CheckBundle(file: string, text: string, files: IReadOnlyDictionary<string, string>,
                              overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null, origin: OverrideOrigin) =
        let read (path: string) =
            match files.TryGetValue path with
            | true, t -> Ok t
            | _ -> Result.Error(Compiler.Codes.cannotRead, sprintf "`%s` is not in the bundle sent" path)
        CheckResult(Compiler.compileOnBigStack (fun () -> Compiler.compileWith read file text (Frontend.Options(overrides, network, origin))), file)

    /// Checks a bundle (see the overload with an origin) whose overrides are the API's.
    static member CheckBundle(file: string, text: string, files: IReadOnlyDictionary<string, string>,
                              overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null) =
        Frontend.CheckBundle(file, text, files, overrides, network, OverrideOrigin.Api)

    /// The checked network of a bundle (see `CheckBundle`), the overrides given by `origin`; throws `TnException`
    /// when it has errors.
    static member LoadBundle(file: string, text: string, files: IReadOnlyDictionary<string, string>,
                             overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null, origin: OverrideOrigin) : NetworkView =
        Frontend.CheckBundle(file, text, files, overrides, network, origin).OrThrow()

    /// The checked network of a bundle (see `CheckBundle`); throws `TnException` when it has errors.
    static member LoadBundle(file: string, text: string, files: IReadOnlyDictionary<string, string>,
                             overrides: IReadOnlyList<KeyValuePair<string, string>> | null, network: string | null) : NetworkView =
        Frontend.CheckBundle(file, text, files, overrides, network).OrThrow()

namespace TnDsl

open System
open System.Collections.Generic
open System.IO
open System.Numerics
open TnDsl.Api

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
        /// The diagnostics of `Messages` as data (for `--json`).
        Diagnostics: DiagnosticView array
    }

/// Planner settings as a command line gives them, C#-shaped: plain values, zero or less meaning "not given".
type PlanSettings =
    {
        /// The most elements an intermediate may have (a sliced plan counts one slice); ≤ 0: no limit.
        MemoryLimit: int64
        /// `flops`, `size`, `write`, `combo` (flops + 64 × write) or `combo:F`.
        Objective: string
        /// The seed of every random choice.
        Seed: int
        /// Trials of randomised optimizers; ≤ 0: the default (128).
        Trials: int
        /// A wall-clock limit on the search in milliseconds; ≤ 0: none. Breaks reproducibility.
        TimeLimitMs: int
    }

/// Building and reading planner settings.
module PlanSettings =
    /// No memory limit, flops, seed 0, default trials, no time limit.
    let defaults = { MemoryLimit = 0L; Objective = "flops"; Seed = 0; Trials = 0; TimeLimitMs = 0 }

    /// The defaults with a memory limit (≤ 0: none).
    let withMemoryLimit (limit: int64) = { defaults with MemoryLimit = limit }

    /// The objective named by the settings, or a message saying which names are valid.
    let objective (s: PlanSettings) : Result<Objective, string> =
        match s.Objective.Trim().ToLowerInvariant() with
        | "" | "flops" -> Ok Flops
        | "size" -> Ok Size
        | "write" -> Ok Write
        | "combo" -> Ok(Combo 64.0)
        | t when t.StartsWith "combo:" ->
            match Double.TryParse(t.Substring 6, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, f when f >= 0.0 && Double.IsFinite f -> Ok(Combo f)
            | _ -> Result.Error(sprintf "combo needs a factor >= 0, as in combo:64 (got '%s')" (t.Substring 6))
        | t -> Result.Error(sprintf "unknown objective '%s'; valid objectives: flops, size, write, combo, combo:F" t)

    /// The planner options of the settings (the objective must be valid), their hints naming `tn`'s flags.
    let toOptions (s: PlanSettings) (objective: Objective) =
        { PlanOptions.defaults with
            Words = PlanWords.commandLine
            Objective = objective
            MemoryLimit = (if s.MemoryLimit > 0L then Some s.MemoryLimit else None)
            Seed = s.Seed
            Trials = (if s.Trials > 0 then s.Trials else PlanOptions.defaults.Trials)
            TimeLimitMs = (if s.TimeLimitMs > 0 then Some s.TimeLimitMs else None) }

/// The C#-facing surface of the core: arrays and plain values, no F# options or lists.
module PlanApi =
    /// The names of the registered optimizers.
    let optimizerNames () = Plan.names |> Array.ofList

    /// The optimizers that take a trial count (`PlanSettings.Trials`): `Plan.trialsUsedBy`.
    let trialsOptimizers () = Plan.trialsUsedBy |> Array.ofList

    /// The optimizers whose plan a seed (`PlanSettings.Seed`) can change: `Plan.seedUsedBy`.
    let seededOptimizers () = Plan.seedUsedBy |> Array.ofList

    /// The registered name that `text` spells in any case (`Greedy` is `greedy`), or null when it spells none: the
    /// planner's own lookup (`Plan.canonicalName`), which every entry point by name goes through.
    let optimizerName (text: string) : string | null =
        match Plan.canonicalName text with
        | Some name -> name
        | None -> null

    /// Errors and warnings (notes appear in the report itself) rendered with `Rendering.render`.
    let private views (sources: SourceText list) (ds: Diagnostic list) =
        let find file = sources |> List.tryFind (fun s -> s.File = file)
        ds |> List.filter (fun d -> d.Kind.Level <> Info) |> List.map (fun d -> DiagnosticView(d, Rendering.render find d)) |> Array.ofList

    /// A run that prints nothing but `ds` (rendered), with their exit code.
    let private failed (exitCode: int) (sources: SourceText list) (ds: Diagnostic list) =
        let vs = views sources ds
        { ExitCode = exitCode; Output = ""; Messages = vs |> Array.map (fun v -> v.Rendered); Diagnostics = vs }


    /// Plans `problem`. `reported`: diagnostics the caller has already printed (the checker's warnings on a `.tn`
    /// file); they join the report's (the JSON's `diagnostics`) and `Diagnostics`, not `Messages`.
    let private planProblemWith (scaling: unit -> Scaling option) range sources (problem: Result<Problem, Diagnostic list>)
                                (reported: Diagnostic list) (warnings: Diagnostic list) (optimizer: string) (settings: PlanSettings)
                                (json: bool) =
        let failedAfter code ds =
            let run = failed code sources ds
            { run with Diagnostics = Array.append (views sources reported) run.Diagnostics }
        match Plan.tryFindWith PlanWords.commandLine optimizer, PlanSettings.objective settings with
        | Result.Error d, _ -> failedAfter 2 [ d ]
        | _, Result.Error why -> failedAfter 2 [ Diagnostic.make PlanDiagnostics.badOption Range.none why ]
        | Ok _, Ok objective ->
            match problem |> Result.bind (Problem.index range) with
            | Result.Error ds -> failedAfter 1 (warnings @ ds)
            | Ok p ->
                let r = Plan.run optimizer (PlanSettings.toOptions settings objective) p
                let fresh = warnings @ r.Diagnostics
                let r = { r with Diagnostics = reported @ fresh }
                let sc = if Plan.succeeded r then scaling () else None
                { ExitCode = (if Plan.succeeded r then 0 else 1)
                  Output = (if json then PlanReport.jsonWith sc r else PlanReport.textWith sc r)
                  Messages = views sources fresh |> Array.map (fun v -> v.Rendered)
                  Diagnostics = views sources r.Diagnostics }

    let private planProblem range sources problem warnings optimizer settings json =
        planProblemWith (fun () -> None) range sources problem [] warnings optimizer settings json

    let private sizeMap (sizes: KeyValuePair<string, int64> array) =
        sizes |> Array.map (fun kv -> kv.Key, kv.Value) |> Map.ofArray

    /// The largest JSON network file `planJsonFile` reads (256 MiB).
    let maxJsonBytes = 256L <<< 20

    /// A file that cannot be read, reported as every verb reports it (`Compiler.cannotReadFile`, then the count line
    /// that ends a file's report) and in the JSON document as the one diagnostic.
    let private unreadable (path: string) (why: string) =
        let d = Compiler.cannotReadFile Compiler.Codes.cannotRead path why
        let run = failed 1 [] [ d ]
        { run with Messages = Array.append run.Messages [| ""; Diagnostic.countLine path [ d ] |] }

    /// The text of a JSON network file, read with the `maxJsonBytes` limit (a device or an endless file is refused
    /// without being read whole), or the run that reports why it cannot be read.
    let private readJsonText (path: string) : Result<string, PlanRun> =
        match Compiler.whyNoFile path with
        | Some why -> Result.Error(unreadable path why)
        | None ->
        let read () =
            use stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan)
            let buffer = Array.zeroCreate<byte> 65536
            use kept = new MemoryStream()
            let mutable n = stream.Read(buffer, 0, buffer.Length)
            while n > 0 && kept.Length <= maxJsonBytes do
                kept.Write(buffer, 0, n)
                n <- stream.Read(buffer, 0, buffer.Length)
            kept.ToArray()
        match (try Ok(read ()) with e when (e :? IOException || e :? UnauthorizedAccessException) -> Result.Error e.Message) with
        | Result.Error why -> Result.Error(unreadable path why)
        | Ok bytes ->
        if int64 bytes.Length > maxJsonBytes then
            Result.Error(failed 1 [] [ Diagnostic.make PlanDiagnostics.badInput (Range.ofFile path)
                                           (sprintf "the file is larger than the %d MiB a JSON network may have" (maxJsonBytes >>> 20)) ])
        else
        match (try Ok(Text.UTF8Encoding(false, true).GetString bytes) with :? Text.DecoderFallbackException -> Result.Error()) with
        | Result.Error() -> Result.Error(failed 1 [] [ Diagnostic.make PlanDiagnostics.badInput (Range.ofFile path) "the file is not UTF-8 text" ])
        | Ok text -> Ok(text.TrimStart '\uFEFF')

    /// Plans JSON network text already read from `path` (the name in its diagnostics); see `planJsonFileChecked`.
    let planJsonTextChecked (path: string) (text: string) (optimizer: string) (sizes: KeyValuePair<string, int64> array)
                            (settings: PlanSettings) (json: bool) (checkSizes: Action<string array> | null) =
        let over = sizeMap sizes
        let problem = PlanInput.ofJsonWith path text over
        let warnings =
            match problem with
            | Ok p ->
                let names = p.Inputs |> Array.concat |> Array.distinct
                match checkSizes with
                | null -> ()
                | check -> if sizes.Length > 0 then check.Invoke names
                let used = Set.ofArray names
                over
                |> Map.toList
                |> List.filter (fun (k, _) -> not (used.Contains k))
                |> List.map (fun (k, _) ->
                    Diagnostic.make PlanDiagnostics.unusedSize (Range.ofFile path) (sprintf "--size %s names no index" k))
            | Result.Error _ -> []
        planProblem (Range.ofFile path) [ SourceText(path, text) ] problem warnings optimizer settings json

    /// Plans a JSON network file, read and parsed once; `sizes` replaces index sizes by name (one that names no
    /// index on a tensor is a TN0310 warning); `settings` carry the memory limit, objective, seed, trials and time
    /// limit. Where the file reads as a network and `sizes` is not empty, `checkSizes` (may be null) first gets the
    /// index names on its tensors, in order of first use: `tn plan` refuses a `--size` that names none there (it
    /// throws, and nothing is planned).
    let planJsonFileChecked (path: string) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (settings: PlanSettings)
                            (json: bool) (checkSizes: Action<string array> | null) =
        match readJsonText path with
        | Result.Error run -> run
        | Ok text -> planJsonTextChecked path text optimizer sizes settings json checkSizes

    /// Why `name` is no objective the planner takes (the valid names listed), or null when it is one.
    let objectiveError (name: string) : string | null =
        match PlanSettings.objective { PlanSettings.defaults with Objective = name } with
        | Ok _ -> null
        | Result.Error why -> why

    /// The text of a network file whose name does not say its format (`/dev/stdin`, `/dev/fd/63`, `model.txt`), read
    /// once (a pipe cannot be read twice) with the `maxJsonBytes` limit; null, and `failure` the run that reports why,
    /// when it cannot be read. `isJsonText` then tells the format from the text.
    let readNetworkText (path: string, [<Runtime.InteropServices.Out>] failure: byref<PlanRun>) : string | null =
        match readJsonText path with
        | Ok text -> text
        | Result.Error run ->
            failure <- run
            null

    /// Whether network text is a JSON network: its first character that is not white space is `{` (a `.tn` file
    /// starts with a comment, `param`, `index`, `network` or the like, never a brace).
    let isJsonText (text: string) =
        let t = text.AsSpan().TrimStart()
        t.Length > 0 && t[0] = '{'

    /// Plans a JSON network file (see `planJsonFileChecked`), a `--size` that names no index a TN0310 warning.
    let planJsonFile (path: string) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (settings: PlanSettings) (json: bool) =
        planJsonFileChecked path optimizer sizes settings json null

    /// Plans einsum text with shapes (`"ab,bc->ac"`, `"2x3,3x4"`; ellipsis and size-1 broadcasting as in
    /// torch.einsum). Errors show the equation or the shapes with a caret under the mistake.
    let planEinsum (spec: string) (shapes: string) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (settings: PlanSettings) (json: bool) =
        let problem = Einsum.toProblem spec shapes |> Result.map (Problem.withSizes (Map.toList (sizeMap sizes)))
        let sources = [ SourceText(Einsum.equationFile, spec); SourceText(Einsum.shapesFile, shapes) ]
        planProblem (Range.ofFile Einsum.equationFile) sources problem [] optimizer settings json

    /// The wall-clock budget of the scaling report, in milliseconds.
    let scalingBudgetMs = 3000L

    /// The scaling of a `.tn` network's plan in each integer parameter: the file is recompiled with the parameter
    /// overridden (the user's other overrides kept) at `Plan.scalingPoints`, and each rebuild planned without a
    /// memory limit by `optimal` when it has at most 12 tensors and by `greedy` otherwise, which keeps the report
    /// fast on large networks. A value at which the file has errors (a `require` that fails) skips the parameter
    /// with the first error's message.
    let scalingOf (view: NetworkView) (path: string) (overrides: KeyValuePair<string, string> array) (network: string | null)
                  (sizes: KeyValuePair<string, int64> array) : Scaling =
        let net = view.Flat
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
                    NetworkName = (match network with null -> None | n -> Some n)
                    Limits = { Elaborate.defaultOptions with MaxTensors = maxTensors } }
            let r =
                if clock.ElapsedMilliseconds > scalingBudgetMs then None
                else
                    // A piped file (/dev/stdin) cannot be read again: the text the check read is recompiled.
                    match view.Sources.TryGetValue path with
                    | true, source -> Some(Compiler.compileSource path source.Text options)
                    | _ -> Some(Compiler.compileFile path options)
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
                Some(Plan.run name PlanOptions.defaults p)
            | Result.Error _ -> None
        let exps, skipped = Plan.scalingWith ints rebuild plan
        { Exponents = exps; Skipped = skipped; Optimizer = "optimal up to 12 tensors, else greedy" }

    /// Plans a `.tn` network already checked from `path` with `overrides` and `network` (null for the last), and
    /// with `withScaling` reports the scaling in its integer parameters (see `scalingOf`).
    let planTnNetwork (view: NetworkView) (path: string) (overrides: KeyValuePair<string, string> array) (network: string | null)
                      (optimizer: string) (sizes: KeyValuePair<string, int64> array) (settings: PlanSettings) (json: bool)
                      (withScaling: bool) (checkWarnings: DiagnosticView array) =
        let net = view.Flat
        let problem, warnings = PlanInput.ofNetwork net (sizeMap sizes)
        let scaling () = if withScaling then Some(scalingOf view path overrides network sizes) else None
        let reported = checkWarnings |> Array.filter (fun v -> not v.IsInfo) |> Array.map (fun v -> v.Diagnostic) |> List.ofArray
        planProblemWith scaling net.Range (List.ofSeq view.Sources.Values) (Ok problem) reported warnings optimizer settings json

    /// A flat network as a JSON network (the form `tn plan` reads); `sizes` sets dynamic dimensions by family.
    /// The JSON text is the output; a size override that names no dynamic family is a warning message.
    let exportNetwork (view: NetworkView) (sizes: KeyValuePair<string, int64> array) : PlanRun =
        let problem, warnings = PlanInput.ofNetwork view.Flat (sizeMap sizes)
        let vs = views [] warnings
        { ExitCode = 0; Output = PlanInput.toJson problem; Messages = vs |> Array.map (fun v -> v.Rendered); Diagnostics = vs }

    /// Plans a flat network (from the `.tn` front end); `sizes` sets dynamic dimensions by family (`batch`).
    let planNetwork (view: NetworkView) (optimizer: string) (sizes: KeyValuePair<string, int64> array) (settings: PlanSettings) (json: bool) =
        let problem, warnings = PlanInput.ofNetwork view.Flat (sizeMap sizes)
        planProblem view.Flat.Range (List.ofSeq view.Sources.Values) (Ok problem) warnings optimizer settings json


/// One pairwise step of a plan, for C#: positions in the current operand list (linear convention, Left < Right),
/// and the labels (the network's index ids, or the caller's labels) of the result, in the order of its axes, and of
/// those summed here.
[<Sealed>]
type PairStepView(left: int, right: int, kept: int array, summed: int array) =
    /// The first operand's position.
    member _.Left = left
    /// The second operand's position.
    member _.Right = right
    /// The labels of the step's result, in the order of its axes: the legs both operands carry and keep, then the
    /// left operand's own, then the right's (as `PairSteps.ofTree` makes them). A backend reads them, never works
    /// them out.
    member _.Kept = kept
    /// The labels summed away at this step.
    member _.Summed = summed

/// One step of a plan's contraction tree as its optimizer built it (a step may join more than two operands), for
/// pictures: its node id (leaves are 0 .. LeafCount - 1, steps follow), the nodes it joins and its flops.
[<Sealed>]
type TreeStepView(node: int, children: int array, flops: BigInteger) =
    /// Its node id.
    member _.Node = node
    /// The node ids it joins.
    member _.Children = children
    /// Its flops (opt_einsum's convention).
    member _.Flops = flops

/// The planner's byte estimate of a plan, for C# (see `PlanBytes`): the exact byte counts a memory guard compares.
[<Sealed>]
type BytesView(e: ByteEstimate) =
    /// Every input tensor (weights, consts and inputs), whole.
    member _.Inputs = e.Inputs
    /// The forward pass's peak: the inputs, the most intermediates alive at once within one slice, and when
    /// sliced the sum of the slices.
    member _.Forward = e.Forward
    /// Reuse across slices: the bytes of the step results held across slices (counted in `Forward` and `Training`).
    member _.HeldResults = e.HeldResults
    /// The training step's peak: forward with autograd keeping what the backward needs, the loss, backward, and an
    /// optimizer step with its state.
    member _.Training = e.Training
    /// Training only: the bytes autograd keeps for the backward pass (every slice's; one group's where the slices are
    /// checkpointed, see `MemoryModel.Checkpointed`).
    member _.Kept = e.Kept
    /// Training only: one gradient per trainable parameter.
    member _.Gradients = e.Gradients
    /// Training only: the optimizer's state.
    member _.OptimizerState = e.OptimizerState
    member internal _.Value = e

/// One operand a backend's steps start from, in bytes (see `MemoryModel`): its bytes, whether the call made it (a
/// tensor reduced on its own, freed once consumed) and the trainable parameter it comes from (-1: none).
[<Sealed>]
type LeafBytesView(bytes: BigInteger, owned: bool, parameter: int) =
    member internal _.Value: LeafBytes = { Bytes = bytes; Owned = owned; Parameter = parameter }

/// One pairwise step as a backend executes it, in bytes (see `StepBytes` for each figure): positions in the operand
/// list, each operand's kernel copy (0: a view) and whether autograd keeps it for the other's gradient, the result,
/// the forward scratch, what autograd keeps whatever needs a gradient, and the backward's scratch.
[<Sealed>]
type StepBytesView(left: int, right: int, leftCopy: BigInteger, leftSaved: bool, rightCopy: BigInteger, rightSaved: bool,
                   result: BigInteger, scratch: BigInteger, keeps: BigInteger, backwardScratch: BigInteger) =
    member internal _.Value: StepBytes =
        { Left = left
          Right = right
          LeftOperand = { Copy = leftCopy; Saved = leftSaved }
          RightOperand = { Copy = rightCopy; Saved = rightSaved }
          Result = result
          Scratch = scratch
          Keeps = keeps
          BackwardScratch = backwardScratch }

/// The byte estimate of a call as a backend runs it, for C#: the backend describes its program (what it holds,
/// makes, copies and keeps per step) and `PlanBytes.simulate` walks it forward, backward and through an optimizer
/// step.
[<AbstractClass; Sealed>]
type MemoryModel =
    /// Parameter-sized tensors Adam keeps per parameter.
    static member AdamSlots = PlanBytes.AdamSlots
    /// The estimate: `held` bytes held by the caller (weights, consts, raw inputs), `fed` made at the start of the
    /// call and alive throughout (embedded inputs) with `fedScratch` while making them, the leaves and one slice's
    /// steps, the number of slices, the result's bytes, each trainable parameter's bytes, and the optimizer's
    /// parameter-sized tensors per parameter. Every step runs in every slice.
    static member Estimate(held: BigInteger, fed: BigInteger, fedScratch: BigInteger, leaves: LeafBytesView array,
                           steps: StepBytesView array, slices: BigInteger, result: BigInteger, parameters: BigInteger array,
                           optimizerSlots: int) : BytesView =
        MemoryModel.Estimate(held, fed, fedScratch, leaves, steps, slices, result, parameters, optimizerSlots, [||], [||])

    /// As the other `Estimate`, for slices run with reuse: `levels` per step (see `ProgramBytes.Levels`; empty: every
    /// step in every slice) and `loopSizes`, the sliced indices' sizes in loop order.
    static member Estimate(held: BigInteger, fed: BigInteger, fedScratch: BigInteger, leaves: LeafBytesView array,
                           steps: StepBytesView array, slices: BigInteger, result: BigInteger, parameters: BigInteger array,
                           optimizerSlots: int, levels: int array, loopSizes: BigInteger array) : BytesView =
        let program =
            { Held = held
              Fed = fed
              FedScratch = fedScratch
              Leaves = leaves |> Array.map (fun l -> l.Value)
              Steps = steps |> Array.map (fun s -> s.Value)
              Slices = slices
              Levels = levels
              LoopSizes = loopSizes
              GraphPerRun = BigInteger PlanBytes.GraphBytesPerRun
              Result = result
              Parameters = parameters }
        BytesView(PlanBytes.simulate program optimizerSlots)

    /// The estimate of a training step that checkpoints a sliced plan's slices in groups (see
    /// `PlanBytes.checkpointed`): `whole` the estimate of the call recording every slice, `group` that of one group of
    /// slices run alone (the same program with the group's slices and loop sizes), `result` the value's bytes.
    static member Checkpointed(whole: BytesView, group: BytesView, result: BigInteger) : BytesView =
        BytesView(PlanBytes.checkpointed whole.Value group.Value result)

/// A finished plan for C#: the pairwise steps to execute, the optimizer asked for and the one actually chosen, and
/// every figure, exact.
[<Sealed>]
type PlanView(result: PlanResult, steps: PairStepView array, leaves: int array array, sliced: int array, batch: Nullable<int64>,
              batchSizes: IReadOnlyDictionary<int, int64>, warnings: Diagnostic list) =
    let cost = result.Cost.Value
    let diagnostics = warnings @ result.Diagnostics |> List.map DiagnosticView |> Array.ofList
    let slicedIds = match result.Slicing with Some s -> s.Indices | None -> [||]
    /// The optimizer asked for (`auto`, `greedy`, …, or `path` for a user-given path).
    member _.Optimizer = result.Optimizer
    /// The optimizer whose tree this is (what `auto` chose; the asked-for name otherwise).
    member _.Chosen = result.Chosen
    /// The pairwise steps, in order.
    member _.Steps: IReadOnlyList<PairStepView> = steps
    /// The steps as (left, right) pairs.
    member _.Pairs: struct (int * int) array = steps |> Array.map (fun s -> struct (s.Left, s.Right))
    /// The contraction tree's steps as the optimizer built it, in order (the root last).
    member _.TreeSteps: IReadOnlyList<TreeStepView> =
        result.Steps |> Array.map (fun s -> TreeStepView(s.Node, s.Children, s.Flops)) :> _
    /// The number of leaves (input tensors) of the tree.
    member _.LeafCount = result.Problem.Problem.Names.Length
    /// The leaves' names (the tensors' names for a network).
    member _.LeafNames: IReadOnlyList<string> = result.Problem.Problem.Names :> _
    /// A count as the reports print it: in full below a million, else like `1.23e9`.
    static member Scientific(x: BigInteger) = PlanReport.sci x
    /// Per input tensor, the labels that survive it (open or carried by another tensor); the others are summed on
    /// the tensor alone before any step.
    member _.LeafLabels: IReadOnlyList<int array> = leaves
    /// Flops of the forward pass along the tree (opt_einsum's convention).
    member _.Flops = cost.Flops
    /// Flops of contracting everything in one step.
    member _.NaiveFlops = cost.NaiveFlops
    /// The largest intermediate, in elements.
    member _.LargestIntermediate = cost.LargestIntermediate
    /// The most elements alive at once, inputs included.
    member _.Peak = cost.Peak
    /// Elements written.
    member _.Write = cost.Write
    /// Flops of the backward pass.
    member _.BackwardFlops = cost.BackwardFlops
    /// Elements kept for the backward pass.
    member _.ActivationMemory = cost.ActivationMemory
    /// The size given to every dynamic (batch) index while planning when they were all given one; null for the
    /// nominal sizes, or where they were given several (see `BatchSizes`).
    member _.Batch = batch
    /// The size given to each dynamic (batch) index while planning, by index id (as in `Steps`); an index not
    /// there was planned at the size its file declares. Empty for the nominal sizes.
    member _.BatchSizes = batchSizes
    /// Wall-clock time of the search, in milliseconds.
    member _.SearchMs = result.SearchMs
    /// Warnings and notes of the planner.
    member _.Diagnostics: IReadOnlyList<DiagnosticView> = diagnostics
    /// The labels (as in `Steps`) of the indices the plan slices, in loop order (outermost first): each is fixed
    /// to one value per slice, the slices run as nested loops over them (slice number s holds the values of s in
    /// mixed radix over their sizes, the last label fastest) and their results are added; a step reruns only when
    /// a label its subtree carries changes (`SliceLevels`). Empty for an unsliced plan.
    member _.SlicedLabels: int array = sliced
    /// True when the plan is sliced (`SlicedLabels` is not empty).
    member _.IsSliced = sliced.Length > 0
    /// The number of slices (1 when unsliced): the product of the sliced indices' sizes.
    member _.Slices = match result.Slicing with Some s -> s.Slices | None -> Numerics.BigInteger.One
    /// Executed flops over every slice, each step run only when a sliced label it depends on changes (the
    /// unsliced `Flops` when unsliced).
    member _.SlicedFlops = match result.Slicing with Some s -> s.Flops | None -> cost.Flops
    /// Flops over every slice when every step runs in every slice (the unsliced `Flops` when unsliced).
    member _.EverySliceFlops = match result.Slicing with Some s -> s.EverySliceFlops | None -> cost.Flops
    /// Per step of `TreeSteps`, its level in the slice loops: 0 when it runs once, else the 1-based position in
    /// `SlicedLabels` of the innermost sliced label its subtree carries (it reruns when one of the labels up to
    /// that position changes). All 0 when unsliced.
    member _.SliceLevels: int array =
        match result.Slicing, result.Tree with
        | Some s, Some t -> PlanSlice.levels result.Problem t s.Indices
        | _ -> Array.zeroCreate result.Steps.Length
    /// Elements of step results held for reuse across slices (0 when unsliced).
    member _.SliceHeld = match result.Slicing with Some s -> s.Held | None -> Numerics.BigInteger.Zero
    /// The sliced plan's flops over the unsliced tree's (1 when unsliced).
    member _.SliceOverhead = match result.Slicing with Some s -> s.Overhead | None -> 1.0
    /// The largest intermediate of one slice, in elements (the unsliced `LargestIntermediate` when unsliced).
    member _.SliceLargestIntermediate = match result.Slicing with Some s -> s.LargestIntermediate | None -> cost.LargestIntermediate
    /// The number of elements of the result (at the planned sizes).
    member _.ResultElements =
        result.Problem.Output |> Array.fold (fun acc i -> acc * Numerics.BigInteger(result.Problem.Size[i])) Numerics.BigInteger.One
    /// The planner's estimate of the bytes this plan needs at `elementBytes` bytes per element (see `PlanBytes`):
    /// the forward peak, and for training the kept activations, gradients and the backward pass's transient.
    member _.Bytes(elementBytes: int) : BytesView = BytesView(PlanBytes.estimate result.Problem result.Tree.Value slicedIds elementBytes)
    /// `Bytes` for the same steps fed other sizes: each index of `extents` (network index id, as `LeafLabels` gives
    /// it, → size) at that size, the others as planned. What a caller that runs this plan on another batch needs
    /// (an emitted class fed fewer rows than it was planned for). An id no leaf carries, or a size below 1, is an
    /// `ArgumentException`.
    member this.BytesAt(elementBytes: int, extents: IReadOnlyDictionary<int, int64>) : BytesView =
        let p, _ = this.Resized extents
        BytesView(PlanBytes.estimate p result.Tree.Value slicedIds elementBytes)
    /// `BytesAt` for a training step that checkpoints the slices (see `PlanBytes.checkpointed`): the forward pass of
    /// every slice without autograd, then the backward pass runs groups of consecutive slices again with autograd,
    /// one at a time. The slice loops run in `order` (the labels of `SlicedLabels`, any order, outermost first) and a
    /// group is `values` consecutive values of the loop at position `loop` of it times every slice of the loops inside
    /// it. What a class written by `tn emit` that checkpoints its training step compares with its limit.
    member this.CheckpointedBytesAt(elementBytes: int, extents: IReadOnlyDictionary<int, int64>, order: int array, loop: int, values: int64) : BytesView =
        let p, ids = this.Resized extents
        if Array.sort (Array.copy order) <> Array.sort (Array.copy sliced) then
            invalidArg (nameof order) "the loop order must hold the sliced labels, each once"
        if loop < 0 || loop >= order.Length || values < 1L || values > p.Size[ids[order[loop]]] then
            invalidArg (nameof values) (sprintf "%d values of loop %d: not a group of slices of this plan" values loop)
        let loops = order |> Array.map (fun n -> ids[n])
        let program = PlanBytes.denseProgram p result.Tree.Value loops elementBytes
        let whole = PlanBytes.simulate program PlanBytes.AdamSlots
        let groupLoops =
            loops |> Array.mapi (fun j q -> if j < loop then Numerics.BigInteger.One elif j = loop then Numerics.BigInteger values else Numerics.BigInteger p.Size[q])
        let group = PlanBytes.simulate { program with Slices = Array.fold (*) Numerics.BigInteger.One groupLoops; LoopSizes = groupLoops } PlanBytes.AdamSlots
        BytesView({ PlanBytes.checkpointed whole group program.Result with ElementBytes = elementBytes })
    /// The problem with each index of `extents` (network index id → size) at that size, and the network id → problem
    /// id map (leaf by leaf: `leaves` holds the network's ids of `PairSteps.leafLabels`).
    member private _.Resized(extents: IReadOnlyDictionary<int, int64>) : Indexed * Dictionary<int, int> =
        let p = result.Problem
        let ids = Dictionary<int, int>()
        Array.iter2 (Array.iter2 (fun (n: int) (q: int) -> ids[n] <- q)) leaves (PairSteps.leafLabels p)
        let size = Array.copy p.Size
        for KeyValue(n, extent) in extents do
            match ids.TryGetValue n with
            | true, q when extent >= 1L -> size[q] <- extent
            | true, _ -> invalidArg (nameof extents) (sprintf "index %d: size %d is below 1" n extent)
            | _ -> invalidArg (nameof extents) (sprintf "index %d is not carried by a tensor of the plan" n)
        ({ p with Size = size }, ids)
    /// The human report `tn plan` prints.
    member _.Report() = PlanReport.text result
    /// The JSON report `tn plan --json` prints.
    member _.Json() = PlanReport.json result
    /// The F# result.
    member _.Result = result

/// An einsum planned for fixed shapes, for C#: the plan (labels are the planner's index ids) and how each operand
/// is prepared (broadcast axes squeezed, then labelled, repeats kept for a diagonal).
[<Sealed>]
type EinsumPlan(plan: PlanView, squeeze: int64 array array, labels: int array array, output: int array, outputShape: int64 array) =
    /// The plan.
    member _.Plan = plan
    /// Per operand, its broadcast axes, highest first (squeezed before contracting).
    member _.Squeeze: IReadOnlyList<int64 array> = squeeze
    /// Per operand, the label of each axis left after squeezing (repeats kept).
    member _.Labels: IReadOnlyList<int array> = labels
    /// The labels of the result's axes.
    member _.Output = output
    /// The result's shape.
    member _.OutputShape = outputShape

/// The planner for C#: every contraction order comes from here, through the registry or a user-given path, and
/// turns into pairwise steps by the one conversion (`PairSteps.ofTree`).
[<AbstractClass; Sealed>]
type Planner =
    /// The names of the registered optimizers.
    static member OptimizerNames: string array = Plan.names |> Array.ofList

    static member private Finish(name: string, problem: Problem, warnings: Diagnostic list, range, label: string -> int,
                                 batch: Nullable<int64>, batchSizes: IReadOnlyDictionary<int, int64>, run: Indexed -> PlanResult) : PlanView =
        match Problem.index range problem with
        | Result.Error ds ->
            raise (TnException(sprintf "%s: the network cannot be planned" name, warnings @ ds |> List.map DiagnosticView |> Array.ofList))
        | Ok p ->
            let r = run p
            if not (Plan.succeeded r) then
                let ds = warnings @ r.Diagnostics |> List.filter (fun d -> d.Kind.Level <> Info) |> List.map DiagnosticView |> Array.ofList
                raise (TnException(sprintf "%s: planning with '%s' failed" name r.Optimizer, ds))
            let ids (xs: int array) = xs |> Array.map (fun i -> label p.IndexNames[i])
            let steps =
                PairSteps.ofTree p r.Tree.Value
                |> Array.map (fun s -> PairStepView(s.Left, s.Right, ids s.Kept, ids s.Summed))
            let leaves = PairSteps.leafLabels p |> Array.map ids
            let sliced = match r.Slicing with Some s -> ids s.Indices | None -> [||]
            PlanView(r, steps, leaves, sliced, batch, batchSizes, warnings)

    /// The problem of a network with its dynamic indices sized by family (`sizes`; the others at their declared
    /// sizes), the planner's warnings, the label of each problem index, and the sizes as `PlanView` carries them:
    /// the one size every dynamic index was given (null where they were not all given one) and the size of each.
    static member private OfNetwork(network: NetworkView, sizes: IReadOnlyDictionary<string, int64>) =
        let net = network.Flat
        let dynamic = net.Indices |> Array.filter (fun i -> Dim.isDynamic i.Dim)
        let sized = dynamic |> Array.choose (fun i -> match sizes.TryGetValue i.Family with | true, s -> Some(i.Id, s) | _ -> None)
        let problem, warnings = PlanInput.ofNetwork net (sized |> Array.map (fun (id, s) -> net.Indices[id].Family, s) |> Map.ofArray)
        let byName = net.Indices |> Array.map (fun i -> i.Name, i.Id) |> dict
        let one =
            match sized |> Array.map snd |> Array.distinct with
            | [| s |] when sized.Length = dynamic.Length -> Nullable s
            | _ -> Nullable()
        problem, warnings, (fun (n: string) -> byName[n]), one, readOnlyDict sized

    static member private Unsized: IReadOnlyDictionary<string, int64> = readOnlyDict []

    /// Refuses a memory limit below one element as the caller's mistake (`ArgumentOutOfRangeException`, as
    /// `Tn.Contract` does), and a size below 1 for a dynamic index: the planner would report either as the network's
    /// (`the result alone has … elements, over the memory limit of -1`; `index 'batch' has size 0`, placed in the file).
    static member private CheckArguments(sizes: IReadOnlyDictionary<string, int64>, memoryLimit: Nullable<int64>) =
        if memoryLimit.HasValue && memoryLimit.Value < 1L then
            raise (ArgumentOutOfRangeException(nameof memoryLimit, memoryLimit.Value,
                                               sprintf "the memory limit is %d: the most elements of one intermediate is at least 1; give null for no limit" memoryLimit.Value))
        for KeyValue(family, size) in sizes do
            if size < 1L then
                raise (ArgumentOutOfRangeException(nameof sizes, size, sprintf "the dynamic index %s is given %d rows: a batch has at least 1" family size))

    static member private OfLegs(legs: IReadOnlyList<int array>, sizes: IReadOnlyList<int64>, output: IReadOnlyList<int>) =
        let name (l: int) = string l
        let used = legs |> Seq.concat |> Seq.append output |> Seq.distinct |> Array.ofSeq
        Problem.create None (legs |> Seq.map (Array.map name) |> Array.ofSeq)
            (used |> Array.map (fun l -> name l, sizes[l]) |> Map.ofArray) (output |> Seq.map name |> Array.ofSeq)

    /// Plans a checked network with a registered optimizer at the nominal sizes, or with every dynamic (batch)
    /// index at `batch`; the same plan `tn plan` prints for the same file and options. Throws `TnException` with
    /// the diagnostics when planning fails (an unknown optimizer, an optimizer that throws: TN0313).
    static member Plan(network: NetworkView, optimizer: string, batch: Nullable<int64>, seed: int) : PlanView =
        Planner.Plan(network, optimizer, batch, seed, Nullable())

    /// `Plan` with a memory limit: no intermediate of the plan (of one slice, when the planner slices to meet the
    /// limit) has more than `memoryLimit` elements; null for none. A limit that cannot be met throws `TnException`
    /// with TN0301; a limit or a batch below 1, `ArgumentOutOfRangeException`.
    static member Plan(network: NetworkView, optimizer: string, batch: Nullable<int64>, seed: int, memoryLimit: Nullable<int64>) : PlanView =
        let sizes =
            if batch.HasValue then
                // By family: the members of a dynamic family (`q[i]`) share one entry.
                network.Flat.Indices |> Array.filter (fun i -> Dim.isDynamic i.Dim) |> Array.map (fun i -> i.Family, batch.Value)
                |> Array.distinct |> readOnlyDict
            else Planner.Unsized
        Planner.PlanSized(network, optimizer, sizes, seed, memoryLimit)

    /// `Plan` with each dynamic index family that `sizes` names (family → size) at that size while planning, the
    /// others at their declared sizes: dynamic indices of different sizes (a kernel of 2,000 rows by 50,000).
    static member PlanSized(network: NetworkView, optimizer: string, sizes: IReadOnlyDictionary<string, int64>, seed: int, memoryLimit: Nullable<int64>) : PlanView =
        Planner.CheckArguments(sizes, memoryLimit)
        let problem, warnings, label, one, batchSizes = Planner.OfNetwork(network, sizes)
        Planner.Finish(network.Name, problem, warnings, network.Flat.Range, label, one, batchSizes,
                       Plan.run optimizer { PlanOptions.defaults with
                                              Seed = seed
                                              MemoryLimit = (if memoryLimit.HasValue then Some memoryLimit.Value else None) })

    /// Follows a user-given path (pairwise steps in the linear convention, completed left to right) on a network:
    /// the path is planned as an optimizer of its own, named `path`.
    static member FollowPath(network: NetworkView, path: IReadOnlyList<struct (int * int)>) : PlanView =
        let problem, warnings, label, _, none = Planner.OfNetwork(network, Planner.Unsized)
        let pairs = path |> Seq.map (fun struct (a, b) -> a, b) |> Array.ofSeq
        Planner.Finish(network.Name, problem, warnings, network.Flat.Range, label, Nullable(), none, Plan.runPath pairs PlanOptions.defaults)

    /// Replays a plan made elsewhere: the path `path` (as `PlanView.Pairs` gives it) with the indices `sliced`
    /// (network index ids, as `PlanView.SlicedLabels` gives them, in loop order) sliced, so that whoever replays it
    /// runs the very same steps and slices in the same order. Throws `TnException` for an id that is not a closed index of the network.
    static member Replay(network: NetworkView, path: IReadOnlyList<struct (int * int)>, sliced: IReadOnlyList<int>) : PlanView =
        let problem, warnings, label, _, none = Planner.OfNetwork(network, Planner.Unsized)
        let pairs = path |> Seq.map (fun struct (a, b) -> a, b) |> Array.ofSeq
        let indices = network.Flat.Indices
        let run (p: Indexed) =
            let r = Plan.runPath pairs PlanOptions.defaults p
            if sliced.Count = 0 || r.Tree.IsNone then r
            else
                let ids =
                    sliced |> Seq.map (fun l ->
                        let k =
                            match indices |> Array.tryFind (fun i -> i.Id = l) with
                            | Some i -> Array.IndexOf(p.IndexNames, i.Name)
                            | None -> -1
                        if k < 0 || p.IsOutput[k] then
                            raise (TnException(sprintf "%s: index %d cannot be sliced (not a closed index of the network)" network.Name l))
                        k)
                    |> Array.ofSeq
                { r with Slicing = Some(PlanSlice.figuresInOrder p r.Tree.Value ids) }
        Planner.Finish(network.Name, problem, warnings, network.Flat.Range, label, Nullable(), none, run)

    /// Plans tensors given by their labels (`legs`, one label array per tensor), label sizes and output labels,
    /// with a registered optimizer. For networks built in memory without a `.tn` file.
    static member PlanLabels(legs: IReadOnlyList<int array>, sizes: IReadOnlyList<int64>, output: IReadOnlyList<int>, optimizer: string) : PlanView =
        Planner.Finish("network", Planner.OfLegs(legs, sizes, output), [], Range.none, int, Nullable(), readOnlyDict [],
                       Plan.run optimizer PlanOptions.defaults)

    /// Plans einsum text for operands of the given shapes (the reader behind `tn plan --einsum`): the plan over the
    /// planner's index ids, with how each operand is squeezed and labelled. Throws `TnException` with the
    /// diagnostics rendered against the equation when the text or the shapes do not fit.
    static member PlanEinsum(equation: string, shapes: int64 array array, optimizer: string, seed: int, memoryLimit: Nullable<int64>) : EinsumPlan =
        let source = SourceText(Einsum.equationFile, equation)
        let find file = if file = source.File then Some source else None
        let fail (ds: Diagnostic list) =
            let views =
                ds
                |> List.filter (fun d -> d.Kind.Level <> Info)
                |> List.map (fun d -> DiagnosticView(d, Rendering.render find d))
                |> Array.ofList
            raise (TnException(sprintf "einsum '%s' cannot be planned" equation, views))
        let bound = Einsum.parse equation |> Result.bind (fun spec -> Einsum.bind spec shapes)
        match bound with
        | Result.Error ds -> fail ds
        | Ok binding ->
        match Problem.index (Range.ofFile Einsum.equationFile) binding.Problem with
        | Result.Error ds -> fail ds
        | Ok p ->
            let o =
                { PlanOptions.defaults with
                    // Its one caller, `Tn.Expression`, takes these settings as `ContractionOptions`.
                    Words = { Optimizer = "ContractionOptions.Optimizer"; MemoryLimit = "ContractionOptions.MemoryLimit" }
                    Seed = seed
                    MemoryLimit = (if memoryLimit.HasValue then Some memoryLimit.Value else None) }
            let r = Plan.run optimizer o p
            if not (Plan.succeeded r) then fail r.Diagnostics
            let idOf = p.IndexNames |> Array.mapi (fun k n -> n, k) |> dict
            let steps = PairSteps.ofTree p r.Tree.Value |> Array.map (fun s -> PairStepView(s.Left, s.Right, s.Kept, s.Summed))
            let leaves = PairSteps.leafLabels p
            let sliced = match r.Slicing with Some s -> s.Indices | None -> [||]
            let view = PlanView(r, steps, leaves, sliced, Nullable(), readOnlyDict [], [])
            let squeeze =
                shapes |> Array.mapi (fun k shape ->
                    [| for a in shape.Length - 1 .. -1 .. 0 do if binding.Broadcast[k][a] then int64 a |])
            let labels = binding.Problem.Inputs |> Array.map (Array.map (fun l -> idOf[l]))
            let output = binding.Problem.Output |> Array.map (fun l -> idOf[l])
            // Zero-size axes were planned at size 1: the result's shape takes their real size.
            let outputShape =
                binding.Problem.Output
                |> Array.mapi (fun o l ->
                    let zero =
                        shapes |> Array.mapi (fun k shape -> binding.Axes[k] |> Array.mapi (fun a x -> x = l && shape[a] = 0L) |> Array.exists id)
                        |> Array.exists id
                    if zero then 0L else p.Size[output[o]])
            EinsumPlan(view, squeeze, labels, output, outputShape)

    /// Follows a user-given path on tensors given by their labels (see `PlanLabels`).
    static member FollowPathLabels(legs: IReadOnlyList<int array>, sizes: IReadOnlyList<int64>, output: IReadOnlyList<int>,
                                   path: IReadOnlyList<struct (int * int)>) : PlanView =
        let pairs = path |> Seq.map (fun struct (a, b) -> a, b) |> Array.ofSeq
        Planner.Finish("network", Planner.OfLegs(legs, sizes, output), [], Range.none, int, Nullable(), readOnlyDict [],
                       Plan.runPath pairs PlanOptions.defaults)

namespace TnDsl

open System.Collections.Generic
open System.Numerics
open TnDsl.Api

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
    member _.Range = RangeView b.Range

/// A run of consecutive legs or tensors on one side of a cut, for C# callers: the names of its first and last
/// members (in output order for legs, declaration order for tensors) and how many it holds.
[<Sealed>]
type RunView(first: string, last: string, count: int) =
    /// The first member's name.
    member _.First = first
    /// The last member's name (the first's when the run holds one).
    member _.Last = last
    /// How many members the run holds.
    member _.Count = count

/// One evaluated bipartition, for C# callers.
[<Sealed>]
type CutView(net: FlatNetwork, r: CutReport) =
    let legNames (runs: Run array) = Runs.toSeq runs |> Seq.map (fun p -> net.Indices[r.Legs[p]].Name) |> Array.ofSeq
    let tensorNames (runs: Run array) = Runs.toSeq runs |> Seq.map (fun t -> net.Tensors[t].Name) |> Array.ofSeq
    let legRuns (runs: Run array) =
        runs |> Array.map (fun x -> RunView(net.Indices[r.Legs[x.First]].Name, net.Indices[r.Legs[x.Last]].Name, x.Last - x.First + 1))
    let tensorRuns (runs: Run array) =
        runs |> Array.map (fun x -> RunView(net.Tensors[x.First].Name, net.Tensors[x.Last].Name, x.Last - x.First + 1))
    // An exact product: its decimal digits up to 2^128, beyond that the powers of its factors (`2^30000`), so
    // that a profile of a long chain is not written as millions of digits.
    let exact (value: unit -> BigInteger) (bits: float) (factors: (int64 * int) seq) =
        if bits <= 128.0 then value().ToString(System.Globalization.CultureInfo.InvariantCulture)
        else factors |> Seq.map (fun (d, c) -> if c = 1 then string d else sprintf "%d^%d" d c) |> String.concat "*"
    /// The cut's name.
    member _.Name = r.Name
    /// The min-cut bound, exact.
    member _.Bound: BigInteger = r.Bound
    /// The bound as exact text: decimal up to 2^128, else a product of powers of the severed dimensions (`8^3*3`).
    member _.BoundText: string =
        exact (fun () -> r.Bound) r.Bits (r.Bonds |> List.countBy (fun b -> b.Dim) |> List.sortBy fst)
    /// log2 of the bound.
    member _.Bits = r.Bits
    /// Natural log of the bound.
    member _.Nats = r.Nats
    /// The severed bonds.
    member _.Bonds: IReadOnlyList<CutBondView> = r.Bonds |> List.map CutBondView |> Array.ofList :> _
    /// Names of the A legs, in output order.
    member _.LeftLegs: IReadOnlyList<string> = legNames r.LeftLegs :> _
    /// Names of the B legs, in output order.
    member _.RightLegs: IReadOnlyList<string> = legNames r.RightLegs :> _
    /// The A legs as runs of consecutive output legs.
    member _.LeftLegRuns: IReadOnlyList<RunView> = legRuns r.LeftLegs :> _
    /// The B legs as runs of consecutive output legs.
    member _.RightLegRuns: IReadOnlyList<RunView> = legRuns r.RightLegs :> _
    /// Names of the tensors on the A side, in declaration order.
    member _.LeftTensors: IReadOnlyList<string> = tensorNames r.LeftTensors :> _
    /// Names of the tensors on the B side, in declaration order.
    member _.RightTensors: IReadOnlyList<string> = tensorNames r.RightTensors :> _
    /// The tensors on the A side as runs of consecutively declared tensors.
    member _.LeftTensorRuns: IReadOnlyList<RunView> = tensorRuns r.LeftTensors :> _
    /// The tensors on the B side as runs of consecutively declared tensors.
    member _.RightTensorRuns: IReadOnlyList<RunView> = tensorRuns r.RightTensors :> _
    /// min(product of A dims, product of B dims).
    member _.Trivial: BigInteger = r.Trivial
    /// The trivial bound as exact text: decimal up to 2^128, else a product of powers of the leg dimensions (`2^30000`).
    member _.TrivialText: string = exact (fun () -> r.Trivial) r.TrivialBits r.TrivialFactors
    /// log2 of the trivial bound.
    member _.TrivialBits = r.TrivialBits
    /// "min-cut", "trivial" or "equal": which bound is tighter.
    member _.Tighter =
        match r.Tighter with
        | MinCutTighter -> "min-cut"
        | TrivialTighter -> "trivial"
        | Equal -> "equal"
    /// Where the cut was declared.
    member _.Range = RangeView r.Range
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
    member _.Range = RangeView o.Range

/// Everything `tn cuts` shows for a network.
[<Sealed>]
type CutsView
    (
        cuts: IReadOnlyList<CutView>,
        profile: IReadOnlyList<ProfileEntryView>,
        oversized: IReadOnlyList<OversizedBondView>,
        diagnostics: IReadOnlyList<DiagnosticView>
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
    static member Analyse(view: NetworkView, cutName: string | null, withProfile: bool) : CutsView =
        let net = view.Flat
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
            // One warning per oversized bond family, not one per member; errors first; rendered with the sources.
            cutDiags @ overDiags |> Diagnostic.collapse |> Diagnostic.sort
            |> List.map (fun d -> DiagnosticView(d, Rendering.render (Rendering.lookup view.Sources) d))
            |> Array.ofList
        )

    /// The declared cuts of a network, each evaluated once by the exact engine: the cheap summary `tn check`
    /// prints. Invalid cuts (which the checker reports) are left out.
    static member Declared(view: NetworkView) : CutView array =
        let net = view.Flat
        MinCut.evaluateAllWith PrimeExponent net |> fst |> List.map (fun r -> CutView(net, r)) |> Array.ofList

    /// The names of a network's declared cuts.
    static member CutNames(view: NetworkView) : string array = view.CutNames
