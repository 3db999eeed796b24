namespace TnDsl.Testing

open System
open System.Collections.Generic

/// The kit's C#-shaped surface: the spec check's records built from plain .NET values (nullable for absent,
/// delegates for functions), so that C# callers (TnDsl.Testing.Torch) name no F# option, list, map or function.
[<AbstractClass; Sealed>]
type SpecInterop =
    /// The check's options; null or an empty value stands for the default.
    static member Options(maxTest: int, dtype: DType, ranges: IReadOnlyDictionary<string, struct (int64 * int64)>, maxBatch: int64,
                          network: string | null, replay: Nullable<int>, relativeTolerance: Nullable<float>,
                          absoluteTolerance: Nullable<float>, workLimit: float, maxShrinks: int, checkRanks: bool,
                          checkGradients: bool, gradientEntries: int) : SpecOptions =
        let tolerance =
            if relativeTolerance.HasValue || absoluteTolerance.HasValue then
                Some { Relative = (if relativeTolerance.HasValue then relativeTolerance.Value else 0.0)
                       Absolute = (if absoluteTolerance.HasValue then absoluteTolerance.Value else 0.0) }
            else None
        { MaxTest = maxTest
          DType = dtype
          Ranges = ranges |> Seq.map (fun kv -> let struct (lo, hi) = kv.Value in kv.Key, (lo, hi)) |> Map.ofSeq
          MaxBatch = maxBatch
          Network = (match network with null -> None | n -> Some n)
          Replay = (if replay.HasValue then Some replay.Value else None)
          Tolerance = tolerance
          WorkLimit = workLimit
          MaxShrinks = maxShrinks
          CheckRanks = checkRanks
          CheckGradients = checkGradients
          GradientEntries = gradientEntries }

    /// An implementation from a forward and, unless null, a gradient (one entry per tensor, null where the result
    /// does not depend on it).
    static member Implementation(forward: Func<SpecSample, SpecOutput>, gradient: Func<SpecSample, Dense, Dense array> | null) : Implementation =
        { Forward = forward.Invoke
          Gradient =
            match gradient with
            | null -> None
            | g -> Some(fun s cot -> g.Invoke(s, cot) |> Array.map (fun d -> if isNull (box d) then None else Some d)) }

    /// The implementation that runs a path-driven forward once per optimizer's plan (see `SpecRun.overPlans`).
    static member OverPlans(options: SpecOptions, forward: Func<SpecSample, string, struct (int * int) array, SpecOutput>) : Implementation =
        SpecRun.overPlans options (fun s name path -> forward.Invoke(s, name, path |> Array.map (fun (a, b) -> struct (a, b))))
