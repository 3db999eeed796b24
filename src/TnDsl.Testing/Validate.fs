namespace TnDsl.Testing

open TnDsl

/// Validation of flat networks built outside the front end (by generators or by hand): the same checks
/// `tn check` runs on an elaborated network (the Check phase), with no source ranges to point at.
module Validate =
    /// A structural fault the Check phase assumes away: ids out of place or legs naming no index.
    let malformed = Diagnostic.kind Level.Error "TN0290" "malformed flat network"

    let private structure (net: FlatNetwork) =
        [ for k, t in Array.indexed net.Tensors do
              if t.Id <> k then
                  Diagnostic.make malformed Range.none (sprintf "tensor `%s` has id %d at position %d" t.Name t.Id k)
              for l in t.Legs do
                  if l < 0 || l >= net.Indices.Length then
                      Diagnostic.make malformed Range.none (sprintf "tensor `%s` has a leg %d that names no index" t.Name l)
          for k, i in Array.indexed net.Indices do
              if i.Id <> k then
                  Diagnostic.make malformed Range.none (sprintf "index `%s` has id %d at position %d" i.Name i.Id k)
              if Dim.size i.Dim < 1L then
                  Diagnostic.make malformed Range.none (sprintf "index `%s` has dimension %d" i.Name (Dim.size i.Dim))
          for o in net.Output do
              if o < 0 || o >= net.Indices.Length then
                  Diagnostic.make malformed Range.none (sprintf "output leg %d names no index" o) ]

    /// Every diagnostic the Check phase reports for the network (errors and warnings), after the structural checks.
    let diagnostics (net: FlatNetwork) : Diagnostic list =
        match structure net with
        | [] ->
            let elaborated: Elaborate.Elaborated =
                { Network = net
                  LegRanges = net.Tensors |> Array.map (fun t -> [ for _ in t.Legs -> Range.none ])
                  OutputRanges = Array.create net.Output.Length Range.none
                  CutLegRanges = net.Cuts |> List.map (fun c -> Array.create c.Left.Length Range.none, Array.create c.Right.Length Range.none)
                  OutputFamilies = net.Output |> List.map (fun o -> net.Indices[o].Family) |> Set.ofList
                  HasOutput = true
                  Incomplete = false
                  LoopEdges = [] }
            Check.check elaborated
        | faults -> faults

    /// True when the Check phase reports no error.
    let isValid (net: FlatNetwork) = not (Diagnostic.hasErrors (diagnostics net))
