namespace TnDsl.Testing

open System
open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open TnDsl

/// The shape of the graph a generated network is built on.
type Topology =
    /// Tensors in a line (an MPS-like train).
    | Chain
    /// A random tree (each tensor joins one earlier tensor).
    | Tree
    /// A square-ish grid, row by row (a PEPS-like lattice).
    | Grid
    /// A random spanning tree plus random extra bonds (loops, multi-edges).
    | RandomGraph

/// A small description from which a flat network is built deterministically. Generators produce recipes and
/// shrinkers simplify them (fewer tensors, smaller dimensions, no decorations), so every shrunk network is again
/// a valid network.
type NetworkRecipe =
    {
        Topology: Topology
        /// Number of (non-copy) tensors, at least 1.
        Tensors: int
        /// Extra bonds between random pairs of tensors (loops), beyond the topology's own.
        ExtraBonds: int
        /// Dimensions are drawn from 1..MaxDim.
        MaxDim: int
        /// Open legs: one on each of the first tensors, then on random ones.
        OpenLegs: int
        /// A hyperindex on this many distinct tensors (0: none).
        Hyper: int
        /// Whether the hyperindex is also an open leg.
        HyperOpen: bool
        /// A `const … = copy` tensor with this many legs, each a bond to a random tensor (0: none).
        CopyLegs: int
        /// Whether weights of equal shape are tied to one parameter.
        Tied: bool
        /// How many tensors are inputs rather than weights.
        Inputs: int
        /// Whether a dynamic batch hyperindex sits on every input and leads the output.
        Batch: bool
        /// Seed of every random choice made while building.
        Seed: int
    }

    override r.ToString() =
        sprintf "%A %d tensors, %d extra bonds, dims 1..%d, %d open legs, hyper %d%s, copy %d, tied %b, inputs %d%s, seed %d"
            r.Topology r.Tensors r.ExtraBonds r.MaxDim r.OpenLegs r.Hyper (if r.HyperOpen then " (open)" else "")
            r.CopyLegs r.Tied r.Inputs (if r.Batch then " + batch" else "") r.Seed

/// A generated network with the recipe it was built from; shown as the recipe and the network's `.tn` text.
type GeneratedNetwork =
    {
        /// What the network was built from (what shrinking simplifies).
        Recipe: NetworkRecipe
        /// The network itself.
        Network: FlatNetwork
    }

    override g.ToString() = sprintf "%O\n%s" g.Recipe (TnText.ofNetwork g.Network)

/// A bipartition of a network's fixed open legs (index ids), both sides non-empty.
type Bipartition =
    {
        /// The A side's leg ids, in output order.
        Left: int list
        /// The B side's leg ids, in output order.
        Right: int list
    }

/// A generated network with a bipartition of its open legs; `Sides` marks each fixed open leg (true: left).
type NetworkWithCut =
    {
        /// The network.
        Generated: GeneratedNetwork
        /// Per fixed open leg, in output order: true for the A side.
        Sides: bool list
        /// The bipartition the marks make.
        Cut: Bipartition
    }

    override c.ToString() =
        let names ids = String.Join(", ", ids |> List.map (fun i -> c.Generated.Network.Indices[i].Name))
        sprintf "%O cut: %s | %s" c.Generated (names c.Cut.Left) (names c.Cut.Right)

/// Generators and shrinkers of valid flat networks.
module Networks =
    /// The recipe with nothing but one tensor: what shrinking aims at.
    let minimal =
        { Topology = Chain; Tensors = 1; ExtraBonds = 0; MaxDim = 1; OpenLegs = 0; Hyper = 0; HyperOpen = false
          CopyLegs = 0; Tied = false; Inputs = 0; Batch = false; Seed = 0 }

    /// Builds the network a recipe describes. Every network built this way passes the Check phase with no
    /// diagnostic (connected, no dangling bond, every open leg in the output).
    let build (r: NetworkRecipe) : FlatNetwork =
        let rng = Random(r.Seed)
        let n = max 1 r.Tensors
        let dim () = int64 (rng.Next(1, max 1 r.MaxDim + 1))
        let indices = ResizeArray<FlatIndex>()
        let legs = Array.init n (fun _ -> ResizeArray<int>())
        let output = ResizeArray<int>()
        let addIndex family (k: int) d kind =
            let id = indices.Count
            indices.Add
                { Id = id; Family = family; Subscripts = (if k < 0 then [] else [ k ]); Dim = d; Kind = kind
                  Range = Range.none }
            id
        let bond u v =
            let e = addIndex "e" (indices |> Seq.filter (fun i -> i.Family = "e") |> Seq.length) (Fixed(dim ())) Bond
            legs[u].Add e
            legs[v].Add e
        let cols = int (ceil (sqrt (float n)))
        for k in 1 .. n - 1 do
            match r.Topology with
            | Chain -> bond (k - 1) k
            | Tree
            | RandomGraph -> bond (rng.Next(0, k)) k
            | Grid ->
                if k % cols <> 0 then bond (k - 1) k
                if k >= cols then bond (k - cols) k
        if n > 1 then
            for _ in 1 .. r.ExtraBonds do
                let u = rng.Next(0, n)
                let v = (u + rng.Next(1, n)) % n
                bond u v
        for j in 0 .. r.OpenLegs - 1 do
            let p = addIndex "p" j (Fixed(dim ())) Bond
            legs[if j < n then j else rng.Next(0, n)].Add p
            output.Add p
        let hyperOn = min r.Hyper n
        if hyperOn > 0 then
            let h = addIndex "h" 0 (Fixed(dim ())) Hyper
            let order = [| 0 .. n - 1 |] |> Array.sortBy (fun _ -> rng.Next())
            for t in order[.. hyperOn - 1] do
                legs[t].Add h
            // On one tensor only (a network of one) a summed hyperindex is a trace the front end warns of (TN0220):
            // the generated networks pass with no diagnostic, so it is open there.
            if r.HyperOpen || hyperOn = 1 then output.Add h
        let copyLegs = ResizeArray<int>()
        if r.CopyLegs > 0 then
            let d = Fixed(dim ())
            for j in 0 .. r.CopyLegs - 1 do
                let c = addIndex "c" j d Bond
                legs[rng.Next(0, n)].Add c
                copyLegs.Add c
        let inputs = min r.Inputs n
        let isInput = Array.init n (fun k -> k >= n - inputs)
        let batch =
            if r.Batch && inputs > 0 then
                let b = addIndex "batch" -1 (Dynamic(int64 (rng.Next(1, 4)))) Hyper
                for k in 0 .. n - 1 do
                    if isInput[k] then legs[k].Add b
                [ b ]
            else []
        let shuffled (xs: seq<int>) = xs |> Seq.sortBy (fun _ -> rng.Next()) |> List.ofSeq
        let tensorLegs = legs |> Array.map (shuffled >> Array.ofList)
        // The batch leads the output, as it leads a backend's result.
        let outputOrder = batch @ shuffled output
        let idx = indices.ToArray()
        let dimsOf (ls: int array) = ls |> Array.map (fun l -> idx[l].Dim) |> List.ofArray
        let tensors =
            [| for k in 0 .. n - 1 do
                   // An input family is fed as one array, so its members need one shape: each input is a family of
                   // its own (`x3`), since generated inputs differ in shape.
                   if isInput[k] then
                     yield
                       { Id = k; Family = sprintf "x%d" k; Subscripts = []
                         Role = Input; Tie = None; Legs = tensorLegs[k]
                         Init = None; Embedding = None; Range = Range.none }
                   else
                     yield
                       { Id = k; Family = "T"; Subscripts = [ k ]
                         Role = Weight; Tie = None; Legs = tensorLegs[k]
                         Init = None; Embedding = None; Range = Range.none }
               if copyLegs.Count > 0 then
                   yield
                     { Id = n; Family = "C"; Subscripts = [ 0 ]; Role = Const; Tie = None
                       Legs = copyLegs.ToArray(); Init = Some Copy; Embedding = None; Range = Range.none } |]
        let tensors =
            if not r.Tied then tensors
            else
                let first = Dictionary<Dim list, string>()
                tensors
                |> Array.map (fun t ->
                    if t.Role <> Weight then t
                    else
                        match first.TryGetValue(dimsOf t.Legs) with
                        | true, p -> { t with Tie = Some p }
                        | _ ->
                            first[dimsOf t.Legs] <- t.Param
                            t)
        { Name = "generated"; Parameters = []; Tensors = tensors; Indices = idx; Output = outputOrder; Cuts = []
          Range = Range.none }

    /// The number of multiply-adds `Reference.contract` spends on the network (float, to stay clear of overflow).
    let referenceWork (net: FlatNetwork) =
        let labels = net.Tensors |> Array.map (fun t -> Array.copy t.Legs)
        snd (Reference.schedule labels (fun l -> float (Dim.size net.Indices[l].Dim)) (Array.ofList net.Output))

    /// The most reference work a generated network may need; larger draws are redrawn.
    let defaultWorkLimit = 50_000.0

    /// Recipes of one topology (or any, with None), sized: FsCheck's size (0–100) grows the tensor count up to
    /// 12 and the dimensions up to 4.
    let recipes (topology: Topology option) : Gen<NetworkRecipe> =
        Gen.sized (fun size ->
            gen {
                let! topo =
                    match topology with
                    | Some t -> Gen.constant t
                    | None -> Gen.elements [ Chain; Tree; Grid; RandomGraph ]
                let! tensors = Gen.choose (1, max 1 (min 12 (1 + size / 6)))
                let! extra = if topo = RandomGraph then Gen.choose (0, 3) else Gen.frequency [ 3, Gen.constant 0; 1, Gen.choose (1, 2) ]
                let! maxDim = Gen.choose (1, min 4 (2 + size / 30))
                let! openLegs = Gen.choose (0, tensors + 1)
                let! hyper = Gen.frequency [ 2, Gen.constant 0; 1, Gen.choose (2, max 2 (min tensors 4)) ]
                let! hyperOpen = Gen.elements [ false; true ]
                let! copy = Gen.frequency [ 3, Gen.constant 0; 1, Gen.choose (2, 3) ]
                let! tied = Gen.frequency [ 2, Gen.constant false; 1, Gen.constant true ]
                let! inputs = Gen.frequency [ 3, Gen.constant 0; 1, Gen.choose (1, tensors) ]
                let! batch = if inputs > 0 then Gen.elements [ false; true ] else Gen.constant false
                let! seed = Gen.choose (0, 1_000_000)
                return
                    { Topology = topo; Tensors = tensors; ExtraBonds = extra; MaxDim = maxDim; OpenLegs = openLegs
                      Hyper = hyper; HyperOpen = hyperOpen && hyper > 0; CopyLegs = copy; Tied = tied; Inputs = inputs
                      Batch = batch; Seed = seed }
            })
        |> Gen.where (fun r -> referenceWork (build r) <= defaultWorkLimit)

    /// Simpler recipes, simplest first: fewer tensors, no decorations, dimensions toward 1 and 2, a chain, seed 0.
    let shrinkRecipe (r: NetworkRecipe) : seq<NetworkRecipe> =
        seq {
            if r.Tensors > 1 then
                { r with Tensors = 1; Inputs = min r.Inputs 1 }
                if r.Tensors > 2 then { r with Tensors = r.Tensors / 2 + 1; Inputs = min r.Inputs (r.Tensors / 2 + 1) }
                { r with Tensors = r.Tensors - 1; Inputs = min r.Inputs (r.Tensors - 1) }
            if r.ExtraBonds > 0 then
                { r with ExtraBonds = 0 }
                if r.ExtraBonds > 1 then { r with ExtraBonds = r.ExtraBonds - 1 }
            if r.Hyper > 0 then { r with Hyper = 0; HyperOpen = false }
            if r.Hyper > 2 then { r with Hyper = r.Hyper - 1 }
            if r.HyperOpen then { r with HyperOpen = false }
            if r.CopyLegs > 0 then { r with CopyLegs = 0 }
            if r.CopyLegs > 2 then { r with CopyLegs = r.CopyLegs - 1 }
            if r.Tied then { r with Tied = false }
            if r.Batch then { r with Batch = false }
            if r.Inputs > 0 then { r with Inputs = 0; Batch = false }
            if r.OpenLegs > 0 then
                { r with OpenLegs = 0 }
                if r.OpenLegs > 1 then { r with OpenLegs = r.OpenLegs - 1 }
            for d in [ 1; 2; r.MaxDim - 1 ] |> List.distinct do
                if d >= 1 && d < r.MaxDim then { r with MaxDim = d }
            if r.Topology <> Chain then { r with Topology = Chain }
            if r.Seed <> 0 then { r with Seed = 0 }
        }
        |> Seq.filter (fun s -> referenceWork (build s) <= defaultWorkLimit)

    let private generated (r: NetworkRecipe) = { Recipe = r; Network = build r }

    /// Valid networks of one topology (or any), as a sized generator.
    let generator (topology: Topology option) : Gen<GeneratedNetwork> = recipes topology |> Gen.map generated

    /// Shrinks a generated network through its recipe.
    let shrink (g: GeneratedNetwork) : seq<GeneratedNetwork> = shrinkRecipe g.Recipe |> Seq.map generated

    /// The Arbitrary of valid networks of one topology (or any), sized and shrinking.
    let arbitrary (topology: Topology option) : Arbitrary<GeneratedNetwork> = Arb.fromGenShrink (generator topology, shrink)

    /// The open legs a bipartition splits: the fixed ones (a dynamic batch leg is conditioned on, not cut).
    let cuttableLegs (net: FlatNetwork) = net.Output |> List.filter (fun o -> not (Dim.isDynamic net.Indices[o].Dim))

    /// The bipartition marked by `sides` (padded with `false`), or None when a side would be empty.
    let bipartitionOf (net: FlatNetwork) (sides: bool list) =
        let legs = cuttableLegs net
        let marks = (sides @ List.replicate legs.Length false) |> List.take legs.Length
        let left = [ for l, m in List.zip legs marks do if m then l ]
        let right = [ for l, m in List.zip legs marks do if not m then l ]
        if left.IsEmpty || right.IsEmpty then None else Some { Left = left; Right = right }

    /// Random bipartitions of a network's fixed open legs (None when it has fewer than two).
    let bipartitions (net: FlatNetwork) : Gen<Bipartition option> =
        let n = (cuttableLegs net).Length
        if n < 2 then Gen.constant None
        else
            gen {
                let! k = Gen.choose (1, n - 1)
                let! order = Gen.shuffle [| 0 .. n - 1 |]
                let chosen = Set.ofArray order[.. k - 1]
                return bipartitionOf net [ for j in 0 .. n - 1 -> chosen.Contains j ]
            }

    /// Networks (any topology) with at least two fixed open legs and a bipartition of them, sized and shrinking
    /// (the network through its recipe, the cut by moving legs to the right side).
    let arbitraryWithCut : Arbitrary<NetworkWithCut> =
        let make (g: GeneratedNetwork) sides =
            bipartitionOf g.Network sides |> Option.map (fun c -> { Generated = g; Sides = sides; Cut = c })
        let genCut =
            gen {
                let! r = recipes None |> Gen.map (fun r -> { r with OpenLegs = max 2 r.OpenLegs })
                let g = generated r
                let! sides = Gen.listOfLength (cuttableLegs g.Network).Length (Gen.elements [ true; false ])
                return make g sides
            }
            |> Gen.where Option.isSome
            |> Gen.map Option.get
        let shrinkCut (c: NetworkWithCut) =
            seq {
                for g in shrink c.Generated do
                    if g.Recipe.OpenLegs >= 2 then
                        match make g c.Sides with
                        | Some s -> s
                        | None -> ()
                for k, s in List.indexed c.Sides do
                    if s then
                        match make c.Generated (List.updateAt k false c.Sides) with
                        | Some s -> s
                        | None -> ()
            }
        Arb.fromGenShrink (genCut, shrinkCut)

/// FsCheck registrations for the kit's generators: `[<Property(Arbitrary = [| typeof<TnArbitraries> |])>]`
/// makes properties over `GeneratedNetwork` and `NetworkWithCut` draw valid networks.
type TnArbitraries =
    /// Valid networks of every topology.
    static member Network() : Arbitrary<GeneratedNetwork> = Networks.arbitrary None
    /// Valid networks with a bipartition of their open legs.
    static member NetworkWithCut() : Arbitrary<NetworkWithCut> = Networks.arbitraryWithCut
