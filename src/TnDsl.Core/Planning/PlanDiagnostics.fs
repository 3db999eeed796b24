namespace TnDsl

/// Codes TN0300–TN0399: diagnostics of the planning phase.
module PlanDiagnostics =
    /// An optimizer name that the registry does not know.
    let unknownOptimizer = Diagnostic.kind Error "TN0300" "unknown optimizer"
    /// No contraction order keeps every intermediate under the memory limit.
    let memoryLimit = Diagnostic.kind Error "TN0301" "memory limit cannot be met"
    /// An index used by a tensor or the output has no size.
    let missingSize = Diagnostic.kind Error "TN0302" "index without a size"
    /// An index size that is zero or negative.
    let badSize = Diagnostic.kind Error "TN0303" "index size must be positive"
    /// An output index that no tensor carries, or one listed twice.
    let badOutput = Diagnostic.kind Error "TN0304" "bad output index"
    /// A problem without tensors.
    let empty = Diagnostic.kind Error "TN0305" "network without tensors"
    /// A JSON network or einsum text that cannot be read.
    let badInput = Diagnostic.kind Error "TN0306" "malformed network input"
    /// An optimizer that cannot handle a network this size and fell back to another.
    let tooLarge = Diagnostic.kind Warning "TN0307" "network too large for this optimizer"
    /// An index given two different sizes.
    let sizeConflict = Diagnostic.kind Error "TN0308" "index has two sizes"
    /// A planner option with a bad value.
    let badOption = Diagnostic.kind Error "TN0309" "invalid planner option"
    /// A size override that names no index.
    let unusedSize = Diagnostic.kind Warning "TN0310" "size override names no index"
    /// A note that a wall-clock limit (`--time-limit`) cut a search short: what it cut (the trials run of those
    /// asked, the phases cut short or left out). The plan is the best found by then.
    let timeCut = Diagnostic.kind Info "TN0314" "time limit reached"
    /// A note that a plan took longer than its wall-clock limit: the search time against the limit.
    let timeOverrun = Diagnostic.kind Info "TN0315" "time limit overrun"

    /// A TN0314 note: the time limit cut short `what` (e.g. "hyper after 3 of 128 trials").
    let timeCutShort (what: string) =
        Diagnostic.make timeCut Range.none ("the time limit cut short " + what + ": the plan is the best found by then")
