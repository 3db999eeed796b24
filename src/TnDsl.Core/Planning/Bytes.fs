namespace TnDsl

open System.Numerics

/// A byte estimate of executing a plan, from the tree alone (no backend): what a memory guard compares with the
/// memory available. Elements are counted exactly (BigInteger) and multiplied by the element size.
type ByteEstimate =
    {
        /// Bytes per element (4 for float32, 8 for float64, 16 for complex128).
        ElementBytes: int
        /// Every input tensor, whole.
        Inputs: BigInteger
        /// The most bytes alive at once in a forward pass: the inputs, whole, plus the most intermediates alive at
        /// once within one slice (every operand of a step and its result together), plus, when sliced, the result
        /// that accumulates the slices.
        Forward: BigInteger
        /// Training only: the intermediates autograd keeps for the backward pass (every slice's, since the slices'
        /// sum is one graph).
        Kept: BigInteger
        /// Training only: one gradient per trainable input, the size of the input.
        Gradients: BigInteger
        /// Training only: inputs, kept intermediates and gradients, plus the backward pass's transient (the gradient
        /// of the largest intermediate and of one operand, twice the largest intermediate of a slice).
        Training: BigInteger
    }

/// Pure byte estimates of a plan's peak.
module PlanBytes =

    /// The estimate for a tree, sliced over `sliced` (empty: unsliced), at `elementBytes` bytes per element.
    let estimate (p: Indexed) (t: ContractionTree) (sliced: int array) (elementBytes: int) : ByteEstimate =
        let b = BigInteger elementBytes
        let q = PlanSlice.sliceProblem p sliced
        let slice = Cost.report q t
        let slices = Problem.elements p sliced
        let inputs = Seq.sum [ for k in 0 .. p.Inputs.Length - 1 -> Problem.elements p p.Inputs[k] ]
        let slicedInputs = Seq.sum [ for k in 0 .. q.Inputs.Length - 1 -> Problem.elements q q.Inputs[k] ]
        let accumulated = if sliced.Length > 0 then Problem.elements p p.Output else BigInteger.Zero
        // Cost.Peak counts the (sliced) inputs as alive until consumed; the whole inputs stay alive instead.
        let forward = inputs + BigInteger.Max(BigInteger.Zero, slice.Peak - slicedInputs) + accumulated
        let trainable = Seq.sum [ for k in 0 .. p.Inputs.Length - 1 do if p.Problem.Trainable[k] then Problem.elements p p.Inputs[k] ]
        let kept = slice.ActivationMemory * slices
        { ElementBytes = elementBytes
          Inputs = inputs * b
          Forward = forward * b
          Kept = kept * b
          Gradients = trainable * b
          Training = (inputs + kept + trainable + BigInteger 2 * slice.LargestIntermediate + accumulated) * b }
