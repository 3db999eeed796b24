namespace TnDsl

/// The size of an index: a fixed extent, or one bound at run time (the batch) with a nominal size for planning.
type Dim =
    | Fixed of int64
    | Dynamic of nominal: int64

/// Helpers for dimensions.
module Dim =
    /// The extent used for analysis: the fixed size, or the nominal size of a dynamic one.
    let size =
        function
        | Fixed n -> n
        | Dynamic n -> n

    /// True for a dimension bound at run time.
    let isDynamic =
        function
        | Dynamic _ -> true
        | Fixed _ -> false

/// What an index may join: an ordinary bond (at most two tensors, or one tensor and the output),
/// or a hyperindex that may sit on any number of tensors (the batch, the legs of a copy tensor). A struct: it packs
/// beside `FlatIndex.Id` (a million-index network's array is 8 bytes an index smaller than with a reference).
[<Struct>]
type IndexKind =
    | Bond
    | Hyper

/// How members of families are named: `b[3]`, `h[0, 2]`, `A.3`. Names are written when asked for, never stored: a
/// million-member family holds its subscripts, not a million strings.
module Names =
    open System

    /// The decimal width of n ≥ 0.
    let private width (n: int) =
        let mutable w = 1
        let mutable rest = n / 10
        while rest > 0 do
            w <- w + 1
            rest <- rest / 10
        w

    /// Writes `withNumber`'s string (one delegate for every call).
    let private writeNumbered =
        Buffers.SpanAction<char, struct (string * char * int * string)>(fun span (struct (head, opening, n, closing)) ->
            head.AsSpan().CopyTo span
            span[head.Length] <- opening
            let mutable written = 0
            n.TryFormat(span.Slice(head.Length + 1), &written, ReadOnlySpan<char>.Empty, Globalization.CultureInfo.InvariantCulture) |> ignore
            closing.AsSpan().CopyTo(span.Slice(head.Length + 1 + written)))

    /// `head` followed by `opening`, the decimal digits of `n` ≥ 0 and `closing`, made as one string (no string for
    /// the number alone).
    let withNumber (head: string) (opening: char) (n: int) (closing: string) : string =
        if n < 0 then
            head + string opening + string n + closing
        else
            String.Create(head.Length + 1 + width n + closing.Length, struct (head, opening, n, closing), writeNumbered)

    /// Writes `family[a, b]` (one delegate for every call).
    let private writeTwo =
        Buffers.SpanAction<char, struct (string * int * int)>(fun span (struct (family, a, b)) ->
            family.AsSpan().CopyTo span
            span[family.Length] <- '['
            let mutable at = family.Length + 1
            let mutable written = 0
            a.TryFormat(span.Slice at, &written, ReadOnlySpan<char>.Empty, Globalization.CultureInfo.InvariantCulture) |> ignore
            at <- at + written
            span[at] <- ','
            span[at + 1] <- ' '
            b.TryFormat(span.Slice(at + 2), &written, ReadOnlySpan<char>.Empty, Globalization.CultureInfo.InvariantCulture) |> ignore
            span[span.Length - 1] <- ']')

    /// `b[3]`, `h[0, 2]` or `b` for a family and its subscripts.
    let memberName (family: string) (subs: int list) =
        match subs with
        | [] -> family
        | [ s ] -> withNumber family '[' s "]"
        | [ a; b ] when a >= 0 && b >= 0 -> String.Create(family.Length + width a + width b + 4, struct (family, a, b), writeTwo)
        | _ -> family + "[" + String.Join(", ", subs) + "]"

    /// The parameter of an untied tensor: `A.3` for `A[3]`, `enc.W.2.1` for `enc.W[2,1]`, `B` for `B`.
    let ownParameter (family: string) (subs: int list) =
        match subs with
        | [] -> family
        | [ s ] -> withNumber family '.' s ""
        | _ -> String.Join(".", family :: (subs |> List.map string))

/// One concrete index of the flat network. A struct: `FlatNetwork.Indices` is one array, not an object per index.
[<Struct>]
type FlatIndex =
    {
        /// Position of this index in `FlatNetwork.Indices`.
        Id: int
        /// The family name without subscripts: `b`, `h`, `enc.top`.
        Family: string
        /// The family subscripts: `[3]` for `b[3]`, `[]` for a plain index.
        Subscripts: int list
        Dim: Dim
        Kind: IndexKind
        /// Where the index was declared.
        Range: SourceRange
    }

    /// The name as written, with family subscripts evaluated: `b[3]`, `h[0, 2]`, `enc.top` (made when asked for).
    member i.Name = Names.memberName i.Family i.Subscripts

/// What a tensor is for at run time.
type Role =
    /// Trainable: becomes a parameter.
    | Weight
    /// Fed at run time.
    | Input
    /// Fixed values: a buffer.
    | Const

/// A built-in embedding that maps one raw value per batch entry onto an input's last leg.
type Embedding =
    /// e_k for integer value k in 0..d-1.
    | OneHot of d: int
    /// (cos(πx/2), sin(πx/2)) for x in [0, 1].
    | Trig
    /// k Fourier features of x in [0, 1]: 1, cos(πx), sin(πx), cos(2πx), ….
    | Fourier of k: int
    /// Legendre polynomials P_0..P_{k-1} of 2x-1 for x in [0, 1].
    | Legendre of k: int

/// Helpers for embeddings.
module Embedding =
    /// The number of features an embedding produces, which must equal its input's last leg.
    let width =
        function
        | OneHot d -> d
        | Trig -> 2
        | Fourier k -> k
        | Legendre k -> k

    /// The embedding as written in a `.tn` file.
    let show =
        function
        | OneHot d -> sprintf "onehot(%d)" d
        | Trig -> "trig"
        | Fourier k -> sprintf "fourier(%d)" k
        | Legendre k -> sprintf "legendre(%d)" k

/// How a tensor's initial (or, for `const`, fixed) values are made.
type Init =
    /// Independent normal entries.
    | Normal of mean: float * std: float
    /// Independent uniform entries in [lo, hi).
    | Uniform of lo: float * hi: float
    /// The identity, legs paired from the outside in: δ(first, last) δ(second, second-to-last) …, an odd middle leg
    /// free; for an MPS core (b, p, b') that is δ(b, b') on every p, for an MPO core (l, i, o, r) δ(l, r) δ(i, o).
    /// Weights take as much of it as their dimensions allow (near-identity for chains).
    | Identity
    /// The copy (δ) tensor: 1 where all legs have the same value, 0 elsewhere.
    | Copy
    /// A tensor that is an isometry from all legs but the last onto the last (or the reverse if that is larger).
    | Orthogonal
    /// Scale chosen from the network so that outputs have unit variance for unit-variance inputs.
    | Auto
    /// Constant entries.
    | Constant of float
    /// The sum of two initialisers: `identity + normal(0, 0.01)`.
    | Sum of Init * Init

/// Helpers for initialisers.
module Init =
    /// The initialiser as written in a `.tn` file.
    let rec show =
        function
        | Normal (m, s) -> sprintf "normal(%g, %g)" m s
        | Uniform (a, b) -> sprintf "uniform(%g, %g)" a b
        | Identity -> "identity"
        | Copy -> "copy"
        | Orthogonal -> "orthogonal"
        | Auto -> "auto"
        | Constant c -> sprintf "%g" c
        | Sum (a, b) -> show a + " + " + show b

/// One concrete tensor of the flat network. A struct: `FlatNetwork.Tensors` is one array, not an object per tensor
/// (a million-tensor network is a million fewer objects for the collector to trace).
[<Struct>]
type FlatTensor =
    {
        /// Position of this tensor in `FlatNetwork.Tensors`.
        Id: int
        /// The family name: `A`, `T`, `enc.W`.
        Family: string
        /// The family subscripts.
        Subscripts: int list
        Role: Role
        /// The parameter a `shared` clause names, which the tensor is tied to; None for a tensor with its own
        /// (see `Param`).
        Tie: string option
        /// Leg index ids, in the declared order.
        Legs: int array
        /// Initialiser (weights) or fixed value (const); None where the default applies.
        Init: Init option
        /// The built-in embedding of an input, if any.
        Embedding: Embedding option
        /// Where the tensor was declared.
        Range: SourceRange
    }

    /// The name as written with family subscripts evaluated: `A[3]`, `T[0, 1]`, `enc.W[2]` (made when asked for).
    member t.Name = Names.memberName t.Family t.Subscripts

    /// The parameter this tensor's values come from. Tensors that share it are tied (one trainable tensor placed
    /// at several positions). Untied tensors have their own: `A.3` for `A[3]`, `enc.W.2.1` for `enc.W[2,1]`.
    member t.Param =
        match t.Tie with
        | Some p -> p
        | None -> Names.ownParameter t.Family t.Subscripts

/// A named bipartition of the output legs.
type FlatCut =
    { Name: string
      /// Index ids of the A side.
      Left: int list
      /// Index ids of the B side.
      Right: int list
      Range: SourceRange }

/// A parameter value after evaluation.
type Value =
    | VInt of int64
    | VFloat of float
    | VBool of bool

    override v.ToString() =
        match v with
        | VInt n -> string n
        | VFloat f -> sprintf "%g" f
        | VBool b -> if b then "true" else "false"

/// The elaborated network every later phase works on: parameters evaluated, loops and families expanded,
/// sub-networks instantiated. Min-cut, planning and the TorchSharp backend take this and nothing else.
type FlatNetwork =
    {
        /// The network's name.
        Name: string
        /// Its parameters with the values used, in declared order.
        Parameters: (string * Value) list
        Tensors: FlatTensor array
        Indices: FlatIndex array
        /// The open legs in their declared order (index ids).
        Output: int list
        Cuts: FlatCut list
        /// Where the network was declared.
        Range: SourceRange
    }

/// Queries on the flat network.
module FlatNetwork =
    /// For each index id, the ids of the tensors it sits on (a tensor listed once per leg).
    let incidence (net: FlatNetwork) =
        let occ = Array.init net.Indices.Length (fun _ -> ResizeArray<int>())
        for t in net.Tensors do
            for l in t.Legs do
                occ[l].Add t.Id
        occ |> Array.map List.ofSeq

    /// `elements` when it fits in 64 bits.
    let private smallElements (net: FlatNetwork) (t: FlatTensor) : int64 voption =
        let mutable small = 1L
        let mutable fits = true
        for l in t.Legs do
            if fits then
                let mutable low = 0L
                let high = System.Math.BigMul(small, Dim.size net.Indices[l].Dim, &low)
                if high <> (low >>> 63) then fits <- false else small <- low
        if fits then ValueSome small else ValueNone

    /// The number of elements of a tensor, as a BigInteger so that no size overflows (counted in 64 bits while it
    /// fits, as it does for every tensor of a valid network).
    let elements (net: FlatNetwork) (t: FlatTensor) =
        match smallElements net t with
        | ValueSome n -> bigint n
        | ValueNone -> t.Legs |> Array.fold (fun acc l -> acc * bigint (Dim.size net.Indices[l].Dim)) 1I

    /// A test for the weights that hold a distinct parameter, each the first to use it: to be asked of every tensor
    /// once, in order (it remembers the parameters seen).
    let private firstUse (net: FlatNetwork) : FlatTensor -> bool =
        // Untied weights have distinct parameters of their own (distinct families and subscripts): without a tie,
        // every weight is a first use, and no parameter name is written.
        if net.Tensors |> Array.forall (fun t -> t.Role <> Weight || t.Tie.IsNone) then
            fun t -> t.Role = Weight
        else
            let seen = System.Collections.Generic.HashSet<string>(net.Tensors |> Array.sumBy (fun t -> if t.Role = Weight then 1 else 0))
            fun t -> t.Role = Weight && seen.Add t.Param

    /// The weights that hold a distinct parameter, each the first to use it, in order.
    let private firstUses (net: FlatNetwork) = net.Tensors |> Array.filter (firstUse net)

    /// The ids of the distinct trainable parameters, in first-use order.
    let parameters (net: FlatNetwork) = firstUses net |> Array.map (fun t -> t.Param)

    /// The number of distinct trainable parameters: `parameters`'s length, without writing their names.
    let parameterTensorCount (net: FlatNetwork) =
        // Without a tie every weight is a first use: counted, not collected.
        if net.Tensors |> Array.forall (fun t -> t.Role <> Weight || t.Tie.IsNone) then
            net.Tensors |> Array.sumBy (fun t -> match t.Role with Weight -> 1 | _ -> 0)
        else (firstUses net).Length

    /// The number of trainable scalars (tied weights counted once).
    let parameterCount (net: FlatNetwork) =
        // Summed in 64 bits while the sum fits; a BigInteger only past that.
        let mutable small = 0L
        let mutable total = 0I
        // The first uses are tested in place, not collected (a copy of a million tensors).
        let first = firstUse net
        for t in net.Tensors do
            if first t then
                match smallElements net t with
                | ValueSome n when small <= System.Int64.MaxValue - n -> small <- small + n
                | _ -> total <- total + elements net t
        total + bigint small

    /// Finds an index by its written name (`b[3]`).
    let tryIndex (net: FlatNetwork) (name: string) = net.Indices |> Array.tryFind (fun i -> i.Name = name)

    /// Finds a tensor by its written name (`A[3]`).
    let tryTensor (net: FlatNetwork) (name: string) = net.Tensors |> Array.tryFind (fun t -> t.Name = name)
