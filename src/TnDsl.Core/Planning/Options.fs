namespace TnDsl

/// What a search minimises, as a value.
type Objective =
    /// Total flops.
    | Flops
    /// The largest intermediate (flops break ties).
    | Size
    /// Elements written: the sum of every intermediate's size (flops break ties), cotengra's `write`.
    | Write
    /// Flops plus factor × elements written (cotengra's combo).
    | Combo of factor: float

/// Settings shared by every optimizer.
type PlanOptions =
    {
        /// What to minimise.
        Objective: Objective
        /// The most elements any intermediate may have, if limited.
        MemoryLimit: int64 option
        /// Seed of every random choice; equal seeds give equal plans (without a time budget).
        Seed: int
        /// Trials of randomised optimizers.
        Trials: int
        /// A wall-clock budget for randomised optimizers, in milliseconds; None runs all trials.
        TimeLimitMs: int option
        /// Whether randomised optimizers may use every core.
        Parallel: bool
        /// Whether a tree over the memory limit may be sliced to fit it (see `PlanSlice`).
        Slice: bool
    }

/// Default settings.
module PlanOptions =
    /// Flops, no memory limit, seed 0, 128 trials, no time budget, parallel, slicing allowed.
    let defaults =
        { Objective = Flops
          MemoryLimit = None
          Seed = 0
          Trials = 128
          TimeLimitMs = None
          Parallel = true
          Slice = true }

/// What an optimizer returns: a tree when it found one, and what it has to say.
type Found =
    { Tree: ContractionTree option
      Notes: Diagnostic list }

/// The one signature every optimizer has.
type Optimizer = Indexed -> PlanOptions -> Found
