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

/// How a front end names the planner's settings in a hint ("raise the memory limit (--memory-limit)"): `tn` by its
/// flags, the einsum API by its options' names; the planner words its hints with the names of the front end that
/// called it. An empty name leaves the setting unnamed ("raise the memory limit").
type PlanWords =
    {
        /// The setting that names the optimizer (`--optimizer NAME`, `ContractionOptions.Optimizer`).
        Optimizer: string
        /// The setting that gives the memory limit (`--memory-limit`, `ContractionOptions.MemoryLimit`).
        MemoryLimit: string
    }

/// The ways of naming the planner's settings.
module PlanWords =
    /// No setting named: the words of a caller whose settings have no one name (`Planner.Plan`'s arguments,
    /// `NetworkBuildOptions`, a job's options).
    let neutral = { Optimizer = ""; MemoryLimit = "" }

    /// The `tn` command line's flags.
    let commandLine = { Optimizer = "--optimizer NAME"; MemoryLimit = "--memory-limit" }

    /// `phrase` followed by the setting's name in parentheses, or alone where the name is empty.
    let naming (phrase: string) (name: string) = if name = "" then phrase else sprintf "%s (%s)" phrase name

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
        /// How the diagnostics' hints name these settings: as the front end that plans calls them.
        Words: PlanWords
    }

/// Default settings.
module PlanOptions =
    /// Flops, no memory limit, seed 0, 128 trials, no time budget, parallel, slicing allowed, no setting named in hints.
    let defaults =
        { Objective = Flops
          MemoryLimit = None
          Seed = 0
          Trials = 128
          TimeLimitMs = None
          Parallel = true
          Slice = true
          Words = PlanWords.neutral }

/// A wall-clock limit (`PlanOptions.TimeLimitMs`) counted from the moment it was made. A plan call makes one at its
/// entry and gives each phase what is left of it, so that the work before a search and after it (greedy's plan,
/// slicing to a memory limit, the plan's figures) counts against the limit too. Without a limit it never passes.
type Deadline(limitMs: int option) =
    let clock = System.Diagnostics.Stopwatch.StartNew()
    /// The limit, in milliseconds from when the deadline was made.
    member _.LimitMs = limitMs
    /// Milliseconds since the deadline was made.
    member _.ElapsedMs = clock.Elapsed.TotalMilliseconds
    /// Milliseconds left (None without a limit; negative once passed).
    member _.LeftMs = limitMs |> Option.map (fun ms -> float ms - clock.Elapsed.TotalMilliseconds)
    /// True once `share` of the limit has passed (never without a limit).
    member _.Reached(share: float) = limitMs |> Option.exists (fun ms -> clock.Elapsed.TotalMilliseconds >= share * float ms)
    /// True when no more than `reserveMs` is left (never without a limit).
    member this.Within(reserveMs: float) = this.LeftMs |> Option.exists (fun left -> left <= reserveMs)
    /// The options with `TimeLimitMs` set to `share` of what is left less `reserveMs`, or 0 once nothing is (a
    /// search given 0 ms stops after its first tree); the options as they are without a limit.
    member this.Options(o: PlanOptions, share: float, reserveMs: float) =
        match this.LeftMs with
        | Some left -> { o with TimeLimitMs = Some(max 0 (int (share * (left - reserveMs)))) }
        | None -> o

/// What an optimizer returns: a tree when it found one, and what it has to say.
type Found =
    { Tree: ContractionTree option
      Notes: Diagnostic list }

/// The one signature every optimizer has.
type Optimizer = Indexed -> PlanOptions -> Found
