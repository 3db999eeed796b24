namespace TnDsl.Testing

open TnDsl

/// Builds flat networks by hand in test code, without the `.tn` front end: indices by name and size, tensors by
/// name and leg names, declared cuts, and the usual families (MPS, PEPS, binary trees, MERA). Every tensor is a
/// weight; `Networks` generates random networks instead.
module NetworkBuilder =
    /// Splits a written name into family and subscripts: `p[1,2]` → (`p`, [1; 2]).
    let parseName (name: string) =
        match name.IndexOf '[' with
        | -1 -> name, []
        | k -> name.Substring(0, k), name.Substring(k + 1, name.Length - k - 2).Split(',') |> Array.map int |> List.ofArray

    /// A network from indices (name, dim), tensors (name, leg names) and output leg names. An index's kind is Hyper
    /// when it sits on three or more tensors, or on two and the output.
    let build (name: string) (indices: (string * Dim) list) (tensors: (string * string list) list) (output: string list) =
        let ids = indices |> List.mapi (fun k (n, _) -> n, k) |> Map.ofList
        let count n = tensors |> List.sumBy (fun (_, legs) -> if List.contains n legs then 1 else 0)
        let idx =
            indices
            |> List.mapi (fun k (n, d) ->
                let fam, subs = parseName n
                let uses = count n + (if List.contains n output then 1 else 0)
                { Id = k
                  Family = fam
                  Subscripts = subs
                  Dim = d
                  Kind = (if uses > 2 then Hyper else Bond)
                  Range = Range.none })
            |> Array.ofList
        let ts =
            tensors
            |> List.mapi (fun k (n, legs) ->
                let fam, subs = parseName n
                { Id = k
                  Family = fam
                  Subscripts = subs
                  Role = Weight
                  // The tensor's name as given is its parameter.
                  Tie = Some n
                  Legs = legs |> List.map (fun l -> ids[l]) |> Array.ofList
                  Init = None
                  Embedding = None
                  Range = Range.none })
            |> Array.ofList
        { Name = name
          Parameters = []
          Tensors = ts
          Indices = idx
          Output = output |> List.map (fun o -> ids[o])
          Cuts = []
          Range = Range.none }

    /// Index ids by name.
    let ids (net: FlatNetwork) (names: string list) =
        names |> List.map (fun n -> (FlatNetwork.tryIndex net n |> Option.get).Id)

    /// Adds a declared cut with the given leg names on each side.
    let withCut (name: string) (left: string list) (right: string list) (net: FlatNetwork) =
        { net with Cuts = net.Cuts @ [ { Name = name; Left = ids net left; Right = ids net right; Range = Range.none } ] }

    /// An open-boundary MPS: sites A[k] with physical legs p[k] (dim d) and bonds b[k] (dim chi) between k and k+1.
    let mps (n: int) (d: int64) (chi: int64) =
        let indices = [ for k in 0 .. n - 1 -> sprintf "p[%d]" k, Fixed d ] @ [ for k in 0 .. n - 2 -> sprintf "b[%d]" k, Fixed chi ]
        let tensors =
            [ for k in 0 .. n - 1 ->
                  sprintf "A[%d]" k,
                  [ if k > 0 then sprintf "b[%d]" (k - 1)
                    sprintf "p[%d]" k
                    if k < n - 1 then sprintf "b[%d]" k ] ]
        build "mps" indices tensors [ for k in 0 .. n - 1 -> sprintf "p[%d]" k ]

    /// An L×L PEPS: tensors T[x,y] with physical legs p[x,y] (dim d), horizontal bonds h[x,y] between (x,y) and
    /// (x,y+1), vertical bonds v[x,y] between (x,y) and (x+1,y), all of dim bond. Output in row-major order.
    let peps (l: int) (d: int64) (bond: int64) =
        let cells = [ for x in 0 .. l - 1 do for y in 0 .. l - 1 -> x, y ]
        let indices =
            [ for x, y in cells -> sprintf "p[%d,%d]" x y, Fixed d ]
            @ [ for x, y in cells do if y < l - 1 then sprintf "h[%d,%d]" x y, Fixed bond ]
            @ [ for x, y in cells do if x < l - 1 then sprintf "v[%d,%d]" x y, Fixed bond ]
        let tensors =
            [ for x, y in cells ->
                  sprintf "T[%d,%d]" x y,
                  [ sprintf "p[%d,%d]" x y
                    if y > 0 then sprintf "h[%d,%d]" x (y - 1)
                    if y < l - 1 then sprintf "h[%d,%d]" x y
                    if x > 0 then sprintf "v[%d,%d]" (x - 1) y
                    if x < l - 1 then sprintf "v[%d,%d]" x y ] ]
        build "peps" indices tensors [ for x, y in cells -> sprintf "p[%d,%d]" x y ]

    /// A binary tree over 2^levels leaves p[k] (dim d): layer-j tensors N[j,k] join two children into a parent bond
    /// of dim chi; the root joins the last two bonds.
    let binaryTree (levels: int) (d: int64) (chi: int64) =
        let n = 1 <<< levels
        let leaf k = sprintf "p[%d]" k
        let bondName j k = sprintf "a[%d,%d]" j k
        let indices =
            [ for k in 0 .. n - 1 -> leaf k, Fixed d ]
            @ [ for j in 1 .. levels - 1 do for k in 0 .. (n >>> j) - 1 -> bondName j k, Fixed chi ]
        let child j k = if j = 1 then leaf k else bondName (j - 1) k
        let tensors =
            [ for j in 1 .. levels do
                  for k in 0 .. (n >>> j) - 1 ->
                      sprintf "N[%d,%d]" j k,
                      [ child j (2 * k); child j (2 * k + 1); if j < levels then bondName j k ] ]
        build "tree" indices tensors [ for k in 0 .. n - 1 -> leaf k ]

    /// A binary MERA over 2^levels sites p[k] (dim d, open boundary) with all other bonds of dim chi. Each layer
    /// applies disentanglers U[j,k] to neighbouring pairs (2k+1, 2k+2), then isometries W[j,k] coarse-grain pairs
    /// (2k, 2k+1); a top tensor closes the last two sites.
    let mera (levels: int) (d: int64) (chi: int64) =
        let indices = ResizeArray<string * Dim>()
        let tensors = ResizeArray<string * string list>()
        let mutable sites = [| for k in 0 .. (1 <<< levels) - 1 -> sprintf "p[%d]" k |]
        for k in 0 .. sites.Length - 1 do
            indices.Add(sites[k], Fixed d)
        let fresh name =
            indices.Add(name, Fixed chi)
            name
        for j in 1 .. levels do
            let n = sites.Length
            if n > 2 then
                for k in 0 .. n / 2 - 2 do
                    let a, b = 2 * k + 1, 2 * k + 2
                    let a', b' = fresh (sprintf "x[%d,%d]" j a), fresh (sprintf "x[%d,%d]" j b)
                    tensors.Add(sprintf "U[%d,%d]" j k, [ sites[a]; sites[b]; a'; b' ])
                    sites[a] <- a'
                    sites[b] <- b'
            if n > 2 then
                sites <-
                    [| for k in 0 .. n / 2 - 1 ->
                           let up = fresh (sprintf "y[%d,%d]" j k)
                           tensors.Add(sprintf "W[%d,%d]" j k, [ sites[2 * k]; sites[2 * k + 1]; up ])
                           up |]
            else tensors.Add("Top", List.ofArray sites)
        build "mera" (List.ofSeq indices) (List.ofSeq tensors) [ for k in 0 .. (1 <<< levels) - 1 -> sprintf "p[%d]" k ]
