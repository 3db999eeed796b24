namespace TnDsl.Testing

open System
open System.Text
open TnDsl

/// Writes a flat network as `.tn` source: one declaration per index and per tensor, no loops. The text compiles
/// back (through the front end) to the same network up to ids and source ranges, so a generated or shrunk
/// counterexample can be saved as a file and opened with `tn check`, `tn cuts` or `tn plan`.
module TnText =
    let private dimText (d: Dim) =
        match d with
        | Fixed n -> string n
        | Dynamic n -> sprintf "dynamic(%d)" n

    /// A parameter id (`T.3`, `enc.W.2.1`, `W`) as a `shared` reference (`T[3]`, `enc.W[2, 1]`, `W`).
    let private sharedRef (param: string) =
        let parts = param.Split '.'
        let subs = parts |> Array.rev |> Array.takeWhile (fun p -> p.Length > 0 && Seq.forall Char.IsDigit p) |> Array.rev
        let name = String.Join(".", parts[.. parts.Length - subs.Length - 1])
        if subs.Length = 0 then name else sprintf "%s[%s]" name (String.Join(", ", subs))

    let private initText (i: Init) =
        match i with
        | Constant c when c < 0.0 -> sprintf "-%g" (-c)
        | _ -> Init.show i

    /// The network as `.tn` text (a network named like the flat one, with no parameters).
    let ofNetwork (net: FlatNetwork) =
        let sb = StringBuilder()
        let line (s: string) = sb.Append("  ").Append(s).Append('\n') |> ignore
        sb.Append(sprintf "network %s {\n" net.Name) |> ignore
        for i in net.Indices do
            let hyper = if i.Kind = Hyper && not (Dim.isDynamic i.Dim) then "hyper " else ""
            line (sprintf "%sindex %s: %s" hyper i.Name (dimText i.Dim))
        let groups = net.Tensors |> Array.countBy (fun t -> t.Param) |> Map.ofArray
        for t in net.Tensors do
            let role =
                match t.Role with
                | Weight -> "weight"
                | Input -> "input"
                | Const -> "const"
            let legs = String.Join(", ", t.Legs |> Array.map (fun l -> net.Indices[l].Name))
            let clauses =
                [ match t.Role, t.Init with
                  | Const, Some i -> " = " + initText i
                  | _, Some i -> " init " + initText i
                  | _ -> ()
                  match t.Embedding with
                  | Some e -> " embed " + Embedding.show e
                  | None -> ()
                  if t.Role = Weight && groups[t.Param] > 1 then " shared " + sharedRef t.Param ]
            line (sprintf "%s %s: (%s)%s" role t.Name legs (String.Join("", clauses)))
        // Always written, even empty: without `output` the front end would make every open leg an output.
        line (sprintf "output (%s)" (String.Join(", ", net.Output |> List.map (fun o -> net.Indices[o].Name))))
        for c in net.Cuts do
            let side (ids: int list) = String.Join(", ", ids |> List.map (fun o -> net.Indices[o].Name))
            line (sprintf "cut %s: %s | %s" c.Name (side c.Left) (side c.Right))
        sb.Append("}\n").ToString()
