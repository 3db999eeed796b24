namespace TnDsl.Testing

open System
open TnDsl

/// How far a computed entry may be from the float64 reference: `Absolute + Relative * magnitude`, where the
/// magnitude of an entry is the same contraction over the absolute values of the tensors (Σ |products|). That is
/// the quantity the classical error bound of a sum of products scales with, so the tolerance does not depend on
/// cancellation in the exact value.
type Tolerance =
    {
        /// Allowed deviation per unit of magnitude.
        Relative: float
        /// Allowed deviation regardless of magnitude.
        Absolute: float
    }

/// Default tolerances per dtype and problem size.
module Tolerance =
    /// The default safety factor c in `c * eps * (tensors + sqrt terms)`.
    let factor = 16.0

    /// The number of products summed into one output entry: the product of the sizes of the summed indices.
    let terms (net: FlatNetwork) =
        let out = Set.ofList net.Output
        net.Indices |> Array.filter (fun i -> not (out.Contains i.Id)) |> Array.fold (fun acc i -> acc * float (Dim.size i.Dim)) 1.0

    /// `Relative = 16 * eps(dtype) * (tensors + sqrt(terms))`, `Absolute = 0`: a product of T factors rounds T
    /// times, and a sum of K terms in the usual blocked or pairwise orders grows like sqrt(K) (the worst case is K;
    /// the factor 16 covers orders in between at the sizes the kit draws). float64 gives ~1e-14, float32 ~1e-5.
    let forNetwork (dtype: DType) (net: FlatNetwork) =
        { Relative = factor * DType.epsilon dtype * (float net.Tensors.Length + Math.Sqrt(terms net))
          Absolute = 0.0 }

    /// The allowed deviation at an entry of the given magnitude.
    let allowed (t: Tolerance) (magnitude: float) = t.Absolute + t.Relative * magnitude
