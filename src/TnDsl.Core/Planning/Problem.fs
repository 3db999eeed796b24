namespace TnDsl

open System.Collections.Generic

/// A contraction problem in plain form: each tensor is a list of index names, every index has a size, and the
/// output lists the open indices. An index may sit on any number of tensors (einsum semantics): it is summed away
/// as soon as no remaining tensor and not the output carries it.
type Problem =
    {
        /// A display name per tensor (`A`, `A[3]`, or `T0` when none is given).
        Names: string array
        /// The index names of each tensor, in the tensor's leg order.
        Inputs: string array array
        /// The extent of every index.
        Sizes: Map<string, int64>
        /// The open indices of the result, in order.
        Output: string array
        /// Per tensor: whether a gradient is wanted for it (weights). Drives the backward figures.
        Trainable: bool array
    }

/// A problem with its indices numbered, checked and ready for search: what every optimizer takes.
type Indexed =
    {
        /// The problem as given.
        Problem: Problem
        /// Index names by id (ids in order of first appearance: tensors, then output).
        IndexNames: string array
        /// Index sizes by id.
        Size: int64 array
        /// Per tensor: its distinct index ids, sorted.
        Inputs: int array array
        /// Output index ids in the output's order.
        Output: int array
        /// Per index id: whether it is open.
        IsOutput: bool array
        /// Per index id: the tensors carrying it, sorted.
        Carriers: int array array
    }

/// Checking and numbering problems.
module Problem =
    /// A problem whose tensors are all trainable, named `T0`, `T1`, … unless names are given.
    let create (names: string array option) (inputs: string array array) (sizes: Map<string, int64>) (output: string array) =
        { Names = (match names with Some n -> n | None -> Array.init inputs.Length (sprintf "T%d"))
          Inputs = inputs
          Sizes = sizes
          Output = output
          Trainable = Array.create inputs.Length true }

    /// The same problem with some index sizes replaced (by exact index name).
    let withSizes (overrides: (string * int64) list) (p: Problem) =
        { p with Sizes = overrides |> List.fold (fun (m: Map<string, int64>) (k, v) -> m.Add(k, v)) p.Sizes }

    /// Checks a problem and numbers its indices; errors are diagnostics at the given range.
    let index (range: SourceRange) (p: Problem) : Result<Indexed, Diagnostic list> =
        let errors = ResizeArray<Diagnostic>()
        let ids = Dictionary<string, int>()
        let names = ResizeArray<string>()
        let idOf (name: string) =
            match ids.TryGetValue name with
            | true, i -> i
            | _ ->
                ids[name] <- names.Count
                names.Add name
                names.Count - 1
        if p.Inputs.Length = 0 then
            errors.Add(Diagnostic.make PlanDiagnostics.empty range "the network has no tensors to contract")
        let inputs = p.Inputs |> Array.map (fun legs -> legs |> Array.map idOf |> Array.distinct |> Array.sort)
        let onTensors = names.Count
        let seen = HashSet<string>()
        for o in p.Output do
            if not (seen.Add o) then
                errors.Add(Diagnostic.make PlanDiagnostics.badOutput range (sprintf "output index '%s' is listed twice" o))
            elif not (ids.ContainsKey o) || ids[o] >= onTensors then
                errors.Add(Diagnostic.make PlanDiagnostics.badOutput range (sprintf "output index '%s' is on no tensor" o))
        let output = p.Output |> Array.distinct |> Array.map idOf
        let size =
            names.ToArray()
            |> Array.map (fun n ->
                match p.Sizes.TryFind n with
                | Some s when s >= 1L -> s
                | Some s ->
                    errors.Add(Diagnostic.make PlanDiagnostics.badSize range (sprintf "index '%s' has size %d" n s))
                    1L
                | None ->
                    errors.Add(Diagnostic.make PlanDiagnostics.missingSize range (sprintf "index '%s' has no size" n))
                    1L)
        if p.Trainable.Length <> p.Inputs.Length || p.Names.Length <> p.Inputs.Length then
            errors.Add(Diagnostic.make PlanDiagnostics.badInput range "names, inputs and trainable flags differ in length")
        if errors.Count > 0 then
            Result.Error(List.ofSeq errors)
        else
            let carriers = Array.init names.Count (fun _ -> ResizeArray<int>())
            inputs |> Array.iteri (fun t legs -> for i in legs do carriers[i].Add t)
            let isOut = Array.zeroCreate names.Count
            for o in output do
                isOut[o] <- true
            Ok
                { Problem = p
                  IndexNames = names.ToArray()
                  Size = size
                  Inputs = inputs
                  Output = output
                  IsOutput = isOut
                  Carriers = carriers |> Array.map (fun c -> c.ToArray()) }

    /// The number of elements of a tensor carrying the indices `idx` (ids of `p`), exact.
    let elements (p: Indexed) (idx: int seq) =
        idx |> Seq.fold (fun acc i -> acc * System.Numerics.BigInteger(p.Size[i])) System.Numerics.BigInteger.One

    /// The sub-problem on some tensors (ids in `tensors`, which become 0, 1, …): an index stays open when the
    /// whole problem keeps it open or a tensor outside the subset carries it.
    let sub (p: Indexed) (tensors: int array) : Indexed =
        let inside = HashSet<int>(tensors)
        let touched = tensors |> Array.collect (fun t -> p.Inputs[t]) |> Array.distinct |> Array.sort
        let openIdx =
            touched
            |> Array.filter (fun i -> p.IsOutput[i] || p.Carriers[i] |> Array.exists (fun t -> not (inside.Contains t)))
        let problem =
            { Names = tensors |> Array.map (fun t -> p.Problem.Names[t])
              Inputs = tensors |> Array.map (fun t -> p.Inputs[t] |> Array.map (fun i -> p.IndexNames[i]))
              Sizes = touched |> Array.map (fun i -> p.IndexNames[i], p.Size[i]) |> Map.ofArray
              Output = openIdx |> Array.map (fun i -> p.IndexNames[i])
              Trainable = tensors |> Array.map (fun t -> p.Problem.Trainable[t]) }
        match index Range.none problem with
        | Ok s -> s
        | Result.Error _ -> invalidOp "a sub-problem of a valid problem is valid"
