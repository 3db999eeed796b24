namespace TnDsl.Testing

open System
open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open TnDsl

/// The floating-point type a contraction under test computes in.
type DType =
    | Float64
    | Float32

/// Facts about floating-point types.
module DType =
    /// The unit roundoff's spacing at 1 (machine epsilon).
    let epsilon =
        function
        | Float64 -> 2.220446049250313e-16
        | Float32 -> 1.1920928955078125e-7

    /// Rounds a float64 value to the type (the identity for float64).
    let round =
        function
        | Float64 -> id
        | Float32 -> fun (x: float) -> float (float32 x)

    /// The type's name as TorchSharp and numpy spell it.
    let name =
        function
        | Float64 -> "float64"
        | Float32 -> "float32"

/// Random tensor values for a flat network, seeded and reproducible. Tied weights (one `Param`) get one value;
/// `const` tensors with a fixed value (copy, constant, identity) get that value; every other tensor gets
/// independent entries uniform in [-1, 1), rounded to the dtype so that the float64 reference sees exactly what
/// the code under test sees.
module Values =
    /// The dimensions of a tensor's legs.
    let shape (net: FlatNetwork) (t: FlatTensor) =
        t.Legs |> Array.map (fun l -> int (Dim.size net.Indices[l].Dim))

    let private fixedValue (init: Init option) : (int array -> float) option =
        match init with
        | Some Copy -> Some(fun idx -> if idx |> Array.forall (fun i -> i = idx[0]) then 1.0 else 0.0)
        | Some(Constant c) -> Some(fun _ -> c)
        // Outside in, as the TorchSharp backend builds it: first leg with last, second with second-to-last.
        | Some Identity ->
            Some(fun idx ->
                let mutable ok = true
                for a in 0 .. idx.Length / 2 - 1 do
                    if idx[a] <> idx[idx.Length - 1 - a] then ok <- false
                if ok then 1.0 else 0.0)
        | _ -> None

    /// One dense tensor per network tensor (by id), axes labelled by the tensor's legs in declared order.
    let sample (dtype: DType) (seed: int) (net: FlatNetwork) : Dense array =
        let rng = Random(seed)
        let byParam = Dictionary<string, float array>()
        net.Tensors
        |> Array.map (fun t ->
            let sh = shape net t
            let labels = Array.copy t.Legs
            let fresh () =
                let d = Dense.init labels sh (fun _ -> DType.round dtype (rng.NextDouble() * 2.0 - 1.0))
                d.Data
            let data =
                match t.Role with
                | Const when (fixedValue t.Init).IsSome -> (Dense.init labels sh (fixedValue t.Init).Value).Data
                | Input -> fresh ()
                | _ ->
                    match byParam.TryGetValue t.Param with
                    | true, v -> v
                    | _ ->
                        let v = fresh ()
                        byParam[t.Param] <- v
                        v
            { Labels = labels; Shape = sh; Data = data })

    /// Values for a network as an FsCheck generator: the seed is drawn, so a counterexample shows it and
    /// `sample dtype seed net` rebuilds the same values.
    let gen (dtype: DType) (net: FlatNetwork) : Gen<int * Dense array> =
        Gen.choose (0, Int32.MaxValue - 1) |> Gen.map (fun seed -> seed, sample dtype seed net)
