namespace TnDsl.Testing

open System
open FsCheck
open FsCheck.FSharp
open TnDsl

/// An integer parameter of a `.tn` spec and the range the kit draws it from.
type SpecParameter =
    { /// The parameter's name.
      Name: string
      /// The value the spec declares as default.
      Default: int64
      /// The smallest value drawn (inclusive).
      Min: int64
      /// The largest value drawn (inclusive).
      Max: int64 }

/// A loaded `.tn` spec: where it is, which network, and its integer parameters with their ranges.
type Spec =
    { /// The `.tn` file.
      Path: string
      /// The network chosen in the file (None: the last).
      NetworkName: string option
      /// The network at its defaults.
      AtDefaults: FlatNetwork
      /// The integer parameters, in declared order.
      Parameters: SpecParameter list }

/// Values for a spec's integer parameters, in the spec's order.
type ParameterAssignment =
    {
        /// (name, value) per parameter.
        Values: (string * int64) list
    }

    override a.ToString() = String.Join(", ", a.Values |> List.map (fun (n, v) -> sprintf "%s=%d" n v))

/// Loading specs, compiling them at chosen parameters, and generating parameter assignments that the spec
/// accepts (its `require`s hold): sized, and shrinking each parameter toward 1 and 2.
module SpecDims =
    /// The default upper end of a parameter's range: its default, but at most 5 (the reference is naive).
    let defaultCap = 5L

    let private render (r: Compiler.CompileResult) =
        let source file =
            match r.Sources.TryGetValue file with
            | true, s -> Some s
            | _ -> None
        String.Join(Environment.NewLine, r.Diagnostics |> List.filter Diagnostic.isError |> List.map (Diagnostic.render source))

    let private compileWith (path: string) (network: string option) (values: (string * int64) list) =
        let options =
            { Compiler.defaultOptions with
                Overrides = values |> List.map (fun (n, v) -> n, string v)
                NetworkName = network }
        Compiler.compileFile path options

    /// Loads a spec: compiles it at its defaults and lists its integer parameters with ranges: `ranges` gives
    /// (min, max) by name; otherwise a parameter is drawn from 1 to min(default, 5).
    let load (path: string) (network: string option) (ranges: Map<string, int64 * int64>) : Result<Spec, string> =
        let r = compileWith path network []
        match r.Network with
        | None -> Result.Error(sprintf "the spec %s does not compile at its defaults:%s%s" path Environment.NewLine (render r))
        | Some net ->
            let unknown = ranges |> Map.toList |> List.map fst |> List.filter (fun n -> not (net.Parameters |> List.exists (fun (p, v) -> p = n && v.IsVInt)))
            if not unknown.IsEmpty then
                Result.Error(sprintf "the spec %s has no integer parameter %s" path (String.Join(", ", unknown)))
            else
                let ps =
                    net.Parameters
                    |> List.choose (fun (name, v) ->
                        match v with
                        | VInt d ->
                            let lo, hi =
                                match ranges.TryFind name with
                                | Some(lo, hi) -> lo, hi
                                | None -> 1L, max 1L (min d defaultCap)
                            Some { Name = name; Default = d; Min = lo; Max = max lo hi }
                        | _ -> None)
                Ok { Path = path; NetworkName = network; AtDefaults = net; Parameters = ps }

    /// Compiles the spec at an assignment; the rendered errors (a failed `require`, say) when it does not compile.
    let compile (spec: Spec) (a: ParameterAssignment) : Result<FlatNetwork, string> =
        let r = compileWith spec.Path spec.NetworkName a.Values
        match r.Network with
        | Some net -> Ok net
        | None -> Result.Error(render r)

    /// Assignments drawn uniformly within each parameter's range, the top of the range growing with FsCheck's
    /// size (at size 0 every parameter is at its minimum). Not filtered: see `arbitrary`.
    let raw (spec: Spec) : Gen<ParameterAssignment> =
        Gen.sized (fun size ->
            spec.Parameters
            |> List.map (fun p ->
                let top = p.Min + (p.Max - p.Min) * int64 (min 100 (size + 20)) / 100L
                Gen.choose64 (p.Min, max p.Min top) |> Gen.map (fun v -> p.Name, v))
            |> Gen.sequenceToList
            |> Gen.map (fun vs -> { Values = vs }))

    /// Simpler assignments: each parameter in turn toward 1, 2, half and one less (never below its minimum).
    let shrinkRaw (spec: Spec) (a: ParameterAssignment) : seq<ParameterAssignment> =
        seq {
            for k, (name, v) in List.indexed a.Values do
                let lo = spec.Parameters |> List.tryFind (fun p -> p.Name = name) |> Option.map (fun p -> p.Min) |> Option.defaultValue 1L
                for c in [ 1L; 2L; v / 2L; v - 1L ] |> List.distinct do
                    if c >= lo && c < v then { Values = List.updateAt k (name, c) a.Values }
        }

    /// The Arbitrary of assignments the spec accepts: draws that fail to compile (a `require`) are redrawn,
    /// shrinks that fail to compile are skipped.
    let arbitrary (spec: Spec) : Arbitrary<ParameterAssignment> =
        let accepted a = Result.isOk (compile spec a)
        Arb.fromGenShrink (raw spec |> Gen.where accepted, shrinkRaw spec >> Seq.filter accepted)
