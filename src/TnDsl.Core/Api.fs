namespace TnDsl

open System.Collections.Generic
open System.Numerics

// The C#-shaped surface of the core: arrays and IReadOnlyList, no F# options or lists.

// Min-cuts

/// A bond severed by a min-cut, for C# callers.
[<Sealed>]
type CutBondView(b: CutBond) =
    /// The bond's name as written (`b[3]`).
    member _.Name = b.Name
    /// Its dimension.
    member _.Dim = b.Dim
    /// True for a hyperindex.
    member _.Hyper = b.Hyper
    /// True when the cut runs through an output leg.
    member _.Open = b.Open
    /// Where the bond was declared.
    member _.Range = b.Range

/// One evaluated bipartition, for C# callers.
[<Sealed>]
type CutView(net: FlatNetwork, r: CutReport) =
    let legNames (ids: int list) = ids |> List.map (fun i -> net.Indices[i].Name) |> Array.ofList
    let tensorNames (ids: int list) = ids |> List.map (fun t -> net.Tensors[t].Name) |> Array.ofList
    /// The cut's name.
    member _.Name = r.Name
    /// The min-cut bound, exact.
    member _.Bound: BigInteger = r.Bound
    /// log2 of the bound.
    member _.Bits = r.Bits
    /// Natural log of the bound.
    member _.Nats = r.Nats
    /// The severed bonds.
    member _.Bonds: IReadOnlyList<CutBondView> = r.Bonds |> List.map CutBondView |> Array.ofList :> _
    /// Names of the A legs.
    member _.LeftLegs: IReadOnlyList<string> = legNames r.Left :> _
    /// Names of the B legs.
    member _.RightLegs: IReadOnlyList<string> = legNames r.Right :> _
    /// Names of the tensors on the A side.
    member _.LeftTensors: IReadOnlyList<string> = tensorNames r.LeftTensors :> _
    /// Names of the tensors on the B side.
    member _.RightTensors: IReadOnlyList<string> = tensorNames r.RightTensors :> _
    /// min(product of A dims, product of B dims).
    member _.Trivial: BigInteger = r.Trivial
    /// log2 of the trivial bound.
    member _.TrivialBits = r.TrivialBits
    /// "min-cut", "trivial" or "equal": which bound is tighter.
    member _.Tighter =
        match r.Tighter with
        | MinCutTighter -> "min-cut"
        | TrivialTighter -> "trivial"
        | Equal -> "equal"
    /// Where the cut was declared.
    member _.Range = r.Range
    /// The F# report.
    member _.Report = r

/// One profile entry, for C# callers.
[<Sealed>]
type ProfileEntryView(net: FlatNetwork, e: ProfileEntry) =
    /// "contiguous", "rows", "columns" or "interleaved".
    member _.Kind =
        match e.Kind with
        | Contiguous -> "contiguous"
        | Rows -> "rows"
        | Columns -> "columns"
        | Interleaved -> "interleaved"
    /// Legs, rows or columns on the A side (0 for interleaved splits).
    member _.Position = e.Position
    /// The evaluated split.
    member _.Cut = CutView(net, e.Report)

/// An oversized bond, for C# callers.
[<Sealed>]
type OversizedBondView(o: OversizedBond) =
    /// The bond's name.
    member _.Name = o.Name
    /// Its declared dimension.
    member _.Dim = o.Dim
    /// The dimension it can be reduced to.
    member _.ReducibleTo: BigInteger = o.ReducibleTo
    /// Where it was declared.
    member _.Range = o.Range

/// Everything `tn cuts` shows for a network.
[<Sealed>]
type CutsView
    (
        cuts: IReadOnlyList<CutView>,
        profile: IReadOnlyList<ProfileEntryView>,
        oversized: IReadOnlyList<OversizedBondView>,
        diagnostics: IReadOnlyList<Diagnostic>
    ) =
    /// The declared cuts that were evaluated.
    member _.Cuts = cuts
    /// The profile (empty unless asked for).
    member _.Profile = profile
    /// Oversized bonds.
    member _.Oversized = oversized
    /// Diagnostics: invalid cuts, batch legs, oversized bonds.
    member _.Diagnostics = diagnostics

/// Min-cut analysis for C# callers.
[<AbstractClass; Sealed>]
type MinCutApi =
    /// Evaluates the declared cuts of a network (only `cutName` when it is not null), the profile when asked,
    /// and the oversized-bond check. An unknown cut name evaluates nothing and returns no cuts.
    static member Analyse(net: FlatNetwork, cutName: string | null, withProfile: bool) : CutsView =
        let net' =
            match cutName with
            | null -> net
            | name -> { net with Cuts = net.Cuts |> List.filter (fun c -> c.Name = name) }
        let reports, cutDiags = MinCut.evaluateAll net'
        let profile = if withProfile then MinCut.profile net else []
        let over, overDiags = MinCut.oversized net
        CutsView(
            reports |> List.map (fun r -> CutView(net, r)) |> Array.ofList,
            profile |> List.map (fun e -> ProfileEntryView(net, e)) |> Array.ofList,
            over |> List.map OversizedBondView |> Array.ofList,
            cutDiags @ overDiags |> Array.ofList
        )

    /// The names of a network's declared cuts.
    static member CutNames(net: FlatNetwork) : string array = net.Cuts |> List.map (fun c -> c.Name) |> Array.ofList
