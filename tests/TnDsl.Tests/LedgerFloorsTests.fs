module TnDsl.Tests.LedgerFloorsTests

open System
open System.Numerics
open Xunit
open TnDsl
open TnDsl.Tests.PlanTests

// `auto` under a memory limit: the floors of its ledger (the phases that used to run whatever the stakes) follow
// the contraction time of the best plan so far (`PlanHyper.Floors`, `Plan.floors`).

let private stakes: PlanHyper.Stakes = { FlopsPerSecond = 1e10; Share = 0.1; Floor = 8; CapSeconds = 30.0 }

let private lattice rows dBond =
    match Problem.index Range.none (peps rows rows dBond) with
    | Ok p -> p
    | Result.Error ds -> failwithf "%A" ds

let private serial = { PlanOptions.defaults with Parallel = false }

/// The limit of `stakes limits`: the largest intermediate of hyper's plan (8 trials, serial) / share.
let private limitOf (p: Indexed) (share: int) =
    let free = Plan.run "hyper" { serial with Trials = 8 } p
    int64 (BigInteger.Max(BigInteger.One, free.Cost.Value.LargestIntermediate / BigInteger share))

[<Fact>]
let ``a ledger's floors allow the contraction time of its best plan, at least their seconds, at most the cap`` () =
    let floors: PlanHyper.Floors = { Seconds = 0.02; Multiple = 1.0 }
    let ledger = PlanHyper.Ledger(stakes, 0.05, Some floors)
    // Before any plan, the cap; the floors allow any phase.
    Assert.Equal(30.0, ledger.FloorsAllowance)
    Assert.True(ledger.FloorsAllow)
    // A plan of 2^30 flops contracts in 0.107 s: the floors allow that much in all.
    ledger.Offer 30.0
    Assert.Equal(Math.Pow(2.0, 30.0) / 1e10, ledger.FloorsAllowance, 12)
    // A plan of 2^20 flops (0.1 ms): the floors' own seconds, and the ledger's floor of 0.05 s falls to them.
    ledger.Offer 20.0
    Assert.Equal(0.02, ledger.FloorsAllowance)
    Assert.Equal(0.02, ledger.Allowance)
    // Spent beyond them: no floor may start.
    ledger.Work.Steps <- 0.02 / PlanHyper.Work.Rates[2]
    Assert.False(ledger.FloorsAllow)
    Assert.True(ledger.Exhausted)
    // Without floors they run whatever the stakes, and the ledger's floor stays.
    let free = PlanHyper.Ledger(stakes, 0.05)
    free.Offer 20.0
    free.Work.Steps <- 1e9
    Assert.True(free.FloorsAllow)
    Assert.Equal(0.05, free.Allowance)

[<Fact>]
let ``hyper's floor of trials holds only while their work is within what the floor allows`` () =
    let p = lattice 6 3
    let o = { serial with Trials = 64 }
    // Stakes so small that only the floor keeps trials running.
    let tiny = { stakes with FlopsPerSecond = 1e30 }
    let held = PlanHyper.searchFloored tiny (fun _ _ -> Double.PositiveInfinity) p o
    let cut = PlanHyper.searchFloored tiny (fun _ _ -> 0.0) p o
    Assert.Equal(8, held.Trials)
    // Trials 0 and 1 always run.
    Assert.Equal(2, cut.Trials)
    Assert.True(cut.Work.Seconds < held.Work.Seconds)
    // The same search again: the same tree.
    Assert.Equal<int array array>((PlanHyper.searchFloored tiny (fun _ _ -> 0.0) p o).Tree.Steps, cut.Tree.Steps)

[<Fact>]
let ``auto under a limit on a 6x6 lattice counts less than 0.3 s of work, keeps the limit and plans the same twice`` () =
    let p = lattice 6 3
    let limit = limitOf p 10
    let o = { serial with MemoryLimit = Some limit }
    let r, spent = Plan.runAutoWith (Some Plan.floors) o p
    let again, spentAgain = Plan.runAutoWith (Some Plan.floors) o p
    Assert.True(Plan.succeeded r)
    let flops, largest = figures r
    Assert.True(largest <= BigInteger limit, sprintf "largest %O over %d" largest limit)
    // Floors that follow the stakes: before, this plan's ledger counted 0.47 s (the floors ran whatever the stakes).
    Assert.True(spent < 0.3, sprintf "counted %.3f s" spent)
    Assert.Equal(spent, spentAgain)
    Assert.Equal<int array array>(r.Tree.Value.Steps, again.Tree.Value.Steps)
    Assert.Equal(flops, fst (figures again))
    // `run` is `runAutoWith` under `Plan.floors`.
    let viaRun = Plan.run "auto" o p
    Assert.Equal<int array array>(r.Tree.Value.Steps, viaRun.Tree.Value.Steps)

[<Fact>]
let ``auto's floors cost less counted work than floors that run whatever the stakes, and pay in search plus contraction time`` () =
    for rows, dBond, share in [ 4, 4, 10; 6, 3, 10; 8, 2, 10 ] do
        let p = lattice rows dBond
        let limit = limitOf p share
        let o = { serial with MemoryLimit = Some limit }
        let floored, spentFloored = Plan.runAutoWith (Some Plan.floors) o p
        let unfloored, spentUnfloored = Plan.runAutoWith None o p
        let seconds (r: PlanResult) = float (fst (figures r)) / Plan.stakesFlopsPerSecond
        Assert.True(snd (figures floored) <= BigInteger limit)
        Assert.True(spentFloored < spentUnfloored, sprintf "%dx%d D=%d: %.3f s against %.3f s" rows rows dBond spentFloored spentUnfloored)
        // The trade, in the ledger's own units: counted search plus modelled contraction time is no more.
        Assert.True(spentFloored + seconds floored <= spentUnfloored + seconds unfloored,
                    sprintf "%dx%d D=%d: %.3f + %.3g s against %.3f + %.3g s" rows rows dBond spentFloored (seconds floored) spentUnfloored (seconds unfloored))

[<Fact>]
let ``auto keeps the slice-aware search's plan of the 10x10 lattice with D = 3 at 1/100 when a refit lowers the floors`` () =
    // With the slicers' candidates counted at their CPU (session 21) the free search's second tree is refitted within
    // the refit floor and its plan (2.728e9 executed flops, a 0.27 s contraction) shrank the floors below what the
    // ledger had spent, so the slice-aware search's first trial, whose plan is 1.521e9, no longer started. It is
    // judged against the ledger as it stood before the refits.
    let p = TnDsl.Tests.Support.benchLattice 10 10 3L
    let r, spent = Plan.runAutoWith (Some Plan.floors) { serial with MemoryLimit = Some 1771L } p
    let flops, largest = figures r
    Assert.True(largest <= BigInteger 1771)
    Assert.True(flops <= BigInteger 1521000000L * BigInteger 1001 / BigInteger 1000, sprintf "%O executed flops (%s)" flops r.Chosen)
    Assert.True(spent < 0.75, sprintf "counted %.3f s" spent)
